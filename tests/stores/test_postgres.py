"""PostgresStore specifics: URLs, engines, the pool, and connections killed mid-append."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.ext.asyncio import create_async_engine

from conversa._exceptions import ConversationBusyError, StoreUnavailableError
from conversa._stores import PostgresStore
from conversa._stores.sql.postgres import psycopg_url
from conversa._values.turns import ConversationRecord
from tests.stores.helpers import SyncAsAsync, assistant, plain_url, user

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
    ],
)
def test_plain_urls_are_rewritten_to_psycopg3(given: str, expected: str) -> None:
    """A plain postgresql:// URL gets psycopg 3's driver; an explicit driver is kept."""
    assert psycopg_url(given).render_as_string(hide_password=False) == expected


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg, opening a PostgresStore says which extra to install."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ImportError, match=r"pip install 'conversa-state\[postgres\]'"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none")


@pytest.mark.postgres
@pytest.mark.parametrize("given", ["engine", "async_engine", "pair"])
async def test_accepts_engines(pg_url: str, given: str) -> None:
    """A sync engine, an async engine (for its URL) or both serve both twins."""
    engines: dict[str, Any] = {
        "engine": create_engine(psycopg_url(pg_url)),
        "async_engine": create_async_engine(psycopg_url(pg_url)),
    }
    arg = (
        engines[given]
        if given != "pair"
        else (engines["engine"], engines["async_engine"])
    )
    store = PostgresStore(arg)
    try:
        record = store.create(ConversationRecord(model="m"))
        await store.aappend(record.id, [user()])
        assert len(store.read(record.id)) == 1
        assert "postgresql+psycopg" in repr(store)
    finally:
        await store.aclose()
        engines["engine"].dispose()
        await engines["async_engine"].dispose()


@pytest.mark.postgres
async def test_no_pooled_connection_is_held_inside_the_section(pg_url: str) -> None:
    """While a send holds the lock, every connection is idle: back in the pool, or
    kept by the runner for its next call (none in a transaction)."""
    store = PostgresStore(pg_url)
    pool: Any = store.engine.pool
    try:
        record = store.create(ConversationRecord(model="m"))
        with store.lock(record.id):
            assert pool.checkedout() == store._runner.kept <= 1
        async with store.alock(record.id):
            assert pool.checkedout() == store._runner.kept <= 1
    finally:
        await store.aclose()


def _wait_until_gone(admin: psycopg.Connection[Any], pid: int) -> None:
    deadline = time.monotonic() + 30
    while admin.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone():
        assert time.monotonic() < deadline, "the backend did not terminate"
        time.sleep(0.01)


@pytest.fixture(name="killer")
def _killer(pg_url: str) -> Iterator[Any]:
    """Arm an engine so its next *n* turn INSERTs have their connection terminated after."""
    admin = psycopg.connect(plain_url(pg_url).split("?")[0], autocommit=True)
    armed: list[tuple[Engine, Any]] = []

    def arm(engine: Engine, n: int) -> list[int]:
        left = [n]

        def kill(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if left[0] and statement.startswith("INSERT INTO conversa_turns"):
                left[0] -= 1
                pid = conn.connection.driver_connection.info.backend_pid
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                _wait_until_gone(admin, pid)

        event.listen(engine, "after_cursor_execute", kill)
        armed.append((engine, kill))
        return left

    yield arm
    for engine, kill in armed:
        event.remove(engine, "after_cursor_execute", kill)
    admin.close()


@pytest.mark.postgres
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_connection_killed_mid_append_is_retried_once(
    pg_url: str, killer: Any, twin: str
) -> None:
    """A backend killed after the turn INSERT rolls back; the retry stores each turn once."""
    store = PostgresStore(pg_url)
    try:
        record = store.create(ConversationRecord(model="m"))
        turns = [user("q"), assistant("a")]
        engine = store.engine  # both twins run on its pool
        left = killer(engine, 1)
        view = SyncAsAsync(store) if twin == "sync" else store
        stored = await view.aappend(record.id, turns)
        assert left == [0]
        assert [t.seq for t in stored] == [1, 2]
        assert store.read(record.id) == stored
        assert store.get(record.id).last_seq == 2
    finally:
        await store.aclose()


@pytest.mark.postgres
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_connection_killed_twice_leaves_no_partial_turn(
    pg_url: str, killer: Any, twin: str
) -> None:
    """When every try dies, the append gives up (after one more try than the pool
    holds idle connections), fails whole, and the next call succeeds."""
    store = PostgresStore(pg_url)
    try:
        record = store.create(ConversationRecord(model="m"))
        engine = store.engine  # both twins run on its pool
        armed = 1000
        left = killer(engine, armed)
        turns = [user("q"), assistant("a")]
        view = SyncAsAsync(store) if twin == "sync" else store
        with pytest.raises(StoreUnavailableError):
            await view.aappend(record.id, turns)
        assert 2 <= armed - left[0] <= 2 + engine.pool.size()  # it gave up
        left[0] = 0  # the server is back
        assert store.read(record.id) == ()
        assert store.get(record.id).last_seq == 0
        stored = await store.aappend(record.id, [user("again")])
        assert [t.seq for t in stored] == [1]
    finally:
        await store.aclose()


@pytest.mark.postgres
def test_an_append_waiting_for_the_row_sees_a_lease_taken_meanwhile(
    pg_url: str,
) -> None:
    """A lease taken while a lease-waiting append waits for the row keeps it out.

    The "send" takes the lease with an UPDATE of the conversation's row, as lease
    acquisition does; the append blocks on the row, and once the lease is
    committed it must see it (and give up busy), not land inside the section.
    """
    with PostgresStore(pg_url) as store:
        record = store.create(ConversationRecord(model="m"))
        outcome: list[object] = []

        def append() -> None:
            try:
                outcome.append(store.append(record.id, [user()], lease_wait=0.2))
            except ConversationBusyError as exc:
                outcome.append(exc)

        with store.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(
                "UPDATE conversa_conversations SET lease_holder = 'a send',"
                " lease_expires = EXTRACT(epoch FROM clock_timestamp()) + 60"
                " WHERE id = %(cid)s",
                {"cid": record.id},
            )
            thread = threading.Thread(target=append)
            thread.start()
            thread.join(0.3)  # room for the append to reach the row lock
        thread.join(60)
        assert [type(o) for o in outcome] == [ConversationBusyError]
        assert store.read(record.id) == ()
