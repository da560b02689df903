"""Encryption at rest: the SQL stores with `encryption=`, against SQLite and PostgreSQL.

What is sealed stays out of the rows, replay is byte-identical with and without
encryption, rows moved or altered are refused, a wrong or missing key refuses to
open and writes nothing, retried appends compare HMACs, forks re-encrypt, keys
rotate, and the whole store contract holds on an encrypted store.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    Conversation,
    Encryption,
    EncryptionError,
    InvalidInputError,
    PostgresStore,
    SQLiteStore,
    Turn,
    TurnIdConflictError,
)
from conversa._stores.sql.crypto import Codec
from conversa._stores.sql.keyring import reseal
from conversa._stores.sql.postgres import psycopg_url
from conversa._stores.sql.store import SQLStore
from conversa.testing import FakeMessagesAPI
from conversa.testing.store_contract import StoreContract
from tests.stores.helpers import count_flows
from tests.stores.workers import open_store

pytestmark = pytest.mark.anyio

KEY1 = bytes(range(32))
KEY2 = bytes(range(32, 64))
KEYS = Encryption({"k1": KEY1}, current="k1")
MARK_SYSTEM = "system-secret-7c1f"
MARK_TOOL = "tool-secret-92ab"
MARK_TEXT = "user-secret-41d0"
MARK_META = "meta-secret-5e2a"
MARK_STOP = "stop-secret-3b9c"
TOOLS = [
    {
        "name": "lookup",
        "description": f"Look up an order ({MARK_TOOL})",
        "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
]


def _engine(backend: str, target: str) -> Engine:
    if backend == "sqlite":
        return create_engine(f"sqlite:///{target}")
    return create_engine(psycopg_url(target))


def _sql(backend: str, target: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement on the raw database (outside conversa) and commit."""
    engine = _engine(backend, target)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


def _dump(backend: str, target: str) -> str:
    """Every row of conversa's two content tables, as text."""
    rows = _sql(backend, target, "SELECT * FROM conversa_turns")
    rows += _sql(backend, target, "SELECT * FROM conversa_conversations")
    return repr(rows)


def _client() -> Client:
    return Client(api_key="sk-test", transport=FakeMessagesAPI())


def _talk(store: SQLStore, conversation_id: str) -> Conversation:
    conv = Conversation.create(
        store,
        client=_client(),
        model="claude-sonnet-4-5",
        system=MARK_SYSTEM,
        tools=TOOLS,
        stop_sequences=[MARK_STOP],
        metadata={"topic": MARK_META},
        id=conversation_id,
    )
    conv.send(f"first {MARK_TEXT}")
    conv.send("second message, ünïcödé and \u2028 kept exactly")
    return conv


# -- what is stored ---------------------------------------------------------------


def test_sealed_columns_hold_no_plaintext(sql_backend: str, fresh_target: str) -> None:
    """Turn content, system prompt, tools and params are ciphertext in the rows."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    dump = _dump(sql_backend, fresh_target)
    for secret in (MARK_SYSTEM, MARK_TOOL, MARK_TEXT, MARK_STOP, "ünïcödé"):
        assert secret not in dump
    # Metadata stays plaintext by default: listings filter on it.
    assert MARK_META in dump
    key_ids = _sql(
        sql_backend, fresh_target, "SELECT DISTINCT key_id FROM conversa_turns"
    )
    assert key_ids == [("k1",)]


def test_replay_is_byte_identical_with_and_without_encryption(
    sql_backend: str, fresh_target: str, tmp_path: Path
) -> None:
    """The same conversation, plaintext and encrypted: identical request bodies."""
    with (
        SQLiteStore(tmp_path / "plain.db") as plain,
        open_store(sql_backend, fresh_target, encryption=KEYS) as sealed,
    ):
        bodies = [_talk(store, "c1").request("third") for store in (plain, sealed)]
        again = Conversation.load(sealed, "c1").request("third")
        contents = [[t.content_json() for t in s.read("c1")] for s in (plain, sealed)]
    assert json.dumps(bodies[0]) == json.dumps(bodies[1]) == json.dumps(again)
    assert MARK_SYSTEM in json.dumps(again)
    assert MARK_TOOL in json.dumps(again)
    assert contents[0] == contents[1]


async def test_async_replay_is_byte_identical(
    sql_backend: str, fresh_target: str, tmp_path: Path
) -> None:
    """The async twins, plaintext and encrypted: identical request bodies."""
    plain = SQLiteStore(tmp_path / "plain.db")
    sealed = open_store(sql_backend, fresh_target, encryption=KEYS)
    bodies = []
    try:
        for store in (plain, sealed):
            conv = await AsyncConversation.create(
                store,
                client=AsyncClient(api_key="sk-test", transport=FakeMessagesAPI()),
                model="claude-sonnet-4-5",
                system=MARK_SYSTEM,
                tools=TOOLS,
                stop_sequences=[MARK_STOP],
                id="a1",
            )
            await conv.send(f"first {MARK_TEXT}")
            await conv.send("second, ünïcödé")
            loaded = await AsyncConversation.load(store, "a1")
            bodies.append(await loaded.request("third"))
    finally:
        await plain.aclose()
        await sealed.aclose()
    assert json.dumps(bodies[0]) == json.dumps(bodies[1])
    assert MARK_TEXT not in _dump(sql_backend, fresh_target)


# -- idempotent appends, forks ----------------------------------------------------


def test_a_retried_append_is_compared_by_hmac(
    sql_backend: str, fresh_target: str
) -> None:
    """The same turn id again stores nothing; other content under it conflicts."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
        turn = Turn("user", "retry me", id="t-retry")
        first = store.append("c1", [turn])
        again = store.append("c1", [turn])
        assert again == first
        assert again[0].content_json() == turn.content_json()
        assert store.get("c1").last_seq == first[0].seq
        with pytest.raises(TurnIdConflictError):
            store.append("c1", [Turn("user", "other content", id="t-retry")])
        with pytest.raises(TurnIdConflictError):
            store.append("c1", [Turn("assistant", "retry me", id="t-retry")])
        # From the current seq: the short way seals and moves, finds the id taken,
        # rolls back; the careful way compares by HMAC.
        last = store.get("c1").last_seq
        assert store.append("c1", [turn], expected_last_seq=last) == first
        with pytest.raises(TurnIdConflictError):
            store.append(
                "c1", [Turn("user", "other", id="t-retry")], expected_last_seq=last
            )
        new = store.append(
            "c1", [Turn("assistant", "zq-short-way-text")], expected_last_seq=last
        )
        assert [t.seq for t in new] == [last + 1]
        assert store.read("c1")[-1].text == "zq-short-way-text"
        assert "zq-short-way-text" not in _dump(sql_backend, fresh_target)


def test_an_encrypted_plain_append_is_sealed_the_quick_way(
    sql_backend: str, fresh_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encrypted store's plain append takes the quick write too (no flow), its
    turns sealed as the flow seals them: ciphertext in the row, the text read back,
    a retry answered by the careful way's HMAC comparison, nothing written twice."""
    ran = count_flows(monkeypatch)
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        conv = Conversation.create(store, model="claude-sonnet-4-5")
        conv.add("user", "zq-first-sealed")
        ran.clear()
        conv.add("assistant", "zq-quick-sealed")  # the tail known: the quick write
        guessed = store.append(conv.id, [Turn("user", "zq-guessed-sealed")])
        assert ran == []
        assert [t.seq for t in guessed] == [3]
        assert [t.text for t in store.read(conv.id)] == [
            "zq-first-sealed",
            "zq-quick-sealed",
            "zq-guessed-sealed",
        ]
        dump = _dump(sql_backend, fresh_target)
        assert "zq-quick-sealed" not in dump
        assert "zq-guessed-sealed" not in dump
        assert store.append(conv.id, [guessed[0]]) == guessed
        assert ran == [False]  # the id taken: the careful way compared it
        assert store.get(conv.id).last_seq == 3


async def test_a_retried_aappend_is_compared_by_hmac(
    sql_backend: str, fresh_target: str
) -> None:
    """The async twin: a retry returns the stored turn, a different one conflicts."""
    store = open_store(sql_backend, fresh_target, encryption=KEYS)
    try:
        await AsyncConversation.create(store, model="claude-sonnet-4-5", id="c1")
        turn = Turn("user", "retry me", id="t-retry")
        first = await store.aappend("c1", [turn])
        assert await store.aappend("c1", [turn]) == first
        with pytest.raises(TurnIdConflictError):
            await store.aappend("c1", [Turn("user", "changed", id="t-retry")])
    finally:
        await store.aclose()


def test_a_fork_re_encrypts_what_it_copies(sql_backend: str, fresh_target: str) -> None:
    """A fork's rows are sealed under its own id: same text, other ciphertext."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
        fork = store.fork("c1", 2, new_id="f1")
        assert [t.content_json() for t in store.read("f1")] == [
            t.content_json() for t in store.read("c1", stop=3)
        ]
        assert fork.system == store.get("c1").system
        assert fork.params == store.get("c1").params
    parent = _sql(
        sql_backend,
        fresh_target,
        "SELECT content FROM conversa_turns WHERE conversation_id = 'c1' AND seq <= 2"
        " ORDER BY seq",
    )
    child = _sql(
        sql_backend,
        fresh_target,
        "SELECT content FROM conversa_turns WHERE conversation_id = 'f1' ORDER BY seq",
    )
    assert len(child) == 2
    assert not set(parent) & set(child)


# -- rows moved or altered ----------------------------------------------------------


def _content(backend: str, target: str, cid: str, seq: int) -> str:
    """A turn's stored content column."""
    rows = _sql(
        backend,
        target,
        "SELECT content FROM conversa_turns WHERE conversation_id = :c AND seq = :s",
        c=cid,
        s=seq,
    )
    return str(rows[0][0])


def _set_content(backend: str, target: str, cid: str, seq: int, value: str) -> None:
    """Overwrite a turn's content column, outside conversa."""
    _sql(
        backend,
        target,
        "UPDATE conversa_turns SET content = :v WHERE conversation_id = :c AND seq = :s",
        v=value,
        c=cid,
        s=seq,
    )


def _swap(backend: str, target: str, a: tuple[str, int], b: tuple[str, int]) -> None:
    ca, cb = _content(backend, target, *a), _content(backend, target, *b)
    _set_content(backend, target, *a, cb)
    _set_content(backend, target, *b, ca)


def test_turns_swapped_within_a_conversation_are_refused(
    sql_backend: str, fresh_target: str
) -> None:
    """Two turns' ciphertexts exchanged: reading either raises EncryptionError."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    _swap(sql_backend, fresh_target, ("c1", 1), ("c1", 3))
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        with pytest.raises(EncryptionError, match="turn 1 of conversation 'c1'"):
            store.read("c1")
        assert len(store.read("c1", start=2, stop=3)) == 1


def test_rows_swapped_after_a_read_are_refused_by_the_same_store(
    sql_backend: str, fresh_target: str
) -> None:
    """The turns a store opened are kept by the row as read: a row swapped since
    is another row, opened (and refused) anew, whatever the store keeps."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
        _talk(store, "c2")
        first = store.read_window("c1").turns
        assert store.read_window("c1").turns == first  # read again: kept
        assert all(
            a is b for a, b in zip(store.read_window("c1").turns, first, strict=True)
        )
        _swap(sql_backend, fresh_target, ("c1", 1), ("c1", 3))
        with pytest.raises(EncryptionError, match="turn 1 of conversation 'c1'"):
            store.read_window("c1")
        _swap(sql_backend, fresh_target, ("c1", 1), ("c1", 3))  # back
        assert store.read_window("c1").turns == first
        _swap(sql_backend, fresh_target, ("c1", 2), ("c2", 2))
        with pytest.raises(EncryptionError, match="moved"):
            store.read_window("c1")


def test_turns_swapped_between_conversations_are_refused(
    sql_backend: str, fresh_target: str
) -> None:
    """The same seq of two conversations exchanged: refused, sync and async."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
        _talk(store, "c2")
    _swap(sql_backend, fresh_target, ("c1", 1), ("c2", 1))
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        with pytest.raises(EncryptionError, match="moved"):
            store.read("c2")
        with pytest.raises(EncryptionError):
            Conversation.load(store, "c1", client=_client()).request("x")


def test_record_columns_swapped_or_tampered_are_refused(
    sql_backend: str, fresh_target: str
) -> None:
    """system and params exchanged, or one character of params changed: refused."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
        _talk(store, "c2")
    _sql(
        sql_backend,
        fresh_target,
        "UPDATE conversa_conversations SET system = params, params = system"
        " WHERE id = 'c1'",
    )
    (params,) = _sql(
        sql_backend,
        fresh_target,
        "SELECT params FROM conversa_conversations WHERE id = 'c2'",
    )[0]
    flipped = params[:-3] + ("A" if params[-3] != "A" else "B") + params[-2:]
    _sql(
        sql_backend,
        fresh_target,
        "UPDATE conversa_conversations SET params = :p WHERE id = 'c2'",
        p=flipped,
    )
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        with pytest.raises(EncryptionError, match="system of conversation 'c1'"):
            store.get("c1")
        with pytest.raises(EncryptionError, match="params of conversation 'c2'"):
            store.get("c2")


def test_a_flipped_role_is_refused(sql_backend: str, fresh_target: str) -> None:
    """A turn's plaintext role changed (user to assistant): its content is refused."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    _sql(
        sql_backend,
        fresh_target,
        "UPDATE conversa_turns SET role = 'assistant' WHERE conversation_id = 'c1'"
        " AND seq = 1",
    )
    with (
        open_store(sql_backend, fresh_target, encryption=KEYS) as store,
        pytest.raises(EncryptionError, match="role"),
    ):
        store.read("c1")


async def test_tampered_turn_content_is_refused_async(
    sql_backend: str, fresh_target: str
) -> None:
    """A changed ciphertext character: the async read raises EncryptionError."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    content = _content(sql_backend, fresh_target, "c1", 2)
    tampered = content[:-5] + ("x" if content[-5] != "x" else "y") + content[-4:]
    _set_content(sql_backend, fresh_target, "c1", 2, tampered)
    store = open_store(sql_backend, fresh_target, encryption=KEYS)
    try:
        with pytest.raises(EncryptionError, match="does not decrypt"):
            await store.aread("c1")
        with pytest.raises(EncryptionError):
            await store.aread_window("c1")
    finally:
        await store.aclose()


def test_a_plaintext_row_in_an_encrypted_store_is_refused(
    sql_backend: str, fresh_target: str
) -> None:
    """Ciphertext replaced by plaintext: refused, naming `conversa encrypt`."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    injected = '[{"type":"text","text":"injected"}]'
    _set_content(sql_backend, fresh_target, "c1", 1, injected)
    with (
        open_store(sql_backend, fresh_target, encryption=KEYS) as store,
        pytest.raises(EncryptionError, match="conversa encrypt"),
    ):
        store.read("c1")


# -- keys -------------------------------------------------------------------------------


def test_a_wrong_key_refuses_to_open_and_writes_nothing(
    sql_backend: str, fresh_target: str
) -> None:
    """Another key under a registered id: EncryptionError at open, rows untouched."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    before = _dump(sql_backend, fresh_target)
    wrong = Encryption({"k1": KEY2}, current="k1")
    with pytest.raises(EncryptionError, match="wrong key") as info:
        open_store(sql_backend, fresh_target, encryption=wrong)
    with pytest.raises(EncryptionError, match="wrong key"):
        open_store(sql_backend, fresh_target, encryption=wrong, migrate="off")
    for key in (KEY1, KEY2):
        assert key.hex() not in str(info.value)
    assert _dump(sql_backend, fresh_target) == before
    registered = _sql(sql_backend, fresh_target, "SELECT key_id FROM conversa_keys")
    assert registered == [("k1",)]


def test_a_missing_key_refuses_to_open(sql_backend: str, fresh_target: str) -> None:
    """No keys, or a keyring without a registered id: EncryptionError at open."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        _talk(store, "c1")
    before = _dump(sql_backend, fresh_target)
    with pytest.raises(EncryptionError, match="open the store with encryption="):
        open_store(sql_backend, fresh_target)
    other = Encryption({"k2": KEY2}, current="k2")
    with pytest.raises(EncryptionError, match=r"key ids \['k1'\]"):
        open_store(sql_backend, fresh_target, encryption=other)
    assert _dump(sql_backend, fresh_target) == before


def test_keys_rotate_and_rekey_moves_every_row(
    sql_backend: str, fresh_target: str
) -> None:
    """k1 then k2 current: old rows read, new rows k2; rekey leaves only k2."""
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        before = _talk(store, "c1").request("x")
    rotated = Encryption({"k2": KEY2, "k1": KEY1}, current="k2")
    with open_store(sql_backend, fresh_target, encryption=rotated) as store:
        store.append("c1", [Turn("user", "under k2", id="t2")])
        _talk(store, "c2")
        ids = _sql(
            sql_backend,
            fresh_target,
            "SELECT DISTINCT key_id FROM conversa_turns ORDER BY key_id",
        )
        assert ids == [("k1",), ("k2",)]
        done = reseal(store._runner.engine, Codec(rotated), rekey=True, batch=2)
        assert (done.conversations, done.turns) == (1, 4)
        assert reseal(store._runner.engine, Codec(rotated), rekey=True).turns == 0
    only = Encryption({"k2": KEY2}, current="k2")
    with open_store(sql_backend, fresh_target, encryption=only) as store:
        store.update("c1", {"metadata": {"topic": "rotated"}})
        again = Conversation.load(store, "c1").request("x")
    assert json.dumps(again["messages"][:4]) == json.dumps(before["messages"][:4])
    assert _sql(sql_backend, fresh_target, "SELECT key_id FROM conversa_keys") == [
        ("k2",)
    ]
    with pytest.raises(EncryptionError):
        open_store(sql_backend, fresh_target, encryption=KEYS)


def test_metadata_encrypted_refuses_filters(
    sql_backend: str, fresh_target: str
) -> None:
    """metadata='encrypted': sealed in the row, listed back, filters refused."""
    keys = Encryption({"k1": KEY1}, current="k1", metadata="encrypted")
    with open_store(sql_backend, fresh_target, encryption=keys) as store:
        _talk(store, "c1")
        assert [r.metadata for r in store.list().items] == [{"topic": MARK_META}]
        with pytest.raises(EncryptionError, match="cannot filter"):
            store.list(metadata={"topic": MARK_META})
        store.update("c1", {"metadata": {"topic": "changed"}})
        assert store.get("c1").metadata == {"topic": "changed"}
    assert MARK_META not in _dump(sql_backend, fresh_target)
    assert "changed" not in _dump(sql_backend, fresh_target)


async def test_metadata_encrypted_refuses_filters_async(
    sql_backend: str, fresh_target: str
) -> None:
    """The async twin refuses the filter too, before any query."""
    keys = Encryption({"k1": KEY1}, current="k1", metadata="encrypted")
    store = open_store(sql_backend, fresh_target, encryption=keys)
    try:
        with pytest.raises(EncryptionError):
            await store.alist(metadata={"a": 1})
        assert (await store.alist()).items == ()
    finally:
        await store.aclose()


def test_keys_never_show(tmp_path: Path) -> None:
    """Neither repr of the keyring or the store nor an error shows key material."""
    store = SQLiteStore(tmp_path / "c.db", encryption=KEYS)
    try:
        for text_ in (repr(KEYS), repr(store), repr(store.encryption)):
            assert KEY1.hex() not in text_
            assert "k1" in repr(KEYS)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("keys", "current", "message"),
    [
        ({"k1": b"short"}, "k1", "32 bytes"),
        ({"k1": KEY1}, "k2", "not among the keys"),
        ({"bad id": KEY1}, "bad id", "key id"),
    ],
)
def test_bad_keyrings_are_refused(
    keys: dict[str, bytes], current: str, message: str
) -> None:
    """A short key, an unknown current id, a key id with a space: InvalidInputError."""
    with pytest.raises(InvalidInputError, match=message):
        Encryption(keys, current=current)


def test_keys_parse_from_text_and_environment(tmp_path: Path) -> None:
    """id:base64 entries, the first current; from the variable or a file."""
    import base64

    line = f"k2:{base64.b64encode(KEY2).decode()},k1:{base64.b64encode(KEY1).decode()}"
    parsed = Encryption.parse(line)
    assert (parsed.current, parsed.key_ids) == ("k2", ("k1", "k2"))
    path = tmp_path / "keys"
    path.write_text("# conversa keys\n" + line.replace(",", "\n"), encoding="utf-8")
    env = {"CONVERSA_ENCRYPTION_KEYS_FILE": str(path)}
    from_file = Encryption.from_env(env)
    assert from_file is not None
    assert from_file.current == "k2"
    assert Encryption.from_env({}) is None
    meta = Encryption.from_env(
        {"CONVERSA_ENCRYPTION_KEYS": line, "CONVERSA_ENCRYPTION_METADATA": "encrypted"}
    )
    assert meta is not None
    assert meta.metadata == "encrypted"
    with pytest.raises(InvalidInputError, match="not valid base64"):
        Encryption.parse("k1:!!!")
    with pytest.raises(InvalidInputError, match="no encryption keys"):
        Encryption.parse("  ")


# -- a database made before encryption ----------------------------------------------


def test_a_schema_2_database_migrates_and_replays(
    sql_backend: str, fresh_target: str
) -> None:
    """A database at schema 2 (today's main before this change) opens, migrates,
    replays byte-identical, and replays the same once encrypted in place."""
    with open_store(sql_backend, fresh_target) as store:
        body = _talk(store, "c1").request("third")
    # Back to schema 2: what a database made before migration 3 looks like.
    for statement in (
        "DROP TABLE conversa_keys",
        "ALTER TABLE conversa_turns DROP COLUMN key_id",
        "ALTER TABLE conversa_conversations DROP COLUMN key_id",
        "DELETE FROM conversa_migrations WHERE version = 3",
    ):
        _sql(sql_backend, fresh_target, statement)
    with open_store(sql_backend, fresh_target) as store:
        assert json.dumps(
            Conversation.load(store, "c1").request("third")
        ) == json.dumps(body)
    with open_store(sql_backend, fresh_target, encryption=KEYS) as store:
        with pytest.raises(EncryptionError, match="not encrypted"):
            store.read("c1")
        done = reseal(store._runner.engine, Codec(KEYS))
        assert (done.conversations, done.turns) == (1, 4)
        assert json.dumps(
            Conversation.load(store, "c1").request("third")
        ) == json.dumps(body)
    assert MARK_TEXT not in _dump(sql_backend, fresh_target)


# -- the store contract on an encrypted store -----------------------------------------


class TestEncryptedSQLiteStore(StoreContract):
    """An encrypted SQLiteStore keeps the whole store contract."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
        """An encrypted SQLiteStore on a new file."""
        store = SQLiteStore(tmp_path / "conversa.db", encryption=KEYS)
        yield store
        await store.aclose()


@pytest.mark.postgres
class TestEncryptedPostgresStore(StoreContract):
    """An encrypted PostgresStore keeps the whole store contract."""

    @pytest.fixture
    async def store(self, fresh_pg_url: str) -> AsyncIterator[PostgresStore]:
        """An encrypted PostgresStore on a schema of its own (its keys registered)."""
        store = PostgresStore(fresh_pg_url, encryption=KEYS)
        yield store
        await store.aclose()
