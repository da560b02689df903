"""The fake's tokenizer, image header parsing and model table."""

from __future__ import annotations

import base64
import struct

import pytest

from conversa.testing import ModelRules, png_base64
from conversa.testing._models import rules_for
from conversa.testing._tokens import (
    IMAGE_FALLBACK_TOKENS,
    block_tokens,
    count_request,
    count_text,
    image_size,
    output_tokens,
    prompt_items,
    sniff_image,
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("Hello, world!", 4),
        ("abcdef", 1),
        ("abcdefg", 2),
        ("internationalization", 5),
        ("  spaced   out  ", 2),
        ("a-b", 3),
    ],
)
def test_count_text(text: str, tokens: int) -> None:
    """Pieces are words or single marks; words over 6 characters count ⌈len/4⌉."""
    assert count_text(text) == tokens


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHH", 11, 8, height, width) + b"\x03"
    return b"\xff\xd8" + app0 + sof + b"\x00" * 8


def _webp(chunk: bytes, payload: bytes) -> bytes:
    return b"RIFF" + b"\x00" * 4 + b"WEBP" + chunk + payload


@pytest.mark.parametrize(
    ("raw", "kind", "size"),
    [
        (base64.b64decode(png_base64(30, 57)), "image/png", (30, 57)),
        (b"GIF89a" + struct.pack("<HH", 5, 7), "image/gif", (5, 7)),
        (_jpeg(640, 480), "image/jpeg", (640, 480)),
        (b"\xff\xd8\xff\xe0\x00", "image/jpeg", None),
        (b"\xff\xd8\xff\xe0\x00\x02" + b"\x00" * 10, "image/jpeg", None),
        (
            _webp(
                b"VP8X",
                b"\x00" * 8 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little"),
            ),
            "image/webp",
            (100, 50),
        ),
        (
            _webp(b"VP8L", b"\x00" * 5 + ((9) | (19 << 14)).to_bytes(4, "little")),
            "image/webp",
            (10, 20),
        ),
        (
            _webp(b"VP8 ", b"\x00" * 10 + struct.pack("<HH", 300, 200)),
            "image/webp",
            (300, 200),
        ),
        (_webp(b"ALPH", b"\x00" * 20), "image/webp", None),
        (b"plain bytes", None, None),
    ],
)
def test_image_headers(
    raw: bytes, kind: str | None, size: tuple[int, int] | None
) -> None:
    """Media type and size are read from PNG, GIF, JPEG and WebP headers."""
    assert sniff_image(raw) == kind
    assert image_size(raw) == size


def test_image_tokens() -> None:
    """An image costs ⌈w/28⌉·⌈h/28⌉ plus framing, or 1,500 when unreadable."""
    readable = {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": png_base64(57, 28),
        },
    }
    assert block_tokens(readable) == 2 + 3 * 1
    url = {"type": "image", "source": {"type": "url", "url": "https://x"}}
    assert block_tokens(url) == 2 + IMAGE_FALLBACK_TOKENS


def test_request_and_output_counts() -> None:
    """Requests count tools, system and messages with framing; output counts content only."""
    tool = {"name": "t", "input_schema": {"type": "object"}}
    body = {
        "tools": [tool],
        "system": [{"type": "text", "text": "Be brief"}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "i", "name": "t", "input": {"a": 1}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "i",
                        "content": [{"type": "text", "text": "ok"}],
                    }
                ],
            },
        ],
    }
    tool_tokens = count_text('{"name": "t", "input_schema": {"type": "object"}}')
    system = 3 + 2 + 2
    first = 3 + 2 + 1
    use = 3 + 2 + 1 + count_text('{"a": 1}')
    result = 3 + 2 + (2 + 1)
    assert count_request(body) == tool_tokens + system + first + use + result
    assert output_tokens([{"type": "text", "text": "two words"}]) == 2
    unknown = {"type": "mystery", "note": "x y"}
    assert block_tokens(unknown) == 2 + 2


def test_count_request_tolerates_unvalidated_bodies() -> None:
    """count_tokens on a raw body counts junk by its JSON text and never raises."""
    junk = {
        "tools": ["t"],
        "system": [7],
        "messages": [
            "x",
            {"role": "user", "content": 5},
            {"role": "user", "content": ""},
        ],
    }
    assert count_request(junk) == count_text('"t"') + 3 + 3 + (3 + 2)


def test_tool_cache_markers_cost_nothing() -> None:
    """A tool's cache_control marker is not counted, so moving it changes no count."""
    tool = {"name": "t", "input_schema": {"type": "object"}}
    marked = {**tool, "cache_control": {"type": "ephemeral"}}
    assert count_request({"tools": [marked]}) == count_request({"tools": [tool]})


def test_prompt_items_add_up_and_carry_framing_on_first_blocks() -> None:
    """prompt_items lists blocks in prefix order; their tokens sum to count_request."""
    body = {
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "system": "Be brief",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "a"},
                    {"type": "text", "text": "b"},
                ],
            },
            {"role": "assistant", "content": ""},
        ],
    }
    items = list(prompt_items(body))
    assert [(i.section, i.parent, i.role) for i in items] == [
        ("tools", 0, ""),
        ("system", 0, ""),
        ("messages", 0, "user"),
        ("messages", 0, "user"),
        ("messages", 1, "assistant"),
    ]
    assert [i.tokens for i in items[2:]] == [3 + 2 + 1, 2 + 1, 3 + 2]
    assert items[1].block == {"type": "text", "text": "Be brief"}
    assert items[-1].block is None
    assert sum(i.tokens for i in items) == count_request(body)


@pytest.mark.parametrize(
    ("model", "prefill", "max_output", "window", "thinking", "system"),
    [
        ("claude-sonnet-4-5", True, 64_000, 200_000, {"enabled", "disabled"}, False),
        (
            "claude-haiku-4-5-20251001",
            True,
            64_000,
            200_000,
            {"enabled", "disabled"},
            False,
        ),
        ("claude-opus-4-1", True, 32_000, 200_000, {"enabled", "disabled"}, False),
        (
            "claude-opus-4-6",
            False,
            128_000,
            1_000_000,
            {"enabled", "adaptive", "disabled", "between_tools"},
            False,
        ),
        (
            "claude-sonnet-4-6",
            False,
            128_000,
            1_000_000,
            {"enabled", "adaptive", "disabled", "between_tools"},
            False,
        ),
        (
            "claude-opus-4-7",
            False,
            128_000,
            1_000_000,
            {"adaptive", "disabled", "between_tools"},
            False,
        ),
        (
            "claude-opus-4-8",
            False,
            128_000,
            1_000_000,
            {"adaptive", "disabled", "between_tools"},
            True,
        ),
        (
            "claude-opus-5",
            False,
            128_000,
            1_000_000,
            {"adaptive", "disabled", "between_tools"},
            True,
        ),
        (
            "claude-sonnet-5",
            False,
            128_000,
            1_000_000,
            {"adaptive", "disabled", "between_tools"},
            False,
        ),
        (
            "claude-sonnet-5-5",
            False,
            128_000,
            1_000_000,
            {"adaptive", "disabled", "between_tools"},
            False,
        ),
        (
            "claude-fable-5",
            False,
            128_000,
            1_000_000,
            {"adaptive", "between_tools"},
            True,
        ),
        (
            "claude-mythos-5-2",
            False,
            128_000,
            1_000_000,
            {"adaptive", "between_tools"},
            True,
        ),
        (
            "claude-mythos-preview",
            False,
            128_000,
            1_000_000,
            {"adaptive", "between_tools"},
            False,
        ),
        (
            "claude-test-1",
            True,
            128_000,
            200_000,
            {"enabled", "adaptive", "disabled", "between_tools"},
            False,
        ),
    ],
)
def test_model_table(
    model: str,
    prefill: bool,
    max_output: int,
    window: int,
    thinking: set[str],
    system: bool,
) -> None:
    """The table follows MESSAGES_API.md §3 and §10 by family and version."""
    rules = rules_for(model, overrides={}, prefill_rejecting=frozenset())
    assert rules.accepts_prefill is prefill
    assert rules.max_output_tokens == max_output
    assert rules.context_window == window
    assert rules.thinking_types == thinking
    assert rules.system_messages is system


def test_model_overrides() -> None:
    """Explicit rules win over the table; the prefill set only turns prefill off."""
    custom = ModelRules(context_window=10)
    assert (
        rules_for(
            "claude-opus-4-6",
            overrides={"claude-opus-4-6": custom},
            prefill_rejecting=frozenset(),
        )
        is custom
    )
    strict = rules_for(
        "claude-sonnet-4-5",
        overrides={},
        prefill_rejecting=frozenset({"claude-sonnet-4-5"}),
    )
    assert not strict.accepts_prefill
    assert strict.max_output_tokens == 64_000


def test_counts_tolerate_odd_shapes() -> None:
    """Counting never fails on shapes validation would reject (count_tokens is public)."""
    garbage = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "!!"},
    }
    assert block_tokens(garbage) == 2 + IMAGE_FALLBACK_TOKENS
    assert count_request({"messages": [{"role": "user", "content": None}, "odd"]}) == 3
    assert count_request({"messages": "odd", "tools": "odd"}) == 0
