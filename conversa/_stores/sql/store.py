"""`SQLStore`: the shell SQLiteStore and PostgresStore share.

Each method builds a flow from `statements.py` and runs it: the sync method through a
`SyncRunner`, its `a`-prefixed twin through the async runner. Nothing about
conversation semantics is decided here. See `runners.py` for transactions and
retries, `lease.py` for the exclusive section.
"""

from __future__ import annotations

import builtins
import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
)
from typing import Any, Literal, TypeAlias

import anyio.to_thread

from ..._drive import Flow
from ..._exceptions import InvalidInputError, StoreError
from ..._values.turns import ConversationRecord, Turn, UsageTotals
from ..protocol import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_LOCK_TIMEOUT,
    Page,
    ReadBudget,
    TurnUpdate,
    WindowRead,
)
from .crypto import Codec, Encryption
from .erase import SQLErasure
from .lease import (
    LeaseRenewer,
    Section,
    acquire_flow,
    ahold_lease,
    await_section,
    hold_lease,
    release_flow,
    renew_flow,
    wait_for_section,
)
from .runners import AsyncRunnerLike, SyncRunner
from .statements import (
    Busy,
    FastMiss,
    OneAppend,
    QuickAppend,
    append_flow,
    create_flow,
    fork_flow,
    get_flow,
    get_turns_flow,
    list_flow,
    quick_append,
    quick_append_one,
    read_flow,
    read_newest_flow,
    read_window_flow,
    update_record_flow,
    update_turns_flow,
    usage_flow,
)

__all__ = ["SQLStore"]

#: What builds a quick append (`SQLStore._quick`): SQLite's two statements, or
#: PostgreSQL's one (both None: the fast way does not take it).
_Quick: TypeAlias = tuple[
    Callable[[], QuickAppend] | None, Callable[[], OneAppend] | None
]

#: How many conversations a store remembers the last seq of, for the appends
#: that name none (`LastSeqs`): the most recently written ones.
GUESSED = 1024


class LastSeqs:
    """The last seq this store's own appends left each conversation at, for the
    appends that name none: the most recently written `GUESSED` conversations.

    A guess only saves the careful way's round trips. The quick append's
    statement moves the record only from that seq, so when the conversation has
    moved on (another writer, another process, a delete) it writes nothing, and
    the careful way appends after the seq it finds, as it would have.
    """

    __slots__ = ("_lock", "_seqs")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seqs: OrderedDict[str, int] = OrderedDict()

    def expected(
        self, conversation_id: str, turns: Sequence[Turn], given: int | None
    ) -> int | None:
        """The seq a quick append of *turns* is conditional on: the caller's
        (*given*); none given, the guess, if there is one and the turns' ids are
        all different (a repeated id goes the careful way, whose checks come in
        its order: the conversation first, then the ids)."""
        if given is not None:
            return given
        guess = self._seqs.get(conversation_id)
        if guess is None or len({t.id for t in turns}) != len(turns):
            return None
        return guess

    def saw(
        self, conversation_id: str, result: tuple[Turn, ...] | Busy
    ) -> tuple[Turn, ...] | Busy:
        """Remember the last seq an append's *result* (as stored) shows; return it.

        The highest seq in it: a retry of turns already stored shows an older
        one, and the next guess misses once.
        """
        if isinstance(result, tuple) and result:
            last = max(t.seq or 0 for t in result)
            with self._lock:
                seqs = self._seqs
                seqs[conversation_id] = last
                seqs.move_to_end(conversation_id)
                if len(seqs) > GUESSED:
                    seqs.popitem(last=False)
        return result

    def __iter__(self) -> Iterator[str]:
        """The conversations remembered, least recently written first."""
        return iter(list(self._seqs))


def check_lease_seconds(lease_seconds: float) -> None:
    """Refuse a lease that is not positive (the stores check before they open anything)."""
    if lease_seconds <= 0:
        msg = f"lease_seconds must be positive, not {lease_seconds!r}"
        raise InvalidInputError(msg)


class SQLStore(SQLErasure):
    """Store conversations in a SQL database; implements `Store` and `AsyncStore`.

    Use `SQLiteStore` or `PostgresStore`; they differ only in how they connect.
    `delete`, `erase`, `erase_owner` and `purge` (and their twins) come from
    `SQLErasure` (`erase.py`).
    """

    def __init__(
        self,
        runner: SyncRunner,
        arunner: AsyncRunnerLike,
        *,
        dialect: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        codec: Codec | None = None,
    ) -> None:
        check_lease_seconds(lease_seconds)
        self._runner = runner
        self._arunner = arunner
        self._dialect = dialect
        self._lease = lease_seconds
        # Encryption at rest (`crypto.py`): None, and the flows do no extra work.
        self._codec = codec
        self._owner: str | None = None
        self._renewer = LeaseRenewer(self._renew, lease_seconds / 3)
        # The `lock` blocks this store's process is in, by conversation: at most one
        # each, the lease being exclusive. Owner handles share it.
        self._sections: dict[str, Section] = {}
        # The last seq this store's appends left each conversation at (owner
        # handles share it: a guess about another owner's conversation misses).
        self._last_seqs = LastSeqs()

    def _renew(
        self, leases: builtins.list[tuple[str, str]]
    ) -> builtins.list[tuple[str, str]]:
        return self._runner.run(
            lambda: renew_flow(leases, self._lease, self._dialect), write=True
        )

    @property
    def encryption(self) -> Encryption | None:
        """The keys this store encrypts content with (None: it stores plaintext)."""
        return None if self._codec is None else self._codec.encryption

    def for_owner(self, owner: str) -> SQLStore:
        """Return a handle on the same database that sees only *owner*'s conversations.

        The handle shares this store's connections; closing either closes both.

        Raises:
            StoreError: this handle is already bound to another owner.
        """
        if self._owner is not None and owner != self._owner:
            msg = f"this store handle is bound to owner {self._owner!r}"
            raise StoreError(msg)
        handle: SQLStore = copy.copy(self)
        handle._owner = owner
        return handle

    # -- Store ------------------------------------------------------------------

    def create(self, record: ConversationRecord) -> ConversationRecord:
        """Store a new conversation record; an existing id raises `StoreError`."""
        return self._runner.run(
            lambda: create_flow(record, self._owner, self._dialect, self._codec),
            write=True,
            retry=False,
        )

    def get(self, conversation_id: str) -> ConversationRecord:
        """Return the record of *conversation_id*."""
        return self._runner.run(
            lambda: get_flow(conversation_id, self._owner, self._codec)
        )

    def update(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """Change the named record fields and return the record."""
        return self._runner.run(
            lambda: update_record_flow(
                conversation_id, changes, self._owner, self._codec
            ),
            write=True,
        )

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

        With *lease_wait*, wait (up to that long) while another holder's lease
        is live; the check and the write are one transaction. Without
        *expected_last_seq*, a plain append is tried conditional on the last seq
        this store left the conversation at (`LastSeqs`), then the careful way.
        """

        guard = lease_wait is not None

        def attempt() -> tuple[Turn, ...] | Busy:
            result = self._appended(
                conversation_id, turns, expected_last_seq, updates, guard=guard
            )
            return self._last_seqs.saw(conversation_id, result)

        if lease_wait is None:
            result = attempt()
            assert not isinstance(result, Busy)  # noqa: S101 - unguarded: never busy
            return result
        return wait_for_section(attempt, conversation_id, lease_wait)

    def read_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """Return the record, the newest turns from its window start, and the head."""
        return self._runner.run(
            lambda: read_window_flow(
                conversation_id, budget, limit, head, self._owner, self._codec
            )
        )

    def read(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """Return the turns with `start <= seq < stop`, oldest first."""
        return self._runner.run(
            lambda: read_flow(conversation_id, start, stop, self._owner, self._codec)
        )

    def read_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """Return the newest turns (seq >= *start*) whose token counts fit *budget*."""
        return self._runner.run(
            lambda: read_newest_flow(
                conversation_id, budget, start, self._owner, self._codec
            )
        )

    def get_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """Return the stored turns among *turn_ids*, oldest first."""
        return self._runner.run(
            lambda: get_turns_flow(conversation_id, turn_ids, self._owner, self._codec)
        )

    def update_turns(self, conversation_id: str, updates: Sequence[TurnUpdate]) -> None:
        """Apply bookkeeping *updates* to stored turns (all or none)."""
        self._runner.run(
            lambda: update_turns_flow(conversation_id, updates, self._owner), write=True
        )

    def list(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """List conversations, newest created first, filtered by owner and metadata."""
        self._check_filter(metadata)
        return self._runner.run(
            lambda: list_flow(
                self._dialect, owner, metadata, limit, cursor, self._owner, self._codec
            )
        )

    def fork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """Copy turns 1..*at_seq* under a new conversation linked to its parent."""
        return self._runner.run(
            lambda: fork_flow(
                conversation_id, at_seq, new_id, self._owner, self._dialect, self._codec
            ),
            write=True,
            retry=False,
        )

    def usage(self, conversation_id: str) -> UsageTotals:
        """Sum the usage of the conversation's assistant turns."""
        return self._runner.run(lambda: usage_flow(conversation_id, self._owner))

    def lock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractContextManager[None]:
        """Hold the conversation's exclusive section (a lease) for the `with` block.

        Raises:
            ConversationBusyError: another holder kept it past *timeout* seconds.
            ConversationNotFoundError: no such conversation (for this handle).
        """
        section = Section(conversation_id)

        def acquire() -> bool:
            got = self._runner.run(self._acquire(section), write=True)
            return self._entered(section, acquired=got)

        def release() -> None:
            if self._left(section):
                self._runner.run(self._release(section), write=True)

        return hold_lease(
            acquire, release, self._renewer, conversation_id, section.holder, timeout
        )

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
        """`append` inside the caller's `lock` block; see `SectionAppends`.

        With *release*, the lease ends in the append's transaction, and the
        block's end has nothing left to do.
        """
        section = self._sections.get(conversation_id) if release else None
        with self._releasing(section):
            appended = self._appended(
                conversation_id,
                turns,
                expected_last_seq,
                updates,
                window_start=window_start,
                section=section,
            )
            result = self._last_seqs.saw(conversation_id, appended)
        assert not isinstance(result, Busy)  # noqa: S101 - unguarded: never busy
        return result

    def close(self) -> None:
        """Stop renewing leases and close the sync twin's database connections.

        After using the async twin, call `aclose` instead: it closes both.
        """
        self._renewer.close()
        self._runner.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- AsyncStore -------------------------------------------------------------

    async def acreate(self, record: ConversationRecord) -> ConversationRecord:
        """See `create`."""
        return await self._arunner.run(
            lambda: create_flow(record, self._owner, self._dialect, self._codec),
            write=True,
            retry=False,
        )

    async def aget(self, conversation_id: str) -> ConversationRecord:
        """See `get`."""
        return await self._arunner.run(
            lambda: get_flow(conversation_id, self._owner, self._codec)
        )

    async def aupdate(
        self, conversation_id: str, changes: Mapping[str, Any]
    ) -> ConversationRecord:
        """See `update`."""
        return await self._arunner.run(
            lambda: update_record_flow(
                conversation_id, changes, self._owner, self._codec
            ),
            write=True,
        )

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

        guard = lease_wait is not None

        async def attempt() -> tuple[Turn, ...] | Busy:
            result = await self._aappended(
                conversation_id, turns, expected_last_seq, updates, guard=guard
            )
            return self._last_seqs.saw(conversation_id, result)

        if lease_wait is None:
            result = await attempt()
            assert not isinstance(result, Busy)  # noqa: S101 - unguarded: never busy
            return result
        return await await_section(attempt, conversation_id, lease_wait)

    async def aread_window(
        self,
        conversation_id: str,
        *,
        budget: ReadBudget = None,
        limit: int | None = None,
        head: int = 0,
    ) -> WindowRead:
        """See `read_window`."""
        return await self._arunner.run(
            lambda: read_window_flow(
                conversation_id, budget, limit, head, self._owner, self._codec
            )
        )

    async def aread(
        self, conversation_id: str, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """See `read`."""
        return await self._arunner.run(
            lambda: read_flow(conversation_id, start, stop, self._owner, self._codec)
        )

    async def aread_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]:
        """See `read_newest`."""
        return await self._arunner.run(
            lambda: read_newest_flow(
                conversation_id, budget, start, self._owner, self._codec
            )
        )

    async def aget_turns(
        self, conversation_id: str, turn_ids: Sequence[str]
    ) -> tuple[Turn, ...]:
        """See `get_turns`."""
        return await self._arunner.run(
            lambda: get_turns_flow(conversation_id, turn_ids, self._owner, self._codec)
        )

    async def aupdate_turns(
        self, conversation_id: str, updates: Sequence[TurnUpdate]
    ) -> None:
        """See `update_turns`."""
        await self._arunner.run(
            lambda: update_turns_flow(conversation_id, updates, self._owner), write=True
        )

    async def alist(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """See `list`."""
        self._check_filter(metadata)
        return await self._arunner.run(
            lambda: list_flow(
                self._dialect, owner, metadata, limit, cursor, self._owner, self._codec
            )
        )

    async def afork(
        self, conversation_id: str, at_seq: int, *, new_id: str | None = None
    ) -> ConversationRecord:
        """See `fork`."""
        return await self._arunner.run(
            lambda: fork_flow(
                conversation_id, at_seq, new_id, self._owner, self._dialect, self._codec
            ),
            write=True,
            retry=False,
        )

    async def ausage(self, conversation_id: str) -> UsageTotals:
        """See `usage`."""
        return await self._arunner.run(lambda: usage_flow(conversation_id, self._owner))

    def alock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractAsyncContextManager[None]:
        """See `lock`; waits without blocking the event loop."""
        section = Section(conversation_id)

        async def acquire() -> bool:
            got = await self._arunner.run(self._acquire(section), write=True)
            return self._entered(section, acquired=got)

        async def release() -> None:
            if self._left(section):
                await self._arunner.run(self._release(section), write=True)

        return ahold_lease(
            acquire, release, self._renewer, conversation_id, section.holder, timeout
        )

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
        """See `append_in_section`."""
        section = self._sections.get(conversation_id) if release else None
        with self._releasing(section):
            appended = await self._aappended(
                conversation_id,
                turns,
                expected_last_seq,
                updates,
                window_start=window_start,
                section=section,
            )
            result = self._last_seqs.saw(conversation_id, appended)
        assert not isinstance(result, Busy)  # noqa: S101 - unguarded: never busy
        return result

    # -- the pieces both twins share ----------------------------------------------

    def _appended(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        updates: Sequence[TurnUpdate],
        *,
        guard: bool = False,
        window_start: int | None = None,
        section: Section | None = None,
    ) -> tuple[Turn, ...] | Busy:
        """Run an append: a plain one (no bookkeeping, no lease to end) as its
        statements without the flow (`_quick_append`); else, or if that wrote
        nothing, the flow: the fast way then, if that missed, the careful way.
        The flow is built only then: an add's quick write is most appends."""
        done = (
            self._quick_append(
                conversation_id, turns, expected_last_seq, guard, window_start
            )
            if not updates and section is None
            else None
        )
        if done is not None and done is not False:
            return done
        make = self._append(
            conversation_id,
            turns,
            expected_last_seq,
            updates,
            guard,
            window_start,
            section,
        )
        if done is False:  # the careful way tells why it missed
            return self._runner.run(lambda: make(fast=False), write=True)
        return self._run_append(make)

    async def _aappended(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        updates: Sequence[TurnUpdate],
        *,
        guard: bool = False,
        window_start: int | None = None,
        section: Section | None = None,
    ) -> tuple[Turn, ...] | Busy:
        """The async twin of `_appended`."""
        done = (
            await self._aquick_append(
                conversation_id, turns, expected_last_seq, guard, window_start
            )
            if not updates and section is None
            else None
        )
        if done is not None and done is not False:
            return done
        make = self._append(
            conversation_id,
            turns,
            expected_last_seq,
            updates,
            guard,
            window_start,
            section,
        )
        if done is False:
            return await self._arunner.run(lambda: make(fast=False), write=True)
        return await self._arun_append(make)

    def _append(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        updates: Sequence[TurnUpdate],
        guard: bool,  # noqa: FBT001 - private
        window_start: int | None,
        section: Section | None,
    ) -> Callable[..., Flow[tuple[Turn, ...] | Busy]]:
        """The append's flow, the fast way (True) or the careful way (False)."""
        return lambda *, fast: append_flow(
            conversation_id,
            turns,
            expected_last_seq,
            self._owner,
            updates,
            dialect=self._dialect,
            guard=guard,
            window_start=window_start,
            release=None if section is None else section.holder,
            codec=self._codec,
            fast=fast,
        )

    def _quick_append(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        guard: bool,  # noqa: FBT001 - private
        window_start: int | None,
    ) -> tuple[Turn, ...] | Literal[False] | None:
        """A plain append without the flow: SQLite's two statements
        (`quick_append`), PostgreSQL's one (`quick_append_one`). The turns as
        stored; False: nothing written, the careful way tells why; None: not
        taken (the runner runs flows only, or the append is not plain)."""
        two, one = self._quick(
            conversation_id, turns, expected_last_seq, guard, window_start
        )
        done: QuickAppend | OneAppend | Literal[False] | None = None
        if two is not None:
            done = self._runner.write_if(two, operation="append")
        elif one is not None:
            done = self._runner.write_one(one, operation="append")
        return done if done is None or done is False else done.result

    async def _aquick_append(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        guard: bool,  # noqa: FBT001 - private
        window_start: int | None,
    ) -> tuple[Turn, ...] | Literal[False] | None:
        """The async twin of `_quick_append`."""
        two, one = self._quick(
            conversation_id, turns, expected_last_seq, guard, window_start
        )
        done: QuickAppend | OneAppend | Literal[False] | None = None
        if two is not None:
            done = await self._arunner.write_if(two, operation="append")
        elif one is not None:
            done = await self._arunner.write_one(one, operation="append")
        return done if done is None or done is False else done.result

    def _quick(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        expected_last_seq: int | None,
        guard: bool,  # noqa: FBT001 - private
        window_start: int | None,
    ) -> _Quick:
        """What builds the quick append: SQLite's two statements, or PostgreSQL's
        one (None, None: the fast way does not take it). With no
        *expected_last_seq*, conditional on the store's guess (`LastSeqs`)."""
        expected = self._last_seqs.expected(conversation_id, turns, expected_last_seq)
        args = (conversation_id, turns, expected, self._owner)
        codec = self._codec
        if self._dialect == "sqlite":
            two = quick_append(
                *args, guard=guard, codec=codec, window_start=window_start
            )
            return two, None
        one = quick_append_one(
            *args, guard=guard, codec=codec, window_start=window_start
        )
        return None, one

    def _run_append(
        self, make: Callable[..., Flow[tuple[Turn, ...] | Busy]]
    ) -> tuple[Turn, ...] | Busy:
        """Run an append the fast way, and the careful way if that missed (`FastMiss`)."""
        try:
            return self._runner.run(lambda: make(fast=True), write=True)
        except FastMiss:
            return self._runner.run(lambda: make(fast=False), write=True)

    async def _arun_append(
        self, make: Callable[..., Flow[tuple[Turn, ...] | Busy]]
    ) -> tuple[Turn, ...] | Busy:
        """The async twin of `_run_append`."""
        try:
            return await self._arunner.run(lambda: make(fast=True), write=True)
        except FastMiss:
            return await self._arunner.run(lambda: make(fast=False), write=True)

    def _check_filter(self, metadata: Mapping[str, Any] | None) -> None:
        """Refuse a metadata filter the store cannot run (metadata encrypted)."""
        if self._codec is not None:
            self._codec.check_filter(metadata)

    def _acquire(self, section: Section) -> Callable[[], Flow[bool]]:
        return lambda: acquire_flow(
            section.conversation_id,
            self._owner,
            section.holder,
            self._lease,
            self._dialect,
        )

    @staticmethod
    def _release(section: Section) -> Callable[[], Flow[None]]:
        return lambda: release_flow(section.conversation_id, section.holder)

    def _entered(self, section: Section, *, acquired: bool) -> bool:
        if acquired:
            self._sections[section.conversation_id] = section
        return acquired

    def _left(self, section: Section) -> bool:
        """Forget *section*; tell whether its lease is still to be released."""
        if self._sections.get(section.conversation_id) is section:
            del self._sections[section.conversation_id]
        return not section.released

    @contextmanager
    def _releasing(self, section: Section | None) -> Iterator[None]:
        """Around an append that ends *section*'s lease: stop renewing it first."""
        if section is None:
            yield
            return
        self._renewer.discard(section.conversation_id, section.holder)
        try:
            yield
        except BaseException:
            self._renewer.add(section.conversation_id, section.holder)
            raise
        section.released = True

    async def aclose(self) -> None:
        """Stop renewing leases and close the connections of both twins."""
        await anyio.to_thread.run_sync(self._renewer.close)
        await self._arunner.aclose()
        await anyio.to_thread.run_sync(self._runner.dispose)

    async def __aenter__(self) -> SQLStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
