"""The connections a store's runner keeps checked out between calls (`_Kept`).

A call on the driver ends its own transaction, so the connection it gives back is
idle and the next call takes it without SQLAlchemy's checkout. These tests pin the
limits: how many are kept, when none are, and that every kept connection is
closed with the store, by `Engine.dispose`, or on a replaced pool.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from conversa import Conversation, PostgresStore, SQLiteStore

MODEL = "claude-sonnet-4-5"


def _adds(store: Any, n: int = 3) -> Conversation:
    conv = Conversation.create(store, model=MODEL)
    for k in range(n):
        conv.add("user" if k % 2 == 0 else "assistant", f"turn {k}")
    return conv


def test_sqlite_calls_reuse_one_kept_connection(tmp_path: Path) -> None:
    """One thread's calls run on one connection, kept checked out between them;
    the pool counts it as checked out, and closing the store gives it back."""
    store = SQLiteStore(tmp_path / "c.db")
    pool: Any = store.engine.pool
    try:
        _adds(store, 5)
        assert store._runner.kept == 1
        assert pool.checkedout() == 1
    finally:
        store.close()
    assert store._runner.kept == 0
    assert pool.checkedout() == 0


def test_threads_keep_at_most_the_pool_size(tmp_path: Path) -> None:
    """Many threads at once check out more; at most the pool's size are kept after."""
    store = SQLiteStore(tmp_path / "c.db")
    pool: Any = store.engine.pool
    convs = [Conversation.create(store, model=MODEL) for _ in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(conv: Conversation) -> None:
        try:
            barrier.wait()
            for k in range(20):
                conv.add("user" if k % 2 == 0 else "assistant", f"t{k}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in convs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert 1 <= store._runner.kept <= pool.size()
        assert pool.checkedout() == store._runner.kept
        assert all(len(c.turns()) == 20 for c in convs)
    finally:
        store.close()


def test_engine_dispose_closes_the_kept_connections(tmp_path: Path) -> None:
    """`Engine.dispose` closes the kept connections too: none is left for the
    garbage collector (a ResourceWarning), and the next call opens a new one."""
    store = SQLiteStore(tmp_path / "c.db")
    try:
        conv = _adds(store)
        assert store._runner.kept == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            store.engine.dispose()
            gc.collect()
        assert store._runner.kept == 0
        conv.add("user", "after the dispose")
        assert conv.turns()[-1].text == "after the dispose"
    finally:
        store.close()


def test_a_listener_of_checkouts_turns_keeping_off(tmp_path: Path) -> None:
    """While someone else listens to the pool's checkouts, every call checks out
    from the pool (and the listener hears each one)."""
    store = SQLiteStore(tmp_path / "c.db")
    heard: list[int] = []
    try:
        conv = _adds(store)
        event.listen(store.engine, "checkout", lambda *_: heard.append(1))
        for k in range(4):
            conv.add("user" if k % 2 == 0 else "assistant", f"more {k}")
        assert len(heard) >= 4
        assert store._runner.kept == 0
    finally:
        store.close()


def test_a_call_the_usual_way_gives_the_kept_connections_back(tmp_path: Path) -> None:
    """A pool listener added with a cursor listener (so calls take SQLAlchemy's
    Connection, which keeps nothing), during a call or between calls: the next
    call gives every kept connection back to the pool, and the pool listener
    hears it checked in."""
    store = SQLiteStore(tmp_path / "u.db")
    checkins: list[int] = []
    try:
        conv = _adds(store)
        assert store._runner.kept == 1
        event.listen(store.engine.pool, "checkin", lambda *_: checkins.append(1))
        event.listen(store.engine, "before_cursor_execute", lambda *_: None)
        conv.add("assistant", "the usual way")
        assert store._runner.kept == 0
        assert store.engine.pool.checkedout() == 0
        assert checkins  # the kept one came back through the pool
        assert [t.text for t in conv.turns()][-1] == "the usual way"
    finally:
        store.close()


def test_memory_store_keeps_nothing() -> None:
    """ ":memory:" has one connection (a StaticPool): nothing to keep."""
    store = SQLiteStore(":memory:")
    try:
        _adds(store)
        assert store._runner.kept == 0
    finally:
        store.close()


def test_a_kept_connection_still_sees_the_file_replaced(tmp_path: Path) -> None:
    """The file check of every checkout runs for a kept connection too."""
    from conversa import StoreUnavailableError

    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    try:
        conv = _adds(store)
        assert store._runner.kept == 1
        other = tmp_path / "other.db"
        sqlite3.connect(other).close()
        other.replace(path)
        with pytest.raises(StoreUnavailableError, match="replaced"):
            conv.add("user", "lost?")
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_keeps_none_without_overflow(pg_url: str) -> None:
    """With `max_overflow=0` nothing is kept: whoever else checks out of the engine
    always finds the pool's size free."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=0)
    try:
        _adds(store)
        assert store._runner.kept == 0
        raw = store.engine.raw_connection()  # the one connection, free
        raw.close()
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_calls_reuse_a_kept_connection(pg_url: str) -> None:
    """On PostgreSQL too, calls run on a kept connection, idle between calls."""
    store = PostgresStore(pg_url)
    try:
        pool: Any = store.engine.pool
        _adds(store, 6)
        assert store._runner.kept == 1
        assert pool.checkedout() == 1
        raw = store.engine.raw_connection()  # the pool still has its size free
        raw.close()
    finally:
        store.close()
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_a_kept_postgres_connection_goes_back_to_the_pool_as_it_was(
    pg_url: str,
) -> None:
    """A kept connection stays in autocommit mode between conversa's calls (it
    frames its own transactions), and goes back to the pool as conversa found
    it: not in autocommit, and idle."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=1)
    try:
        _adds(store, 4)
        assert store._runner.kept == 1
        (fairy,) = store._runner._kept._idle
        kept_driver: Any = fairy.driver_connection
        assert kept_driver.autocommit is True  # left on while kept
        store._runner._kept.release()  # back to the pool
        raw: Any = store.engine.raw_connection()
        try:
            assert raw.driver_connection is kept_driver  # the same one
            assert raw.driver_connection.autocommit is False
            assert "conversa_autocommit" not in raw.info
        finally:
            raw.close()
        _adds(store, 2)  # and conversa takes it up again
        assert store._runner.kept == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_calls_reuse_their_cursors_but_not_after_a_big_read(
    pg_url: str,
) -> None:
    """The statements of a call run on cursors kept on the connection for the
    next call; a cursor that read many rows is closed after the call rather than
    kept holding them."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=1)
    try:
        conv = _adds(store, 4)
        (fairy,) = store._runner._kept._idle
        first = list(fairy.info["conversa_cursors"][1:])
        assert first
        assert not any(c.closed for c in first)
        _adds(store, 2)
        assert fairy.info["conversa_cursors"][1:][: len(first)] == first  # the same
        conv.add_turns([("user", f"q{k}") for k in range(100)])
        assert len(store.read(conv.id)) == 104  # one read of more than 64 rows
        (fairy,) = store._runner._kept._idle
        now = fairy.info["conversa_cursors"][1:]
        closed = [c for c in first if c.closed]
        assert len(closed) == 1
        assert closed[0] not in now
        conv.add("assistant", "still fine")
        assert store.read(conv.id)[-1].text == "still fine"
    finally:
        store.close()


@pytest.mark.postgres
def test_a_large_turns_cursor_is_not_kept(pg_url: str) -> None:
    """A cursor given a large value (a turn of more than 64 KiB of text) is closed
    after its call, not kept holding the value until it runs again."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=1)
    try:
        conv = _adds(store, 2)
        (fairy,) = store._runner._kept._idle
        (small,) = fairy.info["conversa_cursors"][1:2]
        conv.add("user", "x" * 70_000)
        assert small.closed
        assert small not in fairy.info["conversa_cursors"]
        conv.add("assistant", "short")  # a fresh cursor, kept
        (fresh,) = fairy.info["conversa_cursors"][1:2]
        assert not fresh.closed
        assert [len(t.text) for t in store.read(conv.id)][-2:] == [70_000, 5]
    finally:
        store.close()


@pytest.mark.postgres
def test_a_kept_connection_closed_under_the_store_is_replaced(pg_url: str) -> None:
    """A kept connection whose driver connection was closed (its cursors with it)
    costs the next call a retry on a fresh connection, for a write and a read."""
    store = PostgresStore(pg_url, pool_size=1, max_overflow=1)
    try:
        conv = _adds(store, 2)
        (fairy,) = store._runner._kept._idle
        fairy.driver_connection.close()
        conv.add("user", "after")
        (fairy,) = store._runner._kept._idle
        fairy.driver_connection.close()
        assert [t.text for t in store.read(conv.id)] == ["turn 0", "turn 1", "after"]
    finally:
        store.close()


def test_autocommit_is_noted_only_once_switched() -> None:
    """The driver's own autocommit setting is noted only once conversa switched
    it: a switch refused (psycopg's, inside a transaction) notes nothing, so the
    next call tries again rather than trusting a switch that never happened."""
    from conversa._stores.sql.runners import _autocommit_on

    class Refusing:
        autocommit = False

        def __setattr__(self, name: str, value: Any) -> None:
            msg = "can't change autocommit now"
            raise RuntimeError(msg)

    info: dict[str, Any] = {}
    with pytest.raises(RuntimeError):
        _autocommit_on(info, Refusing())
    assert info == {}
