"""The fake as Vertex AI and as Claude on Google Cloud, driven by the SDK."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest
from anthropic import AnthropicGoogleCloud, AnthropicVertex, AsyncAnthropicVertex

from conversa.testing import FakeDoor, FakeMessagesAPI, fault, reply
from tests.testing.doors import MESSAGES, Bridge

MODEL = "claude-sonnet-4-5@20250929"
WRONG_TOKEN = "ya29.other"  # noqa: S105 (a test value)


@pytest.fixture(name="fake")
def _fake() -> FakeMessagesAPI:
    return FakeMessagesAPI()


@pytest.fixture(name="vertex")
def _vertex(fake: FakeMessagesAPI) -> FakeDoor:
    return fake.vertex(project_id="my-project", region="us-east5")


def _sdk(
    door: FakeDoor, *, token: str | None = None, retries: int = 0
) -> AnthropicVertex:
    return AnthropicVertex(
        region=door.region,
        project_id=door.project_id,
        access_token=token or door.access_token,
        http_client=Bridge(door).client(),
        max_retries=retries,
    )


def _post(
    door: FakeDoor, path: str, body: dict[str, Any], token: str | None = None
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token or door.access_token}"}
    with httpx.Client(transport=door, base_url=door.base_url) as http:
        response = http.post(path, headers=headers, json=body)
        response.read()
        return response


def _predict(door: FakeDoor, verb: str = "rawPredict", model: str = MODEL) -> str:
    return f"/projects/{door.project_id}/locations/{door.region}/publishers/anthropic/models/{model}:{verb}"


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 50,
        "messages": MESSAGES,
        **extra,
    }


@pytest.mark.parametrize(
    ("region", "base"),
    [
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1"),
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/v1"),
    ],
)
def test_vertex_base_url_per_region(
    fake: FakeMessagesAPI, region: str, base: str
) -> None:
    """The door's base URL follows Vertex's regional, global and multi-region hosts."""
    door = fake.vertex(region=region)
    assert door.base_url == base
    assert (
        _sdk(door)
        .messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
        .content
    )


def test_sdk_vertex_calls_are_served(fake: FakeMessagesAPI, vertex: FakeDoor) -> None:
    """rawPredict, streamRawPredict and count-tokens:rawPredict from the SDK are served."""
    fake.script(reply.text("Hi there."), reply.text("Hi there."))
    client = _sdk(vertex)
    message = client.messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
    sent = fake.last_request
    assert sent.path.endswith(f"/models/{MODEL}:rawPredict")
    assert "model" not in sent.body
    assert "anthropic_version" in sent.body
    assert message.model == MODEL
    with client.messages.stream(
        model=MODEL, max_tokens=50, messages=MESSAGES
    ) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].to_dict() == message.content[0].to_dict()
    assert fake.last_request.path.endswith(":streamRawPredict")
    assert fake.last_request.body["stream"] is True
    count = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert count.input_tokens == fake.count_tokens({"messages": MESSAGES})
    assert fake.last_request.path.endswith("/models/count-tokens:rawPredict")


def test_async_sdk_vertex_call(fake: FakeMessagesAPI, vertex: FakeDoor) -> None:
    """The async SDK client is served through the door's async entry point."""
    import anyio

    async def run() -> str:
        client = AsyncAnthropicVertex(
            region=vertex.region,
            project_id=vertex.project_id,
            access_token=vertex.access_token,
            http_client=Bridge(vertex).async_client(),
            max_retries=0,
        )
        message = await client.messages.create(
            model=MODEL, max_tokens=50, messages=MESSAGES
        )
        return message.stop_reason or ""

    assert anyio.run(run) == "end_turn"


def test_vertex_version_is_accepted(vertex: FakeDoor) -> None:
    """anthropic_version vertex-2023-10-16 in the body is Vertex's own version."""
    assert _post(vertex, _predict(vertex), _body()).status_code == 200


def test_wrong_token_is_googles_401(fake: FakeMessagesAPI, vertex: FakeDoor) -> None:
    """A wrong or missing bearer token is Google's UNAUTHENTICATED error."""
    with pytest.raises(anthropic.AuthenticationError) as caught:
        _sdk(vertex, token=WRONG_TOKEN).messages.create(
            model=MODEL, max_tokens=5, messages=MESSAGES
        )
    error = caught.value.response.json()["error"]
    assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    with httpx.Client(transport=vertex, base_url=vertex.base_url) as http:
        assert http.post(_predict(vertex), json=_body()).status_code == 401
    assert fake.last_request.status_code == 401


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"model": "claude-sonnet-4-5"}, "model: Extra inputs are not permitted"),
        ({"anthropic_version": "2099-01-01"}, "anthropic_version: invalid version"),
        ({"stream": True}, "stream:"),
    ],
)
def test_first_party_body_shapes_are_refused(
    vertex: FakeDoor, extra: dict[str, Any], text: str
) -> None:
    """model in the body, an unknown version, or stream on rawPredict are 400s."""
    refused = _post(vertex, _predict(vertex), _body(**extra))
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert text in refused.json()["error"]["message"]
    body = _body()
    del body["anthropic_version"]
    missing = _post(vertex, _predict(vertex), body)
    assert missing.json()["error"]["message"] == "anthropic_version: Field required"


def test_other_project_batches_and_unknown_paths_are_404(vertex: FakeDoor) -> None:
    """Another project, Anthropic's batch paths and unknown verbs are Google's 404."""
    other = _predict(vertex).replace("/my-project/", "/other-project/")
    for path in (other, "/v1/messages/batches", _predict(vertex, "predict")):
        refused = _post(vertex, path, _body())
        assert refused.status_code == 404
        assert refused.json()["error"]["status"] == "NOT_FOUND"


def test_rate_limit_is_resource_exhausted_and_retried(
    fake: FakeMessagesAPI, vertex: FakeDoor
) -> None:
    """A scripted 429 is Google's RESOURCE_EXHAUSTED; the SDK retries and succeeds."""
    fake.script(fault.status(429, retry_after_ms=1))
    refused = _post(vertex, _predict(vertex), _body())
    assert refused.status_code == 429
    assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    fake.script(fault.status(429, retry_after_ms=1))
    assert (
        _sdk(vertex, retries=1)
        .messages.create(model=MODEL, max_tokens=50, messages=MESSAGES)
        .content
    )
    assert [r.status_code for r in fake.requests][-2:] == [429, 200]


def test_vertex_model_errors_keep_the_apis_shape(
    fake: FakeMessagesAPI, vertex: FakeDoor
) -> None:
    """An overloaded model answers in the API's own error shape through Vertex."""
    fake.script(fault.status(529))
    refused = _post(vertex, _predict(vertex), _body())
    assert refused.status_code == 529
    assert refused.json()["error"]["type"] == "overloaded_error"


@pytest.fixture(name="cloud")
def _cloud(fake: FakeMessagesAPI) -> FakeDoor:
    return fake.google_cloud(
        project_id="my-project", workspace_id="wrkspc_01g", location="global"
    )


def _cloud_sdk(door: FakeDoor, token: str | None = None) -> AnthropicGoogleCloud:
    return AnthropicGoogleCloud(
        project=door.project_id,
        location=door.region,
        workspace_id=door.workspace_id,
        token_provider=lambda: token or door.access_token or "",
        http_client=Bridge(door).client(),
        max_retries=0,
    )


def test_google_cloud_serves_messages_and_batches(
    fake: FakeMessagesAPI, cloud: FakeDoor
) -> None:
    """Claude on Google Cloud serves the first-party API, batches included, per workspace."""
    assert cloud.base_url == (
        "https://claude.googleapis.com/v1/projects/my-project/locations/global/"
        "workspaces/wrkspc_01g/invoke"
    )
    client = _cloud_sdk(cloud)
    assert client.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=MESSAGES
    ).content
    params = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": MESSAGES}
    batch = client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params}]
    )
    fake.advance_batches()
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.results_url is not None
    assert ended.results_url.startswith(cloud.base_url + "/v1/messages/batches/")
    assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["a"]
    assert fake.last_request.path.endswith(
        "/invoke/v1/messages/batches/" + batch.id + "/results"
    )


def test_google_cloud_refuses_wrong_token_and_other_workspace(
    fake: FakeMessagesAPI, cloud: FakeDoor
) -> None:
    """A wrong token is Google's 401; another workspace's prefix is Google's 404."""
    with pytest.raises(anthropic.AuthenticationError):
        _cloud_sdk(cloud, token=WRONG_TOKEN).messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=MESSAGES
        )
    other = fake.google_cloud(project_id="my-project", workspace_id="wrkspc_other")
    client = AnthropicGoogleCloud(
        project="my-project",
        location="global",
        workspace_id="wrkspc_other",
        token_provider=lambda: cloud.access_token or "",
        base_url=other.base_url,
        http_client=Bridge(cloud).client(),
        max_retries=0,
    )
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=MESSAGES
        )
    assert fake.last_request.response_json["error"]["status"] == "NOT_FOUND"
