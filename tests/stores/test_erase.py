"""Erasure and retention on the SQL stores: batches, resuming, a racing send, old databases.

The contract (`conversa.testing.store_contract`) checks what every store's
`Erasure` does; these tests check what the SQL stores do underneath: the tombstone,
turns deleted a bounded batch per transaction, an interrupted erase that a rerun
finishes, purge by time, the rows left in the database (none), and a database
from before the tombstone. Each runs on SQLite and PostgreSQL, through both twins.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine, event, text, update

from conversa import ConversationNotFoundError, ConversationRecord, Erased
from conversa._drive import Flow
from conversa._stores.sql import erase
from conversa._stores.sql.migrations import MIGRATIONS
from conversa._stores.sql.postgres import psycopg_url
from conversa._stores.sql.schema import CONVERSATIONS
from conversa._stores.sql.store import SQLStore
from tests.stores.helpers import SyncAsAsync, assistant, plain_url, user
from tests.stores.workers import open_store

pytestmark = pytest.mark.anyio

OLD = datetime(2001, 1, 1, tzinfo=timezone.utc)
T = TypeVar("T")


@pytest.fixture(name="store")
async def _store(sql_backend: str, target: str) -> AsyncIterator[SQLStore]:
    store = open_store(sql_backend, target)
    yield store
    await store.aclose()  # closes both twins' connections


@pytest.fixture(name="twin", params=["sync", "async"])
def _twin(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="astore")
def _astore(store: SQLStore, twin: str) -> Any:
    """The store through the twin under test, seen through the async interface."""
    return store if twin == "async" else SyncAsAsync(store)


@pytest.fixture(name="small_batches")
def _small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Erase 4 turns a transaction."""
    monkeypatch.setattr(erase, "TURN_BATCH", 4)
    return 4


def _rows(store: SQLStore, conversation_ids: list[str]) -> dict[str, int]:
    """How many rows each conversa table holds for *conversation_ids*, and how
    many of them have a lease on."""
    params = {f"i{n}": cid for n, cid in enumerate(conversation_ids)}
    names = ", ".join(f":i{n}" for n in range(len(conversation_ids)))
    counts = {}
    with store.engine.connect() as conn:
        for name, table, column, leased in (
            ("conversa_conversations", "conversa_conversations", "id", ""),
            ("conversa_turns", "conversa_turns", "conversation_id", ""),
            ("leases", "conversa_conversations", "id", " AND lease_holder IS NOT NULL"),
        ):
            sql = f"SELECT count(*) FROM {table} WHERE {column} IN ({names}){leased}"  # noqa: S608 - our names
            counts[name] = conn.execute(text(sql), params).scalar_one()
    return counts


async def _conversation(
    astore: Any, owner: str, turns: int, prefix: str = ""
) -> ConversationRecord:
    record = await astore.acreate(
        ConversationRecord(id=f"{prefix}{uuid.uuid4().hex}", model="m", owner=owner)
    )
    if turns:
        await astore.aappend(record.id, [user(f"t{i}") for i in range(turns)])
    return record


def _owner() -> str:
    return f"owner-{uuid.uuid4().hex}"


class DeletesOfTurns:
    """Counts the statements that delete turns, and the rows each deleted."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.deleted: list[int] = []
        event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM CONVERSA_TURNS"):
            self.deleted.append(cursor.rowcount)

    def close(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._after)


def _engine(store: SQLStore, twin: str) -> Engine:
    if twin == "async" and hasattr(store, "async_engine"):
        return store.async_engine.sync_engine  # type: ignore[no-any-return]
    return store.engine


async def test_turns_are_deleted_a_bounded_batch_at_a_time(
    store: SQLStore, astore: Any, twin: str, small_batches: int
) -> None:
    """Ten turns erased four at a time: three deletes of 4, 4 and 2 turns, each its own."""
    record = await _conversation(astore, _owner(), 10)
    deletes = DeletesOfTurns(_engine(store, twin))
    try:
        assert await astore.aerase(record.id) == Erased(1, 10)
    finally:
        deletes.close()
    assert deletes.deleted == [4, 4, 2]
    assert _rows(store, [record.id]) == dict.fromkeys(
        ("conversa_conversations", "conversa_turns", "leases"), 0
    )


async def test_an_interrupted_erase_is_finished_by_a_rerun(
    store: SQLStore, astore: Any, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash in the second batch leaves the conversations hidden; a rerun deletes the rest."""
    owner = _owner()
    # Erased in id order: the first, then the second.
    first = await _conversation(astore, owner, 10, prefix="a")
    second = await _conversation(astore, owner, 3, prefix="b")
    real = erase.delete_batch_flow
    calls = 0

    def crashing(conversation_id: str, lo: int, *, last: bool) -> Flow[Erased]:
        nonlocal calls
        calls += 1
        done = yield from real(conversation_id, lo, last=last)
        if calls == 2:
            msg = "the process died mid-transaction"
            raise RuntimeError(msg)
        return done

    monkeypatch.setattr(erase, "delete_batch_flow", crashing)
    with pytest.raises(RuntimeError, match="died"):
        await astore.aerase_owner(owner)
    monkeypatch.setattr(erase, "delete_batch_flow", real)
    # Half done: hidden from every call, 4 of the first's turns gone (the second
    # batch rolled back), the second conversation untouched but hidden.
    assert _rows(store, [first.id, second.id]) == {
        "conversa_conversations": 2,
        "conversa_turns": 9,
        "leases": 0,
    }
    for record in (first, second):
        with pytest.raises(ConversationNotFoundError):
            await astore.aget(record.id)
        with pytest.raises(ConversationNotFoundError):
            await astore.aappend(record.id, [user()])
    assert (await astore.alist(owner=owner)).items == ()
    assert await astore.aerase_owner(owner, dry_run=True) == Erased(2, 9)
    assert await astore.aerase_owner(owner) == Erased(2, 9)
    assert _rows(store, [first.id, second.id])["conversa_conversations"] == 0
    assert await astore.aerase_owner(owner) == Erased()


async def test_a_purge_finishes_any_interrupted_erase(
    store: SQLStore, astore: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tombstone left by a crashed erase is finished by the next purge, whatever its time."""
    record = await _conversation(astore, _owner(), 2)

    def crashing(conversation_id: str, lo: int, *, last: bool) -> Flow[Erased]:
        msg = "the process died"
        raise RuntimeError(msg)
        yield  # pragma: no cover - a generator, like the real one

    monkeypatch.setattr(erase, "delete_batch_flow", crashing)
    with pytest.raises(RuntimeError):
        await astore.aerase(record.id)
    monkeypatch.undo()
    assert await astore.apurge(before=OLD) == Erased(1, 2)
    assert _rows(store, [record.id])["conversa_turns"] == 0


async def test_purge_counts_the_turns_of_stale_conversations(
    store: SQLStore, astore: Any
) -> None:
    """A conversation last updated before the cutoff goes with its turns; a newer one stays."""
    owner = _owner()
    stale = await _conversation(astore, owner, 5)
    fresh = await _conversation(astore, owner, 2)
    with store.engine.begin() as conn:
        conn.execute(
            update(CONVERSATIONS)
            .where(CONVERSATIONS.c.id == stale.id)
            .values(updated_at=OLD)
        )
    cutoff = OLD + timedelta(days=90)
    scoped = astore.for_owner(owner)
    assert await scoped.apurge(before=cutoff, dry_run=True) == Erased(1, 5)
    assert len(await astore.aread(stale.id)) == 5
    assert await scoped.apurge(before=cutoff) == Erased(1, 5)
    assert len(await astore.aread(fresh.id)) == 2
    assert _rows(store, [stale.id])["conversa_turns"] == 0


async def test_erase_deletes_a_live_lease(store: SQLStore, astore: Any) -> None:
    """Erasing a conversation whose section is held deletes its lease with its row."""
    record = await _conversation(astore, _owner(), 1)
    async with astore.alock(record.id):
        assert _rows(store, [record.id])["leases"] == 1
        assert await astore.aerase(record.id) == Erased(1, 1)
        assert _rows(store, [record.id])["leases"] == 0
    assert _rows(store, [record.id]) == dict.fromkeys(
        ("conversa_conversations", "conversa_turns", "leases"), 0
    )


async def test_delete_goes_the_same_way(
    store: SQLStore, astore: Any, small_batches: int, twin: str
) -> None:
    """delete() hides and deletes in batches as erase does, and refuses an unknown id."""
    record = await _conversation(astore, _owner(), 9)
    deletes = DeletesOfTurns(_engine(store, twin))
    try:
        await astore.adelete(record.id)
    finally:
        deletes.close()
    assert deletes.deleted == [4, 4, 1]
    with pytest.raises(ConversationNotFoundError):
        await astore.adelete(record.id)


def _v1_database(backend: str, target: str) -> None:
    """A database as conversa made it before the tombstone: migration 1 only, one conversation."""
    url = f"sqlite:///{target}" if backend == "sqlite" else psycopg_url(target)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE conversa_migrations (version INTEGER NOT NULL PRIMARY KEY,"
                " name VARCHAR NOT NULL, applied_at VARCHAR NOT NULL)"
            )
            MIGRATIONS[1](conn)
            conn.exec_driver_sql(
                "INSERT INTO conversa_migrations VALUES (1, 'm001_initial', '2026-01-01')"
            )
    finally:
        engine.dispose()


def test_a_database_from_before_the_tombstone_migrates_and_erases(
    sql_backend: str, fresh_target: str, tmp_path: Path
) -> None:
    """A version-1 database gains erased_at on open; its conversations stay visible and erase."""
    if sql_backend == "postgres":
        pytest.importorskip("psycopg")
    _v1_database(sql_backend, fresh_target)
    with open_store(sql_backend, fresh_target) as store:
        record = store.create(ConversationRecord(model="m", owner="o"))
        store.append(record.id, [user(), assistant()])
        assert [r.id for r in store.list(owner="o").items] == [record.id]
        assert store.erase_owner("o") == Erased(1, 2)
    with open_store(sql_backend, fresh_target) as store:
        assert store.list(owner="o").items == ()


def test_the_stored_fixture_erases_after_migrating(tmp_path: Path) -> None:
    """The store main wrote before the tombstone opens, lists all, and erases one conversation."""
    fixture = Path(__file__).parents[1] / "fixtures" / "stored_v0" / "conversa.db"
    path = tmp_path / "conversa.db"
    shutil.copyfile(fixture, path)
    with open_store("sqlite", str(path)) as store:
        records = []
        page = store.list()
        records.extend(page.items)
        while page.next_cursor is not None:
            page = store.list(cursor=page.next_cursor)
            records.extend(page.items)
        assert records
        first = records[0]
        turns = store.read(first.id)
        assert store.erase(first.id) == Erased(1, len(turns))
        assert {r.id for r in store.list(limit=1000).items} == {
            r.id for r in records[1:]
        }


@pytest.mark.postgres
def test_a_fork_committed_while_an_owner_is_hidden_is_erased_too(pg_url: str) -> None:
    """A fork whose transaction holds its parent's row while the erase hides it goes too.

    The first hiding UPDATE waits for the parent's row lock; the fork's record,
    committed meanwhile, is not in that statement's snapshot: the second pass hides it.
    """
    owner = _owner()
    with open_store("postgres", pg_url) as store:
        parent = store.create(ConversationRecord(model="m", owner=owner))
        store.append(parent.id, [user("a"), assistant("b")])
        fork_id = f"fork-{uuid.uuid4().hex}"
        # A fork in flight, as fork_flow runs it: the parent's row locked, the
        # fork's record written, not yet committed.
        erased = _while_held(
            pg_url,
            [
                (
                    "SELECT id FROM conversa_conversations WHERE id = %s FOR UPDATE",
                    [parent.id],
                ),
                (
                    "INSERT INTO conversa_conversations (id, owner, metadata, model,"
                    " params, capabilities, window_start, last_seq, parent_id,"
                    " forked_at, flags, created_at, updated_at) SELECT %s, owner,"
                    " metadata, model, params, capabilities, 0, 0, id, 0, flags,"
                    " created_at, updated_at FROM conversa_conversations WHERE id = %s",
                    [fork_id, parent.id],
                ),
            ],
            lambda: store.erase_owner(owner),
        )
        assert erased == Erased(2, 2)
        for gone in (parent.id, fork_id):
            with pytest.raises(ConversationNotFoundError):
                store.get(gone)
        assert _rows(store, [parent.id, fork_id])["conversa_conversations"] == 0


def _while_held(
    pg_url: str, statements: list[tuple[str, list[Any]]], action: Callable[[], T]
) -> T:
    """Run *action* in a thread while another transaction, which ran *statements*,
    holds a conversation's row; commit that transaction once *action* waits for
    the row; return what *action* returned."""
    import psycopg

    holding = psycopg.connect(plain_url(pg_url))
    try:
        for statement, params in statements:
            holding.execute(statement, params)  # type: ignore[arg-type]
        with ThreadPoolExecutor(1) as pool:
            acting = pool.submit(action)
            _wait_for_a_lock_wait(pg_url)
            holding.commit()
            return acting.result(timeout=60)
    finally:
        holding.close()


def _wait_for_a_lock_wait(pg_url: str) -> None:
    """Return once a backend waits for a row lock to update conversations (60 s at most)."""
    import psycopg

    with psycopg.connect(plain_url(pg_url), autocommit=True) as admin:
        for _ in range(6000):
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE conversa_conversations%'"
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.01)
    msg = "the erase never waited for the held row lock"
    raise AssertionError(msg)


@pytest.mark.postgres
def test_an_append_committed_while_an_erase_waits_is_erased_too(pg_url: str) -> None:
    """Without a foreign key (migration 6), no turn outlives its conversation.

    An append in flight holds the record's row (as its UPDATE does) with its turn
    inserted, not yet committed; the erase's hiding UPDATE waits for the row, and
    its deletes of turns, in later statements, see the committed turn.
    """
    with open_store("postgres", pg_url) as store:
        with store.engine.connect() as conn:
            keys = conn.execute(
                text(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
                    " AND conrelid = 'conversa_turns'::regclass"
                )
            ).scalar_one()
        assert keys == 0
        record = store.create(ConversationRecord(model="m", owner=_owner()))
        store.append(record.id, [user("a"), assistant("b")])
        _while_held(
            pg_url,
            [
                (
                    "UPDATE conversa_conversations SET last_seq = 3 WHERE id = %s",
                    [record.id],
                ),
                (
                    "INSERT INTO conversa_turns (conversation_id, seq, turn_id, role,"
                    " kind, content, tokens, tokens_exact, status, flags, created_at)"
                    " VALUES (%s, 3, %s, 'user', 'message', '[]', 1, false,"
                    " 'complete', '{}', now())",
                    [record.id, uuid.uuid4().hex],
                ),
            ],
            lambda: store.delete(record.id),
        )
        assert _rows(store, [record.id]) == {
            "conversa_conversations": 0,
            "conversa_turns": 0,
            "leases": 0,
        }


@pytest.mark.postgres
def test_adds_racing_erases_leave_no_turn_behind(pg_url: str) -> None:
    """Threads adding to conversations while others erase them: no orphaned turn.

    Each add either lands before the erase (and the erase deletes it) or finds the
    conversation gone (`ConversationNotFoundError`); none lands after, nor does
    one more add to each once every erase is done.
    """
    owner = _owner()
    with open_store("postgres", pg_url) as store:
        records = [
            store.create(ConversationRecord(model="m", owner=owner)) for _ in range(8)
        ]
        ids = [r.id for r in records]

        def add(cid: str) -> int:
            """Add until the conversation is gone, each add from the last one's seq
            (as `Conversation.add` does: no read first); how many landed."""
            seq = 0
            for i in range(200):
                try:
                    [turn] = store.append(cid, [user(f"u{i}")], expected_last_seq=seq)
                except ConversationNotFoundError:
                    return seq
                seq = turn.seq
            return seq

        def erase_later(cid: str) -> None:
            time.sleep(0.01)
            store.delete(cid)

        with ThreadPoolExecutor(16) as pool:
            adds = [pool.submit(add, cid) for cid in ids]
            erases = [pool.submit(erase_later, cid) for cid in ids]
            for future in erases:
                future.result(timeout=120)
            landed = [future.result(timeout=120) for future in adds]
        assert max(landed) < 200  # every conversation went mid-way: the adds raced
        assert sum(landed) > 0
        for cid, seq in zip(ids, landed, strict=True):  # and one after it all
            with pytest.raises(ConversationNotFoundError):
                store.append(cid, [user("late")], expected_last_seq=seq)
        assert _rows(store, ids) == {
            "conversa_conversations": 0,
            "conversa_turns": 0,
            "leases": 0,
        }
