"""Scripted faults: HTTP errors, transport errors and broken streams."""

from __future__ import annotations

import httpx
import pytest

from conversa.testing import FakeMessagesAPI, fault, reply
from tests.sdk_check import check_message
from tests.testing.support import HEADERS, body, fold, parse_sse, post, user

pytestmark = pytest.mark.anyio


def _client(fake: FakeMessagesAPI) -> httpx.Client:
    return httpx.Client(transport=fake, base_url="https://api.anthropic.com")


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (
            429,
            "rate_limit_error",
            "Number of requests has exceeded your per-minute rate limit. Please try again later.",
        ),
        (529, "overloaded_error", "Overloaded"),
        (500, "api_error", "Internal server error"),
        (401, "authentication_error", "invalid x-api-key"),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        (418, "api_error", "Internal server error"),
    ],
)
def test_status_fault_returns_the_error_shape(
    status: int, error_type: str, message: str
) -> None:
    """A status fault answers with the API's error body and a request-id header."""
    fake = FakeMessagesAPI()
    fake.script(fault.status(status))
    response = post(fake, body())
    assert response.status_code == status
    payload = response.json()
    assert list(payload) == ["type", "error", "request_id"]
    assert payload["error"] == {"type": error_type, "message": message}
    assert payload["request_id"] == response.headers["request-id"]
    assert payload["request_id"].startswith("req_")


def test_status_fault_headers_and_details() -> None:
    """retry-after, retry-after-ms, x-should-retry, extra headers and error_code are sent."""
    fake = FakeMessagesAPI()
    fake.script(
        fault.status(
            429,
            retry_after=1.5,
            retry_after_ms=1500,
            should_retry=True,
            error_code="ramp_limit_exceeded",
            headers={"x-extra": "1"},
        ),
        fault.status(
            529,
            retry_after=2,
            should_retry=False,
            message="Busy",
            error_type="overloaded_error",
        ),
        fault.status(503, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"),
    )
    first = post(fake, body())
    assert first.headers["retry-after"] == "1.5"
    assert first.headers["retry-after-ms"] == "1500"
    assert first.headers["x-should-retry"] == "true"
    assert first.headers["x-extra"] == "1"
    assert first.json()["error"]["details"] == {"error_code": "ramp_limit_exceeded"}
    second = post(fake, body())
    assert (second.headers["retry-after"], second.headers["x-should-retry"]) == (
        "2",
        "false",
    )
    assert second.json()["error"] == {"type": "overloaded_error", "message": "Busy"}
    assert post(fake, body()).headers["retry-after"] == "Wed, 21 Oct 2026 07:28:00 GMT"


def test_edge_fault_fires_before_validation() -> None:
    """An edge fault answers even an invalid request, and is consumed by it."""
    fake = FakeMessagesAPI()
    fake.script(fault.status(429), reply.text("finally"))
    assert post(fake, body(user(""))).status_code == 429
    assert post(fake, body(user(""))).status_code == 400
    assert post(fake, body()).json()["content"][0]["text"] == "finally"


def test_retry_sequence_is_consumed_in_order() -> None:
    """Faults and replies are served in order, then default replies follow."""
    fake = FakeMessagesAPI()
    fake.script(
        fault.status(429, retry_after=1.5),
        fault.status(529),
        fault.status(500),
        reply.text("finally"),
    )
    codes = [post(fake, body()).status_code for _ in range(5)]
    assert codes == [429, 529, 500, 200, 200]
    assert fake.pending == ()
    assert [r.step is not None for r in fake.requests] == [
        True,
        True,
        True,
        True,
        False,
    ]


def test_timeout_and_connect_error_raise() -> None:
    """fault.timeout raises ReadTimeout, fault.connect_error ConnectError, request attached."""
    fake = FakeMessagesAPI()
    fake.script(fault.timeout(), fault.connect_error())
    with _client(fake) as http:
        with pytest.raises(httpx.ReadTimeout) as timeout:
            http.post("/v1/messages", headers=HEADERS, json=body())
        assert timeout.value.request.url.path == "/v1/messages"
        with pytest.raises(httpx.ConnectError):
            http.post("/v1/messages", headers=HEADERS, json=body())
    assert [r.error for r in fake.requests] == ["ReadTimeout", "ConnectError"]
    assert fake.requests[0].status_code is None
    assert fake.requests[0].response_headers is None


def test_break_stream_raises_after_n_events() -> None:
    """fault.break_stream sends N events, then reading raises RemoteProtocolError."""
    fake = FakeMessagesAPI()
    fake.script(fault.break_stream(after_events=5), reply.text("finally"))
    chunks: list[bytes] = []
    with (
        _client(fake) as http,
        http.stream(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            chunks.extend(response.iter_bytes())
    assert len(parse_sse(b"".join(chunks).decode())) == 5
    recorded = fake.last_request
    assert (recorded.error, recorded.response_json, len(recorded.events)) == (
        "RemoteProtocolError",
        None,
        5,
    )
    assert post(fake, body()).json()["content"][0]["text"] == "finally"


def test_break_stream_carries_its_reply() -> None:
    """The broken stream carries the fault's reply, or else the default reply."""
    fake = FakeMessagesAPI()
    fake.script(
        fault.break_stream(after_events=4, reply=reply.text("partial words here"))
    )
    with (
        _client(fake) as http,
        http.stream(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        ) as response,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        response.read()
    text = next(e for e in fake.last_request.events if e[0] == "content_block_delta")[
        1
    ]["delta"]["text"]
    assert "partial".startswith(text.split()[0])


def test_break_stream_on_a_plain_call_cuts_the_json() -> None:
    """On a non-streamed call, break_stream sends half the JSON, then the read raises."""
    fake = FakeMessagesAPI()
    fake.script(fault.break_stream())
    with _client(fake) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/messages", headers=HEADERS, json=body())
    assert fake.last_request.error == "RemoteProtocolError"


def test_stream_error_sends_an_error_event() -> None:
    """fault.stream_error sends message_start and some content, then event: error."""
    fake = FakeMessagesAPI()
    fake.script(fault.stream_error("overloaded_error"))
    response = post(fake, body(stream=True))
    assert response.status_code == 200
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "error",
    ]
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    with pytest.raises(AssertionError):
        fold(events)


def test_stream_error_on_a_plain_call_is_an_http_error() -> None:
    """On a non-streamed call, stream_error becomes the HTTP error for its type."""
    fake = FakeMessagesAPI()
    fake.script(
        fault.stream_error("overloaded_error"),
        fault.stream_error("api_error", message="Boom"),
    )
    first = post(fake, body())
    assert (first.status_code, first.json()["error"]["type"]) == (
        529,
        "overloaded_error",
    )
    second = post(fake, body())
    assert (second.status_code, second.json()["error"]["message"]) == (500, "Boom")


def test_stream_fault_waits_for_a_valid_request() -> None:
    """A stream fault is not consumed by a request that fails validation."""
    fake = FakeMessagesAPI()
    fake.script(fault.stream_error())
    assert post(fake, body(user(""), stream=True)).status_code == 400
    assert len(fake.pending) == 1


async def test_async_faults() -> None:
    """The async path raises and answers faults like the sync one."""
    fake = FakeMessagesAPI()
    fake.script(fault.timeout(), fault.status(429), fault.break_stream(after_events=2))
    async with httpx.AsyncClient(
        transport=fake, base_url="https://api.anthropic.com"
    ) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/messages", headers=HEADERS, json=body())
        assert (
            await http.post("/v1/messages", headers=HEADERS, json=body())
        ).status_code == 429
        async with http.stream(
            "POST", "/v1/messages", headers=HEADERS, json=body(stream=True)
        ) as response:
            with pytest.raises(httpx.RemoteProtocolError):
                await response.aread()
        ok = await http.post("/v1/messages", headers=HEADERS, json=body())
    check_message(ok.json())
