"""The fake's own tokenizer: deterministic, simple, and unlike conversa's estimator.

A text is cut into pieces by ``\\w+|[^\\w\\s]``; a piece counts 1 token, and a word
longer than 6 characters counts ⌈len/4⌉. Every message adds 3 tokens of framing and
every block 2. An image costs ⌈w/28⌉·⌈h/28⌉ when its PNG, GIF, JPEG or WebP header can
be read, else a fixed 1,500. The fake reports these counts as usage and from
count_tokens, so a test can predict them exactly with `count_text`.

A fake made with ``token_scale`` stands for another tokenizer: every count it
reports is this one's times the scale, rounded half up (`scaled`), per prompt block
(the prompt cache splits a prompt at blocks, so the parts still add up) and per
generated block.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = [
    "BLOCK_OVERHEAD",
    "IMAGE_FALLBACK_TOKENS",
    "MESSAGE_OVERHEAD",
    "PromptItem",
    "block_tokens",
    "count_request",
    "count_text",
    "decode_base64",
    "image_size",
    "output_tokens",
    "png_base64",
    "prompt_items",
    "scaled",
    "sniff_image",
    "text_pieces",
    "tool_tokens",
]

MESSAGE_OVERHEAD = 3
BLOCK_OVERHEAD = 2
IMAGE_FALLBACK_TOKENS = 1500
_PIECE = re.compile(r"\w+|[^\w\s]")


def scaled(tokens: int, scale: float) -> int:
    """Return *tokens* times *scale*, rounded half up; at least 1 when *tokens* is."""
    if scale == 1.0 or tokens == 0:
        return tokens
    return max(1, math.floor(tokens * scale + 0.5))


def text_pieces(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(end, tokens)`` for each piece of *text*, in order."""
    for match in _PIECE.finditer(text):
        piece = match.group()
        yield match.end(), math.ceil(len(piece) / 4) if len(piece) > 6 else 1


def count_text(text: str) -> int:
    """Return the fake's token count of *text*."""
    return sum(tokens for _, tokens in text_pieces(text))


def decode_base64(data: str) -> bytes | None:
    """Decode strict base64, or return None when *data* is not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


def sniff_image(raw: bytes) -> str | None:
    """Return the media type that *raw*'s magic bytes announce, if any."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if raw.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if raw.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(raw: bytes) -> tuple[int, int] | None:
    """Return ``(width, height)`` from an image header, or None if unreadable."""
    kind = sniff_image(raw)
    if kind == "image/png" and len(raw) >= 24:
        width, height = struct.unpack(">II", raw[16:24])
        return int(width), int(height)
    if kind == "image/gif" and len(raw) >= 10:
        width, height = struct.unpack("<HH", raw[6:10])
        return int(width), int(height)
    if kind == "image/jpeg":
        return _jpeg_size(raw)
    if kind == "image/webp":
        return _webp_size(raw)
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    # Walk the marker segments up to the first start-of-frame (SOF0..SOF15 but
    # DHT, JPG and DAC), which holds the frame's height and width.
    pos = 2
    while pos + 9 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        length = int.from_bytes(raw[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", raw[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def _webp_size(raw: bytes) -> tuple[int, int] | None:
    chunk = raw[12:16]
    if chunk == b"VP8X" and len(raw) >= 30:
        width = int.from_bytes(raw[24:27], "little") + 1
        height = int.from_bytes(raw[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(raw) >= 25:
        bits = int.from_bytes(raw[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(raw) >= 30:
        width, height = struct.unpack("<HH", raw[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    return None


def _image_tokens(block: Mapping[str, Any]) -> int:
    source = block.get("source")
    if isinstance(source, Mapping) and isinstance(source.get("data"), str):
        raw = decode_base64(source["data"])
        size = image_size(raw) if raw is not None else None
        if size is not None:
            return math.ceil(size[0] / 28) * math.ceil(size[1] / 28)
    return IMAGE_FALLBACK_TOKENS


def _value_tokens(value: Any) -> int:
    # Anything that is not plain text or an image counts by its JSON text.
    if isinstance(value, str):
        return count_text(value)
    if isinstance(value, list) and all(
        isinstance(item, Mapping) and item.get("type") in _NESTED_TYPES
        for item in value
    ):
        return sum(block_tokens(item) for item in value)
    return count_text(json.dumps(value, ensure_ascii=False))


def block_tokens(block: Mapping[str, Any]) -> int:
    """Return the tokens of one request block, framing included."""
    kind = block.get("type")
    if kind == "image":
        return BLOCK_OVERHEAD + _image_tokens(block)
    fields = _CONTENT_TYPES.get(kind if isinstance(kind, str) else "", ())
    if not fields:
        fields = tuple(k for k in block if k not in ("type", "cache_control"))
    return BLOCK_OVERHEAD + sum(_value_tokens(block[f]) for f in fields if f in block)


_CONTENT_TYPES: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "thinking": ("thinking",),
    "redacted_thinking": ("data",),
    "tool_use": ("name", "input"),
    "server_tool_use": ("name", "input"),
    "tool_result": ("content",),
    "document": ("title", "context", "source"),
    "search_result": ("title", "source", "content"),
}
_NESTED_TYPES = {*_CONTENT_TYPES, "image"}


class PromptItem(NamedTuple):
    """One block of a prompt in prefix order, with its share of the token count.

    Attributes:
        section: ``tools``, ``system`` or ``messages``.
        parent: the number of the tool or message it belongs to (0 for system).
        role: the message's role ("" for tools and system).
        block: the block (a string becomes a text block), or None for a message
            with no blocks, which still costs its framing.
        tokens: the block's tokens; a message's (or the system prompt's) framing
            is counted on its first block.
    """

    section: str
    parent: int
    role: str
    block: Mapping[str, Any] | None
    tokens: int


def _content_items(
    section: str, index: int, role: str, content: Any
) -> Iterator[PromptItem]:
    if isinstance(content, str):
        if not content:
            yield PromptItem(
                section, index, role, None, MESSAGE_OVERHEAD + BLOCK_OVERHEAD
            )
            return
        text = {"type": "text", "text": content}
        tokens = MESSAGE_OVERHEAD + BLOCK_OVERHEAD + count_text(content)
        yield PromptItem(section, index, role, text, tokens)
        return
    blocks = (
        [b for b in content if isinstance(b, Mapping)]
        if isinstance(content, list)
        else []
    )
    if not blocks:
        yield PromptItem(section, index, role, None, MESSAGE_OVERHEAD)
    for n, block in enumerate(blocks):
        framing = MESSAGE_OVERHEAD if n == 0 else 0
        yield PromptItem(section, index, role, block, framing + block_tokens(block))


def tool_tokens(tool: Mapping[str, Any]) -> int:
    """Return the tokens of a tool definition: its JSON text, cache marker aside."""
    bare = {k: v for k, v in tool.items() if k != "cache_control"}
    return count_text(json.dumps(bare, ensure_ascii=False))


def prompt_items(
    body: Mapping[str, Any], *, scale: float = 1.0
) -> Iterator[PromptItem]:
    """Yield the prompt's blocks in prefix order: tools, then system, then messages.

    The tokens of all items add up to `count_request`, so a split of the prompt at
    any block (the prompt cache's) adds up too. Each item's tokens are `scaled` by
    *scale*.
    """
    for item in _prompt_items(body):
        yield item if scale == 1.0 else item._replace(tokens=scaled(item.tokens, scale))


def _prompt_items(body: Mapping[str, Any]) -> Iterator[PromptItem]:
    tools = body.get("tools")
    if isinstance(tools, list):
        for n, tool in enumerate(tools):
            if isinstance(tool, Mapping):
                yield PromptItem("tools", n, "", tool, tool_tokens(tool))
            else:
                junk = count_text(json.dumps(tool, ensure_ascii=False))
                yield PromptItem("tools", n, "", None, junk)
    system = body.get("system")
    if system:
        yield from _content_items("system", 0, "", system)
    messages = body.get("messages")
    if isinstance(messages, list):
        for n, message in enumerate(messages):
            if isinstance(message, Mapping):
                role = str(message.get("role", ""))
                yield from _content_items("messages", n, role, message.get("content"))


def count_request(body: Mapping[str, Any], *, scale: float = 1.0) -> int:
    """Return the input tokens of a request: tools, then system, then messages."""
    return sum(item.tokens for item in prompt_items(body, scale=scale))


def output_tokens(content: Iterable[Mapping[str, Any]], *, scale: float = 1.0) -> int:
    """Return the tokens of generated *content*, without block framing.

    Each block's count is `scaled` by *scale*.
    """
    return sum(scaled(block_tokens(block) - BLOCK_OVERHEAD, scale) for block in content)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_base64(width: int = 1, height: int = 1) -> str:
    """Return a valid black grayscale PNG of *width* by *height*, base64-encoded.

    The fake rejects image data it cannot read ("Could not process image"), so
    tests need real images; this one costs ⌈w/28⌉·⌈h/28⌉ tokens.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" * (width + 1)) * height
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()
