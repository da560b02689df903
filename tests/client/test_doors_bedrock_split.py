"""A Bedrock stream cut at arbitrary byte boundaries folds to the non-streamed turn.

The fake serves as Bedrock InvokeModel; a transport in front of it hands the
event-stream bytes to the client in pieces cut where hypothesis chooses (mid-prelude,
mid-header, mid-payload, mid-CRC). The reply has thinking, text with non-ASCII
characters and a tool call whose input streams as JSON pieces. The streamed turn
must be the turn a non-streamed send of the same Message stores.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversa import CacheConfig, Client, Conversation, MemoryStore, RetryPolicy
from conversa.testing import FakeDoor, FakeMessagesAPI, reply

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
REPLY = reply.thinking(
    "Oslo in winter, so: rain or snow. " * 4,
    then=reply.tool_use(
        "weather",
        {"city": "Oslo", "days": [1, 2, 3], "unit": "°C"},
        id="toolu_split",
        text="Checking the forecast ✓ (ünïcode) ",
    ),
)
TOOLS = [
    {
        "name": "weather",
        "description": "The forecast.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


class Recut(httpx.BaseTransport):
    """*door*'s answers, their bodies handed on in pieces cut at *cuts*."""

    def __init__(self, door: FakeDoor, cuts: list[int]) -> None:
        self.door = door
        self.cuts = cuts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.door.handle_request(request)
        data = answer.read()
        headers = [(k, v) for k, v in answer.headers.items() if k != "content-length"]
        return httpx.Response(
            answer.status_code, headers=headers, content=self._pieces(data)
        )

    def _pieces(self, data: bytes) -> Iterator[bytes]:
        marks = sorted({c % len(data) for c in self.cuts} - {0})
        for start, end in zip([0, *marks], [*marks, len(data)], strict=True):
            yield data[start:end]


def _conversation(fake: FakeMessagesAPI, cuts: list[int]) -> Conversation:
    door = fake.bedrock(region="us-east-1")
    client = Client.bedrock(
        region=door.region,
        aws_access_key=door.aws_access_key,
        aws_secret_key=door.aws_secret_key,
        aws_session_token=door.aws_session_token,
        transport=Recut(door, cuts),
        retry=RetryPolicy.no_wait(max_retries=0),
    )
    return Conversation.create(
        MemoryStore(),
        client=client,
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=TOOLS,
        cache=CacheConfig(enabled=False),
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cuts=st.lists(st.integers(min_value=1, max_value=50_000), max_size=40))
def test_a_stream_cut_anywhere_stores_the_non_streamed_turn(cuts: list[int]) -> None:
    """Whatever the cuts, the streamed turn is what send() stores for that Message."""
    fake = FakeMessagesAPI()
    fake.script(REPLY)
    streamed = _conversation(fake, cuts)
    with streamed.stream("Weather in Oslo?") as stream:
        text = "".join(stream)
    turn = stream.turn
    (sent,) = fake.requests
    assert sent.path.endswith("/invoke-with-response-stream")
    message = sent.response_json
    assert message is not None
    # The same Message, sent back whole (no stream) to the same conversation start.
    fake.script(reply.raw(message))
    whole = _conversation(fake, []).send("Weather in Oslo?")
    assert turn.content_json() == whole.content_json()
    assert (turn.message_id, turn.stop_reason, turn.usage, turn.model) == (
        whole.message_id,
        whole.stop_reason,
        whole.usage,
        whole.model,
    )
    assert text == "Checking the forecast ✓ (ünïcode) "
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
