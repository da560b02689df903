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
# What is typed to examples that read their input.
TYPED = {"chatbot": "Hi! Can you recommend a book?\n"}


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
    args = ["--offline"]
    if path.stem in NEEDS_POSTGRES:
        args += ["--store", request.getfixturevalue("example_pg_url")]
    result = example(path.stem, *args, cwd=tmp_path, typed=TYPED.get(path.stem))
    assert result.returncode == 0, result.stderr
    assert "assistant" in result.stdout


def example(
    name: str, *args: str, cwd: Path, typed: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run examples/NAME.py with *args* in *cwd*, *typed* piped to it (else nothing)."""
    path = Path(__file__).parent.parent / "examples" / f"{name}.py"
    return subprocess.run(  # noqa: S603 - our own example, run by our interpreter
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        input=typed,
        stdin=None if typed is not None else subprocess.DEVNULL,
        check=False,
    )


def test_quickstart_says_offline_and_a_second_run_counts_on(tmp_path: Path) -> None:
    """`make demo`'s script says it runs offline; run again, it continues the stored
    conversation with new questions, numbered on from the first run."""
    first = example("quickstart", "--offline", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("offline: conversa's fake Messages API answers")
    assert "#1 assistant: (offline reply #1 to: My order #1042" in first.stdout
    assert "#4 assistant (streamed): (offline reply #4 to: Thanks!" in first.stdout
    again = example("quickstart", "--offline", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "(continuing conversation " in again.stdout
    assert "#5 user:      Hello again: any news on order #1042?" in again.stdout
    assert "(offline reply #5 to: Hello again" in again.stdout
    assert "#7 assistant (streamed): (offline reply #7 " in again.stdout
    assert "#1 " not in again.stdout
    assert "14 turns stored in quickstart.db" in again.stdout


def test_quickstart_says_live_when_a_key_is_set(tmp_path: Path) -> None:
    """With a key and no --offline, the first line says it talks to the API (the
    key here is refused by the fake's stand-in: a base URL nobody listens on)."""
    env = {
        **os.environ,
        "ANTHROPIC_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    }
    path = Path(__file__).parent.parent / "examples" / "quickstart.py"
    result = subprocess.run(  # noqa: S603 - our own example, run by our interpreter
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert result.stdout.startswith("live: talking to the Anthropic API")
    assert result.returncode != 0


def test_chatbot_reads_piped_input_and_resumes(tmp_path: Path) -> None:
    """Piped lines are the user's; the next run continues the same conversation."""
    first = example("chatbot", "--offline", cwd=tmp_path, typed="Hi!\nA book?\n")
    assert first.returncode == 0, first.stderr
    assert "assistant: (offline reply #2 to: A book?)" in first.stdout
    cid = first.stdout.split("(new conversation ")[1].split(")")[0]
    again = example("chatbot", "--offline", cwd=tmp_path, typed="More?\n/quit\n")
    assert again.returncode == 0, again.stderr
    assert f"(continuing conversation {cid}: 4 turns)" in again.stdout
    assert "assistant: (offline reply #3 to: More?)" in again.stdout
    (tmp_path / "fresh").mkdir()
    nothing = example("chatbot", "--offline", cwd=tmp_path / "fresh", typed="")
    assert nothing.returncode == 0, nothing.stderr
    assert "stored in" not in nothing.stdout  # no message: no conversation stored


def test_support_desk_explains_a_store_it_cannot_open(tmp_path: Path) -> None:
    """No database there: one line on stderr naming the store and the fix; exit 1."""
    url = "postgresql://postgres:sekrit@127.0.0.1:1/conversa_missing"
    result = example("support_desk", "--offline", "--store", url, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "support_desk: store 'postgresql://postgres:***@127.0.0.1:1/"
    )
    assert "--store postgresql://user@host/db" in line
    assert "sekrit" not in result.stderr
