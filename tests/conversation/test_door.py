"""Validation at the door: every entry point refuses what the API would, before writing."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest

from conversa import (
    HistoryRejectedError,
    ImageBlock,
    InvalidContentError,
    InvalidInputError,
    PendingToolUseError,
    RawBlock,
    TextBlock,
    ToolUseBlock,
    UnrepairableHistoryError,
    tool,
)
from conversa.testing import reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio


def png(width: int = 1, height: int = 1) -> bytes:
    """A valid PNG of the given size (one grey pixel row per line)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return (
            struct.pack(">I", len(data))
            + body
            + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def b64(data: bytes) -> str:
    """Base64 text of *data*."""
    return base64.b64encode(data).decode()


def image(media_type: str = "image/png", data: str | None = None) -> dict[str, Any]:
    """An image block in API form (a 1x1 PNG unless told otherwise)."""
    source = {
        "type": "base64",
        "media_type": media_type,
        "data": b64(png()) if data is None else data,
    }
    return {"type": "image", "source": source}


PDF = b64(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

# (name, a user content block in API form, the path and words of the refusal)
BAD_USER_BLOCKS: list[tuple[str, dict[str, Any], str]] = [
    (
        "ttl 2h",
        {
            "type": "text",
            "text": "hi",
            "cache_control": {"type": "ephemeral", "ttl": "2h"},
        },
        "content.0.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "cache_control type",
        {"type": "text", "text": "hi", "cache_control": {"type": "persistent"}},
        "content.0.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "extra key on text",
        {"type": "text", "text": "hi", "foo": 1},
        "content.0.foo: Extra inputs are not permitted",
    ),
    (
        "png labelled jpeg",
        image("image/jpeg"),
        "content.0.source: The image was specified using the image/jpeg media type, but the image appears to be a image/png image",
    ),
    (
        "not base64",
        image(data="not base64!!"),
        "content.0.source.data: invalid base64 data",
    ),
    (
        "empty image data",
        image(data=""),
        "content.0.source.data: image cannot be empty",
    ),
    ("image/bmp", image("image/bmp"), "content.0.source.media_type: Input should be"),
    (
        "missing media_type",
        {"type": "image", "source": {"type": "base64", "data": b64(png())}},
        "content.0.source.media_type: Field required",
    ),
    (
        "image too large a side",
        image(data=b64(png(8001, 1))),
        "At least one of the image dimensions exceed max allowed size: 8000 pixels",
    ),
    (
        "image url without url",
        {"type": "image", "source": {"type": "url"}},
        "content.0.source.url: Field required",
    ),
    (
        "unknown image source type",
        {"type": "image", "source": {"type": "path", "path": "/x.png"}},
        "content.0.source.type: Input should be 'base64', 'url' or 'file'",
    ),
    ("unknown block type", {"type": "nope"}, "content.0.type: Input tag 'nope'"),
    ("no type", {"text": "hi"}, "content.0: Unable to extract tag"),
    (
        "pdf not a pdf",
        {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": b64(png()),
            },
        },
        "content.0.source.data: The PDF specified was not valid.",
    ),
    (
        "document text source media type",
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/html", "data": "x"},
        },
        "content.0.source.media_type: Input should be 'text/plain'",
    ),
    (
        "tool_result bad id",
        {"type": "tool_result", "tool_use_id": "bad id!", "content": "x"},
        "content.0.tool_use_id: String should match pattern",
    ),
    (
        "tool_result is_error not bool",
        {"type": "tool_result", "tool_use_id": "t1", "is_error": "yes"},
        "content.0.is_error: Input should be a valid boolean",
    ),
    (
        "tool_result nested unknown",
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "nope"}]},
        "content.0.content.0.type: Input tag 'nope'",
    ),
    (
        "tool_use in a user turn",
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        "content.0: `tool_use` blocks are not allowed in `user` messages",
    ),
    (
        "search_result non-text content",
        {"type": "search_result", "source": "s", "title": "t", "content": [image()]},
        "content.0.content.0.type: Input tag 'image'",
    ),
]

BAD_ASSISTANT_BLOCKS: list[tuple[str, dict[str, Any], str]] = [
    (
        "tool_use id",
        {"type": "tool_use", "id": "bad id!", "name": "f", "input": {}},
        "content.0.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (
        "tool_use name",
        {"type": "tool_use", "id": "t1", "name": "", "input": {}},
        "content.0.name: String should have between 1 and 200 characters",
    ),
    (
        "tool_use input not an object",
        {"type": "tool_use", "id": "t1", "name": "f", "input": [1]},
        "content.0.input: Input should be a valid dictionary",
    ),
    (
        "thinking without signature",
        {"type": "thinking", "thinking": "hmm"},
        "content.0.signature: Field required",
    ),
    (
        "cache_control on thinking",
        {
            "type": "thinking",
            "thinking": "hmm",
            "signature": "sig",
            "cache_control": {"type": "ephemeral"},
        },
        "content.0.cache_control: Extra inputs are not permitted",
    ),
    (
        "image from the assistant",
        image(),
        "`image` blocks are not allowed in `assistant`",
    ),
]


async def _unchanged(harness: Harness, conv: Any, before: tuple[Any, ...]) -> None:
    assert await conv.turns() == before
    assert harness.bodies() == []


@pytest.mark.parametrize(
    ("block", "expected"),
    [pytest.param(b, e, id=n) for n, b, e in BAD_USER_BLOCKS],
)
@pytest.mark.parametrize("entry", ["send", "add", "request", "add_turns"])
async def test_user_block_refused_before_any_write(
    harness: Harness, entry: str, block: dict[str, Any], expected: str
) -> None:
    """A bad user block is refused at every entry point; nothing is stored or sent."""
    conv = await harness.create()
    await conv.add("user", "hello")
    await conv.add("assistant", "hi")
    before = await conv.turns()
    calls = {
        "add": lambda: conv.add("user", [block]),
        "add_turns": lambda: conv.add_turns([("user", [block])]),
    }
    call = calls.get(entry, lambda: getattr(conv, entry)([block]))
    with pytest.raises(InvalidContentError) as caught:
        await call()
    assert caught.value.entry == entry
    message = str(caught.value)
    if entry == "add_turns":
        message = message.replace("turns.0.content", "content")
    assert expected in message
    await _unchanged(harness, conv, before)


@pytest.mark.parametrize(
    ("block", "expected"),
    [pytest.param(b, e, id=n) for n, b, e in BAD_ASSISTANT_BLOCKS],
)
async def test_assistant_block_refused(
    harness: Harness, block: dict[str, Any], expected: str
) -> None:
    """A bad assistant block given to add() or add_turns() is refused; nothing stored."""
    conv = await harness.create()
    await conv.add("user", "hello")
    before = await conv.turns()
    with pytest.raises(InvalidContentError, match="add: ") as caught:
        await conv.add("assistant", [block])
    assert expected in str(caught.value)
    with pytest.raises(InvalidContentError, match=r"add_turns: turns.1.content.0"):
        await conv.add_turns([("assistant", "fine"), ("assistant", [block])])
    await _unchanged(harness, conv, before)


async def test_stream_and_run_refuse_at_the_door(harness: Harness) -> None:
    """stream() and run() check the new turn's blocks like send()."""
    conv = await harness.create()
    bad = image("image/jpeg")
    with pytest.raises(InvalidContentError, match=r"^stream: content.0.source"):
        await _open_stream(harness, conv, [bad])
    with pytest.raises(InvalidContentError, match=r"^run: content.0.source"):
        await conv.run([bad])
    await _unchanged(harness, conv, ())


async def _open_stream(harness: Harness, conv: Any, content: Any) -> None:
    if harness.twin == "sync":
        with conv.conv.stream(content) as stream:
            list(stream)
    else:
        async with conv.stream(content) as stream:
            async for _ in stream:
                pass


async def test_edit_refuses_at_the_door(harness: Harness) -> None:
    """edit() checks the replacement before it retracts anything."""
    conv = await harness.create()
    await conv.send("first")
    before = await conv.turns()
    sent = len(harness.bodies())
    with pytest.raises(InvalidContentError, match=r"^edit: content.0.foo"):
        await conv.edit(1, [{"type": "text", "text": "x", "foo": 1}])
    assert await conv.turns() == before
    assert len(harness.bodies()) == sent


async def test_tool_results_are_checked(harness: Harness) -> None:
    """add_tool_results refuses a result block the API would reject."""
    conv = await harness.create()
    await conv.add("user", "weather?")
    await conv.add("assistant", [ToolUseBlock("toolu_1", "weather", {"city": "Oslo"})])
    before = await conv.turns()
    with pytest.raises(
        InvalidContentError, match=r"^add_tool_results: content\.0\.content\.0"
    ):
        await conv.add_tool_results({"toolu_1": [image(data="")]})
    await _unchanged(harness, conv, before)
    stored = await conv.add_tool_results({"toolu_1": [image()]})
    assert stored.role == "user"


async def test_a_tool_returning_a_bad_block_is_refused(harness: Harness) -> None:
    """run() checks what a tool returns before storing it as a tool_result."""

    @tool
    def snapshot() -> Any:
        """Return a broken image."""
        return ImageBlock({"type": "base64", "media_type": "image/png", "data": "@@"})

    conv = await harness.create()
    harness.fake.script(reply.tool_use("snapshot", {}))
    with pytest.raises(
        InvalidContentError, match=r"run: content.0.content.0.source.data"
    ):
        await conv.run("take a picture", tools=[snapshot])
    turns = await conv.turns()
    assert [t.role for t in turns] == ["user", "assistant"]  # no tool_result stored


async def test_raw_block_is_vouched_for(harness: Harness) -> None:
    """A RawBlock the caller builds is sent as it is and remembered as vouched."""
    conv = await harness.create()
    raw = RawBlock({"type": "container_upload", "file_id": "file_1"})
    await conv.add("user", [TextBlock("see file"), raw])
    stored = (await conv.turns())[-1]
    assert stored.blocks[1] == raw
    unknown = RawBlock({"type": "brand_new_kind", "x": 1})
    body = await conv.request([unknown, "and this"])
    assert {"type": "brand_new_kind", "x": 1} in body["messages"][-1]["content"]
    turn = await conv.add("user", [unknown])
    assert turn.flags["vouched"] == [0]
    with pytest.raises(InvalidContentError, match="Input tag 'brand_new_kind'"):
        await conv.add("user", [{"type": "brand_new_kind", "x": 1}])


async def test_system_and_tools_are_checked(harness: Harness) -> None:
    """A bad system prompt or tool definition is refused before it is stored."""
    with pytest.raises(InvalidContentError, match=r"^create: system.0.foo"):
        await harness.create(system=[{"type": "text", "text": "x", "foo": 1}])
    with pytest.raises(InvalidContentError, match=r"tools.0.name: String should match"):
        await harness.create(
            tools=[{"name": "bad name", "input_schema": {"type": "object"}}]
        )
    with pytest.raises(
        InvalidContentError, match=r"tools.1.name: Tool names must be unique"
    ):
        await harness.create(
            tools=[
                {"name": "a", "input_schema": {"type": "object"}},
                {"name": "a", "input_schema": {"type": "object"}},
            ]
        )
    conv = await harness.create()
    with pytest.raises(InvalidContentError, match=r"tools.0.input_schema.type"):
        await conv.set_params(tools=[{"name": "f", "input_schema": {"type": "array"}}])
    with pytest.raises(
        InvalidContentError, match=r"^update: system.0.cache_control.ttl"
    ):
        await conv.set_system(
            [
                {
                    "type": "text",
                    "text": "x",
                    "cache_control": {"type": "ephemeral", "ttl": "1d"},
                }
            ]
        )
    with pytest.raises(InvalidContentError, match=r"tools.0.foo: Extra inputs"):
        await conv.send(
            "hi", tools=[{"name": "f", "input_schema": {"type": "object"}, "foo": 1}]
        )
    assert harness.bodies() == []


def _marked(text: str, ttl: str = "5m") -> dict[str, Any]:
    return {
        "type": "text",
        "text": text,
        "cache_control": {"type": "ephemeral", "ttl": ttl},
    }


async def test_five_caller_breakpoints_are_refused_naming_the_turns(
    harness: Harness,
) -> None:
    """Caller breakpoints count toward the 4; the excess is refused, named, not sent."""
    conv = await harness.create()
    for i in range(2):
        await conv.add("user", [_marked(f"q{i}a"), _marked(f"q{i}b")])
        await conv.add("assistant", f"a{i}")
    with pytest.raises(InvalidContentError, match="Found 5") as caught:
        await conv.send([_marked("fifth")])
    assert "messages.4.content.0" in str(caught.value)
    assert len(await conv.turns()) == 4
    assert harness.bodies() == []
    # Four of the caller's own fit, and conversa places none of its own then.
    body = await conv.request("plain")
    marks = [
        b
        for m in body["messages"]
        for b in m["content"]
        if isinstance(b, dict) and "cache_control" in b
    ]
    assert len(marks) == 4


async def test_one_hour_after_five_minutes_is_refused(harness: Harness) -> None:
    """A caller's 1h breakpoint after its own 5m one is refused, naming the stored turn."""
    conv = await harness.create()
    await conv.add("user", [_marked("early", "5m")])
    await conv.add("assistant", "ok")
    with pytest.raises(InvalidContentError, match="ttl='1h'") as caught:
        await conv.send([_marked("late", "1h")])
    assert "the new turn" in str(caught.value)
    await conv.add("user", [_marked("late", "1h")])
    with pytest.raises(InvalidContentError, match=r"conv.retract\(3\)"):
        await conv.send("next")
    assert harness.bodies() == []


async def test_conversa_lowers_its_own_ttl_after_a_callers_5m(harness: Harness) -> None:
    """With 1h caching on, conversa's marks after a caller's 5m mark take 5m."""
    from conversa import CacheConfig

    conv = await harness.create(cache=CacheConfig(ttl="1h"))
    await conv.add("user", [_marked("early", "5m")])
    await conv.add("assistant", "ok")
    harness.fake.script(reply.text("fine"))
    await conv.send("more")
    body = harness.bodies()[-1]
    ttls = [
        b["cache_control"].get("ttl", "5m")
        for m in body["messages"]
        for b in m["content"]
        if "cache_control" in b
    ]
    assert ttls[0] == "5m"
    assert "1h" not in ttls[1:]


async def test_many_images_leave_the_window(harness: Harness) -> None:
    """Over 20 images with one over 2000 px a side: older exchanges leave the window."""
    conv = await harness.create()
    await conv.add("user", [image()] * 20)
    await conv.add("assistant", "seen")
    body = await conv.request([image(data=b64(png(2001, 1)))])
    assert len(body["messages"]) == 1
    body = await conv.request([image(data=b64(png(1999, 1)))])
    assert len(body["messages"]) == 3


async def test_history_with_tool_calls_through_add_turns(harness: Harness) -> None:
    """add_turns stores a tool history in one go; it may end with open tool calls."""
    conv = await harness.create()
    stored = await conv.add_turns(
        [
            ("user", "weather in Oslo?"),
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            (
                "user",
                [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"}],
            ),
            ("assistant", "Rain in Oslo."),
            ("user", "and Bergen?"),
            ("assistant", [ToolUseBlock("toolu_2", "weather", {"city": "Bergen"})]),
        ]
    )
    assert [t.seq for t in stored] == [1, 2, 3, 4, 5, 6]
    assert [t.id for t in await conv.pending_tool_uses()] == ["toolu_2"]
    with pytest.raises(PendingToolUseError):
        await conv.send("never mind")
    await conv.add_tool_results({"toolu_2": "sun"})
    harness.fake.script(reply.text("Sun in Bergen."))
    answer = await conv.send("thanks")
    assert answer.text == "Sun in Bergen."


async def test_add_assistant_tool_use_then_results(harness: Harness) -> None:
    """add('assistant', [tool_use]) is stored; the results answer it."""
    conv = await harness.create()
    await conv.add("user", "look it up")
    turn = await conv.add(
        "assistant",
        [{"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {}}],
    )
    assert turn.seq == 2
    await conv.add_tool_results({"toolu_9": "found"})
    assert len(await conv.turns()) == 3


@pytest.mark.parametrize(
    ("turns", "error", "words"),
    [
        pytest.param(
            [
                (
                    "user",
                    [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}],
                )
            ],
            UnrepairableHistoryError,
            "unexpected `tool_use_id`",
            id="orphan result",
        ),
        pytest.param(
            [
                ("assistant", [ToolUseBlock("toolu_1", "f", {})]),
                ("user", "no result"),
            ],
            PendingToolUseError,
            "toolu_1",
            id="result missing",
        ),
        pytest.param(
            [
                (
                    "assistant",
                    [
                        ToolUseBlock("toolu_1", "f", {}),
                        ToolUseBlock("toolu_1", "f", {}),
                    ],
                ),
            ],
            UnrepairableHistoryError,
            "ids must be unique",
            id="duplicate ids",
        ),
        pytest.param(
            [("bot", "hi")], InvalidContentError, "turns.0.role", id="bad role"
        ),
        pytest.param(
            [{"role": "user", "content": "x", "name": "n"}],
            InvalidContentError,
            "turns.0.name: Extra inputs",
            id="extra message key",
        ),
        pytest.param([], InvalidInputError, "no turns", id="empty"),
    ],
)
async def test_add_turns_refuses_a_bad_sequence_whole(
    harness: Harness, turns: list[Any], error: type[Exception], words: str
) -> None:
    """A sequence that breaks a rule anywhere stores nothing at all."""
    conv = await harness.create()
    await conv.add("user", "start")
    before = await conv.turns()
    with pytest.raises(error, match=words):
        await conv.add_turns(turns)
    assert await conv.turns() == before


async def test_add_turns_keeps_api_replies_verbatim(harness: Harness) -> None:
    """A Turn with reply provenance (message id, model) is stored as it is."""
    conv = await harness.create()
    harness.fake.script(reply.text("Hello there."))
    await conv.send("hi")
    original = await conv.turns()
    other = await harness.create()
    stored = await other.add_turns(original)
    assert [t.content_json() for t in stored] == [t.content_json() for t in original]
    assert stored[1].message_id == original[1].message_id


async def test_a_stored_turn_the_api_refuses_names_the_way_out(
    harness: Harness,
) -> None:
    """A 400 naming messages.N maps to the stored turn; retract() gets it going again."""
    conv = await harness.create()
    await conv.add("user", [RawBlock({"type": "brand_new_kind"}), TextBlock("hi")])
    await conv.add("assistant", "hello")
    with pytest.raises(HistoryRejectedError) as caught:
        await conv.send("next")
    error = caught.value
    assert (error.turn_seq, error.turn_role, error.path) == (
        1,
        "user",
        "messages.0.content.0",
    )
    assert error.status_code == 400
    assert "conv.retract(1) or replace it with conv.edit(1, ...)" in str(error)
    assert len(await conv.turns()) == 3  # the new user turn is stored, pending
    await conv.retract(1)
    harness.fake.script(reply.text("Back on track."))
    assert (await conv.retry()).text == "Back on track."
    bodies = harness.bodies()
    assert "brand_new_kind" not in str(bodies[-1])


async def test_a_rejected_assistant_turn_is_named(harness: Harness) -> None:
    """An assistant turn the API refuses is named too; only retract() is offered."""
    conv = await harness.create()
    await conv.add("user", "hi")
    await conv.add("assistant", [RawBlock({"type": "brand_new_kind"}), TextBlock("x")])
    with pytest.raises(HistoryRejectedError) as caught:
        await conv.send("next")
    assert caught.value.turn_seq == 2
    assert "conv.retract(2)" in str(caught.value)
    assert "conv.edit" not in str(caught.value)


async def test_edit_and_regenerate_refuse_before_retracting(harness: Harness) -> None:
    """A replacement the send would refuse leaves no retraction behind."""
    conv = await harness.create()
    await conv.send("first")
    before = await conv.turns()
    with pytest.raises(InvalidInputError, match="non-empty content"):
        await conv.edit(1, "   ")
    with pytest.raises(InvalidInputError, match="unknown request parameter"):
        await conv.regenerate(temprature=1)
    with pytest.raises(InvalidContentError, match=r"tools.0.name"):
        await conv.regenerate(
            tools=[{"name": "bad name", "input_schema": {"type": "object"}}]
        )
    assert await conv.turns() == before
