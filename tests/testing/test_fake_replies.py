"""Scripted and default replies: content, stop reasons, limits, ids, usage."""

from __future__ import annotations

import json

import pytest

from conversa.testing import FakeMessagesAPI, reply
from conversa.testing._tokens import count_text
from tests.testing.cases import ENABLED, RESULT, TOOL
from tests.testing.support import assistant, body, message, post, user

USAGE_KEYS = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "cache_creation",
    "server_tool_use",
    "service_tier",
    "inference_geo",
    "speed",
    "output_tokens_details",
]


def test_message_has_the_api_keys_in_order() -> None:
    """A reply is the full §4 Message, keys in the API's order."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("Hello!"))
    reply_json = message(fake, body())
    assert list(reply_json) == [
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "stop_details",
        "container",
        "usage",
    ]
    assert list(reply_json["usage"]) == USAGE_KEYS
    assert reply_json["content"] == [{"type": "text", "text": "Hello!"}]
    assert reply_json["stop_reason"] == "end_turn"
    assert reply_json["model"] == "claude-sonnet-4-5"
    assert reply_json["id"].startswith("msg_")
    assert len(reply_json["id"]) == 4 + 24


def test_diagnostics_key_appears_only_when_requested() -> None:
    """``diagnostics`` is null when the request opted in, absent otherwise."""
    fake = FakeMessagesAPI()
    reply_json = message(fake, body(diagnostics={"previous_message_id": None}))
    assert reply_json["diagnostics"] is None
    assert list(reply_json)[-2:] == ["diagnostics", "usage"]


def test_usage_counts_with_the_fake_tokenizer() -> None:
    """input_tokens and output_tokens follow the fake tokenizer."""
    fake = FakeMessagesAPI()
    payload = body(user("Hello there"))
    fake.script(reply.text("Extraordinary words"))
    usage = message(fake, payload)["usage"]
    assert usage["input_tokens"] == fake.count_tokens(payload) == 3 + 2 + 2
    assert usage["output_tokens"] == count_text("Extraordinary words") == 4 + 1


def test_empty_reply_still_reports_an_output_token() -> None:
    """An empty reply has no content and output_tokens 1, as the API never says 0."""
    fake = FakeMessagesAPI()
    fake.script(reply.empty())
    reply_json = message(fake, body())
    assert reply_json["content"] == []
    assert reply_json["usage"]["output_tokens"] == 1


def test_default_reply_is_deterministic_and_numbered() -> None:
    """Unscripted calls get '(fake reply #N to: <user text>)', the same for the same seed."""
    first, second = FakeMessagesAPI(seed=3), FakeMessagesAPI(seed=3)
    payload = body(user("What is the capital of France? " * 5))
    one = message(first, payload)
    assert one == message(second, payload)
    expected = (
        "(fake reply #1 to: " + ("What is the capital of France? " * 5)[:60] + ")"
    )
    assert one["content"] == [{"type": "text", "text": expected}]
    assert message(first, payload)["content"][0]["text"].startswith(
        "(fake reply #2 to:"
    )
    assert message(FakeMessagesAPI(seed=4), payload)["id"] != one["id"]


def test_default_reply_to_tool_results() -> None:
    """A user turn of tool results is named as such in the default reply."""
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    payload = body(user("a"), assistant([use]), user([RESULT]), tools=[TOOL])
    text = message(FakeMessagesAPI(), payload)["content"][0]["text"]
    assert text == "(fake reply #1 to: tool results)"


@pytest.mark.parametrize(
    "prefill", ["{", '{"answer": 1,', '{"answer":', '{"a": {"b": 2}']
)
def test_default_continuation_of_a_json_prefill_parses(prefill: str) -> None:
    """After a JSON prefill the default continuation completes a valid object."""
    payload = body(user("Answer in JSON."), assistant(prefill))
    text = message(FakeMessagesAPI(), payload)["content"][0]["text"]
    assert isinstance(json.loads(prefill + text), dict)


def test_default_reply_to_an_unclosable_prefill_is_plain_text() -> None:
    """A JSON prefill the default continuations cannot close gets the plain default text."""
    payload = body(user("Answer in JSON."), assistant('{"a": [1,'))
    text = message(FakeMessagesAPI(), payload)["content"][0]["text"]
    assert text.startswith("(fake reply #1 to: Answer in JSON.")


def test_default_reply_without_a_user_message() -> None:
    """A conversation with no user message gets an empty topic."""
    text = message(FakeMessagesAPI(), body(assistant("Hi")))["content"][0]["text"]
    assert text == "(fake reply #1 to: )"


def test_output_that_cannot_start_is_dropped() -> None:
    """When not even the first piece fits, the block is dropped entirely."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("Extraordinary"))
    reply_json = message(fake, body(max_tokens=1))
    assert (reply_json["content"], reply_json["stop_reason"]) == ([], "max_tokens")


def test_scripted_text_after_a_prefill_is_the_continuation_only() -> None:
    """A scripted full text that repeats the prefill comes back as the continuation."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("The answer is (B)"), reply.text("B)"))
    payload = body(user("Pick one."), assistant("The answer is ("))
    assert message(fake, payload)["content"][0]["text"] == "B)"
    assert message(fake, payload)["content"][0]["text"] == "B)"


def test_tool_use_reply() -> None:
    """reply.tool_use gives text then a tool_use block with a fresh toolu_ id."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("get_weather", {"city": "Paris"}, text="Checking."))
    reply_json = message(fake, body(tools=[TOOL]))
    text, use = reply_json["content"]
    assert text == {"type": "text", "text": "Checking."}
    assert list(use) == ["type", "id", "name", "input"]
    assert use["id"].startswith("toolu_")
    assert (use["name"], use["input"]) == ("get_weather", {"city": "Paris"})
    assert reply_json["stop_reason"] == "tool_use"


def test_tool_use_with_given_id_and_parallel_calls() -> None:
    """An explicit id is kept; reply.tool_uses makes parallel calls with distinct ids."""
    fake = FakeMessagesAPI()
    fake.script(
        reply.tool_use("get_weather", {}, id="toolu_mine"),
        reply.tool_uses(
            [("get_weather", {"city": "A"}), ("get_weather", {"city": "B"})]
        ),
    )
    assert message(fake, body())["content"][0]["id"] == "toolu_mine"
    uses = message(fake, body())["content"]
    assert [u["input"]["city"] for u in uses] == ["A", "B"]
    assert uses[0]["id"] != uses[1]["id"]


def test_tool_result_round_trip_is_accepted() -> None:
    """A scripted tool call, answered in the next user turn, is a valid history."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("get_weather", {"city": "Paris"}), reply.text("Sunny."))
    first = message(fake, body(tools=[TOOL]))
    use = first["content"][0]
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": "sunny"}
    history = [user("Hello there"), assistant(first["content"]), user([result])]
    assert message(fake, body(*history, tools=[TOOL]))["content"][0]["text"] == "Sunny."


def test_max_tokens_and_refusal_replies() -> None:
    """reply.max_tokens and reply.refusal set their stop reasons and details."""
    fake = FakeMessagesAPI()
    fake.script(
        reply.max_tokens("A reply cut"),
        reply.refusal(),
        reply.refusal("Partial", category="cyber", explanation="Not that."),
    )
    assert message(fake, body())["stop_reason"] == "max_tokens"
    refused = message(fake, body())
    assert (refused["content"], refused["stop_reason"]) == ([], "refusal")
    assert refused["stop_details"] == {
        "type": "refusal",
        "category": None,
        "explanation": None,
    }
    partial = message(fake, body())
    assert partial["content"] == [{"type": "text", "text": "Partial"}]
    assert partial["stop_details"]["category"] == "cyber"


def test_reply_longer_than_max_tokens_is_cut() -> None:
    """Output beyond max_tokens is cut at a piece boundary with stop_reason max_tokens."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_uses([("a", {})], text="one two three four five"))
    reply_json = message(fake, body(max_tokens=3))
    assert reply_json["content"] == [{"type": "text", "text": "one two three"}]
    assert reply_json["stop_reason"] == "max_tokens"
    assert reply_json["usage"]["output_tokens"] == 3


def test_tool_use_that_does_not_fit_is_dropped() -> None:
    """A tool call beyond max_tokens is dropped and the stop reason is max_tokens."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("get_weather", {"city": "Paris"}, text="Hi"))
    reply_json = message(fake, body(max_tokens=2))
    assert reply_json["content"] == [{"type": "text", "text": "Hi"}]
    assert reply_json["stop_reason"] == "max_tokens"


def test_prewarm_returns_no_content() -> None:
    """max_tokens 0 answers empty content, stop_reason max_tokens, 0 output tokens."""
    reply_json = message(FakeMessagesAPI(), body(max_tokens=0))
    assert reply_json["content"] == []
    assert reply_json["stop_reason"] == "max_tokens"
    assert reply_json["usage"]["output_tokens"] == 0


def test_stop_sequence_cuts_before_it() -> None:
    """The earliest stop sequence cuts the text before it and is reported."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("alpha END beta STOP"), reply.text("END at once"))
    reply_json = message(fake, body(stop_sequences=["STOP", "END"]))
    assert reply_json["content"] == [{"type": "text", "text": "alpha "}]
    assert (reply_json["stop_reason"], reply_json["stop_sequence"]) == (
        "stop_sequence",
        "END",
    )
    at_once = message(fake, body(stop_sequences=["END"]))
    assert at_once["content"] == []
    assert at_once["stop_sequence"] == "END"


def test_stop_sequence_drops_a_later_tool_call() -> None:
    """A stop sequence in the text before a tool call ends the reply there."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("get_weather", {}, text="Let me END check"))
    reply_json = message(fake, body(stop_sequences=["END"]))
    assert [b["type"] for b in reply_json["content"]] == ["text"]
    assert reply_json["stop_reason"] == "stop_sequence"


def test_context_window_stops_generation() -> None:
    """Output past the context window stops with model_context_window_exceeded."""
    from conversa.testing import ModelRules

    fake = FakeMessagesAPI(models={"claude-tiny": ModelRules(context_window=10)})
    fake.script(reply.text("one two three four five six seven"))
    reply_json = message(fake, body(user("hi"), model="claude-tiny", max_tokens=100))
    assert reply_json["stop_reason"] == "model_context_window_exceeded"
    assert reply_json["content"] == [{"type": "text", "text": "one two three four"}]


def test_thinking_reply_is_signed_when_thinking_is_on() -> None:
    """reply.thinking prepends a signed thinking block that the fake accepts back."""
    fake = FakeMessagesAPI()
    fake.script(reply.thinking("hmm", then=reply.tool_use("get_weather", {})))
    payload = body(max_tokens=2048, thinking=ENABLED, tools=[TOOL])
    first = message(fake, payload)
    thinking, use = first["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"] == "hmm"
    assert thinking["signature"]
    assert first["usage"]["output_tokens_details"] == {"thinking_tokens": 1}
    result = {"type": "tool_result", "tool_use_id": use["id"], "content": "ok"}
    history = [user("Hello there"), assistant(first["content"]), user([result])]
    assert post(fake, {**payload, "messages": history}).status_code == 200


def test_thinking_reply_without_thinking_is_just_the_rest() -> None:
    """With thinking off, reply.thinking gives only the *then* reply."""
    fake = FakeMessagesAPI()
    fake.script(reply.thinking("hmm", then=reply.refusal()))
    reply_json = message(fake, body())
    assert reply_json["content"] == []
    assert reply_json["stop_reason"] == "refusal"


def test_omitted_thinking_keeps_only_the_signature() -> None:
    """display omitted (and the Claude 5 default) empties the thinking text."""
    fake = FakeMessagesAPI()
    thinking = {"type": "enabled", "budget_tokens": 1024, "display": "omitted"}
    fake.script(reply.thinking("secret", then=reply.text("ok")))
    block = message(fake, body(max_tokens=2048, thinking=thinking))["content"][0]
    assert block["thinking"] == ""
    assert block["signature"]
    default = message(fake, body(model="claude-opus-5"))["content"][0]
    assert default["type"] == "thinking"
    assert default["thinking"] == ""


def test_default_reply_thinks_when_thinking_is_on() -> None:
    """With thinking on, the default reply starts with a signed thinking block."""
    content = message(FakeMessagesAPI(), body(max_tokens=2048, thinking=ENABLED))[
        "content"
    ]
    assert [b["type"] for b in content] == ["thinking", "text"]
    assert content[0]["thinking"] == "(fake thinking #1)"


def test_cut_thinking_is_signed_as_cut() -> None:
    """Thinking cut by max_tokens carries a signature of the cut text."""
    fake = FakeMessagesAPI()
    fake.script(reply.thinking("a b c d e f", then=reply.text("done")))
    payload = body(model="claude-test-1", max_tokens=3, thinking={"type": "adaptive"})
    first = message(fake, payload)
    assert first["content"][0]["thinking"] == "a b c"
    history = [user("Hello there"), assistant(first["content"]), user("more")]
    assert post(fake, {**payload, "messages": history}).status_code == 200


def test_pause_turn_reply() -> None:
    """reply.pause_turn leaves a server_tool_use block with stop_reason pause_turn."""
    fake = FakeMessagesAPI()
    fake.script(reply.pause_turn("news", text="Searching."))
    reply_json = message(fake, body())
    _text, use = reply_json["content"]
    assert use["type"] == "server_tool_use"
    assert use["id"].startswith("srvtoolu_")
    assert use["input"] == {"query": "news"}
    assert reply_json["stop_reason"] == "pause_turn"
    history = [user("Hello there"), assistant(reply_json["content"])]
    assert post(fake, body(*history, model="claude-opus-4-6")).status_code == 200


def test_raw_reply_is_returned_byte_for_byte() -> None:
    """reply.raw returns unknown block kinds and given fields unchanged."""
    fake = FakeMessagesAPI()
    blocks = [{"type": "compaction", "content": "summary", "zeta": 1, "alpha": [2]}]
    fake.script(
        reply.raw({"content": blocks, "stop_reason": "pause_turn", "extra": True})
    )
    response = post(fake, body())
    raw = response.json()
    assert json.dumps(raw["content"]) == json.dumps(blocks)
    assert raw["stop_reason"] == "pause_turn"
    assert raw["extra"] is True
    assert raw["usage"]["output_tokens"] >= 1
    assert response.content.count(b'"content":"summary","zeta":1,"alpha":[2]') == 1


def test_raw_reply_keeps_given_usage() -> None:
    """A usage object given to reply.raw replaces the fake's."""
    fake = FakeMessagesAPI()
    usage = {"input_tokens": 1, "output_tokens": 2}
    fake.script(reply.raw({"content": [], "usage": usage}))
    assert message(fake, body())["usage"] == usage


def test_raw_reply_needs_content_and_object_usage() -> None:
    """reply.raw refuses a message without content, or with a usage that is not an object."""
    with pytest.raises(ValueError, match="content"):
        reply.raw({"stop_reason": "end_turn"})
    with pytest.raises(TypeError, match="usage"):
        reply.raw({"content": [], "usage": None})
