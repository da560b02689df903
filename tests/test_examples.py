"""Every example runs offline against the fake, as the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_offline(path: Path, tmp_path: Path) -> None:
    """The example exits 0 with --offline, even when a real key is in the environment."""
    result = subprocess.run(  # noqa: S603 - our own example, run by our interpreter
        [sys.executable, str(path), "--offline"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "assistant" in result.stdout
