"""Appends are checked against the stored tail, read newest first: O(tail), not O(history)."""

from __future__ import annotations

from typing import Any

import pytest

from conversa import (
    Conversation,
    MemoryStore,
    PendingToolUseError,
    ToolUseBlock,
    UnrepairableHistoryError,
)


class CountingStore(MemoryStore):
    """A memory store that records how many turns each read returned."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def read(self, conversation_id: str, **kwargs: Any) -> Any:
        turns = super().read(conversation_id, **kwargs)
        self.reads.append(len(turns))
        return turns

    def read_window(self, conversation_id: str, **kwargs: Any) -> Any:
        found = super().read_window(conversation_id, **kwargs)
        self.reads.append(len(found.turns) + len(found.head))
        return found


def _long(store: CountingStore, exchanges: int) -> Conversation:
    conv = Conversation.create(store, model="claude-sonnet-4-5")
    turns: list[Any] = []
    for i in range(exchanges):
        turns += [("user", f"question {i}"), ("assistant", f"answer {i}")]
    conv.add_turns(turns)
    return conv


def test_add_reads_the_tail_not_the_history() -> None:
    """On a 2,000-turn conversation never sent, add() and friends read a few turns."""
    store = CountingStore()
    conv = _long(store, 1000)
    store.reads.clear()
    conv.add("user", "one more")
    conv.add_turns([("assistant", [ToolUseBlock("toolu_1", "f", {})])])
    assert [t.id for t in conv.pending_tool_uses()] == ["toolu_1"]
    conv.add_tool_results({"toolu_1": "done"})
    assert max(store.reads) <= 8


def test_a_long_reply_widens_the_read() -> None:
    """A reply run longer than one read (continuations) is read whole."""
    store = CountingStore()
    conv = Conversation.create(store, model="claude-sonnet-4-5")
    uses = [ToolUseBlock("toolu_1", "f", {})]
    conv.add_turns(
        [
            ("user", "go"),
            ("assistant", uses),
            *[("assistant", f"part {i}") for i in range(12)],
        ]
    )
    with pytest.raises(PendingToolUseError):
        conv.add("user", "no result for toolu_1")
    conv.add_tool_results({"toolu_1": "ok"})
    assert len(conv.turns()) == 15


def test_a_retraction_in_the_tail_hides_what_it_retracts() -> None:
    """A retracted reply with open tool calls no longer waits for their results."""
    store = CountingStore()
    conv = _long(store, 20)
    conv.add_turns(
        [("user", "call it"), ("assistant", [ToolUseBlock("toolu_7", "f", {})])]
    )
    last = conv.turns()[-1].seq
    assert last is not None
    conv.retract(last)
    assert conv.pending_tool_uses() == ()
    with pytest.raises(UnrepairableHistoryError, match="unexpected `tool_use_id`"):
        conv.add_tool_results({"toolu_7": "late"})
    conv.add("assistant", "answered without tools")
