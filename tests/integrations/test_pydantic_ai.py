"""Pydantic AI's message history in a conversa store, with Pydantic AI's own models.

The agents run on `TestModel` and `FunctionModel` (Pydantic AI's offline models):
the messages are the ones Pydantic AI really makes, every part kind the adapter
translates, and some it keeps as JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import (
    BinaryContent,
    ImageUrl,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from conversa import (
    Conversation,
    ConversationNotFoundError,
    InvalidInputError,
    MemoryStore,
    SeqConflictError,
)
from conversa.integrations.pydantic_ai import FLAG, MessageHistory
from tests.integrations.conftest import OpenStore


@pytest.fixture(autouse=True)
def _run_sync_loop() -> Iterator[None]:
    """Give `run_sync` an event loop that is closed after the test.

    `run_sync` runs on the thread's current event loop, making one (and leaving it
    open, for the next call) when there is none.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A model that thinks, calls `weather` until it works, and answers."""
    last = messages[-1].parts[-1]
    said = messages[-2].parts[-1] if len(messages) > 1 else None
    if isinstance(said, TextPart) and not said.content.endswith("."):
        # The output validator's feedback (a user prompt to the model).
        return ModelResponse(parts=[TextPart(f"{said.content}.")])
    if isinstance(last, UserPromptPart):
        return ModelResponse(
            parts=[
                ThinkingPart(
                    "Paris, then.", signature="sig-1", provider_name="anthropic"
                ),
                ThinkingPart(
                    "",
                    id="redacted_thinking",
                    signature="opaque",
                    provider_name="anthropic",
                ),
                ThinkingPart("o-series thoughts", provider_name="openai"),
                ToolCallPart("weather", {"city": "paris"}, tool_call_id="call-1"),
            ],
        )
    # A tool's ModelRetry comes back as a retried ToolReturnPart (a RetryPromptPart
    # before Pydantic AI 2.x introduced outcomes).
    if isinstance(last, RetryPromptPart) or getattr(last, "outcome", "") == "retried":
        return ModelResponse(
            parts=[ToolCallPart("weather", '{"city": "Paris"}', tool_call_id="call-2")]
        )
    assert isinstance(last, ToolReturnPart)
    return ModelResponse(parts=[TextPart(f"It is {last.model_response_str()}")])


def _weather_agent() -> Agent[None, str]:
    agent = Agent(FunctionModel(_respond), system_prompt="You are a weather bot.")

    @agent.tool_plain
    def weather(city: str) -> dict[str, Any]:
        """Return the weather in *city*."""
        if not city.istitle():
            msg = "spell the city as a name: Paris"
            raise ModelRetry(msg)
        return {"city": city, "celsius": 21}

    @agent.output_validator
    def full_stop(output: str) -> str:
        if not output.endswith("."):
            msg = "end the answer with a full stop"
            raise ModelRetry(msg)
        return output

    return agent


def _run(
    agent: Agent[None, str], history: MessageHistory, prompt: Any
) -> list[ModelMessage]:
    result = agent.run_sync(prompt, message_history=history.load())
    history.save(result.new_messages())
    return result.all_messages()


def _same(loaded: list[ModelMessage], expected: list[ModelMessage]) -> None:
    assert loaded == expected
    dump = ModelMessagesTypeAdapter.dump_json
    assert dump(loaded) == dump(expected)


def test_a_multi_run_history_reloads_identical(open_store: OpenStore) -> None:
    """Three runs saved one after another reload, in a new store object, as Pydantic AI made them."""
    agent = _weather_agent()
    history = MessageHistory(open_store(), owner="u-1")
    _run(agent, history, "Weather in Paris?")
    _run(agent, history, ["Is this Paris?", ImageUrl("https://example.com/paris.png")])
    everything = _run(agent, history, "Thanks!")
    assert len(everything) == 24  # eight messages a run

    again = MessageHistory(open_store(), history.conversation_id, owner="u-1")
    _same(again.load(), everything)


def test_parts_that_are_blocks_become_blocks(open_store: OpenStore) -> None:
    """Text, tool calls and results, Anthropic thinking are blocks; other parts stay JSON."""
    store = open_store()
    history = MessageHistory(store, owner="u-1")
    _run(_weather_agent(), history, "Weather in Paris?")
    turns = store.for_owner("u-1").read(history.conversation_id)
    shapes = [(t.role, [b.to_api()["type"] for b in t.blocks]) for t in turns]
    assert shapes == [
        ("user", ["text"]),
        ("assistant", ["thinking", "redacted_thinking", "tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["text"]),
        ("user", ["text"]),  # the output validator's feedback
        ("assistant", ["text"]),
    ]
    assert turns[2].blocks[0].to_api()["is_error"] is True  # the retry prompt
    assert json.loads(turns[4].blocks[0].to_api()["content"]) == {
        "city": "Paris",
        "celsius": 21,
    }
    kept = [
        p["json"]["part_kind"]
        for t in turns
        for p in t.flags[FLAG]["parts"]
        if "json" in p
    ]
    assert kept == ["system-prompt", "thinking"]  # the OpenAI thinking, as it was
    response = history.load()[1]
    assert isinstance(response, ModelResponse)
    assert turns[1].model == response.model_name
    assert turns[1].usage is not None
    assert turns[1].usage.output_tokens > 0


def test_a_second_writer_gets_a_conflict_not_a_lost_turn(open_store: OpenStore) -> None:
    """Two histories loaded at the same point: the second save raises, the first is kept."""
    agent = Agent(TestModel(custom_output_text="ok"))
    first = MessageHistory(open_store(), owner="u-1")
    _run(agent, first, "hello")
    second = MessageHistory(open_store(), first.conversation_id, owner="u-1")
    a = agent.run_sync("from A", message_history=first.load())
    b = agent.run_sync("from B", message_history=second.load())
    first.save(a.new_messages())
    with pytest.raises(SeqConflictError):
        second.save(b.new_messages())
    _same(
        MessageHistory(open_store(), first.conversation_id, owner="u-1").load(),
        a.all_messages(),
    )
    # Loaded again, the second writer runs on the whole history and saves.
    c = agent.run_sync("from B, again", message_history=second.load())
    second.save(c.new_messages())
    assert len(second.load()) == 6


def test_saving_the_same_messages_again_stores_them_once(open_store: OpenStore) -> None:
    """A save retried after its answer was lost finds its turns stored and adds nothing."""
    agent = Agent(TestModel(custom_output_text="ok"))
    history = MessageHistory(open_store(), owner="u-1")
    result = agent.run_sync("hello", message_history=history.load())
    retry = MessageHistory(open_store(), history.conversation_id, owner="u-1")
    retry.load()
    history.save(result.new_messages())
    retry.save(result.new_messages())  # the same messages at the same place
    _same(history.load(), result.all_messages())


def test_another_owner_neither_sees_nor_writes(open_store: OpenStore) -> None:
    """A conversation of owner u-1 does not exist for u-2: loads empty, saving is refused."""
    agent = Agent(TestModel(custom_output_text="ok"))
    mine = MessageHistory(open_store(), owner="u-1")
    everything = _run(agent, mine, "secret")
    theirs = MessageHistory(open_store(), mine.conversation_id, owner="u-2")
    assert theirs.load() == []
    with pytest.raises(ConversationNotFoundError):
        theirs.save(agent.run_sync("let me in").new_messages())
    _same(mine.load(), everything)


def test_clear_retracts_and_keeps_the_turns(open_store: OpenStore) -> None:
    """After clear() a load is empty, the turns stay stored, and the next run starts afresh."""
    store = open_store()
    agent = Agent(TestModel(custom_output_text="ok"))
    history = MessageHistory(store, owner="u-1")
    _run(agent, history, "forget me")
    history.clear()
    assert history.load() == []
    fresh = _run(agent, history, "new start")
    _same(
        MessageHistory(open_store(), history.conversation_id, owner="u-1").load(), fresh
    )
    kinds = [t.kind for t in store.for_owner("u-1").read(history.conversation_id)]
    assert kinds == ["message", "message", "retraction", "message", "message"]


@pytest.mark.anyio
async def test_the_async_twin_round_trips(open_store: OpenStore) -> None:
    """aload/asave around an async run keep the same history as the sync methods."""
    store = open_store()
    agent = _weather_agent()
    history = MessageHistory(store, owner="u-1")
    for prompt in ("Weather in Paris?", "And tomorrow?"):
        result = await agent.run(prompt, message_history=await history.aload())
        await history.asave(result.new_messages())
    _same(
        MessageHistory(open_store(), history.conversation_id, owner="u-1").load(),
        result.all_messages(),
    )
    await history.aclear()
    assert await history.aload() == []
    await store.aclose()


def test_turns_conversa_wrote_load_as_parts() -> None:
    """A conversation built with conversa itself loads as the matching requests and responses."""
    store = MemoryStore()
    conv = Conversation.create(store, model="claude-sonnet-4-5", id="c-1")
    conv.add_turns(
        [
            ("user", "What is 2+2?"),
            (
                "assistant",
                [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "add",
                        "input": {"a": 2, "b": 2},
                    }
                ],
            ),
            ("user", [{"type": "tool_result", "tool_use_id": "t1", "content": "4"}]),
            ("assistant", "4."),
        ]
    )
    loaded = MessageHistory(store, "c-1").load()
    assert [type(m) for m in loaded] == [
        ModelRequest,
        ModelResponse,
        ModelRequest,
        ModelResponse,
    ]
    assert loaded[0].parts[0].content == "What is 2+2?"
    call = loaded[1].parts[0]
    assert isinstance(call, ToolCallPart)
    assert (call.tool_name, call.args, call.tool_call_id) == (
        "add",
        {"a": 2, "b": 2},
        "t1",
    )
    result = loaded[2].parts[0]
    assert isinstance(result, ToolReturnPart)
    assert (result.tool_name, result.content) == ("add", "4")
    assert loaded[3].parts == [TextPart("4.")]
    # The next run continues the conversation with them.
    agent = Agent(TestModel(custom_output_text="ok"))
    history = MessageHistory(store, "c-1")
    _run(agent, history, "And 3+3?")
    assert len(history.load()) == 6


def test_a_block_with_no_part_is_refused_naming_the_turn() -> None:
    """An image a conversa user turn holds has no Pydantic AI part: the load names its turn."""
    store = MemoryStore()
    conv = Conversation.create(store, model="claude-sonnet-4-5", id="c-2")
    image = {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/a.png"},
    }
    conv.add("user", [image, {"type": "text", "text": "What is this?"}])
    with pytest.raises(InvalidInputError, match="turn 1 has a 'image' block"):
        MessageHistory(store, "c-2").load()


def test_an_owner_needs_a_store_that_scopes() -> None:
    """owner= with a store that has no for_owner is refused before anything is read."""

    class Plain:
        pass

    with pytest.raises(InvalidInputError, match="for_owner"):
        MessageHistory(Plain(), owner="u-1")


# Deprecated in Pydantic AI 2.x, and still in histories saved before: kept too.
@pytest.mark.filterwarnings("ignore:.RetryPromptPart. is deprecated")
def test_every_part_kind_round_trips(open_store: OpenStore) -> None:
    """Hand-built messages with each part kind (and field) reload equal."""
    messages: list[ModelMessage] = [
        ModelRequest(
            parts=[
                SystemPromptPart("You are terse."),
                UserPromptPart("Hi"),
                UserPromptPart(
                    ["Look:", BinaryContent(b"\x89PNG", media_type="image/png")]
                ),
            ],
            instructions="Answer in French.",
        ),
        ModelResponse(
            parts=[
                TextPart(""),
                ThinkingPart("Hmm.", signature="sig", provider_name="anthropic"),
                ToolCallPart("add", '{"a": 1}', tool_call_id="t1"),
                ToolCallPart("add", "not json", tool_call_id="t2"),
            ],
            model_name="claude-sonnet-4-5",
        ),
        ModelRequest(
            parts=[
                ToolReturnPart("add", {"sum": 1, "unit": "€"}, tool_call_id="t1"),
                RetryPromptPart("bad arguments", tool_name="add", tool_call_id="t2"),
                RetryPromptPart("answer again"),
            ]
        ),
        ModelResponse(parts=[TextPart("Un.")]),
    ]
    store = open_store()
    history = MessageHistory(store, owner="u-1")
    history.save(messages)
    result = store.for_owner("u-1").read(history.conversation_id)[2].blocks[0]
    assert result.to_api()["content"] == '{"sum": 1, "unit": "€"}'  # readable
    # What Pydantic AI's own JSON round trip gives (it reads image bytes back as a
    # BinaryImage, for one).
    adapter = ModelMessagesTypeAdapter
    expected = adapter.validate_python(adapter.dump_python(messages, mode="json"))
    loaded = MessageHistory(open_store(), history.conversation_id, owner="u-1").load()
    _same(loaded, expected)


def test_the_last_load_counts(open_store: OpenStore) -> None:
    """A save is conditional on the history this object loaded last."""
    agent = Agent(TestModel(custom_output_text="ok"))
    mine = MessageHistory(open_store(), owner="u-1")
    _run(agent, mine, "hello")
    other = MessageHistory(open_store(), mine.conversation_id, owner="u-1")
    mine.load()
    _run(agent, other, "meanwhile")
    result = agent.run_sync("after", message_history=mine.load())
    mine.save(result.new_messages())
    _same(other.load(), result.all_messages())
