"""The offline token estimator: leans high, sizes images and documents."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversa import (
    DocumentBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from conversa._core.estimate import (
    BLOCK_OVERHEAD,
    MESSAGE_OVERHEAD,
    PDF_PAGE_TOKENS,
    UNKNOWN_IMAGE_TOKENS,
    _text_parts,
    _text_parts_regex,
    estimate_blocks,
    estimate_text,
    image_size,
    image_tokens,
)
from conversa.testing import FakeMessagesAPI, png_base64

SAMPLES = {
    "prose": "My parcel was due last Tuesday and it still has not arrived. " * 20,
    "code": "def total(items):\n    return sum(i.price * i.qty for i in items)\n" * 20,
    "json": '{"order": 1042, "items": [{"sku": "A-17", "qty": 2}], "paid": true}' * 20,
    "cjk": "注文した商品がまだ届きません。確認していただけますか。" * 20,
    "ids": "toolu_01Ny5KPVs4XomMp7wqZwKvdj u0-12 u0-13 2026-11-23T08:00:00Z " * 20,
}


def _b64(raw: bytes) -> dict[str, str]:
    return {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(raw).decode(),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("abc", 1), ("abcd", 2), ("12345", 3), ("a,b", 3), ("注文", 2), ("é", 1)],
)
def test_text_is_counted_by_runs(text: str, expected: int) -> None:
    """Letters per 3, digits per 2, one per punctuation mark and per non-ASCII character."""
    assert estimate_text(text) == expected


@given(
    st.text(
        st.characters(max_codepoint=127)
        | st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x00\x7f"),
        max_size=80,
    )
    | st.text(max_size=40)
    # Runs longer than the fast count searches for (24 letters, 16 digits).
    | st.lists(
        st.sampled_from(["a" * 23, "b" * 25, "c" * 40, "9" * 15, "8" * 17, " ", "."]),
        max_size=8,
    ).map("".join)
)
def test_the_fast_count_of_ascii_text_is_the_regular_expressions_count(
    text: str,
) -> None:
    """The translation `_text_parts` runs on ASCII counts as the definition does."""
    assert _text_parts(text) == _text_parts_regex(text)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_estimate_leans_high_against_an_independent_tokenizer(kind: str) -> None:
    """On prose, code, JSON, CJK and ids the estimate is at least the fake API's count."""
    fake = FakeMessagesAPI()
    text = SAMPLES[kind]
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": text}],
    }
    assert estimate_blocks((TextBlock(text),)) >= fake.count_tokens(body)


def test_png_gif_and_jpeg_sizes_are_read_from_their_headers() -> None:
    """Image sizes come from the header bytes, without decoding the image."""
    assert image_size({"type": "base64", "data": png_base64(640, 480)}) == (640, 480)
    gif = b"GIF89a" + struct.pack("<HH", 320, 200) + b"\x00" * 16
    assert image_size(_b64(gif)) == (320, 200)
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 600, 800) + b"\x03" + b"\x00" * 9
    jpeg = b"\xff\xd8" + b"\xff\xe0\x00\x04\x00\x00" + sof + b"\x00" * 8
    assert image_size(_b64(jpeg)) == (800, 600)


@pytest.mark.parametrize(
    "source",
    [
        {"type": "url", "url": "https://example.com/a.png"},
        {"type": "base64", "data": base64.b64encode(b"not an image at all").decode()},
        {"type": "base64", "data": base64.b64encode(b"\xff\xd8garbage-jpeg").decode()},
        {"type": "base64", "data": "!!!"},
        {"type": "base64", "data": "abc"},
        {
            "type": "base64",
            "data": base64.b64encode(b"\xff\xd8\xff\xe0\x00\x04\x00\x00").decode(),
        },
    ],
)
def test_unreadable_images_have_no_size(source: dict[str, str]) -> None:
    """URL sources, unknown formats and broken data have no readable size."""
    assert image_size(source) is None
    assert image_tokens(source) == UNKNOWN_IMAGE_TOKENS


def test_image_tokens_follow_the_api_formula_after_downscaling() -> None:
    """⌈w/28⌉·⌈h/28⌉, with the long edge scaled down to 1568 px first."""
    assert image_tokens({"type": "base64", "data": png_base64(1000, 1000)}) == 36 * 36
    assert image_tokens({"type": "base64", "data": png_base64(3136, 1568)}) == 56 * 28


def test_every_block_kind_has_a_size() -> None:
    """Each block kind is sized, framing included."""
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "A" * 40_000}
    blocks = [
        ThinkingBlock("hmm " * 10, "sig"),
        ToolUseBlock("toolu_1", "lookup", {"order": 1}),
        ToolResultBlock("toolu_1", (TextBlock("shipped"),)),
        ToolResultBlock("toolu_2", "shipped"),
        DocumentBlock({"type": "text", "media_type": "text/plain", "data": "hello"}),
        DocumentBlock(pdf),
        DocumentBlock({"type": "url", "url": "https://example.com/a.pdf"}),
        SearchResultBlock("src", "title", (TextBlock("result"),)),
        RedactedThinkingBlock("x" * 400),
        RawBlock({"type": "compaction", "content": "summary of before"}),
        ImageBlock({"type": "url", "url": "https://example.com/a.png"}),
    ]
    for block in blocks:
        assert estimate_blocks((block,)) > MESSAGE_OVERHEAD + BLOCK_OVERHEAD
    assert estimate_blocks((DocumentBlock(pdf),)) >= 10 * PDF_PAGE_TOKENS
