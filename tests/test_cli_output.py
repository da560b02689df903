"""The command line's output and edges: --version, --json, `import -`, stores that
read-only commands never create, plurals, and a reader that leaves the pipe."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import conversa
from conversa import Client, Conversation, SQLiteStore
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI

MODEL = "claude-sonnet-4-5"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_call(path: Path, text: str = "Hello") -> str:
    """A conversation of one exchange (one call) in the store at *path*."""
    with (
        SQLiteStore(path) as store,
        Client(api_key="sk-test", transport=FakeMessagesAPI()) as client,
    ):
        conv = Conversation.create(store, client=client, model=MODEL, owner="ann")
        conv.send(text)
        return conv.id


def test_version_is_the_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    """`conversa --version` prints the installed conversa-state version."""
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"conversa {version('conversa-state')}\n"
    assert conversa.__version__ == version("conversa-state")


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"],
        ["ls", "--json"],
        ["show", "abc"],
        ["stats"],
        ["export"],
        ["rm", "abc"],
        ["purge", "--older-than", "9d"],
        ["erase", "--owner", "x"],
    ],
)
def test_read_only_commands_never_create_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """A missing store file is one line on stderr and exit 1; no file appears."""
    path = tmp_path / "nothing.db"
    code, out, err = run(capsys, "--store", f"sqlite:///{path}", *argv)
    assert (code, out) == (1, "")
    assert err == (
        f"conversa: error: no store at {path}: nothing is stored there yet "
        "(--store or CONVERSA_STORE names another; `conversa chat` or "
        "`conversa import` creates one)\n"
    )
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_usage_error_still_wins_over_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments exit 2 even when the store is missing too."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert run(capsys, "--store", url, "ls", "--meta", "novalue")[0] == 2
    assert not (tmp_path / "none.db").exists()


def test_singulars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One of a thing is "1 call", "1 conversation"."""
    cid = one_call(tmp_path / "c.db")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code, out, _ = run(capsys, "--store", url, "stats", cid)
    assert out.startswith("1 call · in ")
    code, out, _ = run(capsys, "--store", url, "stats")
    assert "total (1 conversation): 1 call · in " in out
    out_file = tmp_path / "x.jsonl"
    code, _, err = run(capsys, "--store", url, "export", "-o", str(out_file))
    assert code == 0
    assert err == f"exported 1 conversation to {out_file}\n"


def test_ls_show_stats_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one JSON document with the export's field names."""
    cid = one_call(tmp_path / "c.db", "Bonjour é")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code, out, _ = run(capsys, "--store", url, "ls", "--json")
    listing = json.loads(out)
    assert code == 0
    assert listing["next_cursor"] is None
    (record,) = listing["conversations"]
    assert (record["id"], record["owner"], record["last_seq"]) == (cid, "ann", 2)

    code, out, _ = run(capsys, "--store", url, "show", cid, "--json")
    shown = json.loads(out)
    assert "Bonjour é" in out  # not escaped
    assert shown["record"]["id"] == cid
    user, assistant = shown["turns"]
    assert user["content"] == [{"type": "text", "text": "Bonjour é"}]
    assert assistant["role"] == "assistant"
    assert assistant["usage"]["output_tokens"] > 0
    assert shown["totals"]["calls"] == 1
    assert Decimal(shown["totals"]["cost_usd"]["total"]) > 0

    code, out, _ = run(capsys, "--store", url, "stats", cid, "--json")
    one = json.loads(out)
    assert (one["id"], one["calls"]) == (cid, 1)
    code, out, _ = run(capsys, "--store", url, "stats", "--json")
    every = json.loads(out)
    assert [row["id"] for row in every["conversations"]] == [cid]
    assert (every["total"]["conversations"], every["total"]["calls"]) == (1, 1)


def test_show_json_says_what_a_retraction_hides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retraction shows the seqs it hides, in text and in JSON."""
    with SQLiteStore(tmp_path / "c.db") as store:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "a")
        conv.add("assistant", "b")
        conv.retract(1, 2)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    _, out, _ = run(capsys, "--store", url, "show", conv.id)
    assert "[3] retraction: hides turns 1, 2 from the replay" in out
    _, out, _ = run(capsys, "--store", url, "show", conv.id, "--json")
    assert json.loads(out)["turns"][2]["retracts"] == [1, 2]


def test_import_reads_standard_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`export | import -` copies a store, updated_at included."""
    cid = one_call(tmp_path / "a.db")
    code, exported, _ = run(
        capsys, "--store", f"sqlite:///{tmp_path / 'a.db'}", "export"
    )
    assert code == 0
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(exported.encode())))
    other = f"sqlite:///{tmp_path / 'b.db'}"
    code, out, _ = run(capsys, "--store", other, "import", "-")
    assert (code, out) == (0, "imported 1 conversation\n")
    _, again, _ = run(capsys, "--store", other, "export")
    assert again == exported
    with SQLiteStore(tmp_path / "b.db") as copy:
        assert copy.get(cid).last_seq == 2
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{}\n")))
    code, _, err = run(capsys, "--store", other, "import", "-")
    assert code == 1
    assert err.startswith("conversa: error: <stdin>:1: ")


def test_a_reader_that_leaves_the_pipe_is_no_traceback(tmp_path: Path) -> None:
    """`conversa show ID | head -1`: quiet, exit code 141 (as SIGPIPE)."""
    with SQLiteStore(tmp_path / "c.db") as store:
        conv = Conversation.create(store, model=MODEL)
        for n in range(200):
            conv.add("user" if n % 2 == 0 else "assistant", f"turn {n} " * 200)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "conversa",
            "--store",
            f"sqlite:///{tmp_path / 'c.db'}",
            "show",
            conv.id,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"conversation ")
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141
    assert err == b""
