"""MemoryStore: conversations in a dict, for tests, notebooks and short-lived scripts.

Nothing persists. One `MemoryStore` serves sync and async callers alike: the async
methods run the same code directly (there is no I/O to wait for).

Concurrency: one re-entrant mutex guards the data, so every method is atomic with
respect to the others across threads. The exclusive section (`lock` / `alock`) is a
`threading.Lock` per conversation, shared by every handle of the store: a sync
caller blocks on it up to *timeout*; an async caller never blocks the event loop,
it tries the lock and sleeps between tries (1 ms, doubling up to 50 ms) until the
timeout. So sync and async callers, in any threads, exclude one another. The
section is not re-entrant, and does not span processes: nothing else can see a
MemoryStore anyway. An append with `lease_wait` takes the section for the instant
of its write (waiting for it as `lock` does), so it never lands inside another
holder's section.

Erasure (`erase`, `erase_owner`, `purge`) happens under the mutex in one step, so
there is no hidden-but-not-yet-deleted state to resume; it does not wait for a
conversation's section: a send inside it finds the conversation gone at its next
write.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from datetime import datetime
from typing import Any

import anyio
from attrs import evolve

from .._exceptions import ConversationBusyError, ConversationNotFoundError, StoreError
from .._values.turns import ConversationRecord, Turn, UsageTotals, utcnow
from .protocol import (
    DEFAULT_LOCK_TIMEOUT,
    Erased,
    Page,
    ReadBudget,
    TurnUpdate,
    WindowRead,
)
from .rules import (
    apply_changes,
    apply_turn_update,
    check_limit,
    check_metadata_filter,
    check_owner,
    check_updates,
    covering,
    decode_cursor,
    encode_cursor,
    erase_scope,
    fork_record,
    head_stop,
    is_stale,
    metadata_matches,
    newest_within,
    plan_append,
    record_for_create,
    resolve_budget,
    sum_usage,
    window_floor,
)

__all__ = ["MemoryStore"]

#: The async lock's first and longest sleep between tries, in seconds.
_POLL_FIRST = 0.001
_POLL_MAX = 0.05


class _Data:
    """Everything a MemoryStore holds; shared by its owner-bound handles."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.records: dict[str, ConversationRecord] = {}
        self.turns: dict[str, list[Turn]] = {}
        self.by_id: dict[str, dict[str, Turn]] = {}
        self.locks: dict[str, threading.Lock] = {}


class MemoryStore:
    """A store that keeps everything in memory; implements `Store` and `AsyncStore`.

    Example::

        store = MemoryStore()
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")
    """

    def __init__(self) -> None:
        self._data = _Data()
        self._owner: str | None = None

    def __repr__(self) -> str:
        owner = f"owner={self._owner!r}" if self._owner is not None else ""
        return f"MemoryStore({owner})"

    def for_owner(self, owner: str) -> MemoryStore:
        """Return a handle on the same data that sees only *owner*'s conversations.

        Raises:
            StoreError: this handle is already bound to another owner.
        """
        if self._owner is not None and owner != self._owner:
            msg = f"this store handle is bound to owner {self._owner!r}"
            raise StoreError(msg)
        handle = MemoryStore()
        handle._data = self._data
        handle._owner = owner
        return handle

    # -- helpers ----------------------------------------------------------------

    def _record(self, conversation_id: str) -> ConversationRecord:
        """Return the record if this handle may see it (call with the mutex held)."""
        record = self._data.records.get(conversation_id)
        if record is None:
            raise ConversationNotFoundError(conversation_id)
        return check_owner(record, self._owner)

    def _conversation_lock(self, conversation_id: str) -> threading.Lock:
        with self._data.mutex:
            self._record(conversation_id)
            return self._data.locks.setdefault(conversation_id, threading.Lock())

    # -- Store ------------------------------------------------------------------

    def create(self, record: ConversationRecord) -> ConversationRecord:
        """Store a new conversation record and return it as stored.

        Raises:
            StoreError: a conversation with that id exists.
        """
        stored = record_for_create(record, self._owner)
        with self._data.mutex:
            if stored.id in self._data.records:
                msg = f"conversation {stored.id!r} already exists"
                raise StoreError(msg)
            self._data.records[stored.id] = stored
            self._data.turns[stored.id] = []
            self._data.by_id[stored.id] = {}
        return stored

    def get(self, conversation_id: str) -> ConversationRecord:
        """Return the record of *conversation_id*."""
        with self._data.mutex:
            return self._record(conversation_id)

    def update(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """Change the named record fields and return the record."""
        with self._data.mutex:
            record = apply_changes(self._record(conversation_id), changes)
            self._data.records[conversation_id] = record
            return record

    def append(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        lease_wait: float | None = None,
    ) -> tuple[Turn, ...]:
        """Store *turns* atomically after the last seq and return them as stored.

        With *lease_wait*, wait (up to that long) while another holder is inside
        the conversation's section.
        """
        if lease_wait is None:
            return self._append(conversation_id, turns, expected_last_seq, updates)
        lock = self._conversation_lock(conversation_id)
        if not lock.acquire(timeout=max(lease_wait, 0.0)):
            raise ConversationBusyError(
                conversation_id=conversation_id, timeout=lease_wait
            )
        try:
            return self._append(conversation_id, turns, expected_last_seq, updates)
        finally:
            lock.release()

    def _append(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        updates: Sequence[TurnUpdate],
    ) -> tuple[Turn, ...]:
        with self._data.mutex:
            record = self._record(conversation_id)
            existing = range(1, len(self._data.turns[conversation_id]) + 1)
            check_updates(conversation_id, updates, existing)
            by_id = self._data.by_id[conversation_id]
            stored = {t.id: by_id[t.id] for t in turns if t.id in by_id}
            plan = plan_append(
                conversation_id,
                turns,
                stored,
                last_seq=record.last_seq,
                expected_last_seq=expected_last_seq,
            )
            self._apply_updates(conversation_id, updates)
            if plan.new:
                self._data.turns[conversation_id].extend(plan.new)
                by_id.update((t.id, t) for t in plan.new)
                self._data.records[conversation_id] = evolve(
                    record, last_seq=plan.last_seq, updated_at=utcnow()
                )
            return plan.result

    def read(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """Return the turns with `start <= seq < stop`, oldest first."""
        with self._data.mutex:
            self._record(conversation_id)
            turns = self._data.turns[conversation_id]
            first = max(start, 1) - 1
            last = len(turns) if stop is None else max(first, min(stop - 1, len(turns)))
            return tuple(turns[first:last])

    def read_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """Return the newest turns (seq >= *start*) whose token counts fit *budget*."""
        with self._data.mutex:
            self._record(conversation_id)
            turns = self._data.turns[conversation_id]
            first = max(start, 1) - 1
            return newest_within(
                (turns[i] for i in range(len(turns) - 1, first - 1, -1)), budget
            )

    def read_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """Return the record, the newest turns from its window start, and the head."""
        with self._data.mutex:
            record = self._record(conversation_id)
            turns = self._data.turns[conversation_id]
            floor = window_floor(record)
            window = covering(
                (turns[i] for i in range(len(turns) - 1, floor - 2, -1)),
                budget=resolve_budget(budget, record),
                limit=limit,
            )
            stop = head_stop(window, floor, head)
            return WindowRead(record, window, tuple(turns[: stop - 1]))

    def get_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """Return the stored turns among *turn_ids*, oldest first."""
        with self._data.mutex:
            self._record(conversation_id)
            by_id = self._data.by_id[conversation_id]
            found = {by_id[i] for i in turn_ids if i in by_id}
            return tuple(sorted(found, key=lambda t: t.seq or 0))

    def update_turns(self, conversation_id: str, updates: Sequence[TurnUpdate]) -> None:
        """Apply bookkeeping *updates* to stored turns (all or none)."""
        with self._data.mutex:
            self._record(conversation_id)
            turns = self._data.turns[conversation_id]
            check_updates(conversation_id, updates, range(1, len(turns) + 1))
            self._apply_updates(conversation_id, updates)

    def _apply_updates(
        self, conversation_id: str, updates: Sequence[TurnUpdate]
    ) -> None:
        """Apply checked bookkeeping updates; the caller holds the mutex."""
        turns = self._data.turns[conversation_id]
        for update in updates:
            turn = apply_turn_update(turns[update.seq - 1], update)
            turns[update.seq - 1] = turn
            self._data.by_id[conversation_id][turn.id] = turn

    def list(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """List conversations, newest created first, filtered by owner and metadata."""
        filters = check_metadata_filter(metadata)
        check_limit(limit)
        after = decode_cursor(cursor) if cursor is not None else None
        if self._owner is not None:
            if owner is not None and owner != self._owner:
                return Page(())
            owner = self._owner
        with self._data.mutex:
            records = builtins.list(self._data.records.values())
        chosen = sorted(
            (
                r
                for r in records
                if (owner is None or r.owner == owner)
                and metadata_matches(r.metadata, filters)
                and (after is None or (r.created_at, r.id) < after)
            ),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        items = tuple(chosen[:limit])
        more = len(chosen) > limit
        return Page(
            items, encode_cursor(items[-1].created_at, items[-1].id) if more else None
        )

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and all its turns."""
        with self._data.mutex:
            self._record(conversation_id)
            self._remove(conversation_id)

    def _remove(self, conversation_id: str) -> int:
        """Drop a conversation; return its number of turns (the caller holds the mutex)."""
        del self._data.records[conversation_id]
        turns = len(self._data.turns.pop(conversation_id))
        del self._data.by_id[conversation_id]
        lock = self._data.locks.get(conversation_id)
        if lock is not None and not lock.locked():
            del self._data.locks[conversation_id]
        return turns

    def erase(self, conversation_id: str) -> Erased:
        """Erase one conversation, its turns and its lock; `Erased()` if unknown."""
        with self._data.mutex:
            record = self._data.records.get(conversation_id)
            if record is None or (
                self._owner is not None and record.owner != self._owner
            ):
                return Erased()
            return Erased(1, self._remove(conversation_id))

    def erase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """Erase every conversation of *owner*, forks included."""
        scope = erase_scope(owner, self._owner)
        if scope is None:
            return Erased()
        return self._erase_where(lambda r: r.owner == scope, dry_run=dry_run)

    def purge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """Erase every conversation not updated since *before* and not locked now."""

        def stale(record: ConversationRecord) -> bool:
            lock = self._data.locks.get(record.id)
            return (
                (self._owner is None or record.owner == self._owner)
                and is_stale(record, before)
                and not (lock is not None and lock.locked())
            )

        return self._erase_where(stale, dry_run=dry_run)

    def _erase_where(
        self, chosen: Callable[[ConversationRecord], bool], *, dry_run: bool
    ) -> Erased:
        with self._data.mutex:
            ids = [r.id for r in self._data.records.values() if chosen(r)]
            if dry_run:
                return Erased(len(ids), sum(len(self._data.turns[i]) for i in ids))
            return Erased(len(ids), sum(self._remove(i) for i in ids))

    def fork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """Copy turns 1..*at_seq* under a new conversation linked to its parent."""
        with self._data.mutex:
            record = fork_record(self._record(conversation_id), at_seq, new_id)
            if record.id in self._data.records:
                msg = f"conversation {record.id!r} already exists"
                raise StoreError(msg)
            prefix = self._data.turns[conversation_id][:at_seq]
            self._data.records[record.id] = record
            self._data.turns[record.id] = builtins.list(prefix)
            self._data.by_id[record.id] = {t.id: t for t in prefix}
            return record

    def usage(self, conversation_id: str) -> UsageTotals:
        """Sum the usage of the conversation's assistant turns."""
        with self._data.mutex:
            self._record(conversation_id)
            turns = builtins.list(self._data.turns[conversation_id])
        return sum_usage(t.usage for t in turns if t.usage is not None)

    def lock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractContextManager[None]:
        """Hold the conversation's exclusive section for the `with` block.

        Raises:
            ConversationBusyError: another holder kept it past *timeout* seconds.
        """
        return self._lock(conversation_id, timeout)

    @contextmanager
    def _lock(self, conversation_id: str, timeout: float) -> Iterator[None]:
        lock = self._conversation_lock(conversation_id)
        if not lock.acquire(timeout=max(timeout, 0.0)):
            raise ConversationBusyError(
                conversation_id=conversation_id, timeout=timeout
            )
        try:
            yield
        finally:
            lock.release()

    def close(self) -> None:
        """Do nothing: a MemoryStore holds no resources."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- AsyncStore -------------------------------------------------------------

    async def acreate(self, record: ConversationRecord) -> ConversationRecord:
        """See `create`."""
        return self.create(record)

    async def aget(self, conversation_id: str) -> ConversationRecord:
        """See `get`."""
        return self.get(conversation_id)

    async def aupdate(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """See `update`."""
        return self.update(conversation_id, changes)

    async def aappend(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        lease_wait: float | None = None,
    ) -> tuple[Turn, ...]:
        """See `append`; waits for the section without blocking the event loop."""
        if lease_wait is None:
            return self._append(conversation_id, turns, expected_last_seq, updates)
        async with self._alock(conversation_id, lease_wait):
            return self._append(conversation_id, turns, expected_last_seq, updates)

    async def aread(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """See `read`."""
        return self.read(conversation_id, start=start, stop=stop)

    async def aread_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """See `read_newest`."""
        return self.read_newest(conversation_id, budget=budget, start=start)

    async def aread_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """See `read_window`."""
        return self.read_window(conversation_id, budget=budget, limit=limit, head=head)

    async def aget_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """See `get_turns`."""
        return self.get_turns(conversation_id, turn_ids)

    async def aupdate_turns(
        self, conversation_id: str, updates: Sequence[TurnUpdate]
    ) -> None:
        """See `update_turns`."""
        self.update_turns(conversation_id, updates)

    async def alist(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """See `list`."""
        return self.list(owner=owner, metadata=metadata, limit=limit, cursor=cursor)

    async def adelete(self, conversation_id: str) -> None:
        """See `delete`."""
        self.delete(conversation_id)

    async def afork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """See `fork`."""
        return self.fork(conversation_id, at_seq, new_id=new_id)

    async def aerase(self, conversation_id: str) -> Erased:
        """See `erase`."""
        return self.erase(conversation_id)

    async def aerase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """See `erase_owner`."""
        return self.erase_owner(owner, dry_run=dry_run)

    async def apurge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """See `purge`."""
        return self.purge(before=before, dry_run=dry_run)

    async def ausage(self, conversation_id: str) -> UsageTotals:
        """See `usage`."""
        return self.usage(conversation_id)

    def alock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractAsyncContextManager[None]:
        """See `lock`; waits without blocking the event loop."""
        return self._alock(conversation_id, timeout)

    @asynccontextmanager
    async def _alock(self, conversation_id: str, wait: float) -> AsyncIterator[None]:
        lock = self._conversation_lock(conversation_id)
        deadline = time.monotonic() + wait
        delay = _POLL_FIRST
        while not lock.acquire(blocking=False):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConversationBusyError(
                    conversation_id=conversation_id, timeout=wait
                )
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)
        try:
            yield
        finally:
            lock.release()

    async def aclose(self) -> None:
        """See `close`."""
        self.close()

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
