"""Conversation.send / AsyncConversation.send against the fake Messages API."""

from __future__ import annotations

import json

import pytest

from conversa import (
    APIError,
    BadRequestError,
    ConversationNotFoundError,
    InternalServerError,
    InvalidInputError,
    PendingToolUseError,
    PrefillNotSupportedError,
    PrefillRejectedError,
    RetryPolicy,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    TurnIdConflictError,
)
from conversa.testing import FakeMessagesAPI, fault, reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_send_stores_both_turns_and_returns_the_reply(harness: Harness) -> None:
    """A send stores the user turn and the folded reply, with its metadata."""
    harness.fake.script(reply.text("Sorry to hear that!"))
    conv = await harness.create(system="You are a support agent.")
    turn = await conv.send("My order hasn't arrived.")
    assert turn.text == "Sorry to hear that!"
    assert turn.role == "assistant"
    assert turn.stop_reason == "end_turn"
    assert turn.model == "claude-sonnet-4-5"
    assert turn.message_id is not None
    assert turn.message_id.startswith("msg_")
    assert turn.request_id is not None
    assert turn.usage is not None
    assert turn.usage.output_tokens > 0
    stored = await conv.turns()
    assert [(t.seq, t.role) for t in stored] == [(1, "user"), (2, "assistant")]
    assert stored[1] == turn


async def test_each_send_replays_the_whole_history(harness: Harness) -> None:
    """The API is stateless: the second call carries the first exchange."""
    harness.fake.script(reply.text("one"), reply.text("two"))
    conv = await harness.create(system="Be brief.")
    await conv.send("first")
    await conv.send("second")
    body = harness.bodies()[-1]
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "one"}]},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]


async def test_request_is_the_exact_body_send_posts_and_writes_nothing(
    harness: Harness,
) -> None:
    """request() returns byte-for-byte what send() POSTs, and stores nothing."""
    conv = await harness.create(max_tokens=300, api_metadata={"user_id": "u-1"})
    await conv.send("hello")
    planned = await conv.request("And the refund?", turn_id="t-refund")
    assert len(await conv.turns()) == 2
    assert len(harness.bodies()) == 1
    await conv.send("And the refund?", turn_id="t-refund")
    assert json.dumps(harness.bodies()[-1]) == json.dumps(planned)


async def test_app_metadata_is_never_sent(harness: Harness) -> None:
    """The record's own metadata stays local; api_metadata becomes the body's metadata."""
    conv = await harness.create(
        metadata={"ticket": "T-9"}, api_metadata={"user_id": "hash-1"}
    )
    body = await conv.request("hi")
    assert body["metadata"] == {"user_id": "hash-1"}
    assert "T-9" not in json.dumps(body)


async def test_load_reopens_a_stored_conversation(harness: Harness) -> None:
    """A loaded conversation continues the stored history."""
    conv = await harness.create()
    await conv.send("hi")
    again = await harness.load(conv.id)
    await again.send("again")
    assert [t.role for t in await again.turns()] == ["user", "assistant"] * 2


async def test_load_of_an_unknown_id_raises_not_found(harness: Harness) -> None:
    """Loading a conversation that does not exist is a ConversationNotFoundError."""
    with pytest.raises(ConversationNotFoundError):
        await harness.load("no-such-conversation")


async def test_prefill_is_stored_with_its_continuation_as_one_turn(
    harness: Harness,
) -> None:
    """The prefill goes out as the final assistant message; one turn holds both."""
    harness.fake.script(reply.text('"status": "late"}'))
    conv = await harness.create()
    turn = await conv.send("Reply as JSON.", prefill="{  ")
    body = harness.bodies()[-1]
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "{"}],
    }
    assert turn.text == '{"status": "late"}'
    assert json.loads(turn.text) == {"status": "late"}
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]


async def test_prefill_on_a_model_that_rejects_it_fails_before_sending(
    harness: Harness,
) -> None:
    """Claude 4.6+ rejects prefill: a clear error naming the alternative, nothing sent or stored."""
    conv = await harness.create(model="claude-sonnet-4-6")
    with pytest.raises(PrefillNotSupportedError, match="output_config"):
        await conv.send("JSON please", prefill="{")
    assert harness.bodies() == []
    assert await conv.turns() == ()


async def test_prefill_with_thinking_on_fails_before_sending(harness: Harness) -> None:
    """Thinking and prefill do not mix: refused before anything is written."""
    conv = await harness.create(
        thinking={"type": "enabled", "budget_tokens": 2048}, max_tokens=4096
    )
    with pytest.raises(PrefillNotSupportedError, match="thinking"):
        await conv.send("JSON please", prefill="{")
    assert await conv.turns() == ()


async def test_the_apis_prefill_400_maps_to_the_same_error_class(make_harness) -> None:
    """For a model conversa doesn't know, the API's own refusal is a PrefillNotSupportedError."""
    harness = make_harness(
        FakeMessagesAPI(prefill_rejecting_models={"claude-future-9"})
    )
    conv = await harness.create(model="claude-future-9")
    with pytest.raises(PrefillNotSupportedError) as info:
        await conv.send("JSON please", prefill="{")
    assert isinstance(info.value, PrefillRejectedError)
    assert isinstance(info.value, BadRequestError)
    assert info.value.request_id is not None
    assert [t.role for t in await conv.turns()] == ["user"]


async def test_a_repeated_turn_id_stores_one_turn_and_calls_once(
    harness: Harness,
) -> None:
    """A double-submitted send (same turn_id) returns the stored reply without a call."""
    conv = await harness.create()
    first = await conv.send("Where is my order?", turn_id="req-42")
    second = await conv.send("Where is my order?", turn_id="req-42")
    assert first == second
    assert len(harness.bodies()) == 1
    assert len(await conv.turns()) == 2


async def test_a_turn_id_reused_for_other_content_is_a_conflict(
    harness: Harness,
) -> None:
    """Reusing an idempotency key with different content is refused."""
    conv = await harness.create()
    await conv.send("one thing", turn_id="req-1")
    with pytest.raises(TurnIdConflictError):
        await conv.send("another thing", turn_id="req-1")


async def test_a_failed_send_leaves_the_user_turn_pending_once(
    harness: Harness,
) -> None:
    """After the retries are spent: the user turn is stored exactly once, no reply."""
    harness.fake.script(fault.status(500), fault.status(500), fault.status(500))
    conv = await harness.create()
    with pytest.raises(InternalServerError):
        await conv.send("hello?")
    assert len(harness.fake.requests) == 3
    assert [t.role for t in await conv.turns()] == ["user"]


async def test_the_next_send_replays_the_pending_turn_with_the_new_one(
    harness: Harness,
) -> None:
    """A send after a failure stores its turn after the pending one and replays both."""
    harness.fake.script(fault.status(529), fault.status(529), fault.status(529))
    conv = await harness.create()
    with pytest.raises(APIError):
        await conv.send("first try")
    await conv.send("anyone there?")
    assert [t.role for t in await conv.turns()] == ["user", "user", "assistant"]
    assert harness.bodies()[-1]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "first try"},
                {"type": "text", "text": "anyone there?"},
            ],
        }
    ]


async def test_a_resubmitted_pending_turn_id_is_resent_not_restored(
    harness: Harness,
) -> None:
    """Resubmitting the failed request's turn_id resends the stored turn alone."""
    harness.fake.script(fault.status(500), fault.status(500), fault.status(500))
    conv = await harness.create()
    with pytest.raises(APIError):
        await conv.send("hello?", turn_id="req-7")
    turn = await conv.send("hello?", turn_id="req-7")
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]
    assert turn.id == "req-7.reply"


async def test_retry_resends_the_pending_turn_alone(harness: Harness) -> None:
    """An explicit retry sends the pending turn without storing anything new first."""
    harness.fake.script(
        fault.timeout(), fault.timeout(), fault.timeout(), reply.text("here")
    )
    conv = await harness.create()
    with pytest.raises(APIError):
        await conv.send("hello?")
    turn = await conv.retry()
    assert turn.text == "here"
    assert [t.text for t in await conv.turns()] == ["hello?", "here"]


async def test_retry_with_nothing_pending_is_refused(harness: Harness) -> None:
    """A retry needs an unanswered user turn."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="nothing to retry"):
        await conv.retry()


@pytest.mark.parametrize("content", ["", "   \n", [{"type": "text", "text": ""}], []])
async def test_empty_content_is_refused_before_any_write(
    harness: Harness, content: object
) -> None:
    """A user turn with no real content raises InvalidInputError; nothing is sent or stored."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError):
        await conv.send(content)
    assert harness.bodies() == []
    assert await conv.turns() == ()


async def test_an_unknown_parameter_is_refused(harness: Harness) -> None:
    """A typo in a parameter name is a clear error, not an API 400."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="max_token"):
        await conv.send("hi", max_token=10)
    with pytest.raises(InvalidInputError, match="unknown request parameter"):
        await harness.create(max_token=10)


async def test_temperature_is_refused_on_api_2026_10_21(harness: Harness) -> None:
    """The 2026-10-21 API removed temperature: refused before sending."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="2026-10-21"):
        await conv.send("hi", temperature=0.2)
    assert harness.bodies() == []


async def test_temperature_is_sent_on_api_2023_06_01(make_harness) -> None:
    """Under 2023-06-01 the sampling parameters are accepted and sent."""
    harness = make_harness(api_version="2023-06-01")
    conv = await harness.create()
    await conv.send("hi", temperature=0.2)
    assert harness.bodies()[-1]["temperature"] == 0.2
    assert harness.fake.requests[-1].headers["anthropic-version"] == "2023-06-01"


async def test_overrides_apply_to_one_call_only(harness: Harness) -> None:
    """Per-call overrides shape that body; the stored defaults stay."""
    conv = await harness.create(max_tokens=256)
    tool = {
        "name": "lookup",
        "description": "Find an order.",
        "input_schema": {"type": "object"},
    }
    await conv.send(
        "hi",
        max_tokens=100,
        tools=[tool],
        tool_choice={"type": "auto"},
        stop_sequences=["END"],
        output_config={"effort": "low"},
        extra={"service_tier": "auto"},
        betas=["fast-mode-2026-02-01"],
    )
    body = harness.bodies()[-1]
    assert body["max_tokens"] == 100
    assert body["tools"] == [tool]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["stop_sequences"] == ["END"]
    assert body["output_config"] == {"effort": "low"}
    assert body["service_tier"] == "auto"
    assert "fast-mode-2026-02-01" in harness.fake.requests[-1].headers["anthropic-beta"]
    assert (await conv.request("next"))["max_tokens"] == 256


async def test_model_system_and_params_changes_are_stored(harness: Harness) -> None:
    """set_model, set_system and set_params persist and shape the next request."""
    conv = await harness.create()
    await conv.set_model("claude-haiku-4-5")
    await conv.set_system("You are terse.")
    await conv.set_params(max_tokens=64)
    record = await (await harness.load(conv.id)).record()
    assert (record.model, record.system, record.params.max_tokens) == (
        "claude-haiku-4-5",
        "You are terse.",
        64,
    )
    body = await conv.request("hi")
    assert (body["model"], body["system"], body["max_tokens"]) == (
        "claude-haiku-4-5",
        "You are terse.",
        64,
    )


async def test_thinking_from_another_model_is_not_replayed(harness: Harness) -> None:
    """After a model change, earlier turns' thinking blocks are dropped from the replay."""
    conv = await harness.create(
        thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048
    )
    harness.fake.script(reply.thinking("Let me think.", then=reply.text("Done.")))
    turn = await conv.send("Think first.")
    assert any(isinstance(b, ThinkingBlock) for b in turn.blocks)
    assert any(
        b.get("type") == "thinking"
        for b in (await conv.request("more"))["messages"][1]["content"]
    )
    await conv.set_model("claude-opus-4-5")
    replayed = (await conv.request("more"))["messages"][1]["content"]
    assert [b["type"] for b in replayed] == ["text"]


async def test_a_pending_tool_use_blocks_a_plain_send(harness: Harness) -> None:
    """An unanswered tool_use must be answered or cancelled before a text send."""
    tool = {
        "name": "lookup",
        "description": "Find an order.",
        "input_schema": {"type": "object"},
    }
    harness.fake.script(reply.tool_use("lookup", {"order": 1042}))
    conv = await harness.create(tools=[tool])
    turn = await conv.send("Where is 1042?")
    (use,) = [b for b in turn.blocks if isinstance(b, ToolUseBlock)]
    assert turn.stop_reason == "tool_use"
    with pytest.raises(PendingToolUseError, match="add_tool_results"):
        await conv.send("hello?")
    assert [u.id for u in await conv.pending_tool_uses()] == [use.id]
    await conv.add_tool_results({use.id: "Shipped on Monday."})
    harness.fake.script(reply.text("It shipped Monday."))
    assert (await conv.retry()).text == "It shipped Monday."
    sent = harness.bodies()[-1]["messages"][-1]["content"][0]
    assert sent == {
        "type": "tool_result",
        "tool_use_id": use.id,
        "content": "Shipped on Monday.",
    }


async def test_cancelling_tool_uses_stores_error_results(harness: Harness) -> None:
    """cancel_tool_uses answers each pending call with an is_error result."""
    harness.fake.script(reply.tool_uses([("a", {}), ("b", {})]))
    tools = [
        {"name": n, "description": n, "input_schema": {"type": "object"}} for n in "ab"
    ]
    conv = await harness.create(tools=tools)
    await conv.send("do both")
    (cancel,) = await conv.cancel_tool_uses()
    results = [b for b in cancel.blocks if isinstance(b, ToolResultBlock)]
    assert [r.is_error for r in results] == [True, True]
    assert await conv.pending_tool_uses() == ()
    await conv.send("never mind")
    assert harness.bodies()[-1]["messages"][-1]["content"][-1] == {
        "type": "text",
        "text": "never mind",
    }


async def test_a_non_retryable_error_is_not_retried(harness: Harness) -> None:
    """A 400 from the API is raised at once, typed, with its request id."""
    harness.fake.script(fault.status(400, message="bad things"))
    conv = await harness.create()
    with pytest.raises(BadRequestError) as info:
        await conv.send("hi")
    assert len(harness.fake.requests) == 1
    assert info.value.status_code == 400
    assert info.value.request_id is not None


async def test_retries_then_success_store_one_reply(make_harness) -> None:
    """Two overloaded answers and a success: one user turn, one reply."""
    harness = make_harness(retry=RetryPolicy.no_wait(max_retries=2))
    harness.fake.script(
        fault.status(529), fault.status(429, retry_after=3), reply.text("ok")
    )
    conv = await harness.create()
    assert (await conv.send("hi")).text == "ok"
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]
