"""The store protocols: what conversa needs from storage, sync and async.

One store object serves both `Conversation` and `AsyncConversation`, so the async
twin's methods carry an `a` prefix (`append` / `aappend`), the way svcs pairs
`get` / `aget`. Every store shipped with conversa implements both twins; a
third-party store may implement either.

The protocols are split by who calls them:

- `Store` / `AsyncStore`, the core: every method conversa itself calls on a store
  (`Conversation`, its flows and its batches, the CLI). A store that implements it
  supports every `Conversation` and `Batches` method.
- Capabilities, small optional protocols that conversa never calls; they serve
  applications, and a store implements them or not. They are
  `@runtime_checkable`, so ``isinstance(store, OwnerScoped)`` probes for one (it
  checks that the methods exist, not their signatures):

  - `NewestFirstReads` / `AsyncNewestFirstReads`: ``read_newest``, the newest
    turns that fit a token budget, reading O(window) rows;
  - `OwnerScoped` / `AsyncOwnerScoped`: ``for_owner``, a handle that sees only one
    owner's conversations (multi-tenancy);
  - `WindowReads` / `AsyncWindowReads`: ``read_window``, the record and the newest
    turns from its window start in one read (conversa uses it when a store has it,
    and otherwise makes the same reads with `get` and `read`);
  - `Erasure` / `AsyncErasure`: ``erase``, ``erase_owner`` and ``purge``, retention
    and erasure that hide first and delete after, resumably, reporting `Erased`.

Semantics every implementation keeps (`conversa.testing.store_contract` checks
them; the capabilities' tests run when the store has the capability):

- Turns of a conversation get a gapless seq, 1, 2, 3, ...; an append is atomic.
- An append is idempotent by turn id: a turn whose id is already stored with the
  same content comes back as stored; with other content, `TurnIdConflictError`.
- `expected_last_seq` makes an append conditional (optimistic concurrency):
  `SeqConflictError` if the conversation's last seq differs.
- `lease_wait` makes an append one that holds no lease of its own (`add`, an
  import): while another holder is inside the conversation's exclusive section
  (`lock`), it waits, up to `lease_wait` seconds, and then raises
  `ConversationBusyError`, writing nothing; the check and the write are one
  transaction, so no such append lands inside a section (between a send's user
  turn and its reply). Without `lease_wait` an append ignores the section: that is
  how the holder itself appends.
- Turn content never changes; only bookkeeping does (`update_turns`).
- `lock` is an exclusive section per conversation that holds across processes, waits
  up to *timeout* seconds and then raises `ConversationBusyError`; it holds no write
  transaction open, and a process that dies inside it does not leave it locked.
- A handle from `for_owner(owner)` sees only that owner's conversations; the others
  raise `ConversationNotFoundError` as if they did not exist.
- Every error is a `StoreError`, never a driver's: a database that cannot be
  reached or stops answering is `StoreUnavailableError`, a damaged one
  `StoreCorruptError`, both naming the file or the URL (password masked), at open
  or at the call that failed.

A store author reuses the rules behind these semantics from
`conversa._stores.rules` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

from .._core.estimate import estimate_blocks
from .._values.turns import (
    ConversationRecord,
    Turn,
    TurnUpdate,
    UsageTotals,
)

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LOCK_TIMEOUT",
    "UPDATABLE_FIELDS",
    "AsyncErasure",
    "AsyncNewestFirstReads",
    "AsyncOwnerScoped",
    "AsyncSectionAppends",
    "AsyncStore",
    "AsyncWindowReads",
    "Erased",
    "Erasure",
    "NewestFirstReads",
    "OwnerScoped",
    "Page",
    "ReadBudget",
    "SectionAppends",
    "Store",
    "TurnUpdate",
    "WindowRead",
    "WindowReads",
    "covering",
    "head_stop",
    "resolve_budget",
    "window_floor",
]

#: The record fields `update` may change. Everything else is the store's to keep.
UPDATABLE_FIELDS = frozenset(
    {"model", "system", "params", "metadata", "capabilities", "window_start", "flags"}
)

#: The default wait for a conversation's exclusive section, in seconds.
DEFAULT_LOCK_TIMEOUT = 60.0

#: How long a lock survives without being renewed: a process that died holding it
#: frees the conversation after this long.
DEFAULT_LEASE_SECONDS = 30.0


@frozen
class Page:
    """One page of a conversation listing; pass *next_cursor* to get the next."""

    items: tuple[ConversationRecord, ...]
    next_cursor: str | None = None


#: A read's token budget: a number, or a function of the record just read (a
#: conversation's budget depends on its model and settings); None, or a function
#: returning None, reads without one.
ReadBudget = int | Callable[[ConversationRecord], int | None] | None


@frozen
class WindowRead:
    """What `read_window` returns: a record and turns read in one transaction.

    Attributes:
        record: the conversation record.
        turns: the newest turns from the record's window start (seq >=
            ``max(window_start, 1)``), oldest first; all of them unless a
            *budget* or *limit* stopped the read.
        head: the first turns of the conversation (seq 1..*head*) that come
            before *turns*, when asked for; empty when *turns* start at seq 1.
    """

    record: ConversationRecord
    turns: tuple[Turn, ...]
    head: tuple[Turn, ...] = ()


class Store(Protocol):
    """Synchronous storage for conversations and their turns: the core protocol.

    These are the methods conversa calls; a store that has them works with every
    `Conversation` and `Batches` method. The optional capabilities are
    `NewestFirstReads`, `OwnerScoped`, `WindowReads`, `SectionAppends` and
    `Erasure`.

    Every method that takes a *conversation_id* raises `ConversationNotFoundError`
    for a conversation that does not exist (or that an owner-bound handle may not
    see); `lock` raises it on entry.
    """

    def create(self, record: ConversationRecord) -> ConversationRecord:
        """Store a new conversation record and return it as stored.

        The stored record has no turns (`last_seq` 0), JSON-shaped mappings, no
        secrets in its params and UTC times (`rules.record_for_create`).

        Raises:
            StoreError: a conversation with this id exists.
            InvalidInputError: a mapping is not JSON-serializable.
        """
        ...

    def get(self, conversation_id: str) -> ConversationRecord:
        """Return the record of *conversation_id*, or raise `ConversationNotFoundError`."""
        ...

    def update(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """Change the named record fields (`UPDATABLE_FIELDS`) and return the record.

        `updated_at` becomes now, unless *changes* holds ``updated_at`` (a
        datetime): then that, as an import restores an exported record's time.

        Raises:
            InvalidInputError: another field, or a value of the wrong kind
                (`rules.apply_changes`).
        """
        ...

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

        Idempotent by turn id, all or nothing, gapless seqs (`rules.plan_append`).
        *updates* change the bookkeeping of turns already stored, in the same
        transaction (a send records the exact counts it learned with its reply).

        *lease_wait* (seconds) marks an append made outside the conversation's
        exclusive section, holding no lease of its own: while another holder is
        inside the section (`lock`), it waits, up to *lease_wait*, and writes
        once the section is free, checking that in the same transaction as the
        write. None (the default) ignores the section, as its holder does.

        Raises:
            TurnIdConflictError: a stored turn id with other content.
            SeqConflictError: *expected_last_seq* is stale and something new
                would be written.
            ConversationBusyError: with *lease_wait*, the section stayed held
                that long; nothing was written.
            StoreError: an update names a seq that is not stored.
        """
        ...

    def read(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """Return the turns with `start <= seq < stop`, oldest first."""
        ...

    def get_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """Return the stored turns among *turn_ids*, oldest first; unknown ids are skipped."""
        ...

    def update_turns(self, conversation_id: str, updates: Sequence[TurnUpdate]) -> None:
        """Apply bookkeeping *updates* to stored turns, all or none.

        Raises:
            StoreError: an update names a seq that is not stored.
        """
        ...

    def list(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """List conversations, newest first, filtered by owner and metadata equality.

        Pages with an opaque keyset cursor over (created_at, id); metadata filters
        compare top-level keys with JSON scalars (`rules.encode_cursor`,
        `rules.metadata_matches`).

        Raises:
            InvalidInputError: a non-scalar filter, a limit below 1, a cursor that
                no store made.
        """
        ...

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and everything of it; its id may be created again."""
        ...

    def fork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """Copy turns 1..*at_seq* under a new conversation linked to its parent.

        The fork keeps the parent's owner and settings (`rules.fork_record`).

        Raises:
            InvalidInputError: *at_seq* is negative or past the last seq.
        """
        ...

    def usage(self, conversation_id: str) -> UsageTotals:
        """Sum the usage of the conversation's assistant turns."""
        ...

    def lock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractContextManager[None]:
        """Hold the conversation's exclusive section for the `with` block.

        Raises:
            ConversationBusyError: another holder kept it past *timeout* seconds.
        """
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class AsyncStore(Protocol):
    """The async twin of `Store`: the same methods with an `a` prefix.

    `alock` and `for_owner` are plain methods: they return a context manager and
    a handle without awaiting anything. The optional capabilities are the
    `Async` twins of `Store`'s.
    """

    async def acreate(self, record: ConversationRecord) -> ConversationRecord:
        """See `Store.create`."""
        ...

    async def aget(self, conversation_id: str) -> ConversationRecord:
        """See `Store.get`."""
        ...

    async def aupdate(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """See `Store.update`."""
        ...

    async def aappend(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        lease_wait: float | None = None,
    ) -> tuple[Turn, ...]:
        """See `Store.append`; waits for the section without blocking the event loop."""
        ...

    async def aread(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """See `Store.read`."""
        ...

    async def aget_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """See `Store.get_turns`."""
        ...

    async def aupdate_turns(
        self, conversation_id: str, updates: Sequence[TurnUpdate]
    ) -> None:
        """See `Store.update_turns`."""
        ...

    async def alist(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """See `Store.list`."""
        ...

    async def adelete(self, conversation_id: str) -> None:
        """See `Store.delete`."""
        ...

    async def afork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """See `Store.fork`."""
        ...

    async def ausage(self, conversation_id: str) -> UsageTotals:
        """See `Store.usage`."""
        ...

    def alock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractAsyncContextManager[None]:
        """See `Store.lock`."""
        ...

    async def aclose(self) -> None:
        """See `Store.close`."""
        ...


# -- the rules of read_window (also in `rules`; the flows reach them here) ------


def window_floor(record: ConversationRecord) -> int:
    """The first seq `read_window` reads: the window start (seqs begin at 1)."""
    return max(record.window_start, 1)


def resolve_budget(budget: ReadBudget, record: ConversationRecord) -> int | None:
    """A `read_window` budget as a number: called with the record if it is a function."""
    if budget is None or isinstance(budget, int):
        return budget
    value = budget(record)
    return None if value is None else int(value)


def covering(
    turns_newest_first: Iterable[Turn], *, budget: int | None, limit: int | None
) -> tuple[Turn, ...]:
    """Take turns newest first: *limit* of them, or until they hold more than *budget*.

    The turn that carries the total over *budget* is taken too, so a caller can
    tell a read that stopped early (it holds more than *budget*) from one that
    ran out of turns. A turn with no token count counts its estimate. Returns
    them oldest first.
    """
    taken: list[Turn] = []
    total = 0
    for turn in turns_newest_first:
        if limit is not None and len(taken) >= limit:
            break
        if budget is not None and total > budget:
            break
        taken.append(turn)
        total += (
            turn.tokens if turn.tokens is not None else estimate_blocks(turn.blocks)
        )
    taken.reverse()
    return tuple(taken)


def head_stop(turns: Sequence[Turn], floor: int, head: int) -> int:
    """One past the last seq of the head `read_window` returns with *turns*.

    The head is seqs 1 up to *head*, and before the first turn returned (or
    before *floor* when none was).
    """
    first = turns[0].seq if turns and turns[0].seq is not None else floor
    return min(head, first - 1) + 1 if head > 0 else 1


# -- capabilities: optional, probed with isinstance ---------------------------


@runtime_checkable
class NewestFirstReads(Protocol):
    """A store that reads a conversation's newest turns within a token budget.

    For an application's own windowed reads; conversa's conversations read by seq
    range. A SQL store reads only the rows it returns.
    """

    def read_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """Return the newest turns (seq >= *start*) whose token counts fit *budget*.

        Reads newest first and stops at the first turn that would overflow the budget,
        reading only the rows it needs; the result is oldest first. A turn with no
        token count is counted by its estimate.
        """
        ...


@runtime_checkable
class AsyncNewestFirstReads(Protocol):
    """The async twin of `NewestFirstReads`."""

    async def aread_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """See `NewestFirstReads.read_newest`."""
        ...


@runtime_checkable
class OwnerScoped(Protocol):
    """A store that gives owner-bound handles, for multi-tenant applications.

    A handle sees only its owner's conversations: any other conversation raises
    `ConversationNotFoundError`, as if it did not exist, and `create` stores the
    handle's owner. A handle may be bound again to its own owner, never to another
    (`StoreError`).
    """

    def for_owner(self, owner: str) -> Store:
        """Return a handle that sees only *owner*'s conversations."""
        ...


@runtime_checkable
class AsyncOwnerScoped(Protocol):
    """The async twin of `OwnerScoped`: `for_owner` returns an `AsyncStore`."""

    def for_owner(self, owner: str) -> AsyncStore:
        """See `OwnerScoped.for_owner`."""
        ...


@runtime_checkable
class WindowReads(Protocol):
    """A store that reads a record and its newest turns in one transaction.

    conversa reads through it when a store has it (a send, an `add`): one round
    trip instead of `get` then `read`, and the turns from the same snapshot as the
    record. `rules.covering` is the rule for which turns it returns.
    """

    def read_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """Return the record, the newest turns from its window start, and the head.

        Turns with seq >= ``max(record.window_start, 1)`` are read newest first,
        stopping after *limit* turns, or once their token counts add up to more
        than *budget* (the turn that crosses it is included, so a read that did
        not reach the window start holds more than *budget*); with neither,
        all of them. *budget* may be a function of the record read (returning
        None for no budget). *head* asks
        for up to that many of the conversation's first turns as well, those
        before the turns returned. Reads O(turns returned) rows.
        """
        ...


@runtime_checkable
class AsyncWindowReads(Protocol):
    """The async twin of `WindowReads`."""

    async def aread_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """See `WindowReads.read_window`."""
        ...


@runtime_checkable
class SectionAppends(Protocol):
    """A store whose send writes fold into its appends: fewer transactions a send.

    Without it, a send that moves the window start writes the record first (one
    more transaction), and the lease is released in a transaction of its own when
    the `lock` block ends. `conversa.testing.store_contract` checks both.
    """

    def append_in_section(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        window_start: int | None = None,
        release: bool = False,
    ) -> tuple[Turn, ...]:
        """`Store.append`, made inside the caller's own `lock` block, and more.

        *window_start* is stored in the record in the same transaction, if any
        turn is written. *release*: the caller writes nothing more in its section,
        so the store may release the lease in the same transaction (it must still
        accept the `lock` block's end afterwards, and release then if it did not).
        """
        ...


@runtime_checkable
class AsyncSectionAppends(Protocol):
    """The async twin of `SectionAppends`."""

    async def aappend_in_section(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        window_start: int | None = None,
        release: bool = False,
    ) -> tuple[Turn, ...]:
        """See `SectionAppends.append_in_section`."""
        ...


@frozen
class Erased:
    """What an erase, an owner's erasure or a purge removed (or, dry, would remove).

    Attributes:
        conversations: conversation records deleted (forks count as their own).
        turns: turns deleted with them.
    """

    conversations: int = 0
    turns: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.conversations + other.conversations, self.turns + other.turns
        )


@runtime_checkable
class Erasure(Protocol):
    """A store that erases for retention and data-protection requests.

    Each method first hides what it erases, in one transaction (a tombstone:
    from then on `get`, `read`, `list`, `append`, `lock` and the rest behave as
    if the conversations did not exist), then deletes their turns in bounded
    batches, then their leases and records. A run that was interrupted (a crash,
    a lost connection) leaves the conversations hidden; running the same call
    again finishes them. Every method is idempotent: a second run erases nothing
    and reports zeros. An erase racing a send resurrects nothing: the send's
    next write finds the conversation gone (`ConversationNotFoundError`).

    An owner-bound handle (`OwnerScoped`) erases only its owner's conversations.
    Records and turns are everything a store keeps of a conversation: its batch
    bookkeeping lives in the record's flags, and a fork is a conversation of
    the same owner.
    """

    def erase(self, conversation_id: str) -> Erased:
        """Erase one conversation, its turns and its lease.

        Forks of it are conversations of their own and stay. An unknown id (or
        one this handle may not see) erases nothing: `Erased()`.
        """
        ...

    def erase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """Erase every conversation of *owner*, forks included.

        With *dry_run*, count what would be erased and change nothing.
        """
        ...

    def purge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """Erase every conversation not updated since *before* (retention).

        "Updated" is the record's `updated_at` (an append or an update moves
        it); a naive *before* is taken as UTC. A conversation whose lease is live
        (a send in flight) is left for the next purge. A purge also finishes
        every erasure an interrupted run left behind. With *dry_run*, count what
        would be erased and change nothing.
        """
        ...


@runtime_checkable
class AsyncErasure(Protocol):
    """The async twin of `Erasure`."""

    async def aerase(self, conversation_id: str) -> Erased:
        """See `Erasure.erase`."""
        ...

    async def aerase_owner(self, owner: str, *, dry_run: bool = False) -> Erased:
        """See `Erasure.erase_owner`."""
        ...

    async def apurge(self, *, before: datetime, dry_run: bool = False) -> Erased:
        """See `Erasure.purge`."""
        ...
