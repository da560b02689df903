"""O(window) on cold conversations: the work a request and a first send do, by the database's own count.

A conversation built in bulk and never sent, or a fresh fork of one, is one the
database's statistics do not know yet. Its reads must still go down the primary
key (conversation_id, seq) and touch the window's rows only, not every turn of the
conversation: the cases where they did not were a PostgreSQL plan that took the
turn id's unique index (filtering every turn of the conversation), and a
bookkeeping read whose seq range spanned from the head to the newest turn.

These are counts of work the databases report, not timings: on PostgreSQL the
rows each statement's plan reads (``EXPLAIN ANALYZE``), on SQLite the virtual
machine instructions a whole call runs (sqlite3's progress handler).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from conversa import BudgetConfig, Client, Conversation, PostgresStore, SQLiteStore
from conversa.testing import FakeMessagesAPI

MODEL = "claude-sonnet-4-5"
#: A budget whose window is a few dozen turns, far fewer than the conversation's.
BUDGET = BudgetConfig(fixed=4000)


def _build(store: Any, client: Client, n: int) -> Conversation:
    """A conversation of *n* turns added in bulk, never sent."""
    conv = Conversation.create(store, client=client, model=MODEL, budget=BUDGET)
    for start in range(0, n, 500):
        conv.add_turns(
            [
                ("user" if k % 2 == 0 else "assistant", f"turn {k} " + "word " * 40)
                for k in range(start, min(n, start + 500))
            ]
        )
    return conv


def _fork(store: Any, client: Client, conv: Conversation) -> Conversation:
    record = store.fork(conv.id, store.get(conv.id).last_seq)
    return Conversation.load(store, record.id, client=client)


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements on the turns table run on *engine* inside the block."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *a: Any) -> None:
        if "conversa_turns" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan's scans produced or filtered away, over all loops."""
    node_rows = 0
    if "Relation Name" in plan or "Index Name" in plan:
        loops = plan.get("Actual Loops", 1)
        node_rows = (
            plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        ) * loops
    return node_rows + sum(_rows_read(child) for child in plan.get("Plans", []))


def _indexes(plan: dict[str, Any]) -> set[str]:
    own = {plan["Index Name"]} if "Index Name" in plan else set()
    return own.union(*(_indexes(child) for child in plan.get("Plans", [])))


@pytest.mark.postgres
def test_postgresql_reads_of_a_cold_conversation_touch_the_window(
    fresh_pg_url: str,
) -> None:
    """A request on a bulk-built conversation and the first send of its fresh fork:
    every SELECT of turns reads a bounded number of rows down the primary key."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    with PostgresStore(fresh_pg_url) as store:
        conv = _build(store, client, 3000)
        fork = _fork(store, client, conv)
        with _captured(store.engine) as statements:
            conv.request("a question")
            fork.send("a question")
        selects = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT")]
        assert len(selects) >= 3
        with store.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            for statement, params in selects:
                with driver.cursor() as cursor:
                    cursor.execute(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params
                    )
                    (plan,) = cursor.fetchone()[0]
                driver.rollback()
                if isinstance(plan, str):
                    plan = json.loads(plan)
                root = plan["Plan"]
                assert _rows_read(root) <= 300, (statement, _rows_read(root))
                if "turn_id IN" not in statement:
                    assert _indexes(root) <= {"pk_conversa_turns"}, statement


def _vm_steps(store: SQLiteStore, call: Any) -> int:
    """How many times sqlite3's progress handler fired (every 10 instructions) during *call*."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    def checkout(dbapi_connection: Any, *args: Any) -> None:
        dbapi_connection.set_progress_handler(tick, 10)

    def checkin(dbapi_connection: Any, *args: Any) -> None:
        dbapi_connection.set_progress_handler(None, 0)

    event.listen(store.engine, "checkout", checkout)
    event.listen(store.engine, "checkin", checkin)
    try:
        call()
    finally:
        event.remove(store.engine, "checkout", checkout)
        event.remove(store.engine, "checkin", checkin)
    return steps


def _call(store: Any, client: Client, conv: Conversation, operation: str) -> Any:
    """The call *operation* names, on *conv* (or a fresh fork of it)."""
    if operation == "request":
        return lambda: conv.request("a question")
    if operation == "add":
        return lambda: conv.add("user", "one more")
    fork = _fork(store, client, conv)
    return lambda: fork.send("a question")


@pytest.mark.parametrize("operation", ["request", "first send of a fork", "add"])
def test_sqlite_does_the_same_work_at_any_length(tmp_path: Any, operation: str) -> None:
    """SQLite runs as many instructions for a cold conversation of 3,000 turns as of 300."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    work = {}
    with SQLiteStore(tmp_path / "c.db") as store:
        for n in (300, 3000):
            conv = _build(store, client, n)
            work[n] = _vm_steps(store, _call(store, client, conv, operation))
    assert work[300] > 0
    assert work[3000] <= 1.2 * work[300], work
