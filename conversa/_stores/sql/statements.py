"""The SQL stores' logic, written once as flows that sync and async shells drive.

A flow is a generator that yields statements, each alone or as a (statement,
parameters) pair, or driver SQL (`raw.Raw`), and receives each result; the shell
runs every flow in one transaction on one pooled connection, and retries it once
on a fresh connection if the first one died (see `runners.py`). The pure rules
(what an append stores, paging, forks) come from `_stores/rules.py`, shared with
MemoryStore; rows map to values in `schema.py` (Core) and `raw.py` (driver SQL).

The statements on the hot path (read a record, read a window, append, the lease)
are driver SQL written once at import, run on the driver's cursor with no
compilation or result processing; the rest are Core statements. Every value,
metadata keys included, is a bound parameter, never SQL text.

Gapless seqs under concurrency: an append first locks the conversation's row
(`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the transaction began with
`BEGIN IMMEDIATE`, which holds the database's write lock), then reads which of its
turn ids are stored, numbers the new turns from `last_seq + 1`, inserts them and
moves `last_seq`, all before commit. Appends to one conversation therefore commit
in seq order, so a reader never sees seq n+1 before seq n; the (conversation_id,
seq) primary key backs this up.

That is the careful way. An append that knows the last seq it expects (every
`add` and send does) first tries the short way (`_fast_append`): one conditional
UPDATE of the record (the expected last seq, not erased, the owner, no live lease)
and the insert of the new turns, in one statement on PostgreSQL (a CTE; an `add`
sends it alone, a transaction of its own: one round trip) and two on SQLite.
An add's, and a send's user turn, are sent without a flow when the store's
calls run on the driver (`quick_append`, `quick_append_one`). If the record did not move, nothing was
written, and the careful way runs next (in the same transaction, or in a new one
when the first one ended with its statement on PostgreSQL or ran without a flow)
and tells why (a moved seq, a lease, a missing conversation); if a turn id was
stored already (a retried append), it rolls back and the careful way runs in a
new one (`FastMiss`).

The lease is two columns of the record's row (`lease.py`), so the UPDATE that
moves the record checks it: an append that holds no lease (`lease_wait`) writes
nothing while another holder's lease is live, and tells the store to wait and try
again. Taking the lease updates the same row, so on PostgreSQL the two serialize:
an append either commits before a send takes its lease (and the send reads it), or
waits for the row and, as READ COMMITTED re-checks an UPDATE's conditions on the
row a writer left, sees the lease.

`read_newest` scans (seq, tokens) newest first in small batches (64 rows, then 4x
larger) and stops at the first turn that overflows the budget, then reads the full
rows of the window: O(window), not O(history).
"""

# The driver SQL below is put together from this module's constants (table and
# column names, placeholders), never from data: every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import frozen
from sqlalchemy import (
    Float,
    and_,
    cast,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from ..._drive import Flow
from ..._exceptions import ConversationNotFoundError, StoreError
from ..._values.turns import ConversationRecord, Turn, UsageTotals, utcnow
from ..protocol import Page, ReadBudget, TurnUpdate, WindowRead
from ..rules import (
    AppendPlan,
    apply_changes,
    bookkeeping_after,
    check_limit,
    check_metadata_filter,
    check_updates,
    decode_cursor,
    encode_cursor,
    fork_record,
    head_stop,
    plan_append,
    record_for_create,
    resolve_budget,
    window_floor,
)
from .raw import (
    INSERT_COLUMNS,
    KEPT_RANGE,
    RECORD_COLUMNS,
    SEEDS,
    TURN_COLUMNS,
    Batch,
    Raw,
    Seeds,
    db_time,
    record_columns,
    sql,
    sqlite_insert_sql,
    turn_from_tuple,
    turn_params,
    turn_row,
    unreplied,
)
from .schema import (
    CONVERSATIONS,
    TURNS,
    record_from_row,
    record_values,
)

if TYPE_CHECKING:
    from .crypto import Codec

__all__ = [
    "BUSY",
    "RELEASE_SQL",
    "RENEW_SQL",
    "Busy",
    "FastMiss",
    "OneAppend",
    "QuickAppend",
    "acquire_sql",
    "append_flow",
    "create_flow",
    "db_now",
    "dialect_insert",
    "fork_flow",
    "get_flow",
    "get_turns_flow",
    "list_flow",
    "quick_append",
    "quick_append_one",
    "read_flow",
    "read_newest_flow",
    "read_window_flow",
    "record_row",
    "seen_sql",
    "update_record_flow",
    "update_turns_flow",
    "usage_flow",
]

T = TypeVar("T")
#: A flow yields statements (or (statement, params) pairs), receives their
#: results, and returns a T.

_FIRST_BATCH = 64
_MAX_BATCH = 4096
#: Above any seq (PostgreSQL INTEGER's maximum): "no upper bound" as a parameter.
_NO_END = 2**31 - 1

_C, _T = CONVERSATIONS.c, TURNS.c


def db_now(dialect: str) -> ColumnElement[float]:
    """The database clock as epoch seconds (leases use it, so hosts agree)."""
    if dialect == "postgresql":
        return cast(extract("epoch", func.clock_timestamp()), Float)
    return (func.julianday("now") - 2440587.5) * 86400.0


class Busy:
    """What a lease-waiting append returns instead of turns while a lease is live."""

    def __repr__(self) -> str:
        return "BUSY"


#: Returned by `append_flow` when it wrote nothing because another holder's lease
#: is live.
BUSY = Busy()


#: The most turns an append writes the short way: it is for adds and sends (one or
#: two turns). Larger appends (imports) take the careful way's executemany: the
#: short way's statement binds every column of every turn (PostgreSQL allows 65,535
#: parameters, 22 a turn) and plans slower than an executemany from ~100 turns on.
FAST_TURNS = 32


class FastMiss(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an append's short way when it moved the record but a turn id was
    stored already (a retried append): the transaction rolls back, so nothing it
    wrote stays, and the store runs the append again the careful way
    (`append_flow(fast=False)`), which returns the stored turns or refuses.
    """


def dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT construct, which knows ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _metadata_conditions(dialect: str, filters: Mapping[str, Any]) -> list[Any]:
    """Conditions for metadata equality filters, with every key and value bound."""
    if not filters:
        return []
    if dialect == "postgresql":
        # Containment of {key: scalar} is JSON equality of that key (true != 1).
        return [type_coerce(_C.metadata, JSONB).contains(dict(filters))]
    conditions = []
    for key, value in filters.items():
        each = func.json_each(_C.metadata).table_valued("key", "type", "atom")
        if value is None:
            match = each.c.type == "null"
        elif isinstance(value, bool):
            match = each.c.type == ("true" if value else "false")
        elif isinstance(value, int | float):
            match = and_(each.c.type.in_(("integer", "real")), each.c.atom == value)
        else:
            match = and_(each.c.type == "text", each.c.atom == value)
        conditions.append(
            select(literal(1))
            .select_from(each)
            .where(each.c.key == key, match)
            .exists()
        )
    return conditions


_COLUMNS = ", ".join(RECORD_COLUMNS)
_TURN_COLUMNS = ", ".join(TURN_COLUMNS)
# erased_at: an erase hid the conversation (`erase.py`); it is missing to every
# call that reads its record, the hot path's included, at no extra round trip.
_RECORD_SQL = sql(
    f"SELECT {_COLUMNS} FROM conversa_conversations WHERE id = {{cid}}"
    " AND erased_at IS NULL"
)
_RECORD_FOR_UPDATE_SQL = {
    "sqlite": _RECORD_SQL["sqlite"],  # the transaction holds the write lock
    "postgresql": _RECORD_SQL["postgresql"] + " FOR UPDATE",
}


# Every turn read names one conversation and a seq range or seqs: the primary key
# (conversation_id, seq) serves it. On PostgreSQL the turn id's unique index leads
# with the turn id (migration 4), so the planner has no other index to take, even
# for a conversation its statistics do not know yet (a fresh fork, a bulk import).
_RANGE_SQL = sql(
    f"SELECT {_TURN_COLUMNS} FROM conversa_turns WHERE conversation_id = {{cid}}"
    " AND seq >= {lo} AND seq < {hi} ORDER BY seq"
)
_SCAN_SQL = sql(
    "SELECT seq, tokens FROM conversa_turns WHERE conversation_id = {cid}"
    " AND seq >= {lo} AND seq < {hi} ORDER BY seq DESC LIMIT {n}"
)
#: The turns lo <= seq < hi and the head's before them (seq < stop), in seq order.
#: Two ranges down the key, not one `OR`: SQLite would scan the conversation.
_RANGE_AND_HEAD_SQL = sql(
    f"SELECT {_TURN_COLUMNS} FROM conversa_turns WHERE conversation_id = {{cid}}"
    " AND seq >= {lo} AND seq < {hi} UNION ALL"
    f" SELECT {_TURN_COLUMNS} FROM conversa_turns WHERE conversation_id = {{cid}}"
    " AND seq >= 0 AND seq < {stop} AND seq < {lo} ORDER BY seq"
)
#: Where a row of `TURN_COLUMNS` has its token count.
_TOKENS = TURN_COLUMNS.index("tokens")
_INSERT_SQL = sql(
    f"INSERT INTO conversa_turns ({', '.join(INSERT_COLUMNS)}) VALUES ("
    + ", ".join(f"{{{c}}}" for c in INSERT_COLUMNS)
    + ")"
)
#: An insert of new turns that skips an id already stored (`_append`'s fast way).
_INSERT_NEW_SQL = {
    dialect: text + " ON CONFLICT DO NOTHING" for dialect, text in _INSERT_SQL.items()
}
#: `_INSERT_NEW_SQL` with positional parameters (`raw.turn_row`), SQLite's fast
#: way; and for a row with no reply's values (`raw.unreplied`).
_INSERT_NEW_ROW_SQL = sqlite_insert_sql(INSERT_COLUMNS)
_INSERT_UNREPLIED_ROW_SQL = sqlite_insert_sql(INSERT_COLUMNS, replied=False)
#: Take back the turns an append inserted past the last seq (same transaction).
_DROP_AFTER_SQL = sql(
    "DELETE FROM conversa_turns WHERE conversation_id = {cid} AND seq > {seq}"
)
_MOVE_LAST_SEQ_SQL = sql(
    "UPDATE conversa_conversations SET last_seq = {last_seq}, updated_at = {now}"
    " WHERE id = {cid}"
)
_MOVE_LAST_SEQ_AND_START_SQL = sql(
    "UPDATE conversa_conversations SET last_seq = {last_seq}, updated_at = {now},"
    " window_start = {start} WHERE id = {cid}"
)
#: The database clock as epoch seconds, as driver SQL (`db_now` in Core).
_NOW_SQL = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(epoch FROM clock_timestamp()) AS FLOAT)",
}
#: The fast append's row lock (PostgreSQL, before a read of turn rows to update):
#: every append locks the record before turn rows, so two never deadlock.
_LOCK_ROW_SQL = sql("SELECT 1 FROM conversa_conversations WHERE id = {cid} FOR UPDATE")
#: The lease is free: never taken, released, or run out (`lease.py`).
_FREE = "(lease_expires IS NULL OR lease_expires < NOW)"


def _with_now(text: str) -> dict[str, str]:
    """*text*'s driver SQL for each dialect, with NOW as the database clock."""
    return {
        dialect: rendered.replace("NOW", _NOW_SQL[dialect])
        for dialect, rendered in sql(text).items()
    }


#: The careful append's lock of the record, with whether a lease is live on it
#: (the last column). The row a locking read returns is the row as committed, after
#: any wait for it, so the lease it shows is current.
_RECORD_AND_LEASE_FOR_UPDATE_SQL = {
    dialect: text + (" FOR UPDATE" if dialect == "postgresql" else "")
    for dialect, text in _with_now(
        f"SELECT {_COLUMNS}, lease_expires >= NOW FROM conversa_conversations"
        " WHERE id = {cid} AND erased_at IS NULL"
    ).items()
}


@functools.lru_cache(maxsize=2)
def acquire_sql(*, owned: bool) -> dict[str, str]:
    """Take the lease if it is free, expired or already the holder's.

    One UPDATE of the record's row, only of a conversation the caller sees (not
    erased; *owned*: the owner's). On PostgreSQL a taker that waited for the row
    (an append moving it) re-checks the WHERE on the row as that append left it;
    there the statement also reads whether the caller sees the conversation (a
    row: taken 1 or 0, seen), so a busy try is one round trip. On SQLite it is
    the UPDATE alone (its rowcount), and `seen_sql` follows in the transaction.
    """
    owner = " AND owner = {owner}" if owned else ""
    take = (
        "UPDATE conversa_conversations SET lease_holder = {holder},"
        " lease_expires = NOW + {lease} WHERE id = {cid} AND erased_at IS NULL"
        + owner
        + " AND (lease_expires IS NULL OR lease_expires < NOW"
        " OR lease_holder = {holder})"
    )
    return {
        "sqlite": _with_now(take)["sqlite"],
        "postgresql": _with_now(
            f"WITH taken AS ({take} RETURNING 1) SELECT (SELECT count(*) FROM taken),"
            " EXISTS (SELECT 1 FROM conversa_conversations WHERE id = {cid}"
            f" AND erased_at IS NULL{owner})"
        )["postgresql"],
    }


@functools.lru_cache(maxsize=2)
def seen_sql(*, owned: bool) -> dict[str, str]:
    """Whether the caller sees the conversation (SQLite, when the lease was busy)."""
    owner = " AND owner = {owner}" if owned else ""
    return sql(
        "SELECT 1 FROM conversa_conversations WHERE id = {cid} AND erased_at IS NULL"
        + owner
    )


#: Drop the lease if the holder still has it.
RELEASE_SQL = sql(
    "UPDATE conversa_conversations SET lease_holder = NULL, lease_expires = NULL"
    " WHERE id = {cid} AND lease_holder = {holder}"
)
#: Push the lease's expiry back if the holder still has it.
RENEW_SQL = _with_now(
    "UPDATE conversa_conversations SET lease_expires = NOW + {lease}"
    " WHERE id = {cid} AND lease_holder = {holder}"
)


#: The lease's release as part of the record's move (`_fast_move_sql`): both
#: columns cleared if {holder} holds it (each CASE sees the row before the
#: UPDATE), as `RELEASE_SQL` does on its own.
_RELEASED = (
    ", lease_holder = CASE WHEN lease_holder = {holder} THEN NULL"
    " ELSE lease_holder END, lease_expires = CASE WHEN lease_holder = {holder}"
    " THEN NULL ELSE lease_expires END"
)


@functools.lru_cache(maxsize=64)
def _fast_move_sql(
    *, guard: bool, owned: bool, moves_start: bool, releases: bool = False
) -> dict[str, str]:
    """The fast append's UPDATE of the record: it moves only from the expected seq.

    With *guard*, only while no lease is live: on the same row, so on PostgreSQL
    an append that waited for the row (a send taking the lease) re-checks it on
    the row as committed, and sees that lease. With *releases*, it ends the
    lease of {holder} too (a send's reply), a statement less than
    `RELEASE_SQL` after it.
    """
    start = ", window_start = {start}" if moves_start else ""
    return _with_now(
        "UPDATE conversa_conversations SET last_seq = {last_seq}, updated_at = {now}"
        + start
        + (_RELEASED if releases else "")
        + " WHERE id = {cid} AND last_seq = {expected} AND erased_at IS NULL"
        + (" AND owner = {owner}" if owned else "")
        + (f" AND {_FREE}" if guard else "")
    )


@functools.lru_cache(maxsize=256)
def _fast_append_sql(n: int, *, columns: tuple[str, ...], move: str) -> str:
    """PostgreSQL's fast append of *n* turns as one statement: (inserted, moved).

    The record moves (*move*, `_fast_move_sql`) only if it is still at the
    expected seq (and visible, and free of another's lease); the turns go in only
    if it moved. One statement. (0, 0): nothing was written; (n, 1): all of it
    was. A seq or id already taken (a retried append) fails the whole statement
    with a unique violation, not a skipped row, so a COMMIT sent in the same
    round trip cannot keep the move without the turns; the caller rolls back and
    runs the careful way (`FastMiss`). *columns*: those the turns set (`_pg_fast`;
    the key id too when they are sealed, `crypto.py`). The values are cast to
    their columns' types: rows of a VALUES list do not take them from the table,
    as the rows of an INSERT's own VALUES do.
    """
    rows = ", ".join(
        "(" + ", ".join(f"CAST({{t{i}_{c}}} AS {_PG_TYPES[c]})" for c in columns) + ")"
        for i in range(n)
    )
    text = (
        "WITH moved AS (MOVE RETURNING 1),"
        f" ins AS (INSERT INTO conversa_turns ({', '.join(columns)})"
        f" SELECT v.* FROM (VALUES {rows}) AS v CROSS JOIN moved RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM moved)"
    )
    return sql(text)["postgresql"].replace("MOVE", move)


@functools.lru_cache(maxsize=256)
def _row_names(i: int, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The parameter names of the *i*-th turn's *columns* in `_fast_append_sql`."""
    return tuple(f"t{i}_{c}" for c in columns)


#: PostgreSQL's name of each turn column's type, from the schema.
_PG_DIALECT: Any = postgresql.dialect()  # type: ignore[no-untyped-call]
_PG_TYPES = {
    column.name: str(column.type.compile(dialect=_PG_DIALECT))
    for column in TURNS.columns
}


@functools.lru_cache(maxsize=64)
def _bookkeeping_sql(n: int) -> dict[str, str]:
    """The bookkeeping of *n* turns by seq, locked for the update that follows.

    By the seqs alone, not a range around them: a send's updates name the head's
    turns and the window's, and a range from the first to the last would read
    every turn between them. On PostgreSQL each seq of an array (``{seqs}``) is
    one lookup by the primary key (a LATERAL subquery with a LIMIT, which the
    planner cannot turn into a join): with ``seq IN (...)``, or a join, its planner
    read a conversation its statistics did not know (a fresh fork) whole.
    """
    seqs = ", ".join(f"{{s{i}}}" for i in range(n))
    return {
        "sqlite": sql(
            "SELECT seq, turn_id, tokens, tokens_exact, status, flags"
            f" FROM conversa_turns WHERE conversation_id = {{cid}} AND seq IN ({seqs})"
        )["sqlite"],
        "postgresql": sql(
            "SELECT t.seq, t.turn_id, t.tokens, t.tokens_exact, t.status, t.flags"
            " FROM unnest(CAST({seqs} AS INTEGER[])) AS s (seq) CROSS JOIN LATERAL"
            " (SELECT seq, turn_id, tokens, tokens_exact, status, flags"
            " FROM conversa_turns"
            " WHERE conversation_id = {cid} AND seq = s.seq LIMIT 1 FOR UPDATE) AS t"
            " ORDER BY t.seq"
        )["postgresql"],
    }


_SET_BOOKKEEPING_SQL = sql(
    "UPDATE conversa_turns SET tokens = {tokens}, tokens_exact = {tokens_exact},"
    " status = {status}, flags = {flags} WHERE conversation_id = {cid} AND seq = {seq}"
)


@functools.lru_cache(maxsize=64)
def _stored_sql(n: int) -> dict[str, str]:
    """The turns of a conversation among *n* turn ids."""
    ids = ", ".join(f"{{id{i}}}" for i in range(n))
    return sql(
        f"SELECT {_TURN_COLUMNS} FROM conversa_turns WHERE conversation_id = {{cid}}"
        f" AND turn_id IN ({ids}) ORDER BY seq"
    )


def _stored(
    conversation_id: str,
    turn_ids: Sequence[str],
    codec: Codec | None = None,
    incoming: Sequence[Turn] = (),
) -> Flow[list[Turn]]:
    """Read the stored turns among *turn_ids* (unique), oldest first.

    Encrypted, the rows of *incoming* turns (an append's) are compared by HMAC.
    """
    ids = sorted(set(turn_ids))
    params: dict[str, Any] = {f"id{i}": v for i, v in enumerate(ids)}
    params["cid"] = conversation_id
    rows = (yield Raw(_stored_sql(len(ids)), params)).all()
    if codec is not None:
        return codec.open_turns(conversation_id, rows, incoming)
    return [turn_from_tuple(r) for r in rows]


def _range(
    conversation_id: str, lo: int, hi: int, codec: Codec | None = None
) -> Flow[tuple[Turn, ...]]:
    """Read the turns with lo <= seq < hi, oldest first."""
    params = {"cid": conversation_id, "lo": lo, "hi": hi}
    rows = (yield Raw(_RANGE_SQL, params)).all()
    keep = len(rows) <= KEPT_RANGE  # a long read leaves the windows' turns kept
    if codec is not None:
        return tuple(codec.open_turns(conversation_id, rows, keep=keep))
    return tuple(turn_from_tuple(r, keep=keep) for r in rows)


def _record(row: Mapping[str, Any], codec: Codec | None) -> ConversationRecord:
    """The record a row stores (its sealed columns opened when encrypted)."""
    return record_from_row(row if codec is None else codec.open_record(row))


def record_row(
    conversation_id: str, owner: str | None, *, for_update: bool = False
) -> Flow[Mapping[str, Any]]:
    """Read the record row, or raise not-found (also for another owner's).

    The row's values come back as `record_from_row` takes them: metadata decoded
    and times aware.
    """
    text = _RECORD_FOR_UPDATE_SQL if for_update else _RECORD_SQL
    row = (yield Raw(text, {"cid": conversation_id})).first()
    return record_columns(_seen(row, conversation_id, owner))


def _seen(row: Any, conversation_id: str, owner: str | None) -> Any:
    """*row*, a record's read, if the caller sees it; else not found (another owner's)."""
    if row is None or (owner is not None and row[1] != owner):
        raise ConversationNotFoundError(conversation_id)
    return row


def _insert_record(
    record: ConversationRecord, dialect: str, codec: Codec | None = None
) -> Flow[None]:
    """Insert a record row; an id that exists raises `StoreError`."""
    values = record_values(record) if codec is None else codec.record_values(record)
    stmt = (
        dialect_insert(dialect)(CONVERSATIONS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .execution_options(preserve_rowcount=True)
    )
    if (yield stmt).rowcount != 1:
        msg = f"conversation {record.id!r} already exists"
        raise StoreError(msg)


def create_flow(
    record: ConversationRecord,
    owner: str | None,
    dialect: str,
    codec: Codec | None = None,
) -> Flow[ConversationRecord]:
    """Insert a new record."""
    stored = record_for_create(record, owner)
    yield from _insert_record(stored, dialect, codec)
    return stored


def get_flow(
    conversation_id: str, owner: str | None, codec: Codec | None = None
) -> Flow[ConversationRecord]:
    """Read a record."""
    return _record((yield from record_row(conversation_id, owner)), codec)


def update_record_flow(
    conversation_id: str,
    changes: Mapping[str, Any],
    owner: str | None,
    codec: Codec | None = None,
) -> Flow[ConversationRecord]:
    """Change record fields under the row lock."""
    row = yield from record_row(conversation_id, owner, for_update=True)
    record = apply_changes(_record(row, codec), changes)
    values = record_values(record) if codec is None else codec.record_values(record)
    fields = (
        "metadata",
        "model",
        "system",
        "params",
        "capabilities",
        "window_start",
        "flags",
        *(("key_id",) if codec is not None else ()),
    )
    yield (
        update(CONVERSATIONS)
        .where(_C.id == conversation_id)
        .values(**{k: values[k] for k in (*fields, "updated_at")})
    )
    return record


def append_flow(
    conversation_id: str,
    turns: Sequence[Turn],
    expected_last_seq: int | None,
    owner: str | None,
    updates: Sequence[TurnUpdate] = (),
    *,
    dialect: str,
    guard: bool = False,
    window_start: int | None = None,
    release: str | None = None,
    codec: Codec | None = None,
    fast: bool = True,
) -> Flow[tuple[Turn, ...] | Busy]:
    """Append turns with gapless seqs under the conversation row's lock.

    *updates* (bookkeeping of turns already stored) go in the same transaction.
    With *guard*, an append that holds no lease: if another holder's lease is
    live, write nothing and return `BUSY`. *window_start* is stored with new
    turns; *release* names a lease holder whose lease ends in this transaction.
    *codec* encrypts the new turns (and compares retried ones by HMAC). With
    *fast*, it first tries the short way (`_fast_append`); that raises `FastMiss`
    when it moved the record but found a turn id taken (roll back, and run it
    again with ``fast=False``).
    """
    result, released = yield from _append(
        conversation_id,
        turns,
        expected_last_seq,
        owner,
        updates,
        dialect=dialect,
        guard=guard,
        window_start=window_start,
        codec=codec,
        fast=fast,
        release=release,
    )
    if release is not None and not released and not isinstance(result, Busy):
        yield Raw(RELEASE_SQL, {"cid": conversation_id, "holder": release})
    return result


def _append(
    conversation_id: str,
    turns: Sequence[Turn],
    expected_last_seq: int | None,
    owner: str | None,
    updates: Sequence[TurnUpdate],
    *,
    dialect: str,
    guard: bool,
    window_start: int | None,
    codec: Codec | None = None,
    fast: bool = True,
    release: str | None = None,
) -> Flow[tuple[tuple[Turn, ...] | Busy, bool]]:
    """The append, and whether it released *release*'s lease already."""
    if fast and expected_last_seq is not None and 0 < len(turns) <= FAST_TURNS:
        plan = plan_append(
            conversation_id,
            turns,
            {},
            last_seq=expected_last_seq,
            expected_last_seq=expected_last_seq,
        )
        # The release goes with the record's move. The bookkeeping's read goes
        # with the short write (a send's reply: one round trip), its write with
        # the COMMIT (another).
        read = _bookkeeping_read(conversation_id, updates)
        moved, rows = yield from _fast_append(
            conversation_id,
            plan,
            expected_last_seq,
            owner,
            dialect=dialect,
            guard=guard,
            window_start=window_start,
            codec=codec,
            commit=read is None,
            then=read,
            release=release,
        )
        if moved:
            if rows is not None:
                # The turns this changes keep their values (`raw.Seeds`): a send's
                # user turn, counted by the reply, is read by the next send.
                seeds = SEEDS if codec is None else codec.seeds
                write = _bookkeeping_write(conversation_id, updates, rows, seeds)
                yield Batch((write,), commit=True)
            return plan.result, True
        # It wrote nothing: the careful way tells why, in the same transaction (a
        # new one when the short write was a transaction of its own).
    locked = _seen(
        (yield Raw(_RECORD_AND_LEASE_FOR_UPDATE_SQL, {"cid": conversation_id})).first(),
        conversation_id,
        owner,
    )
    if guard and locked[-1]:
        return BUSY, False
    row = record_columns(locked[:-1])
    yield from _apply_updates(conversation_id, updates)
    if not turns:
        return (), False
    last_seq = row["last_seq"]
    if codec is None and expected_last_seq in (None, last_seq):
        # The usual append, of new turns: insert them without looking for their
        # ids first. An id already stored (a retried append) is skipped by the
        # insert; then what it did insert is taken back, and the careful way below
        # decides, as it does for every append whose expected seq has moved.
        plan = plan_append(
            conversation_id,
            turns,
            {},
            last_seq=last_seq,
            expected_last_seq=expected_last_seq,
        )
        params = [
            turn_params(conversation_id, t, dialect, seed=not guard) for t in plan.new
        ]
        if (yield Raw(_INSERT_NEW_SQL, params)).rowcount == len(params):
            yield from _move_last_seq(conversation_id, plan, dialect, window_start)
            return plan.result, False
        yield Raw(_DROP_AFTER_SQL, {"cid": conversation_id, "seq": last_seq})
    stored = yield from _stored(conversation_id, [t.id for t in turns], codec, turns)
    plan = plan_append(
        conversation_id,
        turns,
        {t.id: t for t in stored},
        last_seq=last_seq,
        expected_last_seq=expected_last_seq,
    )
    if plan.new:
        if codec is None:
            yield Raw(
                _INSERT_SQL,
                [
                    turn_params(conversation_id, t, dialect, seed=not guard)
                    for t in plan.new
                ],
            )
        else:
            yield Raw(
                codec.insert_sql,
                codec.turn_params(conversation_id, plan.new, dialect, seed=not guard),
            )
        yield from _move_last_seq(conversation_id, plan, dialect, window_start)
    return plan.result, False


def _fast_append(
    conversation_id: str,
    plan: AppendPlan,
    expected_last_seq: int,
    owner: str | None,
    *,
    dialect: str,
    guard: bool,
    window_start: int | None,
    codec: Codec | None = None,
    commit: bool = False,
    then: Raw | None = None,
    release: str | None = None,
) -> Flow[tuple[bool, list[Any] | None]]:
    """Insert *plan*'s new turns and move the record from *expected_last_seq*.

    Encrypted (*codec*), the turns go in sealed, with their key id. *release*
    names a lease holder whose lease ends with the record's move. With
    *commit*, nothing else is written after it: on PostgreSQL the transaction
    may end with its statement (`Batch.commit`), so the append, BEGIN to COMMIT,
    is one round trip. *then*, a read, goes in the same round trip after it.

    Whether it moved the record, and the rows *then* read (None without it).
    It did not move the record when it wrote nothing: the record was not at
    that seq, not visible (erased, another owner's), or under another's live
    lease (with *guard*). Raises `FastMiss` (the caller's transaction rolls
    back) if the record moved but a turn did not go in (its id stored: a
    retried append).
    """
    if dialect == "sqlite":
        move_step, insert_step = _sqlite_fast(
            conversation_id,
            plan,
            expected_last_seq,
            owner,
            guard=guard,
            window_start=window_start,
            codec=codec,
            release=release,
        )
        moved = (yield move_step).rowcount
        if moved == 1 and (yield insert_step).rowcount != len(plan.new):
            raise FastMiss  # an id was stored: the write transaction rolls back
        if moved != 1:
            return False, None
        return True, None if then is None else (yield then).all()
    statement = _pg_fast(
        conversation_id,
        plan,
        expected_last_seq,
        owner,
        guard=guard,
        window_start=window_start,
        codec=codec,
        release=release,
    )
    # In a batch, so the BEGIN goes in the same round trip; alone, with
    # *commit*, it is the whole transaction (`runners._OwnTransaction`). The
    # lease check needs no lock of its own: it is on the row the CTE updates.
    # With a read after it (*then*: the bookkeeping's turn rows, FOR UPDATE),
    # the row lock goes first: every append locks the record before turn
    # rows, as the careful way does, so two appends never wait on each other
    # in opposite orders (a deadlock).
    lock = () if then is None else (Raw(_LOCK_ROW_SQL, {"cid": conversation_id}),)
    after = () if then is None else (then,)
    try:
        results = yield Batch((*lock, statement, *after), commit=commit)
    except IntegrityError:
        # A turn id is stored (a retried append): the statement failed whole,
        # and the transaction, with its COMMIT if one was sent, rolls back.
        raise FastMiss from None
    # The CTE inserts every turn or fails whole (no ON CONFLICT): when it
    # moved the record, its turns are in.
    moved = results[len(lock)].first()[1]
    read = None if then is None else results[-1].all()
    if moved != 1:
        return False, None
    return True, read


def _pg_fast(
    conversation_id: str,
    plan: AppendPlan,
    expected_last_seq: int,
    owner: str | None,
    *,
    guard: bool,
    window_start: int | None,
    codec: Codec | None,
    release: str | None = None,
) -> Raw:
    """PostgreSQL's fast append, `_fast_append`: one statement that moves the
    record and inserts *plan*'s new turns only if it moved (`_fast_append_sql`);
    it returns (turns inserted, records moved)."""
    move_sql, move = _move(
        conversation_id,
        plan,
        expected_last_seq,
        owner,
        "postgresql",
        guard=guard,
        window_start=window_start,
        release=release,
    )
    if len(plan.new) == 1:  # the usual add: one turn, a shape worked out once
        order: tuple[str, ...] | None = None  # `INSERT_COLUMNS`
        if codec is None:
            one = turn_row(conversation_id, plan.new[0], "postgresql", seed=not guard)
        else:
            (one,) = codec.turn_rows(
                conversation_id, plan.new, "postgresql", seed=not guard
            )
            order = codec.keyed_columns
        present = tuple([v is not None for v in one])
        text, names, pick = _one_row(present, move_sql, order)
        move.update(zip(names, pick(one), strict=True))
        return Raw({"postgresql": text}, move)
    rows = (
        [turn_params(conversation_id, t, "postgresql") for t in plan.new]
        if codec is None
        else codec.turn_params(conversation_id, plan.new, "postgresql")
    )
    # Only the columns some turn sets: a column left out is NULL (none of the
    # nullable ones has a default), and each parameter costs the driver and the
    # server (a user turn sets 11 of its 22).
    columns = tuple([c for c in rows[0] if any(row[c] is not None for row in rows)])
    for i, row in enumerate(rows):
        names = _row_names(i, columns)
        move.update(zip(names, [row[c] for c in columns], strict=True))
    text = _fast_append_sql(len(rows), columns=columns, move=move_sql)
    return Raw({"postgresql": text}, move)


_OneRow = tuple[str, tuple[str, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]]
#: What `_one_row` worked out, by shape.
_ONE_ROWS: dict[tuple[tuple[bool, ...], str, tuple[str, ...] | None], _OneRow] = {}


def _one_row(
    present: tuple[bool, ...], move: str, row_columns: tuple[str, ...] | None
) -> _OneRow:
    """The fast append of one turn whose row (`turn_row`, in `INSERT_COLUMNS`
    order; or in *row_columns*' order: an encrypted store's, `Codec.turn_rows`)
    has a value where *present* says, after the record's *move*: the statement
    (`_fast_append_sql` of the columns set), its turn parameters' names, and what
    picks their values out of the row. Worked out once a shape (a user turn, a
    reply, ...)."""
    key = (present, move, row_columns)
    found = _ONE_ROWS.get(key)
    if found is None:
        order = INSERT_COLUMNS if row_columns is None else row_columns
        picked = [i for i, there in enumerate(present) if there]
        columns = tuple([order[i] for i in picked])
        found = (
            _fast_append_sql(1, columns=columns, move=move),
            _row_names(0, columns),
            operator.itemgetter(*picked),
        )
        if len(_ONE_ROWS) >= _ONE_ROWS_KEPT:
            _ONE_ROWS.clear()
        _ONE_ROWS[key] = found
    return found


_ONE_ROWS_KEPT = 256


def _move(
    conversation_id: str,
    plan: AppendPlan,
    expected_last_seq: int,
    owner: str | None,
    dialect: str,
    *,
    guard: bool,
    window_start: int | None,
    release: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The record's conditional move of the fast way: `_fast_move_sql`'s text in
    *dialect*, and its parameters (*release*: the holder whose lease it ends)."""
    text = _fast_move_sql(
        guard=guard,
        owned=owner is not None,
        moves_start=window_start is not None,
        releases=release is not None,
    )[dialect]
    move: dict[str, Any] = {
        "cid": conversation_id,
        "last_seq": plan.last_seq,
        "expected": expected_last_seq,
        "now": db_time(utcnow(), dialect),
    }
    if owner is not None:
        move["owner"] = owner
    if window_start is not None:
        move["start"] = window_start
    if release is not None:
        move["holder"] = release
    return text, move


def _sqlite_fast(
    conversation_id: str,
    plan: AppendPlan,
    expected_last_seq: int,
    owner: str | None,
    *,
    guard: bool,
    window_start: int | None,
    codec: Codec | None,
    release: str | None = None,
) -> tuple[Raw, Raw]:
    """SQLite's fast append, `_fast_append`: the record's conditional move, and the
    insert of *plan*'s new turns that goes after it only if it moved (one row,
    or all of them: a turn id stored is skipped, and fewer rows tell of it)."""
    move_sql, move = _move(
        conversation_id,
        plan,
        expected_last_seq,
        owner,
        "sqlite",
        guard=guard,
        window_start=window_start,
        release=release,
    )
    insert: Mapping[str, str]
    inserted: list[Any]
    if codec is None:
        # Positional: sqlite3 binds a tuple in half the time of 22 names.
        insert, plain = _INSERT_NEW_ROW_SQL, _INSERT_UNREPLIED_ROW_SQL
        inserted = [
            turn_row(conversation_id, t, "sqlite", seed=not guard) for t in plan.new
        ]
    else:
        insert, plain = codec.insert_new_row_sql, codec.insert_unreplied_row_sql
        inserted = codec.turn_rows(conversation_id, plan.new, "sqlite", seed=not guard)
    moved = Raw({"sqlite": move_sql}, move)
    if len(inserted) > 1:
        return moved, Raw(insert, inserted)
    # One row: execute, not executemany; a turn that is not a reply binds less.
    values = unreplied(inserted[0])
    if values is None:
        return moved, Raw(insert, inserted[0])
    return moved, Raw(plain, values)


@frozen
class QuickAppend:
    """A plain append on SQLite as its two statements (`quick_append`).

    The fast way of `append_flow` without a flow, for a runner to send as they
    are (`SyncRunner.write_if`, `runners.Guarded`): *guard* moves the record from
    the expected seq (if it is there, visible and, guarded, free); only if it
    moved, *write* inserts the *rows* new turns; *result* is the turns as stored.
    """

    result: tuple[Turn, ...]
    guard: Raw
    write: Raw
    rows: int


def quick_append(
    conversation_id: str,
    turns: Sequence[Turn],
    expected_last_seq: int | None,
    owner: str | None,
    *,
    guard: bool,
    codec: Codec | None = None,
    window_start: int | None = None,
) -> Callable[[], QuickAppend] | None:
    """An append on SQLite the fast way, written out: what builds its
    statements (the turns sealed by *codec*, on an encrypted store); None if the
    fast way does not take it (no expected seq, no turns or too many).

    The statements are the ones `append_flow` sends first (`_sqlite_fast`). Build
    them inside the write transaction, once its lock is held: the record's
    `updated_at` is taken then, as the flow's is (a write that waited for the lock
    does not store the time it started waiting). If the record did not move, or
    a turn did not go in, the caller rolls back and runs
    `append_flow(fast=False)`, which tells why.
    """

    def build(plan: AppendPlan, expected: int) -> QuickAppend:
        move, insert = _sqlite_fast(
            conversation_id,
            plan,
            expected,
            owner,
            guard=guard,
            window_start=window_start,
            codec=codec,
        )
        return QuickAppend(plan.result, move, insert, len(plan.new))

    return _planned(conversation_id, turns, expected_last_seq, build)


@frozen
class OneAppend:
    """A plain append on PostgreSQL as its one statement (`quick_append_one`).

    The fast way of `append_flow` without a flow, for a runner to send alone, a
    transaction of its own (`SyncRunner.write_one`, `runners.OneWrite`): it moves
    the record from the expected seq (if it is there, visible and, guarded, free)
    and inserts the new turns only if it moved; it wrote them all when it
    returns *expect*; *result* is the turns as stored.
    """

    result: tuple[Turn, ...]
    statement: Raw
    expect: tuple[int, int]


def quick_append_one(
    conversation_id: str,
    turns: Sequence[Turn],
    expected_last_seq: int | None,
    owner: str | None,
    *,
    guard: bool,
    codec: Codec | None = None,
    window_start: int | None = None,
) -> Callable[[], OneAppend] | None:
    """An append on PostgreSQL the fast way, written out: what builds its
    statement (the turns sealed by *codec*, on an encrypted store); None if the
    fast way does not take it (no expected seq, no turns or too many).

    The statement is the one `append_flow` sends first (`_pg_fast`). If it
    returns anything but (turns, 1), it wrote nothing (the record did not move,
    or a turn id was stored and the statement failed whole), and the caller runs
    `append_flow(fast=False)`, which tells why. The record's `updated_at` is
    taken as it is built, as the flow's fast way takes it: a statement that then
    waits for the record's row (another short transaction on the same
    conversation holds it) stores the time from before that wait.
    """

    def build(plan: AppendPlan, expected: int) -> OneAppend:
        statement = _pg_fast(
            conversation_id,
            plan,
            expected,
            owner,
            guard=guard,
            window_start=window_start,
            codec=codec,
        )
        return OneAppend(plan.result, statement, (len(plan.new), 1))

    return _planned(conversation_id, turns, expected_last_seq, build)


def _planned(
    conversation_id: str,
    turns: Sequence[Turn],
    expected_last_seq: int | None,
    build: Callable[[AppendPlan, int], T],
) -> Callable[[], T] | None:
    """What plans the append of *turns* after *expected_last_seq* and gives the
    plan to *build*; None if the fast way does not take it (no expected seq, no
    turns or too many)."""
    if expected_last_seq is None or not 0 < len(turns) <= FAST_TURNS:
        return None
    expected = expected_last_seq

    def planned() -> T:
        plan = plan_append(
            conversation_id, turns, {}, last_seq=expected, expected_last_seq=expected
        )
        return build(plan, expected)

    return planned


def _move_last_seq(
    conversation_id: str, plan: AppendPlan, dialect: str, window_start: int | None
) -> Flow[None]:
    """Move the record's last seq (and window start) past what *plan* appended."""
    params: dict[str, Any] = {
        "cid": conversation_id,
        "last_seq": plan.last_seq,
        "now": db_time(utcnow(), dialect),
    }
    if window_start is None:
        yield Raw(_MOVE_LAST_SEQ_SQL, params)
    else:
        yield Raw(_MOVE_LAST_SEQ_AND_START_SQL, {**params, "start": window_start})


def read_flow(
    conversation_id: str,
    start: int,
    stop: int | None,
    owner: str | None,
    codec: Codec | None = None,
) -> Flow[tuple[Turn, ...]]:
    """Read turns start <= seq < stop, oldest first."""
    yield from record_row(conversation_id, owner)
    hi = _NO_END if stop is None else stop
    return (yield from _range(conversation_id, start, hi, codec))


def read_newest_flow(
    conversation_id: str,
    budget: int,
    start: int,
    owner: str | None,
    codec: Codec | None = None,
) -> Flow[tuple[Turn, ...]]:
    """Read the newest turns that fit *budget*, touching only the rows needed."""
    yield from record_row(conversation_id, owner)
    total = 0
    first: int | None = None
    newest: int | None = None
    below = _NO_END
    batch = _FIRST_BATCH
    full = False
    while not full:
        params = {"cid": conversation_id, "lo": start, "hi": below, "n": batch}
        rows = (yield Raw(_SCAN_SQL, params)).all()
        for seq, tokens in rows:
            if total + tokens > budget:
                full = True
                break
            total += tokens
            first = seq
            newest = seq if newest is None else newest
        if len(rows) < batch:
            break
        below = rows[-1][0]
        batch = min(batch * 4, _MAX_BATCH)
    if first is None or newest is None:
        return ()
    return (yield from _range(conversation_id, first, newest + 1, codec))


def read_window_flow(
    conversation_id: str,
    budget: ReadBudget,
    limit: int | None,
    head: int,
    owner: str | None,
    codec: Codec | None = None,
) -> Flow[WindowRead]:
    """Read the record, its newest turns from the window start, and the head.

    Two statements as a rule: the record, then the newest rows with the head's
    (one statement). Seqs are gapless, so the newest *n* are a seq range; the
    first range is as long as the window from the stored start (at most
    `_FIRST_BATCH`), so a window that did not move since the last send is read
    whole at once. Rows before the turn that covers the budget are dropped; when
    the range did not cover it, older ranges follow, each four times longer.
    """
    record = _record((yield from record_row(conversation_id, owner)), codec)
    floor = window_floor(record)
    tokens = resolve_budget(budget, record)
    hi = record.last_seq + 1
    if tokens is None:
        lo = floor if limit is None else max(floor, hi - limit)
    else:
        lo = max(floor, hi - min(_FIRST_BATCH, limit or _FIRST_BATCH))
    stop = head + 1 if head > 0 else 1
    params = {"cid": conversation_id, "lo": lo, "hi": hi, "stop": stop}
    rows = (yield Raw(_RANGE_AND_HEAD_SQL, params)).all()  # every head row too
    newest = [r for r in reversed(rows) if r[0] >= lo]
    taken: list[Any] = []
    total = 0
    batch = hi - lo
    while True:
        for row in newest:
            if (limit is not None and len(taken) >= limit) or (
                tokens is not None and total > tokens
            ):
                break
            taken.append(row)
            total += row[_TOKENS]
        else:
            if lo > floor:  # the range was covered: the older one next
                batch = min(batch * 4, _MAX_BATCH)
                lo, below = max(floor, lo - batch), lo
                params = {"cid": conversation_id, "lo": lo, "hi": below}
                newest = list(reversed((yield Raw(_RANGE_SQL, params)).all()))
                continue
        break
    taken.reverse()
    window = _turns(conversation_id, taken, codec)
    stop = head_stop(window, floor, head)
    found = _turns(conversation_id, [r for r in rows if r[0] < stop], codec)
    return WindowRead(record, window, found)


def _turns(
    conversation_id: str, rows: Sequence[Any], codec: Codec | None
) -> tuple[Turn, ...]:
    """The turns *rows* store, in their order (sealed content opened)."""
    if codec is not None:
        return tuple(codec.open_turns(conversation_id, rows))
    return tuple(turn_from_tuple(r) for r in rows)


def get_turns_flow(
    conversation_id: str,
    turn_ids: Sequence[str],
    owner: str | None,
    codec: Codec | None = None,
) -> Flow[tuple[Turn, ...]]:
    """Read the stored turns among *turn_ids*, oldest first."""
    yield from record_row(conversation_id, owner)
    if not turn_ids:
        return ()
    return tuple((yield from _stored(conversation_id, turn_ids, codec)))


def update_turns_flow(
    conversation_id: str, updates: Sequence[TurnUpdate], owner: str | None
) -> Flow[None]:
    """Apply bookkeeping updates, all or none, with the turn rows locked."""
    yield from record_row(conversation_id, owner)
    yield from _apply_updates(conversation_id, updates)


def _apply_updates(conversation_id: str, updates: Sequence[TurnUpdate]) -> Flow[None]:
    """Apply bookkeeping updates within the caller's transaction."""
    read = _bookkeeping_read(conversation_id, updates)
    if read is not None:
        rows = (yield read).all()
        yield _bookkeeping_write(conversation_id, updates, rows)


def _bookkeeping_read(
    conversation_id: str, updates: Sequence[TurnUpdate]
) -> Raw | None:
    """The read (and row locks) of the bookkeeping *updates* change; None if none."""
    if not updates:
        return None
    seqs = sorted({u.seq for u in updates})
    params: dict[str, Any] = {f"s{i}": seq for i, seq in enumerate(seqs)}
    params.update(cid=conversation_id, seqs=seqs)
    return Raw(_bookkeeping_sql(len(seqs)), params)


def _bookkeeping_write(
    conversation_id: str,
    updates: Sequence[TurnUpdate],
    rows: Sequence[Any],
    seeds: Seeds | None = None,
) -> Raw:
    """The write of *updates* over the bookkeeping *rows* read (`_bookkeeping_read`);
    *seeds*: the written turns whose rows this changes take the new values.

    Raises:
        ConversaError: an update refused by the stored values (`check_updates`).
    """
    ids = {}
    current = {}
    for seq, turn_id, tokens, exact, status, flags in rows:
        ids[seq] = turn_id
        current[seq] = {
            "tokens": tokens,
            "tokens_exact": bool(exact),
            "status": status,
            "flags": json.loads(flags),
        }
    check_updates(conversation_id, updates, current)
    for update_ in updates:
        current[update_.seq] = bookkeeping_after(current[update_.seq], update_)
    params = []
    for seq, values in sorted(current.items()):
        written = {
            "cid": conversation_id,
            "seq": seq,
            "tokens": values["tokens"],
            "tokens_exact": bool(values["tokens_exact"]),
            "status": values["status"],
            "flags": json.dumps(
                values["flags"], ensure_ascii=False, separators=(",", ":")
            ),
        }
        params.append(written)
        if seeds is not None:
            seeds.changed(ids[seq], seq, written)
    return Raw(_SET_BOOKKEEPING_SQL, params)


def list_flow(
    dialect: str,
    owner: str | None,
    metadata: Mapping[str, Any] | None,
    limit: int,
    cursor: str | None,
    handle_owner: str | None,
    codec: Codec | None = None,
) -> Flow[Page]:
    """List records newest created first, one keyset page at a time."""
    filters = check_metadata_filter(metadata)
    check_limit(limit)
    after = decode_cursor(cursor) if cursor is not None else None
    if handle_owner is not None:
        if owner is not None and owner != handle_owner:
            return Page(())
        owner = handle_owner
    stmt = select(CONVERSATIONS).where(
        _C.erased_at.is_(None), *_metadata_conditions(dialect, filters)
    )
    if owner is not None:
        stmt = stmt.where(_C.owner == owner)
    if after is not None:
        when, ident = after
        stmt = stmt.where(
            or_(_C.created_at < when, and_(_C.created_at == when, _C.id < ident))
        )
    stmt = stmt.order_by(_C.created_at.desc(), _C.id.desc()).limit(limit + 1)
    rows = (yield stmt).mappings().all()
    items = tuple(_record(r, codec) for r in rows[:limit])
    more = len(rows) > limit
    return Page(
        items, encode_cursor(items[-1].created_at, items[-1].id) if more else None
    )


def fork_flow(
    conversation_id: str,
    at_seq: int,
    new_id: str | None,
    owner: str | None,
    dialect: str,
    codec: Codec | None = None,
) -> Flow[ConversationRecord]:
    """Copy the record and turns 1..at_seq under a new id, inside the database.

    The parent's row is locked, so an erase that hides it waits for the fork
    (and then hides the fork too) or the fork finds the parent gone. Encrypted,
    the turns are decrypted and sealed again under the new id, a batch at a time.
    """
    row = yield from record_row(conversation_id, owner, for_update=True)
    parent = _record(row, codec)
    record = fork_record(parent, at_seq, new_id)
    yield from _insert_record(record, dialect, codec)
    if codec is not None:
        for lo in range(1, at_seq + 1, _MAX_BATCH):
            hi = min(lo + _MAX_BATCH, at_seq + 1)
            turns = yield from _range(conversation_id, lo, hi, codec)
            if turns:
                yield Raw(
                    codec.insert_sql, codec.turn_params(record.id, turns, dialect)
                )
        return record
    names = [c.name for c in TURNS.columns]
    source = [
        literal(record.id).label(n) if n == "conversation_id" else TURNS.c[n]
        for n in names
    ]
    yield insert(TURNS).from_select(
        names,
        select(*source).where(_T.conversation_id == conversation_id, _T.seq <= at_seq),
    )
    return record


def usage_flow(conversation_id: str, owner: str | None) -> Flow[UsageTotals]:
    """Sum the usage columns of the conversation's turns in one aggregate."""
    yield from record_row(conversation_id, owner)

    def total(column: Any) -> Any:
        return func.coalesce(func.sum(column), 0)

    row = (
        yield select(
            func.count(_T.input_tokens),
            total(_T.input_tokens),
            total(_T.output_tokens),
            total(_T.cache_creation_input_tokens),
            total(_T.cache_read_input_tokens),
        ).where(_T.conversation_id == conversation_id)
    ).one()
    return UsageTotals(*(int(v) for v in row))
