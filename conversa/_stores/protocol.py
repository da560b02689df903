"""The store protocol: what a conversation needs from storage, sync and async.

One store object serves both `Conversation` and `AsyncConversation`, so the async
twin's methods carry an `a` prefix (`append` / `aappend`), the way svcs pairs
`get` / `aget`. Every store shipped with conversa implements both protocols; a
third-party store may implement either.

Semantics every implementation keeps (the conformance suite checks them):

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol

from attrs import frozen

from .._values.turns import ConversationRecord, Turn, TurnStatus, UsageTotals

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LOCK_TIMEOUT",
    "UPDATABLE_FIELDS",
    "AsyncStore",
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


@frozen
class TurnUpdate:
    """A change to a stored turn's bookkeeping (never its content).

    Fields left as None are not changed; *flags* are merged into the stored flags.
    """

    seq: int
    tokens: int | None = None
    tokens_exact: bool | None = None
    status: TurnStatus | None = None
    flags: Mapping[str, Any] | None = None


class Store(Protocol):
    """Synchronous storage for conversations and their turns."""

    def create(self, record: ConversationRecord) -> ConversationRecord:
        """Store a new conversation record and return it as stored."""
        ...

    def get(self, conversation_id: str) -> ConversationRecord:
        """Return the record of *conversation_id*, or raise `ConversationNotFoundError`."""
        ...

    def update(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """Change the named record fields (`UPDATABLE_FIELDS`) and return the record."""
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

        *updates* change the bookkeeping of turns already stored, in the same
        transaction (a send records the exact counts it learned with its reply).
        """
        ...

    def read(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """Return the turns with `start <= seq < stop`, oldest first."""
        ...

    def read_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """Return the newest turns (seq >= *start*) whose token counts fit *budget*.

        Reads newest first and stops at the first turn that would overflow the budget,
        reading only the rows it needs; the result is oldest first. A turn with no
        token count is counted by its estimate.
        """
        ...

    def get_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """Return the stored turns among *turn_ids*, oldest first."""
        ...

    def update_turns(self, conversation_id: str, updates: Sequence[TurnUpdate]) -> None:
        """Apply bookkeeping *updates* to stored turns."""
        ...

    def list(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """List conversations, newest first, filtered by owner and metadata equality."""
        ...

    def delete(self, conversation_id: str) -> None:
        """Delete a conversation and everything of it."""
        ...

    def fork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """Copy turns 1..*at_seq* under a new conversation linked to its parent."""
        ...

    def usage(self, conversation_id: str) -> UsageTotals:
        """Sum the usage of the conversation's assistant turns."""
        ...

    def lock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractContextManager[None]:
        """Hold the conversation's exclusive section for the `with` block."""
        ...

    def for_owner(self, owner: str) -> Store:
        """Return a handle that sees only *owner*'s conversations."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


class AsyncStore(Protocol):
    """The async twin of `Store`: the same methods with an `a` prefix."""

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

    async def aread_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """See `Store.read_newest`."""
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

    def for_owner(self, owner: str) -> AsyncStore:
        """See `Store.for_owner`."""
        ...

    async def aclose(self) -> None:
        """See `Store.close`."""
        ...
