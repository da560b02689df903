"""The store effects, as handler tables: one per twin.

Every shell that drives flows (conversations, batches) performs the store effects
the same way; it adds its own handlers for the API and tool effects and looks an
effect's handler up by its type: one dispatch, no fall-through.

`ReadWindow` is the store's `read_window` (one transaction) when the store has that
capability (`WindowReads`); otherwise `window_flow` makes the same read with the
core methods: `get`, then `read_newest` (if the store has it) or seq-range reads
widening from the newest turn, and `read` for the head.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._drive import Flow, adrive, drive
from .._stores.protocol import (
    AsyncNewestFirstReads,
    AsyncSectionAppends,
    AsyncStore,
    AsyncWindowReads,
    NewestFirstReads,
    SectionAppends,
    Store,
    WindowRead,
    WindowReads,
    covering,
    head_stop,
    resolve_budget,
    window_floor,
)
from .._values.turns import ConversationRecord, Turn
from .send import (
    Append,
    GetRecord,
    GetTurns,
    Pause,
    ReadNewest,
    ReadTurns,
    ReadWindow,
    UpdateRecord,
    UpdateTurns,
)

__all__ = [
    "AsyncHandlers",
    "Handlers",
    "astore_handlers",
    "pause_seconds",
    "store_handlers",
    "window_flow",
]

#: Effect type → the function that performs it.
Handlers = dict[type, Callable[[Any], Any]]
#: Effect type → the coroutine function that performs it.
AsyncHandlers = dict[type, Callable[[Any], Awaitable[Any]]]

#: The first seq-range read of a budgeted window read without `read_newest`.
_FIRST_RANGE = 64
#: `Pause`: the first and the longest pause, in seconds, before jitter.
_PAUSE_FIRST = 0.001
_PAUSE_MAX = 0.05


def pause_seconds(attempt: int) -> float:
    """How long to pause before try *attempt* + 1: doubling, capped, jittered down."""
    delay: float = min(_PAUSE_FIRST * 2.0 ** min(attempt - 1, 16), _PAUSE_MAX)
    return delay * (0.5 + secrets.randbelow(500) / 1000)


def window_flow(read: ReadWindow, *, newest: bool) -> Flow[WindowRead]:
    """`read_window` made of core reads (a store without `WindowReads`).

    *newest*: the store has `read_newest`. The turns are read up to the record's
    last seq, so they agree with the record even if an append lands between.
    """
    cid = read.conversation_id
    record: ConversationRecord = yield GetRecord(cid)
    floor = window_floor(record)
    budget = resolve_budget(read.budget, record)
    hi = record.last_seq + 1
    turns: tuple[Turn, ...]
    if budget is None:
        lo = floor if read.limit is None else max(floor, hi - read.limit)
        turns = yield ReadTurns(cid, lo, hi)
    elif newest and read.limit is None:
        turns = yield ReadNewest(cid, budget, floor)
        first = (turns[0].seq or hi) if turns else hi
        if floor < first:  # the turn that crosses the budget belongs to the read
            turns = (*(yield ReadTurns(cid, first - 1, first)), *turns)
    else:
        size = read.limit or _FIRST_RANGE
        while True:
            lo = max(floor, hi - size)
            got: tuple[Turn, ...] = yield ReadTurns(cid, lo, hi)
            turns = covering(reversed(got), budget=budget, limit=read.limit)
            if lo <= floor or len(turns) < len(got):
                break
            if sum(t.tokens or 0 for t in turns) > budget:
                break
            size *= 4
    stop = head_stop(turns, floor, read.head)
    head: tuple[Turn, ...] = (yield ReadTurns(cid, 1, stop)) if stop > 1 else ()
    return WindowRead(record, turns, head)


def _plain(e: Append) -> bool:
    """Whether *e* is a core `append` (nothing for `SectionAppends`)."""
    return e.window_start is None and not e.release


def _lease_wait(e: Append) -> dict[str, Any]:
    return {} if e.lease_wait is None else {"lease_wait": e.lease_wait}


def _appender(store: Store) -> Callable[[Append], tuple[Turn, ...]]:
    """`Append` on *store*: through `SectionAppends` when it has it."""
    sections = store if isinstance(store, SectionAppends) else None

    def append(e: Append) -> tuple[Turn, ...]:
        if sections is not None and not _plain(e):
            return sections.append_in_section(
                e.conversation_id,
                e.turns,
                expected_last_seq=e.expected_last_seq,
                updates=e.updates,
                window_start=e.window_start,
                release=e.release,
            )
        if e.window_start is not None:  # a transaction of its own, before the turns
            store.update(e.conversation_id, {"window_start": e.window_start})
        return store.append(
            e.conversation_id,
            e.turns,
            expected_last_seq=e.expected_last_seq,
            updates=e.updates,
            **_lease_wait(e),
        )

    return append


def _aappender(store: AsyncStore) -> Callable[[Append], Awaitable[tuple[Turn, ...]]]:
    """The async twin of `_appender`."""
    sections = store if isinstance(store, AsyncSectionAppends) else None

    async def append(e: Append) -> tuple[Turn, ...]:
        if sections is not None and not _plain(e):
            return await sections.aappend_in_section(
                e.conversation_id,
                e.turns,
                expected_last_seq=e.expected_last_seq,
                updates=e.updates,
                window_start=e.window_start,
                release=e.release,
            )
        if e.window_start is not None:
            await store.aupdate(e.conversation_id, {"window_start": e.window_start})
        return await store.aappend(
            e.conversation_id,
            e.turns,
            expected_last_seq=e.expected_last_seq,
            updates=e.updates,
            **_lease_wait(e),
        )

    return append


def store_handlers(store: Store) -> Handlers:
    """The store effects, performed on *store*."""
    table: Handlers = {
        GetRecord: lambda e: store.get(e.conversation_id),
        ReadTurns: lambda e: store.read(e.conversation_id, start=e.start, stop=e.stop),
        GetTurns: lambda e: store.get_turns(e.conversation_id, e.turn_ids),
        Append: _appender(store),
        UpdateRecord: lambda e: store.update(e.conversation_id, e.changes),
        UpdateTurns: lambda e: store.update_turns(e.conversation_id, e.updates),
        Pause: lambda e: time.sleep(pause_seconds(e.attempt)),
    }
    if isinstance(store, NewestFirstReads):
        newest = store
        table[ReadNewest] = lambda e: newest.read_newest(
            e.conversation_id, budget=e.budget, start=e.start
        )
    if isinstance(store, WindowReads):
        windows = store
        table[ReadWindow] = lambda e: windows.read_window(
            e.conversation_id, budget=e.budget, limit=e.limit, head=e.head
        )
    else:
        has_newest = ReadNewest in table
        table[ReadWindow] = lambda e: drive(
            window_flow(e, newest=has_newest), lambda x: table[type(x)](x)
        )
    return table


def astore_handlers(store: AsyncStore) -> AsyncHandlers:
    """The async twin of `store_handlers`."""
    table: AsyncHandlers = {
        GetRecord: lambda e: store.aget(e.conversation_id),
        ReadTurns: lambda e: store.aread(e.conversation_id, start=e.start, stop=e.stop),
        GetTurns: lambda e: store.aget_turns(e.conversation_id, e.turn_ids),
        Append: _aappender(store),
        UpdateRecord: lambda e: store.aupdate(e.conversation_id, e.changes),
        UpdateTurns: lambda e: store.aupdate_turns(e.conversation_id, e.updates),
        Pause: lambda e: anyio.sleep(pause_seconds(e.attempt)),
    }
    if isinstance(store, AsyncNewestFirstReads):
        newest = store
        table[ReadNewest] = lambda e: newest.aread_newest(
            e.conversation_id, budget=e.budget, start=e.start
        )
    if isinstance(store, AsyncWindowReads):
        windows = store
        table[ReadWindow] = lambda e: windows.aread_window(
            e.conversation_id, budget=e.budget, limit=e.limit, head=e.head
        )
    else:
        has_newest = ReadNewest in table
        table[ReadWindow] = lambda e: adrive(
            window_flow(e, newest=has_newest), lambda x: table[type(x)](x)
        )
    return table
