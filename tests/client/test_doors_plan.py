"""What a door lacks, its limits and its versions are checked at plan time.

A conversation moves between doors; what the new door refuses is refused before
anything is stored or sent (the transport here fails the test if reached). Also:
the 300k output beta (batches only, on the first-party and AWS doors), the
official SDK's long-request rule, and the version table's rule sets.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from conversa import (
    Batches,
    CacheConfig,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
)
from conversa._core.doors import check_max_tokens
from conversa._values.capabilities import capabilities_for
from conversa._values.doors import (
    DOORS,
    EXTENDED_OUTPUT_BETA,
    rule_version,
    wire_version,
)
from conversa.testing import FakeMessagesAPI

from .test_doors_sdk import MESSAGE

GTOKEN = "ya29.t"


def _refuse(_: httpx.Request) -> httpx.Response:
    msg = "nothing may be sent"
    raise AssertionError(msg)


def _client(door: str, handler: Any = _refuse, **kw: Any) -> Client:
    transport = httpx.MockTransport(handler)
    if door == "anthropic":
        return Client(api_key="sk-test", transport=transport, **kw)
    if door == "aws":
        return Client.aws(
            region="us-east-1", workspace_id="w", api_key="k", transport=transport, **kw
        )
    if door in ("bedrock", "bedrock-messages"):
        api = "messages" if door == "bedrock-messages" else "invoke"
        return Client.bedrock(
            region="us-east-1", api=api, api_key="k", transport=transport, **kw
        )
    if door == "vertex":
        return Client.vertex(
            region="us-east5",
            project_id="p",
            access_token=GTOKEN,
            transport=transport,
            **kw,
        )
    return Client.google_cloud(
        project_id="p", workspace_id="w", access_token=GTOKEN, transport=transport, **kw
    )


def _conversation(
    door: str, model: str = "claude-opus-4-8", **params: Any
) -> Conversation:
    return Conversation.create(
        MemoryStore(), client=_client(door), model=model, **params
    )


@pytest.mark.parametrize("door", ["bedrock", "bedrock-messages", "vertex"])
def test_batches_are_refused_at_plan_time(door: str) -> None:
    """A batch through a door without Message Batches is refused before any call."""
    conv = _conversation(door)
    conv.add_turns([("user", "hello")])
    with pytest.raises(InvalidInputError, match="no Message Batches"):
        Batches(conv.client, conv.store).submit([conv.id])


def test_automatic_cache_control_is_refused_on_bedrock() -> None:
    """A top-level cache_control (automatic caching) is refused on Bedrock, and nothing is stored."""
    conv = _conversation("bedrock", extra={"cache_control": {"type": "ephemeral"}})
    with pytest.raises(InvalidInputError, match="top-level cache_control"):
        conv.send("hello")
    assert conv.turns() == ()


def test_diagnostics_only_on_the_first_party_door() -> None:
    """Cache diagnostics are asked for on the first-party door only."""
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=MESSAGE)

    for door in ("anthropic", "aws"):
        conv = Conversation.create(
            MemoryStore(),
            client=_client(door, handler),
            model="claude-opus-4-8",
            cache=CacheConfig(diagnostics=True),
        )
        conv.send("hello")
    assert "diagnostics" in sent[0]
    assert "diagnostics" not in sent[1]
    conv = _conversation("vertex", extra={"diagnostics": {"previous_message_id": None}})
    with pytest.raises(InvalidInputError, match="no cache diagnostics"):
        conv.send("hello")


def test_betas_are_refused_on_bedrocks_messages_endpoint() -> None:
    """Bedrock's Messages endpoint takes no betas: refused at plan time."""
    conv = _conversation("bedrock-messages", betas=["interleaved-thinking-2025-05-14"])
    with pytest.raises(InvalidInputError, match="takes no betas"):
        conv.send("hello")


def _png(size: int) -> str:
    raw = b"\x89PNG\r\n\x1a\n" + b"\0" * size
    return base64.b64encode(raw).decode()


def test_a_conversation_moving_to_a_stricter_door_is_refused_before_sending() -> None:
    """An image the first-party door takes is over Bedrock's limit: refused, not sent."""
    image = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": _png(6 * 1024 * 1024),
        },
    }
    store = MemoryStore()
    conv = Conversation.create(
        store, client=_client("anthropic"), model="claude-opus-4-8"
    )
    conv.add_turns([("user", [image, {"type": "text", "text": "what is it?"}])])
    moved = Conversation.load(store, conv.id, client=_client("bedrock"))
    with pytest.raises(InvalidInputError, match="takes images up to"):
        moved.retry()


def test_the_300k_beta_is_for_batches_only() -> None:
    """With the 300k beta a batch may ask 300,000 tokens; a send is refused naming batches."""
    caps = capabilities_for("claude-opus-4-8")
    common: dict[str, Any] = {
        "model": "claude-opus-4-8",
        "caps": caps,
        "betas": (EXTENDED_OUTPUT_BETA,),
        "timeout_set": False,
    }
    check_max_tokens(
        300_000, door=DOORS["anthropic"], batch=True, stream=False, **common
    )
    check_max_tokens(300_000, door=DOORS["aws"], batch=True, stream=False, **common)
    with pytest.raises(InvalidInputError, match="batches only"):
        check_max_tokens(
            300_000, door=DOORS["anthropic"], batch=False, stream=True, **common
        )
    with pytest.raises(InvalidInputError, match="does not serve"):
        check_max_tokens(
            300_000, door=DOORS["google-cloud"], batch=True, stream=False, **common
        )
    with pytest.raises(InvalidInputError, match="maximum output of 300000"):
        check_max_tokens(
            300_001, door=DOORS["anthropic"], batch=True, stream=False, **common
        )
    haiku = {
        **common,
        "model": "claude-haiku-4-5",
        "caps": capabilities_for("claude-haiku-4-5"),
    }
    with pytest.raises(InvalidInputError, match="maximum output of 64000"):
        check_max_tokens(
            300_000, door=DOORS["anthropic"], batch=True, stream=False, **haiku
        )


def test_a_300k_batch_plans_and_a_300k_send_does_not() -> None:
    """Through a conversation: the batch plans with 300k, the send is refused before sending."""
    batches_sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        batches_sent.append(json.loads(request.content))
        assert request.headers["anthropic-beta"] == EXTENDED_OUTPUT_BETA
        return httpx.Response(
            200,
            json={
                "id": "msgbatch_1",
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {
                    "processing": 1,
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
            },
        )

    store = MemoryStore()
    conv = Conversation.create(
        store,
        client=_client("anthropic", handler),
        model="claude-opus-4-8",
        max_tokens=300_000,
        betas=[EXTENDED_OUTPUT_BETA],
    )
    with (
        pytest.raises(InvalidInputError, match="batches only"),
        conv.stream("write a very long story") as stream,
    ):
        stream.until_done()
    conv.add_turns([("user", "write a very long story")])
    Batches(conv.client, store).submit([conv.id])
    assert batches_sent[0]["requests"][0]["params"]["max_tokens"] == 300_000


def test_the_long_request_rule() -> None:
    """A non-streamed send over ten minutes' worth of tokens needs stream() or a timeout."""
    conv = _conversation("anthropic", max_tokens=21_334)
    with pytest.raises(InvalidInputError, match=r"conv\.stream\(\).*timeout=") as info:
        conv.send("hello")
    assert "ten minutes" in str(info.value)
    assert conv.turns() == ()  # refused before the user turn was stored
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=MESSAGE)

    patient = Conversation.create(
        MemoryStore(),
        client=_client("anthropic", handler, timeout=3600),
        model="claude-opus-4-8",
        max_tokens=21_334,
    )
    patient.send("hello")
    exact = Conversation.create(
        MemoryStore(),
        client=_client("anthropic", handler),
        model="claude-opus-4-8",
        max_tokens=21_333,
    )
    exact.send("hello")
    assert len(sent) == 2


def test_opus_4_keeps_the_sdks_lower_non_streamed_ceiling() -> None:
    """Opus 4 and 4.1 take at most 8,192 tokens without streaming (the SDK's table)."""
    common: dict[str, Any] = {
        "betas": (),
        "door": DOORS["anthropic"],
        "timeout_set": False,
    }
    caps = capabilities_for("claude-opus-4-1")
    with pytest.raises(InvalidInputError, match=r"conv\.stream"):
        check_max_tokens(
            8193,
            model="claude-opus-4-1@20250805",
            caps=caps,
            batch=False,
            stream=False,
            **common,
        )
    check_max_tokens(
        8193, model="claude-opus-4-1", caps=caps, batch=True, stream=False, **common
    )
    check_max_tokens(
        8193, model="claude-opus-4-1", caps=caps, batch=False, stream=True, **common
    )


@pytest.mark.parametrize(
    ("door", "model", "wire", "rules"),
    [
        ("anthropic", "claude-sonnet-4-5", "2026-10-21", "2026-10-21"),
        ("aws", "claude-sonnet-4-5", "2026-10-21", "2026-10-21"),
        (
            "bedrock",
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "bedrock-2023-05-31",
            "2023-06-01",
        ),
        ("bedrock", "global.anthropic.claude-opus-4-8", "2026-10-21", "2026-10-21"),
        ("bedrock", "some-unknown-model", "bedrock-2023-05-31", "2023-06-01"),
        ("bedrock-messages", "anthropic.claude-opus-4-8", "2023-06-01", "2023-06-01"),
        ("vertex", "claude-opus-4-8", "vertex-2023-10-16", "2023-06-01"),
        ("google-cloud", "claude-opus-4-8", "2026-10-21", "2026-10-21"),
    ],
)
def test_the_version_table(door: str, model: str, wire: str, rules: str) -> None:
    """Each door and model family sends one version and is checked by its rules."""
    assert wire_version(door, model, "2026-10-21") == wire
    assert rule_version(door, model, "2026-10-21") == rules


def _long_history(conv: Conversation, exchanges: int, chars: int) -> None:
    turns: list[tuple[str, str]] = []
    for n in range(exchanges):
        turns += [("user", f"question {n}: " + "word " * (chars // 5))]
        turns += [("assistant", f"answer {n}")]
    conv.add_turns([*turns, ("user", "and now?")])


def test_the_window_budget_makes_room_for_a_300k_output() -> None:
    """A 300k batch replays a shorter window: its budget is the window minus 300,000."""
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={"id": f"msgbatch_{len(sent)}", "type": "message_batch"}
            | {"processing_status": "in_progress", "request_counts": {}},
        )

    store = MemoryStore()
    client = _client("anthropic", handler)
    convs = [
        Conversation.create(
            store,
            client=client,
            model="claude-opus-4-8",
            capabilities={"context_window": 400_000},
            max_tokens=max_tokens,
            betas=[EXTENDED_OUTPUT_BETA],
            cache=CacheConfig(enabled=False),
        )
        for max_tokens in (64_000, 300_000)
    ]
    for conv in convs:
        # 30 exchanges of about 5,000 tokens (estimated): ~150,000 in all.
        _long_history(conv, 30, 15_000)
        Batches(client, store).submit([conv.id])
    roomy, tight = (body["requests"][0]["params"] for body in sent)
    assert tight["max_tokens"] == 300_000
    assert len(roomy["messages"]) == 61  # the whole history fits 400k - 64k
    # 400k - 300k - the margin leaves room for fewer than 20 of the exchanges.
    assert len(tight["messages"]) < 40
    assert tight["messages"][-1] == roomy["messages"][-1]


def _image(size: int) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": _png(size)}
    return {"type": "image", "source": source}


def test_a_stricter_doors_request_size_cuts_the_window_or_refuses() -> None:
    """Over Bedrock's 20 MB, older exchanges leave the window; a new turn alone over it is refused."""
    store = MemoryStore()
    conv = Conversation.create(
        store, client=_client("anthropic"), model="claude-sonnet-4-5"
    )
    for n in range(5):  # five exchanges of a 3 MB image each: 20 MB of base64
        conv.add_turns([("user", [_image(3 * 1024 * 1024), f"picture {n}"])])
        conv.add_turns([("assistant", f"seen {n}")])
    first_party = conv.request("which was brightest?")
    assert len(first_party["messages"]) == 11
    moved = Conversation.load(store, conv.id, client=_client("bedrock"))
    body = moved.request("which was brightest?")
    size = len(json.dumps(body).encode())
    assert size <= DOORS["bedrock"].max_request_bytes
    assert 1 < len(body["messages"]) < 11
    assert body["messages"][-1] == first_party["messages"][-1]
    too_big = [_image(4 * 1024 * 1024) for _ in range(5)]  # 5 x 5.3 MB in one turn
    with pytest.raises(InvalidInputError, match="20971520-byte request limit"):
        moved.request([*too_big, "and these?"])


@pytest.mark.parametrize(
    ("door", "model", "allowed"),
    [
        ("anthropic", "claude-sonnet-4-5", False),
        ("vertex", "claude-sonnet-4-5@20250929", True),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("bedrock", "global.anthropic.claude-opus-4-8", False),
    ],
)
def test_the_version_a_door_sends_picks_the_rules(
    door: str, model: str, allowed: bool
) -> None:
    """`temperature` (gone in 2026-10-21) passes where the door's version has 2023-06-01's rules."""
    fake = FakeMessagesAPI()
    if door == "anthropic":
        client = Client(api_key="sk-test", transport=fake)
    else:
        client = getattr(fake, door)().client()
    conv = Conversation.create(
        MemoryStore(), client=client, model=model, temperature=0.5
    )
    if not allowed:
        with pytest.raises(
            InvalidInputError, match="removed in API version 2026-10-21"
        ):
            conv.send("hello")
        assert fake.requests == []
        return
    conv.send("hello")
    (sent,) = fake.requests
    assert sent.status_code == 200
    assert sent.body["temperature"] == 0.5
    assert sent.body["anthropic_version"] in ("vertex-2023-10-16", "bedrock-2023-05-31")


def test_an_image_inside_a_tool_result_is_checked_too() -> None:
    """A 6 MB image returned by a tool is over Vertex's 5 MB: refused, named by its path."""
    store = MemoryStore()
    conv = Conversation.create(
        store, client=_client("anthropic"), model="claude-sonnet-4-5"
    )
    use = {"type": "tool_use", "id": "toolu_1", "name": "snap", "input": {}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [{"type": "text", "text": "here"}, _image(6 * 1024 * 1024)],
    }
    conv.add_turns(
        [("user", "take a picture"), ("assistant", [use]), ("user", [result])]
    )
    assert len(conv.request("and?")["messages"]) == 3
    moved = Conversation.load(store, conv.id, client=_client("vertex"))
    with pytest.raises(InvalidInputError, match=r"messages\.2\.content\.0\.content\.1"):
        moved.request("and?")
