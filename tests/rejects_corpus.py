"""A fixed corpus of request bodies the Messages API rejects, and their valid twins.

Issue 8 lists requests conversa let through and the API answered with a 400; each is
here as a case, with one case more for every per-block and per-request rule the
fake (`conversa.testing`) enforces for them. A case is ``(name, body, expected)``:
*body* is a complete ``POST /v1/messages`` body (plain JSON-able dicts), *expected*
is the API's error message for it, location included (``messages.0.content.0
.image.source.base64: invalid base64 data``). The location is the API's own
(position, then the block's tag); `rule_text` strips it, for callers such as
conversa's own door validation, which word the position their way. The texts and
their sources are in ``conversa/testing/_validate_blocks.py`` and
``_validate_turns.py``.

- `REJECTS`: refused under both API versions (sent as 2023-06-01).
- `REJECTS_2026`: refused under API version 2026-10-21 only (`VERSION_2026`).
- `ACCEPTS` / `ACCEPTS_2026`: ``(name, body)`` pairs the API accepts, close twins
  of the rejected ones (a PNG labelled image/png, a 1h breakpoint before a 5m one,
  four breakpoints, ...), so a validator can be shown not to over-reject.

The image and PDF samples are built here from bytes (no dependency, no file): a
PNG (zlib + struct), a JPEG (SOI, APP0, SOF0, EOI), a GIF, a lossless WebP and a
one-page PDF, each small and with a header that says its size.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from typing import Any

__all__ = [
    "ACCEPTS",
    "ACCEPTS_2026",
    "GIF",
    "JPEG",
    "PDF",
    "PNG",
    "REJECTS",
    "REJECTS_2026",
    "VERSION_2026",
    "WEBP",
    "gif_bytes",
    "jpeg_bytes",
    "pdf_bytes",
    "png_bytes",
    "rule_text",
    "webp_bytes",
]

Body = dict[str, Any]
MODEL = "claude-sonnet-4-5"
VERSION_2026 = "2026-10-21"


# --- samples ------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data))
    )


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """Return a black 8-bit grayscale PNG of *width* by *height*."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" * (width + 1)) * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int = 1, height: int = 1) -> bytes:
    """Return JPEG markers that announce a *width* by *height* baseline frame."""
    app0 = (
        b"\xff\xe0"
        + struct.pack(">H", 16)
        + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    sof0 = (
        b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    )
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def gif_bytes() -> bytes:
    """Return the classic 1x1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
        b"\x00\x02\x02D\x01\x00;"
    )


def webp_bytes(width: int = 1, height: int = 1) -> bytes:
    """Return a lossless (VP8L) WebP header for a *width* by *height* image."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 3
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def pdf_bytes() -> bytes:
    """Return a one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    return out + b"startxref\n%d\n%%%%EOF\n" % xref


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


PNG = _b64(png_bytes())
JPEG = _b64(jpeg_bytes())
GIF = _b64(gif_bytes())
WEBP = _b64(webp_bytes())
PDF = _b64(pdf_bytes())
# A PNG whose base64 is over 10 MB (trailing bytes after IEND).
_HUGE = _b64(png_bytes() + b"\x00" * (7_900_000))


# --- builders -----------------------------------------------------------------


def _body(*messages: Any, **extra: Any) -> Body:
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": list(messages) or [_user("Hello")],
        **extra,
    }


def _user(content: Any) -> Body:
    return {"role": "user", "content": content}


def _assistant(content: Any) -> Body:
    return {"role": "assistant", "content": content}


def _text(text: str, **extra: Any) -> Body:
    return {"type": "text", "text": text, **extra}


def _image(data: str = PNG, media_type: str = "image/png", **source: Any) -> Body:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data, **source},
    }


def _pdf(data: str = PDF, media_type: str = "application/pdf") -> Body:
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


def _ask(*blocks: Body) -> Body:
    """A body whose one user message holds *blocks* and a question."""
    return _body(_user([*blocks, _text("What is this?")]))


CACHE: Body = {"type": "ephemeral"}
HOUR: Body = {"type": "ephemeral", "ttl": "1h"}
FIVE: Body = {"type": "ephemeral", "ttl": "5m"}
TOOL: Body = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USE: Body = {
    "type": "tool_use",
    "id": "toolu_01",
    "name": "get_weather",
    "input": {"city": "Paris"},
}
RESULT: Body = {"type": "tool_result", "tool_use_id": "toolu_01", "content": "Sunny."}
SEARCH: Body = {
    "type": "server_tool_use",
    "id": "srvtoolu_01",
    "name": "web_search",
    "input": {"query": "weather"},
}
SEARCH_RESULT: Body = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_01",
    "content": [],
}
WEB_SEARCH: Body = {"type": "web_search_20250305", "name": "web_search"}
CITATION: Body = {
    "type": "char_location",
    "cited_text": "a",
    "document_index": 0,
    "document_title": None,
    "start_char_index": 0,
    "end_char_index": 1,
}


def _tool_turn(use: Body, result: Body, **extra: Any) -> Body:
    """user → assistant(tool_use) → user(tool_result)."""
    return _body(
        _user("Weather in Paris?"),
        _assistant([use]),
        _user([result]),
        tools=[TOOL],
        **extra,
    )


def _thinking_turn(block: Body) -> Body:
    """An assistant turn holding *block* (thinking or redacted), then a user turn."""
    return _body(
        _user("Think first."), _assistant([block, _text("Done.")]), _user("Thanks.")
    )


def _document(source: Body, **extra: Any) -> Body:
    return _ask({"type": "document", "source": source, **extra})


def _cached(n: int, ttl: Body = CACHE) -> list[Body]:
    return [_text(f"Part {i}.", cache_control=ttl) for i in range(n)]


MEDIA = "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
TAG = "Input tag '{}' found using 'type' does not match any of the expected tags: "
BLOCK_TAGS = (
    "'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', "
    "'tool_use', 'tool_result', 'server_tool_use', 'bash_code_execution_tool_result', "
    "'code_execution_tool_result', 'text_editor_code_execution_tool_result', "
    "'tool_search_tool_result', 'web_fetch_tool_result', 'web_search_tool_result', "
    "'container_upload'"
)
RESULT_TAGS = (
    "'text', 'image', 'search_result', 'document', 'tool_reference', 'browser_state'"
)
EXTRA = "Extra inputs are not permitted"
ID_PATTERN = "String should match pattern '^[a-zA-Z0-9_-]+$'"
MAX_4 = "A maximum of 4 blocks with cache_control may be provided. Found 5."
TTL_ORDER = (
    "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control "
    "block. Note that blocks are processed in the following order: `tools`, "
    "`system`, `messages`."
)
MISMATCH = (
    "The image was specified using the {} media type, but the image appears to be "
    "a {} image"
)
BIG = len(_HUGE)


# --- the corpus ---------------------------------------------------------------

# The rejections listed at the top of issue 8, first; then one case per rule.
REJECTS: list[tuple[str, Body, str]] = [
    (
        "issue8-ttl-2h",
        _body(_user([_text("Hi", cache_control={"type": "ephemeral", "ttl": "2h"})])),
        "messages.0.content.0.text.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "issue8-text-extra-key",
        _body(_user("Hi"), _assistant([_text("Hello.", foo=1)]), _user("Go on.")),
        f"messages.1.content.0.text.foo: {EXTRA}",
    ),
    (
        "issue8-png-labelled-jpeg",
        _ask(_image(PNG, "image/jpeg")),
        "messages.0.content.0.image.source.base64: "
        + MISMATCH.format("image/jpeg", "image/png"),
    ),
    (
        "issue8-image-not-base64",
        _ask(_image("not base64!")),
        "messages.0.content.0.image.source.base64: invalid base64 data",
    ),
    (
        "issue8-image-empty",
        _ask(_image("")),
        "messages.0.content.0.image.source.base64: image cannot be empty",
    ),
    (
        "issue8-image-bmp",
        _ask(_image(PNG, "image/bmp")),
        f"messages.0.content.0.image.source.base64.media_type: {MEDIA}",
    ),
    (
        "issue8-tool-use-bad-id",
        _tool_turn({**USE, "id": "bad id!"}, {**RESULT, "tool_use_id": "bad id!"}),
        f"messages.1.content.0.tool_use.id: {ID_PATTERN}",
    ),
    (
        "issue8-unknown-block-type",
        _body(_user([{"type": "nope"}])),
        "messages.0.content.0: " + TAG.format("nope") + BLOCK_TAGS,
    ),
    (
        "issue8-image-media-type-missing",
        _ask({"type": "image", "source": {"type": "base64", "data": PNG}}),
        "messages.0.content.0.image.source.base64.media_type: Field required",
    ),
    (
        "issue8-five-breakpoints",
        _body(
            _user(_cached(3)),
            system=_cached(1),
            tools=[{**TOOL, "cache_control": CACHE}],
        ),
        MAX_4,
    ),
    (
        "issue8-1h-after-5m-in-history",
        _body(
            _user([_text("Earlier question.", cache_control=CACHE)]),
            _assistant("Earlier answer."),
            _user([_text("Now this.", cache_control=HOUR)]),
        ),
        f"messages.2.content.0.cache_control.ttl: {TTL_ORDER}",
    ),
    # cache_control
    (
        "cache-control-type",
        _body(_user([_text("Hi", cache_control={"type": "persistent"})])),
        "messages.0.content.0.text.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "cache-control-extra-key",
        _body(_user([_text("Hi", cache_control={"type": "ephemeral", "scope": "x"})])),
        f"messages.0.content.0.text.cache_control.scope: {EXTRA}",
    ),
    (
        "cache-control-top-level-ttl",
        _body(cache_control={"type": "ephemeral", "ttl": "2h"}),
        "cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "cache-control-on-system-ttl",
        _body(
            system=[
                _text("Be brief.", cache_control={"type": "ephemeral", "ttl": "1d"})
            ]
        ),
        "system.0.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "cache-control-on-tool-type",
        _body(tools=[{**TOOL, "cache_control": {"type": "forever"}}]),
        "tools.0.custom.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "cache-control-on-thinking",
        _thinking_turn(
            {
                "type": "thinking",
                "thinking": "Hm.",
                "signature": "sig",
                "cache_control": CACHE,
            }
        ),
        f"messages.1.content.0.thinking.cache_control: {EXTRA}",
    ),
    (
        "cache-control-on-redacted-thinking",
        _thinking_turn(
            {"type": "redacted_thinking", "data": "opaque", "cache_control": CACHE}
        ),
        f"messages.1.content.0.redacted_thinking.cache_control: {EXTRA}",
    ),
    (
        "cache-control-on-empty-text",
        _body(_user([_image(), _text("", cache_control=CACHE)])),
        "messages.0.content.1.text: cache_control cannot be set for empty text blocks",
    ),
    (
        "breakpoints-five-in-messages",
        _body(_user(_cached(5))),
        MAX_4,
    ),
    (
        "breakpoints-four-plus-automatic",
        _body(_user([*_cached(4), _text("Last.")]), cache_control=CACHE),
        MAX_4,
    ),
    (
        "breakpoints-tools-system-messages-automatic",
        _body(
            _user([*_cached(2), _text("Last.")]),
            system=_cached(1),
            tools=[{**TOOL, "cache_control": CACHE}],
            cache_control=CACHE,
        ),
        MAX_4,
    ),
    (
        "ttl-system-1h-after-tool-5m",
        _body(
            system=[_text("Be brief.", cache_control=HOUR)],
            tools=[{**TOOL, "cache_control": CACHE}],
        ),
        f"system.0.cache_control.ttl: {TTL_ORDER}",
    ),
    (
        "ttl-message-1h-after-system-5m",
        _body(_user([_text("Hi", cache_control=HOUR)]), system=_cached(1, FIVE)),
        f"messages.0.content.0.cache_control.ttl: {TTL_ORDER}",
    ),
    (
        "ttl-automatic-1h-after-5m",
        _body(
            _user([_text("Hi", cache_control=CACHE), _text("Go.")]), cache_control=HOUR
        ),
        f"cache_control.ttl: {TTL_ORDER}",
    ),
    (
        "ttl-nested-tool-result-1h-after-5m",
        _tool_turn(
            {**USE, "cache_control": CACHE},
            {**RESULT, "content": [_text("Sunny.", cache_control=HOUR)]},
        ),
        f"messages.2.content.0.tool_result.content.0.cache_control.ttl: {TTL_ORDER}",
    ),
    (
        "automatic-ttl-conflicts-with-last-block",
        _body(_user([_text("Hi", cache_control=HOUR)]), cache_control=CACHE),
        "Top-level cache_control has ttl='5m' but the target block already has "
        "cache_control with ttl='1h'",
    ),
    # unknown keys
    (
        "message-extra-key",
        _body({"role": "user", "content": "Hi", "name": "bob"}),
        f"messages.0.name: {EXTRA}",
    ),
    (
        "image-extra-key",
        _ask({**_image(), "alt": "x"}),
        f"messages.0.content.0.image.alt: {EXTRA}",
    ),
    (
        "image-source-extra-key",
        _ask(_image(PNG, "image/png", url="https://x")),
        f"messages.0.content.0.image.source.base64.url: {EXTRA}",
    ),
    (
        "image-url-source-extra-key",
        _ask(
            {
                "type": "image",
                "source": {"type": "url", "url": "https://x/a.png", "data": "x"},
            }
        ),
        f"messages.0.content.0.image.source.url.data: {EXTRA}",
    ),
    (
        "document-extra-key",
        _ask({**_pdf(), "pages": 1}),
        f"messages.0.content.0.document.pages: {EXTRA}",
    ),
    (
        "document-source-extra-key",
        _document(
            {"type": "text", "media_type": "text/plain", "data": "d", "title": "t"}
        ),
        f"messages.0.content.0.document.source.text.title: {EXTRA}",
    ),
    (
        "document-citations-extra-key",
        _document(
            {"type": "text", "media_type": "text/plain", "data": "d"},
            citations={"on": True},
        ),
        f"messages.0.content.0.document.citations.on: {EXTRA}",
    ),
    (
        "search-result-extra-key",
        _ask(
            {
                "type": "search_result",
                "source": "https://x",
                "title": "t",
                "content": [_text("x")],
                "url": "https://x",
            }
        ),
        f"messages.0.content.0.search_result.url: {EXTRA}",
    ),
    (
        "search-result-text-extra-key",
        _ask(
            {
                "type": "search_result",
                "source": "https://x",
                "title": "t",
                "content": [_text("x", foo=1)],
            }
        ),
        f"messages.0.content.0.search_result.content.0.foo: {EXTRA}",
    ),
    (
        "tool-use-extra-key",
        _tool_turn({**USE, "status": "ok"}, RESULT),
        f"messages.1.content.0.tool_use.status: {EXTRA}",
    ),
    (
        "tool-result-extra-key",
        _tool_turn(USE, {**RESULT, "name": "get_weather"}),
        f"messages.2.content.0.tool_result.name: {EXTRA}",
    ),
    (
        "tool-result-nested-extra-key",
        _tool_turn(USE, {**RESULT, "content": [_text("Sunny.", foo=1)]}),
        f"messages.2.content.0.tool_result.content.0.text.foo: {EXTRA}",
    ),
    (
        "thinking-extra-key",
        _thinking_turn(
            {"type": "thinking", "thinking": "Hm.", "signature": "s", "x": 1}
        ),
        f"messages.1.content.0.thinking.x: {EXTRA}",
    ),
    (
        "redacted-thinking-extra-key",
        _thinking_turn({"type": "redacted_thinking", "data": "opaque", "x": 1}),
        f"messages.1.content.0.redacted_thinking.x: {EXTRA}",
    ),
    (
        "server-tool-use-extra-key",
        _body(
            _user("Search."),
            _assistant([{**SEARCH, "x": 1}, SEARCH_RESULT]),
            _user("Ok."),
        ),
        f"messages.1.content.0.server_tool_use.x: {EXTRA}",
    ),
    (
        "web-search-result-extra-key",
        _body(
            _user("Search."),
            _assistant([SEARCH, {**SEARCH_RESULT, "x": 1}]),
            _user("Ok."),
        ),
        f"messages.1.content.1.web_search_tool_result.x: {EXTRA}",
    ),
    (
        "code-execution-result-caller",
        _body(
            _user("Run."),
            _assistant(
                [
                    {**SEARCH, "name": "code_execution", "input": {"code": "1"}},
                    {
                        "type": "code_execution_tool_result",
                        "tool_use_id": "srvtoolu_01",
                        "content": {
                            "type": "code_execution_tool_result_error",
                            "error_code": "unavailable",
                        },
                        "caller": {"type": "direct"},
                    },
                ]
            ),
            _user("Ok."),
        ),
        f"messages.1.content.1.code_execution_tool_result.caller: {EXTRA}",
    ),
    (
        "container-upload-extra-key",
        _ask({"type": "container_upload", "file_id": "file_01", "name": "a.csv"}),
        f"messages.0.content.0.container_upload.name: {EXTRA}",
    ),
    (
        "system-block-extra-key",
        _body(system=[_text("Be brief.", id="lc_1")]),
        f"system.0.id: {EXTRA}",
    ),
    (
        "custom-tool-extra-key",
        _body(tools=[{**TOOL, "parameters": {}}]),
        f"tools.0.custom.parameters: {EXTRA}",
    ),
    (
        "server-tool-extra-key",
        _body(tools=[{**WEB_SEARCH, "max_results": 3}]),
        f"tools.0.web_search_20250305.max_results: {EXTRA}",
    ),
    (
        "server-tool-name-missing",
        _body(tools=[{"type": "web_search_20250305"}]),
        "tools.0.web_search_20250305.name: Field required",
    ),
    (
        "server-tool-wrong-name",
        _body(tools=[{**WEB_SEARCH, "name": "search"}]),
        "tools.0.web_search_20250305.name: Input should be 'web_search'",
    ),
    # images
    (
        "image-jpeg-labelled-png",
        _ask(_image(JPEG, "image/png")),
        "messages.0.content.0.image.source.base64: "
        + MISMATCH.format("image/png", "image/jpeg"),
    ),
    (
        "image-gif-labelled-webp",
        _ask(_image(GIF, "image/webp")),
        "messages.0.content.0.image.source.base64: "
        + MISMATCH.format("image/webp", "image/gif"),
    ),
    (
        "image-data-url-prefix",
        _ask(_image("data:image/png;base64," + PNG)),
        "messages.0.content.0.image.source.base64: invalid base64 data",
    ),
    (
        "image-not-an-image",
        _ask(_image(_b64(b"hello, world"))),
        "Could not process image",
    ),
    (
        "image-pdf-bytes",
        _ask(_image(PDF)),
        "Could not process image",
    ),
    (
        "image-type-jpg",
        _ask(_image(JPEG, "image/jpg")),
        f"messages.0.content.0.image.source.base64.media_type: {MEDIA}",
    ),
    (
        "image-over-10mb",
        _ask(_image(_HUGE)),
        f"messages.0.content.0.image.source.base64: image exceeds 10 MB maximum: {BIG} "
        "bytes > 10485760 bytes",
    ),
    (
        "image-over-8000px",
        _ask(_image(_b64(png_bytes(8001, 1)))),
        "messages.0.content.0.image.source.base64.data: At least one of the image "
        "dimensions exceed max allowed size: 8000 pixels",
    ),
    (
        "image-many-with-one-over-2000px",
        _body(
            _user([_image(_b64(png_bytes(1, 2001))), *[_image() for _ in range(20)]])
        ),
        "messages.0.content.0.image.source.base64.data: At least one of the image "
        "dimensions exceed max allowed size for many-image requests: 2000 pixels",
    ),
    (
        "image-many-counting-tool-results",
        _tool_turn(
            USE,
            {
                **RESULT,
                "content": [
                    _image(_b64(png_bytes(2001, 1))),
                    *[_image() for _ in range(20)],
                ],
            },
        ),
        "messages.2.content.0.tool_result.content.0.image.source.base64.data: At least "
        "one of the image dimensions exceed max allowed size for many-image requests: "
        "2000 pixels",
    ),
    (
        "image-url-source-without-url",
        _ask({"type": "image", "source": {"type": "url"}}),
        "messages.0.content.0.image.source.url.url: Field required",
    ),
    (
        "image-file-source-without-file-id",
        _ask({"type": "image", "source": {"type": "file"}}),
        "messages.0.content.0.image.source.file.file_id: Field required",
    ),
    (
        "image-unknown-source-type",
        _ask({"type": "image", "source": {"type": "path", "path": "a.png"}}),
        "messages.0.content.0.image.source: "
        + TAG.format("path")
        + "'base64', 'file', 'url'",
    ),
    (
        "image-in-tool-result-mismatched",
        _tool_turn(USE, {**RESULT, "content": [_image(PNG, "image/jpeg")]}),
        "messages.2.content.0.tool_result.content.0.image.source.base64: "
        + MISMATCH.format("image/jpeg", "image/png"),
    ),
    # documents
    (
        "pdf-not-a-pdf",
        _ask(_pdf(PNG)),
        "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
    ),
    (
        "pdf-not-base64",
        _ask(_pdf("%PDF-1.4 not base64")),
        "messages.0.content.0.document.source.base64: Invalid base64 data",
    ),
    (
        "pdf-empty",
        _ask(_pdf("")),
        "messages.0.content.0.document.source.base64: PDF cannot be empty",
    ),
    (
        "pdf-wrong-media-type",
        _ask(_pdf(PDF, "application/x-pdf")),
        "messages.0.content.0.document.source.base64.media_type: Input should be "
        "'application/pdf'",
    ),
    (
        "pdf-source-markdown-base64",
        _ask(_pdf(_b64(b"# Notes"), "text/markdown")),
        "messages.0.content.0.document.source.base64.media_type: Input should be "
        "'application/pdf'",
    ),
    (
        "text-document-wrong-media-type",
        _document({"type": "text", "media_type": "text/markdown", "data": "# Notes"}),
        "messages.0.content.0.document.source.text.media_type: Input should be "
        "'text/plain'",
    ),
    (
        "document-unknown-source-type",
        _document({"type": "html", "data": "<p>x</p>"}),
        "messages.0.content.0.document.source: "
        + TAG.format("html")
        + "'base64', 'content', 'file', 'text', 'url'",
    ),
    (
        "document-url-source-without-url",
        _document({"type": "url"}),
        "messages.0.content.0.document.source.url.url: Field required",
    ),
    (
        "document-content-source-tool-use",
        _document({"type": "content", "content": [USE]}),
        "messages.0.content.0.document.source.content.content.0: "
        + TAG.format("tool_use")
        + "'text', 'image'",
    ),
    # tool_use / tool_result
    (
        "tool-use-id-dots",
        _tool_turn({**USE, "id": "functions.get_weather:0"}, RESULT),
        f"messages.1.content.0.tool_use.id: {ID_PATTERN}",
    ),
    (
        "tool-use-id-empty",
        _tool_turn({**USE, "id": ""}, RESULT),
        f"messages.1.content.0.tool_use.id: {ID_PATTERN}",
    ),
    (
        "tool-use-name-empty",
        _tool_turn({**USE, "name": ""}, RESULT),
        "messages.1.content.0.tool_use.name: String should have at least 1 character",
    ),
    (
        "tool-use-name-over-200",
        _tool_turn({**USE, "name": "n" * 201}, RESULT),
        "messages.1.content.0.tool_use.name: String should have at most 200 characters",
    ),
    (
        "tool-use-input-list",
        _tool_turn({**USE, "input": ["Paris"]}, RESULT),
        "messages.1.content.0.tool_use.input: Input should be a valid dictionary",
    ),
    (
        "tool-use-input-json-string",
        _tool_turn({**USE, "input": '{"city": "Paris"}'}, RESULT),
        "messages.1.content.0.tool_use.input: Input should be a valid dictionary",
    ),
    (
        "server-tool-use-id-pattern",
        _body(
            _user("Search."),
            _assistant(
                [
                    {**SEARCH, "id": "toolu_01"},
                    {**SEARCH_RESULT, "tool_use_id": "toolu_01"},
                ]
            ),
            _user("Ok."),
        ),
        "messages.1.content.0.server_tool_use.id: String should match pattern "
        "'^srvtoolu_[a-zA-Z0-9_]+$'",
    ),
    (
        "tool-result-id-pattern",
        _tool_turn(USE, {**RESULT, "tool_use_id": "toolu 01"}),
        f"messages.2.content.0.tool_result.tool_use_id: {ID_PATTERN}",
    ),
    (
        "tool-result-is-error-string",
        _tool_turn(USE, {**RESULT, "is_error": "yes"}),
        "messages.2.content.0.tool_result.is_error: Input should be a valid boolean",
    ),
    (
        "tool-result-holds-tool-use",
        _tool_turn(USE, {**RESULT, "content": [USE]}),
        "messages.2.content.0.tool_result.content.0: "
        + TAG.format("tool_use")
        + RESULT_TAGS,
    ),
    (
        "tool-result-holds-thinking",
        _tool_turn(
            USE,
            {
                **RESULT,
                "content": [{"type": "thinking", "thinking": "x", "signature": "s"}],
            },
        ),
        "messages.2.content.0.tool_result.content.0: "
        + TAG.format("thinking")
        + RESULT_TAGS,
    ),
    (
        "tool-definition-name-pattern",
        _body(tools=[{**TOOL, "name": "get.weather"}]),
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "tool-definition-name-over-128",
        _body(tools=[{**TOOL, "name": "t" * 129}]),
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    # block types
    (
        "block-type-missing",
        _body(_user([{"text": "Hi"}])),
        "messages.0.content.0: Unable to extract tag using discriminator 'type'",
    ),
    (
        "block-type-input-text",
        _body(_user([{"type": "input_text", "text": "Hi"}])),
        "messages.0.content.0: " + TAG.format("input_text") + BLOCK_TAGS,
    ),
    (
        "citation-unknown-type",
        _body(
            _user("Hi"),
            _assistant([_text("x", citations=[{"type": "url"}])]),
            _user("Ok."),
        ),
        "messages.1.content.0.text.citations.0: "
        + TAG.format("url")
        + "'char_location', 'page_location', 'content_block_location', "
        "'web_search_result_location', 'search_result_location'",
    ),
]

REJECTS_2026: list[tuple[str, Body, str]] = [
    (
        "citations-on-user-text",
        _body(_user([_text("Quoted.", citations=[CITATION])])),
        "messages.0.content.0.text.citations: citations are not permitted on text "
        "blocks in `user` messages",
    ),
    (
        "citations-in-user-search-result",
        _ask(
            {
                "type": "search_result",
                "source": "https://x",
                "title": "t",
                "content": [_text("x", citations=[CITATION])],
            }
        ),
        "messages.0.content.0.search_result.content.0.citations: citations are not "
        "permitted on text blocks in `user` messages",
    ),
    (
        "document-in-assistant",
        _body(
            _user("Hi"),
            _assistant(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "d",
                        },
                    }
                ]
            ),
            _user("Ok."),
        ),
        "messages.1.content.0: `document` blocks are not permitted directly in "
        "`assistant` messages",
    ),
    (
        "temperature-removed",
        _body(temperature=1.0),
        f"temperature: {EXTRA}",
    ),
]

ACCEPTS: list[tuple[str, Body]] = [
    ("png", _ask(_image(PNG, "image/png"))),
    ("jpeg", _ask(_image(JPEG, "image/jpeg"))),
    ("gif", _ask(_image(GIF, "image/gif"))),
    ("webp", _ask(_image(WEBP, "image/webp"))),
    ("image-8000px", _ask(_image(_b64(png_bytes(8000, 1))))),
    (
        "image-url-and-file",
        _ask(
            {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
            {"type": "image", "source": {"type": "file", "file_id": "file_01"}},
        ),
    ),
    (
        "images-20-over-2000px",
        _body(_user([_image(_b64(png_bytes(2100, 1))) for _ in range(20)])),
    ),
    (
        "images-21-small",
        _body(
            _user([_image(_b64(png_bytes(2000, 1))), *[_image() for _ in range(20)]])
        ),
    ),
    ("pdf", _ask(_pdf())),
    (
        "pdf-cached-with-title",
        _ask(
            {
                **_pdf(),
                "title": "Report",
                "cache_control": CACHE,
                "citations": {"enabled": True},
            }
        ),
    ),
    (
        "text-document",
        _document({"type": "text", "media_type": "text/plain", "data": "# Notes"}),
    ),
    (
        "content-document",
        _document({"type": "content", "content": [_text("c"), _image()]}),
    ),
    ("url-document", _document({"type": "url", "url": "https://x/a.pdf"})),
    (
        "search-result",
        _ask(
            {
                "type": "search_result",
                "source": "https://x",
                "title": "t",
                "content": [_text("x")],
                "citations": {"enabled": True},
                "cache_control": CACHE,
            }
        ),
    ),
    ("tool-round-trip", _tool_turn(USE, RESULT)),
    (
        "tool-ids-dashes-underscores",
        _tool_turn(
            {**USE, "id": "call_A-b_9"}, {**RESULT, "tool_use_id": "call_A-b_9"}
        ),
    ),
    ("tool-use-name-200", _tool_turn({**USE, "name": "n" * 200}, RESULT)),
    (
        "tool-result-rich",
        _tool_turn(
            {**USE, "cache_control": CACHE},
            {
                **RESULT,
                "is_error": False,
                "content": [_text("Sunny."), _image(JPEG, "image/jpeg"), _pdf()],
                "cache_control": CACHE,
            },
        ),
    ),
    ("tool-definition-name-128", _body(tools=[{**TOOL, "name": "t" * 128}])),
    (
        "server-tool-round-trip",
        _body(
            _user("Search."),
            _assistant([SEARCH, SEARCH_RESULT, _text("Found nothing.")]),
            _user("Ok."),
            tools=[WEB_SEARCH],
        ),
    ),
    ("ttl-5m-explicit", _body(_user([_text("Hi", cache_control=FIVE)]))),
    (
        "ttl-1h-before-5m-in-history",
        _body(
            _user([_text("Earlier question.", cache_control=HOUR)]),
            _assistant("Earlier answer."),
            _user([_text("Now this.", cache_control=CACHE)]),
        ),
    ),
    (
        "ttl-tools-1h-system-1h-messages-5m",
        _body(
            _user([_text("Hi", cache_control=CACHE)]),
            system=[_text("Be brief.", cache_control=HOUR)],
            tools=[{**TOOL, "cache_control": HOUR}],
        ),
    ),
    (
        "breakpoints-four",
        _body(
            _user(_cached(2)),
            system=_cached(1),
            tools=[{**TOOL, "cache_control": CACHE}],
        ),
    ),
    (
        "breakpoints-three-plus-automatic",
        _body(
            _user([*_cached(2), _text("Last.")]), system=_cached(1), cache_control=CACHE
        ),
    ),
    (
        "breakpoints-automatic-same-ttl-as-last",
        _body(_user(_cached(4)), cache_control=CACHE),
    ),
    (
        "cache-control-null",
        _body(_user([_text("Hi", cache_control=None)])),
    ),
    (
        "container-upload",
        _ask(
            {"type": "container_upload", "file_id": "file_01", "cache_control": CACHE}
        ),
    ),
    (
        "assistant-citations",
        _body(
            _user("Hi"),
            _assistant([_text("Quoted.", citations=[CITATION])]),
            _user("Ok."),
        ),
    ),
]

ACCEPTS_2026: list[tuple[str, Body]] = [
    (
        "assistant-citations-2026",
        _body(
            _user("Hi"),
            _assistant([_text("Quoted.", citations=[CITATION])]),
            _user("Ok."),
        ),
    ),
    ("user-text-without-citations-2026", _body(_user([_text("Plain.")]))),
    ("document-in-user-2026", _ask(_pdf())),
]

_LOCATION = re.compile(r"^[a-z_]+(?:\.[A-Za-z0-9_]+)*: ")


def rule_text(message: str) -> str:
    """Return *message* without the API's location prefix (``messages.0.content...: ``)."""
    return _LOCATION.sub("", message, count=1)
