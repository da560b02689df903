"""The SQL stores' logic, written once as flows that sync and async shells drive.

A flow is a generator that yields statements, each alone or as a (statement,
parameters) pair, and receives each result; the shell runs every flow in one
transaction with `session.exec(...)` (sync) or `await session.exec(...)` (async),
and retries it once on a fresh connection if the first one died (see
`runners.py`). The pure rules (what an append stores, paging, forks) come from
`_stores/rules.py`, shared with MemoryStore; rows map to values in `schema.py`.

The statements on the hot path (read a record, append, read a window) are built
once at import with bound parameters, so a call neither rebuilds nor recompiles
them; every value, metadata keys included, is a bound parameter, never SQL text.

Gapless seqs under concurrency: an append first locks the conversation's row
(`SELECT ... FOR UPDATE` on PostgreSQL; on SQLite the transaction began with
`BEGIN IMMEDIATE`, which holds the database's write lock), then reads which of its
turn ids are stored, numbers the new turns from `last_seq + 1`, inserts them and
moves `last_seq`, all before commit. Appends to one conversation therefore commit
in seq order, so a reader never sees seq n+1 before seq n; the (conversation_id,
seq) primary key backs this up.

An append that holds no lease (`lease_wait`) also reads the conversation's lease
row after locking the record: if another holder's lease is live it writes nothing
and tells the store to wait and try again. Lease acquisition locks the same
record row first (see `lease.py`), so on PostgreSQL the two serialize: an append
either commits before a send takes its lease (and the send reads it) or sees the
lease.

`read_newest` scans (seq, tokens) newest first in small batches (64 rows, then 4x
larger) and stops at the first turn that overflows the budget, then reads the full
rows of the window: O(window), not O(history).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Float,
    and_,
    bindparam,
    cast,
    delete,
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
from sqlalchemy.sql.elements import ColumnElement

from ..._drive import Flow
from ..._exceptions import ConversationNotFoundError, StoreError
from ..._values.turns import ConversationRecord, Turn, UsageTotals, utcnow
from ..protocol import Page, ReadBudget, TurnUpdate, WindowRead
from ..rules import (
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
from .schema import (
    CONVERSATIONS,
    LOCKS,
    TURNS,
    record_from_row,
    record_values,
    turn_from_row,
    turn_values,
)

__all__ = [
    "BUSY",
    "Busy",
    "append_flow",
    "create_flow",
    "db_now",
    "delete_flow",
    "dialect_insert",
    "fork_flow",
    "get_flow",
    "get_turns_flow",
    "list_flow",
    "read_flow",
    "read_newest_flow",
    "read_window_flow",
    "record_row",
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
_RECORD = select(CONVERSATIONS).where(_C.id == bindparam("cid"))
_RECORD_FOR_UPDATE = _RECORD.with_for_update()
_STORED = select(TURNS).where(
    _T.conversation_id == bindparam("cid"),
    _T.turn_id.in_(bindparam("ids", expanding=True)),
)
_INSERT_TURNS = insert(TURNS)
_MOVE_LAST_SEQ = (
    update(CONVERSATIONS)
    .where(_C.id == bindparam("cid"))
    .values(last_seq=bindparam("new_last_seq"), updated_at=bindparam("now"))
)
_RANGE = (
    select(TURNS)
    .where(
        _T.conversation_id == bindparam("cid"),
        _T.seq >= bindparam("lo"),
        _T.seq < bindparam("hi"),
    )
    .order_by(_T.seq)
)
_SCAN = (
    select(_T.seq, _T.tokens)
    .where(
        _T.conversation_id == bindparam("cid"),
        _T.seq >= bindparam("lo"),
        _T.seq < bindparam("hi"),
    )
    .order_by(_T.seq.desc())
    .limit(bindparam("n"))
)


def db_now(dialect: str) -> ColumnElement[float]:
    """The database clock as epoch seconds (leases use it, so hosts agree)."""
    if dialect == "postgresql":
        return cast(extract("epoch", func.clock_timestamp()), Float)
    return (func.julianday("now") - 2440587.5) * 86400.0


#: A live lease on the conversation, by dialect (whoever holds it).
_LIVE_LEASE = {
    dialect: select(LOCKS.c.holder).where(
        LOCKS.c.conversation_id == bindparam("cid"),
        LOCKS.c.expires_at >= db_now(dialect),
    )
    for dialect in ("sqlite", "postgresql")
}


class Busy:
    """What a lease-waiting append returns instead of turns while a lease is live."""

    def __repr__(self) -> str:
        return "BUSY"


#: Returned by `append_flow` when it wrote nothing because another holder's lease
#: is live.
BUSY = Busy()

_BOOKKEEPING = (
    select(_T.seq, _T.tokens, _T.tokens_exact, _T.status, _T.flags)
    .where(
        _T.conversation_id == bindparam("cid"),
        _T.seq.in_(bindparam("seqs", expanding=True)),
    )
    .with_for_update()
)
_SET_BOOKKEEPING = (
    update(TURNS)
    .where(_T.conversation_id == bindparam("cid"), _T.seq == bindparam("b_seq"))
    .values(
        tokens=bindparam("b_tokens"),
        tokens_exact=bindparam("b_exact"),
        status=bindparam("b_status"),
        flags=bindparam("b_flags"),
    )
)


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


def record_row(
    conversation_id: str, owner: str | None, *, for_update: bool = False
) -> Flow[Mapping[str, Any]]:
    """Read the record row, or raise not-found (also for another owner's)."""
    stmt = _RECORD_FOR_UPDATE if for_update else _RECORD
    row = (yield stmt, {"cid": conversation_id}).mappings().first()
    if row is None or (owner is not None and row["owner"] != owner):
        raise ConversationNotFoundError(conversation_id)
    return dict(row)


def _insert_record(record: ConversationRecord, dialect: str) -> Flow[None]:
    """Insert a record row; an id that exists raises `StoreError`."""
    stmt = (
        dialect_insert(dialect)(CONVERSATIONS)
        .values(**record_values(record))
        .on_conflict_do_nothing(index_elements=["id"])
        .execution_options(preserve_rowcount=True)
    )
    if (yield stmt).rowcount != 1:
        msg = f"conversation {record.id!r} already exists"
        raise StoreError(msg)


def create_flow(
    record: ConversationRecord, owner: str | None, dialect: str
) -> Flow[ConversationRecord]:
    """Insert a new record."""
    stored = record_for_create(record, owner)
    yield from _insert_record(stored, dialect)
    return stored


def get_flow(conversation_id: str, owner: str | None) -> Flow[ConversationRecord]:
    """Read a record."""
    return record_from_row((yield from record_row(conversation_id, owner)))


def update_record_flow(
    conversation_id: str, changes: Mapping[str, Any], owner: str | None
) -> Flow[ConversationRecord]:
    """Change record fields under the row lock."""
    row = yield from record_row(conversation_id, owner, for_update=True)
    record = apply_changes(record_from_row(row), changes)
    values = record_values(record)
    fields = (
        "metadata",
        "model",
        "system",
        "params",
        "capabilities",
        "window_start",
        "flags",
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
    guard: str | None = None,
) -> Flow[tuple[Turn, ...] | Busy]:
    """Append turns with gapless seqs under the conversation row's lock.

    *updates* (bookkeeping of turns already stored) go in the same transaction.
    With *guard* (the dialect's name), an append that holds no lease: if
    another holder's lease is live, write nothing and return `BUSY`.
    """
    row = yield from record_row(conversation_id, owner, for_update=True)
    if guard is not None:
        live = (yield _LIVE_LEASE[guard], {"cid": conversation_id}).first()
        if live is not None:
            return BUSY
    yield from _apply_updates(conversation_id, updates)
    if not turns:
        return ()
    ids = sorted({t.id for t in turns})
    rows = (yield _STORED, {"cid": conversation_id, "ids": ids}).mappings().all()
    plan = plan_append(
        conversation_id,
        turns,
        {r["turn_id"]: turn_from_row(r) for r in rows},
        last_seq=row["last_seq"],
        expected_last_seq=expected_last_seq,
    )
    if plan.new:
        yield _INSERT_TURNS, [turn_values(conversation_id, t) for t in plan.new]
        params = {
            "cid": conversation_id,
            "new_last_seq": plan.last_seq,
            "now": utcnow(),
        }
        yield _MOVE_LAST_SEQ, params
    return plan.result


def read_flow(
    conversation_id: str, start: int, stop: int | None, owner: str | None
) -> Flow[tuple[Turn, ...]]:
    """Read turns start <= seq < stop, oldest first."""
    yield from record_row(conversation_id, owner)
    hi = _NO_END if stop is None else stop
    params = {"cid": conversation_id, "lo": start, "hi": hi}
    rows = (yield _RANGE, params).mappings().all()
    return tuple(turn_from_row(r) for r in rows)


def read_newest_flow(
    conversation_id: str, budget: int, start: int, owner: str | None
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
        rows = (yield _SCAN, params).all()
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
    params = {"cid": conversation_id, "lo": first, "hi": newest + 1}
    window = (yield _RANGE, params).mappings().all()
    return tuple(turn_from_row(r) for r in window)


def read_window_flow(
    conversation_id: str,
    budget: ReadBudget,
    limit: int | None,
    head: int,
    owner: str | None,
) -> Flow[WindowRead]:
    """Read the record, its newest turns from the window start, and the head."""
    record = record_from_row((yield from record_row(conversation_id, owner)))
    floor = window_floor(record)
    tokens = resolve_budget(budget, record)
    hi = record.last_seq + 1
    if tokens is None and limit is None:
        lo = floor
    elif tokens is None:
        lo = max(floor, hi - (limit or 0))
    else:
        lo = yield from _covering_start(conversation_id, floor, hi, tokens, limit)
    params = {"cid": conversation_id, "lo": lo, "hi": hi}
    rows = (yield _RANGE, params).mappings().all()
    window = tuple(turn_from_row(r) for r in rows)
    stop = head_stop(window, floor, head)
    found: tuple[Turn, ...] = ()
    if stop > 1:
        params = {"cid": conversation_id, "lo": 1, "hi": stop}
        found = tuple(turn_from_row(r) for r in (yield _RANGE, params).mappings())
    return WindowRead(record, window, found)


def _covering_start(
    conversation_id: str, floor: int, hi: int, budget: int, limit: int | None
) -> Flow[int]:
    """The first seq `covering` takes, found by scanning (seq, tokens) newest first."""
    total = 0
    taken = 0
    lo = hi
    below = hi
    batch = _FIRST_BATCH
    while True:
        params = {"cid": conversation_id, "lo": floor, "hi": below, "n": batch}
        rows = (yield _SCAN, params).all()
        for seq, count in rows:
            if (limit is not None and taken >= limit) or total > budget:
                return lo
            total += count
            taken += 1
            lo = seq
        if len(rows) < batch:
            return lo
        below = rows[-1][0]
        batch = min(batch * 4, _MAX_BATCH)


def get_turns_flow(
    conversation_id: str, turn_ids: Sequence[str], owner: str | None
) -> Flow[tuple[Turn, ...]]:
    """Read the stored turns among *turn_ids*, oldest first."""
    yield from record_row(conversation_id, owner)
    if not turn_ids:
        return ()
    params = {"cid": conversation_id, "ids": sorted(set(turn_ids))}
    rows = (yield _STORED.order_by(_T.seq), params).mappings().all()
    return tuple(turn_from_row(r) for r in rows)


def update_turns_flow(
    conversation_id: str, updates: Sequence[TurnUpdate], owner: str | None
) -> Flow[None]:
    """Apply bookkeeping updates, all or none, with the turn rows locked."""
    yield from record_row(conversation_id, owner)
    yield from _apply_updates(conversation_id, updates)


def _apply_updates(conversation_id: str, updates: Sequence[TurnUpdate]) -> Flow[None]:
    """Apply bookkeeping updates within the caller's transaction."""
    if not updates:
        return
    seqs = sorted({u.seq for u in updates})
    params = {"cid": conversation_id, "seqs": seqs}
    rows = (yield _BOOKKEEPING, params).mappings().all()
    current = {r["seq"]: {**r, "flags": json.loads(r["flags"])} for r in rows}
    check_updates(conversation_id, updates, current)
    for update_ in updates:
        current[update_.seq] = bookkeeping_after(current[update_.seq], update_)
    yield (
        _SET_BOOKKEEPING,
        [
            {
                "cid": conversation_id,
                "b_seq": seq,
                "b_tokens": values["tokens"],
                "b_exact": values["tokens_exact"],
                "b_status": values["status"],
                "b_flags": json.dumps(
                    values["flags"], ensure_ascii=False, separators=(",", ":")
                ),
            }
            for seq, values in sorted(current.items())
        ],
    )


def list_flow(
    dialect: str,
    owner: str | None,
    metadata: Mapping[str, Any] | None,
    limit: int,
    cursor: str | None,
    handle_owner: str | None,
) -> Flow[Page]:
    """List records newest created first, one keyset page at a time."""
    filters = check_metadata_filter(metadata)
    check_limit(limit)
    after = decode_cursor(cursor) if cursor is not None else None
    if handle_owner is not None:
        if owner is not None and owner != handle_owner:
            return Page(())
        owner = handle_owner
    stmt = select(CONVERSATIONS).where(*_metadata_conditions(dialect, filters))
    if owner is not None:
        stmt = stmt.where(_C.owner == owner)
    if after is not None:
        when, ident = after
        stmt = stmt.where(
            or_(_C.created_at < when, and_(_C.created_at == when, _C.id < ident))
        )
    stmt = stmt.order_by(_C.created_at.desc(), _C.id.desc()).limit(limit + 1)
    rows = (yield stmt).mappings().all()
    items = tuple(record_from_row(r) for r in rows[:limit])
    more = len(rows) > limit
    return Page(
        items, encode_cursor(items[-1].created_at, items[-1].id) if more else None
    )


def delete_flow(conversation_id: str, owner: str | None) -> Flow[None]:
    """Delete a conversation, its turns and any lease on it."""
    yield from record_row(conversation_id, owner, for_update=True)
    yield delete(TURNS).where(_T.conversation_id == conversation_id)
    yield delete(LOCKS).where(LOCKS.c.conversation_id == conversation_id)
    yield delete(CONVERSATIONS).where(_C.id == conversation_id)


def fork_flow(
    conversation_id: str,
    at_seq: int,
    new_id: str | None,
    owner: str | None,
    dialect: str,
) -> Flow[ConversationRecord]:
    """Copy the record and turns 1..at_seq under a new id, inside the database."""
    parent = record_from_row((yield from record_row(conversation_id, owner)))
    record = fork_record(parent, at_seq, new_id)
    yield from _insert_record(record, dialect)
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
