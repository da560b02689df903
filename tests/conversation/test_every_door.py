"""The same scenario on every door, sync and async, against conversa.testing.

Each door is `FakeMessagesAPI` serving as that platform (`FakeDoor`): SigV4 checked
with botocore for the AWS doors, Bedrock's event-stream frames and error names,
Vertex's rawPredict paths and Google bearer tokens. Through each one a conversation
goes several turns, prefills where the model allows it, streams, runs a tool loop,
counts tokens, batches where the door has Message Batches (a clear conversa error
where it has not) and rides out a 429 (Bedrock's ThrottlingException, Google's
RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from attrs import frozen

from conversa import (
    APIStatusError,
    AsyncBatches,
    AsyncClient,
    AsyncConversation,
    Batches,
    CacheConfig,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
    PrefillNotSupportedError,
    RetryPolicy,
    SQLiteStore,
    tool,
)
from conversa._values.capabilities import capabilities_for
from conversa._values.doors import DOORS
from conversa.testing import FakeDoor, FakeMessagesAPI, fault, reply
from tests.conversation.conftest import SyncAsAsync

pytestmark = pytest.mark.anyio


@frozen
class Door:
    """One door of the scenario: its model spelling and the paths it is reached on."""

    name: str
    model: str
    create: str  # the end of a create's path
    stream: str  # the end of a streamed create's path
    count: str  # the end of a count_tokens path


DOOR_LIST = [
    Door(
        "anthropic",
        "claude-sonnet-4-5",
        "/v1/messages",
        "/v1/messages",
        "/count_tokens",
    ),
    Door("aws", "claude-sonnet-4-5", "/v1/messages", "/v1/messages", "/count_tokens"),
    Door(
        "bedrock",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "/invoke",
        "/invoke-with-response-stream",
        "/count-tokens",
    ),
    Door(
        "bedrock-messages",
        "anthropic.claude-opus-4-8",
        "/anthropic/v1/messages",
        "/anthropic/v1/messages",
        "/count_tokens",
    ),
    Door(
        "vertex",
        "claude-sonnet-4-5@20250929",
        ":rawPredict",
        ":streamRawPredict",
        "/count-tokens:rawPredict",
    ),
    Door(
        "google-cloud",
        "claude-sonnet-4-5",
        "/invoke/v1/messages",
        "/invoke/v1/messages",
        "/invoke/v1/messages/count_tokens",
    ),
]


def _fake_door(fake: FakeMessagesAPI, name: str) -> FakeDoor | None:
    if name == "anthropic":
        return None
    if name == "aws":
        return fake.aws(region="eu-west-1", workspace_id="wrkspc_every")
    if name in ("bedrock", "bedrock-messages"):
        api = "messages" if name == "bedrock-messages" else "invoke"
        return fake.bedrock(region="us-east-1", api=api)
    if name == "vertex":
        return fake.vertex(project_id="every-door", region="us-east5")
    return fake.google_cloud(project_id="every-door", workspace_id="wrkspc_every")


def _client(twin: str, fake: FakeMessagesAPI, name: str) -> Any:
    """The twin's client for door *name*, wired to *fake* serving as that platform."""
    policy = RetryPolicy.no_wait(max_retries=2)
    door = _fake_door(fake, name)
    if door is None:
        kind = Client if twin == "sync" else AsyncClient
        return kind(api_key="sk-every-door", transport=fake, retry=policy)
    return (
        door.client(retry=policy) if twin == "sync" else door.async_client(retry=policy)
    )


class Scene:
    """One twin's client through one door, over one fake and one store."""

    def __init__(self, twin: str, door: Door) -> None:
        self.twin = twin
        self.door = door
        self.fake = FakeMessagesAPI()
        self.store = MemoryStore()
        self.client = _client(twin, self.fake, door.name)

    async def create(self, **kwargs: Any) -> Any:
        kwargs.setdefault("cache", CacheConfig(enabled=False))
        kind = Conversation if self.twin == "sync" else AsyncConversation
        made = kind.create(
            self.store, client=self.client, model=self.door.model, **kwargs
        )
        return SyncAsAsync(made) if self.twin == "sync" else await made

    async def stream(self, conv: Any, text: str) -> tuple[str, Any]:
        """Stream a reply to *text*; return the text read and the stored turn."""
        pieces: list[str] = []
        if self.twin == "sync":
            with conv.conv.stream(text) as stream:
                pieces.extend(stream)
        else:
            async with conv.stream(text) as stream:
                pieces.extend([piece async for piece in stream])
        return "".join(pieces), stream.turn

    def batches(self) -> Any:
        if self.twin == "sync":
            return SyncAsAsync(Batches(self.client, self.store))  # type: ignore[arg-type]
        return AsyncBatches(self.client, self.store)

    def paths(self) -> list[str]:
        return [r.path for r in self.fake.requests]

    async def close(self) -> None:
        if self.twin == "sync":
            self.client.close()
        else:
            await self.client.aclose()


@pytest.fixture(name="scene", params=[d.name for d in DOOR_LIST])
async def _scene(
    request: pytest.FixtureRequest, twin: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Scene]:
    """Every door, in each twin; no ambient AWS or Google setting leaks in."""
    for name in ("AWS_PROFILE", "AWS_REGION", "ANTHROPIC_API_KEY", "CLOUD_ML_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    door = next(d for d in DOOR_LIST if d.name == request.param)
    scene = Scene(twin, door)
    yield scene
    await scene.close()


CITIES: list[str] = []


@tool
def weather(city: str) -> str:
    """Tell the weather in a city.

    Args:
        city: the city.
    """
    CITIES.append(city)
    return f"rain in {city}"


async def test_turns_go_on_through_the_door(scene: Scene) -> None:
    """Several turns: each replays the last, on the door's own path and body shape."""
    scene.fake.script(reply.text("One."), reply.text("Two."))
    conv = await scene.create()
    assert (await conv.send("first")).text == "One."
    assert (await conv.send("second")).text == "Two."
    assert [t.role for t in await conv.turns()] == ["user", "assistant"] * 2
    first, last = scene.fake.requests
    assert last.path.endswith(scene.door.create)
    assert last.status_code == 200
    assert len(last.body["messages"]) == len(first.body["messages"]) + 2
    # The model travels in the path on InvokeModel and rawPredict, else in the body.
    in_path = scene.door.name in ("bedrock", "vertex")
    assert ("model" in last.body) is not in_path
    assert (await conv.record()).model == scene.door.model


async def test_prefill_where_the_model_allows_it(scene: Scene) -> None:
    """A prefill goes out as the last assistant message; a model without it refuses first."""
    conv = await scene.create()
    if not capabilities_for(scene.door.model).prefill:
        with pytest.raises(PrefillNotSupportedError):
            await conv.send("JSON please", prefill="{")
        assert scene.fake.requests == []
        assert await conv.turns() == ()
        return
    scene.fake.script(reply.text('"ok": true}'))
    turn = await conv.send("JSON please", prefill="{")
    assert turn.text == '{"ok": true}'
    assert scene.fake.requests[-1].body["messages"][-1]["role"] == "assistant"
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]


async def test_a_streamed_reply_is_stored_as_a_sent_one(scene: Scene) -> None:
    """Streaming through the door (event-stream frames on Bedrock) stores the reply."""
    scene.fake.script(reply.text("Streamed through the door."))
    conv = await scene.create()
    text, turn = await scene.stream(conv, "stream please")
    assert text == "Streamed through the door."
    assert turn.text == text
    assert turn.usage is not None
    assert turn.stop_reason == "end_turn"
    (sent,) = scene.fake.requests
    assert sent.stream
    assert sent.path.endswith(scene.door.stream)
    assert (await conv.turns())[-1] == turn


async def test_a_tool_loop(scene: Scene) -> None:
    """run() calls the tool the model asks for and sends its result back."""
    CITIES.clear()
    scene.fake.script(reply.tool_use("weather", {"city": "Oslo"}), reply.text("Wet."))
    conv = await scene.create()
    final = await conv.run("weather in Oslo?", tools=[weather])
    assert final.text == "Wet."
    assert CITIES == ["Oslo"]
    roles = [t.role for t in await conv.turns()]
    assert roles == ["user", "assistant", "user", "assistant"]
    last = scene.fake.requests[-1].body
    result = last["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    assert result["content"] == "rain in Oslo"
    assert result["tool_use_id"] == last["messages"][-2]["content"][0]["id"]


async def test_count_tokens_on_the_doors_own_route(scene: Scene) -> None:
    """count_tokens goes to the door's counting route and gives what the fake counted."""
    conv = await scene.create()
    count = await conv.count_tokens("how many tokens is this?")
    (sent,) = scene.fake.requests
    assert sent.path.endswith(scene.door.count)
    assert sent.status_code == 200
    answered = sent.response_json
    assert count == answered.get("input_tokens", answered.get("inputTokens"))
    assert count > 0
    assert await conv.turns() == ()


async def test_batches_where_the_door_has_them(scene: Scene) -> None:
    """A door with Message Batches submits and collects; one without refuses before sending."""
    conv = await scene.create()
    await conv.add("user", "answer later")
    batches = scene.batches()
    if not DOORS[scene.door.name].batches:
        with pytest.raises(InvalidInputError, match="no Message Batches"):
            await batches.submit([conv.id])
        assert scene.fake.requests == []
        assert (await conv.record()).flags.get("batch") is None
        return
    job = await batches.submit([conv.id])
    scene.fake.advance_batches()
    report = await batches.collect(job)
    assert len(report.appended) == 1
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]
    assert any(p.endswith("/v1/messages/batches") for p in scene.paths())


async def test_a_rate_limit_is_retried(scene: Scene) -> None:
    """A 429 (ThrottlingException on Bedrock) is retried and the reply stored once."""
    scene.fake.script(fault.status(429, retry_after_ms=1), reply.text("After."))
    conv = await scene.create()
    assert (await conv.send("busy?")).text == "After."
    throttled, served = scene.fake.requests
    assert (throttled.status_code, served.status_code) == (429, 200)
    if scene.door.name == "bedrock":
        assert throttled.response_headers["x-amzn-errortype"] == "ThrottlingException"
    if scene.door.name == "vertex":
        assert throttled.response_json["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert [t.role for t in await conv.turns()] == ["user", "assistant"]


async def test_one_conversation_moves_through_every_door(twin: str) -> None:
    """The stored turns do not depend on the door: each door replays all before it."""
    fake = FakeMessagesAPI()
    store = MemoryStore()
    kind = Conversation if twin == "sync" else AsyncConversation
    clients = {d.name: _client(twin, fake, d.name) for d in DOOR_LIST}
    first = DOOR_LIST[0]
    made = kind.create(
        store,
        client=clients[first.name],
        model=first.model,
        cache=CacheConfig(enabled=False),
    )
    conv_id = (made if twin == "sync" else await made).id
    for n, door in enumerate(DOOR_LIST):
        loaded = kind.load(store, conv_id, client=clients[door.name])
        conv = SyncAsAsync(loaded) if twin == "sync" else await loaded
        await conv.set_model(door.model)
        fake.script(reply.text(f"Hello from {door.name}."))
        assert (await conv.send(f"Hi, {door.name}?")).text == f"Hello from {door.name}."
        sent = fake.requests[-1]
        assert sent.path.endswith(door.create)
        texts = [m["content"][0]["text"] for m in sent.body["messages"]]
        assert len(texts) == 2 * n + 1
        assert texts[-1] == f"Hi, {door.name}?"
    turns = await conv.turns()
    assert [t.text for t in turns[1::2]] == [f"Hello from {d.name}." for d in DOOR_LIST]
    for client in clients.values():
        closed = client.close() if twin == "sync" else client.aclose()
        if closed is not None:
            await closed


def _secrets(door: FakeDoor) -> list[str]:
    found = (door.aws_secret_key, door.aws_session_token, door.api_key)
    return [s for s in (*found, door.access_token) if s]


@pytest.mark.parametrize("name", [d.name for d in DOOR_LIST[1:]])
def test_no_credential_in_stored_rows(name: str, tmp_path: Path) -> None:
    """A conversation through a door stores no key, token or signature."""
    fake = FakeMessagesAPI()
    door = _fake_door(fake, name)
    assert door is not None
    model = next(d.model for d in DOOR_LIST if d.name == name)
    with SQLiteStore(tmp_path / "c.db") as store, door.client() as client:
        conv = Conversation.create(store, client=client, model=model)
        conv.send("hello")
        with conv.stream("again") as stream:
            assert "".join(stream)
    sent = fake.requests[-1].headers["authorization"]
    shown = [*_secrets(door), sent.rpartition("Signature=")[2], sent.split()[-1]]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"hello" in stored
    for secret in shown:
        assert secret.encode() not in stored


@pytest.mark.parametrize("name", [d.name for d in DOOR_LIST[1:]])
def test_a_refused_credential_is_not_in_the_error(name: str) -> None:
    """A wrong key or token is refused by the door; the error does not show it."""
    fake = FakeMessagesAPI()
    door = _fake_door(fake, name)
    assert door is not None
    wrong = "wrong-secret-4f9a"
    if door.kind in ("vertex", "google-cloud"):
        bad = attrs.evolve(door, access_token=wrong)
    else:
        bad = attrs.evolve(door, aws_secret_key=wrong)
    model = next(d.model for d in DOOR_LIST if d.name == name)
    policy = RetryPolicy.no_wait(max_retries=0)
    with bad.client(retry=policy) as client:
        conv = Conversation.create(MemoryStore(), client=client, model=model)
        with pytest.raises(APIStatusError) as info:
            conv.send("hello")
    sent = fake.requests[-1].headers["authorization"]
    error = info.value
    assert error.status_code in (401, 403)
    shown = f"{error}|{error!r}|{error.body}"
    for secret in (wrong, *_secrets(door), sent.rpartition("Signature=")[2]):
        assert secret not in shown
