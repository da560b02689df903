"""LangChain's chat message history in a conversa store, with langchain-core's own parts.

The chains are langchain-core's `RunnableWithMessageHistory` around its
`GenericFakeChatModel` (offline): the history object is driven the way LangChain
drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from conversa import (
    Conversation,
    ConversationNotFoundError,
    MemoryStore,
    SeqConflictError,
)
from conversa.integrations.langchain import FLAG, ConversaChatMessageHistory
from tests.integrations.conftest import OpenStore

# langchain-core 1.8 deprecates RunnableWithMessageHistory in favour of LangGraph's
# persistence; it is still the documented way to hand a chain a
# BaseChatMessageHistory, and what users run.
pytestmark = pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated"
)


def _replies(*texts: str) -> Iterator[AIMessage]:
    return iter(AIMessage(t) for t in texts)


def _chain(store: Any, seen: list[int], *replies: str) -> RunnableWithMessageHistory:
    """A fake model behind RunnableWithMessageHistory; *seen* gets each prompt's length."""

    def record(messages: list[BaseMessage]) -> list[BaseMessage]:
        seen.append(len(messages))
        return messages

    model = RunnableLambda(record) | GenericFakeChatModel(messages=_replies(*replies))
    return RunnableWithMessageHistory(
        model,
        lambda session_id: ConversaChatMessageHistory(store, session_id, owner="u-1"),
    )


def _session(session_id: str) -> dict[str, Any]:
    return {"configurable": {"session_id": session_id}}


def test_a_chain_keeps_its_sessions(open_store: OpenStore) -> None:
    """Three invocations see the growing history; a new store object reads it back."""
    seen: list[int] = []
    chain = _chain(open_store(), seen, "Hello!", "Paris.", "You're welcome.")
    for text in ("Hi", "Capital of France?", "Thanks"):
        chain.invoke(text, config=_session("s-1"))
    assert seen == [1, 3, 5]
    messages = ConversaChatMessageHistory(open_store(), "s-1", owner="u-1").messages
    assert [(m.type, m.content) for m in messages] == [
        ("human", "Hi"),
        ("ai", "Hello!"),
        ("human", "Capital of France?"),
        ("ai", "Paris."),
        ("human", "Thanks"),
        ("ai", "You're welcome."),
    ]


def _every_kind() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse."),
        HumanMessage("What is 2+2?", name="ada"),
        AIMessage(
            "Let me add.",
            tool_calls=[{"name": "add", "args": {"a": 2, "b": 2}, "id": "call-1"}],
            response_metadata={"model_name": "claude-sonnet-4-5"},
            usage_metadata={
                "input_tokens": 30,
                "output_tokens": 12,
                "total_tokens": 42,
                "input_token_details": {"cache_read": 10},
            },
            id="msg-1",
        ),
        ToolMessage("4", tool_call_id="call-1", artifact={"raw": 4}),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": "x"}, "id": "call-2"}]),
        ToolMessage("not a number", tool_call_id="call-2", status="error"),
        HumanMessage(
            [
                {"type": "text", "text": "And this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png"},
                },
            ]
        ),
        AIMessage("4."),
    ]


def test_every_message_kind_reads_back_equal(open_store: OpenStore) -> None:
    """System, human, AI with tool calls and usage, tool (ok and error) messages round-trip."""
    store = open_store()
    history = ConversaChatMessageHistory(store, owner="u-1")
    history.add_messages(_every_kind())
    again = ConversaChatMessageHistory(open_store(), history.session_id, owner="u-1")
    assert again.messages == _every_kind()

    turns = store.for_owner("u-1").read(history.session_id)
    shapes = [(t.role, [b.to_api()["type"] for b in t.blocks]) for t in turns]
    assert shapes == [
        ("user", []),  # the system message: kept whole in the flags
        ("user", ["text"]),
        ("assistant", ["text", "tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["tool_use"]),
        ("user", ["tool_result"]),
        ("user", ["text"]),  # the image item stays in the flags
        ("assistant", ["text"]),
    ]
    assert turns[0].flags[FLAG]["extra"]["content"] == "You are terse."
    assert turns[5].blocks[0].to_api()["is_error"] is True
    assert turns[2].model == "claude-sonnet-4-5"
    assert turns[2].usage is not None
    assert (turns[2].usage.input_tokens, turns[2].usage.cache_read_input_tokens) == (
        20,
        10,
    )


def test_clear_retracts_every_turn_and_keeps_them(open_store: OpenStore) -> None:
    """After clear() the session reads empty and starts afresh; the turns stay stored."""
    store = open_store()
    seen: list[int] = []
    chain = _chain(store, seen, "One.", "Two.")
    chain.invoke("first", config=_session("s-2"))
    history = ConversaChatMessageHistory(store, "s-2", owner="u-1")
    history.clear()
    assert history.messages == []
    chain.invoke("second", config=_session("s-2"))
    assert seen == [1, 1]  # the second prompt had no history
    assert [m.content for m in history.messages] == ["second", "Two."]
    kinds = [t.kind for t in store.for_owner("u-1").read("s-2")]
    assert kinds == ["message", "message", "retraction", "message", "message"]


def test_a_second_writer_gets_a_conflict(open_store: OpenStore) -> None:
    """Two histories that read the same point: the second add raises and stores nothing."""
    first = ConversaChatMessageHistory(open_store(), "s-3", owner="u-1")
    second = ConversaChatMessageHistory(open_store(), "s-3", owner="u-1")
    first.add_messages([HumanMessage("hello"), AIMessage("hi")])
    assert len(second.messages) == 2
    assert first.messages == second.messages
    first.add_messages([HumanMessage("from A"), AIMessage("A")])
    with pytest.raises(SeqConflictError):
        second.add_messages([HumanMessage("from B"), AIMessage("B")])
    assert [m.content for m in second.messages] == ["hello", "hi", "from A", "A"]
    second.add_messages([HumanMessage("from B"), AIMessage("B")])  # read again: fine
    assert len(first.messages) == 6


def test_a_chain_that_lost_the_race_stores_nothing(
    open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A write landing while a chain runs: LangChain logs the conflict, the history stays whole."""
    store = open_store()

    def interloper(messages: list[BaseMessage]) -> list[BaseMessage]:
        other = ConversaChatMessageHistory(open_store(), "s-4", owner="u-1")
        other.add_messages([HumanMessage("meanwhile"), AIMessage("noted")])
        return messages

    model = RunnableLambda(interloper) | GenericFakeChatModel(messages=_replies("late"))
    chain = RunnableWithMessageHistory(
        model, lambda sid: ConversaChatMessageHistory(store, sid, owner="u-1")
    )
    with caplog.at_level(logging.WARNING):
        chain.invoke("hi", config=_session("s-4"))
    assert "SeqConflictError" in caplog.text
    stored = ConversaChatMessageHistory(store, "s-4", owner="u-1").messages
    assert [m.content for m in stored] == ["meanwhile", "noted"]


def test_another_owner_neither_sees_nor_writes(open_store: OpenStore) -> None:
    """u-2 reads u-1's session as empty and cannot add to it."""
    mine = ConversaChatMessageHistory(open_store(), "s-5", owner="u-1")
    mine.add_messages([HumanMessage("secret"), AIMessage("kept")])
    theirs = ConversaChatMessageHistory(open_store(), "s-5", owner="u-2")
    assert theirs.messages == []
    with pytest.raises(ConversationNotFoundError):
        theirs.add_messages([HumanMessage("let me in")])
    assert [m.content for m in mine.messages] == ["secret", "kept"]


@pytest.mark.anyio
async def test_the_async_twin_drives_a_chain(open_store: OpenStore) -> None:
    """ainvoke reads and adds through aget_messages/aadd_messages; aclear retracts."""
    store = open_store()
    seen: list[int] = []
    chain = _chain(store, seen, "Hello!", "Paris.")
    for text in ("Hi", "Capital of France?"):
        await chain.ainvoke(text, config=_session("s-6"))
    assert seen == [1, 3]
    history = ConversaChatMessageHistory(open_store(), "s-6", owner="u-1")
    assert [m.content for m in await history.aget_messages()] == [
        "Hi",
        "Hello!",
        "Capital of France?",
        "Paris.",
    ]
    await history.aclear()
    assert await history.aget_messages() == []
    await store.aclose()


def test_turns_conversa_wrote_read_as_messages() -> None:
    """A conversation built with conversa reads as human, AI (with tool calls) and tool messages."""
    store = MemoryStore()
    conv = Conversation.create(store, model="claude-sonnet-4-5", id="c-1")
    conv.add_turns(
        [
            ("user", "What is 2+2?"),
            (
                "assistant",
                [{"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 2}}],
            ),
            ("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "4"}]),
            ("assistant", "4."),
        ]
    )
    messages = ConversaChatMessageHistory(store, "c-1").messages
    assert messages == [
        HumanMessage("What is 2+2?"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2}, "id": "t1"}]),
        ToolMessage("4", tool_call_id="t1", status="success"),
        AIMessage("4."),
    ]


def test_the_first_read_since_a_write_counts(open_store: OpenStore) -> None:
    """A second read (LangChain's, after the model ran) does not move the condition."""
    mine = ConversaChatMessageHistory(open_store(), "s-7", owner="u-1")
    assert mine.messages == []
    other = ConversaChatMessageHistory(open_store(), "s-7", owner="u-1")
    other.add_messages([HumanMessage("meanwhile"), AIMessage("noted")])
    assert len(mine.messages) == 2  # seen, but the add is still checked against []
    with pytest.raises(SeqConflictError):
        mine.add_messages([HumanMessage("late")])
    assert len(mine.messages) == 2  # after the conflict a read counts again
    mine.add_messages([HumanMessage("now"), AIMessage("ok")])
    assert [m.content for m in other.messages] == ["meanwhile", "noted", "now", "ok"]
