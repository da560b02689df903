"""Errors that say what happened and the way on (issue 13, item 8), in both twins."""

from __future__ import annotations

from typing import Any

import pytest

from conversa import InvalidInputError, PendingToolUseError
from conversa.testing import reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio

LONG = "Your parcel left our warehouse on Monday and should reach you within two days."


@pytest.mark.parametrize("entry", ["send", "edit"])
async def test_none_is_not_a_message(harness: Harness, entry: str) -> None:
    """send(None) or edit(seq, None) says None is no message and names retry()."""
    conv = await harness.create()
    await conv.send("Hello")
    args: tuple[Any, ...] = (None,) if entry == "send" else (1, None)
    with pytest.raises(InvalidInputError) as caught:
        await getattr(conv, entry)(*args)
    message = str(caught.value)
    assert message.startswith(f"{entry}() got None, which is not a message")
    assert "retry()" in message
    assert "nothing to retry" not in message
    assert len(await conv.turns()) == 2  # nothing stored


async def test_a_result_for_an_unknown_tool_call_names_the_pending_ids(
    harness: Harness,
) -> None:
    """add_tool_results with an id no call has: the pending ids, not "call add_tool_results"."""
    harness.fake.script(reply.tool_use("weather", {"city": "Paris"}, id="toolu_1"))
    conv = await harness.create()
    await conv.send("Weather?")
    with pytest.raises(PendingToolUseError) as caught:
        await conv.add_tool_results({"toolu_typo": "sunny"})
    error = caught.value
    assert (error.tool_use_ids, error.unknown_ids) == (("toolu_1",), ("toolu_typo",))
    message = str(error)
    assert message.startswith("no pending tool call has the id toolu_typo")
    assert "awaits results for toolu_1" in message
    assert "add_tool_results" not in message
    assert len(await conv.turns()) == 2
    await conv.add_tool_results({"toolu_1": "sunny"})


async def test_a_send_past_pending_calls_still_says_how_to_answer(
    harness: Harness,
) -> None:
    """A plain send while calls are pending keeps the message naming both ways out."""
    harness.fake.script(reply.tool_use("weather", {"city": "Paris"}, id="toolu_1"))
    conv = await harness.create()
    await conv.send("Weather?")
    with pytest.raises(PendingToolUseError, match="cancel_tool_uses") as caught:
        await conv.send("Never mind")
    assert caught.value.unknown_ids == ()


async def test_retractions_say_what_they_hide(harness: Harness) -> None:
    """turns() lists a retraction with the seqs it hides; other turns hide none."""
    conv = await harness.create()
    await conv.send("Hello")
    marker = await conv.retract(1, 2)
    turns = await conv.turns()
    assert turns[-1] == marker
    assert (marker.kind, marker.retracts) == ("retraction", (1, 2))
    assert [t.retracts for t in turns[:2]] == [(), ()]
    regenerated = await conv.send("Again")
    assert regenerated.retracts == ()


def test_leaving_a_stream_early_then_turn_is_the_interrupted_turn() -> None:
    """stream.turn after leaving early is the stored interrupted turn."""
    from conversa import Client, Conversation, MemoryStore
    from conversa.testing import FakeMessagesAPI

    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG))
    with Client(api_key="sk-test", transport=fake) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with conv.stream("hi") as stream:
            with pytest.raises(InvalidInputError, match="until_done"):
                _ = stream.turn
            first = next(iter(stream))
        turn = stream.turn
        assert (turn.status, turn.seq) == ("interrupted", 2)
        assert turn.text.startswith(first)
        assert conv.turns()[-1] == turn


async def test_leaving_an_async_stream_early_then_turn_is_the_interrupted_turn() -> (
    None
):
    """The async twin: the same stored interrupted turn."""
    from conversa import AsyncClient, AsyncConversation, MemoryStore
    from conversa.testing import FakeMessagesAPI

    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG))
    async with AsyncClient(api_key="sk-test", transport=fake) as client:
        conv = await AsyncConversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        async with conv.stream("hi") as stream:
            first = await anext(aiter(stream))
        turn = stream.turn
        assert (turn.status, turn.seq) == ("interrupted", 2)
        assert turn.text.startswith(first)
        assert (await conv.turns())[-1] == turn


def test_leaving_before_reading_says_nothing_was_sent() -> None:
    """Left before reading: turn says nothing was sent, and nothing is stored."""
    from conversa import Client, Conversation, MemoryStore
    from conversa.testing import FakeMessagesAPI

    with Client(api_key="sk-test", transport=FakeMessagesAPI()) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with conv.stream("hi") as stream:
            pass
        with pytest.raises(InvalidInputError, match="nothing was sent or stored"):
            _ = stream.turn
        assert conv.turns() == ()
