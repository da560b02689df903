"""An add whose tail the object has seen is one write, with no read and no flow.

`quick_add` decides it (a whole tail seen, the new turns plainly after it); the
twins perform the write. A conflict (a turn stored elsewhere meanwhile) sends the
add back to the flow, which reads the tail and checks again: a refusal the fresh
tail calls for is still raised, with nothing stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conversa import (
    AsyncConversation,
    Conversation,
    ConversationBusyError,
    InvalidInputError,
    MemoryStore,
    PendingToolUseError,
    SQLiteStore,
    Turn,
)

MODEL = "claude-sonnet-4-5"


class Calls(MemoryStore):
    """A memory store that records which store calls an add makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def take(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls

    def append(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("append")
        return super().append(*args, **kwargs)

    async def aappend(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("append")
        return await super().aappend(*args, **kwargs)

    def read_window(self, *args: Any, **kwargs: Any) -> Any:  # `aread_window`'s too
        self.calls.append("read")
        return super().read_window(*args, **kwargs)


def _tool_call() -> Turn:
    return Turn(
        "assistant",
        [{"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {}}],
    )


def test_an_add_after_an_add_is_one_append() -> None:
    """The second add writes at once; an add after one made elsewhere reads first."""
    store = Calls()
    conv = Conversation.create(store, model=MODEL)
    conv.add("user", "q")
    store.take()
    conv.add("assistant", "a")
    assert store.take() == ["append"]
    Conversation.load(store, conv.id).add("user", "from elsewhere")
    store.take()
    conv.add("assistant", "a2")  # its seen tail is out of date
    assert store.take() == ["append", "read", "append"]
    conv.add("user", "q3")  # and up to date again
    assert store.take() == ["append"]
    assert [t.text for t in conv.turns()] == ["q", "a", "from elsewhere", "a2", "q3"]


@pytest.mark.anyio
async def test_an_async_add_after_an_add_is_one_append() -> None:
    """The async twin makes the same calls."""
    store = Calls()
    conv = await AsyncConversation.create(store, model=MODEL)
    await conv.add("user", "q")
    store.take()
    await conv.add("assistant", "a")
    assert store.take() == ["append"]
    await (await AsyncConversation.load(store, conv.id)).add("user", "elsewhere")
    store.take()
    await conv.add("assistant", "a2")
    assert store.take() == ["append", "read", "append"]
    await conv.add("user", "q3")
    assert store.take() == ["append"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_stale_tail_does_not_let_a_refused_turn_in(tmp_path: Path, kind: str) -> None:
    """Text after the tail seen is plain, but another object has stored a call for
    a tool since: the write conflicts, the flow reads the fresh tail, and the text
    is refused (the call is unanswered), with nothing stored."""
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "q.db")
    conv = Conversation.create(store, model=MODEL)
    conv.add("user", "q")
    Conversation.load(store, conv.id).add_turns([_tool_call()])
    with pytest.raises(PendingToolUseError):
        conv.add("user", "plain text while a tool call waits")
    assert [t.role for t in store.read(conv.id)] == ["user", "assistant"]
    assert store.get(conv.id).last_seq == 2


@pytest.mark.anyio
async def test_an_async_stale_tail_does_not_let_a_refused_turn_in() -> None:
    """The async twin refuses it too."""
    store = MemoryStore()
    conv = await AsyncConversation.create(store, model=MODEL)
    await conv.add("user", "q")
    other = await AsyncConversation.load(store, conv.id)
    await other.add_turns([_tool_call()])
    with pytest.raises(PendingToolUseError):
        await conv.add("user", "plain text while a tool call waits")
    assert len(store.read(conv.id)) == 2


def test_a_busy_write_forgets_the_tail_and_the_next_add_reads(tmp_path: Path) -> None:
    """A write that waited out its lock_timeout under a send's lease raises
    ConversationBusyError; the object keeps no tail, so its next add reads."""
    store = SQLiteStore(tmp_path / "busy.db")
    conv = Conversation.create(store, model=MODEL)
    conv.lock_timeout = 0.05
    conv.add("user", "q")
    with store.lock(conv.id), pytest.raises(ConversationBusyError):
        conv.add("assistant", "inside a send")
    assert conv._seen is None
    conv.add("assistant", "a")
    assert [t.text for t in store.read(conv.id)] == ["q", "a"]
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_bad_input_after_a_seen_tail_is_refused_and_stores_nothing(
    tmp_path: Path, kind: str
) -> None:
    """Blank text where the seen tail would take plain text at once: refused by a
    conversa error before any write, and the next add still works."""
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "bad.db")
    conv = Conversation.create(store, model=MODEL)
    conv.add("user", "q")
    conv.add("assistant", "a")
    with pytest.raises(InvalidInputError):
        conv.add("user", "   ")
    assert [t.text for t in store.read(conv.id)] == ["q", "a"]
    assert store.get(conv.id).last_seq == 2
    conv.add("user", "q2")
    assert [t.text for t in store.read(conv.id)] == ["q", "a", "q2"]
