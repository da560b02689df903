"""What the adapters share: one conversa conversation as a framework's history.

A framework message becomes one stored turn. Its content is what translates into
Anthropic blocks (so `conversa show`, `export` and a `Conversation` read it as any
other turn); everything else about the message is kept, as the JSON the framework
itself writes, in one key of the turn's `flags`. The split is lossless by
construction: `split` keeps every field the blocks do not give back as they were,
and `join` puts them back.

`StoredHistory` does the store side for both twins: reads the replayed turns
(retractions applied), appends conditionally on the last seq it saw, creates the
conversation at its first append, scopes everything to an owner, and retracts
every turn for a `clear()`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from attrs import define, field

from .. import (
    AsyncConversation,
    AsyncOwnerScoped,
    AsyncStore,
    Block,
    Conversation,
    ConversationNotFoundError,
    ConversationRecord,
    InvalidInputError,
    OwnerScoped,
    Store,
    StoreError,
    Turn,
    block_from_api,
)
from .._core import replayed

__all__ = [
    "DEFAULT_LEASE_WAIT",
    "Adapter",
    "Make",
    "StoredHistory",
    "join",
    "settled",
    "split",
    "turn_id",
]

M = TypeVar("M")

#: What an append stores, built from the seq it comes after.
Make = Callable[[int], Sequence[Turn]]

#: How long an append waits for a conversa send in flight on the same
#: conversation (its exclusive section), in seconds, before `ConversationBusyError`.
DEFAULT_LEASE_WAIT = 60.0


def split(original: Mapping[str, Any], reproduced: Mapping[str, Any]) -> dict[str, Any]:
    """Return what *original* holds beyond *reproduced* (what its blocks give back).

    ``{"extra": {key: value}}`` for the keys whose value the blocks do not give back,
    ``{"drop": [key, ...]}`` for keys the blocks give that *original* lacks; empty
    parts are left out, so a message its blocks give back whole keeps ``{}``.
    """
    rest: dict[str, Any] = {}
    extra = {
        k: v for k, v in original.items() if k not in reproduced or reproduced[k] != v
    }
    drop = [k for k in reproduced if k not in original]
    if extra:
        rest["extra"] = extra
    if drop:
        rest["drop"] = drop
    return rest


def join(reproduced: Mapping[str, Any], rest: Mapping[str, Any]) -> dict[str, Any]:
    """Return the original JSON `split` took apart: *reproduced* with *rest* put back."""
    drop = set(rest.get("drop", ()))
    joined = {k: v for k, v in reproduced.items() if k not in drop}
    joined.update(rest.get("extra", {}))
    return joined


def settled(block: Block) -> Block:
    """Return *block* as a store gives it back (read again from its API form)."""
    return block_from_api(block.to_api())


def turn_id(prefix: str, position: int, entry: Any) -> str:
    """A turn id that only the same message at the same position gets.

    Saving the same messages again (a retry after a lost answer) finds them stored
    and writes nothing; any other message there is a conflict, never a lost write.
    """
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(f"{position}\n{text}".encode()).hexdigest()
    return f"{prefix}-{digest[:32]}"


def _scoped(store: Any, owner: str | None) -> Any:
    if owner is None:
        return store
    if isinstance(store, (OwnerScoped, AsyncOwnerScoped)):
        return store.for_owner(owner)
    msg = f"owner={owner!r} needs a store with for_owner (OwnerScoped); {type(store).__name__} has none"
    raise InvalidInputError(msg)


@define
class StoredHistory:
    """One conversation of a store, read and appended to as a framework's history.

    Attributes:
        store: the store, bound to *owner* when there is one.
        conversation_id: the conversation (created at the first append).
        owner: the tenant every read and write is scoped to, or None.
        metadata: the new conversation's metadata.
        model: the new conversation's model (the record needs one; "" by default).
        lease_wait: how long an append waits for a conversa send in flight.
    """

    store: Any = field(repr=False)
    conversation_id: str
    owner: str | None = None
    metadata: Mapping[str, Any] = field(factory=dict, repr=False)
    model: str = ""
    lease_wait: float = DEFAULT_LEASE_WAIT
    #: Whether the first read since the last write sets the append's condition
    #: (LangChain reads a history again after the model ran, to tell the new input
    #: from the old: that read must not move the condition past what the model
    #: saw); otherwise the last read does.
    pin: bool = False
    #: The seq the next append is conditional on: what a read saw (see *pin*), or
    #: the last write's last seq; None before either.
    last_seq: int | None = field(default=None, init=False)
    #: Whether a read has set `last_seq` since the last write (with *pin*).
    pinned: bool = field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self.store = _scoped(self.store, self.owner)

    @classmethod
    def of(
        cls,
        store: Any,
        conversation_id: str | None,
        *,
        owner: str | None,
        metadata: Mapping[str, Any] | None,
        lease_wait: float,
        pin: bool = False,
    ) -> StoredHistory:
        """An adapter's history: a random conversation id when none is given."""
        return cls(
            store,
            conversation_id or uuid.uuid4().hex,
            owner=owner,
            metadata=dict(metadata or {}),
            lease_wait=lease_wait,
            pin=pin,
        )

    def _record(self) -> ConversationRecord:
        return ConversationRecord(
            self.conversation_id,
            model=self.model,
            owner=self.owner,
            metadata=dict(self.metadata),
        )

    def _seen(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        if not self.pinned:
            self.last_seq = (turns[-1].seq or 0) if turns else 0
            self.pinned = self.pin
        return tuple(t for _, t in replayed(turns) if t.kind == "message")

    @contextmanager
    def _written(self) -> Iterator[None]:
        """Unpin around a write: after it, or after a conflict, a read counts again."""
        try:
            yield
        finally:
            self.pinned = False

    def _condition(self, current: int) -> int:
        """The seq an append is conditional on: what this object saw, else *current*."""
        return current if self.last_seq is None else self.last_seq

    def _options(self, expected: int) -> dict[str, Any]:
        return {"expected_last_seq": expected, "lease_wait": self.lease_wait}

    def _landed(self, expected: int, stored: tuple[Turn, ...]) -> tuple[Turn, ...]:
        self.last_seq = max(expected, stored[-1].seq or 0)
        return stored

    # -- the sync twin ---------------------------------------------------------

    def read(self) -> tuple[Turn, ...]:
        """Return the replayed message turns (nothing for a conversation not stored yet)."""
        store: Store = self.store
        try:
            turns = store.read(self.conversation_id)
        except ConversationNotFoundError:
            turns = ()
        return self._seen(turns)

    def _expected(self) -> int:
        store: Store = self.store
        try:
            return store.get(self.conversation_id).last_seq
        except ConversationNotFoundError:
            pass
        try:
            return store.create(self._record()).last_seq
        except StoreError:  # created meanwhile; the append is checked against it
            return store.get(self.conversation_id).last_seq

    def append(self, make: Make) -> tuple[Turn, ...]:
        """Store the turns *make* builds after the last seq this object saw.

        *make* gets the seq the append is conditional on (the turns' ids depend on
        their place). The conversation is created if it is not stored yet.

        Raises:
            SeqConflictError: another writer appended since.
        """
        # A conversation this object has seen turns of exists; otherwise make sure.
        expected = self._condition(self.last_seq or self._expected())
        turns = make(expected)
        if not turns:
            return ()
        store: Store = self.store
        with self._written():
            stored = store.append(
                self.conversation_id, turns, **self._options(expected)
            )
        return self._landed(expected, stored)

    def retract_all(self) -> None:
        """Hide every replayed turn from later reads (the turns stay stored)."""
        seqs = [t.seq or 0 for t in self.read()]
        if seqs:
            conv = Conversation.load(self.store, self.conversation_id)
            with self._written():
                self.last_seq = conv.retract(*seqs).seq

    # -- the async twin ----------------------------------------------------------

    async def aread(self) -> tuple[Turn, ...]:
        """See `read`."""
        store: AsyncStore = self.store
        try:
            turns = await store.aread(self.conversation_id)
        except ConversationNotFoundError:
            turns = ()
        return self._seen(turns)

    async def _aexpected(self) -> int:
        store: AsyncStore = self.store
        try:
            return (await store.aget(self.conversation_id)).last_seq
        except ConversationNotFoundError:
            pass
        try:
            return (await store.acreate(self._record())).last_seq
        except StoreError:  # created meanwhile; the append is checked against it
            return (await store.aget(self.conversation_id)).last_seq

    async def aappend(self, make: Make) -> tuple[Turn, ...]:
        """See `append`."""
        expected = self._condition(self.last_seq or await self._aexpected())
        turns = make(expected)
        if not turns:
            return ()
        store: AsyncStore = self.store
        with self._written():
            stored = await store.aappend(
                self.conversation_id, turns, **self._options(expected)
            )
        return self._landed(expected, stored)

    async def aretract_all(self) -> None:
        """See `retract_all`."""
        seqs = [t.seq or 0 for t in await self.aread()]
        if seqs:
            conv = await AsyncConversation.load(self.store, self.conversation_id)
            with self._written():
                self.last_seq = (await conv.retract(*seqs)).seq


class Adapter(Generic[M]):
    """The methods both adapters share, over their own conversions.

    A subclass sets `_stored` in its `__init__` and supplies `_decode` (stored
    turns → the framework's messages) and `_encode` (messages → the turns to
    store after a seq).
    """

    _stored: StoredHistory

    @staticmethod
    def _decode(turns: Sequence[Turn]) -> list[M]:
        raise NotImplementedError

    @staticmethod
    def _encode(messages: Sequence[M], *, after_seq: int) -> tuple[Turn, ...]:
        raise NotImplementedError

    def __repr__(self) -> str:
        stored = self._stored
        return (
            f"{type(self).__name__}({stored.conversation_id!r}, owner={stored.owner!r})"
        )

    def _make(self, messages: Sequence[M]) -> Make:
        return lambda after: self._encode(messages, after_seq=after)

    def _read(self) -> list[M]:
        return self._decode(self._stored.read())

    def _write(self, messages: Sequence[M]) -> None:
        self._stored.append(self._make(messages))

    async def _aread(self) -> list[M]:
        return self._decode(await self._stored.aread())

    async def _awrite(self, messages: Sequence[M]) -> None:
        await self._stored.aappend(self._make(messages))

    def clear(self) -> None:
        """Retract every stored message: reads start empty; the turns stay stored."""
        self._stored.retract_all()

    async def aclear(self) -> None:
        """See `clear`."""
        await self._stored.aretract_all()
