"""The doors' own behaviour: signatures, Bedrock streams and errors, tokens, refusals.

Signatures are checked with botocore's SigV4 on fixed credentials (PLATFORMS.md §8):
the request conversa sent verifies, and a one-byte change of the body or of a
signed header does not. Bedrock streams are hand-built event-stream frames
(`tests.client.frames`), split at every byte boundary.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from google.oauth2.credentials import Credentials as GoogleCredentials

from conversa import (
    AsyncClient,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
    RateLimitError,
    RetryPolicy,
    StreamError,
)
from conversa._client.doors.eventstream import EventStreamDecoder, aws_error_type
from conversa._values.capabilities import capabilities_for, same_model

from . import frames
from .test_doors_sdk import _ENV, MESSAGE

AK, SK, TOKEN = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session-token-xyz",
)
GTOKEN = "ya29.secret-token"
BODY: dict[str, Any] = {
    "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "max_tokens": 512,
    "messages": [{"role": "user", "content": "Hello"}],
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No ambient AWS or Google setting leaks in; no metadata server is asked."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


def _verify(
    request: httpx.Request,
    *,
    body: bytes | None = None,
    change: tuple[str, str] | None = None,
) -> bool:
    """Check *request*'s SigV4 signature with botocore, after an optional change."""
    auth = request.headers["authorization"]
    scope = auth.split("Credential=")[1].split(",")[0].split("/")
    names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    signature = auth.split("Signature=")[1]
    headers = {n: request.headers[n] for n in names}
    if change is not None:
        headers[change[0]] = change[1]
    aws = AWSRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        data=request.content if body is None else body,
    )
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(
        Credentials(AK, SK, request.headers.get("x-amz-security-token")),
        scope[3],
        scope[2],
    )
    return bool(
        signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
        == signature
    )


def _capture(reply: Any = None) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if reply is not None:
            return reply(request)  # type: ignore[no-any-return]
        return httpx.Response(200, json=MESSAGE)

    return seen, httpx.MockTransport(handler)


@pytest.mark.parametrize("door", ["aws", "bedrock", "bedrock-messages"])
def test_a_signature_fails_on_a_one_byte_change(door: str) -> None:
    """The signed request verifies; one byte more in the body or a signed header does not."""
    seen, transport = _capture()
    creds = {
        "aws_access_key": AK,
        "aws_secret_key": SK,
        "aws_session_token": TOKEN,
        "transport": transport,
    }
    if door == "aws":
        client = Client.aws(region="us-west-2", workspace_id="wrkspc_1", **creds)
    else:
        api = "messages" if door == "bedrock-messages" else "invoke"
        client = Client.bedrock(region="us-east-1", api=api, **creds)
    body = {**BODY, "model": "anthropic.claude-opus-4-8"} if door != "bedrock" else BODY
    with client:
        client.create_message(body, betas=() if door == "bedrock-messages" else ["b-1"])
    sent = seen[0]
    assert _verify(sent)
    assert not _verify(sent, body=sent.content + b" ")
    assert not _verify(sent, body=sent.content.replace(b"Hello", b"Hellp"))
    for name in _signed_names(sent):
        if name in ("host", "x-amz-date"):
            continue
        assert not _verify(sent, change=(name, sent.headers[name] + "x")), name
    assert "x-amz-security-token" in _signed_names(sent)
    if door == "aws":
        assert "anthropic-workspace-id" in _signed_names(sent)


def _signed_names(request: httpx.Request) -> list[str]:
    return (
        request.headers["authorization"]
        .split("SignedHeaders=")[1]
        .split(",")[0]
        .split(";")
    )


def test_the_default_chain_signs_with_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no credentials given, botocore's chain reads AWS_ACCESS_KEY_ID and friends."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SK)
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    monkeypatch.setenv("ANTHROPIC_AWS_WORKSPACE_ID", "wrkspc_env")
    seen, transport = _capture()
    with Client.aws(transport=transport) as client:
        client.create_message({**BODY, "model": "claude-opus-4-8"})
    sent = seen[0]
    assert sent.url.host == "aws-external-anthropic.ap-northeast-1.api.aws"
    assert sent.headers["anthropic-workspace-id"] == "wrkspc_env"
    assert "x-amz-security-token" not in sent.headers
    assert _verify(sent)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (
            lambda: Client.aws(workspace_id="w", aws_access_key=AK, aws_secret_key=SK),
            "AWS_REGION",
        ),
        (
            lambda: Client.aws(
                region="us-east-1", aws_access_key=AK, aws_secret_key=SK
            ),
            "ANTHROPIC_AWS_WORKSPACE_ID",
        ),
        (lambda: Client.aws(region="us-east-1", workspace_id="w"), "AWS_ACCESS_KEY_ID"),
        (
            lambda: Client.aws(region="us-east-1", workspace_id="w", aws_access_key=AK),
            "aws_secret_key",
        ),
        (lambda: Client.bedrock(aws_access_key=AK, aws_secret_key=SK), "AWS_REGION"),
        (lambda: Client.bedrock(region="us-east-1"), "AWS_ACCESS_KEY_ID"),
        (lambda: Client.bedrock(region="us-east-1", api="converse"), "api must be"),
        (lambda: Client.vertex(project_id="p", access_token=GTOKEN), "CLOUD_ML_REGION"),
        (
            lambda: Client.vertex(region="us-east5", access_token=GTOKEN),
            "ANTHROPIC_VERTEX_PROJECT_ID",
        ),
        (
            lambda: Client.google_cloud(project_id="p", access_token=GTOKEN),
            "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID",
        ),
        (
            lambda: Client.google_cloud(workspace_id="w", access_token=GTOKEN),
            "ANTHROPIC_GOOGLE_CLOUD_PROJECT",
        ),
    ],
)
def test_what_is_missing_is_named(make: Any, needle: str) -> None:
    """A missing region, workspace, project or credential is an error naming what to set."""
    with pytest.raises(InvalidInputError, match=needle):
        make()


def test_credentials_never_show() -> None:
    """No secret in the repr of a door's client, config or auth."""
    _, transport = _capture()
    clients = [
        Client.aws(
            region="us-east-1",
            workspace_id="w",
            aws_access_key=AK,
            aws_secret_key=SK,
            aws_session_token=TOKEN,
            transport=transport,
        ),
        Client.aws(
            region="us-east-1",
            workspace_id="w",
            api_key="aws-api-key-secret",
            transport=transport,
        ),
        Client.bedrock(
            region="us-east-1", api_key="bedrock-bearer-secret", transport=transport
        ),
        Client.vertex(
            region="us-east5",
            project_id="p",
            access_token=GTOKEN,
            transport=transport,
        ),
    ]
    for client in clients:
        shown = (
            repr(client) + repr(client.config) + repr(getattr(client, "_auth", None))
        )
        for secret in (
            SK,
            TOKEN,
            "aws-api-key-secret",
            "bedrock-bearer-secret",
            "ya29.secret-token",
        ):
            assert secret not in shown
        client.close()


def _bedrock(reply: Any, *, retries: int = 0) -> tuple[list[httpx.Request], Client]:
    seen, transport = _capture(reply)
    client = Client.bedrock(
        region="us-east-1",
        aws_access_key=AK,
        aws_secret_key=SK,
        transport=transport,
        retry=RetryPolicy.no_wait(max_retries=retries),
    )
    return seen, client


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 64, 1000, 100_000])
def test_a_bedrock_stream_split_anywhere_folds_to_the_reply(size: int) -> None:
    """Event-stream frames cut at any byte boundary fold to the non-streamed message."""
    data = frames.stream(frames.message_events(MESSAGE))

    def reply(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_pieces(data, size))

    _, client = _bedrock(reply)
    with client, client.stream_message(BODY) as stream:
        texts = [d.text for d in stream if hasattr(d, "text")]
        assert stream.response().body == MESSAGE
    assert "".join(texts) == "Hi"


def test_the_decoder_gives_the_same_events_for_every_split() -> None:
    """The pure decoder yields the same events whatever the cuts."""
    data = frames.stream(frames.message_events(MESSAGE))
    whole = [(e.event, e.data) for e in EventStreamDecoder().feed(data)]
    for size in range(1, 40):
        decoder = EventStreamDecoder()
        parts = [
            (e.event, e.data)
            for piece in _pieces(data, size)
            for e in decoder.feed(piece)
        ]
        assert parts == whole
    assert whole[0][0] == "message_start"


def test_a_bad_crc_is_a_stream_error() -> None:
    """A frame whose CRC does not match is a StreamError, not garbage folded in."""
    good = frames.stream(frames.message_events(MESSAGE))
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # the last frame's message CRC
    _, client = _bedrock(lambda _: httpx.Response(200, content=bytes(bad)))
    with (
        client,
        pytest.raises(StreamError, match="damaged"),
        client.stream_message(BODY) as stream,
    ):
        stream.response()
    prelude = bytearray(good)
    prelude[9] ^= 0x01  # the first frame's prelude CRC
    with pytest.raises(StreamError):
        list(EventStreamDecoder().feed(bytes(prelude)))


def test_a_throttling_frame_is_retried_before_content() -> None:
    """An exception frame before any content is a transient error: the stream is sent again."""
    calls = iter(
        [
            frames.exception("throttlingException", "slow down"),
            frames.stream(frames.message_events(MESSAGE)),
        ]
    )
    seen, client = _bedrock(
        lambda _: httpx.Response(200, content=next(calls)), retries=1
    )
    with client, client.stream_message(BODY) as stream:
        assert stream.response().body == MESSAGE
    assert len(seen) == 2


def test_an_exception_frame_names_its_type() -> None:
    """A validation exception mid-stream is a StreamError typed invalid_request_error."""
    data = frames.chunk(frames.message_events(MESSAGE)[0]) + frames.exception(
        "validationException", "bad"
    )
    _, client = _bedrock(lambda _: httpx.Response(200, content=data), retries=2)
    with (
        client,
        pytest.raises(StreamError) as info,
        client.stream_message(BODY) as stream,
    ):
        stream.response()
    assert info.value.error_type == "invalid_request_error"


def test_bedrock_http_errors_are_typed_and_retried() -> None:
    """x-amzn-ErrorType names the error; a 429 ThrottlingException is retried like a rate limit."""
    replies = iter(
        [
            httpx.Response(
                429,
                headers={"x-amzn-ErrorType": "ThrottlingException:http://internal"},
                json={"message": "Too many"},
            ),
            httpx.Response(200, json=MESSAGE),
        ]
    )
    seen, client = _bedrock(lambda _: next(replies), retries=1)
    with client:
        assert client.create_message(BODY).body == MESSAGE
    assert len(seen) == 2
    _, client = _bedrock(
        lambda _: httpx.Response(
            429,
            headers={
                "x-amzn-ErrorType": "ThrottlingException",
                "x-amzn-RequestId": "req-aws",
            },
            json={"message": "Too many"},
        )
    )
    with client, pytest.raises(RateLimitError) as info:
        client.create_message(BODY)
    assert info.value.error_type == "rate_limit_error"
    assert info.value.request_id == "req-aws"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ValidationException", "invalid_request_error"),
        ("AccessDeniedException", "permission_error"),
        ("ResourceNotFoundException", "not_found_error"),
        ("ServiceUnavailableException", "overloaded_error"),
        ("InternalServerException", "api_error"),
        ("com.amazon#ModelTimeoutException", "timeout_error"),
        ("SomethingNew", "SomethingNew"),
    ],
)
def test_aws_error_names_map_to_anthropic_types(name: str, kind: str) -> None:
    """Each AWS error name has the Anthropic type of the same meaning."""
    assert aws_error_type(name) == kind


def test_bedrock_count_tokens_uses_its_own_operation() -> None:
    """count_tokens on InvokeModel is Bedrock's CountTokens, its body the InvokeModel body."""

    def reply(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"inputTokens": 42})

    seen, client = _bedrock(reply)
    with client:
        count = client.count_tokens(
            {"model": BODY["model"], "messages": BODY["messages"]}, betas=["b-1"]
        )
    assert count == 42
    sent = seen[0]
    assert (
        sent.url.path
        == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/count-tokens"
    )
    inner = json.loads(
        base64.b64decode(json.loads(sent.content)["input"]["invokeModel"]["body"])
    )
    assert inner == {
        "messages": BODY["messages"],
        "anthropic_version": "bedrock-2023-05-31",
        "anthropic_beta": ["b-1"],
        "max_tokens": 1,
    }
    assert _verify(sent)


@pytest.mark.parametrize("door", ["bedrock", "vertex"])
def test_batches_are_refused_before_sending(door: str) -> None:
    """Bedrock and Vertex have no Message Batches: a clear error, and nothing is sent."""
    seen, transport = _capture()
    if door == "bedrock":
        client = Client.bedrock(
            region="us-east-1",
            aws_access_key=AK,
            aws_secret_key=SK,
            transport=transport,
        )
    else:
        client = Client.vertex(
            region="us-east5", project_id="p", access_token=GTOKEN, transport=transport
        )
    with client, pytest.raises(InvalidInputError, match="no Message Batches"):
        client.request("POST", "/v1/messages/batches?beta=true", json={"requests": []})
    assert seen == []


def test_bedrock_messages_takes_no_betas() -> None:
    """Bedrock's Messages endpoint has no anthropic-beta: betas are refused before sending."""
    seen, transport = _capture()
    client = Client.bedrock(
        region="us-east-1", api="messages", api_key="k", transport=transport
    )
    with client, pytest.raises(InvalidInputError, match="takes no betas"):
        client.create_message(BODY, betas=["b-1"])
    assert seen == []


def test_model_ids_translate_only_where_mapped() -> None:
    """`models=` maps a caller's id to the door's; other ids go as they are."""
    seen, transport = _capture()
    client = Client.bedrock(
        region="us-east-1",
        api_key="k",
        transport=transport,
        models={"claude-sonnet-4-5": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"},
    )
    with client:
        client.create_message({**BODY, "model": "claude-sonnet-4-5"})
        client.create_message({**BODY, "model": "global.anthropic.claude-opus-4-8"})
    assert (
        seen[0].url.path == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke"
    )
    assert seen[1].url.path == "/model/global.anthropic.claude-opus-4-8/invoke"
    assert seen[0].headers["authorization"] == "Bearer k"


class _Refreshing(GoogleCredentials):
    """Google credentials whose refresh mints a token offline, noting the thread."""

    def __init__(self) -> None:
        super().__init__(token=None)
        self.threads: list[int] = []

    def refresh(self, request: Any) -> None:
        self.threads.append(threading.get_ident())
        self.token = f"ya29.minted-{len(self.threads)}"
        self.expiry = dt.datetime.now(dt.timezone.utc).replace(
            tzinfo=None
        ) + dt.timedelta(hours=1)


def test_vertex_refreshes_a_token_when_due() -> None:
    """Credentials without a token are refreshed once, then the token is reused."""
    credentials = _Refreshing()
    seen, transport = _capture()
    with Client.vertex(
        region="us-east5", project_id="p", credentials=credentials, transport=transport
    ) as client:
        client.create_message(BODY)
        client.create_message(BODY)
    assert [r.headers["authorization"] for r in seen] == ["Bearer ya29.minted-1"] * 2
    credentials.expiry = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc).replace(
        tzinfo=None
    )
    with Client.vertex(
        region="us-east5", project_id="p", credentials=credentials, transport=transport
    ) as client:
        client.create_message(BODY)
    assert seen[-1].headers["authorization"] == "Bearer ya29.minted-2"


@pytest.mark.anyio
async def test_async_refresh_runs_off_the_event_loop() -> None:
    """The async twin refreshes in a worker thread, never on the event loop's."""
    credentials = _Refreshing()
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MESSAGE)

    async with AsyncClient.vertex(
        region="us-east5",
        project_id="p",
        credentials=credentials,
        transport=httpx.MockTransport(handler),
    ) as client:
        await client.create_message(BODY)
    assert credentials.threads
    assert credentials.threads[0] != threading.get_ident()
    assert seen[0].headers["authorization"] == "Bearer ya29.minted-1"


@pytest.mark.anyio
async def test_async_bedrock_stream_and_signature() -> None:
    """The async twin signs the same way and decodes the same frames."""
    data = frames.stream(frames.message_events(MESSAGE))
    seen: list[httpx.Request] = []

    async def pieces() -> AsyncIterator[bytes]:
        for piece in _pieces(data, 5):
            yield piece

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=pieces())

    async with (
        AsyncClient.bedrock(
            region="us-east-1",
            aws_access_key=AK,
            aws_secret_key=SK,
            aws_session_token=TOKEN,
            transport=httpx.MockTransport(handler),
        ) as client,
        client.stream_message(BODY) as stream,
    ):
        async for _ in stream:
            pass
        assert stream.response().body == MESSAGE
    assert _verify(seen[0])
    assert seen[0].url.path.endswith("/invoke-with-response-stream")


@pytest.mark.parametrize(
    "spelling",
    [
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5@20250929",
    ],
)
def test_every_spelling_finds_its_capabilities(spelling: str) -> None:
    """Bedrock ids, inference profiles, ARNs and Vertex @dates are the same model."""
    assert capabilities_for(spelling) == capabilities_for("claude-sonnet-4-5")
    assert same_model(spelling, "claude-sonnet-4-5-20250929")


def test_credentials_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, neither a bearer key nor a session token nor a signature is logged."""
    caplog.set_level("DEBUG")
    seen, transport = _capture()
    with Client.bedrock(
        region="us-east-1", api_key="bedrock-bearer-secret", transport=transport
    ) as client:
        client.create_message(BODY)
    with Client.aws(
        region="us-east-1",
        workspace_id="w",
        aws_access_key=AK,
        aws_secret_key=SK,
        aws_session_token=TOKEN,
        transport=transport,
    ) as client:
        client.create_message({**BODY, "model": "claude-opus-4-8"})
    signature = seen[1].headers["authorization"].split("Signature=")[1]
    logged = caplog.text
    assert "POST" in logged
    for secret in ("bedrock-bearer-secret", SK, TOKEN, signature):
        assert secret not in logged


def test_a_retry_sends_a_fresh_token() -> None:
    """A retried call asks for the token again; a caller's own authorization stays."""
    tokens = iter(["ya29.first", "ya29.second"])
    replies = iter([httpx.Response(529, json={}), httpx.Response(200, json=MESSAGE)])
    sent: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["authorization"])  # the request object is reused
        return next(replies)

    _, transport = _capture(reply)
    with Client.vertex(
        region="us-east5",
        project_id="p",
        token_provider=lambda: next(tokens),
        transport=transport,
        retry=RetryPolicy.no_wait(max_retries=1),
    ) as client:
        client.create_message(BODY)
    assert sent == [
        "Bearer ya29.first",
        "Bearer ya29.second",
    ]
    seen, transport = _capture()
    with Client.vertex(
        region="us-east5",
        project_id="p",
        access_token=GTOKEN,
        transport=transport,
        default_headers={"authorization": "Bearer gateway"},
    ) as client:
        client.create_message(BODY)
    assert seen[0].headers["authorization"] == "Bearer gateway"


@pytest.mark.anyio
async def test_async_aws_refresh_runs_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refreshable AWS credentials (an assumed role) refresh in a worker thread."""
    threads: list[int] = []

    def refresh() -> dict[str, str]:
        threads.append(threading.get_ident())
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        return {
            "access_key": AK,
            "secret_key": SK,
            "token": TOKEN,
            "expiry_time": expiry.isoformat(),
        }

    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    credentials = RefreshableCredentials(AK, SK, TOKEN, past, refresh, "test")
    monkeypatch.setattr(
        "conversa._client.doors.setup.aws_credentials", lambda **_: credentials
    )
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=MESSAGE)

    async with AsyncClient.bedrock(
        region="us-east-1", transport=httpx.MockTransport(handler)
    ) as client:
        await client.create_message(BODY)
    assert threads
    assert threads[0] != threading.get_ident()
    assert _verify(seen[0])


def test_a_streamed_bedrock_reply_stores_the_same_turn_as_a_sent_one() -> None:
    """Through a conversation: stream() over 1-byte frames stores what send() stores."""
    data = frames.stream(frames.message_events(MESSAGE))

    def reply(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/invoke-with-response-stream"):
            return httpx.Response(200, content=_pieces(data, 1))
        return httpx.Response(200, json=MESSAGE)

    turns = []
    for streamed in (False, True):
        _, client = _bedrock(reply)
        conv = Conversation.create(MemoryStore(), client=client, model=BODY["model"])
        if streamed:
            with conv.stream("Hello") as stream:
                assert "".join(stream) == "Hi"
            turns.append(stream.turn)
        else:
            turns.append(conv.send("Hello"))
    sent, streamed_turn = turns
    assert streamed_turn.content_json() == sent.content_json()
    assert (
        streamed_turn.usage,
        streamed_turn.stop_reason,
        streamed_turn.message_id,
    ) == (
        sent.usage,
        sent.stop_reason,
        sent.message_id,
    )
