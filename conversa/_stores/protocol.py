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
    owner's conversations (multi-tenancy).

Semantics every implementation keeps (`conversa.testing.store_contract` checks
them; the capabilities' tests run when the store has the capability):

- Turns of a conversation get a gapless seq, 1, 2, 3, ...; an append is atomic.
- An append is idempotent by turn id: a turn whose id is already stored with the
  same content comes back as stored; with other content, `TurnIdConflictError`.
- `expected_last_seq` makes an append conditional (optimistic concurrency):
  `SeqConflictError` if the conversation's last seq differs.
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

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from attrs import frozen

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
    "AsyncNewestFirstReads",
    "AsyncOwnerScoped",
    "AsyncStore",
    "NewestFirstReads",
    "OwnerScoped",
    "Page",
    "Store",
    "TurnUpdate",
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


class Store(Protocol):
    """Synchronous storage for conversations and their turns: the core protocol.

    These are the methods conversa calls; a store that has them works with every
    `Conversation` and `Batches` method. The optional capabilities are
    `NewestFirstReads` and `OwnerScoped`.

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
    ) -> tuple[Turn, ...]:
        """Store *turns* atomically after the last seq and return them as stored.

        Idempotent by turn id, all or nothing, gapless seqs (`rules.plan_append`).
        *updates* change the bookkeeping of turns already stored, in the same
        transaction (a send records the exact counts it learned with its reply).

        Raises:
            TurnIdConflictError: a stored turn id with other content.
            SeqConflictError: *expected_last_seq* is stale and something new
                would be written.
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
    a handle without awaiting anything. The optional capabilities are
    `AsyncNewestFirstReads` and `AsyncOwnerScoped`.
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
    ) -> tuple[Turn, ...]:
        """See `Store.append`."""
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
