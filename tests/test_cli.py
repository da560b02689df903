"""The `conversa` command line, run in-process against SQLite files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conversa import Client, Conversation, SQLiteStore
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-5"


@pytest.fixture(name="url")
def _url(tmp_path: Path) -> str:
    """A fresh SQLite store URL."""
    return f"sqlite:///{tmp_path / 'c.db'}"


@pytest.fixture(name="store")
def _store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """The store behind *url*, for seeding and checking."""
    with SQLiteStore(tmp_path / "c.db") as store:
        yield store


def seed(store: SQLiteStore, *, owner: str = "ann", topic: str = "billing") -> str:
    """Store a conversation with an odd key order, a tool round trip and two replies."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("weather", {"z": 1, "a": [2, "é"]}, id="toolu_1"))
    with Client(api_key="sk-test", transport=fake) as client:
        conv = Conversation.create(
            store,
            client=client,
            model=MODEL,
            system="Be brief.",
            owner=owner,
            metadata={"topic": topic},
        )
        conv.add("user", [{"text": "Weather  in Paris?", "type": "text"}])
        conv.retry()
        conv.add_tool_results({"toolu_1": "sunny"})
        conv.send("Thanks!")
        return conv.id


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line and return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_import_round_trip_is_byte_exact(
    tmp_path: Path, url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exporting, importing elsewhere and exporting again gives the same turns, byte for byte."""
    cid = seed(store)
    first = tmp_path / "a.jsonl"
    assert run(capsys, "--store", url, "export", "-o", str(first))[0] == 0
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, _ = run(capsys, "--store", other, "import", str(first))
    assert (code, out) == (0, "imported 1 conversation\n")
    code, again, _ = run(capsys, "--store", other, "export", cid)
    before, after = json.loads(first.read_text()), json.loads(again)
    assert before["turns"] == after["turns"]
    assert before["record"] == after["record"]  # updated_at included
    with SQLiteStore(tmp_path / "other.db") as copy:
        assert [t.content_json() for t in copy.read(cid)] == [
            t.content_json() for t in store.read(cid)
        ]
    assert (
        '"content":"[{\\"text\\":\\"Weather  in Paris?\\",\\"type\\":\\"text\\"}]"'
        in again
    )


def test_import_splits_lines_only_at_newline(
    tmp_path: Path, url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export holding U+2028, U+2029 and U+0085 raw (and saved with CRLF line
    endings) imports whole: lines end at "\\n" only, a "\\r" before it is tolerated."""
    fake = FakeMessagesAPI()
    odd = "one\u2028two\u2029three\x85four"
    fake.script(reply.text(odd))
    with Client(api_key="sk-test", transport=fake) as client:
        conv = Conversation.create(store, client=client, model=MODEL)
        conv.send("Say it")
    cids = [conv.id, seed(store)]
    path = tmp_path / "odd.jsonl"
    run(capsys, "--store", url, "export", "-o", str(path))
    exported = path.read_bytes()
    assert "\u2028".encode() in exported
    path.write_bytes(exported.replace(b"\n", b"\r\n"))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, out, err = run(capsys, "--store", other, "import", str(path))
    assert (code, out, err) == (0, "imported 2 conversations\n", "")
    with SQLiteStore(tmp_path / "other.db") as copy:
        for cid in cids:
            assert [t.content_json() for t in copy.read(cid)] == [
                t.content_json() for t in store.read(cid)
            ]
        assert copy.read(cids[0])[-1].text == odd


def test_import_refuses_existing_ids_and_writes_nothing(
    tmp_path: Path, url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing an id the store already holds fails with its id and stores nothing."""
    cid = seed(store)
    path = tmp_path / "a.jsonl"
    run(capsys, "--store", url, "export", "-o", str(path))
    code, _, err = run(capsys, "--store", url, "import", str(path))
    assert code == 1
    assert f"already in the store: {cid} (erase first with `conversa rm {cid}`)" in err
    assert len(store.read(cid)) == 5


def test_import_picks_one_conversation(
    tmp_path: Path, url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import FILE ID` stores only that conversation; an id not in the file fails."""
    ids = [seed(store, topic=t) for t in ("a", "b")]
    path = tmp_path / "all.jsonl"
    run(capsys, "--store", url, "export", "-o", str(path))
    assert len(path.read_text().splitlines()) == 2
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert run(capsys, "--store", other, "import", str(path), ids[1])[0] == 0
    code, out, _ = run(capsys, "--store", other, "ls")
    assert ids[1] in out
    assert ids[0] not in out
    code, _, err = run(capsys, "--store", other, "import", str(path), "nope")
    assert code == 1
    assert "not in" in err


def test_import_rejects_a_bad_line(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line that is not an export names the file and line; exit code 1."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"hello": 1}\n')
    code, _, err = run(capsys, "--store", url, "import", str(path))
    assert code == 1
    assert "bad.jsonl:1: not a conversa export line" in err


def test_chat_offline_streams_replies_into_a_new_conversation(
    url: str,
    store: SQLiteStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`chat --offline` reads lines from stdin, prints each streamed reply and stores both."""
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("hello\n\nhow are you?\n/quit\nnot sent\n")
    )
    code, out, err = run(capsys, "--store", url, "chat", "--offline", "--system", "Hi")
    assert code == 0
    assert "(fake reply #1 to: hello)" in out
    assert "(fake reply #2 to: how are you?)" in out
    (record,) = store.list().items
    assert f"conversation {record.id}" in err
    assert record.system == "Hi"
    assert [t.text for t in store.read(record.id)][::2] == ["hello", "how are you?"]


def test_chat_continues_an_existing_conversation(
    url: str,
    store: SQLiteStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`chat ID` appends to the stored conversation, replaying its history."""
    cid = seed(store)
    monkeypatch.setattr(sys, "stdin", io.StringIO("more\n"))
    assert run(capsys, "--store", url, "chat", cid, "--offline")[0] == 0
    assert store.read(cid)[-2].text == "more"
    assert len(store.read(cid)) == 7


def test_chat_without_a_key_is_a_usage_error(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --offline and without credentials, chat says what to set; exit code 2."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    code, _, err = run(capsys, "--store", url, "chat")
    assert code == 2
    assert "ANTHROPIC_API_KEY" in err
    assert "--offline" in err


def test_ls_pages_with_a_cursor(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ls --limit` prints one page and the next cursor; `--cursor` gets the rest."""
    ids = {seed(store) for _ in range(3)}
    code, out, _ = run(capsys, "--store", url, "ls", "--limit", "2")
    lines = out.splitlines()
    assert code == 0
    assert len(lines) == 3
    assert lines[-1].startswith("next cursor: ")
    cursor = lines[-1].removeprefix("next cursor: ")
    _, rest, _ = run(capsys, "--store", url, "ls", "--limit", "2", "--cursor", cursor)
    assert "next cursor" not in rest
    listed = [line.split()[0] for line in lines[:2] + rest.splitlines()]
    assert set(listed) == ids


def test_ls_filters_by_owner_and_metadata(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--owner` and repeated `--meta key=value` narrow the listing."""
    ann = seed(store, owner="ann", topic="billing")
    bob = seed(store, owner="bob", topic="billing")
    seed(store, owner="ann", topic="shipping")
    _, out, _ = run(
        capsys, "--store", url, "ls", "--owner", "ann", "--meta", "topic=billing"
    )
    assert [line.split()[0] for line in out.splitlines()] == [ann]
    _, out, _ = run(capsys, "--store", url, "ls", "--meta", "topic=billing")
    assert {line.split()[0] for line in out.splitlines()} == {ann, bob}


def test_show_prints_the_transcript_with_usage_and_cost(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`show` prints roles, text, summarized tool calls and results, usage, cost and totals."""
    cid = seed(store)
    code, out, _ = run(capsys, "--store", url, "show", cid)
    assert code == 0
    assert f"conversation {cid}  model {MODEL}  owner ann" in out
    assert "system: Be brief." in out
    assert "[1] user\n  Weather  in Paris?" in out
    assert '→ tool call weather [toolu_1] {"z": 1, "a": [2, "é"]}' in out
    assert "← tool result [toolu_1] sunny" in out
    assert "[5] assistant  claude-sonnet-4-5\n  (fake reply #" in out
    assert "  usage: in " in out
    assert "\ntotals: 2 calls · in " in out
    assert "$0.0" in out


def test_stats_for_one_and_for_all(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`stats ID` prints one ledger; `stats` one line per conversation and a total."""
    ids = [seed(store) for _ in range(2)]
    code, out, _ = run(capsys, "--store", url, "stats", ids[0])
    assert code == 0
    assert out.startswith("2 calls · in ")
    assert "cache read 0, 0%" in out
    code, out, _ = run(capsys, "--store", url, "stats")
    lines = out.splitlines()
    assert {line.split()[0] for line in lines[:2]} == set(ids)
    assert lines[2].startswith("total (2 conversations): 4 calls · in ")


@pytest.mark.parametrize(
    "store_url", ["mysql://localhost/db", "sqlite:///", "chats.db"]
)
def test_a_bad_store_url_is_a_usage_error(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store URL conversa cannot open by its scheme exits 2 with a clear message."""
    code, out, err = run(capsys, "--store", store_url, "ls")
    assert code == 2
    assert out == ""
    assert "store URL" in err


def test_store_url_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONVERSA_STORE names the store when --store is not given."""
    with SQLiteStore(tmp_path / "env.db") as store:
        cid = seed(store)
    monkeypatch.setenv("CONVERSA_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert cid in run(capsys, "ls")[1]


def test_errors_print_a_message_not_a_traceback(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A conversa error (an unknown id) exits 1 with one message line; bad args exit 2."""
    code, _, err = run(capsys, "--store", url, "show", "nope")
    assert code == 1
    assert err.startswith("conversa: error: ")
    assert "Traceback" not in err
    assert run(capsys, "--store", url, "ls", "--meta", "novalue")[0] == 2
    assert run(capsys, "--store", url, "frobnicate")[0] == 2


def test_python_m_conversa_runs(tmp_path: Path) -> None:
    """`python -m conversa ls` runs the entry point in a fresh process."""
    with SQLiteStore(tmp_path / "c.db") as store:
        cid = seed(store)
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "conversa",
            "ls",
            "--store",
            f"sqlite:///{tmp_path / 'c.db'}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(cid)


def pending(store: SQLiteStore, text: str = "Hello") -> str:
    """Store a conversation that ends with an unanswered user turn."""
    with Client(api_key="sk-test", transport=FakeMessagesAPI()) as client:
        conv = Conversation.create(store, client=client, model=MODEL)
        conv.add("user", text)
        return conv.id


def test_batch_submit_status_collect_share_one_api(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Submit prints the batch id; status draws progress; collect reports each outcome."""
    fake = FakeMessagesAPI(batch_polls=1)
    ids = [pending(store, f"Question {n}") for n in range(3)]
    code = main(["--store", url, "batch", "submit", *ids], transport=fake)
    out, err = capsys.readouterr()
    assert code == 0
    batch_id = out.strip()
    assert batch_id.startswith("msgbatch_")
    assert "submitted 3 requests in 1 batch" in err
    Conversation.load(store, ids[0]).add("user", "And another thing")
    code = main(["--store", url, "batch", "status", batch_id], transport=fake)
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"{batch_id}  in_progress  [")
    assert "/3 done" in out
    argv = ["batch", "status", batch_id, "--wait", "--interval", "0", "--store", url]
    assert main(argv, transport=fake) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1] == (
        f"{batch_id}  ended  [{'#' * 20}] 3/3 done (succeeded 3)"
    )
    code = main(["--store", url, "batch", "collect", batch_id], transport=fake)
    out, _ = capsys.readouterr()
    assert code == 0
    assert f"{ids[0]}  conflict  (succeeded)" in out
    assert f"{ids[1]}  appended  (succeeded)" in out
    assert "collected 3 results: 2 appended, 1 conflict, 0 failed" in out
    assert [t.role for t in store.read(ids[2])] == ["user", "assistant"]
    assert main(["--store", url, "batch", "collect", batch_id], transport=fake) == 0
    assert capsys.readouterr().out.count("already_collected") == 3


def test_batch_submit_offline_waits_and_collects(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """`batch submit --offline --collect` runs a batch end to end in one process."""
    ids = [pending(store, f"Question {n}") for n in range(2)]
    argv = ["--store", url, "batch", "submit", *ids, "--offline", "--collect"]
    code, out, _ = run(capsys, *argv, "--interval", "0")
    assert code == 0
    assert "ended  [" in out
    assert "2 appended" in out
    for cid in ids:
        assert [t.role for t in store.read(cid)] == ["user", "assistant"]


def test_batch_without_a_key_is_a_usage_error(
    url: str,
    store: SQLiteStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --offline and without credentials, batch names the fix; exit code 2."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    cid = pending(store)
    for argv in (["submit", cid], ["status", "msgbatch_1"], ["collect", "msgbatch_1"]):
        code, _, err = run(capsys, "--store", url, "batch", *argv)
        assert code == 2
        assert "batch needs ANTHROPIC_API_KEY" in err
        assert "--offline" in err
    assert "batch" not in store.get(cid).flags


def test_batch_unknown_id_and_nothing_pending_exit_1(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown batch id or a conversation with nothing pending is one message, exit 1."""
    fake = FakeMessagesAPI()
    for action in ("status", "collect"):
        code = main(["--store", url, "batch", action, "msgbatch_nope"], transport=fake)
        err = capsys.readouterr().err
        assert code == 1
        assert err.startswith("conversa: error: no batch 'msgbatch_nope'")
        assert "Traceback" not in err
    answered = seed(store)
    code = main(["--store", url, "batch", "submit", answered], transport=fake)
    err = capsys.readouterr().err
    assert code == 1
    assert answered in err
    assert "sk-injected" not in err


def test_import_refuses_a_block_the_api_would_reject(
    url: str, store: SQLiteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """import checks user blocks like the door does; --trust stores them as they are."""
    cid = seed(store)
    path = tmp_path / "x.jsonl"
    assert run(capsys, "--store", url, "export", cid, "-o", str(path))[0] == 0
    data = json.loads(path.read_text())
    first = json.loads(data["turns"][0]["content"])
    first[0]["foo"] = 1  # an unknown key on the first user text block
    data["turns"][0]["content"] = json.dumps(first)
    path.write_text(json.dumps(data) + "\n")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    code, _, err = run(capsys, "--store", other, "import", str(path))
    assert code == 1
    assert "turn seq 1" in err
    assert "content.0.foo: Extra inputs are not permitted" in err
    assert "--trust" in err
    with SQLiteStore(tmp_path / "other.db") as fresh:
        assert fresh.list().items == ()
    assert run(capsys, "--store", other, "import", str(path), "--trust")[0] == 0


def test_chat_offers_to_retract_a_turn_the_api_refuses(
    url: str,
    store: SQLiteStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the API refuses a stored turn, chat names it and retracts it on 'y'."""
    from conversa import RawBlock

    with Client(api_key="sk-test", transport=FakeMessagesAPI()) as client:
        conv = Conversation.create(store, client=client, model=MODEL)
        conv.add("user", [RawBlock({"type": "brand_new_kind"}), "hi"])
        conv.add("assistant", "hello")
    monkeypatch.setattr(sys, "stdin", io.StringIO("again\ny\n"))
    code, out, err = run(capsys, "--store", url, "chat", conv.id, "--offline")
    assert code == 0
    assert "the API refused stored turn seq 1" in err
    assert "retract turn 1" in err
    assert "claude> (fake reply" in out
    kinds = [t.kind for t in store.read(conv.id)]
    assert kinds == ["message", "message", "message", "retraction", "message"]


def test_export_reads_turns_a_page_at_a_time(tmp_path: Path) -> None:
    """Export streams a long conversation in pages and writes the same line."""
    from conversa import MemoryStore
    from conversa._cli.jsonl import EXPORT_PAGE, dump_line, write_export

    class Counting(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.reads: list[int] = []

        def read(self, conversation_id: str, **kwargs: object) -> object:  # type: ignore[override]
            turns = super().read(conversation_id, **kwargs)  # type: ignore[arg-type]
            self.reads.append(len(turns))
            return turns

    store = Counting()
    conv = Conversation.create(store, model=MODEL)
    turns = [("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(1_201)]
    conv.add_turns(turns)
    store.reads.clear()
    out = io.StringIO()
    write_export(store, conv.id, out)
    assert store.reads == [EXPORT_PAGE, EXPORT_PAGE, 201]
    expected = dump_line(store.get(conv.id), MemoryStore.read(store, conv.id))
    assert out.getvalue() == expected + "\n"
