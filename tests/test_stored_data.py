"""Stored data stays readable: a store written by conversa at f872a30 replays unchanged.

tests/fixtures/stored_v0 was made once by its make_fixture.py, run against commit
f872a30 (before issue 8). conversa.db is that commit's SQLite store, export.jsonl its
`conversa export`, and requests.json the exact body its `request()` returned for every
conversation. Later code opens (and migrates) a copy of the store and must read and
replay it byte for byte. Never regenerate the fixture to make these tests pass.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conversa import AsyncConversation, Conversation, SQLiteStore, Turn
from conversa._cli.main import main

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent / "fixtures" / "stored_v0"
REQUESTS: dict[str, Any] = json.loads(
    (FIXTURE / "requests.json").read_text(encoding="utf-8")
)
EXPORT_LINES = (FIXTURE / "export.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
EXPORTED: dict[str, Any] = {
    data["record"]["id"]: data for data in map(json.loads, EXPORT_LINES)
}
IDS = sorted(REQUESTS)


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def _stored_content(conversation_id: str) -> list[tuple[int, str]]:
    """The (seq, content) column of the fixture's turns, as f872a30 wrote them."""
    con = sqlite3.connect(f"file:{FIXTURE / 'conversa.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT seq, content FROM conversa_turns WHERE conversation_id = ?"
            " ORDER BY seq",
            (conversation_id,),
        ).fetchall()
    finally:
        con.close()
    return [(int(seq), str(content)) for seq, content in rows]


@pytest.fixture(name="db")
def _db(tmp_path: Path) -> Path:
    """A copy of the fixture's SQLite file, free to migrate."""
    path = tmp_path / "conversa.db"
    shutil.copyfile(FIXTURE / "conversa.db", path)
    return path


@pytest.fixture(name="store")
def _store(db: Path) -> Iterator[SQLiteStore]:
    """The copied store, opened (and migrated) by the current code."""
    store = SQLiteStore(db)
    try:
        yield store
    finally:
        store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line and return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_fixture_files_describe_the_same_conversations(store: SQLiteStore) -> None:
    """The store, the export and the frozen requests hold the same conversations."""
    stored = sorted(r.id for r in store.list(limit=1000).items)
    assert stored == IDS == sorted(EXPORTED)
    assert len(IDS) >= 15


@pytest.mark.parametrize("conversation_id", IDS)
def test_request_replays_what_f872a30_sent(
    store: SQLiteStore, conversation_id: str
) -> None:
    """Conversation.request() on the migrated store equals f872a30's body, byte for byte."""
    frozen = REQUESTS[conversation_id]
    conv = Conversation.load(store, conversation_id)
    body = conv.request(frozen["content"])
    assert _dumps(body) == _dumps(frozen["body"])


@pytest.mark.parametrize("conversation_id", IDS)
async def test_async_request_replays_what_f872a30_sent(
    store: SQLiteStore, conversation_id: str
) -> None:
    """AsyncConversation.request() on the migrated store equals f872a30's body too."""
    frozen = REQUESTS[conversation_id]
    conv = await AsyncConversation.load(store, conversation_id)
    body = await conv.request(frozen["content"])
    assert _dumps(body) == _dumps(frozen["body"])


@pytest.mark.parametrize("conversation_id", IDS)
def test_stored_content_reads_back_byte_identical(
    store: SQLiteStore, conversation_id: str
) -> None:
    """Every turn's content_json is the text f872a30 stored, and survives a rebuild."""
    turns = store.read(conversation_id)
    exported = EXPORTED[conversation_id]["turns"]
    assert [(t.seq, t.content_json()) for t in turns] == _stored_content(
        conversation_id
    )
    assert [t.content_json() for t in turns] == [t["content"] for t in exported]
    for turn in turns:
        again = Turn.from_content_json(turn.role, turn.content_json())
        assert again.content_json() == turn.content_json()


@pytest.mark.parametrize("conversation_id", IDS)
def test_the_migrated_store_exports_what_f872a30_exported(
    db: Path, capsys: pytest.CaptureFixture[str], conversation_id: str
) -> None:
    """`conversa export` of the migrated store gives f872a30's export line."""
    code, out, err = run(
        capsys, "--store", f"sqlite:///{db}", "export", conversation_id
    )
    assert (code, err) == (0, "")
    assert out == f"{_line_of(conversation_id)}\n"


def _line_of(conversation_id: str) -> str:
    return next(
        x for x in EXPORT_LINES if json.loads(x)["record"]["id"] == conversation_id
    )


def _without_updated_at(line: str) -> str:
    data = json.loads(line)
    del data["record"]["updated_at"]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


#: Conversations whose import is refused by today's door: rows an older conversa
#: stored that the API would reject. `--trust` imports them as they are.
REFUSED_ON_IMPORT = {"lax-input": "content.0.foo: Extra inputs are not permitted"}


@pytest.mark.parametrize("conversation_id", IDS)
def test_import_then_export_keeps_every_field_but_updated_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], conversation_id: str
) -> None:
    """`conversa import` of the export line, exported again: same line but updated_at."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    source = str(FIXTURE / "export.jsonl")
    trust: tuple[str, ...] = ()
    if conversation_id in REFUSED_ON_IMPORT:
        code, out, err = run(capsys, "--store", url, "import", source, conversation_id)
        assert code == 1
        assert REFUSED_ON_IMPORT[conversation_id] in err
        assert "--trust" in err
        trust = ("--trust",)
    code, out, err = run(
        capsys, "--store", url, "import", source, conversation_id, *trust
    )
    assert (code, out, err) == (0, "imported 1 conversation\n", "")
    code, again, _ = run(capsys, "--store", url, "export", conversation_id)
    assert code == 0
    assert _without_updated_at(again.removesuffix("\n")) == _without_updated_at(
        _line_of(conversation_id)
    )


def test_export_import_export_gives_the_same_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Importing export.jsonl into a fresh store and exporting it again: same bytes."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, err = run(
        capsys, "--store", url, "import", str(FIXTURE / "export.jsonl"), "--trust"
    )
    assert (code, out, err) == (0, f"imported {len(IDS)} conversations\n", "")
    again = tmp_path / "again.jsonl"
    code, _, _ = run(capsys, "--store", url, "export", "-o", str(again))
    assert code == 0
    assert again.read_text(encoding="utf-8").split("\n")[:-1] == EXPORT_LINES


@pytest.mark.parametrize("conversation_id", IDS)
def test_show_and_turns_read_every_conversation(
    db: Path,
    store: SQLiteStore,
    capsys: pytest.CaptureFixture[str],
    conversation_id: str,
) -> None:
    """`conversa show` prints each conversation, and turns() reads all its turns."""
    code, out, err = run(capsys, "--store", f"sqlite:///{db}", "show", conversation_id)
    assert (code, err) == (0, "")
    assert out.strip()
    turns = Conversation.load(store, conversation_id).turns()
    assert [t.seq for t in turns] == [
        t["seq"] for t in EXPORTED[conversation_id]["turns"]
    ]


@pytest.mark.parametrize("conversation_id", IDS)
async def test_async_turns_read_every_conversation(
    store: SQLiteStore, conversation_id: str
) -> None:
    """AsyncConversation.turns() reads the same turns as the export holds."""
    conv = await AsyncConversation.load(store, conversation_id)
    turns = await conv.turns()
    exported = EXPORTED[conversation_id]["turns"]
    assert [(t.id, t.role, t.kind, t.status) for t in turns] == [
        (t["id"], t["role"], t["kind"], t["status"]) for t in exported
    ]
