"""The Pythons conversa supports: the classifiers name each one, the running one included.

CI (.ci/run) runs the suite on the oldest and the newest Python the machine offers;
this test, run by each, fails when one of them is missing from the classifiers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _minors(text: str) -> list[int]:
    return sorted(
        int(m)
        for m in re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', text)
    )


def test_classifiers_name_every_python_from_the_minimum() -> None:
    """From requires-python's minimum on, every 3.N is listed, with no gap."""
    text = PYPROJECT.read_text(encoding="utf-8")
    found = re.search(r'^requires-python = ">=3\.(\d+)"$', text, re.MULTILINE)
    assert found is not None
    minors = _minors(text)
    assert minors[0] == int(found.group(1))
    assert minors == list(range(minors[0], minors[-1] + 1))


def test_the_running_python_is_a_listed_one() -> None:
    """The interpreter running the suite is one the classifiers claim."""
    assert sys.version_info[1] in _minors(PYPROJECT.read_text(encoding="utf-8"))
