"""Properties: the SQL stores agree with MemoryStore, and windows read O(window) rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from conversa._exceptions import InvalidInputError, StoreError
from conversa._stores import MemoryStore, SQLiteStore
from conversa._stores.rules import bookkeeping_after
from conversa._values.turns import ConversationRecord, Turn, TurnUpdate
from tests.stores.workers import open_store

#: One append call: (turn number, content variant) pairs, and an expected last seq.
_calls = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["x", "y"])), max_size=4),
        st.one_of(st.none(), st.integers(0, 8)),
    ),
    max_size=10,
)


def _outcome(
    store: Any, conversation_id: str, turns: list[Turn], expected: int | None
) -> object:
    try:
        return [
            (t.id, t.seq, t.text)
            for t in store.append(conversation_id, turns, expected_last_seq=expected)
        ]
    except StoreError as exc:
        return type(exc).__name__


@settings(max_examples=60, deadline=None)
@given(calls=_calls)
def test_sqlite_appends_agree_with_memory(
    calls: list[tuple[list[tuple[int, str]], int | None]],
) -> None:
    """Any sequence of appends (repeats, conflicts, stale seqs) has the same outcome on both."""
    memory, sqlite = MemoryStore(), SQLiteStore(":memory:")
    try:
        record = ConversationRecord(model="m")
        memory.create(record)
        sqlite.create(record)
        for spec, expected in calls:
            turns = [Turn("user", f"{k}{variant}", id=f"t{k}") for k, variant in spec]
            assert _outcome(memory, record.id, turns, expected) == _outcome(
                sqlite, record.id, turns, expected
            )
        assert memory.read(record.id) == sqlite.read(record.id)
        assert memory.get(record.id).last_seq == sqlite.get(record.id).last_seq
    finally:
        sqlite.close()


def test_read_newest_reads_only_the_window(sql_backend: str, target: str) -> None:
    """With 2,000 turns stored, a 10-turn window takes one small scan and one bounded read."""
    with open_store(sql_backend, target) as store:
        record = store.create(ConversationRecord(model="m"))
        store.append(record.id, [Turn("user", f"t{i}", tokens=10) for i in range(2000)])
        statements: list[tuple[str, list[Any]]] = []

        def capture(
            conn: Any, cursor: Any, statement: str, params: Any, *args: Any
        ) -> None:
            if "conversa_turns" in statement:
                values = list(params.values() if isinstance(params, dict) else params)
                statements.append((" ".join(statement.split()), values))

        event.listen(store.engine, "before_cursor_execute", capture)
        window = store.read_newest(record.id, budget=100)
        event.remove(store.engine, "before_cursor_execute", capture)
    assert [t.seq for t in window] == list(range(1991, 2001))
    assert len(statements) == 2
    (scan, scan_params), (read, read_params) = statements
    assert "ORDER BY seq DESC LIMIT" in scan
    assert 64 in scan_params
    assert "seq >=" in read
    assert "seq <" in read
    assert {1991, 2001} <= set(read_params)


_json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(flags=st.dictionaries(st.text(max_size=4), _json_like, max_size=4))
def test_merged_flags_are_what_a_json_round_trip_gives(flags: dict[str, Any]) -> None:
    """A flag update is stored as JSON keeps it: tuples as lists, keys as strings."""
    current = {"tokens": 1, "tokens_exact": False, "status": "complete", "flags": {}}
    merged = bookkeeping_after(current, TurnUpdate(1, flags=flags))["flags"]
    assert repr(merged) == repr(json.loads(json.dumps(flags)))


def test_flags_json_cannot_hold_are_refused_as_before() -> None:
    """A cycle, or an int too long for JSON's text, is refused with the reason."""
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    current = {"tokens": 1, "tokens_exact": False, "status": "complete", "flags": {}}
    for flags in ({"a": cycle}, {"n": 10**5000}):
        with pytest.raises(InvalidInputError, match="JSON-serializable"):
            bookkeeping_after(current, TurnUpdate(1, flags=flags))
    assert bookkeeping_after(current, TurnUpdate(1, flags={"n": 10**300}))["flags"] == {
        "n": 10**300
    }
