"""run(): the tool loop and continuations; retract, edit, regenerate."""

from __future__ import annotations

import json

import pytest

from conversa import (
    ContextWindowExceededError,
    InvalidInputError,
    TextBlock,
    ToolLoopLimitError,
    ToolResultBlock,
    tool,
)
from conversa._flows.run import CONTINUE_PROMPT
from conversa.testing import reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio

CALLS: list[str] = []


@tool
def lookup(order: int) -> str:
    """Find an order's status.

    Args:
        order: the order number.
    """
    CALLS.append(f"lookup {order}")
    return f"order {order} shipped Monday"


@tool
def refund(order: int, reason: str = "late") -> dict[str, object]:
    """Refund an order.

    Args:
        order: the order number.
        reason: why.
    """
    CALLS.append(f"refund {order}")
    return {"order": order, "refunded": True, "reason": reason}


@tool
def broken(order: int) -> str:
    """A tool that fails."""
    msg = f"no such order {order}"
    raise LookupError(msg)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    """Each test starts with no recorded tool calls."""
    CALLS.clear()


def tool_results(harness: Harness, index: int = -1) -> list[dict[str, object]]:
    """The tool_result blocks of the last message of request *index*."""
    content = harness.bodies()[index]["messages"][-1]["content"]
    return [b for b in content if b["type"] == "tool_result"]


async def test_run_executes_tools_until_the_model_is_done(harness: Harness) -> None:
    """Each tool call runs, its result goes back, and the final reply is returned."""
    harness.fake.script(
        reply.tool_use("lookup", {"order": 1042}),
        reply.tool_use("refund", {"order": 1042}),
        reply.text("Refunded."),
    )
    conv = await harness.create()
    final = await conv.run("Refund 1042 if it is late.", tools=[lookup, refund])
    assert final.text == "Refunded."
    assert CALLS == ["lookup 1042", "refund 1042"]
    assert [t.role for t in await conv.turns()] == ["user", "assistant"] * 3
    (result,) = tool_results(harness)
    assert json.loads(str(result["content"])) == {
        "order": 1042,
        "refunded": True,
        "reason": "late",
    }
    assert [t["name"] for t in harness.bodies()[0]["tools"]] == ["lookup", "refund"]


async def test_parallel_tool_calls_all_run_in_order(harness: Harness) -> None:
    """A reply with several tool calls gets all results, in the order asked."""
    harness.fake.script(
        reply.tool_uses([("lookup", {"order": 1}), ("lookup", {"order": 2})]),
        reply.text("Both shipped."),
    )
    conv = await harness.create()
    await conv.run("Status of 1 and 2?", tools=[lookup])
    assert sorted(CALLS) == ["lookup 1", "lookup 2"]
    results = tool_results(harness)
    assert [r["content"] for r in results] == [
        "order 1 shipped Monday",
        "order 2 shipped Monday",
    ]


async def test_a_failing_tool_becomes_an_error_result(harness: Harness) -> None:
    """An exception in a tool is sent back as is_error with its message."""
    harness.fake.script(reply.tool_use("broken", {"order": 7}), reply.text("Sorry."))
    conv = await harness.create()
    await conv.run("Check 7", tools=[broken])
    (result,) = tool_results(harness)
    assert result["is_error"] is True
    assert result["content"] == "LookupError: no such order 7"


async def test_the_step_limit_is_a_clear_error_and_run_resumes(
    harness: Harness,
) -> None:
    """At max_steps run() stops with ToolLoopLimitError; run() again resumes from the store."""
    harness.fake.script(*(reply.tool_use("lookup", {"order": i}) for i in range(3)))
    harness.fake.script(reply.text("Done at last."))
    conv = await harness.create()
    with pytest.raises(ToolLoopLimitError, match="after 2 model calls"):
        await conv.run("Loop", tools=[lookup], max_steps=2)
    final = await conv.run(tools=[lookup])
    assert final.text == "Done at last."
    assert CALLS == ["lookup 0", "lookup 1", "lookup 2"]


async def test_run_resumes_pending_tool_calls_after_a_crash(harness: Harness) -> None:
    """A stored tool call without results (the process died) runs on resume."""
    harness.fake.script(reply.tool_use("lookup", {"order": 5}), reply.text("Shipped."))
    conv = await harness.create(tools=[lookup.to_api()])
    await conv.send("Where is 5?")
    assert CALLS == []
    final = await conv.run(tools=[lookup])
    assert (final.text, CALLS) == ("Shipped.", ["lookup 5"])


async def test_a_forced_tool_choice_is_released_after_the_first_step(
    harness: Harness,
) -> None:
    """tool_choice any would loop forever; from the second call it is auto."""
    harness.fake.script(reply.tool_use("lookup", {"order": 1}), reply.text("ok"))
    conv = await harness.create()
    await conv.run("go", tools=[lookup], tool_choice={"type": "any"})
    first, second = harness.bodies()
    assert (first["tool_choice"], second["tool_choice"]) == (
        {"type": "any"},
        {"type": "auto"},
    )


async def test_a_cut_reply_continues_by_prefill_as_one_merged_message(
    harness: Harness,
) -> None:
    """max_tokens: the partial reply goes back as a prefill; the two turns merge."""
    harness.fake.script(reply.max_tokens("The parcel left on"), reply.text(" Monday."))
    conv = await harness.create()
    final = await conv.run("When did it leave?")
    assert final.text == " Monday."
    continuation = harness.bodies()[-1]["messages"]
    assert continuation[-1]["role"] == "assistant"
    assert continuation[-1]["content"][-1]["text"] == "The parcel left on"
    merged = (await conv.request("thanks"))["messages"][1]["content"]
    assert [b["text"] for b in merged] == ["The parcel left on", " Monday."]


async def test_without_prefill_a_cut_reply_continues_by_a_user_instruction(
    harness: Harness,
) -> None:
    """On Claude 4.6+ the continuation is a stored user turn asking to go on."""
    harness.fake.script(reply.max_tokens("Part one"), reply.text("Part two."))
    conv = await harness.create(model="claude-sonnet-4-6")
    await conv.run("Tell me everything.")
    turns = await conv.turns()
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[2].text == CONTINUE_PROMPT
    assert turns[2].flags["continuation"] is True


async def test_a_paused_turn_is_sent_back_as_it_is(harness: Harness) -> None:
    """pause_turn: the reply goes back as the final assistant message, even on 4.6+."""
    harness.fake.script(reply.pause_turn("weather"), reply.text("It is sunny."))
    tools = [{"type": "web_search_20250305", "name": "web_search"}]
    conv = await harness.create(model="claude-sonnet-4-6", tools=tools)
    final = await conv.run("Weather?")
    assert final.text == "It is sunny."
    last = harness.bodies()[-1]["messages"][-1]
    assert last["role"] == "assistant"
    assert last["content"][-1]["type"] == "server_tool_use"


async def test_a_context_window_stop_is_reported(harness: Harness) -> None:
    """model_context_window_exceeded raises a clear error; the reply stays stored."""
    harness.fake.script(
        reply.raw(
            {
                "content": [{"type": "text", "text": "Cut"}],
                "stop_reason": "model_context_window_exceeded",
            }
        )
    )
    conv = await harness.create()
    with pytest.raises(ContextWindowExceededError, match="max_tokens"):
        await conv.run("Go on and on.")
    assert (await conv.turns())[-1].text == "Cut"


async def test_async_tools_are_refused_by_the_sync_twin(
    harness: Harness, twin: str
) -> None:
    """An async tool needs AsyncConversation.run: refused before any call."""

    @tool
    async def slow(order: int) -> str:
        """An async tool."""
        return str(order)

    conv = await harness.create()
    if twin == "sync":
        with pytest.raises(InvalidInputError, match="slow"):
            await conv.run("go", tools=[slow])
        assert harness.bodies() == []
    else:
        harness.fake.script(reply.tool_use("slow", {"order": 3}), reply.text("ok"))
        assert (await conv.run("go", tools=[slow])).text == "ok"
        assert tool_results(harness)[0]["content"] == "3"


async def test_retract_hides_a_turn_without_deleting_it(harness: Harness) -> None:
    """A retracted exchange is not replayed, and is still stored."""
    conv = await harness.create()
    await conv.send("first")
    await conv.send("second")
    await conv.retract(3, 4)
    body = await conv.request("third")
    assert [m["content"][0]["text"] for m in body["messages"]] == [
        "first",
        (await conv.turns())[1].text,
        "third",
    ]
    assert len(await conv.turns()) == 5


async def test_a_retraction_that_orphans_a_tool_result_is_refused(
    harness: Harness,
) -> None:
    """Retracting a tool call but not its result would break the history."""
    harness.fake.script(reply.tool_use("lookup", {"order": 1}), reply.text("ok"))
    conv = await harness.create()
    await conv.run("go", tools=[lookup])
    with pytest.raises(InvalidInputError):
        await conv.retract(2)
    await conv.retract(2, 3)


async def test_edit_replaces_a_user_turn_and_what_followed(harness: Harness) -> None:
    """edit(seq) retracts that turn and the rest, then sends the new content."""
    conv = await harness.create()
    await conv.send("What is 2+2?")
    await conv.send("And 3+3?")
    new = await conv.edit(3, "And 4+4?")
    texts = [m["content"][0]["text"] for m in harness.bodies()[-1]["messages"]]
    assert texts[-1] == "And 4+4?"
    assert "And 3+3?" not in texts
    assert (await conv.turns())[-1] == new


async def test_regenerate_retracts_the_last_reply_and_asks_again(
    harness: Harness,
) -> None:
    """regenerate() replaces the last answer with a new one from the same question."""
    harness.fake.script(reply.text("Bad answer."), reply.text("Good answer."))
    conv = await harness.create()
    await conv.send("Question?")
    again = await conv.regenerate()
    assert again.text == "Good answer."
    body = harness.bodies()[-1]
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert isinstance((await conv.turns())[1].blocks[0], TextBlock)


async def test_nothing_to_regenerate_is_refused(harness: Harness) -> None:
    """regenerate() needs a reply to replace."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="nothing to regenerate"):
        await conv.regenerate()


def test_tool_results_are_tool_result_blocks() -> None:
    """A sanity check on the block type run() stores."""
    assert ToolResultBlock("id", "x").to_api() == {
        "type": "tool_result",
        "tool_use_id": "id",
        "content": "x",
    }


async def test_a_turn_id_resubmitted_after_regenerate_gets_the_new_reply(
    harness: Harness,
) -> None:
    """Idempotency looks past retracted replies: the live answer comes back."""
    harness.fake.script(reply.text("Old."), reply.text("New."))
    conv = await harness.create()
    await conv.send("Question?", turn_id="q-1")
    await conv.regenerate()
    again = await conv.send("Question?", turn_id="q-1")
    assert again.text == "New."
    assert len(harness.bodies()) == 2
