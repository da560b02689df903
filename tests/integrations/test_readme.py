"""The README's examples of the adapters run as written.

Each Python block of the section "Using conversa with Pydantic AI / LangChain" runs
in a fresh interpreter, in a temporary folder (its `chats.db` lands there).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using conversa with Pydantic AI / LangChain"


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.find("\n## ", start + len(SECTION))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


BLOCKS = _blocks()


def test_the_section_has_both_examples() -> None:
    """One example for each framework."""
    assert len(BLOCKS) == 2
    assert "pydantic_ai" in BLOCKS[0]
    assert "langchain" in BLOCKS[1]


@pytest.mark.parametrize("code", BLOCKS, ids=["pydantic-ai", "langchain"])
def test_example_runs(code: str, tmp_path: Path) -> None:
    """The example exits 0 (a Pydantic AI example checks its own round trip)."""
    result = subprocess.run(  # noqa: S603 - the README's code, run by our interpreter
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "chats.db").is_file()
