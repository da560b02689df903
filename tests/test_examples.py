"""Every example runs offline against the fake, as the README promises."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.py"))
# Examples that keep their conversations in PostgreSQL get `--store URL`.
NEEDS_POSTGRES = {"support_desk"}


@pytest.fixture(name="example_pg_url", scope="module")
def _example_pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, as the store tests get (skipped locally if no server)."""
    from tests.stores.conftest import DEFAULT_PG_URL
    from tests.stores.helpers import fresh_pg_schema, plain_url

    url = os.environ.get("CONVERSA_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    if os.environ.get("CI") == "true":
        import psycopg  # under CI a missing driver fails the run, never skips it
    else:
        psycopg = pytest.importorskip(
            "psycopg", reason="pip install 'conversa-state[postgres]'"
        )
    try:
        psycopg.connect(plain_url(url), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"!!! example SKIPPED: no PostgreSQL at {url} ({exc})")
    with fresh_pg_schema(url) as schema_url:
        yield schema_url


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_offline(
    path: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The example exits 0 with --offline, even when a real key is in the environment."""
    args = [sys.executable, str(path), "--offline"]
    if path.stem in NEEDS_POSTGRES:
        args += ["--store", request.getfixturevalue("example_pg_url")]
    result = subprocess.run(  # noqa: S603 - our own example, run by our interpreter
        args,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "assistant" in result.stdout
