"""Erasure on the SQL stores: hide in one transaction, then delete in bounded ones.

`erase`, `erase_owner` and `purge` are one plan (`erase_plan`), a generator that
yields `Txn` steps; each twin drives it with its runner (one write transaction a
step), so the logic exists once:

1. hide: one ``UPDATE`` sets `erased_at` (the tombstone) on every conversation
   in scope. From its commit on, the conversations are missing to every other
   call: the hot path's record read has ``erased_at IS NULL`` in its WHERE, so
   the check costs no round trip, and a send's next append, a lease, an update
   or a fork finds nothing (`ConversationNotFoundError`). On PostgreSQL those
   calls lock the record row first, so one that was already inside commits
   before the tombstone does, and one that waited re-reads the row and sees it.
   An owner's erasure hides twice: a fork committed while the first ``UPDATE``
   waited for its parent's row lock is not in that statement's snapshot.
2. delete, a page of tombstoned conversations at a time (by id): for each, its
   turns `TURN_BATCH` seqs per transaction, from the lowest still stored; the
   last transaction also deletes its record (its lease with it).

Nothing here keeps state between steps, so a rerun of an interrupted call finds
the tombstones and finishes them; a `purge` finishes every tombstone it can see.
The counts are what this run deleted. A dry run counts what would go, in one
read, and writes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from attrs import frozen
from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..._drive import Flow, adrive, drive
from ..._exceptions import ConversationNotFoundError
from ..._values.turns import utcnow
from ..protocol import Erased
from ..rules import as_utc, erase_scope
from .runners import AsyncRunnerLike, SyncRunner
from .schema import CONVERSATIONS, TURNS
from .statements import db_now

__all__ = ["PAGE", "TURN_BATCH", "SQLErasure", "Scope", "Txn", "erase_plan"]

#: Turns deleted per transaction: bounds each transaction's locks and log.
TURN_BATCH = 1000
#: Tombstoned conversations read per transaction.
PAGE = 100

_C, _T = CONVERSATIONS.c, TURNS.c


@frozen
class Txn:
    """A step of `erase_plan`: a flow to run as a write transaction of its own."""

    make: Callable[[], Flow[Any]]


@frozen
class Scope:
    """What an erase takes: one conversation, one owner's, or those not updated since.

    *handle* is the owner an owner-bound store handle is bound to.
    """

    kind: Literal["id", "owner", "stale"]
    value: Any
    handle: str | None = None


def _conditions(
    scope: Scope, dialect: str, *, hidden: bool
) -> list[ColumnElement[bool]]:
    """The rows of *scope*: visible ones (to hide), or already hidden (to finish)."""
    out: list[ColumnElement[bool]] = [
        _C.erased_at.is_not(None) if hidden else _C.erased_at.is_(None)
    ]
    if scope.handle is not None:
        out.append(_C.owner == scope.handle)
    if scope.kind == "id":
        out.append(_C.id == scope.value)
    elif scope.kind == "owner":
        out.append(_C.owner == scope.value)
    elif not hidden:  # a purge finishes every tombstone, whatever hid it
        # Not one under a live lease (a send in flight): the lease is on the row,
        # so the UPDATE's recheck of a row it waited for sees one taken meanwhile.
        free = or_(_C.lease_expires.is_(None), _C.lease_expires < db_now(dialect))
        out += [_C.updated_at < scope.value, free]
    return out


def hide_flow(scope: Scope, dialect: str) -> Flow[int]:
    """Set the tombstone on the visible conversations of *scope*; return how many."""
    result = yield (
        update(CONVERSATIONS)
        .where(*_conditions(scope, dialect, hidden=False))
        .values(erased_at=utcnow())
    )
    return int(result.rowcount)


def pending_flow(scope: Scope, dialect: str, after: str) -> Flow[list[Any]]:
    """A page of hidden conversations of *scope* (id > *after*), with their lowest seq."""
    lowest = (
        select(func.min(_T.seq)).where(_T.conversation_id == _C.id).scalar_subquery()
    )
    rows = yield (
        select(_C.id, _C.last_seq, lowest)
        .where(*_conditions(scope, dialect, hidden=True), _C.id > after)
        .order_by(_C.id)
        .limit(PAGE)
    )
    return list(rows.all())


def delete_batch_flow(conversation_id: str, lo: int, *, last: bool) -> Flow[Erased]:
    """Delete turns lo <= seq < lo + `TURN_BATCH`; with *last*, the rest and the record."""
    where = [_T.conversation_id == conversation_id, _T.seq >= lo]
    if not last:
        where.append(_T.seq < lo + TURN_BATCH)
    turns = (yield delete(TURNS).where(*where)).rowcount
    if not last:
        return Erased(0, int(turns))
    records = (
        yield delete(CONVERSATIONS).where(
            _C.id == conversation_id, _C.erased_at.is_not(None)
        )
    ).rowcount
    return Erased(int(records), int(turns))


def count_flow(scope: Scope, dialect: str) -> Flow[Erased]:
    """Count what erasing *scope* would delete (visible and hidden), writing nothing."""
    chosen = or_(
        and_(*_conditions(scope, dialect, hidden=False)),
        and_(*_conditions(scope, dialect, hidden=True)),
    )
    ids = select(_C.id).where(chosen)
    conversations = (yield select(func.count()).select_from(ids.subquery())).scalar()
    turns = (yield select(func.count()).where(_T.conversation_id.in_(ids))).scalar()
    return Erased(int(conversations or 0), int(turns or 0))


def _finish(conversation_id: str, last_seq: int, lowest: int | None) -> Flow[Erased]:
    """Delete one hidden conversation, `TURN_BATCH` turns a transaction."""
    erased = Erased()
    lo = last_seq + 1 if lowest is None else lowest
    while True:
        last = lo + TURN_BATCH > last_seq
        step = functools.partial(delete_batch_flow, conversation_id, lo, last=last)
        done: Erased = yield Txn(step)
        erased += done
        if last:
            return erased
        lo += TURN_BATCH


def erase_plan(scope: Scope, dialect: str, *, dry_run: bool = False) -> Flow[Erased]:
    """Erase *scope*: hide, then delete a batch at a time; see the module docstring."""
    if dry_run:
        counted: Erased = yield Txn(functools.partial(count_flow, scope, dialect))
        return counted
    hide = functools.partial(hide_flow, scope, dialect)
    yield Txn(hide)
    if scope.kind == "owner":
        yield Txn(hide)
    erased = Erased()
    after = ""
    while True:
        page = yield Txn(functools.partial(pending_flow, scope, dialect, after))
        for conversation_id, last_seq, lowest in page:
            erased += yield from _finish(conversation_id, int(last_seq), lowest)
        if len(page) < PAGE:
            return erased
        after = page[-1][0]


def _named(make: Callable[[], Flow[Any]], operation: str) -> Callable[[], Flow[Any]]:
    """*make*, whose flows are named for the store call they serve.

    A store error names the operation that failed after its flow (`operation_of`):
    "delete" or "purge", not the step ("hide_flow").
    """

    def named() -> Flow[Any]:
        flow = make()
        setattr(flow, "__name__", operation)  # noqa: B010 - a generator's, writable
        return flow

    return named


class SQLErasure:
    """The `Erasure` and `AsyncErasure` methods of `SQLStore`."""

    _runner: SyncRunner
    _arunner: AsyncRunnerLike
    _dialect: str
    _owner: str | None

    def _scope(self, kind: Literal["id", "owner", "stale"], value: Any) -> Scope:
        return Scope(kind, value, self._owner)

    def _drive(self, plan: Flow[Erased], operation: str) -> Erased:
        def run(step: Txn) -> Any:
            return self._runner.run(_named(step.make, operation), write=True)

        return drive(plan, run)

    async def _adrive(self, plan: Flow[Erased], operation: str) -> Erased:
        async def run(step: Txn) -> Any:
            return await self._arunner.run(_named(step.make, operation), write=True)

        return await adrive(plan, run)

    def erase(self, conversation_id: str) -> Erased:
        """Erase one conversation, its turns and its lease; `Erased()` if unknown."""
        plan = erase_plan(self._scope("id", conversation_id), self._dialect)
        return self._drive(plan, "erase")

    def erase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """Erase every conversation of *owner*, forks included."""
        if erase_scope(owner, self._owner) is None:
            return Erased()
        plan = erase_plan(self._scope("owner", owner), self._dialect, dry_run=dry_run)
        return self._drive(plan, "erase_owner")

    def purge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """Erase every conversation not updated since *before*, unless a send is in it."""
        scope = self._scope("stale", as_utc(before))
        return self._drive(erase_plan(scope, self._dialect, dry_run=dry_run), "purge")

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation as `erase` does: hidden first, then in batches.

        Raises:
            ConversationNotFoundError: there was nothing to delete.
        """
        plan = erase_plan(self._scope("id", conversation_id), self._dialect)
        if self._drive(plan, "delete").conversations == 0:
            raise ConversationNotFoundError(conversation_id)

    async def aerase(self, conversation_id: str) -> Erased:
        """See `erase`."""
        plan = erase_plan(self._scope("id", conversation_id), self._dialect)
        return await self._adrive(plan, "erase")

    async def aerase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """See `erase_owner`."""
        if erase_scope(owner, self._owner) is None:
            return Erased()
        plan = erase_plan(self._scope("owner", owner), self._dialect, dry_run=dry_run)
        return await self._adrive(plan, "erase_owner")

    async def apurge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """See `purge`."""
        scope = self._scope("stale", as_utc(before))
        plan = erase_plan(scope, self._dialect, dry_run=dry_run)
        return await self._adrive(plan, "purge")

    async def adelete(self, conversation_id: str) -> None:
        """See `delete`."""
        plan = erase_plan(self._scope("id", conversation_id), self._dialect)
        if (await self._adrive(plan, "delete")).conversations == 0:
            raise ConversationNotFoundError(conversation_id)
