"""The fake as Amazon Bedrock InvokeModel, driven by the SDK and by boto3 itself."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable
from typing import Any, cast

import anthropic
import httpx
import pytest
from anthropic import AnthropicBedrock, AsyncAnthropicBedrock
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from botocore.exceptions import ClientError
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape
from botocore.parsers import EventStreamJSONParser

from conversa.testing import FakeDoor, FakeMessagesAPI, fault, reply
from tests.testing.doors import (
    MESSAGES,
    Bridge,
    aws_kwargs,
    boto_bedrock,
    flip_last_byte,
    replay,
)

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + MODEL


@pytest.fixture(name="fake")
def _fake() -> FakeMessagesAPI:
    return FakeMessagesAPI()


@pytest.fixture(name="door")
def _door(fake: FakeMessagesAPI) -> FakeDoor:
    return fake.bedrock(region="us-east-1")


def _sdk(
    door: FakeDoor, bridge: Bridge | None = None, **extra: Any
) -> AnthropicBedrock:
    http = (bridge or Bridge(door)).client()
    options = {"max_retries": 0, **aws_kwargs(door), **extra}
    return AnthropicBedrock(http_client=http, **options)


def _shape() -> Shape:
    model = Loader().load_service_model("bedrock-runtime", "service-2")
    return ServiceModel(model).shape_for("ResponseStream")


def _decode(pieces: Iterable[bytes]) -> list[dict[str, Any]]:
    """Decode event-stream bytes with botocore's buffer and parser, as the SDK does."""
    buffer, parser, shape, parsed = (
        EventStreamBuffer(),
        EventStreamJSONParser(),
        _shape(),
        [],
    )
    for piece in pieces:
        buffer.add_data(piece)
        parsed += [parser.parse(frame.to_response_dict(), shape) for frame in buffer]
    return parsed


def _events(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(p["chunk"]["bytes"]) for p in parsed if "chunk" in p]


def _fold(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold stream *events* with the SDK's own accumulator; return the Message dumped."""
    message, buffers = None, dict[int, bytes]()
    for event in events:
        if event["type"] != "ping":
            message = accumulate_event(
                event=cast(Any, event), current_snapshot=message, json_bufs=buffers
            )
    assert message is not None
    return Message.model_validate(message.to_dict()).model_dump()


def _dump(message: dict[str, Any]) -> dict[str, Any]:
    return Message.model_validate(message).model_dump()


def _raw(door: FakeDoor, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST *body* to *path* with the door's bearer key, outside any SDK."""
    headers = {"authorization": f"Bearer {door.api_key}"}
    with httpx.Client(transport=door, base_url=door.base_url) as http:
        response = http.post(path, headers=headers, json=body)
        response.read()
        return response


def _invoke_body(**extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": MESSAGES,
        **extra,
    }


def _stream_bytes(door: FakeDoor) -> bytes:
    response = _raw(door, f"/model/{MODEL}/invoke-with-response-stream", _invoke_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    return response.content


def test_sdk_invoke_and_stream(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """The SDK's InvokeModel calls are accepted; its stream folds to the same message."""
    fake.script(reply.text("Hi there."), reply.text("Hi there."))
    client = _sdk(door)
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    sent = fake.last_request
    assert sent.path == f"/model/{MODEL}/invoke"
    assert "model" not in sent.body
    assert "stream" not in sent.body
    assert "anthropic_version" in sent.body
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    with client.messages.stream(model=ARN, max_tokens=50, messages=MESSAGES) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].to_dict() == message.content[0].to_dict()
    assert streamed.model == ARN
    assert "inference-profile%2Fus.anthropic" in fake.last_request.url
    assert fake.last_request.stream
    assert fake.last_request.path.endswith("/invoke-with-response-stream")


def test_sdk_betas_travel_in_the_body(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """Betas reach the fake from the body's anthropic_beta list."""
    client = _sdk(door)
    client.beta.messages.create(
        model=MODEL,
        max_tokens=50,
        messages=MESSAGES,
        betas=["context-management-2025-06-27"],
        context_management={"edits": []},
    )
    assert fake.last_request.body["anthropic_beta"] == ["context-management-2025-06-27"]
    assert fake.last_request.status_code == 200


def test_bearer_key_and_wrong_key(door: FakeDoor) -> None:
    """The door's Bedrock API key is accepted as a bearer; another is refused."""
    assert _raw(door, f"/model/{MODEL}/invoke", _invoke_body()).status_code == 200
    client = AnthropicBedrock(
        api_key="not-the-key",
        aws_region=door.region,
        http_client=Bridge(door).client(),
        max_retries=0,
    )
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        client.messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    assert caught.value.response.headers["x-amzn-errortype"] == (
        "UnrecognizedClientException"
    )


def test_one_byte_of_body_breaks_the_signature(door: FakeDoor) -> None:
    """The SDK's signed InvokeModel request with one body byte changed is refused."""
    bridge = Bridge(door)
    _sdk(door, bridge).messages.create(model=MODEL, max_tokens=5, messages=MESSAGES)
    sent = bridge.sent[-1]
    assert replay(door, sent).status_code == 200
    refused = replay(door, sent, content=flip_last_byte(sent.content))
    assert refused.status_code == 403
    assert refused.headers["x-amzn-errortype"] == "InvalidSignatureException"
    changed = replay(door, sent, headers={"x-amz-security-token": "other"})
    assert changed.status_code == 403


@pytest.mark.parametrize(
    ("extra", "missing", "text"),
    [
        ({"model": MODEL}, None, "extraneous key [model] is not permitted"),
        ({"stream": True}, None, "extraneous key [stream] is not permitted"),
        ({}, "anthropic_version", "required key [anthropic_version] not found"),
        ({"anthropic_version": "2099-01-01"}, None, "anthropic_version"),
        ({"anthropic_beta": "context-1m"}, None, "anthropic_beta"),
    ],
)
def test_first_party_body_shapes_are_refused(
    door: FakeDoor, extra: dict[str, Any], missing: str | None, text: str
) -> None:
    """model, stream, a missing or unknown anthropic_version are Bedrock ValidationExceptions."""
    body = _invoke_body(**extra)
    body.pop(missing or "", None)
    refused = _raw(door, f"/model/{MODEL}/invoke", body)
    assert refused.status_code == 400
    assert refused.headers["x-amzn-errortype"] == "ValidationException"
    assert text in refused.json()["message"]


def test_fake_validation_comes_back_as_a_validation_exception(door: FakeDoor) -> None:
    """A body the API would refuse gets the API's text in Bedrock's shape."""
    body = _invoke_body()
    del body["max_tokens"]
    refused = _raw(door, f"/model/{MODEL}/invoke", body)
    assert refused.status_code == 400
    assert refused.headers["x-amzn-errortype"] == "ValidationException"
    assert refused.json() == {"message": "max_tokens: Field required"}


@pytest.mark.parametrize(
    ("scripted", "status", "name"),
    [
        (fault.status(429), 429, "ThrottlingException"),
        (fault.status(529), 503, "ServiceUnavailableException"),
        (fault.status(500), 500, "InternalServerException"),
        (
            fault.status(429, error_type="ModelNotReadyException"),
            429,
            "ModelNotReadyException",
        ),
        (
            fault.status(424, error_type="ModelErrorException"),
            424,
            "ModelErrorException",
        ),
    ],
)
def test_faults_take_bedrocks_error_shape(
    fake: FakeMessagesAPI, door: FakeDoor, scripted: Any, status: int, name: str
) -> None:
    """Scripted status faults come back with Bedrock's statuses, names and body; boto3 reads them."""
    fake.script(scripted)
    refused = _raw(door, f"/model/{MODEL}/invoke", _invoke_body())
    assert refused.status_code == status
    assert refused.headers["x-amzn-errortype"] == name
    assert set(refused.json()) == {"message"}
    fake.script(scripted)
    with pytest.raises(ClientError) as caught:
        boto_bedrock(door).invoke_model(modelId=MODEL, body=json.dumps(_invoke_body()))
    assert caught.value.response["Error"]["Code"] == name


def test_sdk_retries_throttling(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """A scripted throttle is retried by the SDK (retry-after-ms kept) and the call succeeds."""
    fake.script(fault.status(429, retry_after_ms=1))
    client = _sdk(door, max_retries=1)
    assert client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES).content
    assert [r.status_code for r in fake.requests] == [429, 200]


def test_boto3_invoke_stream_and_count_tokens(
    fake: FakeMessagesAPI, door: FakeDoor
) -> None:
    """boto3's own InvokeModel, InvokeModelWithResponseStream and CountTokens are served."""
    fake.script(reply.text("Hi there."), reply.text("Hi there."))
    client = boto_bedrock(door)
    body = json.dumps(_invoke_body())
    invoked = json.loads(client.invoke_model(modelId=MODEL, body=body)["body"].read())
    streamed = client.invoke_model_with_response_stream(modelId=MODEL, body=body)
    events = [json.loads(e["chunk"]["bytes"]) for e in streamed["body"]]
    folded, expected = _fold(events), _dump(invoked)
    assert folded["content"] == expected["content"]
    assert folded["usage"] == expected["usage"]
    counted = client.count_tokens(
        modelId=MODEL, input={"invokeModel": {"body": body.encode()}}
    )
    assert counted["inputTokens"] == fake.count_tokens({"messages": MESSAGES})
    assert fake.last_request.path == f"/model/{MODEL}/count-tokens"


def test_frames_decode_split_anywhere(door: FakeDoor) -> None:
    """botocore decodes the frames the same when they arrive split at any byte boundaries."""
    data = _stream_bytes(door)
    whole = _decode([data])
    assert _events(whole)[0]["type"] == "message_start"
    assert _events(whole)[-1]["type"] == "message_stop"
    for cut in range(1, 40):  # every split inside the first frame's prelude and headers
        assert _decode([data[:cut], data[cut:]]) == whole
    rng = random.Random(11)
    for _ in range(25):
        cuts = sorted(rng.sample(range(1, len(data)), 12))
        pieces = [
            data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)
        ]
        assert _decode(pieces) == whole
    assert _decode(data[i : i + 1] for i in range(len(data))) == whole


def test_stream_folds_to_the_non_streamed_message() -> None:
    """A split Bedrock stream folds to the message InvokeModel returns for the same reply."""
    script = reply.tool_use("get_weather", {"city": "Paris"}, text="Let me check.")
    twins = FakeMessagesAPI(seed=3), FakeMessagesAPI(seed=3)  # the same ids
    for twin in twins:
        twin.script(script)
    invoked = _raw(twins[0].bedrock(), f"/model/{MODEL}/invoke", _invoke_body())
    data = _stream_bytes(twins[1].bedrock())
    pieces = [data[i : i + 5] for i in range(0, len(data), 5)]
    assert _fold(_events(_decode(pieces))) == _dump(invoked.json())


def test_message_stop_carries_invocation_metrics(door: FakeDoor) -> None:
    """message_stop carries Bedrock's invocation metrics, which the SDK ignores."""
    stop = _events(_decode([_stream_bytes(door)]))[-1]
    metrics = stop["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] > 0
    assert metrics["outputTokenCount"] > 0


@pytest.mark.parametrize("where", ["prelude", "payload"])
def test_a_bad_crc_is_detected(door: FakeDoor, where: str) -> None:
    """A byte changed in a frame's prelude or payload fails botocore's CRC check."""
    data = bytearray(_stream_bytes(door))
    data[5 if where == "prelude" else 40] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        _decode([bytes(data)])


@pytest.mark.parametrize(
    ("error_type", "exception"),
    [
        ("overloaded_error", "serviceUnavailableException"),
        ("rate_limit_error", "throttlingException"),
        ("api_error", "internalServerException"),
        ("billing_error", "internalServerException"),
    ],
)
def test_stream_errors_are_exception_frames(
    fake: FakeMessagesAPI, door: FakeDoor, error_type: str, exception: str
) -> None:
    """A scripted mid-stream error is an exception frame the parser reports as an error."""
    fake.script(fault.stream_error(error_type, message="Too busy."))
    parsed = _decode([_stream_bytes(door)])
    assert len(_events(parsed)) == 4
    assert parsed[-1]["Error"] == {"Code": exception, "Message": "Too busy."}


def test_sdk_stream_surfaces_exception_frames(
    fake: FakeMessagesAPI, door: FakeDoor
) -> None:
    """The SDK turns the door's exception frame into its stream error."""
    fake.script(fault.stream_error("overloaded_error"))
    client = _sdk(door)
    with (
        pytest.raises(anthropic.APIStatusError, match="serviceUnavailableException"),
        client.messages.stream(model=MODEL, max_tokens=50, messages=MESSAGES) as stream,
    ):
        stream.get_final_message()


def test_batches_and_unknown_paths_are_unknown_operations(door: FakeDoor) -> None:
    """Bedrock has no Message Batches: the path is an unknown operation (404)."""
    body = {"requests": []}
    for path in ("/v1/messages/batches", "/v1/messages", f"/model/{MODEL}/converse"):
        refused = _raw(door, path, body)
        assert refused.status_code == 404
        assert refused.headers["x-amzn-errortype"] == "UnknownOperationException"


def test_count_tokens_needs_its_envelope(door: FakeDoor) -> None:
    """CountTokens takes the InvokeModel body base64-encoded in its envelope."""
    inner = base64.b64encode(json.dumps(_invoke_body()).encode()).decode()
    ok = _raw(
        door,
        f"/model/{MODEL}/count-tokens",
        {"input": {"invokeModel": {"body": inner}}},
    )
    assert ok.json() == {
        "inputTokens": FakeMessagesAPI.count_tokens({"messages": MESSAGES})
    }
    refused = _raw(door, f"/model/{MODEL}/count-tokens", _invoke_body())
    assert refused.status_code == 400
    assert refused.headers["x-amzn-errortype"] == "ValidationException"


def test_async_sdk_stream(fake: FakeMessagesAPI, door: FakeDoor) -> None:
    """The async SDK client streams Bedrock frames through the door's async entry point."""
    import anyio

    fake.script(reply.text("Hi there."))

    async def run() -> str:
        client = AsyncAnthropicBedrock(
            http_client=Bridge(door).async_client(),
            max_retries=0,
            **aws_kwargs(door),
        )
        async with client.messages.stream(
            model=MODEL, max_tokens=50, messages=MESSAGES
        ) as stream:
            message = await stream.get_final_message()
        return message.content[0].to_dict()["text"]

    assert anyio.run(run) == "Hi there."
    assert fake.last_request.stream
