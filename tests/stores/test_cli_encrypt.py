"""`conversa encrypt` and `conversa rekey`, on the stored_v0 fixture and PostgreSQL.

The fixture's store (written by an older conversa, see test_stored_data.py) is
encrypted in place; it then replays and exports exactly what it did in plaintext,
with the keys, and refuses to open without them. An interrupted run is finished by
running it again; a wrong key changes nothing.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conversa import Client, Conversation, Encryption, PostgresStore, SQLiteStore
from conversa._cli.main import main
from conversa._stores.sql import keyring
from conversa.testing import FakeMessagesAPI
from tests.test_stored_data import EXPORT_LINES, FIXTURE, IDS, REQUESTS

KEY1 = base64.b64encode(bytes(range(32))).decode()
KEY2 = base64.b64encode(bytes(range(100, 132))).decode()
ENV = "CONVERSA_ENCRYPTION_KEYS"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line and return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(name="db")
def _db(tmp_path: Path) -> Path:
    """A copy of the stored_v0 fixture (plaintext, an older schema)."""
    path = tmp_path / "conversa.db"
    shutil.copyfile(FIXTURE / "conversa.db", path)
    return path


def _rows(db: Path) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        turns = con.execute(
            "SELECT conversation_id, seq, content, key_id FROM conversa_turns"
        ).fetchall()
        records = con.execute(
            "SELECT id, system, params, key_id FROM conversa_conversations"
        ).fetchall()
    finally:
        con.close()
    return turns + records


def _replays(db: Path, keys: str) -> None:
    store = SQLiteStore(db, encryption=Encryption.parse(keys))
    try:
        for cid in IDS:
            body = Conversation.load(store, cid).request(REQUESTS[cid]["content"])
            expected = REQUESTS[cid]["body"]
            assert json.dumps(body, ensure_ascii=False) == json.dumps(
                expected, ensure_ascii=False
            )
    finally:
        store.close()


def _encrypted(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """Encrypt *db* under k1 with the command line; return its URL (k1 stays set)."""
    url = f"sqlite:///{db}"
    monkeypatch.setenv(ENV, f"k1:{KEY1}")
    assert run(capsys, "--store", url, "encrypt")[0] == 0
    return url


def test_encrypt_converts_the_fixture_and_it_replays_byte_identical(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every row sealed; requests and the export are what the plaintext store gave."""
    url = f"sqlite:///{db}"
    monkeypatch.setenv(ENV, f"k1:{KEY1}")
    code, out, err = run(capsys, "--store", url, "encrypt")
    assert (code, err) == (0, "")
    assert out.startswith(f"encrypted {len(IDS)} conversations, ")
    rows = _rows(db)
    assert {row[-1] for row in rows} == {"k1"}
    plain = (FIXTURE / "export.jsonl").read_text(encoding="utf-8")
    for row in rows:
        assert row[2].startswith("cv1:k1:")
        assert row[2] not in plain
    _replays(db, f"k1:{KEY1}")
    lines = {json.loads(x)["record"]["id"]: x for x in EXPORT_LINES}
    for cid in IDS:
        code, out, err = run(capsys, "--store", url, "export", cid)
        assert (code, out, err) == (0, f"{lines[cid]}\n", "")
    code, out, _ = run(capsys, "--store", url, "encrypt")
    assert (code, out) == (0, "encrypted 0 conversations, 0 turns under key 'k1'\n")


def test_export_without_the_key_writes_nothing(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encrypted store opened without keys: exit 1, a clear message, no output."""
    url = _encrypted(db, capsys, monkeypatch)
    monkeypatch.delenv(ENV)
    target = db.parent / "out.jsonl"
    code, out, err = run(capsys, "--store", url, "export", "-o", str(target))
    assert (code, out) == (1, "")
    assert "the database is encrypted" in err
    assert ENV in err
    assert not target.exists()


def test_an_interrupted_encrypt_resumes(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after a few transactions, `encrypt` again finishes the rest."""
    url = f"sqlite:///{db}"
    monkeypatch.setenv(ENV, f"k1:{KEY1}")
    real = keyring.reseal
    calls = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        def stop(done: keyring.Resealed) -> None:
            calls.append(done)
            if len(calls) == 3:
                raise KeyboardInterrupt

        return real(*args, **{**kwargs, "progress": stop})

    monkeypatch.setattr("conversa._cli.encrypt.reseal", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(capsys, "--store", url, "encrypt", "--batch", "2")
    states = [row[-1] for row in _rows(db)]
    assert "k1" in states
    assert None in states
    monkeypatch.setattr("conversa._cli.encrypt.reseal", real)
    assert run(capsys, "--store", url, "encrypt", "--batch", "2")[0] == 0
    assert {row[-1] for row in _rows(db)} == {"k1"}
    _replays(db, f"k1:{KEY1}")


def test_rekey_moves_every_row_to_the_new_key(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """k1 to k2: every row under k2, k1 forgotten; the store replays with k2 alone."""
    url = _encrypted(db, capsys, monkeypatch)
    monkeypatch.setenv(ENV, f"k2:{KEY2},k1:{KEY1}")
    code, out, err = run(capsys, "--store", url, "rekey")
    assert (code, err) == (0, "")
    assert out.startswith(f"re-encrypted {len(IDS)} conversations")
    assert {row[-1] for row in _rows(db)} == {"k2"}
    _replays(db, f"k2:{KEY2}")
    monkeypatch.setenv(ENV, f"k1:{KEY1}")
    code, _, err = run(capsys, "--store", url, "ls")
    assert code == 1
    assert "'k2'" in err


def test_a_wrong_key_changes_nothing(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`encrypt` or `rekey` under another key for a registered id: exit 1, no write."""
    url = _encrypted(db, capsys, monkeypatch)
    before = _rows(db)
    monkeypatch.setenv(ENV, f"k1:{KEY2}")
    for command in ("encrypt", "rekey", "export"):
        code, out, err = run(capsys, "--store", url, command)
        assert (code, out) == (1, "")
        assert "wrong key" in err
        assert KEY1 not in err
        assert KEY2 not in err
    assert _rows(db) == before


def test_keys_are_required_and_checked(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No keys: `encrypt` says where they come from; a malformed value is refused."""
    url = f"sqlite:///{db}"
    monkeypatch.delenv(ENV, raising=False)
    code, _, err = run(capsys, "--store", url, "encrypt")
    assert code == 1
    assert ENV in err
    monkeypatch.setenv(ENV, "k1-without-a-key")
    code, _, err = run(capsys, "--store", url, "encrypt")
    assert code == 1
    assert "id:base64key" in err
    assert {row[-1] for row in _rows(db)} == {None}


@pytest.mark.postgres
def test_encrypt_and_rekey_on_postgres(
    fresh_pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plaintext PostgreSQL store: encrypt, rekey, and it replays the same."""
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(
            store,
            client=Client(api_key="sk-test", transport=FakeMessagesAPI()),
            model="claude-sonnet-4-5",
            system="pg system",
            id="pg1",
        )
        conv.send("hello")
        conv.send("again")
        body = conv.request("third")
    monkeypatch.setenv(ENV, f"k1:{KEY1}")
    assert run(capsys, "--store", fresh_pg_url, "encrypt", "--batch", "1")[:2] == (
        0,
        "encrypted 1 conversations, 4 turns under key 'k1'\n",
    )
    monkeypatch.setenv(ENV, f"k2:{KEY2},k1:{KEY1}")
    assert run(capsys, "--store", fresh_pg_url, "rekey")[0] == 0
    with PostgresStore(
        fresh_pg_url, encryption=Encryption.parse(f"k2:{KEY2}")
    ) as store:
        again = Conversation.load(store, "pg1").request("third")
    assert json.dumps(again) == json.dumps(body)
