"""The store contract: a conformance suite for any conversa store, run by pytest.

It is the suite conversa's own stores pass (memory, SQLite, PostgreSQL, each
through both twins), written against conversa's public API only, so a
third-party store can prove it behaves the same. Install the ``testing`` extra
(``pip install 'conversa-state[testing]'``: pytest; anyio's pytest plugin runs the
async tests), subclass `StoreContract` in a test module and give it a ``store``
fixture::

    import pytest
    from conversa.testing.store_contract import StoreContract

    from mystore import MyStore


    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "db")
            yield store
            store.close()

Every test then runs twice, once per twin: ``[sync]`` drives the `Store` methods
(each call in a worker thread, so concurrent calls really run concurrently) and
``[async]`` the `AsyncStore` methods. A store that implements only one twin has
the other's runs skipped, naming it; one that implements a twin in part fails,
naming the missing methods. Tests of an optional capability (``read_newest``:
`NewestFirstReads`; ``read_window``: `WindowReads`; ``for_owner``: `OwnerScoped`;
``erase``: `Erasure`) are skipped, with the reason, when the store lacks it.

The ``store`` fixture may yield a fresh store per test or one shared store: every
test uses its own conversation ids and its own owner (the ``owner`` fixture), and
lists only that owner's conversations. Other fixtures may be overridden the same
way: ``twin`` (``"sync"`` / ``"async"``, parametrized), ``owner``, and
``anyio_backend`` (``"asyncio"``).

A store built on conversa's store rules (the pure functions MemoryStore and the
SQL stores share: append planning, idempotency, cursors, metadata filters,
tenancy) passes most of the contract by construction; the rest is its own
transactions, locking and storage.
"""
# ruff: noqa: S101 - a test suite asserts

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Protocol, cast

import anyio
import anyio.to_thread
from attrs import evolve

from conversa import (
    AsyncStore,
    ConversationBusyError,
    ConversationNotFoundError,
    ConversationRecord,
    Erased,
    InvalidInputError,
    MemoryStore,
    RawBlock,
    RequestParams,
    SeqConflictError,
    Store,
    StoreError,
    TextBlock,
    ToolUseBlock,
    Turn,
    TurnIdConflictError,
    TurnUpdate,
    Usage,
    UsageTotals,
    block_from_api,
)

try:
    import pytest
except ImportError as exc:  # pragma: no cover - the testing extra installs pytest
    _msg = "conversa.testing.store_contract needs pytest: pip install 'conversa-state[testing]'"
    raise ImportError(_msg) from exc

__all__ = ["StoreContract", "SyncAsAsync"]

#: The default wait of `Store.lock`, in seconds (conversa's DEFAULT_LOCK_TIMEOUT).
_LOCK_TIMEOUT = 60.0


# -- the sync twin, seen through the async interface ------------------------------


class _ThreadedLock:
    """An async context manager that enters and leaves a sync one in worker threads."""

    def __init__(self, cm: AbstractContextManager[None]) -> None:
        self._cm = cm

    async def __aenter__(self) -> None:
        await anyio.to_thread.run_sync(self._cm.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self._cm.__exit__, exc_type, exc, tb)


class SyncAsAsync:
    """Show a sync `Store` through the `AsyncStore` interface.

    ``aname(...)`` runs ``name(...)`` in a worker thread, so blocking calls (a lock
    wait) never stall the event loop and concurrent tasks really run concurrently.
    It has exactly the methods the store has: ``aread_newest`` only if the store
    has ``read_newest``, ``for_owner`` (returning a `SyncAsAsync`) only if the
    store has ``for_owner``.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Callable[..., Any]:
        inner: Any = self.store
        if name == "for_owner":
            bind = inner.for_owner
            return lambda owner: SyncAsAsync(bind(owner))
        if name.startswith("_") or not name.startswith("a"):
            raise AttributeError(name)
        method = getattr(inner, name[1:])

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(
                functools.partial(method, *args, **kwargs)
            )

        return call

    def alock(
        self, conversation_id: str, *, timeout: float = _LOCK_TIMEOUT
    ) -> AbstractAsyncContextManager[None]:
        """Hold the sync store's lock, entered and left in worker threads."""
        return _ThreadedLock(self.store.lock(conversation_id, timeout=timeout))


# -- optional capabilities, as the contract probes them -----------------------------


class _NewestFirst(AsyncStore, Protocol):
    async def aread_newest(
        self, conversation_id: str, *, budget: int, start: int = 1
    ) -> tuple[Turn, ...]: ...


class _OwnerScoped(AsyncStore, Protocol):
    def for_owner(self, owner: str) -> AsyncStore: ...


class _WindowRead(Protocol):
    """What `read_window` returns (`conversa`'s `WindowRead`)."""

    @property
    def record(self) -> ConversationRecord: ...
    @property
    def turns(self) -> tuple[Turn, ...]: ...
    @property
    def head(self) -> tuple[Turn, ...]: ...


class _Windows(AsyncStore, Protocol):
    async def aread_window(
        self,
        conversation_id: str,
        *,
        budget: int | Callable[[ConversationRecord], int | None] | None = None,
        limit: int | None = None,
        head: int = 0,
    ) -> _WindowRead: ...


class _SectionAppends(AsyncStore, Protocol):
    async def aappend_in_section(
        self,
        conversation_id: str,
        turns: Sequence[Turn],
        *,
        expected_last_seq: int | None = None,
        updates: Sequence[TurnUpdate] = (),
        window_start: int | None = None,
        release: bool = False,
    ) -> tuple[Turn, ...]: ...


def _has(store: object, method: str) -> bool:
    return callable(getattr(store, method, None))


def _name(store: object) -> str:
    """The class name of the store under test (behind its sync adapter, if any)."""
    return type(store.store if isinstance(store, SyncAsAsync) else store).__name__


def _newest_first(store: AsyncStore) -> _NewestFirst:
    """Return *store* if it reads newest first; skip the test if it does not."""
    if not _has(store, "aread_newest"):
        pytest.skip(f"{_name(store)} has no read_newest (optional: NewestFirstReads)")
    return cast(_NewestFirst, store)


def _windows(store: AsyncStore) -> _Windows:
    """Return *store* if it reads a record and its window at once; else skip the test."""
    if not _has(store, "aread_window"):
        pytest.skip(f"{_name(store)} has no read_window (optional: WindowReads)")
    return cast(_Windows, store)


def _sections(store: AsyncStore) -> _SectionAppends:
    """Return *store* if its appends fold a send's writes; skip the test if not."""
    if not _has(store, "aappend_in_section"):
        pytest.skip(
            f"{_name(store)} has no append_in_section (optional: SectionAppends)"
        )
    return cast(_SectionAppends, store)


class _Erasing(AsyncStore, Protocol):
    async def aerase(self, conversation_id: str) -> Erased: ...
    async def aerase_owner(self, owner: str, *, dry_run: bool = False) -> Erased: ...
    async def apurge(self, *, before: datetime, dry_run: bool = False) -> Erased: ...


def _erasing(store: AsyncStore) -> _Erasing:
    """Return *store* if it erases and purges; skip the test if it does not."""
    if not _has(store, "aerase"):
        pytest.skip(f"{_name(store)} has no erase (optional: Erasure)")
    return cast(_Erasing, store)


def _owner_scoped(store: AsyncStore) -> _OwnerScoped:
    """Return *store* if it gives owner-bound handles; skip the test if it does not."""
    if not _has(store, "for_owner"):
        pytest.skip(f"{_name(store)} has no for_owner (optional: OwnerScoped)")
    return cast(_OwnerScoped, store)


def _methods(protocol: type) -> list[str]:
    """The public methods *protocol* declares."""
    return sorted(
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and callable(value)
    )


# -- builders --------------------------------------------------------------------


def _new_id() -> str:
    return uuid.uuid4().hex


def user(text: str = "hello", **fields: Any) -> Turn:
    """A user turn with one text block."""
    return Turn("user", text, **fields)


def assistant(text: str = "hi there", **fields: Any) -> Turn:
    """An assistant turn as folded from an API reply."""
    fields.setdefault("message_id", "msg_01")
    fields.setdefault("model", "claude-sonnet-4-5")
    fields.setdefault("stop_reason", "end_turn")
    fields.setdefault("usage", Usage(10, 5, 0, 0))
    fields.setdefault("request_id", "req_01")
    return Turn("assistant", text, **fields)


def _estimate(turn: Turn) -> int | None:
    """conversa's token estimate of *turn*, as conversa's MemoryStore stores it."""
    with MemoryStore() as reference:
        record = reference.create(ConversationRecord(model="m"))
        [stored] = reference.append(record.id, [turn])
    return stored.tokens


def _seqs(turns: tuple[Turn, ...]) -> list[int | None]:
    return [t.seq for t in turns]


async def _fill(
    store: AsyncStore, record: ConversationRecord, n: int, tokens: int = 10
) -> None:
    await store.aappend(
        record.id,
        [user(f"t{i}", tokens=tokens, tokens_exact=True) for i in range(1, n + 1)],
    )


#: A purge's cutoff in the erasure tests, and the last update of what it takes.
_CUTOFF = datetime(2002, 1, 1, tzinfo=timezone.utc)
_LONG_AGO = datetime(2001, 1, 1, tzinfo=timezone.utc)


async def _stale(store: AsyncStore, owner: str) -> ConversationRecord:
    """A conversation of *owner* last updated before `_CUTOFF`."""
    return await store.acreate(
        ConversationRecord(
            model="m", owner=owner, created_at=_LONG_AGO, updated_at=_LONG_AGO
        )
    )


async def _make(
    store: AsyncStore, owner: str, n: int, **metadata: object
) -> list[ConversationRecord]:
    return [
        await store.acreate(
            ConversationRecord(model="m", owner=owner, metadata=dict(metadata, i=i))
        )
        for i in range(n)
    ]


class StoreContract:
    """The conformance suite: subclass it and define a ``store`` fixture.

    The fixture yields an object that implements `Store`, `AsyncStore` or both
    (see the module docstring); each test drives it through one twin, as an
    `AsyncStore` (the ``astore`` fixture).
    """

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def store(self) -> Any:
        """The store under test. Override it to yield one of yours."""
        msg = f"{type(self).__name__} must define a `store` fixture that yields the store to test"
        raise NotImplementedError(msg)

    @pytest.fixture(params=["sync", "async"])
    def twin(self, request: pytest.FixtureRequest) -> str:
        """Which twin of the store a test drives."""
        return str(request.param)

    @pytest.fixture
    def anyio_backend(self) -> str:
        """Run the async tests on asyncio."""
        return "asyncio"

    @pytest.fixture
    def astore(self, store: Any, twin: str) -> AsyncStore:
        """The store through the twin under test, seen through the async interface."""
        protocol: type = Store if twin == "sync" else AsyncStore
        methods = _methods(protocol)
        missing = [name for name in methods if not _has(store, name)]
        if missing == methods:
            pytest.skip(
                f"{type(store).__name__} has no {twin} twin ({protocol.__name__})"
            )
        if missing:
            pytest.fail(
                f"{type(store).__name__} implements {protocol.__name__} only in part; "
                f"missing: {', '.join(missing)}"
            )
        return cast(AsyncStore, store if twin == "async" else SyncAsAsync(store))

    @pytest.fixture
    def owner(self) -> str:
        """An owner name no other test uses."""
        return f"owner-{_new_id()}"

    @pytest.fixture
    async def record(self, astore: AsyncStore, owner: str) -> ConversationRecord:
        """A stored conversation of *owner* with no turns."""
        return await astore.acreate(
            ConversationRecord(model="claude-sonnet-4-5", owner=owner)
        )

    # -- records ---------------------------------------------------------------------

    async def test_create_then_get_returns_the_record(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """A created record reads back equal, with no turns yet."""
        record = ConversationRecord(
            model="claude-sonnet-4-5",
            owner=owner,
            system="You are terse.",
            metadata={"app": "support", "n": 3, "nested": {"a": [1, 2]}},
            capabilities={"context_window": 100_000},
            params=RequestParams(max_tokens=512, stop_sequences=["END"]),
            flags={"budget": {"margin": 512}, "pins": [[1, 2]]},
        )
        created = await astore.acreate(record)
        got = await astore.aget(record.id)
        assert created == got == record
        assert got.last_seq == 0
        assert got.created_at == record.created_at

    async def test_system_blocks_round_trip(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """A system prompt given as blocks reads back as the same blocks."""
        blocks = (
            TextBlock("Be brief.", extra={"cache_control": {"type": "ephemeral"}}),
        )
        record = await astore.acreate(
            ConversationRecord(model="m", owner=owner, system=blocks)
        )
        assert (await astore.aget(record.id)).system_json() == record.system_json()

    async def test_get_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """Getting an id that was never created raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await astore.aget(_new_id())

    async def test_create_twice_is_refused(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Creating a record under an id that exists raises StoreError."""
        with pytest.raises(StoreError):
            await astore.acreate(ConversationRecord(record.id, model="m"))

    async def test_secrets_in_params_are_never_stored(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """An MCP server's authorization token in the params is dropped before storing."""
        server = {
            "type": "url",
            "url": "https://mcp",
            "name": "x",
            "authorization_token": "sekrit",
        }
        record = ConversationRecord(
            model="m",
            owner=owner,
            params=RequestParams(extra={"mcp_servers": [server]}),
        )
        created = await astore.acreate(record)
        stored = await astore.aget(record.id)
        assert "sekrit" not in repr(stored.params.to_json_dict())
        assert created.params == stored.params
        assert stored.params.extra["mcp_servers"][0]["url"] == "https://mcp"

    async def test_update_changes_named_fields(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update() changes the named fields, keeps the rest and moves updated_at."""
        updated = await astore.aupdate(
            record.id,
            {
                "model": "claude-opus-4-5",
                "system": "New prompt.",
                "metadata": {"stage": "two"},
                "window_start": 3,
                "params": RequestParams(max_tokens=99),
                "capabilities": {"prefill": False},
                "flags": {"fixed": {"tokens": 12}},
            },
        )
        got = await astore.aget(record.id)
        assert got == updated
        assert (got.model, got.system, got.window_start) == (
            "claude-opus-4-5",
            "New prompt.",
            3,
        )
        assert got.metadata == {"stage": "two"}
        assert got.params.max_tokens == 99
        assert got.capabilities == {"prefill": False}
        assert got.flags == {"fixed": {"tokens": 12}}
        assert got.owner == record.owner
        assert got.updated_at >= record.updated_at

    async def test_update_can_restore_updated_at(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update() with an `updated_at` keeps that time (an import restoring it)."""
        # After `_CUTOFF`, so the purge tests sharing this store leave it alone.
        restored = datetime(2020, 5, 17, 12, 30, tzinfo=timezone.utc)
        await astore.aappend(record.id, [Turn("user", "hi")])
        got = await astore.aupdate(record.id, {"updated_at": restored})
        assert got.updated_at == restored
        assert (await astore.aget(record.id)).updated_at == restored
        with pytest.raises(InvalidInputError):
            await astore.aupdate(record.id, {"updated_at": "yesterday"})

    async def test_update_refuses_unknown_fields(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update() of a field outside UPDATABLE_FIELDS raises InvalidInputError."""
        with pytest.raises(InvalidInputError):
            await astore.aupdate(record.id, {"last_seq": 9})
        with pytest.raises(InvalidInputError):
            await astore.aupdate(record.id, {"window_start": -1})

    async def test_update_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """update() of a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await astore.aupdate(_new_id(), {"model": "m"})

    # -- appending -------------------------------------------------------------------

    async def test_append_assigns_gapless_seqs(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Appends number turns 1, 2, 3, ... and move the record's last seq."""
        first = await astore.aappend(record.id, [user("a"), assistant("b")])
        second = await astore.aappend(record.id, [user("c")])
        assert _seqs(first) == [1, 2]
        assert _seqs(second) == [3]
        assert (await astore.aget(record.id)).last_seq == 3
        assert _seqs(await astore.aread(record.id)) == [1, 2, 3]

    async def test_append_of_nothing_changes_nothing(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Appending an empty list returns () and leaves the conversation as it was."""
        assert await astore.aappend(record.id, []) == ()
        assert (await astore.aget(record.id)).last_seq == 0

    async def test_append_fills_in_estimated_tokens(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A turn without a token count is stored with its estimate, marked not exact."""
        turn = user("count me")
        exact = assistant("done", tokens=7, tokens_exact=True)
        stored = await astore.aappend(record.id, [turn, exact])
        read = await astore.aread(record.id)
        assert [(t.tokens, t.tokens_exact) for t in read] == [
            (_estimate(turn), False),
            (7, True),
        ]
        assert [(t.tokens, t.tokens_exact) for t in stored] == [
            (t.tokens, t.tokens_exact) for t in read
        ]

    async def test_turns_round_trip_every_field(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A stored assistant turn reads back with all its fields and its exact JSON text."""
        raw = block_from_api(
            {"type": "server_tool_use", "z": 1, "id": "srv_1", "a": {"q": "x"}}
        )
        reply = assistant(
            "",
            usage=Usage.from_api(
                {"input_tokens": 12, "output_tokens": 3, "service_tier": "standard"}
            ),
            stop_sequence="END",
            response_extra={"container": {"id": "c1"}, "stop_details": None},
            status="interrupted",
            flags={"cache": "miss"},
        )
        reply = evolve(
            reply,
            blocks=(
                TextBlock("Hé ✓"),
                raw,
                ToolUseBlock("tu_1", "f", {"b": 1, "a": 2}),
            ),
        )
        stored = await astore.aappend(record.id, [user("q"), reply])
        [got] = await astore.aread(record.id, start=2)
        assert got == stored[1]
        assert got.content_json() == reply.content_json()
        assert isinstance(got.blocks[1], RawBlock)
        assert got.usage is not None
        assert got.usage.raw == reply.usage.raw  # type: ignore[union-attr]
        assert (got.status, dict(got.flags)) == ("interrupted", {"cache": "miss"})
        assert got.created_at == reply.created_at
        assert got.created_at.tzinfo is not None

    async def test_append_is_idempotent(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Appending the same turn twice stores it once and returns it as stored."""
        turn = user("hi")
        assert await astore.aappend(record.id, [turn]) == await astore.aappend(
            record.id, [turn]
        )
        assert len(await astore.aread(record.id)) == 1

    async def test_append_refuses_other_content_under_a_stored_id(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A stored turn id with different content raises TurnIdConflictError."""
        turn = user("hi")
        await astore.aappend(record.id, [turn])
        with pytest.raises(TurnIdConflictError):
            await astore.aappend(record.id, [user("bye", id=turn.id)])

    async def test_append_is_atomic(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An append that fails on its last turn stores none of its turns."""
        first = user("one")
        await astore.aappend(record.id, [first])
        with pytest.raises(TurnIdConflictError):
            await astore.aappend(
                record.id, [assistant("two"), user("other", id=first.id)]
            )
        assert _seqs(await astore.aread(record.id)) == [1]
        assert (await astore.aget(record.id)).last_seq == 1

    async def test_append_repeated_id_in_one_call(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An id twice in one call is stored once; twice with other content is refused."""
        turn = user("x")
        stored = await astore.aappend(record.id, [turn, turn])
        assert _seqs(stored) == [1, 1]
        with pytest.raises(TurnIdConflictError):
            await astore.aappend(record.id, [user("y", id="dup"), user("z", id="dup")])

    async def test_append_mixing_stored_and_new_turns(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Stored turns come back as stored; new ones go after the last seq, in call order."""
        a, b = user("a"), assistant("b")
        await astore.aappend(record.id, [a])
        await astore.aappend(record.id, [user("other")])
        other = (await astore.aread(record.id))[1]
        out = await astore.aappend(record.id, [a, b])
        assert _seqs(out) == [1, 3]
        assert [t.id for t in await astore.aread(record.id)] == [a.id, other.id, b.id]

    async def test_expected_last_seq_guards_the_append(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A stale expected_last_seq raises SeqConflictError and writes nothing."""
        await astore.aappend(record.id, [user("a")], expected_last_seq=0)
        with pytest.raises(SeqConflictError) as info:
            await astore.aappend(record.id, [user("b")], expected_last_seq=0)
        assert (info.value.expected, info.value.actual) == (0, 1)
        assert len(await astore.aread(record.id)) == 1

    async def test_replayed_append_ignores_a_stale_expected_seq(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Retrying an append that succeeded returns the stored turns, not a conflict."""
        turn = user("a")
        first = await astore.aappend(record.id, [turn], expected_last_seq=0)
        assert await astore.aappend(record.id, [turn], expected_last_seq=0) == first

    async def test_append_to_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """Appending to a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await astore.aappend(_new_id(), [user()])

    async def test_concurrent_appends_stay_gapless(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Twenty concurrent appends give twenty distinct seqs, 1 to 20."""
        results: list[int] = []

        async def one(i: int) -> None:
            [turn] = await astore.aappend(record.id, [user(f"m{i}")])
            assert turn.seq is not None
            results.append(turn.seq)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        assert sorted(results) == list(range(1, 21))
        assert _seqs(await astore.aread(record.id)) == list(range(1, 21))

    async def test_append_with_lease_wait_lands_when_no_one_holds_the_section(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An append holding no lease (`lease_wait`) writes at once when the section is free."""
        [turn] = await astore.aappend(
            record.id, [user("a")], expected_last_seq=0, lease_wait=5
        )
        assert turn.seq == 1
        async with astore.alock(record.id, timeout=5):
            pass  # it left no lease behind

    async def test_append_with_lease_wait_gives_up_while_the_section_is_held(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """While another holder is inside, a lease-waiting append raises busy and writes nothing."""
        async with astore.alock(record.id):
            with pytest.raises(ConversationBusyError) as info:
                await astore.aappend(record.id, [user("outside")], lease_wait=0.05)
            assert info.value.conversation_id == record.id
            await astore.aappend(record.id, [user("inside")])  # the holder appends
        assert [t.text for t in await astore.aread(record.id)] == ["inside"]

    async def test_append_with_lease_wait_lands_after_the_section(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A lease-waiting append started inside another's section lands after it, never inside."""
        async with anyio.create_task_group() as tg, astore.alock(record.id):
            await astore.aappend(record.id, [user("inside 1")])
            tg.start_soon(
                functools.partial(
                    astore.aappend, record.id, [user("outside")], lease_wait=60
                )
            )
            await anyio.sleep(0.05)  # room to slip in, were it not waiting
            await astore.aappend(record.id, [assistant("inside 2")])
        texts = [t.text for t in await astore.aread(record.id)]
        assert texts == ["inside 1", "inside 2", "outside"]

    async def test_append_with_lease_wait_keeps_the_append_rules(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """`lease_wait` changes nothing else: seq checks and idempotency hold."""
        turn = user("a")
        first = await astore.aappend(record.id, [turn], lease_wait=5)
        assert await astore.aappend(record.id, [turn], lease_wait=5) == first
        with pytest.raises(SeqConflictError):
            await astore.aappend(
                record.id, [user("b")], expected_last_seq=0, lease_wait=5
            )
        with pytest.raises(ConversationNotFoundError):
            await astore.aappend(_new_id(), [user()], lease_wait=5)

    async def test_concurrent_lease_waiting_appends_stay_gapless(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Twenty concurrent lease-waiting appends get seqs 1 to 20."""

        async def one(i: int) -> None:
            await astore.aappend(record.id, [user(f"m{i}")], lease_wait=60)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        assert _seqs(await astore.aread(record.id)) == list(range(1, 21))

    # -- reading ---------------------------------------------------------------------

    async def test_read_window_reads_the_record_and_its_window(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """read_window: the record, the turns from its window start, and the head."""
        windows = _windows(astore)
        await _fill(astore, record, 6)
        got = await windows.aread_window(record.id)
        assert got.record == await astore.aget(record.id)
        assert (_seqs(got.turns), got.head) == ([1, 2, 3, 4, 5, 6], ())
        await astore.aupdate(record.id, {"window_start": 4})
        got = await windows.aread_window(record.id, head=2)
        assert got.record.window_start == 4
        assert (_seqs(got.turns), _seqs(got.head)) == ([4, 5, 6], [1, 2])
        got = await windows.aread_window(record.id, head=8)
        assert _seqs(got.head) == [1, 2, 3]

    async def test_read_window_stops_at_a_limit_or_past_a_budget(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A limit takes that many newest turns; a budget takes the turn that crosses it too."""
        windows = _windows(astore)
        await _fill(astore, record, 10)  # 10 tokens each
        assert _seqs((await windows.aread_window(record.id, limit=3)).turns) == [
            8,
            9,
            10,
        ]
        got = await windows.aread_window(record.id, budget=25, head=2)
        assert (_seqs(got.turns), _seqs(got.head)) == ([8, 9, 10], [1, 2])
        got = await windows.aread_window(record.id, budget=30)
        assert _seqs(got.turns) == [7, 8, 9, 10]
        got = await windows.aread_window(record.id, budget=25, limit=2)
        assert _seqs(got.turns) == [9, 10]
        got = await windows.aread_window(record.id, budget=1000)
        assert _seqs(got.turns) == list(range(1, 11))
        got = await windows.aread_window(record.id, budget=lambda r: r.last_seq)
        assert _seqs(got.turns) == [9, 10]
        await astore.aupdate(record.id, {"window_start": 9})
        got = await windows.aread_window(record.id, budget=1000, head=1)
        assert (_seqs(got.turns), _seqs(got.head)) == ([9, 10], [1])

    async def test_read_window_of_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """read_window of a missing conversation raises ConversationNotFoundError."""
        windows = _windows(astore)
        with pytest.raises(ConversationNotFoundError):
            await windows.aread_window(_new_id())

    async def test_append_in_section_moves_the_start_and_ends_the_lease(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """append_in_section: the window start with the turns; release frees the lease."""
        sections = _sections(astore)
        await _fill(astore, record, 4)
        async with astore.alock(record.id, timeout=_LOCK_TIMEOUT):
            got = await sections.aappend_in_section(
                record.id, [user("t5")], expected_last_seq=4, window_start=3
            )
            assert _seqs(got) == [5]
            assert (await astore.aget(record.id)).window_start == 3
            # A conflict writes nothing, the start included, and keeps the lease.
            with pytest.raises(SeqConflictError):
                await sections.aappend_in_section(
                    record.id,
                    [user("t6")],
                    expected_last_seq=4,
                    window_start=5,
                    release=True,
                )
            assert (await astore.aget(record.id)).window_start == 3
            with pytest.raises(ConversationBusyError):
                async with astore.alock(record.id, timeout=0.05):
                    pass
            # A replay writes no turn, so no start either.
            again = await sections.aappend_in_section(
                record.id, [got[0]], expected_last_seq=5, window_start=4
            )
            assert _seqs(again) == [5]
            assert (await astore.aget(record.id)).window_start == 3
            await sections.aappend_in_section(
                record.id, [user("t6")], expected_last_seq=5, release=True
            )
            # Released with the turn: another holder gets in before this block ends.
            async with astore.alock(record.id, timeout=_LOCK_TIMEOUT):
                pass
        assert _seqs(await astore.aread(record.id)) == [1, 2, 3, 4, 5, 6]
        async with astore.alock(record.id, timeout=_LOCK_TIMEOUT):
            pass

    async def test_read_by_seq_range(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """read(start, stop) returns seqs start..stop-1, oldest first."""
        await _fill(astore, record, 6)
        assert _seqs(await astore.aread(record.id, start=2, stop=5)) == [2, 3, 4]
        assert _seqs(await astore.aread(record.id, start=5)) == [5, 6]
        assert _seqs(await astore.aread(record.id, start=7)) == []
        assert _seqs(await astore.aread(record.id, start=4, stop=2)) == []
        assert [t.text for t in await astore.aread(record.id, stop=3)] == ["t1", "t2"]

    async def test_read_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """read() of a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await astore.aread(_new_id())

    async def test_read_newest_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """read_newest() of a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await _newest_first(astore).aread_newest(_new_id(), budget=10)

    async def test_read_newest_fills_the_budget(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """read_newest takes the newest turns that fit the budget, returned oldest first."""
        newest = _newest_first(astore)
        await _fill(astore, record, 10)
        assert _seqs(await newest.aread_newest(record.id, budget=35)) == [8, 9, 10]
        assert _seqs(await newest.aread_newest(record.id, budget=30)) == [8, 9, 10]
        assert _seqs(await newest.aread_newest(record.id, budget=9)) == []
        assert _seqs(await newest.aread_newest(record.id, budget=1000)) == list(
            range(1, 11)
        )

    async def test_read_newest_respects_start(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """read_newest never goes below *start*, the window start."""
        newest = _newest_first(astore)
        await _fill(astore, record, 10)
        assert _seqs(await newest.aread_newest(record.id, budget=1000, start=7)) == [
            7,
            8,
            9,
            10,
        ]

    async def test_read_newest_stops_at_the_first_overflow(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A large turn ends the window even if older small turns would fit."""
        newest = _newest_first(astore)
        await astore.aappend(
            record.id,
            [
                user("a", tokens=5),
                user("big", tokens=100),
                user("c", tokens=5),
                user("d", tokens=5),
            ],
        )
        assert _seqs(await newest.aread_newest(record.id, budget=50)) == [3, 4]

    async def test_get_turns_by_id(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """get_turns returns the stored turns among the ids, oldest first."""
        stored = await astore.aappend(record.id, [user("a"), assistant("b"), user("c")])
        got = await astore.aget_turns(
            record.id, [stored[2].id, "missing", stored[0].id]
        )
        assert got == (stored[0], stored[2])
        assert await astore.aget_turns(record.id, []) == ()

    async def test_update_turns_changes_bookkeeping_only(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update_turns sets tokens, exactness, status and merges flags; content stays."""
        stored = await astore.aappend(
            record.id, [user("a", flags={"x": 1}), assistant("b")]
        )
        await astore.aupdate_turns(
            record.id,
            [
                TurnUpdate(1, tokens=42, tokens_exact=True, flags={"y": 2}),
                TurnUpdate(2, status="interrupted"),
            ],
        )
        a, b = await astore.aread(record.id)
        assert (a.tokens, a.tokens_exact, dict(a.flags)) == (42, True, {"x": 1, "y": 2})
        assert b.status == "interrupted"
        assert b.tokens == stored[1].tokens
        assert (a, b) == stored

    async def test_update_turns_of_unknown_seq_fails_whole(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An update naming a seq that is not stored raises StoreError and changes nothing."""
        await astore.aappend(record.id, [user("a")])
        with pytest.raises(StoreError):
            await astore.aupdate_turns(
                record.id, [TurnUpdate(1, tokens=1), TurnUpdate(5, tokens=1)]
            )
        [a] = await astore.aread(record.id)
        assert a.tokens != 1

    async def test_append_with_updates_writes_both_at_once(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An append can carry bookkeeping updates of stored turns: one transaction."""
        await astore.aappend(record.id, [user("a")])
        await astore.aappend(
            record.id,
            [assistant("b")],
            expected_last_seq=1,
            updates=[TurnUpdate(1, tokens=7, tokens_exact=True)],
        )
        a, b = await astore.aread(record.id)
        assert (a.tokens, a.tokens_exact, b.text) == (7, True, "b")

    async def test_an_append_with_a_bad_update_writes_nothing(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """If an update names an unknown seq, the append fails whole: no turn is added."""
        await astore.aappend(record.id, [user("a")])
        with pytest.raises(StoreError):
            await astore.aappend(
                record.id, [assistant("b")], updates=[TurnUpdate(9, tokens=1)]
            )
        assert [t.text for t in await astore.aread(record.id)] == ["a"]
        assert (await astore.aget(record.id)).last_seq == 1

    # -- listing ---------------------------------------------------------------------

    async def test_list_pages_through_an_owners_conversations(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Paging with the cursor yields each conversation once, newest first."""
        made = await _make(astore, owner, 7)
        await _make(astore, f"{owner}-other", 2)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await astore.alist(owner=owner, limit=3, cursor=cursor)
            seen += [r.id for r in page.items]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        newest_first = sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)
        assert seen == [r.id for r in newest_first]
        assert pages == 3

    async def test_list_is_stable_for_equal_times(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Conversations created at the same instant page in id order, none lost."""
        made = await _make(astore, owner, 0)
        base = ConversationRecord(model="m", owner=owner)
        for i in range(5):
            made.append(await astore.acreate(evolve(base, id=f"{owner}-{i}")))
        first = await astore.alist(owner=owner, limit=2)
        rest = await astore.alist(owner=owner, limit=10, cursor=first.next_cursor)
        assert [r.id for r in first.items + rest.items] == [
            f"{owner}-{i}" for i in reversed(range(5))
        ]

    async def test_list_filters_by_metadata(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Metadata filters match top-level keys by JSON equality (True is not 1)."""
        a = await astore.acreate(
            ConversationRecord(model="m", owner=owner, metadata={"k": "v", "b": True})
        )
        b = await astore.acreate(
            ConversationRecord(model="m", owner=owner, metadata={"k": "w", "b": 1})
        )
        c = await astore.acreate(
            ConversationRecord(model="m", owner=owner, metadata={"k": None, "f": 1.5})
        )

        async def ids(**filters: object) -> set[str]:
            return {
                r.id for r in (await astore.alist(owner=owner, metadata=filters)).items
            }

        assert await ids(k="v") == {a.id}
        assert await ids(b=True) == {a.id}
        assert await ids(b=1) == {b.id}
        assert await ids(k=None) == {c.id}
        assert await ids(f=1.5) == {c.id}
        assert await ids(k="v", b=True) == {a.id}
        assert await ids(k="v", b=1) == set()
        assert await ids(missing="x") == set()
        assert await ids() == {a.id, b.id, c.id}

    async def test_list_metadata_keys_are_data_not_sql(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Odd metadata keys and values are matched literally, never interpreted."""
        key = "a'b\"c.d$[0] --"
        r = await astore.acreate(
            ConversationRecord(model="m", owner=owner, metadata={key: "x'); DROP"})
        )
        page = await astore.alist(owner=owner, metadata={key: "x'); DROP"})
        assert [x.id for x in page.items] == [r.id]

    async def test_list_refuses_bad_arguments(self, astore: AsyncStore) -> None:
        """A non-scalar filter value, a bad limit or a forged cursor raise InvalidInputError."""
        with pytest.raises(InvalidInputError):
            await astore.alist(metadata={"k": {"nested": 1}})
        with pytest.raises(InvalidInputError):
            await astore.alist(limit=0)
        with pytest.raises(InvalidInputError):
            await astore.alist(cursor="not a cursor")

    # -- delete, fork, usage ---------------------------------------------------------

    async def test_delete_removes_everything(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """After delete, the record, its turns and its listing are gone."""
        await astore.aappend(record.id, [user(), assistant()])
        await astore.adelete(record.id)
        with pytest.raises(ConversationNotFoundError):
            await astore.aget(record.id)
        with pytest.raises(ConversationNotFoundError):
            await astore.aread(record.id)
        assert (await astore.alist(owner=record.owner)).items == ()
        with pytest.raises(ConversationNotFoundError):
            await astore.adelete(record.id)

    async def test_delete_frees_turn_ids(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A conversation re-created under a deleted id starts from seq 1."""
        turn = user()
        await astore.aappend(record.id, [turn, assistant()])
        await astore.adelete(record.id)
        await astore.acreate(record)
        assert _seqs(await astore.aappend(record.id, [turn])) == [1]

    async def test_fork_copies_the_prefix(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A fork at seq 2 holds turns 1-2, links to its parent, and grows on its own."""
        parent_turns = await astore.aappend(
            record.id, [user("a"), assistant("b"), user("c")]
        )
        fork = await astore.afork(record.id, 2, new_id=f"{record.id}-fork")
        assert (fork.id, fork.parent_id, fork.forked_at, fork.last_seq) == (
            f"{record.id}-fork",
            record.id,
            2,
            2,
        )
        assert (fork.owner, fork.model) == (record.owner, record.model)
        assert await astore.aget(fork.id) == fork
        assert await astore.aread(fork.id) == parent_turns[:2]
        [extra] = await astore.aappend(fork.id, [user("d")])
        assert extra.seq == 3
        assert await astore.aread(record.id) == parent_turns

    async def test_fork_keeps_the_window_start_when_it_fits(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A fork keeps the parent's window start if it lies inside the copied prefix."""
        await _fill(astore, record, 5)
        await astore.aupdate(record.id, {"window_start": 3})
        assert (await astore.afork(record.id, 4)).window_start == 3
        assert (await astore.afork(record.id, 2)).window_start == 0

    async def test_fork_refuses_seqs_outside_the_history(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Forking past the last seq or below zero raises InvalidInputError."""
        await _fill(astore, record, 2)
        with pytest.raises(InvalidInputError):
            await astore.afork(record.id, 3)
        with pytest.raises(InvalidInputError):
            await astore.afork(record.id, -1)
        empty = await astore.afork(record.id, 0)
        assert await astore.aread(empty.id) == ()

    async def test_usage_totals(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """usage() sums the usage of every assistant turn that has one."""
        assert await astore.ausage(record.id) == UsageTotals()
        await astore.aappend(
            record.id,
            [
                user("a"),
                assistant("b", usage=Usage(10, 5, 2, 100)),
                user("c"),
                assistant("d", usage=Usage(20, 7, 0, 300)),
                assistant("e", usage=None),
            ],
        )
        assert await astore.ausage(record.id) == UsageTotals(2, 30, 12, 2, 400)

    async def test_usage_of_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """usage() of a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            await astore.ausage(_new_id())

    # -- the exclusive section ---------------------------------------------------------

    async def test_lock_excludes_a_second_holder(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """While one holder is inside, another waiter gets ConversationBusyError."""
        async with astore.alock(record.id):
            with pytest.raises(ConversationBusyError) as info:
                async with astore.alock(record.id, timeout=0.05):
                    pass  # pragma: no cover - never entered
            assert info.value.conversation_id == record.id
        async with astore.alock(record.id, timeout=5):
            pass

    async def test_lock_is_per_conversation(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Holding one conversation's section does not block another's."""
        a = await astore.acreate(ConversationRecord(model="m", owner=owner))
        b = await astore.acreate(ConversationRecord(model="m", owner=owner))
        async with astore.alock(a.id), astore.alock(b.id, timeout=5):
            await astore.aappend(b.id, [user()])

    async def test_lock_is_released_on_error(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """An exception inside the section releases it."""
        with pytest.raises(RuntimeError):
            async with astore.alock(record.id):
                raise RuntimeError
        async with astore.alock(record.id, timeout=5):
            pass

    async def test_lock_serializes_waiters(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Holders that wait for the section run one at a time, each read-then-append intact."""
        inside = 0
        overlaps = 0

        async def send(i: int) -> None:
            nonlocal inside, overlaps
            async with astore.alock(record.id, timeout=60):
                inside += 1
                overlaps += inside > 1
                last = (await astore.aget(record.id)).last_seq
                await astore.aappend(
                    record.id,
                    [user(f"u{i}"), assistant(f"a{i}")],
                    expected_last_seq=last,
                )
                inside -= 1

        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(send, i)
        assert overlaps == 0
        turns = await astore.aread(record.id)
        assert _seqs(turns) == list(range(1, 11))
        assert all(
            u.text[1:] == a.text[1:]
            for u, a in zip(turns[::2], turns[1::2], strict=True)
        )

    async def test_lock_of_unknown_conversation_is_not_found(
        self, astore: AsyncStore
    ) -> None:
        """Locking a missing conversation raises ConversationNotFoundError."""
        with pytest.raises(ConversationNotFoundError):
            async with astore.alock(_new_id()):
                pass  # pragma: no cover - never entered

    # -- tenancy ---------------------------------------------------------------------

    async def test_owner_handle_sees_only_its_conversations(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Another owner's conversation does not exist for an owner-bound handle."""
        mine = _owner_scoped(astore).for_owner(owner)
        theirs = _owner_scoped(astore).for_owner(f"{owner}-other")
        record = await mine.acreate(ConversationRecord(model="m"))
        assert record.owner == owner
        await mine.aappend(record.id, [user()])
        if _has(theirs, "aread_newest"):
            with pytest.raises(ConversationNotFoundError):
                await _newest_first(theirs).aread_newest(record.id, budget=100)
        for call in (
            theirs.aget(record.id),
            theirs.aread(record.id),
            theirs.aappend(record.id, [user()]),
            theirs.aupdate(record.id, {"model": "x"}),
            theirs.aget_turns(record.id, ["x"]),
            theirs.aupdate_turns(record.id, [TurnUpdate(1, tokens=1)]),
            theirs.adelete(record.id),
            theirs.afork(record.id, 1),
            theirs.ausage(record.id),
        ):
            with pytest.raises(ConversationNotFoundError):
                await call
        with pytest.raises(ConversationNotFoundError):
            async with theirs.alock(record.id):
                pass  # pragma: no cover - never entered
        assert (await theirs.alist()).items == ()
        assert (await theirs.alist(owner=owner)).items == ()
        assert [r.id for r in (await mine.alist()).items] == [record.id]
        assert len(await mine.aread(record.id)) == 1

    async def test_owner_handle_cannot_create_for_another_owner(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """An owner-bound handle refuses a record that names another owner."""
        with pytest.raises(InvalidInputError):
            await (
                _owner_scoped(astore)
                .for_owner(owner)
                .acreate(ConversationRecord(model="m", owner="someone-else"))
            )

    async def test_owner_handle_forks_stay_with_the_owner(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """A fork made through an owner handle belongs to that owner."""
        mine = _owner_scoped(astore).for_owner(owner)
        record = await mine.acreate(ConversationRecord(model="m"))
        fork = await mine.afork(record.id, 0)
        assert fork.owner == owner
        assert {r.id for r in (await mine.alist()).items} == {record.id, fork.id}

    async def test_times_are_timezone_aware(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Record and turn times read back timezone-aware and equal to what was stored."""
        record = ConversationRecord(model="m", owner=owner)
        record = evolve(record, created_at=record.created_at - timedelta(days=1))
        await astore.acreate(record)
        got = await astore.aget(record.id)
        assert got.created_at == record.created_at
        assert got.created_at.tzinfo is not None
        assert got.updated_at.tzinfo is not None

    async def test_content_is_stored_byte_exact(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """The JSON text of a turn's content reads back byte for byte (key order kept)."""
        data = {
            "type": "mystery",
            "zeta": 1,
            "alpha": {"y": 2, "x": [3, {"b": 1, "a": 0}]},
        }
        turn = Turn("assistant", [data], model="m")
        await astore.aappend(record.id, [turn])
        [got] = await astore.aread(record.id)
        assert got.content_json() == json.dumps(
            [data], ensure_ascii=False, separators=(",", ":")
        )

    # -- edges -----------------------------------------------------------------------

    async def test_values_that_are_not_json_are_refused(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Metadata that cannot be stored as JSON raises InvalidInputError, storing nothing."""
        record = ConversationRecord(model="m", owner=owner, metadata={"when": object()})
        with pytest.raises(InvalidInputError):
            await astore.acreate(record)
        with pytest.raises(ConversationNotFoundError):
            await astore.aget(record.id)

    async def test_update_checks_its_values(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update() takes params as a mapping too, and refuses values of the wrong kind."""
        got = await astore.aupdate(record.id, {"params": {"max_tokens": 7}})
        assert got.params == RequestParams(max_tokens=7)
        for bad in ({"params": "fast"}, {"model": 5}, {"window_start": True}):
            with pytest.raises(InvalidInputError):
                await astore.aupdate(record.id, bad)
        assert (await astore.aget(record.id)).params == RequestParams(max_tokens=7)

    async def test_forged_cursor_shapes_are_refused(self, astore: AsyncStore) -> None:
        """A cursor that decodes but was not made by a store raises InvalidInputError."""
        forged = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", 5]').decode()
        with pytest.raises(InvalidInputError):
            await astore.alist(cursor=forged)

    async def test_owner_handles_cannot_be_rebound(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """A handle bound to one owner refuses to become another's, but rebinds to its own."""
        mine = _owner_scoped(_owner_scoped(astore).for_owner(owner))
        record = await mine.acreate(ConversationRecord(model="m"))
        assert (await mine.for_owner(owner).aget(record.id)).id == record.id
        with pytest.raises(StoreError):
            mine.for_owner(f"{owner}-other")

    async def test_empty_bookkeeping_update_is_a_no_op(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """update_turns with no updates changes nothing (but still checks the conversation)."""
        await astore.aupdate_turns(record.id, [])
        with pytest.raises(ConversationNotFoundError):
            await astore.aupdate_turns(_new_id(), [])

    # -- erasure and retention (optional: Erasure) -----------------------------------

    async def test_erase_removes_a_conversation_and_counts_it(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """erase() reports the record and its turns; then nothing of it can be read or written."""
        erasing = _erasing(astore)
        await astore.aappend(record.id, [user(), assistant(), user("again")])
        assert await erasing.aerase(record.id) == Erased(1, 3)
        for call in (
            astore.aget(record.id),
            astore.aread(record.id),
            astore.aappend(record.id, [user()]),
            astore.aupdate(record.id, {"model": "x"}),
            astore.afork(record.id, 0),
            astore.ausage(record.id),
            astore.adelete(record.id),
        ):
            with pytest.raises(ConversationNotFoundError):
                await call
        with pytest.raises(ConversationNotFoundError):
            async with astore.alock(record.id):
                pass  # pragma: no cover - never entered
        assert (await astore.alist(owner=record.owner)).items == ()

    async def test_erase_is_idempotent(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """A second erase, or one of an unknown id, erases nothing; the id is free again."""
        erasing = _erasing(astore)
        await astore.aappend(record.id, [user()])
        assert await erasing.aerase(record.id) == Erased(1, 1)
        assert await erasing.aerase(record.id) == Erased()
        assert await erasing.aerase(_new_id()) == Erased()
        await astore.acreate(record)
        assert _seqs(await astore.aappend(record.id, [user()])) == [1]

    async def test_erase_owner_takes_all_and_only_the_owners(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """erase_owner() erases the owner's conversations and forks; a dry run only counts."""
        erasing = _erasing(astore)
        mine = await _make(astore, owner, 2)
        await _fill(astore, mine[0], 3)
        fork = await astore.afork(mine[0].id, 2)
        [other] = await _make(astore, f"{owner}-other", 1)
        await _fill(astore, other, 2)
        assert await erasing.aerase_owner(owner, dry_run=True) == Erased(3, 5)
        assert len((await astore.alist(owner=owner)).items) == 3
        assert await erasing.aerase_owner(owner) == Erased(3, 5)
        assert (await astore.alist(owner=owner)).items == ()
        for gone in (*mine, fork):
            with pytest.raises(ConversationNotFoundError):
                await astore.aget(gone.id)
        assert len(await astore.aread(other.id)) == 2
        assert await erasing.aerase_owner(owner) == Erased()
        assert await erasing.aerase_owner(owner, dry_run=True) == Erased()

    async def test_purge_takes_what_was_not_updated_since(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """purge(before=) erases conversations last updated before then, and no others."""
        erasing = _erasing(astore)
        stale = await _stale(astore, owner)
        fresh = await astore.acreate(ConversationRecord(model="m", owner=owner))
        assert await erasing.apurge(before=_CUTOFF, dry_run=True) == Erased(1, 0)
        assert (await astore.aget(stale.id)).id == stale.id
        assert await erasing.apurge(before=_CUTOFF) == Erased(1, 0)
        with pytest.raises(ConversationNotFoundError):
            await astore.aget(stale.id)
        assert (await astore.aget(fresh.id)).id == fresh.id
        assert await erasing.apurge(before=_CUTOFF) == Erased()

    async def test_purge_leaves_a_conversation_a_send_is_in(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """A stale conversation whose section is held is left for the next purge."""
        erasing = _erasing(astore)
        stale = await _stale(astore, owner)
        async with astore.alock(stale.id):
            assert await erasing.apurge(before=_CUTOFF) == Erased()
        assert await erasing.apurge(before=_CUTOFF) == Erased(1, 0)

    async def test_erase_racing_a_send_resurrects_nothing(
        self, astore: AsyncStore, record: ConversationRecord
    ) -> None:
        """Erased while its section is held, the conversation stays gone: the send cannot write."""
        erasing = _erasing(astore)
        await astore.aappend(record.id, [user()])
        async with astore.alock(record.id):
            # Another worker erases it mid-send, without waiting for the section.
            assert await erasing.aerase(record.id) == Erased(1, 1)
            with pytest.raises(ConversationNotFoundError):
                await astore.aappend(record.id, [assistant()], expected_last_seq=1)
        with pytest.raises(ConversationNotFoundError):
            await astore.aappend(record.id, [assistant()], lease_wait=1.0)
        with pytest.raises(ConversationNotFoundError):
            await astore.aread(record.id)
        assert (await astore.alist(owner=record.owner)).items == ()

    async def test_owner_handle_erases_only_its_own(
        self, astore: AsyncStore, owner: str
    ) -> None:
        """Through another owner's handle, erase, erase_owner and purge take nothing of mine."""
        erasing = _erasing(astore)
        theirs = _erasing(_owner_scoped(astore).for_owner(f"{owner}-other"))
        record = await _stale(astore, owner)
        assert await theirs.aerase(record.id) == Erased()
        assert await theirs.aerase_owner(owner) == Erased()
        assert await theirs.apurge(before=_CUTOFF) == Erased()
        assert (await astore.aget(record.id)).id == record.id
        assert await erasing.aerase_owner(owner) == Erased(1, 0)
