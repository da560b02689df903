"""The hot path: how many transactions a send and an add take, and the driver SQL.

A send takes the conversation's lease (one transaction to take it, one to give it
back) and makes three short transactions inside: read the record and the window,
append the user turn, append the reply with the counts it taught. An `add` is two:
read the record and the tail, append. These are counts of behaviour, not timings.

The hot statements run as driver SQL (`conversa._stores.sql.raw`); the schema and
everything else go through SQLAlchemy Core. Both must read and write the same
values: a turn or record written by one path reads back identically through the
other.
"""

from __future__ import annotations

import contextlib
import enum
import pickle
import sqlite3
import tempfile
import threading
import time
import types
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.sqlite import base as sqlite_types
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import Session

from conversa import (
    AsyncClient,
    AsyncConversation,
    BudgetConfig,
    Client,
    ConversaError,
    Conversation,
    ConversationBusyError,
    ConversationNotFoundError,
    Encryption,
    EncryptionError,
    PostgresStore,
    SeqConflictError,
    SQLiteStore,
    StoreError,
    TurnIdConflictError,
)
from conversa._stores.protocol import TurnUpdate
from conversa._stores.sql import raw, runners
from conversa._stores.sql import store as store_module
from conversa._stores.sql.postgres import psycopg_url
from conversa._stores.sql.raw import (
    INSERT_COLUMNS,
    KEPT_RANGE,
    RECORD_COLUMNS,
    TURN_COLUMNS,
    Raw,
)
from conversa._stores.sql.runners import _PIPELINES, AsyncRunner, _blamed, _pipelines
from conversa._stores.sql.schema import (
    CONVERSATIONS,
    TURNS,
    record_from_row,
    turn_from_row,
    turn_values,
)
from conversa._stores.sql.sqlite import sqlite_begin
from conversa._stores.sql.statements import FAST_TURNS
from conversa._values.turns import (
    ConversationRecord,
    Turn,
    Usage,
    blocks_to_json,
    utcnow,
    with_json,
)
from conversa.testing import FakeMessagesAPI
from tests.stores.helpers import count_flows
from tests.stores.workers import open_store

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"


class Begins:
    """Counts the transactions begun on an engine."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self.engine = engine
        event.listen(engine, "begin", self._begin)

    def _begin(self, conn: Any) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count

    def close(self) -> None:
        event.remove(self.engine, "begin", self._begin)


@pytest.fixture(name="store")
def _store(sql_backend: str, target: str) -> Iterator[Any]:
    with open_store(sql_backend, target) as store:
        yield store


def _engine(store: Any, twin: str) -> Engine:
    """The engine a twin's transactions begin on."""
    if twin == "async" and hasattr(store, "async_engine"):
        return store.async_engine.sync_engine  # type: ignore[no-any-return]
    return store.engine  # type: ignore[no-any-return]


def test_a_send_is_the_lease_and_three_transactions(store: Any) -> None:
    """Sync twin: a send begins 4 transactions: the lease; the read; the user turn;
    the reply, its counts and the lease's release."""
    conv = Conversation.create(
        store, client=Client(api_key="k", transport=FakeMessagesAPI()), model=MODEL
    )
    conv.add_turns(
        [("user", f"q{i}") if i % 2 == 0 else ("assistant", f"a{i}") for i in range(40)]
    )
    conv.send("first")  # learns the system+tools count once
    begins = Begins(_engine(store, "sync"))
    try:
        for i in range(3):
            conv.send(f"again {i}")
            assert begins.take() == 4
        conv.add("user", "one more")
        assert begins.take() == 1  # an add after a send: the tail the send left
        conv.add_turns([("assistant", "and"), ("user", "more")])
        assert begins.take() == 1  # and after an add: the tail it left
        conv.add("assistant", "again")
        assert begins.take() == 1
        other = Conversation.load(store, conv.id)
        other.add("user", "from elsewhere")
        begins.take()
        conv.add("assistant", "still checked")  # its seen tail is behind: read
        assert begins.take() == 3  # the conditional append, the read, the append
        assert [t.text for t in conv.turns()[-2:]] == [
            "from elsewhere",
            "still checked",
        ]
    finally:
        begins.close()


async def test_an_async_send_is_the_lease_and_three_transactions(
    sql_backend: str, target: str
) -> None:
    """Async twin: the same counts."""
    store = open_store(sql_backend, target)
    client = AsyncClient(api_key="k", transport=FakeMessagesAPI())
    begins = Begins(_engine(store, "async"))
    try:
        conv = await AsyncConversation.create(store, client=client, model=MODEL)
        await conv.send("first")
        begins.take()
        await conv.send("again")
        assert begins.take() == 4
        await conv.add("user", "one more")
        assert begins.take() == 1
        await conv.add("assistant", "and")
        assert begins.take() == 1
    finally:
        begins.close()
        await store.aclose()


def test_a_send_that_moves_the_window_writes_the_start_with_the_user_turn(
    store: Any,
) -> None:
    """The window start moves in the user turn's transaction: still 4 in all."""
    conv = Conversation.create(
        store,
        client=Client(api_key="k", transport=FakeMessagesAPI()),
        model=MODEL,
        budget=BudgetConfig(fixed=600),
    )
    conv.add_turns(
        [
            ("user", f"q{i} " * 20) if i % 2 == 0 else ("assistant", f"a{i} " * 20)
            for i in range(40)
        ]
    )
    conv.send("first")
    begins = Begins(_engine(store, "sync"))
    starts = []
    try:
        for i in range(12):
            conv.send(f"again {i} " * 20)
            assert begins.take() == 4
            starts.append(store.get(conv.id).window_start)
            begins.take()  # the get's
    finally:
        begins.close()
    assert len(set(starts)) > 1  # the window moved, and the moves were stored
    assert starts == sorted(starts)
    # No lease is left behind: the reply's transaction released it.
    with store.lock(conv.id, timeout=0.01):
        pass


# -- driver SQL and Core agree -----------------------------------------------------------


def test_the_hot_columns_are_the_schemas() -> None:
    """The driver SQL names the schema's columns (all of a turn's, for an insert)."""
    # All but key_id, which only an encrypted store's insert writes (a plaintext
    # row leaves it NULL): `crypto.INSERT_KEYED_SQL` names every column.
    assert tuple(c.name for c in TURNS.columns) == (*INSERT_COLUMNS, "key_id")
    assert set(TURN_COLUMNS) < set(INSERT_COLUMNS)
    # Every record column but the erasure tombstone, which the WHERE reads, the
    # key id (the sealed values carry it too) and the lease, which only the
    # lease's statements and the append's WHERE read.
    assert tuple(c.name for c in CONVERSATIONS.columns) == (
        *RECORD_COLUMNS,
        "erased_at",
        "key_id",
        "lease_holder",
        "lease_expires",
    )


def _turns() -> list[Turn]:
    return [
        Turn("user", "plain é ✓"),
        Turn(
            "assistant",
            [{"type": "text", "text": "hi", "citations": None}],
            message_id="msg_1",
            model=MODEL,
            stop_reason="stop_sequence",
            stop_sequence="END",
            usage=Usage(11, 3, 2, 1),
            request_id="req_1",
            response_extra={"container": {"id": "c"}},
            tokens=7,
            tokens_exact=True,
            status="interrupted",
            flags={"a": [1, {"b": None}]},
        ),
    ]


def _fields(turn: Turn) -> dict[str, Any]:
    return attrs.asdict(turn, recurse=False)


def test_turns_cross_between_driver_sql_and_core(store: Any) -> None:
    """A turn appended by the hot path reads the same through Core, and back."""
    record = store.create(ConversationRecord(model=MODEL, metadata={"k": [1]}))
    written = store.append(record.id, _turns())
    with Session(store.engine) as session:
        rows = session.exec(
            select(TURNS)
            .where(TURNS.c.conversation_id == record.id)
            .order_by(TURNS.c.seq)
        ).mappings()
        through_core = [turn_from_row(r) for r in rows]
    assert [_fields(t) for t in through_core] == [_fields(t) for t in written]
    assert [_fields(t) for t in store.read(record.id)] == [_fields(t) for t in written]

    other = store.create(ConversationRecord(model=MODEL))
    placed = [
        attrs.evolve(t, seq=i, tokens=t.tokens or 5) for i, t in enumerate(_turns(), 1)
    ]
    with Session(store.engine) as session:
        session.exec(insert(TURNS), params=[turn_values(other.id, t) for t in placed])
        session.commit()
    assert [_fields(t) for t in store.read(other.id)] == [_fields(t) for t in placed]


def _shapes() -> list[Turn]:
    """Turns of every shape a conversation stores: `_turns`, a tool call and its
    result, thinking, an image, a summary."""
    return [
        *_turns(),
        Turn(
            "assistant",
            [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}},
            ],
            usage=Usage(5, 2),
        ),
        Turn(
            "user",
            [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "42"}],
                    "is_error": False,
                },
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": "iVBORw0KGgo=",
                    },
                },
            ],
        ),
        Turn("user", "what came before", kind="summary"),
    ]


def test_a_turns_json_text_is_kept_outside_its_fields() -> None:
    """`Turn.content_json` computes the text once and keeps it in a slot of its
    own: not a field (not compared, copied by evolve, shown or pickled), and no
    `__getattr__` on the class, which would slow every attribute read."""
    turn = Turn("user", "hi")
    assert "__getattr__" not in dir(Turn)
    text = turn.content_json()
    assert text == '[{"type":"text","text":"hi"}]'
    assert turn.content_json() is text
    assert "_json" not in attrs.asdict(turn, recurse=False)
    assert "_json" not in repr(turn)
    again = pickle.loads(pickle.dumps(turn))  # noqa: S301 - our own value
    assert again == turn
    with pytest.raises(AttributeError):
        object.__getattribute__(again, "_json")  # not carried: made again
    assert again.content_json() == text
    changed = attrs.evolve(turn, blocks=({"type": "text", "text": "ho"},))
    assert changed.content_json() == '[{"type":"text","text":"ho"}]'


def test_an_added_turn_has_its_json_text_from_the_start(tmp_path: Any) -> None:
    """An add builds its turn with the text made (`turns.with_json`), the same
    text `content_json` makes, and the row stores it."""
    made = with_json(Turn("user", [{"type": "text", "text": 'say "hi"'}]))
    assert object.__getattribute__(made, "_json") == blocks_to_json(made.blocks)
    with SQLiteStore(tmp_path / "json.db") as store:
        conv = Conversation.create(store, model="m")
        added = conv.add("user", 'say "hi"')
        assert object.__getattribute__(added, "_json") == made.content_json()
        (stored,) = store.read(conv.id)
        assert stored.content_json() == made.content_json()


def test_only_a_row_with_no_reply_values_binds_them_as_null_in_the_text() -> None:
    """`raw.unreplied`: a row whose reply columns are all None binds the rest,
    the flag as an int; any reply value keeps the whole row bound as it is."""
    user = raw.turn_row("c1", Turn("user", "hi", seq=1, tokens_exact=True), "sqlite")
    values = raw.unreplied(user)
    assert values is not None
    text = raw.sqlite_insert_sql(INSERT_COLUMNS, replied=False)["sqlite"]
    assert text.count("?") == len(values) == len(INSERT_COLUMNS) - 11
    assert text.count("NULL") == 11
    exact = INSERT_COLUMNS.index("tokens_exact")
    assert type(values[exact]) is int
    assert values[exact] == 1
    assert values[-1] == user[-1]  # created_at, after the reply's columns
    for reply in (
        Turn("assistant", "ok", seq=2, stop_reason="end_turn"),
        Turn("assistant", "ok", seq=2, message_id="msg_1"),
        Turn("assistant", "ok", seq=2, usage=Usage(1, 2)),
        Turn("assistant", "ok", seq=2, response_extra={"container": None}),
    ):
        assert raw.unreplied(raw.turn_row("c1", reply, "sqlite")) is None
    # The longer rows of an encrypted store (the key id last) keep it.
    keyed = raw.unreplied((*user, "k"))
    assert keyed is not None
    assert keyed[-2:] == (user[-1], "k")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_turn_without_reply_values_stores_the_same_row_either_way(
    tmp_path: Any, encrypted: bool
) -> None:
    """A user turn (reply columns NULL in the insert's text) and a reply (every
    column bound) store the values Core's insert stores: NULLs, and the flag as
    SQLite's integer; both read back as the turns the appends returned."""
    keys = Encryption({"k": bytes(range(32))}, current="k") if encrypted else None
    store = SQLiteStore(tmp_path / "rows.db", encryption=keys)
    try:
        record = store.create(ConversationRecord(model=MODEL))
        (user,) = store.append(record.id, [Turn("user", "hi")])
        (reply,) = store.append(
            record.id,
            [Turn("assistant", "yo", message_id="msg_1", stop_reason="end_turn")],
        )
        assert store.read(record.id) == (user, reply)
    finally:
        store.close()
    reply_columns = INSERT_COLUMNS[
        INSERT_COLUMNS.index("message_id") : INSERT_COLUMNS.index("response_extra") + 1
    ]
    typed = ", ".join(f"typeof({c})" for c in ("tokens_exact", *reply_columns))
    with contextlib.closing(sqlite3.connect(tmp_path / "rows.db")) as conn:
        rows = conn.execute(
            f"SELECT {typed} FROM conversa_turns ORDER BY seq"  # noqa: S608
        ).fetchall()
    assert rows[0] == ("integer", *["null"] * len(reply_columns))
    assert rows[1][:4] == ("integer", "text", "null", "text")  # id, model, stop


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_row_an_append_wrote_reads_back_as_the_turn_it_returned(
    sql_backend: str,
    fresh_target: str,
    encrypted: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first read of a row an append just wrote takes the turn the append
    returned (`raw.Seeds`), decoding nothing; and that turn is the one the row
    alone builds, for every shape of turn, so which of the two a read returns
    does not show."""
    keys = Encryption({"k": bytes(range(32))}, current="k") if encrypted else None
    raw.SEEDS.clear()  # what earlier tests left is not this test's to push out
    with open_store(sql_backend, fresh_target, encryption=keys) as store:
        record = store.create(ConversationRecord(model=MODEL))
        written = store.append(record.id, _shapes())
        assert store.read(record.id) == written
        # Turns of strings alone are kept (`raw.seedable`): the plain user turn and
        # the summary. A text block with other fields (citations), tool calls and
        # their results, images are built from their rows.
        kept = [r is w for r, w in zip(store.read(record.id), written, strict=True)]
        assert kept == [True, False, False, False, True]

        fresh = []
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT {', '.join(TURN_COLUMNS)} FROM conversa_turns "  # noqa: S608
                "ORDER BY seq"
            ).all()
        for row in rows:
            if encrypted:
                fresh.append(store._codec._open_row(record.id, tuple(row), keep=False))
            else:
                fresh.append(raw._build_turn(tuple(row)))
        assert [_fields(t) for t in fresh] == [_fields(t) for t in written]
        assert all(f is not w for f, w in zip(fresh, written, strict=True))

        # A turn whose values would not come back from their JSON as they are
        # (a tuple comes back a list) is not kept: it reads as its row decodes.
        (odd,) = store.append(
            record.id, [Turn("user", "tuple flags", flags={"t": (1, 2)})]
        )
        (read_odd,) = store.read(record.id, start=odd.seq)
        assert read_odd is not odd
        assert read_odd.flags == {"t": [1, 2]}

        # A row changed before its first read (bookkeeping) is read as it is now.
        (turn,) = store.append(record.id, [Turn("user", "counted later")])
        store.update_turns(record.id, [TurnUpdate(turn.seq, tokens=99, flags={"n": 1})])
        (read,) = store.read(record.id, start=turn.seq)
        assert (read.tokens, read.flags) == (99, {"n": 1})
        assert read.blocks == turn.blocks

        # Bookkeeping written with the next append (a send's reply counting its
        # user turn) goes to the kept turn too: read, neither turn is built.
        (user,) = store.append(record.id, [Turn("user", "counted by the reply")])
        count = {"user": 99, "assistant": 7}
        store.append(
            record.id,
            [Turn("assistant", "the reply", tokens=7, tokens_exact=True)],
            expected_last_seq=user.seq,
            updates=[TurnUpdate(user.seq, tokens=42, tokens_exact=True, flags=count)],
        )
        built: list[object] = []
        if encrypted:
            opened = store._codec._open_row
            monkeypatch.setattr(
                store._codec,
                "_open_row",
                lambda *a, **k: built.append(a) or opened(*a, **k),
            )
        else:
            monkeypatch.setattr(
                raw,
                "_build_turn",
                lambda row, b=raw._build_turn: built.append(row) or b(row),
            )
        counted, reply = store.read(record.id, start=user.seq)
        assert built == []
        assert (counted.tokens, counted.tokens_exact, counted.flags) == (
            42,
            True,
            count,
        )
        assert reply.text == "the reply"
        monkeypatch.undo()
        with store.engine.connect() as conn:
            row = conn.exec_driver_sql(
                f"SELECT {', '.join(TURN_COLUMNS)} FROM conversa_turns "  # noqa: S608
                f"WHERE seq = {user.seq}"
            ).one()
        fresh_user = (
            store._codec._open_row(record.id, tuple(row), keep=False)
            if encrypted
            else raw._build_turn(tuple(row))
        )
        assert _fields(fresh_user) == _fields(counted)


class _Level(enum.IntEnum):
    HIGH = 2


@pytest.mark.parametrize(
    "turn",
    [
        Turn("user", "read-only flags", flags=types.MappingProxyType({"a": 1})),
        Turn("user", "an enum in its flags", flags={"level": _Level.HIGH}),
        Turn("assistant", "usage without its raw object", usage=Usage(5, 2)),
    ],
    ids=["mapping-proxy", "int-enum", "usage-no-raw"],
)
def test_a_turn_equal_to_its_row_but_not_of_its_types_is_built_from_it(
    tmp_path: Any, turn: Turn
) -> None:
    """`raw.seedable` keeps only a turn whose every value is of the type its row
    decodes to: an equal value of another type (a read-only mapping, an enum,
    usage with no raw object) is read as the row decodes, not as appended."""
    with SQLiteStore(tmp_path / "types.db") as store:
        record = store.create(ConversationRecord(model=MODEL))
        (written,) = store.append(record.id, [turn])
        (read,) = store.read(record.id)
        assert read is not written
        assert read == written
        assert type(read.flags) is dict
        assert all(type(v) is int for v in read.flags.values())


def test_kept_turns_push_out_the_oldest_first() -> None:
    """Past `raw.SEEDED_TURNS`, the oldest kept turn goes, not all of them: a
    send's two newest turns are never pushed out by the turns before them."""
    seeds = raw.Seeds()
    rows = []
    for k in range(raw.SEEDED_TURNS + 5):
        turn = Turn("user", f"turn {k}", id=f"t{k}", seq=k + 1, tokens=3)
        row = raw.turn_row("c", turn, "sqlite")
        seeds.put(row, turn)
        rows.append((raw._READ_BACK(row), turn))
    assert seeds.take(rows[0][0]) is None  # the oldest went
    assert all(seeds.take(row) is turn for row, turn in rows[-raw.SEEDED_TURNS :])


def test_a_sealed_row_kept_for_one_conversation_opens_for_no_other(
    tmp_path: Any,
) -> None:
    """A kept turn of an encrypted store is bound to its conversation as its
    ciphertext is: its row read as another conversation's does not open."""
    keys = Encryption({"k": bytes(range(32))}, current="k")
    with SQLiteStore(tmp_path / "bound.db", encryption=keys) as store:
        record = store.create(ConversationRecord(model=MODEL))
        (turn,) = store.append(record.id, [Turn("user", "secret")])
        with store.engine.connect() as conn:
            row = tuple(
                conn.exec_driver_sql(
                    f"SELECT {', '.join(TURN_COLUMNS)} FROM conversa_turns"  # noqa: S608
                ).one()
            )
        with pytest.raises(EncryptionError):
            store._codec.open_turn("another", row)
        assert store._codec.open_turn(record.id, row) is turn


def test_records_cross_between_driver_sql_and_core(store: Any) -> None:
    """A record reads the same through the hot path as through Core."""
    record = store.create(
        ConversationRecord(
            model=MODEL, system="be brief", metadata={"k": [1], "n": None}
        )
    )
    store.append(record.id, _turns())
    with Session(store.engine) as session:
        row = (
            session.exec(select(CONVERSATIONS).where(CONVERSATIONS.c.id == record.id))
            .mappings()
            .one()
        )
    assert attrs.asdict(record_from_row(row)) == attrs.asdict(store.get(record.id))


def test_an_append_is_one_conditional_write_and_a_retry_writes_nothing(
    store: Any,
) -> None:
    """The short append: one transaction, the record moved only from the expected seq.

    A retried append (the same turn ids, as a caller retries after a lost reply)
    returns the stored turns and writes nothing twice: from an older expected seq
    the record does not move, and the careful way answers in the same
    transaction; from the current one the record moves, an id is found taken, and
    that transaction is rolled back before the careful one answers. An append whose
    expected seq has moved is refused in one transaction; one under another
    holder's live lease waits, then is refused.
    """
    conv = Conversation.create(store, model=MODEL)
    first, second = Turn("user", "q"), Turn("assistant", "a")
    begins = Begins(_engine(store, "sync"))
    try:
        stored = store.append(conv.id, [first, second], expected_last_seq=0)
        assert begins.take() == 1
        assert [t.seq for t in stored] == [1, 2]
        again = store.append(conv.id, [first, second], expected_last_seq=0)
        assert again == stored
        assert begins.take() == 1  # not at seq 0: nothing written, careful in the same
        retried = store.append(conv.id, [second], expected_last_seq=2)
        assert retried == (stored[1],)
        assert begins.take() == 2  # moved, its id taken: rolled back, then careful
        with pytest.raises(SeqConflictError):
            store.append(conv.id, [Turn("user", "late")], expected_last_seq=1)
        assert begins.take() == 1
        with store.lock(conv.id), pytest.raises(ConversationBusyError):
            store.append(
                conv.id, [Turn("user", "inside")], expected_last_seq=2, lease_wait=0.05
            )
        begins.take()
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
        assert store.get(conv.id).last_seq == 2
        with pytest.raises(ConversationNotFoundError):
            store.append("no-such", [Turn("user", "x")], expected_last_seq=0)
    finally:
        begins.close()


@pytest.mark.postgres
def test_an_add_waiting_on_the_row_sees_a_lease_taken_meanwhile(
    fresh_pg_url: str,
) -> None:
    """PostgreSQL: an add blocked on the conversation's row while a send takes the
    lease (an UPDATE of that row, committed after the add began) sees that lease
    once the row is free: READ COMMITTED re-checks its UPDATE's conditions on the
    row as the send left it, the lease among them. It writes nothing and waits,
    then gives up busy."""
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(store, model=MODEL)
        outcome: list[object] = []

        def add() -> None:
            try:
                store.append(
                    conv.id, [Turn("user", "q")], expected_last_seq=0, lease_wait=0.2
                )
            except ConversationBusyError as exc:
                outcome.append(exc)
            else:
                outcome.append("stored")

        with store.engine.connect() as send, store.engine.connect() as watch:
            watch.commit()
            name = send.exec_driver_sql("SHOW application_name").scalar()
            send.exec_driver_sql(  # a send's acquire, not committed yet
                "UPDATE conversa_conversations SET lease_holder = 'a send',"
                " lease_expires = EXTRACT(epoch FROM clock_timestamp()) + 60"
                " WHERE id = %(cid)s",
                {"cid": conv.id},
            )
            thread = threading.Thread(target=add)
            thread.start()
            for _ in range(1000):  # until the add waits on the row lock
                waiting = watch.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                    " 'Lock' AND application_name = %(name)s AND query LIKE"
                    " '%%conversa_conversations%%'",
                    {"name": name},
                ).scalar()
                watch.commit()
                if waiting:
                    break
                time.sleep(0.01)
            assert waiting == 1, "the add never waited on the row"
            send.commit()
            thread.join()
        assert len(outcome) == 1
        assert isinstance(outcome[0], ConversationBusyError)
        assert store.read(conv.id) == ()
        assert store.get(conv.id).last_seq == 0


@pytest.mark.postgres
async def test_the_async_runner_sends_the_short_append_as_a_pipeline(
    fresh_pg_url: str,
) -> None:
    """`AsyncRunner` (psycopg's async driver) runs the same short append: a guarded
    add in one pipeline, a retried one rolled back and answered the careful way."""
    store = PostgresStore(fresh_pg_url)
    engine = create_async_engine(psycopg_url(fresh_pg_url))
    store._arunner = AsyncRunner(engine)
    try:
        conv = await AsyncConversation.create(store, model=MODEL)
        first = Turn("user", "q")
        stored = await store.aappend(
            conv.id, [first], expected_last_seq=0, lease_wait=1.0
        )
        assert [t.seq for t in stored] == [1]
        again = await store.aappend(conv.id, [first], expected_last_seq=1)
        assert again == stored
        with pytest.raises(SeqConflictError):
            await store.aappend(conv.id, [Turn("assistant", "a")], expected_last_seq=0)
        reply = await store.aappend(
            conv.id, [Turn("assistant", "a")], expected_last_seq=1
        )
        assert [t.text for t in await store.aread(conv.id)] == ["q", "a"]
        assert reply[0].seq == 2
    finally:
        await store.aclose()
        await engine.dispose()


def test_a_large_append_takes_the_careful_way(store: Any) -> None:
    """An import of thousands of turns with an expected seq is stored whole: the
    short way (every column of every turn bound in one statement, 65,535
    parameters at most on PostgreSQL) is for adds and sends, up to `FAST_TURNS`."""
    conv = Conversation.create(store, model=MODEL)
    turns = [
        Turn("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(3001)
    ]
    stored = store.append(conv.id, turns, expected_last_seq=0)
    assert len(stored) == 3001 > FAST_TURNS
    assert store.get(conv.id).last_seq == 3001
    assert store.read(conv.id, start=3000)[-1].text == "turn 3000"


@pytest.mark.postgres
def test_a_driver_without_pipelines_runs_a_batch_one_statement_at_a_time(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pipeline mode (psycopg2, or a libpq older than 14) a batch's
    statements run one by one, to the same effect; an error names the batch."""
    assert _pipelines(psycopg.Connection) is psycopg.Pipeline.is_supported()
    assert _pipelines(sqlite3.Connection) is False
    monkeypatch.setitem(_PIPELINES, psycopg.Connection, False)
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(store, model=MODEL)
        first = Turn("user", "q")
        assert (
            store.append(conv.id, [first], expected_last_seq=0, lease_wait=1.0)[0]
            == store.append(conv.id, [first], expected_last_seq=1)[0]
        )
        with store.lock(conv.id), pytest.raises(ConversationBusyError):
            store.append(
                conv.id, [Turn("assistant", "a")], expected_last_seq=1, lease_wait=0.05
            )
        assert [t.text for t in store.read(conv.id)] == ["q"]
    one, two = Raw({"postgresql": "SELECT 1"}, {"a": 1}), Raw({"postgresql": "X"}, [{}])
    blamed = _blamed((one, two), two, "postgresql", pipelined=True)
    assert blamed.text["postgresql"] == "SELECT 1; X"
    assert blamed.params == [{"a": 1}, {}]
    assert _blamed((one, two), two, "postgresql", pipelined=False) is two


class Trips:
    """Reads a psycopg connection's protocol trace (libpq's own): the server's
    ReadyForQuery messages, one at the end of each round trip, with the
    transaction status each leaves (I: idle, T: in a transaction, E: failed)."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        self._file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self._trace()

    def _trace(self) -> None:
        self._driver.pgconn.trace(self._file.fileno())
        self._driver.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )

    def take(self) -> list[str]:
        """The round trips' end states since the last take."""
        self._driver.pgconn.untrace()  # flushes libpq's buffered trace
        self._file.seek(0)
        lines = self._file.read().splitlines()
        self._file.seek(0)
        self._file.truncate()
        self._trace()
        return [line.split()[-1] for line in lines if "\tReadyForQuery\t" in line]

    def close(self) -> None:
        self._driver.pgconn.untrace()
        self._file.close()


@contextlib.contextmanager
def traced(url: str) -> Iterator[tuple[PostgresStore, Conversation, Trips]]:
    """A store with a pool of one connection, traced, and a conversation sent once."""
    with PostgresStore(
        url, engine_options={"pool_size": 1, "max_overflow": 0}
    ) as store:
        conv = Conversation.create(
            store, client=Client(api_key="k", transport=FakeMessagesAPI()), model=MODEL
        )
        conv.send("first")
        pooled = store.engine.raw_connection()
        trips = Trips(pooled.driver_connection)
        pooled.close()  # back to the pool of one: every call below runs on it
        try:
            yield store, conv, trips
        finally:
            trips.close()


@pytest.mark.postgres
def test_an_add_on_postgresql_is_one_round_trip(fresh_pg_url: str) -> None:
    """PostgreSQL: an `add` is one round trip and one statement, a transaction of
    its own in autocommit mode (the conditional write, the lease checked on the
    row it moves; psycopg's own BEGIN would be a round trip of its own), a read
    holds no transaction, and a send is six round trips: the lease (one statement);
    the record, then the window; the user turn (one statement); the reply, whose
    move of the record ends the lease, with the bookkeeping's read, then the
    bookkeeping's write and the COMMIT.
    Round trips are counted by libpq's protocol trace (the server ends each with
    one ReadyForQuery, saying whether a transaction is open), statements by the
    engine's cursor listener."""
    with traced(fresh_pg_url) as (store, conv, trips):
        sent: list[str] = []

        def statement(*args: Any) -> None:
            sent.append(args[2].split()[0])

        def take() -> list[str]:
            taken = list(sent)
            sent.clear()
            return taken

        event.listen(store.engine, "before_cursor_execute", statement)
        try:
            conv.send("second")
            assert trips.take() == ["I", "I", "I", "I", "T", "I"]
            assert take() == [
                "WITH",  # the lease, on the record's row (and whether it is seen)
                *("SELECT", "SELECT"),  # the record, the window
                "WITH",  # the user turn
                # the reply (its move of the record ends the lease), its counts' read
                *("BEGIN", "SELECT", "WITH", "SELECT"),
                *("UPDATE", "COMMIT"),  # the bookkeeping
            ]
            conv.add("user", "one more")
            assert trips.take() == ["I"]
            assert take() == ["WITH"]  # one statement, its own transaction
            conv.add_turns([("assistant", "and"), ("user", "more")])
            assert trips.take() == ["I"]
            assert take() == ["WITH"]
            assert [t.text for t in conv.turns()[-3:]] == ["one more", "and", "more"]
            assert set(trips.take()) == {"I"}  # no transaction left open
            assert "BEGIN" not in take()  # a read runs its statements on their own
            # A stale view: the short write finds the record moved, writes nothing
            # and commits; the careful way reads, then writes in new transactions.
            other = Conversation.load(store, conv.id)
            other.add("assistant", "from elsewhere")
            trips.take()
            take()
            conv.add("user", "still checked")
            ends, statements = trips.take(), take()
            assert ends[0] == "I"  # the short write's round trip: wrote nothing
            assert statements[0] == "WITH"
            # The careful way's transaction found the seq moved and rolled back;
            # the add read the tail again and wrote in one more round trip.
            assert statements.count("BEGIN") == 1
            assert statements.count("COMMIT") == 0
            assert statements.count("ROLLBACK") == 1
            assert ends[-1] == "I"
            assert [t.text for t in conv.turns()[-2:]] == [
                "from elsewhere",
                "still checked",
            ]
            # A try for a held lease: one statement that says it is held.
            with store.lock(conv.id):
                trips.take()
                take()
                with (
                    pytest.raises(ConversationBusyError),
                    store.lock(conv.id, timeout=0),
                ):
                    pytest.fail("entered a held section")
                assert trips.take() == ["I"]
                assert take() == ["WITH"]
        finally:
            event.remove(store.engine, "before_cursor_execute", statement)


def count_connections(store: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQLAlchemy Connections the store's calls make from now on: "sqlalchemy"
    for a call taking SQLAlchemy's way (`Engine.connect`), "core" for the one a
    call on the driver makes around its connection for a Core statement."""
    made: list[str] = []
    connect = store.engine.connect

    def counted_connect() -> Any:
        made.append("sqlalchemy")
        return connect()

    def counted_wrap(*args: Any, **kwargs: Any) -> Any:
        made.append("core")
        return Connection(*args, **kwargs)

    monkeypatch.setattr(store.engine, "connect", counted_connect)
    monkeypatch.setattr(runners, "Connection", counted_wrap)
    return made


@pytest.mark.postgres
def test_postgresql_calls_run_on_the_driver_alone(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL, nobody listening to the engine: a call runs on the pooled
    psycopg connection with no SQLAlchemy Connection, in the same round trips as
    above; a Core statement makes one inside the call's transaction, and it
    commits. An engine_connect listener, or an execution option on the engine
    (SQLAlchemy applies both to its Connection), sends the calls SQLAlchemy's way."""
    with traced(fresh_pg_url) as (store, conv, trips):
        connections = count_connections(store, monkeypatch)
        conv.send("second")
        assert trips.take() == ["I", "I", "I", "I", "T", "I"]
        conv.add("user", "one more")
        assert trips.take() == ["I"]
        assert [t.text for t in conv.turns()[-1:]] == ["one more"]
        assert connections == []  # on the driver alone
        conv.update(model="claude-opus-4-1")  # a Core UPDATE in the call
        assert connections == ["core"]
        assert trips.take()[-1] == "I"  # committed: no transaction left open
        assert store.get(conv.id).model == "claude-opus-4-1"

        def connected(connection: object) -> None:
            pass

        connections.clear()
        event.listen(store.engine, "engine_connect", connected)
        try:
            conv.add("assistant", "heard")
        finally:
            event.remove(store.engine, "engine_connect", connected)
        assert connections  # the tail's read and the append: SQLAlchemy's way
        assert set(connections) == {"sqlalchemy"}
    options = {"execution_options": {"postgresql_readonly": False}}
    with PostgresStore(fresh_pg_url, engine_options=options) as store:
        connections = count_connections(store, monkeypatch)
        record = store.create(ConversationRecord(model=MODEL))  # Core statements
        assert store.get(record.id).model == MODEL
        assert connections == ["sqlalchemy", "sqlalchemy"]


@pytest.mark.postgres
def test_at_another_isolation_level_sqlalchemy_frames_the_transactions(
    fresh_pg_url: str,
) -> None:
    """PostgreSQL at REPEATABLE READ: a transaction's statements share one
    snapshot, so conversa leaves BEGIN and COMMIT to psycopg (reads included)
    and the same calls give the same results."""
    with PostgresStore(
        fresh_pg_url, engine_options={"isolation_level": "REPEATABLE READ"}
    ) as store:
        sent: list[str] = []

        def statement(*args: Any) -> None:
            sent.append(args[2].split()[0])

        event.listen(store.engine, "before_cursor_execute", statement)
        try:
            conv = Conversation.create(
                store,
                client=Client(api_key="k", transport=FakeMessagesAPI()),
                model=MODEL,
            )
            conv.send("first")
            conv.add("user", "one more")
            assert [t.text for t in conv.turns()][-1] == "one more"
            with store.engine.connect() as conn:
                level = conn.exec_driver_sql("SHOW transaction_isolation").scalar()
            assert level == "repeatable read"
        finally:
            event.remove(store.engine, "before_cursor_execute", statement)
        assert sent  # the hot statements ran, as driver SQL
        assert "BEGIN" not in sent
        assert "COMMIT" not in sent


def _wait_for_a_lock_wait(store: PostgresStore) -> None:
    """Return once some backend of the database waits on a lock."""
    with store.engine.connect() as watch:
        for _ in range(1000):
            waiting = watch.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            ).scalar()
            watch.commit()
            if waiting:
                return
            time.sleep(0.01)
    msg = "no backend ever waited on a lock"
    raise AssertionError(msg)


@pytest.mark.postgres
def test_appends_with_bookkeeping_lock_the_record_before_turn_rows(
    fresh_pg_url: str,
) -> None:
    """PostgreSQL: a short append that also updates bookkeeping (a send's reply)
    locks the record before its turn rows, as the careful way does. A stale one
    (its expected seq moved) meeting a careful append that holds the record and
    is about to lock the same turn row waits for it, then is refused: no
    deadlock, no failed writer."""
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(store, model=MODEL)
        store.append(
            conv.id, [Turn("user", "a"), Turn("assistant", "b")], expected_last_seq=0
        )
        holding, go = threading.Event(), threading.Event()

        def pause(*args: Any) -> None:  # the careful one, at its turn rows' read
            if threading.current_thread().name == "careful" and "unnest" in args[2]:
                holding.set()
                go.wait(10)

        out: dict[str, object] = {}

        def append(name: str, **options: Any) -> None:
            try:
                out[name] = store.append(conv.id, [Turn("user", name)], **options)
            except ConversaError as exc:
                out[name] = exc

        event.listen(store.engine, "before_cursor_execute", pause)
        try:
            careful = threading.Thread(
                target=append,
                name="careful",
                args=("careful",),
                kwargs={"updates": [TurnUpdate(seq=1, tokens=7)]},
            )
            careful.start()
            assert holding.wait(10)  # it holds the record's row lock
            stale = threading.Thread(
                target=append,
                name="stale",
                args=("stale",),
                kwargs={
                    "expected_last_seq": 1,
                    "updates": [TurnUpdate(seq=1, tokens=9)],
                },
            )
            stale.start()
            _wait_for_a_lock_wait(store)  # the stale one waits on the record
            go.set()
            careful.join()
            stale.join()
        finally:
            go.set()
            event.remove(store.engine, "before_cursor_execute", pause)
        assert isinstance(out["stale"], SeqConflictError)
        stored = out["careful"]
        assert isinstance(stored, tuple)
        assert [t.seq for t in stored] == [3]
        assert [t.tokens for t in store.read(conv.id)][:1] == [7]


def test_a_lease_is_on_the_record(store: Any) -> None:
    """The lease is two columns of the record's row, written by one UPDATE; a
    conversation that is missing, or another owner's, is reported missing and
    gets no lease; giving the lease back clears the two columns."""

    def lease(cid: str) -> tuple[Any, ...]:
        with store.engine.connect() as conn:
            query = select(CONVERSATIONS.c.lease_holder, CONVERSATIONS.c.lease_expires)
            return tuple(conn.execute(query.where(CONVERSATIONS.c.id == cid)).one())

    with pytest.raises(ConversationNotFoundError), store.lock("made-later"):
        pytest.fail("entered the section of a missing conversation")
    conv = Conversation.create(store, model=MODEL, id="made-later")
    with store.lock(conv.id):
        holder, expires = lease(conv.id)
        assert holder is not None
        assert expires is not None
        someone = store.for_owner("someone")
        with pytest.raises(ConversationNotFoundError), someone.lock(conv.id):
            pytest.fail("entered another owner's section")
        with pytest.raises(ConversationBusyError), store.lock(conv.id, timeout=0):
            pytest.fail("entered a held section")
    assert lease(conv.id) == (None, None)
    with store.lock(conv.id, timeout=0):
        pass


@pytest.mark.postgres
def test_an_autocommit_engine_stays_autocommit(fresh_pg_url: str) -> None:
    """PostgreSQL: an engine made with ``isolation_level="AUTOCOMMIT"`` gets its
    connections back in autocommit mode after conversa's calls (which frame their
    own transactions on it: an append is still atomic)."""
    engine = create_engine(
        psycopg_url(fresh_pg_url),
        isolation_level="AUTOCOMMIT",
        pool_size=1,
        max_overflow=0,
    )
    try:
        store = PostgresStore(engine)
        conv = Conversation.create(store, model=MODEL)
        store.append(
            conv.id, [Turn("user", "q"), Turn("assistant", "a")], expected_last_seq=0
        )
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
        with engine.connect() as conn:
            driver: Any = conn.connection.driver_connection
            assert driver.autocommit is True
            conn.exec_driver_sql("SELECT 1")
            assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        engine.dispose()


class SQLiteTrace:
    """The statements SQLite runs on an engine's connections, by sqlite3's own
    trace callback (set at each checkout): it sees the driver's statements
    whichever way a call runs, and adds no SQLAlchemy listener."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        event.listen(engine, "checkout", self._checkout)

    def _checkout(self, driver: sqlite3.Connection, *args: Any) -> None:
        driver.set_trace_callback(self._trace)

    def _trace(self, statement: str) -> None:
        self.statements.append(" ".join(statement.split()[:2]))

    def take(self) -> list[str]:
        taken, self.statements = self.statements, []
        return taken

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._checkout)


def test_sqlite_calls_run_on_the_driver_and_keep_their_transactions(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: with nobody listening to the engine's statements, a call runs on
    the pooled driver connection (no SQLAlchemy Connection) in the same
    transactions: an add after a send is BEGIN IMMEDIATE, its two statements and
    COMMIT; a send is four transactions; a call with Core statements (an update
    of the record) runs them inside the one it began. With a cursor listener set,
    the same calls take SQLAlchemy's way, to the same statements and results."""
    store = SQLiteStore(tmp_path / "lean.db")
    trace = SQLiteTrace(store.engine)
    connections = count_connections(store, monkeypatch)
    try:
        conv = Conversation.create(
            store, client=Client(api_key="k", transport=FakeMessagesAPI()), model=MODEL
        )
        conv.send("first")
        trace.take()
        connections.clear()
        conv.add("user", "one more")
        assert connections == []  # on the driver alone
        assert trace.take() == [
            "BEGIN IMMEDIATE",
            "UPDATE conversa_conversations",
            "INSERT INTO",
            "COMMIT",
        ]
        conv.add("assistant", "and a reply")
        trace.take()
        conv.send("again")
        sent = trace.take()
        assert [s for s in sent if s.startswith("BEGIN")] == [
            "BEGIN IMMEDIATE",  # the lease
            "BEGIN",  # the record and the window
            "BEGIN IMMEDIATE",  # the user turn
            "BEGIN IMMEDIATE",  # the reply, its counts, the lease's release
        ]
        assert sent.count("COMMIT") == 4
        conv.update(model="claude-opus-4-1")  # a Core UPDATE in the lean call
        updated = trace.take()
        assert "UPDATE conversa_conversations" in updated
        depth = 0  # every transaction ends before the next begins
        for each in updated:
            if each.startswith("BEGIN"):
                assert depth == 0
                depth = 1
            elif each in ("COMMIT", "ROLLBACK"):
                depth -= 1
        assert depth == 0
        assert store.get(conv.id).model == "claude-opus-4-1"

        conv.add("user", "read the tail again")  # the update's lock forgot it
        trace.take()
        connections.clear()
        seen: list[str] = []

        def statement(*args: Any) -> None:
            seen.append(args[2])

        event.listen(store.engine, "before_cursor_execute", statement)
        try:
            conv.add("assistant", "watched")
        finally:
            event.remove(store.engine, "before_cursor_execute", statement)
        assert connections == ["sqlalchemy"]  # SQLAlchemy's way, for the listener
        assert [s.split()[0] for s in seen] == ["UPDATE", "INSERT"]
        assert trace.take() == [
            "BEGIN IMMEDIATE",
            "UPDATE conversa_conversations",
            "INSERT INTO",
            "COMMIT",
        ]
        assert [t.text for t in conv.turns()][-1] == "watched"
    finally:
        trace.close()
        store.close()


def test_without_any_begin_listener_a_lean_append_is_still_one_transaction(
    tmp_path: Any,
) -> None:
    """SQLite: an application that removes conversa's `begin` listener from the
    engine leaves it with none; a call still runs the lean way, which sends BEGIN
    itself, so an append that fails on its second turn (a trigger aborts it)
    leaves neither the record's new last seq nor its first turn behind."""
    store = SQLiteStore(tmp_path / "bare.db")
    trace = SQLiteTrace(store.engine)
    try:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "kept")
        event.remove(store.engine, "begin", sqlite_begin)
        assert not store.engine.dispatch.begin  # none left
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER no_boom BEFORE INSERT ON conversa_turns"
                " WHEN NEW.content LIKE '%boom%'"
                " BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
            )
        trace.take()
        with pytest.raises(ConversaError):
            conv.add_turns([("assistant", "fine"), ("user", "boom")])
        statements = trace.take()
        assert statements[0].startswith("BEGIN")
        assert statements[-1] == "ROLLBACK"
        again = Conversation.load(store, conv.id)
        assert [t.text for t in again.turns()] == ["kept"]
        assert store.get(conv.id).last_seq == 1
        again.add("assistant", "after")  # the conversation goes on
        assert [t.text for t in again.turns()] == ["kept", "after"]
    finally:
        trace.close()
        store.close()


def test_a_sqlite_call_on_a_dead_connection_runs_again_on_a_fresh_one(
    tmp_path: Any,
) -> None:
    """A kept connection that died: the call replaces it and runs again, once; an
    append's turn is stored once. (Giving the dead connection back asked it
    whether it was in a transaction, and the closed connection's error hid the
    retry.)"""
    store = SQLiteStore(tmp_path / "dead.db")
    try:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "one")
        kept = runners._KEPT[store.engine.pool]
        assert len(kept) == 1
        kept[0].dbapi_connection.close()  # "Cannot operate on a closed database."
        conv.add("assistant", "two")
        assert [t.text for t in store.read(conv.id)] == ["one", "two"]
        assert store.get(conv.id).last_seq == 2
        assert store._runner.kept == 1  # the fresh one, kept
        kept[0].dbapi_connection.close()  # and a read meets one
        assert store.get(conv.id).last_seq == 2
    finally:
        store.close()


def test_a_call_meeting_only_dead_connections_gives_up(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try meets a dead connection: the call runs again once more than the
    pool holds idle connections (each may be dead after a restart), then raises
    the store's error; it does not loop."""
    store = SQLiteStore(tmp_path / "gone.db")
    try:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "q")
        tries: list[int] = []

        def dead(self: Any, flow: Any, *, write: bool, stage: list[bool]) -> Any:
            tries.append(1)
            statement = "SELECT"
            raise DBAPIError(
                statement, (), Exception("gone"), connection_invalidated=True
            )

        monkeypatch.setattr(runners.SyncRunner, "_once", dead)
        with pytest.raises(StoreError):
            store.get(conv.id)
        idle = store.engine.pool.checkedin()
        assert idle >= 1  # the kept connection, given back
        assert len(tries) == 2 + idle
    finally:
        store.close()


def test_a_plain_sqlite_append_is_its_two_statements_and_a_miss_asks_the_careful_way(
    tmp_path: Any,
) -> None:
    """SQLite, the lean way: a plain append runs as its two statements, with no
    flow (`quick_append`, `SyncRunner.write_if`). When the record does not move
    (its expected seq moved on; another holder's lease is live) or a turn does not
    go in (its id is stored: a retried append), that transaction rolls back and
    the careful one answers: the stored turns, `SeqConflictError` or
    `ConversationBusyError`. Nothing is written twice, and nothing half."""
    store = SQLiteStore(tmp_path / "quick.db")
    trace = SQLiteTrace(store.engine)
    try:
        conv = Conversation.create(store, model=MODEL)
        first = Turn("user", "q")
        trace.take()
        stored = store.append(conv.id, [first], expected_last_seq=0)
        assert trace.take() == [
            "BEGIN IMMEDIATE",
            "UPDATE conversa_conversations",
            "INSERT INTO",
            "COMMIT",
        ]
        assert store.append(conv.id, [first], expected_last_seq=1) == stored
        retried = trace.take()
        assert retried[:4] == [
            "BEGIN IMMEDIATE",
            "UPDATE conversa_conversations",
            "INSERT INTO",
            "ROLLBACK",
        ]
        assert retried[4] == "BEGIN IMMEDIATE"
        assert retried[-1] == "COMMIT"
        with pytest.raises(SeqConflictError):
            store.append(conv.id, [Turn("assistant", "late")], expected_last_seq=0)
        refused = trace.take()
        assert refused[:3] == [
            "BEGIN IMMEDIATE",
            "UPDATE conversa_conversations",
            "ROLLBACK",
        ]
        assert "INSERT INTO" not in refused
        with store.lock(conv.id), pytest.raises(ConversationBusyError):
            store.append(
                conv.id,
                [Turn("assistant", "inside")],
                expected_last_seq=1,
                lease_wait=0.05,
            )
        two = store.append(
            conv.id, [Turn("assistant", "a"), Turn("user", "q2")], expected_last_seq=1
        )
        assert [t.seq for t in two] == [2, 3]
        assert [t.text for t in store.read(conv.id)] == ["q", "a", "q2"]
        assert store.get(conv.id).last_seq == 3
        with pytest.raises(ConversationNotFoundError):
            store.append("no-such", [Turn("user", "x")], expected_last_seq=0)
    finally:
        trace.close()
        store.close()


def test_a_plain_sqlite_append_takes_its_time_under_the_write_lock(
    tmp_path: Any,
) -> None:
    """The two statements are built once BEGIN IMMEDIATE holds the write lock: an
    append that waited for another writer stores the record's `updated_at` from
    after that writer committed, not from before it waited (retention purges by
    it)."""
    path = tmp_path / "lock.db"
    store = SQLiteStore(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "q")
        other.execute("BEGIN IMMEDIATE")
        committed: list[Any] = []

        def commit_later() -> None:
            time.sleep(0.3)  # the append below is waiting for the lock by then
            committed.append(utcnow())
            other.execute("COMMIT")

        writer = threading.Thread(target=commit_later)
        writer.start()
        store.append(conv.id, [Turn("assistant", "a")], expected_last_seq=1)
        writer.join()
        assert store.get(conv.id).updated_at >= committed[0]
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
    finally:
        other.close()
        store.close()


def test_a_plain_sqlite_append_through_an_owner_handle_sees_only_its_own(
    tmp_path: Any,
) -> None:
    """The two statements move only the handle's owner's record: another owner's
    handle writes nothing and is told the conversation is not there."""
    store = SQLiteStore(tmp_path / "owners.db")
    try:
        mine, theirs = store.for_owner("a"), store.for_owner("b")
        conv = Conversation.create(mine, model=MODEL)
        conv.add("user", "q")
        with pytest.raises(ConversationNotFoundError):
            theirs.append(conv.id, [Turn("assistant", "x")], expected_last_seq=1)
        assert [t.text for t in store.read(conv.id)] == ["q"]
        mine.append(conv.id, [Turn("assistant", "a")], expected_last_seq=1)
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
    finally:
        store.close()


def test_a_plain_sqlite_append_whose_commit_died_after_committing_is_not_doubled(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies as the COMMIT returns, having committed: the append runs
    again on a fresh connection, its guard finds the record moved, and the careful
    way returns the stored turn. One turn, seq 2."""
    store = SQLiteStore(tmp_path / "commit.db")
    try:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "q")
        commit = runners._Lean._commit
        died: list[bool] = []

        def commit_then_die(self: Any) -> None:
            commit(self)
            if not died:
                died.append(True)
                self._fairy.invalidate()
                statement = "COMMIT"
                raise DBAPIError(
                    statement, (), Exception("gone"), connection_invalidated=True
                )

        monkeypatch.setattr(runners._Lean, "_commit", commit_then_die)
        turn = Turn("assistant", "a")
        stored = store.append(conv.id, [turn], expected_last_seq=1, lease_wait=1.0)
        assert died == [True]
        assert [(t.seq, t.id) for t in stored] == [(2, turn.id)]
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
        assert store.get(conv.id).last_seq == 2
    finally:
        store.close()


def autocommit(store: PostgresStore) -> bool:
    """The autocommit setting of the connection a store's pool of one holds."""
    pooled = store.engine.raw_connection()
    try:
        return bool(pooled.driver_connection.autocommit)
    finally:
        pooled.close()


@pytest.mark.postgres
def test_a_plain_postgresql_append_is_one_statement_and_a_miss_asks_the_careful_way(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL on the driver: a plain append is its one statement, a transaction
    of its own, with no flow (`quick_append_one`, `SyncRunner.write_one`). When it
    writes nothing (the expected seq moved on; another holder's lease is live; the
    conversation is another owner's or not there) or fails whole (a turn id is
    stored), the careful way answers in a transaction of its own: the stored turns,
    `SeqConflictError`, `ConversationBusyError`, `ConversationNotFoundError`, as on
    SQLite. Nothing is written twice, and nothing half."""
    with traced(fresh_pg_url) as (store, conv, trips):
        flows = count_flows(monkeypatch)
        record = store.create(ConversationRecord(model=MODEL))
        first = Turn("user", "q")
        trips.take()
        stored = store.append(record.id, [first], expected_last_seq=0)
        assert trips.take() == ["I"]  # one round trip, no transaction left open
        assert flows == []
        assert not autocommit(store)  # set back as it was
        # A retry: the record moved on, the statement wrote nothing.
        assert store.append(record.id, [first], expected_last_seq=0) == stored
        assert flows == [False]
        two = store.append(
            record.id, [Turn("assistant", "a"), Turn("user", "q2")], expected_last_seq=1
        )
        assert [t.seq for t in two] == [2, 3]
        assert flows == [False]
        # The record is at the expected seq, a turn id is stored: the statement
        # fails whole (the unique key), and the careful way finds the turn.
        assert store.append(record.id, [first], expected_last_seq=3) == stored
        assert flows == [False, False]
        assert not autocommit(store)  # after the failed statement too
        assert trips.take()[-1] == "I"  # the careful way's transaction ended
        with pytest.raises(SeqConflictError):
            store.append(record.id, [Turn("assistant", "late")], expected_last_seq=1)
        with store.lock(record.id), pytest.raises(ConversationBusyError):
            store.append(
                record.id,
                [Turn("assistant", "inside")],
                expected_last_seq=3,
                lease_wait=0.05,
            )
        with pytest.raises(ConversationNotFoundError):
            store.for_owner("b").append(
                record.id, [Turn("assistant", "x")], expected_last_seq=3
            )
        with pytest.raises(ConversationNotFoundError):
            store.append("no-such", [Turn("user", "x")], expected_last_seq=0)
        assert [t.text for t in store.read(record.id)] == ["q", "a", "q2"]
        assert store.get(record.id).last_seq == 3
        assert trips.take()[-1] == "I"  # every transaction ended
        flows.clear()
        conv.add("user", "plain")  # a conversation's add takes it too
        assert flows == []
        assert trips.take() == ["I"]


@pytest.mark.postgres
def test_a_postgresql_quick_append_sends_only_the_columns_its_turns_set(
    fresh_pg_url: str,
) -> None:
    """The one statement names only the columns some turn sets (the rest are
    NULL): a user turn alone, then a user turn and a reply with every field of a
    reply in one append. Each reads back as it was given."""
    with PostgresStore(fresh_pg_url) as store:
        record = store.create(ConversationRecord(model=MODEL))
        user = Turn("user", "q")
        reply = Turn(
            "assistant",
            "a",
            message_id="msg_1",
            model=MODEL,
            stop_reason="stop_sequence",
            stop_sequence="END",
            usage=Usage(input_tokens=3, output_tokens=2, cache_read_input_tokens=5),
            request_id="req_1",
            response_extra={"container": None},
        )
        store.append(record.id, [user], expected_last_seq=0)
        store.append(record.id, [Turn("user", "q2"), reply], expected_last_seq=1)
        read = store.read(record.id)
        assert [t.text for t in read] == ["q", "q2", "a"]
        assert (read[0].message_id, read[0].usage) == (None, None)
        assert (read[1].response_extra, read[1].model) == ({}, None)
        got = read[2]
        assert (got.message_id, got.model, got.stop_reason, got.stop_sequence) == (
            "msg_1",
            MODEL,
            "stop_sequence",
            "END",
        )
        assert got.usage == reply.usage
        assert got.request_id == "req_1"
        assert got.response_extra == {"container": None}


async def test_an_async_plain_append_runs_without_the_flow(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async twin's plain append (an `AsyncConversation.add`) takes the same
    quick way as the sync one, in a worker thread: no flow; a miss is answered by
    the careful flow (the stored turns for a retry, `SeqConflictError`,
    `ConversationBusyError`), with nothing written twice. The write runs in a
    worker thread, never on the event loop's."""
    flows = count_flows(monkeypatch)
    writers: list[int] = []
    for name in ("write_if", "write_one"):
        original = getattr(runners.SyncRunner, name)

        def spy(self: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            writers.append(threading.get_ident())
            return _original(self, *args, **kw)

        monkeypatch.setattr(runners.SyncRunner, name, spy)
    conv = await AsyncConversation.create(store, model=MODEL)
    await conv.add("user", "q")
    first = Turn("assistant", "a")
    stored = await store.aappend(conv.id, [first], expected_last_seq=1)
    assert flows == []
    assert len(writers) == 2  # the add's and the append's, each its quick way
    assert threading.get_ident() not in writers
    assert await store.aappend(conv.id, [first], expected_last_seq=1) == stored
    assert flows == [False]
    with pytest.raises(SeqConflictError):
        await store.aappend(conv.id, [Turn("user", "late")], expected_last_seq=1)
    async with store.alock(conv.id):
        with pytest.raises(ConversationBusyError):
            await store.aappend(
                conv.id, [Turn("user", "inside")], expected_last_seq=2, lease_wait=0.05
            )
    flows.clear()
    stale = await AsyncConversation.load(store, conv.id)
    await stale.add("user", "more")
    assert flows == []  # read the tail, then the quick way
    assert [t.text for t in await store.aread(conv.id)] == ["q", "a", "more"]
    assert (await store.aget(conv.id)).last_seq == 3


@pytest.mark.postgres
def test_a_postgresql_add_on_dead_connections_runs_again_on_a_fresh_one(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended every process of the store's connections (a restart, a
    failover): the kept one and those idle in the pool. The append's statement
    fails on the kept one, then on each dead one the pool hands out, each dropped
    as it is found, and runs on a fresh connection in the end: one turn stored,
    with no flow. A flow's call (a read) does the same."""
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "one")
        kept = runners._KEPT[store.engine.pool]
        assert len(kept) == 1
        idle = [store.engine.raw_connection() for _ in range(3)]
        pids = [c.driver_connection.info.backend_pid for c in idle]
        for pooled in idle:
            pooled.close()  # idle in the pool, beside the kept one
        pids.append(kept[0].driver_connection.info.backend_pid)
        with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        flows = count_flows(monkeypatch)
        conv.add("assistant", "two")
        assert flows == []  # the one statement, run again
        assert [t.text for t in store.read(conv.id)] == ["one", "two"]
        assert store.get(conv.id).last_seq == 2
        assert store._runner.kept == 1  # the fresh one, kept
        idle = [store.engine.raw_connection() for _ in range(3)]
        pids = [c.driver_connection.info.backend_pid for c in idle]
        for pooled in idle:
            pooled.close()
        kept = runners._KEPT[store.engine.pool]
        pids.append(kept[0].driver_connection.info.backend_pid)
        with psycopg.connect(fresh_pg_url, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert [t.text for t in store.read(conv.id)] == ["one", "two"]


@pytest.mark.postgres
def test_a_postgresql_append_whose_connection_died_after_committing_is_not_doubled(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies as the statement's answer comes back, having committed
    (simulated: the first run commits, then reports a dead connection): the
    statement runs again, finds the record moved and writes nothing, and the
    careful way returns the stored turn. One turn, seq 2."""
    with PostgresStore(fresh_pg_url) as store:
        conv = Conversation.create(store, model=MODEL)
        conv.add("user", "q")
        once = runners.SyncRunner._one_on_driver
        runs: list[object] = []

        def run_then_die(self: Any, build: Any) -> Any:
            done = once(self, build)
            runs.append(done)
            if len(runs) == 1:
                statement = "WITH"
                raise DBAPIError(
                    statement, (), Exception("gone"), connection_invalidated=True
                )
            return done

        monkeypatch.setattr(runners.SyncRunner, "_one_on_driver", run_then_die)
        flows = count_flows(monkeypatch)
        turn = Turn("assistant", "a")
        stored = store.append(conv.id, [turn], expected_last_seq=1, lease_wait=1.0)
        assert len(runs) == 2
        assert runs[1] is False  # the second run wrote nothing
        assert flows == [False]  # the careful way found the turn
        assert [(t.seq, t.id) for t in stored] == [(2, turn.id)]
        assert [t.text for t in store.read(conv.id)] == ["q", "a"]
        assert store.get(conv.id).last_seq == 2


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_long_read_keeps_the_windows_turns(tmp_path: Any, encrypted: bool) -> None:
    """A read of the newest turns gives back the same turn values each time (they
    are kept, so what was measured of them is too); reading a whole history, more
    turns than `KEPT_RANGE`, builds its turns without keeping them, so it does not
    push the windows of every other conversation out. Encrypted, the same holds
    for the opened plaintexts: a long read opens its rows without keeping them."""
    keys = Encryption({"k": bytes(range(32))}, current="k") if encrypted else None
    with SQLiteStore(tmp_path / "kept.db", encryption=keys) as store:
        record = store.create(ConversationRecord("kept", model=MODEL))
        store.append(
            record.id,
            [
                Turn("user" if k % 2 == 0 else "assistant", [f"turn {k}"])
                for k in range(200)
            ],
        )
        window = store.read_newest(record.id, budget=100)
        assert window
        assert store.read_newest(record.id, budget=100)[0] is window[0]
        kept = raw._cached_turn.cache_info().currsize
        opened = store._codec._opened.cache_info().currsize if encrypted else 0
        whole = store.read(record.id)
        assert len(whole) == 200 > KEPT_RANGE
        assert whole[-1] is not window[-1]  # built anew
        assert whole[-1] == window[-1]  # the same turn
        assert raw._cached_turn.cache_info().currsize == kept  # and not kept
        if encrypted:
            assert store._codec._opened.cache_info().currsize == opened
        assert store.read(record.id, start=190)[-1] is window[-1]  # a short read: kept


@pytest.mark.postgres
@pytest.mark.parametrize("before", range(8))
def test_a_failed_pipeline_leaves_no_stale_prepared_statement(
    fresh_pg_url: str, before: int
) -> None:
    """PostgreSQL: a statement that psycopg prepares in a pipeline the server
    aborted was never prepared. Whichever run of a statement a failed pipeline
    falls on (*before* writes precede it, after one rollback has been seen), the
    connection's next calls succeed: no "prepared statement does not exist"."""
    with PostgresStore(
        fresh_pg_url, engine_options={"pool_size": 1, "max_overflow": 0}
    ) as store:
        runner = store._runner  # the runner's transactions, directly
        ok = Raw({"postgresql": "SELECT 1"})
        fails = Raw({"postgresql": "SELECT 1 / 0"})

        def batch(*steps: Raw) -> Any:
            return (yield raw.Batch(steps, commit=True))

        def failing() -> None:
            with pytest.raises(ConversaError):
                runner.run(lambda: batch(ok, fails), write=True, retry=False)

        # Two statements a batch: BEGIN and COMMIT go with them (one statement
        # alone would be sent in autocommit mode, with neither).
        failing()  # the connection's first ROLLBACK
        for _ in range(before):
            runner.run(lambda: batch(ok, ok), write=True)
        failing()
        for _ in range(8):
            assert runner.run(lambda: batch(ok, ok), write=True)[0].first() == (1,)


def test_an_append_naming_no_seq_is_conditional_on_the_last_one_this_store_saw(
    store: Any, sql_backend: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`store.append` without an expected seq: the first to a conversation runs
    the careful way; the next ones take the quick way, conditional on the last seq
    this store left it at (no flow). When another writer moved the conversation on,
    the guess writes nothing and the careful way appends after the seq it finds;
    a retried append gets its turns as stored; nothing is written twice."""
    flows = count_flows(monkeypatch)
    conv = Conversation.create(store, model=MODEL)
    assert [t.seq for t in store.append(conv.id, [Turn("user", "a")])] == [1]
    assert flows == [True]  # nothing seen yet: the flow
    flows.clear()
    assert [t.seq for t in store.append(conv.id, [Turn("assistant", "b")])] == [2]
    assert flows == []
    with open_store(sql_backend, target) as other:  # another writer, another pool
        other.append(conv.id, [Turn("user", "c")])
    flows.clear()
    late = Turn("assistant", "d")
    stored = store.append(conv.id, [late])
    assert [t.seq for t in stored] == [4]
    assert flows == [False]  # the guess (2) missed: the careful way, once
    flows.clear()
    assert store.append(conv.id, [late]) == stored  # a retry: as stored
    assert flows == [False]  # the guess (4) was right, the turn id taken
    flows.clear()
    pair = store.append(conv.id, [Turn("user", "e"), Turn("assistant", "f")])
    assert [t.seq for t in pair] == [5, 6]
    assert flows == []
    assert [t.text for t in store.read(conv.id)] == ["a", "b", "c", "d", "e", "f"]
    assert store.get(conv.id).last_seq == 6


async def test_an_async_append_naming_no_seq_guesses_as_the_sync_one(
    store: Any, sql_backend: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async twin of the test above: the same guess, the same misses."""
    flows = count_flows(monkeypatch)
    conv = await AsyncConversation.create(store, model=MODEL)
    await store.aappend(conv.id, [Turn("user", "a")])
    flows.clear()
    await store.aappend(conv.id, [Turn("assistant", "b")])
    assert flows == []
    with open_store(sql_backend, target) as other:
        other.append(conv.id, [Turn("user", "c")])
    flows.clear()
    stored = await store.aappend(conv.id, [Turn("assistant", "d")])
    assert [t.seq for t in stored] == [4]
    assert flows == [False]
    assert [t.text for t in await store.aread(conv.id)] == ["a", "b", "c", "d"]


def test_the_guessed_seqs_are_bounded_and_a_stale_one_only_misses(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store remembers the last seq of its `GUESSED` most recently written
    conversations, no more. A guess gone stale (the conversation deleted and made
    again under its id, or erased) writes nothing: the careful way answers."""
    monkeypatch.setattr(store_module, "GUESSED", 3)
    convs = [Conversation.create(store, model=MODEL) for _ in range(5)]
    for conv in convs:
        store.append(conv.id, [Turn("user", "q")])
    assert list(store._last_seqs) == [c.id for c in convs[2:]]
    store.append(convs[2].id, [Turn("assistant", "a")])  # the newest again
    assert list(store._last_seqs) == [c.id for c in (*convs[3:], convs[2])]
    flows = count_flows(monkeypatch)
    store.delete(convs[2].id)
    again = Conversation.create(store, model=MODEL, id=convs[2].id)
    assert [t.seq for t in store.append(again.id, [Turn("user", "new")])] == [1]
    assert flows == [False]  # the guess (2) missed
    store.erase(convs[3].id)
    with pytest.raises(ConversationNotFoundError):
        store.append(convs[3].id, [Turn("assistant", "gone")])


def test_a_guessed_append_is_refused_as_the_careful_way_refuses(
    store: Any, sql_backend: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a guess at hand, an append is refused for the reasons, and in the
    order, the careful way has: another owner's conversation is not found (owner
    handles share the guesses), a live lease keeps an append with `lease_wait`
    out, ids repeated in one call are checked after the conversation is; a batch
    whose first turn is stored gets it as stored and the new one after it. Nothing
    is written by a refused append."""
    mine, theirs = store.for_owner("a"), store.for_owner("b")
    conv = Conversation.create(mine, model=MODEL)
    mine.append(conv.id, [Turn("user", "q")])  # the guess: 1
    with pytest.raises(ConversationNotFoundError):
        theirs.append(conv.id, [Turn("assistant", "not yours")])
    with (
        open_store(sql_backend, target) as other,
        other.lock(conv.id),
        pytest.raises(ConversationBusyError),
    ):
        mine.append(conv.id, [Turn("assistant", "held")], lease_wait=0.05)
    first = mine.append(conv.id, [Turn("assistant", "a")])
    flows = count_flows(monkeypatch)
    both = mine.append(conv.id, [first[0], Turn("user", "b")])
    assert [(t.seq, t.text) for t in both] == [(2, "a"), (3, "b")]
    assert flows == [False]  # the guess was right, the first id taken
    twice = [Turn("assistant", "x", id="same"), Turn("assistant", "y", id="same")]
    mine.erase(conv.id)
    with pytest.raises(ConversationNotFoundError):
        mine.append(conv.id, twice)
    mine.append(
        (again := Conversation.create(mine, model=MODEL)).id, [Turn("user", "q")]
    )
    with pytest.raises(TurnIdConflictError):
        mine.append(again.id, twice)
    assert [t.text for t in mine.read(again.id)] == ["q"]
    assert mine.get(again.id).last_seq == 1


def test_a_conversation_made_again_at_the_guessed_seq_is_appended_to_rightly(
    store: Any, sql_backend: str, target: str
) -> None:
    """The guess is a seq, not a conversation: deleted and made again under its
    id, a conversation that happens to stand at the guessed seq takes the append
    right after it, as the careful way would have."""
    conv = Conversation.create(store, model=MODEL)
    store.append(conv.id, [Turn("user", "old")])  # the guess: 1
    store.delete(conv.id)
    with open_store(sql_backend, target) as other:
        Conversation.create(other, model=MODEL, id=conv.id)
        other.append(conv.id, [Turn("user", "new")])
    stored = store.append(conv.id, [Turn("assistant", "reply")])
    assert [t.seq for t in stored] == [2]
    assert [t.text for t in store.read(conv.id)] == ["new", "reply"]


def test_threads_appending_with_no_seq_leave_a_gapless_history(store: Any) -> None:
    """Threads appending to one conversation with no expected seq, on one store:
    their guesses race and miss, and every turn lands once, with gapless seqs."""
    conv = Conversation.create(store, model=MODEL)
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            for i in range(15):
                store.append(conv.id, [Turn("user", f"{tag}{i}")])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tag,)) for tag in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = store.read(conv.id)
    assert [t.seq for t in stored] == list(range(1, 61))
    assert sorted(t.text for t in stored) == sorted(
        f"{tag}{i}" for tag in "abcd" for i in range(15)
    )


def test_a_send_leaves_its_guess_for_the_next_append(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A send's reply (appended in its section) leaves the guess too: a
    `store.append` with no seq after it takes the quick way."""
    conv = Conversation.create(
        store, client=Client(api_key="k", transport=FakeMessagesAPI()), model=MODEL
    )
    conv.send("hi")
    flows = count_flows(monkeypatch)
    stored = store.append(conv.id, [Turn("user", "after")])
    assert [t.seq for t in stored] == [3]
    assert flows == []


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001 - in UTC, in range still
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5))]),
    ),
    st.lists(st.integers(0, 2_000_000), max_size=3),
)
def test_a_time_is_written_as_sqlalchemys_sqlite_datetime_text(
    value: datetime, steps: list[int]
) -> None:
    """The text up to the second is kept from the last call (`raw.sqlite_time`):
    times in the same second, the next ones, and any zone all read back right."""
    for step in (0, *steps):
        value = value + timedelta(microseconds=step)
        text = raw.sqlite_time(value)
        utc = value.astimezone(timezone.utc)
        assert text == utc.isoformat(" ", "microseconds")[:-6]
        assert text == _SQLITE_DATETIME(utc.replace(tzinfo=None))
        assert datetime.fromisoformat(text).replace(tzinfo=timezone.utc) == utc


#: SQLAlchemy's own writer of SQLite DATETIME text.
_SQLITE_DATETIME = sqlite_types.DATETIME().bind_processor(sqlite_dialect.dialect())
