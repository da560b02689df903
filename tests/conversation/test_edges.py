"""Mistakes a caller can make get conversa's own errors, before anything is written."""

from __future__ import annotations

import pytest

from conversa import (
    AsyncConversation,
    BudgetConfig,
    Conversation,
    ImageBlock,
    InvalidContentError,
    InvalidInputError,
    MemoryStore,
    ToolResultBlock,
)
from conversa.testing import png_base64, reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_retracting_nothing_or_unknown_seqs_is_refused(harness: Harness) -> None:
    """retract() needs stored seqs."""
    conv = await harness.create()
    await conv.send("hi")
    for seqs in ((), (0,), (9,)):
        with pytest.raises(InvalidInputError, match="cannot retract"):
            await conv.retract(*seqs)
    assert len(await conv.turns()) == 2


async def test_only_user_turns_can_be_edited(harness: Harness) -> None:
    """edit() of a reply is refused and nothing is sent."""
    conv = await harness.create()
    await conv.send("hi")
    with pytest.raises(InvalidInputError, match="only user turns"):
        await conv.edit(2, "changed")
    assert len(harness.bodies()) == 1


async def test_pinning_needs_a_complete_exchange(harness: Harness) -> None:
    """pin() refuses unknown seqs and a turn whose exchange is not complete yet."""
    conv = await harness.create()
    await conv.send("one")
    with pytest.raises(InvalidInputError, match="no turn 7"):
        await conv.pin(7)
    await conv.add("user", "two, not answered yet")
    with pytest.raises(InvalidInputError, match="complete exchange"):
        await conv.pin(3)
    assert await conv.pin(1) == (1, 2)


async def test_unknown_record_fields_cannot_be_changed(harness: Harness) -> None:
    """update() names what can be changed."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="changeable"):
        await conv.update(owner="someone-else")


async def test_cancelling_with_nothing_pending_stores_nothing(harness: Harness) -> None:
    """cancel_tool_uses() with no pending tool call is a no-op."""
    conv = await harness.create()
    await conv.send("hi")
    assert await conv.cancel_tool_uses() == ()
    assert len(await conv.turns()) == 2


async def test_tool_results_may_be_blocks(harness: Harness) -> None:
    """A tool result can be a ready block, or content blocks such as an image."""
    harness.fake.script(reply.tool_uses([("shot", {}), ("note", {})]), reply.text("ok"))
    tools = [
        {"name": n, "description": n, "input_schema": {"type": "object"}}
        for n in ("shot", "note")
    ]
    conv = await harness.create(tools=tools)
    await conv.send("take a screenshot and a note")
    first, second = [u.id for u in await conv.pending_tool_uses()]
    image = ImageBlock(
        {"type": "base64", "media_type": "image/png", "data": png_base64(8, 8)}
    )
    turn = await conv.add_tool_results(
        {first: [image], second: ToolResultBlock(second, "noted")}
    )
    assert isinstance(turn.blocks[0], ToolResultBlock)
    assert isinstance(turn.blocks[0].content, tuple)
    assert (await conv.retry()).text == "ok"


async def test_a_second_count_of_the_same_request_needs_no_call(
    harness: Harness,
) -> None:
    """count_tokens makes the pending turn exact, so counting it again asks nothing."""
    conv = await harness.create()
    await conv.add("user", "How long is this question, in tokens?")
    first = await conv.count_tokens(None)
    calls = len(harness.fake.requests)
    assert await conv.count_tokens(None) == first
    assert len(harness.fake.requests) == calls


async def test_an_answered_turn_id_has_no_request(harness: Harness) -> None:
    """request() and count_tokens() for an answered turn_id say so instead of planning."""
    conv = await harness.create()
    await conv.send("hi", turn_id="t-1")
    with pytest.raises(InvalidInputError, match="already answered"):
        await conv.request("hi", turn_id="t-1")


async def test_an_empty_summary_is_not_stored(make_harness) -> None:
    """A summarizer that returns nothing leaves the dropped span unsummarized."""
    harness = make_harness()
    conv = await harness.create(
        budget=BudgetConfig(fixed=3000), summarizer=lambda turns: "  "
    )
    for i in range(14):
        await conv.send(" ".join(f"m{i}-{j}" for j in range(80)))
    assert not [t for t in await conv.turns() if t.kind == "summary"]


def test_a_conversation_without_a_client_can_be_read_but_not_sent() -> None:
    """No client: reading works, sending says how to fix it."""
    conv = Conversation.create(MemoryStore(), model="claude-sonnet-4-5")
    assert repr(conv) == f"Conversation(id={conv.id!r})"
    assert conv.turns() == ()
    with pytest.raises(InvalidInputError, match="no client"):
        conv.send("hi")
    with pytest.raises(InvalidInputError, match="needs a model"):
        Conversation.create(MemoryStore(), model="")


async def test_the_async_twin_without_a_client_says_the_same() -> None:
    """AsyncConversation without a client refuses to send, clearly."""
    conv = await AsyncConversation.create(MemoryStore(), model="claude-sonnet-4-5")
    with pytest.raises(InvalidInputError, match="no client"):
        await conv.send("hi")


async def test_a_number_json_cannot_hold_is_refused_before_anything_is_written(
    harness: Harness,
) -> None:
    """NaN or an infinity in a block (a tool call's input, a document's field) has
    no JSON text, so no request could carry it: add and add_turns refuse it with
    the block's path, and nothing is stored or sent."""
    conv = await harness.create()
    await conv.send("hi")
    use = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "f",
        "input": {"x": [1.5, float("nan")]},
    }
    with pytest.raises(InvalidContentError, match="not JSON compliant") as refused:
        await conv.add("assistant", [use])
    assert refused.value.path == "content.0.input.x.1"
    with pytest.raises(InvalidContentError, match="not JSON compliant"):
        await conv.add_turns([("user", "q"), ("assistant", [use])])
    assert len(await conv.turns()) == 2
    assert len(harness.bodies()) == 1
