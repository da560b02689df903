"""Streaming: SSE events that fold (MESSAGES_API.md §5) into the non-streamed reply."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message

from conversa.testing import FakeMessagesAPI, Reply, reply
from tests.sdk_check import check_message
from tests.testing.cases import CITATION, ENABLED, TOOL
from tests.testing.support import HEADERS, body, fold, parse_sse, post

pytestmark = pytest.mark.anyio

RAW_BLOCKS = [
    {"text": "cited", "type": "text", "citations": [CITATION, CITATION]},
    {"type": "text", "text": "plain", "citations": None},
    {"type": "redacted_thinking", "data": "opaque"},
    {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "q"},
    },
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
]
KINDS: list[Any] = [
    pytest.param(
        reply.text("Hello there, this is a reply of several words."), {}, id="text"
    ),
    pytest.param(reply.text(""), {}, id="empty-text"),
    pytest.param(reply.empty(), {}, id="empty"),
    pytest.param(
        reply.tool_use(
            "get_weather",
            {"city": "Paris", "days": [1, 2.5], "é": None},
            text="Let me see.",
        ),
        {},
        id="tool-use",
    ),
    pytest.param(
        reply.tool_uses([("a", {}), ("b", {"x": {"y": "z"}})]), {}, id="tool-uses"
    ),
    pytest.param(reply.max_tokens("Cut here"), {}, id="max-tokens"),
    pytest.param(
        reply.text("one two three four five six"), {"max_tokens": 4}, id="cut"
    ),
    pytest.param(
        reply.refusal("Partial", category="bio", explanation="No."), {}, id="refusal"
    ),
    pytest.param(
        reply.thinking("Let me think it through.", then=reply.text("ok")),
        {"thinking": ENABLED, "max_tokens": 2048},
        id="thinking",
    ),
    pytest.param(
        reply.thinking("secret", then=reply.text("ok")),
        {"model": "claude-opus-5"},
        id="thinking-omitted",
    ),
    pytest.param(reply.pause_turn("news"), {}, id="pause-turn"),
    pytest.param(
        reply.text("alpha STOP beta"), {"stop_sequences": ["STOP"]}, id="stop-sequence"
    ),
    pytest.param(
        None,
        {"diagnostics": {"previous_message_id": None}},
        id="default-with-diagnostics",
    ),
    pytest.param(
        reply.raw({"content": RAW_BLOCKS, "stop_reason": "end_turn"}), {}, id="raw"
    ),
]


def _pair(
    step: Reply | None, extra: dict[str, Any]
) -> tuple[dict[str, Any], httpx.Response]:
    plain, streamed = FakeMessagesAPI(seed=1), FakeMessagesAPI(seed=1)
    if step is not None:
        plain.script(step)
        streamed.script(step)
    payload = body(tools=[TOOL], **extra)
    expected = post(plain, payload).json()
    response = post(streamed, {**payload, "stream": True})
    return expected, response


@pytest.mark.parametrize(("step", "extra"), KINDS)
def test_stream_folds_to_the_non_streamed_reply(
    step: Reply | None, extra: dict[str, Any]
) -> None:
    """Folding the events gives the very JSON of the non-streamed reply, key order too."""
    expected, response = _pair(step, extra)
    assert response.headers["content-type"].startswith("text/event-stream")
    folded = fold(parse_sse(response.text))
    assert folded == expected
    assert list(folded) == list(expected)
    assert [list(b) for b in folded["content"]] == [
        list(b) for b in expected["content"]
    ]
    check_message(expected)


@pytest.mark.parametrize(("step", "extra"), KINDS)
def test_sdk_accumulation_agrees(step: Reply | None, extra: dict[str, Any]) -> None:
    """The SDK's own accumulate_event rebuilds the same Message from the events."""
    expected, response = _pair(step, extra)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for _, data in parse_sse(response.text):
        if data["type"] != "ping":
            snapshot = accumulate_event(
                event=cast(Any, data), current_snapshot=snapshot, json_bufs=buffers
            )
    assert snapshot is not None
    rebuilt = Message.model_validate(snapshot.to_dict())
    assert rebuilt.model_dump() == Message.model_validate(expected).model_dump()


def test_event_sequence_follows_the_api() -> None:
    """message_start, ping, per-block start/deltas/stop, message_delta, message_stop."""
    _, response = _pair(
        reply.tool_use(
            "get_weather", {"city": "Paris"}, text="One two three four five."
        ),
        {},
    )
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == []
    assert start["stop_reason"] is None
    assert start["usage"]["output_tokens"] == 1
    text_deltas = [
        d["delta"]["text"]
        for n, d in events
        if d.get("delta", {}).get("type") == "text_delta"
    ]
    assert len(text_deltas) > 1
    json_deltas = [
        d["delta"]["partial_json"]
        for n, d in events
        if d.get("delta", {}).get("type") == "input_json_delta"
    ]
    assert json_deltas[0] == ""
    assert len(json_deltas) > 2
    tool_start = [d for n, d in events if n == "content_block_start"][1][
        "content_block"
    ]
    assert tool_start["input"] == {}


def test_thinking_stream_ends_with_a_signature_delta() -> None:
    """Thinking streams thinking_delta pieces then one signature_delta; omitted, only the signature."""
    _, response = _pair(
        reply.thinking("Let me think.", then=reply.text("ok")),
        {"thinking": ENABLED, "max_tokens": 2048},
    )
    kinds = [
        d["delta"]["type"]
        for n, d in parse_sse(response.text)
        if n == "content_block_delta" and d["index"] == 0
    ]
    assert kinds[-1] == "signature_delta"
    assert "thinking_delta" in kinds
    _, omitted = _pair(
        reply.thinking("secret", then=reply.text("ok")), {"model": "claude-opus-5"}
    )
    kinds = [
        d["delta"]["type"]
        for n, d in parse_sse(omitted.text)
        if n == "content_block_delta" and d["index"] == 0
    ]
    assert kinds == ["signature_delta"]


def test_recorded_stream_keeps_message_and_events() -> None:
    """A streamed call records the Message it carried and the events sent."""
    fake = FakeMessagesAPI()
    response = post(fake, body(stream=True))
    recorded = fake.last_request
    assert recorded.stream
    assert recorded.response_json == fold(parse_sse(response.text))
    assert [name for name, _ in recorded.events] == [
        name for name, _ in parse_sse(response.text)
    ]


async def test_async_client_streams() -> None:
    """An AsyncClient on the same fake streams the same events."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("async hello world"))
    async with (
        httpx.AsyncClient(transport=fake, base_url="https://api.anthropic.com") as http,
        http.stream(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        ) as response,
    ):
        lines = [line async for line in response.aiter_lines()]
    folded = fold(parse_sse("\n".join(lines) + "\n"))
    assert folded["content"] == [{"type": "text", "text": "async hello world"}]


# --- raw UTF-8 on the wire, as the API sends it


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"], ids=ascii)
def test_json_is_sent_as_raw_utf8(char: str) -> None:
    """SSE data lines, JSON bodies and batch JSON Lines carry U+2028, U+2029 and
    U+0085 as raw UTF-8, not as \\u escapes, as the real API does: a client that
    splits lines on them (str.splitlines) breaks on the fake too."""
    text, query = f"one{char}two", {"q": f"x{char}y"}
    raw, escaped = char.encode(), json.dumps(char).strip('"').encode()
    assert escaped.startswith(b"\\u")
    fake = FakeMessagesAPI()
    scripted = reply.thinking(
        f"think{char}", then=reply.tool_use("get_weather", query, text=text)
    )
    extra = {"thinking": ENABLED, "max_tokens": 2048, "tools": [TOOL]}
    fake.script(scripted, scripted)
    streamed = post(fake, body(stream=True, **extra))
    plain = post(fake, body(**extra))
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        fake.script(scripted)
        params = body(**extra)
        created = http.post(
            "/v1/messages/batches",
            headers=HEADERS,
            json={"requests": [{"custom_id": "c1", "params": params}]},
        ).json()
        fake.advance_batches()
        results = http.get(
            f"/v1/messages/batches/{created['id']}/results", headers=HEADERS
        )
    for response in (streamed, plain, results):
        assert response.status_code == 200, response.text
        assert raw in response.content
        assert escaped not in response.content
    assert len(results.content.split(b"\n")) == 2  # one line, and the final "\n"
    batched = json.loads(results.content)["result"]["message"]
    for message in (plain.json(), fold(parse_sse(streamed.text)), batched):
        blocks = message["content"]
        assert (blocks[0]["thinking"], blocks[1]["text"], blocks[2]["input"]) == (
            f"think{char}",
            text,
            query,
        )
