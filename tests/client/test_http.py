"""Client and AsyncClient against conversa.testing's fake: headers, retries, errors, streams."""

from __future__ import annotations

import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from anthropic.types import Message
from httpx_sse import ServerSentEvent
from tenacity import RetryCallState, Retrying

from conversa._client.client import (
    AsyncClient,
    AsyncMessageStream,
    Client,
    MessageStream,
)
from conversa._client.config import ClientConfig
from conversa._client.retry import RetryPolicy, RetryWait
from conversa._client.sse import InputJSONDelta, TextDelta
from conversa._client.wire import (
    StreamReader,
    error_from_response,
    result_from_response,
)
from conversa._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    RequestTooLargeError,
    StreamError,
)
from conversa.testing import FakeMessagesAPI, RecordedRequest, fault, reply

from .conftest import KEY, TOKEN, MakeTwin, Twin, body

pytestmark = pytest.mark.anyio

LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog, then naps in the afternoon sun."
)


def _request_id(recorded: RecordedRequest) -> str:
    """The request id the fake answered *recorded* with."""
    assert recorded.response_headers is not None
    return recorded.response_headers["request-id"]


# --- requests and headers


async def test_create_message_returns_the_reply(
    twin: Twin, fake: FakeMessagesAPI
) -> None:
    """A create returns the decoded body, request id, status, kept headers and one attempt."""
    fake.script(reply.text("Hi there"))
    response = await twin.create_message(body())
    recorded = fake.last_request
    assert response.body == recorded.response_json
    assert response.body["content"] == [{"type": "text", "text": "Hi there"}]
    assert response.status_code == 200
    assert response.attempts == 1
    assert response.request_id == _request_id(recorded)
    assert (response.request_id or "").startswith("req_")
    assert response.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert "content-type" not in response.headers
    Message.model_validate(response.body)


async def test_default_headers_sent(twin: Twin, fake: FakeMessagesAPI) -> None:
    """x-api-key, anthropic-version 2026-10-21, JSON content-type and conversa's user-agent."""
    await twin.create_message(body())
    headers = fake.last_request.headers
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers
    assert headers["anthropic-version"] == "2026-10-21"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("conversa/")
    assert "anthropic-beta" not in headers
    assert fake.last_request.path == "/v1/messages"
    assert fake.last_request.body == body()


def _cookie_setter(seen: list[str | None]) -> httpx.MockTransport:
    """A stand-in API whose replies set a cookie; it records each request's Cookie."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        payload = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body()["model"],
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
        return httpx.Response(
            200, json=payload, headers={"set-cookie": "__cf_bm=abc; Path=/; Secure"}
        )

    return httpx.MockTransport(handle)


async def test_no_cookie_is_kept_or_sent(make_twin: MakeTwin) -> None:
    """conversa sends no cookie back (the API authenticates every call by its
    headers), and the httpx client it makes keeps none: a jar would parse every
    reply's headers for nothing."""
    seen: list[str | None] = []
    twin = make_twin(transport=_cookie_setter(seen))
    await twin.create_message(body())
    await twin.create_message(body())
    assert seen == [None, None]
    assert not twin.client._http.cookies


def test_passed_http_client_keeps_its_jar() -> None:
    """An *http_client* passed in keeps its own jar as it was set up; conversa's
    requests still carry no cookie."""
    seen: list[str | None] = []
    with httpx.Client(transport=_cookie_setter(seen)) as http:
        with Client(api_key=KEY, http_client=http) as client:
            client.create_message(body())
            client.create_message(body())
        assert seen == [None, None]
        assert http.cookies["__cf_bm"] == "abc"


async def test_bearer_token(make_twin: MakeTwin, fake: FakeMessagesAPI) -> None:
    """An auth token goes out as authorization: Bearer, with no x-api-key."""
    await make_twin(auth_token=TOKEN).create_message(body())
    headers = fake.last_request.headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-api-key" not in headers


async def test_api_version_2023(make_twin: MakeTwin, fake: FakeMessagesAPI) -> None:
    """api_version="2023-06-01" is sent as such (and its sampling params are accepted)."""
    await make_twin(api_version="2023-06-01").create_message(body(temperature=0.5))
    assert fake.last_request.headers["anthropic-version"] == "2023-06-01"


async def test_unknown_api_version_refused(make_twin: MakeTwin) -> None:
    """An api_version conversa does not know is refused before any call."""
    with pytest.raises(InvalidInputError, match="2026-10-21"):
        make_twin(api_version="2024-01-01")


async def test_betas_joined_deduplicated_in_order(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """Config betas then call betas, deduplicated in order, comma-joined."""
    twin = make_twin(betas=("context-management-2025-06-27", "compact-2026-01-12"))
    await twin.create_message(
        body(), betas=["compact-2026-01-12", "files-api-2025-04-14"]
    )
    assert fake.last_request.headers["anthropic-beta"] == (
        "context-management-2025-06-27,compact-2026-01-12,files-api-2025-04-14"
    )


async def test_default_and_call_headers(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """default_headers go on every call; per-call headers win over them."""
    twin = make_twin(default_headers={"anthropic-workspace-id": "wrk_1", "x-team": "a"})
    await twin.create_message(body(), headers={"x-team": "b"})
    headers = fake.last_request.headers
    assert headers["anthropic-workspace-id"] == "wrk_1"
    assert headers["x-team"] == "b"


async def test_body_sent_as_given(twin: Twin, fake: FakeMessagesAPI) -> None:
    """The body goes out unchanged, key order included."""
    sent = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "model": "claude-sonnet-4-5",
    }
    await twin.create_message(sent)
    assert list(fake.last_request.body) == ["messages", "max_tokens", "model"]


async def test_stream_true_refused_by_create(twin: Twin, fake: FakeMessagesAPI) -> None:
    """create_message refuses a body asking for a stream, before sending."""
    with pytest.raises(InvalidInputError, match="stream_message"):
        await twin.create_message(body(stream=True))
    assert fake.requests == []


# --- configuration from the environment


async def test_env_credentials_and_base_url(
    make_twin: MakeTwin, fake: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without arguments the key and base URL come from the environment."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example/")
    twin = make_twin(api_key=None)
    assert twin.client.config.base_url == "https://gateway.example"
    await twin.create_message(body())
    assert fake.last_request.headers["x-api-key"] == "env-key"
    assert fake.last_request.url == "https://gateway.example/v1/messages"


async def test_env_token(
    make_twin: MakeTwin, fake: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANTHROPIC_AUTH_TOKEN alone gives a bearer token."""
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "env-token")
    await make_twin(api_key=None).create_message(body())
    assert fake.last_request.headers["authorization"] == "Bearer env-token"


async def test_explicit_arguments_win(
    make_twin: MakeTwin, fake: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Explicit credentials replace the environment's as a pair; base_url wins too."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example")
    twin = make_twin(
        api_key=None, auth_token=TOKEN, base_url="https://api.anthropic.com"
    )
    await twin.create_message(body())
    headers = fake.last_request.headers
    assert "x-api-key" not in headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert fake.last_request.url == "https://api.anthropic.com/v1/messages"


async def test_no_credentials_says_how_to_fix(make_twin: MakeTwin) -> None:
    """No key and no token anywhere: InvalidInputError naming the fixes."""
    with pytest.raises(InvalidInputError, match="ANTHROPIC_API_KEY") as info:
        make_twin(api_key=None)
    assert "api_key=" in str(info.value)


def test_config_values() -> None:
    """The config validates and normalizes what it is given."""
    config = ClientConfig(api_key=KEY, betas="b1", timeout=30)
    assert config.betas == ("b1",)
    assert config.timeout == httpx.Timeout(30)
    assert ClientConfig(api_key=KEY).timeout == httpx.Timeout(600.0, connect=5.0)
    assert ClientConfig(api_key=KEY, betas=[" a ", "b", "a", ""]).betas == ("a", "b")
    with pytest.raises(InvalidInputError, match="base_url"):
        ClientConfig(api_key=KEY, base_url="api.anthropic.com")
    with pytest.raises(InvalidInputError, match="api_key is empty"):
        ClientConfig(api_key="  ")
    for bad in (f"{KEY}\n", f"{KEY} ", f"\u201c{KEY}\u201d"):
        with pytest.raises(InvalidInputError, match="stray newline") as info:
            ClientConfig(auth_token=bad)
        assert KEY not in str(info.value)
    env = {"ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "tok"}
    assert ClientConfig.from_env(environ=env).api_key is None


def test_transport_and_http_client_are_exclusive() -> None:
    """Passing both a transport and an httpx client is refused."""
    fake = FakeMessagesAPI()
    with (
        httpx.Client(transport=fake) as http,
        pytest.raises(InvalidInputError, match="not both"),
    ):
        Client(api_key=KEY, transport=fake, http_client=http)


def test_max_retries_overrides_the_policy() -> None:
    """max_retries= replaces the policy's count and keeps the rest."""
    client = Client(api_key=KEY, retry=RetryPolicy(initial=2.0), max_retries=0)
    assert client.config.retry == RetryPolicy(initial=2.0, max_retries=0)
    client.close()


# --- retries


@pytest.mark.parametrize(
    "first",
    [
        fault.status(429, retry_after=1.5),
        fault.status(529),
        fault.status(500),
        fault.status(408),
        fault.status(409),
        fault.timeout(),
        fault.connect_error(),
    ],
    ids=["429", "529", "500", "408", "409", "timeout", "connect"],
)
async def test_transient_failures_are_retried(
    twin: Twin, fake: FakeMessagesAPI, first: Any
) -> None:
    """Rate limits, overloads, 5xx, 408/409, timeouts and connect errors are retried."""
    fake.script(first, reply.text("after all"))
    response = await twin.create_message(body())
    assert response.attempts == 2
    assert response.body["content"][0]["text"] == "after all"
    assert len(fake.requests) == 2
    assert fake.requests[0].body == fake.requests[1].body


async def test_waits_come_from_retry_after_then_backoff(
    make_twin: MakeTwin, fake: FakeMessagesAPI, slept: list[float]
) -> None:
    """retry-after (1.5 s) is waited as given, then the backoff's 1 s; nothing really sleeps."""
    fake.script(fault.status(429, retry_after=1.5), fault.status(529), reply.text("ok"))
    twin = make_twin(retry=RetryPolicy(jitter=0.0))
    response = await twin.create_message(body())
    assert response.attempts == 3
    assert slept == [1.5, 1.0]


class _SlowFirst(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The fake, whose first answer takes *seconds* by the (patched) monotonic clock."""

    def __init__(self, fake: FakeMessagesAPI, ahead: list[float], seconds: float):
        self.fake, self.ahead, self.seconds = fake, ahead, seconds

    def _first(self) -> None:
        if not self.fake.requests:
            self.ahead[0] += self.seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._first()
        return self.fake.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._first()
        return await self.fake.handle_async_request(request)


@pytest.mark.parametrize(("first_took", "attempts"), [(8.0, 1), (6.0, 2)])
async def test_total_delay_counts_the_first_attempt(
    make_twin: MakeTwin,
    fake: FakeMessagesAPI,
    slept: list[float],
    monkeypatch: pytest.MonkeyPatch,
    first_took: float,
    attempts: int,
) -> None:
    """max_total_delay counts from the first attempt's start, though the retry loop
    is built only once it failed: 8 s of first attempt and a retry-after of 3 s pass
    10 s (no retry); 6 s and 3 s do not."""
    real = time.monotonic
    ahead = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: real() + ahead[0])
    fake.script(fault.status(529, retry_after=3), reply.text("ok"))
    twin = make_twin(
        transport=_SlowFirst(fake, ahead, first_took),
        retry=RetryPolicy(max_total_delay=10.0),
    )
    if attempts == 1:
        with pytest.raises(OverloadedError):
            await twin.create_message(body())
        assert slept == []
    else:
        assert (await twin.create_message(body())).attempts == attempts
        assert slept == [3.0]
    assert len(fake.requests) == attempts


def _no_retry_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make building tenacity's loop (either twin's) fail the test."""

    def built(**_: Any) -> None:
        pytest.fail("the retry loop was built")

    monkeypatch.setattr("conversa._client.client.Retrying", built)
    monkeypatch.setattr("conversa._client.async_client.AsyncRetrying", built)


async def test_a_call_that_succeeds_builds_no_retry_loop(
    twin: Twin, fake: FakeMessagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt goes without tenacity's loop (`goes_on`)."""
    _no_retry_loop(monkeypatch)
    assert (await twin.create_message(body())).attempts == 1


async def test_a_first_failure_not_retried_is_raised_as_it_is(
    twin: Twin,
    fake: FakeMessagesAPI,
    slept: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 400 on the first attempt is raised at once, no retry loop built, with
    its request id; nothing is waited."""
    _no_retry_loop(monkeypatch)
    fake.script(fault.status(400))
    with pytest.raises(BadRequestError) as caught:
        await twin.create_message(body())
    assert caught.value.request_id == _request_id(fake.last_request)
    assert slept == []
    assert len(fake.requests) == 1


async def test_retry_after_ms_wins(
    make_twin: MakeTwin, fake: FakeMessagesAPI, slept: list[float]
) -> None:
    """retry-after-ms is preferred to retry-after."""
    fake.script(fault.status(529, retry_after=9, retry_after_ms=250), reply.text("ok"))
    await make_twin(retry=RetryPolicy()).create_message(body())
    assert slept == [0.25]


async def test_retry_after_is_capped(
    make_twin: MakeTwin, fake: FakeMessagesAPI, slept: list[float]
) -> None:
    """A retry-after over max_retry_after is cut to it."""
    fake.script(fault.status(429, retry_after=86400), reply.text("ok"))
    await make_twin(retry=RetryPolicy(max_retry_after=2.0)).create_message(body())
    assert slept == [2.0]


async def test_retry_after_reaches_the_wait(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """The 429's retry-after is on the error, and the default policy's wait honours it."""
    twin = make_twin(max_retries=0)
    fake.script(fault.status(429, retry_after=1.5))
    with pytest.raises(RateLimitError) as info:
        await twin.create_message(body(), headers={"x-case": "429"})
    exc = info.value
    assert exc.retry_after == 1.5
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.set_exception((type(exc), exc, None))
    assert RetryWait(RetryPolicy())(state) == 1.5


async def test_retries_run_out(twin: Twin, fake: FakeMessagesAPI) -> None:
    """After max_retries the last error is raised: three attempts by default."""
    fake.script(
        fault.status(529), fault.status(529), fault.status(529), reply.text("late")
    )
    with pytest.raises(OverloadedError) as info:
        await twin.create_message(body())
    assert info.value.status_code == 529
    assert len(fake.requests) == 3
    assert len(fake.pending) == 1


async def test_max_retries_zero(make_twin: MakeTwin, fake: FakeMessagesAPI) -> None:
    """max_retries=0 makes one attempt; the error carries the API's retry-after."""
    fake.script(fault.status(429, retry_after=1.5))
    with pytest.raises(RateLimitError) as info:
        await make_twin(max_retries=0).create_message(body())
    assert info.value.retry_after == 1.5
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, BadRequestError, "invalid_request_error"),
        (401, AuthenticationError, "authentication_error"),
        (404, NotFoundError, "not_found_error"),
    ],
)
async def test_client_errors_are_not_retried(
    twin: Twin,
    fake: FakeMessagesAPI,
    status: int,
    error_class: type[APIStatusError],
    error_type: str,
) -> None:
    """400, 401 and 404 raise at once, typed, with status, type, message, request id and body."""
    fake.script(fault.status(status), reply.text("unused"))
    with pytest.raises(error_class) as info:
        await twin.create_message(body())
    exc = info.value
    recorded = fake.last_request
    assert len(fake.requests) == 1
    assert exc.status_code == status
    assert exc.error_type == error_type
    assert exc.error_message == recorded.response_json["error"]["message"]
    assert exc.request_id == recorded.response_json["request_id"]
    assert exc.body == recorded.response_json
    assert exc.retry_after is None
    assert exc.request_id is not None
    assert exc.request_id in str(exc)


async def test_validation_error_from_the_fake(
    twin: Twin, fake: FakeMessagesAPI
) -> None:
    """A request the API rejects raises BadRequestError with the API's text."""
    with pytest.raises(BadRequestError, match="temperature"):
        await twin.create_message(body(temperature=0.5))
    assert len(fake.requests) == 1


async def test_should_retry_false_overrides(twin: Twin, fake: FakeMessagesAPI) -> None:
    """x-should-retry: false stops a retry the status would allow."""
    fake.script(fault.status(529, should_retry=False), reply.text("unused"))
    with pytest.raises(OverloadedError) as info:
        await twin.create_message(body())
    assert info.value.should_retry is False
    assert len(fake.requests) == 1


async def test_should_retry_true_overrides(twin: Twin, fake: FakeMessagesAPI) -> None:
    """x-should-retry: true retries even a 400."""
    fake.script(fault.status(400, should_retry=True), reply.text("ok"))
    response = await twin.create_message(body())
    assert response.attempts == 2


async def test_timeout_and_connect_errors_are_typed(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """Timeouts raise APITimeoutError, connect failures APIConnectionError, from the httpx error."""
    twin = make_twin(max_retries=0)
    fake.script(fault.timeout(), fault.connect_error())
    with pytest.raises(APITimeoutError) as timeout:
        await twin.create_message(body())
    assert isinstance(timeout.value.__cause__, httpx.ReadTimeout)
    with pytest.raises(APIConnectionError) as connect:
        await twin.create_message(body())
    assert not isinstance(connect.value, APITimeoutError)
    assert isinstance(connect.value.__cause__, httpx.ConnectError)


async def test_body_cut_mid_way_is_retried(twin: Twin, fake: FakeMessagesAPI) -> None:
    """A non-streamed body cut off by the peer is a connection error, so it is retried."""
    fake.script(fault.break_stream(), reply.text("whole"))
    response = await twin.create_message(body())
    assert response.attempts == 2


async def test_retries_are_logged(
    twin: Twin, fake: FakeMessagesAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry logs a WARNING; each response its request id and rate limits at DEBUG."""
    fake.script(fault.status(529), reply.text("ok"))
    with caplog.at_level(logging.DEBUG, logger="conversa"):
        response = await twin.create_message(body())
    conversa = [r for r in caplog.records if r.name == "conversa"]
    warnings = [r.getMessage() for r in conversa if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "attempt 1 of 3" in warnings[0]
    assert "OverloadedError" in warnings[0]
    debug = "\n".join(r.getMessage() for r in conversa if r.levelno == logging.DEBUG)
    assert f"request id {response.request_id}" in debug
    assert "anthropic-ratelimit-requests-remaining" in debug


# --- count_tokens and the generic request


async def test_count_tokens(twin: Twin, fake: FakeMessagesAPI) -> None:
    """count_tokens posts to /v1/messages/count_tokens and returns input_tokens."""
    sent = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
    }
    count = await twin.count_tokens(sent)
    assert count == FakeMessagesAPI.count_tokens(sent)
    assert fake.last_request.path == "/v1/messages/count_tokens"
    assert fake.last_request.body == sent


async def test_count_tokens_errors_are_typed(make_twin: MakeTwin) -> None:
    """A count_tokens the API refuses raises the typed error, once (413 is not retried)."""
    fake = FakeMessagesAPI(max_request_bytes=10)
    with pytest.raises(RequestTooLargeError):
        await make_twin(transport=fake).count_tokens(body())
    assert len(fake.requests) == 1


async def test_generic_request_unknown_path(twin: Twin, fake: FakeMessagesAPI) -> None:
    """_request reaches any path: the fake's 404 becomes NotFoundError, not retried."""

    async def get_models() -> Any:
        request = twin.client.request("GET", "/v1/models", params={"limit": 5})
        return await request if inspect.isawaitable(request) else request

    with pytest.raises(NotFoundError):
        await get_models()
    assert fake.last_request.method == "GET"
    assert fake.last_request.url.endswith("/v1/models?limit=5")
    assert "content-type" not in fake.last_request.headers


# --- streaming


async def test_stream_text_arrives_in_pieces(twin: Twin, fake: FakeMessagesAPI) -> None:
    """Text comes as several deltas that join to the reply; the body sent has stream: true."""
    fake.script(reply.text(LONG_TEXT))
    sent = body()
    deltas: list[Any] = []
    response = await twin.stream(sent, deltas)
    assert len(deltas) > 3
    assert all(isinstance(d, TextDelta) and d.index == 0 for d in deltas)
    assert "".join(d.text for d in deltas) == LONG_TEXT
    assert fake.last_request.body == {**sent, "stream": True}
    assert "stream" not in sent
    assert response.attempts == 1
    assert response.request_id == _request_id(fake.last_request)


@pytest.mark.parametrize(
    "scripted",
    [
        reply.text(LONG_TEXT),
        reply.tool_use(
            "get_weather", {"city": "Paris", "days": [1, 2]}, text="Checking."
        ),
    ],
    ids=["text", "tool_use"],
)
async def test_streamed_message_equals_unstreamed(
    make_twin: MakeTwin, scripted: Any
) -> None:
    """The folded stream is exactly the body a non-streamed call returns for the same reply."""
    plain, streamed = FakeMessagesAPI(seed=7), FakeMessagesAPI(seed=7)
    plain.script(scripted)
    streamed.script(scripted)
    unstreamed = await make_twin(transport=plain).create_message(body())
    deltas: list[Any] = []
    folded = await make_twin(transport=streamed).stream(body(), deltas)
    assert folded.body == unstreamed.body
    assert json.dumps(folded.body) == json.dumps(unstreamed.body)
    assert folded.body == streamed.last_request.response_json
    Message.model_validate(folded.body)
    if folded.body["stop_reason"] == "tool_use":
        pieces = [d.partial_json for d in deltas if isinstance(d, InputJSONDelta)]
        assert json.loads("".join(pieces)) == {"city": "Paris", "days": [1, 2]}


async def test_stream_open_is_retried(twin: Twin, fake: FakeMessagesAPI) -> None:
    """Error statuses and connection errors before the 200 follow the retry policy."""
    fake.script(fault.status(529), fault.connect_error(), reply.text("streamed"))
    response = await twin.stream(body(), [])
    assert response.attempts == 3
    assert response.body["content"][0]["text"] == "streamed"
    assert len(fake.requests) == 3


async def test_stream_open_errors_are_typed(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """A stream whose request is rejected raises the typed status error at once."""
    fake.script(fault.status(401))
    with pytest.raises(AuthenticationError):
        await make_twin().stream(body(), [])
    assert len(fake.requests) == 1


async def test_broken_stream_after_content_is_not_retried(
    twin: Twin, fake: FakeMessagesAPI
) -> None:
    """Once content reached the caller, a broken connection raises StreamError(partial=True)."""
    fake.script(
        fault.break_stream(after_events=5, reply=reply.text(LONG_TEXT)), reply.text("x")
    )
    deltas: list[Any] = []
    with pytest.raises(StreamError) as info:
        await twin.stream(body(), deltas)
    assert info.value.partial is True
    assert info.value.error_type is None
    assert info.value.request_id == _request_id(fake.last_request)
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    assert deltas
    assert len(fake.requests) == 1


@pytest.mark.parametrize("after_events", [0, 1, 3])
async def test_broken_stream_before_content_is_retried(
    twin: Twin, fake: FakeMessagesAPI, after_events: int
) -> None:
    """A stream that breaks before any content is sent again, invisibly."""
    fake.script(fault.break_stream(after_events=after_events), reply.text("second try"))
    deltas: list[Any] = []
    response = await twin.stream(body(), deltas)
    assert response.attempts == 2
    assert "".join(d.text for d in deltas) == "second try"
    assert len(fake.requests) == 2


async def test_error_event_after_content(twin: Twin, fake: FakeMessagesAPI) -> None:
    """An error event after content raises StreamError with its type; no retry."""
    fake.script(fault.stream_error("overloaded_error", after_events=4), reply.text("x"))
    deltas: list[Any] = []
    with pytest.raises(StreamError) as info:
        await twin.stream(body(), deltas)
    assert info.value.error_type == "overloaded_error"
    assert info.value.partial is True
    assert "Overloaded" in str(info.value)
    assert len(deltas) == 1
    assert len(fake.requests) == 1


async def test_transient_error_event_before_content_is_retried(
    twin: Twin, fake: FakeMessagesAPI
) -> None:
    """An overloaded error event before any content is retried like a 529."""
    fake.script(
        fault.stream_error("overloaded_error", after_events=3), reply.text("ok")
    )
    response = await twin.stream(body(), [])
    assert response.attempts == 2


async def test_other_error_event_before_content_is_raised(
    twin: Twin, fake: FakeMessagesAPI
) -> None:
    """A non-transient error event is raised even before content, unretried."""
    fake.script(
        fault.stream_error("invalid_request_error", after_events=1), reply.text("x")
    )
    with pytest.raises(StreamError) as info:
        await twin.stream(body(), [])
    assert info.value.error_type == "invalid_request_error"
    assert info.value.partial is False
    assert len(fake.requests) == 1


async def test_stream_retries_run_out(twin: Twin, fake: FakeMessagesAPI) -> None:
    """Breaks before content on every attempt: the last StreamError is raised."""
    fake.script(*(fault.break_stream(after_events=1) for _ in range(3)))
    with pytest.raises(StreamError) as info:
        await twin.stream(body(), [])
    assert info.value.partial is False
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", None], ids=str
)
async def test_a_200_that_is_not_an_event_stream(
    make_twin: MakeTwin, content_type: str | None
) -> None:
    """A stream answered without text/event-stream (a gateway that ignored
    "stream": true, say) is a StreamError naming the content type, retried like
    a broken stream before content; nothing is folded from the body."""
    frame = b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        headers = {"request-id": "req_ct"}
        if content_type is not None:
            headers["content-type"] = content_type
        return httpx.Response(200, content=frame, headers=headers)

    twin = make_twin(transport=httpx.MockTransport(handler))
    with pytest.raises(StreamError, match="not an event stream") as info:
        await twin.stream(body(), [])
    assert repr(content_type) in str(info.value)
    assert info.value.partial is False
    assert info.value.request_id == "req_ct"
    assert len(calls) == 3


# --- the streams' own methods, per twin


def test_sync_stream_snapshot_response_and_close(fake: FakeMessagesAPI) -> None:
    """snapshot holds the partial message; response() reads the rest; reading after close fails."""
    fake.script(
        reply.text(LONG_TEXT), reply.text(LONG_TEXT), fault.break_stream(after_events=5)
    )
    with Client(api_key=KEY, transport=fake, retry=RetryPolicy.no_wait()) as client:
        assert client.stream_message(body()).snapshot is None
        with client.stream_message(body()) as stream:
            first = next(stream)
            assert isinstance(first, TextDelta)
            assert stream.snapshot is not None
            assert stream.snapshot["content"][0]["text"] == first.text
            assert stream.response().body["content"][0]["text"] == LONG_TEXT
            assert list(stream) == []
        with client.stream_message(body()) as closed:
            next(closed)
            closed.close()
            with pytest.raises(StreamError, match="closed"):
                next(closed)
        lazy = client.stream_message(body())
        with pytest.raises(StreamError) as info:
            list(lazy)
        assert lazy.snapshot is not None
        assert info.value.partial
        with pytest.raises(StreamError):
            lazy.response()


async def test_async_stream_response_needs_the_end(fake: FakeMessagesAPI) -> None:
    """The async response() is synchronous: before the end it refuses, after it answers."""
    fake.script(reply.text(LONG_TEXT), fault.stream_error("api_error", after_events=4))
    async with AsyncClient(
        api_key=KEY, transport=fake, retry=RetryPolicy.no_wait()
    ) as client:
        async with client.stream_message(body()) as stream:
            with pytest.raises(InvalidInputError, match="end"):
                stream.response()
            assert stream.snapshot is not None
            texts = [d async for d in stream]
            assert stream.response().body["content"][0]["text"] == LONG_TEXT
            assert texts
        broken = client.stream_message(body())
        with pytest.raises(StreamError):
            async for _ in broken:
                pass
        with pytest.raises(StreamError, match="api_error"):
            broken.response()
        with pytest.raises(StreamError, match="api_error"):
            await broken.__anext__()
        await broken.aclose()


async def test_async_stream_closed_early(fake: FakeMessagesAPI) -> None:
    """Reading an async stream after aclose() raises StreamError."""
    fake.script(reply.text(LONG_TEXT))
    async with (
        AsyncClient(api_key=KEY, transport=fake, retry=RetryPolicy.no_wait()) as client,
        client.stream_message(body()) as stream,
    ):
        await stream.__anext__()
        await stream.aclose()
        with pytest.raises(StreamError, match="closed"):
            await stream.__anext__()


async def test_empty_reply_streams_no_deltas(twin: Twin, fake: FakeMessagesAPI) -> None:
    """A reply with no content yields nothing, and response() still has the message."""
    fake.script(reply.empty())
    deltas: list[Any] = []
    response = await twin.stream(body(), deltas)
    assert deltas == []
    assert response.body["content"] == []


# --- clients' lifecycle


def test_borrowed_http_client_is_left_open(fake: FakeMessagesAPI) -> None:
    """close() closes an owned httpx client, never one passed in."""
    with httpx.Client(transport=fake) as http:
        Client(api_key=KEY, http_client=http).close()
        assert not http.is_closed
    config = ClientConfig(api_key=KEY, retry=RetryPolicy.no_wait())
    with Client.from_config(config, transport=fake) as client:
        client.create_message(body())
    assert client._http.is_closed


async def test_borrowed_async_http_client_is_left_open(fake: FakeMessagesAPI) -> None:
    """aclose() closes an owned httpx client, never one passed in."""
    async with httpx.AsyncClient(transport=fake) as http:
        await AsyncClient(api_key=KEY, http_client=http).aclose()
        assert not http.is_closed
    config = ClientConfig(api_key=KEY, retry=RetryPolicy.no_wait())
    async with AsyncClient.from_config(config, transport=fake) as client:
        await client.create_message(body())
    assert client._http.is_closed


def test_twins_have_the_same_methods() -> None:
    """Client/AsyncClient and their streams share method names, but for close/aclose."""

    def names(cls: type) -> set[str]:
        public = {n for n in dir(cls) if not n.startswith("_") or n in {"_request"}}
        return {n.removeprefix("a") if n == "aclose" else n for n in public}

    assert names(Client) == names(AsyncClient)
    assert names(MessageStream) == names(AsyncMessageStream)


# --- secrets


async def test_secrets_never_leak(
    make_twin: MakeTwin, fake: FakeMessagesAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """The key and token appear in no repr, exception or log line, through retries and failures."""
    twin = make_twin(api_key=KEY, auth_token=TOKEN, max_retries=1)
    fake.script(
        fault.status(529),
        fault.status(401),
        fault.connect_error(),
        fault.timeout(),
        fault.break_stream(after_events=6, reply=reply.text(LONG_TEXT)),
    )
    seen: list[str] = [
        repr(twin.client),
        repr(twin.client.config),
        str(twin.client.config),
    ]
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: twin.create_message(body()),
        lambda: twin.create_message(body()),
        lambda: twin.stream(body(), []),
    ]
    with caplog.at_level(logging.DEBUG):
        for call in calls:
            with pytest.raises(APIError) as info:
                await call()
            seen += [str(info.value), repr(info.value), repr(info.value.__cause__)]
    seen += [r.getMessage() for r in caplog.records]
    assert "<redacted>" in "\n".join(seen)
    for text in seen:
        assert KEY not in text
        assert TOKEN not in text
    assert fake.requests[0].headers["x-api-key"] == KEY


async def test_internal_server_error_class(
    make_twin: MakeTwin, fake: FakeMessagesAPI
) -> None:
    """A 503 raises InternalServerError (5xx), an unknown 4xx a plain APIStatusError."""
    fake.script(fault.status(503), fault.status(418, error_type="teapot_error"))
    twin = make_twin(max_retries=0)
    with pytest.raises(InternalServerError):
        await twin.create_message(body())
    with pytest.raises(APIStatusError) as info:
        await twin.create_message(body())
    assert type(info.value) is APIStatusError
    assert info.value.error_type == "teapot_error"


# --- the pure decoding of responses (httpx values, no HTTP)


def _response(status: int, content: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=content, headers=headers)


def test_success_body_must_be_a_json_object() -> None:
    """A 200 whose body is not a JSON object raises APIError with the request id."""
    for content in (b"<html>oops</html>", b"[1, 2]"):
        with pytest.raises(APIError, match="not a JSON object") as info:
            result_from_response(
                _response(200, content, **{"request-id": "req_x"}), attempts=1
            )
        assert info.value.request_id == "req_x"


def test_error_body_that_is_not_json() -> None:
    """A proxy's HTML 502 becomes InternalServerError with the text as body."""
    exc = error_from_response(
        _response(502, b"<html>Bad gateway</html>", **{"request-id": "req_p"})
    )
    assert isinstance(exc, InternalServerError)
    assert exc.body == "<html>Bad gateway</html>"
    assert exc.error_type is None
    assert exc.request_id == "req_p"


def test_error_body_with_odd_shapes() -> None:
    """An error body without an error object, or a JSON non-object, still gives a typed error."""
    exc = error_from_response(
        _response(429, b'{"error": "slow down"}', **{"x-should-retry": "maybe"})
    )
    assert isinstance(exc, RateLimitError)
    assert exc.error_type is None
    assert exc.should_retry is None
    listed = error_from_response(_response(500, b"[1]"))
    assert listed.body == "[1]"


def test_stream_that_ends_early() -> None:
    """A stream ending without message_stop is a StreamError, retryable until content arrived."""
    reader = StreamReader(_response(200, b"", **{"request-id": "req_s"}))
    assert reader.add(ServerSentEvent("ping", '{"type": "ping"}')) is None
    error = reader.ended()
    assert error.partial is False
    assert error.request_id == "req_s"
    assert "message_stop" in str(error)
