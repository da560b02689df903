"""Appends are checked against the stored tail, read newest first: O(tail), not O(history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conversa import (
    AsyncClient,
    AsyncConversation,
    BudgetConfig,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
    PendingToolUseError,
    SQLiteStore,
    Store,
    ToolUseBlock,
    UnrepairableHistoryError,
)
from conversa._flows import send as send_module
from conversa.testing import FakeMessagesAPI


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


def _user_run(store: CountingStore, turns: int) -> Conversation:
    """A conversation of *turns* user turns and no reply (a log, imported, unanswered)."""
    conv = Conversation.create(store, model="claude-sonnet-4-5")
    conv.add_turns([("user", f"message {i}") for i in range(turns)])
    return conv


def test_an_add_after_a_long_run_of_user_turns_reads_a_few() -> None:
    """Plain turns after 3,000 user turns, from a fresh object or the same one,
    read no more than a chat's add does (the whole run was read every time)."""
    store = CountingStore()
    conv = _user_run(store, 3000)
    store.reads.clear()
    conv.add("user", "one more")
    for i in range(20):
        conv.add("user", f"and more {i}")
    assert conv.pending_tool_uses() == ()
    assert conv.cancel_tool_uses() == ()
    Conversation.load(store, conv.id).add("user", "from another object")
    Conversation.load(store, conv.id).add("assistant", "at last, a reply")
    assert max(store.reads) <= 8
    assert [t.text for t in conv.turns()[-2:]] == [
        "from another object",
        "at last, a reply",
    ]
    assert len(conv.turns()) == 3023


@pytest.mark.anyio
async def test_an_async_add_after_a_long_run_of_user_turns_reads_a_few() -> None:
    """The async twin: the same flow, the same few turns read."""
    store = CountingStore()
    conv = _user_run(store, 2000)
    aconv = await AsyncConversation.load(store, conv.id)
    store.reads.clear()
    for i in range(10):
        await aconv.add("user", f"async {i}")
    await aconv.add("assistant", "a reply")
    assert max(store.reads) <= 8
    assert len(await aconv.turns()) == 2011


def test_what_is_not_plain_after_a_long_run_is_checked_against_the_whole_tail() -> None:
    """A second answer to a tool call is refused however many user turns followed
    the first, from the object that added them (its seen tail is the run's newest
    turns) and from a fresh one; an add of plain text goes on."""
    store = CountingStore()
    conv = Conversation.create(store, model="claude-sonnet-4-5")
    conv.add_turns([("user", "go"), ("assistant", [ToolUseBlock("toolu_1", "f", {})])])
    conv.add_tool_results({"toolu_1": "done"})
    for i in range(30):
        conv.add("user", f"note {i}")
    for who in (conv, Conversation.load(store, conv.id)):
        with pytest.raises(UnrepairableHistoryError, match="must have a single result"):
            who.add_tool_results({"toolu_1": "again"})
    conv.add("user", "fine")
    assert len(conv.turns()) == 34


def test_a_fresh_objects_plain_add_in_a_chat_leaves_a_whole_tail_seen() -> None:
    """A plain add's bounded read of a chat stops at the reply, which is a whole
    tail: the object's next add, a call for tools, reads nothing first."""
    store = CountingStore()
    conv = _long(store, 50)
    fresh = Conversation.load(store, conv.id)
    fresh.add("user", "a question")
    store.reads.clear()
    fresh.add("assistant", [ToolUseBlock("toolu_3", "f", {})])
    assert store.reads == []
    assert [t.id for t in fresh.pending_tool_uses()] == ["toolu_3"]


def test_bad_input_after_a_long_run_is_refused_and_stores_nothing() -> None:
    """Blank text and a stray tool result, after 200 user turns: a conversa error
    from the object that added them and from a fresh one, and no turn stored."""
    store = CountingStore()
    conv = _user_run(store, 200)
    conv.add("user", "one more")
    for who in (conv, Conversation.load(store, conv.id)):
        with pytest.raises(InvalidInputError):
            who.add("user", "   ")
        with pytest.raises(UnrepairableHistoryError):
            who.add_tool_results({"toolu_x": "stray"})
    assert len(conv.turns()) == 201


def test_text_after_unanswered_tool_calls_is_refused_after_a_long_run() -> None:
    """The run before a call for tools does not hide it: text without results is refused."""
    store = CountingStore()
    conv = _user_run(store, 100)
    conv.add("assistant", [ToolUseBlock("toolu_9", "f", {})])
    with pytest.raises(PendingToolUseError):
        conv.add("user", "no result")
    with pytest.raises(PendingToolUseError):
        Conversation.load(store, conv.id).add("user", "no result")


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


# -- a cold conversation: O(window) from its first send on ------------------------------

BUDGET = BudgetConfig(fixed=3000)


def _imported(store: Any, client: Any, turns: int) -> Conversation:
    """A conversation of *turns* turns built with add_turns (never sent): window start 0."""
    conv = Conversation.create(
        store, client=client, model="claude-sonnet-4-5", budget=BUDGET
    )
    history: list[Any] = []
    for i in range(turns // 2):
        history += [
            ("user", f"question {i} about things"),
            ("assistant", f"answer {i}"),
        ]
    conv.add_turns(history)
    return conv


def test_a_cold_conversations_first_send_reads_its_window() -> None:
    """A 10,000-turn imported conversation: request and the first sends read O(window)."""
    store = CountingStore()
    client = Client(api_key="k", transport=FakeMessagesAPI())
    conv = _imported(store, client, 10_000)
    assert conv.record().window_start == 0
    store.reads.clear()
    body = conv.request("and now?")
    assert 0 < max(store.reads) <= 1000
    assert body["messages"][-1]["content"][0]["text"] == "and now?"
    store.reads.clear()
    reply = conv.send("and now?")
    assert 0 < max(store.reads) <= 1000
    start = conv.record().window_start
    assert start > 9000  # the window start is stored
    store.reads.clear()
    conv.send("again")
    conv.add("user", "more")
    assert max(store.reads) <= 1000
    assert conv.turns(start=reply.seq or 0)[0] == reply


@pytest.mark.anyio
async def test_an_async_cold_send_reads_its_window() -> None:
    """The async twin: the first send of a 4,000-turn imported conversation reads O(window)."""
    store = CountingStore()
    conv = _imported(store, None, 4_000)
    aconv = await AsyncConversation.load(
        store, conv.id, client=AsyncClient(api_key="k", transport=FakeMessagesAPI())
    )
    store.reads.clear()
    await aconv.send("and now?")
    assert 0 < max(store.reads) <= 1000
    assert (await aconv.record()).window_start > 3000


@pytest.mark.parametrize("kind", ["memory", "sqlite", "core", "newest"])
def test_a_bounded_read_plans_what_the_whole_history_would(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The bounded read of a cold conversation gives the body a full read would."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    store: Any = {
        "memory": MemoryStore,
        "sqlite": lambda: SQLiteStore(tmp_path / "c.db"),
        "core": lambda: CoreOnly(MemoryStore()),
        "newest": lambda: CoreOnly(MemoryStore(), "read_newest"),
    }[kind]()
    if isinstance(store, SQLiteStore):
        request.addfinalizer(store.close)
    conv = _imported(store, client, 2_000)
    bounded = conv.request("and now?", turn_id="t1")
    monkeypatch.setattr(send_module, "_READ_BUDGETS", 10**9)
    whole = conv.request("and now?", turn_id="t1")
    assert bounded == whole
    assert len(bounded["messages"]) < 1000


class CoreOnly:
    """The core `Store` methods of a MemoryStore and *more*, no others (no window reads)."""

    def __init__(self, store: MemoryStore, *more: str) -> None:
        self._store = store
        self._names = _CORE | set(more)

    def __getattr__(self, name: str) -> Any:
        if name not in self._names:
            raise AttributeError(name)
        return getattr(self._store, name)


_CORE = frozenset(n for n in vars(Store) if not n.startswith("_"))


@pytest.mark.parametrize(
    ("capabilities", "message"),
    [
        ({"bogus": 1}, "unknown model capability 'bogus'"),
        ({"max_images": -1}, "'max_images' must be an integer >= 0"),
    ],
)
def test_an_add_of_plain_text_still_checks_the_stored_capabilities(
    capabilities: dict[str, Any], message: str
) -> None:
    """The plain shortcut skips the history's rules, not the record's overrides:
    a bad one is refused by every add (first and seen), and nothing is stored."""
    store = MemoryStore()
    conv = Conversation.create(
        store, model="claude-sonnet-4-5", capabilities=capabilities
    )
    for _ in range(2):
        with pytest.raises(InvalidInputError, match=message):
            conv.add("user", "hi")
    assert store.read(conv.id) == ()
