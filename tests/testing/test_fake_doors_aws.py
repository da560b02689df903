"""The fake as Claude Platform on AWS and as Bedrock's Messages endpoint, driven by the SDK."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from anthropic import AnthropicAWS, AsyncAnthropicAWS
from anthropic.lib.bedrock import AnthropicBedrockMantle

from conversa.testing import FakeDoor, FakeMessagesAPI, fault, reply
from tests.sdk_check import check_message
from tests.testing.doors import MESSAGES, Bridge, aws_kwargs, flip_last_byte, replay

MODEL = "claude-sonnet-4-5"
WRONG_SECRET = "not-the-secret"  # noqa: S105 (a test value)


@pytest.fixture(name="fake")
def _fake() -> FakeMessagesAPI:
    return FakeMessagesAPI()


@pytest.fixture(name="door")
def _door(fake: FakeMessagesAPI) -> FakeDoor:
    return fake.aws(region="eu-west-1", workspace_id="wrkspc_01test")


def _sigv4_client(bridge: Bridge, **extra: object) -> AnthropicAWS:
    door = bridge.door
    assert door.workspace_id is not None
    return AnthropicAWS(
        workspace_id=door.workspace_id,
        http_client=bridge.client(),
        max_retries=0,
        **(aws_kwargs(door) | extra),
    )


def test_door_exposes_its_url_and_test_credentials(door: FakeDoor) -> None:
    """The door names its base URL and the fixed credentials it accepts, hiding secrets in repr."""
    assert door.kind == "aws"
    assert door.base_url == "https://aws-external-anthropic.eu-west-1.api.aws"
    assert door.aws_access_key == "AKIDEXAMPLE"
    assert door.aws_secret_key
    assert door.aws_session_token
    assert door.api_key
    assert door.aws_secret_key not in repr(door)
    assert door.api_key not in repr(door)


def test_sdk_sigv4_calls_are_served(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """Create, stream, count_tokens and batches signed by the SDK are accepted."""
    fake.script(reply.text("Hi there."), reply.text("Hi there."))
    client = _sigv4_client(Bridge(door))
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    check_message(message.model_dump(mode="json"))
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].to_dict() == message.content[0].to_dict()
    count = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert count.input_tokens == fake.count_tokens({"messages": MESSAGES})
    params = {"model": MODEL, "max_tokens": 10, "messages": MESSAGES}
    batch = client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params}]
    )
    fake.advance_batches()
    results = list(client.messages.batches.results(batch.id))
    assert [r.custom_id for r in results] == ["a"]
    assert {r.status_code for r in fake.requests} == {200}
    signed = fake.requests[0].headers["authorization"]
    assert "/eu-west-1/aws-external-anthropic/aws4_request" in signed
    assert "anthropic-workspace-id" in signed


def test_async_sdk_calls_are_served(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """The async SDK client, through the door's async entry point, is served too."""
    import anyio

    async def run() -> str:
        assert door.workspace_id is not None
        client = AsyncAnthropicAWS(
            workspace_id=door.workspace_id,
            http_client=Bridge(door).async_client(),
            max_retries=0,
            **aws_kwargs(door),
        )
        message = await client.messages.create(
            model=MODEL, max_tokens=50, messages=MESSAGES
        )
        return message.stop_reason or ""

    assert anyio.run(run) == "end_turn"
    assert fake.last_request.status_code == 200


def test_one_byte_of_body_breaks_the_signature(door: FakeDoor) -> None:
    """Replaying the SDK's signed request with one body byte changed is refused."""
    bridge = Bridge(door)
    _sigv4_client(bridge).messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    sent = bridge.sent[-1]
    assert replay(door, sent).status_code == 200
    refused = replay(door, sent, content=flip_last_byte(sent.content))
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in refused.json()["message"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("anthropic-version", "2023-06-01"),
        ("anthropic-workspace-id", "wrkspc_01tesu"),
        ("x-amz-date", "20260101T000000Z"),
        ("content-type", "application/jsoo"),
    ],
)
def test_a_changed_signed_header_breaks_the_signature(
    door: FakeDoor, header: str, value: str
) -> None:
    """Changing any signed header after signing is refused."""
    bridge = Bridge(door)
    _sigv4_client(bridge).messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    sent = bridge.sent[-1]
    assert sent.headers[header] != value
    refused = replay(door, sent, headers={header: value})
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] in (
        "InvalidSignatureException",
        "IncompleteSignatureException",
    )


def test_an_unsigned_header_may_be_added(door: FakeDoor) -> None:
    """A header outside SignedHeaders does not touch the signature (SigV4's rule)."""
    bridge = Bridge(door)
    _sigv4_client(bridge).messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert replay(door, bridge.sent[-1], headers={"user-agent": "x"}).status_code == 200


def test_missing_session_token_is_refused(door: FakeDoor) -> None:
    """The door's credentials carry a session token: a request without it is refused."""
    bridge = Bridge(door)
    client = _sigv4_client(bridge, aws_session_token=None)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert caught.value.response.headers["x-amzn-errortype"] == (
        "IncompleteSignatureException"
    )


def test_other_region_or_secret_is_refused(fake: FakeMessagesAPI) -> None:
    """A signature for another region, or with another secret, is refused."""
    door = fake.aws(region="us-west-2")
    other = fake.aws(region="us-east-1")
    signed_elsewhere = Bridge(other)
    _sigv4_client(signed_elsewhere).messages.create(
        model=MODEL, max_tokens=5, messages=MESSAGES
    )
    moved = signed_elsewhere.sent[-1]
    url = moved.url.copy_with(host="aws-external-anthropic.us-west-2.api.aws")
    wrong_region = httpx.Request(
        "POST", url, headers=moved.headers, content=moved.content
    )
    answer = door.handle_request(wrong_region)
    assert answer.status_code == 403
    assert "us-west-2" in answer.read().decode()
    bad_secret = _sigv4_client(Bridge(door), aws_secret_key=WRONG_SECRET)
    with pytest.raises(anthropic.PermissionDeniedError):
        bad_secret.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)


def test_missing_workspace_header_is_refused(
    fake: FakeMessagesAPI, door: FakeDoor
) -> None:
    """A request without anthropic-workspace-id gets a 400 naming the header."""
    bridge = Bridge(door)
    _sigv4_client(bridge).messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    refused = replay(door, bridge.sent[-1], drop=("anthropic-workspace-id",))
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "anthropic-workspace-id: header is required"
    )
    assert fake.last_request.status_code == 400


def test_another_workspace_is_refused(door: FakeDoor) -> None:
    """A correctly signed request for another workspace is a permission error."""
    client = AnthropicAWS(
        workspace_id="wrkspc_other",
        http_client=Bridge(door).client(),
        max_retries=0,
        **aws_kwargs(door),
    )
    with pytest.raises(anthropic.PermissionDeniedError, match="wrkspc_other"):
        client.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)


@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
def test_api_key_is_accepted_in_either_header(door: FakeDoor, header: str) -> None:
    """The workspace API key works as x-api-key (the docs) or as a bearer (the SDK)."""
    assert door.api_key is not None
    value = door.api_key if header == "x-api-key" else f"Bearer {door.api_key}"
    headers = {
        header: value,
        "anthropic-version": "2023-06-01",
        "anthropic-workspace-id": "wrkspc_01test",
    }
    with httpx.Client(transport=door, base_url=door.base_url) as http:
        body = {"model": MODEL, "max_tokens": 5, "messages": MESSAGES}
        assert http.post("/v1/messages", headers=headers, json=body).status_code == 200
        headers[header] = "Bearer nope" if header == "authorization" else "nope"
        refused = http.post("/v1/messages", headers=headers, json=body)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "UnrecognizedClientException"


def test_sdk_api_key_mode_is_served(door: FakeDoor) -> None:
    """AnthropicAWS(api_key=...) sends no SigV4 and is accepted."""
    client = AnthropicAWS(
        api_key=door.api_key,
        aws_region=door.region,
        workspace_id="wrkspc_01test",
        http_client=Bridge(door).client(),
        max_retries=0,
    )
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert message.stop_reason == "end_turn"


def test_no_credentials_is_refused(door: FakeDoor) -> None:
    """A request with neither SigV4 nor a key gets AWS's missing-token error."""
    headers = {
        "anthropic-version": "2023-06-01",
        "anthropic-workspace-id": "wrkspc_01test",
    }
    with httpx.Client(transport=door, base_url=door.base_url) as http:
        body = {"model": MODEL, "max_tokens": 5, "messages": MESSAGES}
        refused = http.post("/v1/messages", headers=headers, json=body)
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_a_host_the_door_does_not_serve_cannot_be_reached(door: FakeDoor) -> None:
    """Another host is a connection error naming the door's base URL."""
    with (
        httpx.Client(transport=door) as http,
        pytest.raises(httpx.ConnectError, match=door.base_url),
    ):
        http.post("https://api.anthropic.com/v1/messages", json={})


def test_rate_limit_fault_is_retried_by_the_sdk(
    fake: FakeMessagesAPI, door: FakeDoor
) -> None:
    """A scripted 429 keeps the API's error shape; the SDK retries and succeeds."""
    fake.script(fault.status(429, retry_after_ms=1))
    assert door.workspace_id is not None
    client = AnthropicAWS(
        workspace_id=door.workspace_id,
        http_client=Bridge(door).client(),
        max_retries=1,
        **aws_kwargs(door),
    )
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    assert message.stop_reason == "end_turn"
    first, second = fake.requests
    assert first.status_code == 429
    assert first.response_json["error"]["type"] == "rate_limit_error"
    assert second.status_code == 200


def test_bedrock_messages_endpoint(fake: FakeMessagesAPI) -> None:
    """Bedrock's Messages endpoint: SigV4 bedrock-mantle, SSE, first-party body."""
    door = fake.bedrock(region="us-east-1", api="messages")
    assert door.base_url == "https://bedrock-mantle.us-east-1.api.aws/anthropic"
    client = AnthropicBedrockMantle(
        http_client=Bridge(door).client(),
        max_retries=0,
        **aws_kwargs(door),
    )
    model = "anthropic.claude-opus-4-8"
    fake.script(reply.text("Hi there."), reply.text("Hi there."))
    message = client.messages.create(model=model, max_tokens=50, messages=MESSAGES)
    with client.messages.stream(
        model=model, max_tokens=50, messages=MESSAGES
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].to_dict() == message.content[0].to_dict()
    assert client.messages.count_tokens(model=model, messages=MESSAGES).input_tokens
    assert fake.last_request.path == "/anthropic/v1/messages/count_tokens"
    assert (
        "/us-east-1/bedrock-mantle/aws4_request"
        in fake.last_request.headers["authorization"]
    )


def test_bedrock_messages_endpoint_refuses_betas_and_batches(
    fake: FakeMessagesAPI,
) -> None:
    """Bedrock's Messages endpoint refuses the anthropic-beta header and has no batches."""
    door = fake.bedrock(api="messages")
    assert door.api_key is not None
    headers = {"x-api-key": door.api_key, "anthropic-version": "2023-06-01"}
    body = {"model": "anthropic.claude-opus-4-8", "max_tokens": 5, "messages": MESSAGES}
    with httpx.Client(transport=door, base_url=door.base_url) as http:
        beta = http.post(
            "/v1/messages",
            headers={**headers, "anthropic-beta": "context-1m-2025-08-07"},
            json=body,
        )
        batches = http.get("/v1/messages/batches", headers=headers)
    assert beta.status_code == 400
    assert "anthropic-beta" in beta.json()["error"]["message"]
    assert batches.status_code == 404
    assert batches.json()["error"]["type"] == "not_found_error"
