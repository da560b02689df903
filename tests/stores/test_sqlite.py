"""SQLiteStore specifics: settings, `":memory:"`, persistence, no write lock held."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from conversa._stores import SQLiteStore
from conversa._stores.sql.sqlite import to_wal
from conversa._values.turns import ConversationRecord
from tests.stores.helpers import assistant, user

pytestmark = pytest.mark.anyio


def _pragma(store: SQLiteStore, name: str) -> object:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_connections_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    """Every connection runs in WAL mode with a busy timeout, NORMAL sync and FKs on."""
    with SQLiteStore(tmp_path / "c.db", busy_timeout=7) as store:
        assert _pragma(store, "journal_mode") == "wal"
        assert _pragma(store, "busy_timeout") == 7000
        assert _pragma(store, "synchronous") == 1
        assert _pragma(store, "foreign_keys") == 1


def test_synchronous_full_is_available(tmp_path: Path) -> None:
    """synchronous="FULL" fsyncs every commit; unknown levels are refused."""
    with SQLiteStore(tmp_path / "c.db", synchronous="FULL") as store:
        assert _pragma(store, "synchronous") == 2
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "d.db", synchronous="SOMETIMES")  # type: ignore[arg-type]


def test_data_survives_reopening(tmp_path: Path) -> None:
    """A conversation written by one store object is there for the next."""
    path = tmp_path / "c.db"
    with SQLiteStore(path) as store:
        record = store.create(ConversationRecord(model="m"))
        stored = store.append(record.id, [user(), assistant()])
    with SQLiteStore(str(path)) as store:
        assert store.get(record.id) == record.__class__(
            record.id, model="m", last_seq=2, created_at=record.created_at
        )
        assert store.read(record.id) == stored


async def test_memory_database_works_from_threads_and_tasks() -> None:
    """`":memory:"` keeps one database for the store, shared by threads and async calls."""
    store = SQLiteStore(":memory:")
    try:
        record = store.create(ConversationRecord(model="m"))

        def sync_appends() -> None:
            for i in range(10):
                with store.lock(record.id, timeout=30):
                    store.append(record.id, [user(f"t{i}")])

        threads = [threading.Thread(target=sync_appends) for _ in range(3)]
        for thread in threads:
            thread.start()
        for i in range(10):
            async with store.alock(record.id, timeout=30):
                await store.aappend(record.id, [user(f"a{i}")])
        for thread in threads:
            thread.join()
        turns = await store.aread(record.id)
        assert [t.seq for t in turns] == list(range(1, 41))
        assert repr(store) == "SQLiteStore(':memory:')"
    finally:
        await store.aclose()


def test_no_write_transaction_is_held_inside_the_section(tmp_path: Path) -> None:
    """While a send holds the lock, another connection can write at once."""
    path = tmp_path / "c.db"
    with SQLiteStore(path) as store:
        record = store.create(ConversationRecord(model="m"))
        with store.lock(record.id):
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("COMMIT")
            finally:
                other.close()


def test_owner_handles_share_the_database(tmp_path: Path) -> None:
    """An owner handle writes to the same file and names its owner in its repr."""
    with SQLiteStore(tmp_path / "c.db") as store:
        mine = store.for_owner("u1")
        record = mine.create(ConversationRecord(model="m"))
        assert store.get(record.id).owner == "u1"
        assert "owner='u1'" in repr(mine)


def _switch_to_wal(path: str, barrier: Any, out: Any) -> None:
    """In a process of its own: connect, wait for the others, switch to WAL."""
    connection = sqlite3.connect(path, isolation_level=None)
    barrier.wait()
    try:
        to_wal(connection, busy_timeout=30.0)
        out.put("ok")
    except sqlite3.OperationalError as exc:
        out.put(str(exc))
    finally:
        connection.close()


def test_connections_switching_a_new_file_to_wal_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    """Six processes switching a fresh file to WAL at the same moment: SQLite
    answers all but one "database is locked" at once, busy timeout or not (bare
    `PRAGMA journal_mode=WAL` failed in 134 of 1,200 such openings); `to_wal`,
    which a store's connections run, waits until one of them has switched it."""
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        path = str(tmp_path / f"fresh{round_}.db")
        barrier, out = context.Barrier(6), context.Queue()
        procs = [
            context.Process(target=_switch_to_wal, args=(path, barrier, out))
            for _ in range(6)
        ]
        for proc in procs:
            proc.start()
        answers = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        assert answers == ["ok"] * 6
        with contextlib.closing(sqlite3.connect(path)) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
