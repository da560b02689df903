"""The differential test: conversa's doors send what the official SDK's platform clients send.

The same request goes through `AnthropicAWS`, `AnthropicBedrock`,
`AnthropicBedrockMantle`, `AnthropicVertex` and `AnthropicGoogleCloud` (each over
an ``httpx2.MockTransport``) and through conversa's ``Client.<door>`` (over an
``httpx.MockTransport``), at one frozen time with the same fake credentials. Both
must send the same URL, the same set of signed headers (the SDK's
``x-stainless-*`` aside) with the same values, and the same JSON body, except
where the version table (`conversa._values.doors.VERSIONS`) or a documented
choice differs: Bedrock takes betas in the body only, never in a header.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from anthropic import (
    AnthropicAWS,
    AnthropicBedrock,
    AnthropicBedrockMantle,
    AnthropicGoogleCloud,
    AnthropicVertex,
)
from google.oauth2.credentials import Credentials as GoogleCredentials

from conversa import Client
from conversa._client.doors import aws as aws_module

from . import frames

AK, SK, TOKEN = (
    "AKIDEXAMPLE",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session-token-xyz",
)
GTOKEN = "ya29.a"
NOW = dt.datetime(2026, 12, 4, 12, 0, 0, tzinfo=dt.timezone.utc)
BODY: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 512,
    "messages": [{"role": "user", "content": "Hello"}],
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-8",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
_ENV = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_BEARER_TOKEN_BEDROCK",
    "ANTHROPIC_AWS_API_KEY",
    "ANTHROPIC_AWS_WORKSPACE_ID",
    "ANTHROPIC_AWS_BASE_URL",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
    "CLOUD_ML_REGION",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "ANTHROPIC_VERTEX_BASE_URL",
    "ANTHROPIC_GOOGLE_CLOUD_PROJECT",
    "ANTHROPIC_GOOGLE_CLOUD_LOCATION",
    "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID",
    "GOOGLE_CLOUD_PROJECT",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
)


@pytest.fixture(autouse=True)
def _frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """One signing time for both sides; no ambient AWS or Google setting leaks in."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None)
    )
    monkeypatch.setattr(aws_module, "_utcnow", lambda: NOW)


def _reply(body: dict[str, Any], url: str) -> tuple[int, dict[str, str], bytes]:
    if url.endswith("/invoke-with-response-stream"):
        content = frames.stream(frames.message_events(MESSAGE))
        return 200, {"content-type": "application/vnd.amazon.eventstream"}, content
    if "count" in url:
        return (
            200,
            {"content-type": "application/json"},
            b'{"input_tokens": 7, "inputTokens": 7}',
        )
    if body.get("stream") or "stream" in url.lower():
        events = [
            (
                "message_start",
                {"type": "message_start", "message": {**MESSAGE, "content": []}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        text = "".join(f"event: {k}\ndata: {json.dumps(v)}\n\n" for k, v in events)
        return 200, {"content-type": "text/event-stream"}, text.encode()
    if "batches" in url:
        return (
            200,
            {"content-type": "application/json"},
            b'{"id": "msgbatch_1", "type": "message_batch"}',
        )
    return 200, {"content-type": "application/json"}, json.dumps(MESSAGE).encode()


def _sdk_capture(
    make: Callable[[httpx2.Client], Any], call: Callable[[Any], Any]
) -> Any:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = json.loads(request.content or b"{}")
        status, headers, content = _reply(body, str(request.url))
        return httpx2.Response(status, headers=headers, content=content)

    client = make(httpx2.Client(transport=httpx2.MockTransport(handler)))
    result = call(client)
    if hasattr(result, "__iter__") and not isinstance(result, dict):
        for _ in result:
            pass
    return seen[-1]


def _conversa_capture(
    make: Callable[[httpx.MockTransport], Client], call: Callable[[Client], Any]
) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content or b"{}")
        status, headers, content = _reply(body, str(request.url))
        return httpx.Response(status, headers=headers, content=content)

    with make(httpx.MockTransport(handler)) as client:
        result = call(client)
        if hasattr(result, "response"):
            with result as stream:
                stream.response()
    return seen[-1]


def _signed(headers: Any) -> dict[str, str]:
    """The signed headers, by name, with their values (``x-stainless-*`` aside)."""
    auth = headers.get("authorization", "")
    names = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    return {n: headers[n] for n in names if not n.startswith("x-stainless")}


def _scope(headers: Any) -> str:
    return headers["authorization"].split("Credential=")[1].split(",")[0]


def _same(
    sdk: Any,
    ours: httpx.Request,
    *,
    body: dict[str, Any] | None = None,
    not_in_ours: frozenset[str] = frozenset(),
    header_diffs: dict[str, str] | None = None,
) -> None:
    """Assert one request pair agrees; *body*/*header_diffs* name the documented changes."""
    assert str(ours.url) == str(sdk.url)
    sdk_body = json.loads(sdk.content)
    assert json.loads(ours.content) == {**sdk_body, **(body or {})}
    if "AWS4-HMAC-SHA256" in sdk.headers.get("authorization", ""):
        theirs = {k: v for k, v in _signed(sdk.headers).items() if k not in not_in_ours}
        theirs.update(header_diffs or {})
        mine = _signed(ours.headers)
        theirs["content-length"] = mine["content-length"] = (
            "same"  # bodies compared above
        )
        assert mine == theirs
        assert _scope(ours.headers) == _scope(sdk.headers)
    else:
        for name in (
            "authorization",
            "anthropic-version",
            "anthropic-beta",
            "anthropic-workspace-id",
        ):
            if name in not_in_ours:
                continue
            expected = (header_diffs or {}).get(name, sdk.headers.get(name))
            assert ours.headers.get(name) == expected, name


def _aws_sdk(http: httpx2.Client) -> AnthropicAWS:
    return AnthropicAWS(
        aws_region="us-west-2",
        workspace_id="wrkspc_01",
        aws_access_key=AK,
        aws_secret_key=SK,
        aws_session_token=TOKEN,
        http_client=http,
        max_retries=0,
    )


def _aws_ours(transport: httpx.MockTransport) -> Client:
    return Client.aws(
        region="us-west-2",
        workspace_id="wrkspc_01",
        aws_access_key=AK,
        aws_secret_key=SK,
        aws_session_token=TOKEN,
        transport=transport,
        max_retries=0,
    )


def test_aws_create_matches_the_sdk() -> None:
    """Claude Platform on AWS: a create is the SDK's, URL, signed headers and body."""
    sdk = _sdk_capture(_aws_sdk, lambda c: c.messages.create(**BODY))
    ours = _conversa_capture(_aws_ours, lambda c: c.create_message(BODY))
    _same(sdk, ours)
    assert "x-amz-security-token" in _signed(ours.headers)
    assert "x-amz-content-sha256" not in ours.headers


def test_aws_betas_stream_and_count_match_the_sdk() -> None:
    """Betas in anthropic-beta on the plain path; a stream and count_tokens as the SDK's."""
    sdk = _sdk_capture(
        _aws_sdk, lambda c: c.beta.messages.create(betas=["b-1", "b-2"], **BODY)
    )
    ours = _conversa_capture(
        _aws_ours, lambda c: c.create_message(BODY, betas=["b-1", "b-2"])
    )
    _same(sdk, ours)
    assert ours.url.path == "/v1/messages"
    sdk = _sdk_capture(_aws_sdk, lambda c: c.messages.create(stream=True, **BODY))
    ours = _conversa_capture(_aws_ours, lambda c: c.stream_message(BODY))
    _same(sdk, ours)
    count = {"model": BODY["model"], "messages": BODY["messages"]}
    sdk = _sdk_capture(_aws_sdk, lambda c: c.messages.count_tokens(**count))
    ours = _conversa_capture(_aws_ours, lambda c: c.count_tokens(count))
    _same(sdk, ours)


def test_aws_api_key_matches_the_sdk() -> None:
    """An AWS workspace API key goes as a bearer token, with no SigV4 headers."""

    def sdk_client(http: httpx2.Client) -> AnthropicAWS:
        return AnthropicAWS(
            aws_region="eu-west-1",
            workspace_id="wrkspc_01",
            api_key="aws-key-1",
            http_client=http,
        )

    def our_client(transport: httpx.MockTransport) -> Client:
        return Client.aws(
            region="eu-west-1",
            workspace_id="wrkspc_01",
            api_key="aws-key-1",
            transport=transport,
        )

    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**BODY))
    ours = _conversa_capture(our_client, lambda c: c.create_message(BODY))
    _same(sdk, ours)
    assert ours.headers["authorization"] == "Bearer aws-key-1"
    assert "x-amz-date" not in ours.headers


def _bedrock_sdk(http: httpx2.Client) -> AnthropicBedrock:
    return AnthropicBedrock(
        aws_region="us-east-1",
        aws_access_key=AK,
        aws_secret_key=SK,
        http_client=http,
        max_retries=0,
    )


def _bedrock_ours(transport: httpx.MockTransport) -> Client:
    return Client.bedrock(
        region="us-east-1",
        aws_access_key=AK,
        aws_secret_key=SK,
        transport=transport,
        max_retries=0,
    )


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ("global.anthropic.claude-opus-4-8", "2026-10-21"),
        # The version table: an ARN-versioned model gets bedrock-2023-05-31.
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock-2023-05-31"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6",
            "bedrock-2023-05-31",
        ),
    ],
)
def test_bedrock_invoke_matches_the_sdk(model: str, version: str) -> None:
    """InvokeModel: model in the quoted path, no model or stream in the body, the table's version."""
    body = {**BODY, "model": model}
    sdk = _sdk_capture(_bedrock_sdk, lambda c: c.messages.create(**body))
    ours = _conversa_capture(_bedrock_ours, lambda c: c.create_message(body))
    _same(sdk, ours, body={"anthropic_version": version})
    assert "anthropic-version" not in ours.headers
    sdk = _sdk_capture(_bedrock_sdk, lambda c: c.messages.create(stream=True, **body))
    ours = _conversa_capture(_bedrock_ours, lambda c: c.stream_message(body))
    _same(sdk, ours, body={"anthropic_version": version})
    assert ours.url.path.endswith("/invoke-with-response-stream")


def test_bedrock_betas_go_in_the_body_only() -> None:
    """Bedrock: betas as the body's anthropic_beta list; conversa sends no anthropic-beta header."""
    body = {**BODY, "model": "global.anthropic.claude-opus-4-8"}
    sdk = _sdk_capture(
        _bedrock_sdk, lambda c: c.beta.messages.create(betas=["b-1", "b-2"], **body)
    )
    ours = _conversa_capture(
        _bedrock_ours, lambda c: c.create_message(body, betas=["b-1", "b-2"])
    )
    _same(sdk, ours, not_in_ours=frozenset({"anthropic-beta"}))
    assert json.loads(ours.content)["anthropic_beta"] == ["b-1", "b-2"]
    assert "anthropic-beta" not in ours.headers


def test_bedrock_messages_endpoint_matches_the_sdk() -> None:
    """Bedrock's Messages endpoint: the first-party body under /anthropic, SigV4 bedrock-mantle."""

    def sdk_client(http: httpx2.Client) -> AnthropicBedrockMantle:
        return AnthropicBedrockMantle(
            aws_region="us-east-1",
            aws_access_key=AK,
            aws_secret_key=SK,
            http_client=http,
            max_retries=0,
        )

    def our_client(transport: httpx.MockTransport) -> Client:
        return Client.bedrock(
            region="us-east-1",
            api="messages",
            aws_access_key=AK,
            aws_secret_key=SK,
            transport=transport,
        )

    body = {**BODY, "model": "anthropic.claude-opus-4-8"}
    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**body))
    ours = _conversa_capture(our_client, lambda c: c.create_message(body))
    # The version table: AWS documents 2023-06-01 for this endpoint.
    _same(sdk, ours, header_diffs={"anthropic-version": "2023-06-01"})
    assert "/bedrock-mantle/" in _scope(ours.headers) or _scope(ours.headers).endswith(
        "/us-east-1/bedrock-mantle/aws4_request"
    )


def _vertex_sdk(http: httpx2.Client) -> AnthropicVertex:
    return AnthropicVertex(
        region="us-east5",
        project_id="my-project",
        credentials=GoogleCredentials(token="ya29.fake"),  # noqa: S106 - a fake
        http_client=http,
        max_retries=0,
    )


def _vertex_ours(transport: httpx.MockTransport) -> Client:
    return Client.vertex(
        region="us-east5",
        project_id="my-project",
        credentials=GoogleCredentials(token="ya29.fake"),  # noqa: S106 - a fake
        transport=transport,
    )


def test_vertex_matches_the_sdk() -> None:
    """Vertex: rawPredict/streamRawPredict/count-tokens URLs, model out of the body, the bearer token."""
    body = {**BODY, "model": "claude-sonnet-4-5@20250929"}
    table = {"anthropic_version": "vertex-2023-10-16"}  # the version table's choice
    sdk = _sdk_capture(_vertex_sdk, lambda c: c.messages.create(**body))
    ours = _conversa_capture(_vertex_ours, lambda c: c.create_message(body))
    _same(sdk, ours, body=table)
    assert ours.headers["authorization"] == "Bearer ya29.fake"
    sdk = _sdk_capture(_vertex_sdk, lambda c: c.messages.create(stream=True, **body))
    ours = _conversa_capture(_vertex_ours, lambda c: c.stream_message(body))
    _same(sdk, ours, body=table)
    assert json.loads(ours.content)["stream"] is True
    count = {"model": body["model"], "messages": body["messages"]}
    sdk = _sdk_capture(_vertex_sdk, lambda c: c.messages.count_tokens(**count))
    ours = _conversa_capture(_vertex_ours, lambda c: c.count_tokens(count))
    _same(sdk, ours, body=table)


def test_vertex_global_region_url() -> None:
    """Vertex's global region has its own host, as the SDK builds it."""

    def sdk_client(http: httpx2.Client) -> AnthropicVertex:
        return AnthropicVertex(
            region="global", project_id="p", access_token=GTOKEN, http_client=http
        )

    def our_client(transport: httpx.MockTransport) -> Client:
        return Client.vertex(
            region="global", project_id="p", access_token=GTOKEN, transport=transport
        )

    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**BODY))
    ours = _conversa_capture(our_client, lambda c: c.create_message(BODY))
    _same(sdk, ours, body={"anthropic_version": "vertex-2023-10-16"})


def test_google_cloud_matches_the_sdk() -> None:
    """Claude on Google Cloud: first-party paths under the workspace's invoke base."""

    def sdk_client(http: httpx2.Client) -> AnthropicGoogleCloud:
        return AnthropicGoogleCloud(
            project="my-project",
            workspace_id="wrkspc_g",
            token_provider=lambda: "ya29.g",
            http_client=http,
        )

    def our_client(transport: httpx.MockTransport) -> Client:
        return Client.google_cloud(
            project_id="my-project",
            workspace_id="wrkspc_g",
            token_provider=lambda: "ya29.g",
            transport=transport,
        )

    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**BODY))
    ours = _conversa_capture(our_client, lambda c: c.create_message(BODY))
    _same(sdk, ours)
    assert ours.headers["authorization"] == "Bearer ya29.g"
    batch = {"requests": [{"custom_id": "a", "params": BODY}]}
    sdk = _sdk_capture(sdk_client, lambda c: c.messages.batches.create(**batch))
    ours = _conversa_capture(
        our_client, lambda c: c.request("POST", "/v1/messages/batches", json=batch)
    )
    _same(sdk, ours)


def _iter(x: Any) -> Iterator[Any]:  # pragma: no cover - keeps the helpers typed
    yield from x
