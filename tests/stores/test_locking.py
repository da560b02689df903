"""The exclusive section across twins and threads, and the lease's life cycle."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from sqlmodel import Session, col, select, update

from conversa._exceptions import ConversationBusyError, SeqConflictError
from conversa._stores.sql.schema import ConversationRow
from conversa._stores.sql.store import SQLStore
from conversa._values.turns import ConversationRecord
from tests.stores.conftest import open_sync_store
from tests.stores.helpers import assistant, user
from tests.stores.workers import open_store

pytestmark = pytest.mark.anyio

PATIENCE = 60.0


@pytest.fixture(name="sync_store")
async def _sync_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Any]:
    """One store object of each backend, used through both twins."""
    store = open_sync_store(backend, request, tmp_path)
    yield store
    await store.aclose()


async def test_sync_holder_excludes_async_waiter(sync_store: Any) -> None:
    """A section held through `lock` makes `alock` on the same store wait, then fail."""
    record = sync_store.create(ConversationRecord(model="m"))
    with sync_store.lock(record.id), pytest.raises(ConversationBusyError):
        async with sync_store.alock(record.id, timeout=0.05):
            pass  # pragma: no cover - never entered
    async with sync_store.alock(record.id, timeout=PATIENCE):
        pass


async def test_async_holder_excludes_sync_waiter(sync_store: Any) -> None:
    """A section held through `alock` makes `lock` on the same store fail after its timeout."""
    record = sync_store.create(ConversationRecord(model="m"))
    async with sync_store.alock(record.id):
        with (
            pytest.raises(ConversationBusyError),
            sync_store.lock(record.id, timeout=0),
        ):
            pass  # pragma: no cover - never entered
    with sync_store.lock(record.id, timeout=PATIENCE):
        pass


async def test_threads_take_turns(sync_store: Any) -> None:
    """Threads doing read-then-append inside the section never see a stale last seq."""
    record = sync_store.create(ConversationRecord(model="m"))
    errors: list[BaseException] = []

    def worker(tag: str) -> None:
        try:
            for i in range(8):
                with sync_store.lock(record.id, timeout=PATIENCE):
                    last = sync_store.get(record.id).last_seq
                    sync_store.append(
                        record.id,
                        [user(f"{tag}{i}"), assistant(f"{tag}{i}")],
                        expected_last_seq=last,
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        await anyio.to_thread.run_sync(thread.join)
    assert errors == []
    turns = sync_store.read(record.id)
    assert [t.seq for t in turns] == list(range(1, 65))
    assert all(u.text == a.text for u, a in zip(turns[::2], turns[1::2], strict=True))


def _lease(store: SQLStore, conversation_id: str) -> tuple[str, float] | None:
    """The conversation's lease as its row has it: (holder, expires), or None."""
    with Session(store._runner.engine) as session:
        row = session.exec(
            select(ConversationRow).where(ConversationRow.id == conversation_id)
        ).one()
    if row.lease_holder is None or row.lease_expires is None:
        return None
    return row.lease_holder, row.lease_expires


def _take_over(store: SQLStore, conversation_id: str) -> None:
    """Another holder takes the conversation's lease over (its row says so)."""
    with Session(store._runner.engine) as session:
        session.exec(
            update(ConversationRow)
            .where(col(ConversationRow.id) == conversation_id)
            .values(lease_holder="someone else")
        )
        session.commit()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_a_dead_holders_lease_runs_out(sql_backend: str, target: str) -> None:
    """A holder that stops renewing (its process died) frees the section after its lease."""
    with open_store(sql_backend, target, lease_seconds=0.5) as store:
        record = store.create(ConversationRecord(model="m"))
        dead = open_store(sql_backend, target, lease_seconds=0.5)
        section = dead.lock(record.id)
        section.__enter__()
        dead._renewer.close()  # it will never renew nor release: as if killed
        dead._runner.engine.dispose()
        with store.lock(record.id, timeout=PATIENCE):
            store.append(record.id, [user("after the crash")])
        assert store.get(record.id).last_seq == 1
        section.__exit__(None, None, None)  # its release finds the lease gone
        dead._runner.engine.dispose()


def test_a_held_lease_is_renewed(sql_backend: str, target: str) -> None:
    """A live holder keeps the section well past one lease length."""
    with open_store(sql_backend, target, lease_seconds=1.0) as store:
        record = store.create(ConversationRecord(model="m"))
        with store.lock(record.id):
            first = _lease(store, record.id)
            assert first is not None
            _wait_for(
                lambda: (
                    (lease := _lease(store, record.id)) is not None
                    and lease[1] > first[1] + 1.5
                ),
                "renewals past one lease length",
            )
            with pytest.raises(ConversationBusyError), store.lock(record.id, timeout=0):
                pass  # pragma: no cover - never entered
        assert _lease(store, record.id) is None


def test_a_stolen_lease_is_reported(
    sql_backend: str, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """If another holder took the lease over, the renewer logs an error."""
    with open_store(sql_backend, target, lease_seconds=0.3) as store:
        record = store.create(ConversationRecord(model="m"))
        with caplog.at_level(logging.ERROR, logger="conversa"), store.lock(record.id):
            _take_over(store, record.id)
            _wait_for(lambda: "lost the lock" in caplog.text, "the error")


def test_the_replys_append_ends_only_its_own_lease(
    sql_backend: str, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A send's reply ends the section's lease with its move of the record (no
    statement of its own); a lease another holder took over meanwhile stays, and
    so does the reply."""
    with open_store(sql_backend, target) as store:
        held = store.create(ConversationRecord(model="m"))
        with store.lock(held.id):
            store.append_in_section(
                held.id, [user("hi")], expected_last_seq=0, release=True
            )
            assert _lease(store, held.id) is None  # ended with the append
        assert [t.seq for t in store.read(held.id)] == [1]
        taken = store.create(ConversationRecord(model="m"))
        with caplog.at_level(logging.ERROR, logger="conversa"), store.lock(taken.id):
            _take_over(store, taken.id)
            store.append_in_section(
                taken.id, [user("hi")], expected_last_seq=0, release=True
            )
        lease = _lease(store, taken.id)
        assert lease is not None
        assert lease[0] == "someone else"
        assert [t.text for t in store.read(taken.id)] == ["hi"]


def test_a_sends_user_turn_moves_the_window_start_in_its_append(
    sql_backend: str, target: str
) -> None:
    """A send's user turn that moves the window start is one plain append (no
    bookkeeping, no lease to end: the short write without the flow). It moves the
    start with the turn; sent again (a retried send), it is the stored turn; a
    stale expected seq writes nothing and says so."""
    with open_store(sql_backend, target) as store:
        record = store.create(ConversationRecord(model="m"))
        store.append(record.id, [user("a"), assistant("b")])
        turn = user("c")
        with store.lock(record.id):
            (stored,) = store.append_in_section(
                record.id, [turn], expected_last_seq=2, window_start=2
            )
            again = store.append_in_section(
                record.id, [turn], expected_last_seq=2, window_start=2
            )
            with pytest.raises(SeqConflictError):
                store.append_in_section(
                    record.id, [user("d")], expected_last_seq=2, window_start=3
                )
        assert stored.seq == 3
        assert again == (stored,)
        after = store.get(record.id)
        assert (after.last_seq, after.window_start) == (3, 2)
        assert [t.text for t in store.read(record.id)] == ["a", "b", "c"]


async def test_a_cancelled_waiter_leaves_no_lease(sync_store: Any) -> None:
    """Cancelling an async waiter gives up the wait and takes nothing with it."""
    record = sync_store.create(ConversationRecord(model="m"))
    async with sync_store.alock(record.id):
        with anyio.move_on_after(0.05) as scope:
            async with sync_store.alock(record.id, timeout=PATIENCE):
                pytest.fail("entered a held section")
        assert scope.cancelled_caught
    with sync_store.lock(record.id, timeout=0):
        pass
