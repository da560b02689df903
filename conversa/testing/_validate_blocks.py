"""Shape rules for messages and content blocks (https://docs.claude.com/en/api/messages).

Each block type has a spec: its required and optional keys (the official SDK's
``*BlockParam`` types), the roles it may appear in, and a check for its values.

Error texts are the API's. Its pydantic errors name a location that includes the
block's tag after its position (``messages.1.content.0.text.foo: Extra inputs are
not permitted``, ``messages.0.content.2.image.source.base64.media_type: Input
should be ...``, ``messages.2.content.0.tool_result.content.0.image.source...``);
so every check gets two paths: *path*, the block's position, and *where*, the
location pydantic reports (the position plus the tag where the API's type is a
tagged union). Where the API's text is known it is quoted verbatim; each such text
names its source in a comment (GitHub issue threads quoting the server's 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from ._tokens import decode_base64, image_size, sniff_image
from ._validate_base import (
    Ctx,
    as_dict,
    check_cache_control,
    check_keys,
    check_length,
    check_pattern,
    check_str,
    reject,
    reject_tag,
)

__all__ = ["MESSAGE_SPECS", "SERVER_RESULTS", "Spec", "check_block", "check_content"]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
# "messages.N.content.M.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
# (CommandCodeAI/command-code#323, BlockRunAI/ClawRouter#17, 2026); the same pattern
# for tool_result.tool_use_id (token.js regression test quoting the 400).
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
# "content.2.server_tool_use.id: String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'"
# (ding113/claude-code-hub#470, 2025-12).
SERVER_TOOL_ID = re.compile(r"^srvtoolu_[a-zA-Z0-9_]+$")
# "tool_use.name: String should have at least 1 character" / "... at most 200
# characters": the API checks a tool_use name's length, not a pattern (TanStack/ai
# #536; Claude Code 2.1 changelog "stuck on tool_use.name: String should have at
# most 200 characters").
TOOL_USE_NAME_MAX = 200
SERVER_RESULTS = frozenset(
    {
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
    }
)
SERVER_TOOLS = (
    "web_search",
    "web_fetch",
    "code_execution",
    "bash_code_execution",
    "text_editor_code_execution",
    "tool_search_tool_regex",
    "tool_search_tool_bm25",
)
CITATION_TYPES = (
    "char_location",
    "page_location",
    "content_block_location",
    "web_search_result_location",
    "search_result_location",
)


def _text(ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str) -> None:
    check_str(block["text"], f"{where}.text")
    root = "system" if path.startswith("system") else "messages"
    if block.get("cache_control") is not None and not block["text"]:
        # "messages.29.content.0.text: cache_control cannot be set for empty text
        # blocks" (NousResearch/hermes-agent#1216; anthropics/claude-code#55302).
        reject(f"{where}: cache_control cannot be set for empty text blocks")
    if not block["text"]:
        reject(f"{root}: text content blocks must be non-empty")
    if not block["text"].strip():
        reject(f"{root}: text content blocks must contain non-whitespace text")
    citations = block.get("citations")
    if citations is not None:
        if not isinstance(citations, list):
            reject(f"{where}.citations: Input should be a valid list")
        for n, citation in enumerate(citations):
            at = f"{where}.citations.{n}"
            kind = as_dict(citation, at).get("type")
            if kind not in CITATION_TYPES:
                reject_tag(at, kind, CITATION_TYPES)
    if ctx.new_api and role == "user" and citations:
        # 2026-10-21: user text may not carry citations (assistant echoes may).
        reject(
            f"{where}.citations: citations are not permitted on text blocks in "
            "`user` messages"
        )


def _base64_image(source: Mapping[str, Any], path: str, where: str) -> None:
    check_keys(source, where, ("data", "media_type", "type"), ())
    media_type = source["media_type"]
    if media_type not in IMAGE_TYPES:
        # "messages.36.content.2.image.source.base64.media_type: Input should be
        # 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
        # (anthropics/claude-code#8184, 2025-09).
        reject(
            f"{where}.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'"
        )
    data = source["data"]
    check_str(data, f"{where}.data")
    if not data:
        # "messages.118.content.4.image.source.base64: image cannot be empty"
        # (anthropics/claude-code#12750, 2025-11).
        reject(f"{where}: image cannot be empty")
    size = len(data)
    if size > MAX_IMAGE_BYTES:
        # "messages.2.content.0.image.source.base64: image exceeds 5 MB maximum:
        # 8259148 bytes > 5242880 bytes" (anthropics/claude-code#19631), measured on
        # the base64 text; the direct API's limit is 10 MB.
        reject(
            f"{where}: image exceeds 10 MB maximum: {size} bytes > "
            f"{MAX_IMAGE_BYTES} bytes"
        )
    raw = decode_base64(data)
    if raw is None:
        # "messages.2.content.0.tool_result.content.0.image.source.base64: invalid
        # base64 data" (anthropics/anthropic-sdk-typescript#603, 2024-11;
        # Yeachan-Heo/gajae-code#2813, 2026-07), lower case in both.
        reject(f"{where}: invalid base64 data")
    actual = sniff_image(raw)
    dims = image_size(raw)
    if actual is None or dims is None or min(dims) < 1:
        # A bare "Could not process image", no path (anthropics/claude-code#1747,
        # #8647, #56511, 2025-06 to 2026-05).
        reject("Could not process image")
    if actual != media_type:
        # "messages.92.content.0.tool_result.content.1.image.source.base64: The image
        # was specified using the image/png media type, but the image appears to be
        # a image/jpeg image" (BerriAI/litellm#24900, home-assistant/core#167208,
        # 2026-04; vybestack/llxprt-code#2130, 2026-06). Before 2026 the API said
        # "...image.source.base64.data: Image does not match the provided media
        # type image/png" (anthropics/claude-code#12015, 2025-11).
        reject(
            f"{where}: The image was specified using the {media_type} media type, "
            f"but the image appears to be a {actual} image"
        )
    if max(dims) > MAX_IMAGE_SIDE:
        # anthropics/claude-code#4778 (2025-08), can1357/oh-my-pi#10633 (2026-09).
        reject(
            f"{where}.data: At least one of the image dimensions exceed max allowed "
            f"size: {MAX_IMAGE_SIDE} pixels"
        )


SourceCheck = Callable[[Mapping[str, Any], str, str], None]


def _fields(*keys: str) -> SourceCheck:
    """Check a source that holds only string *keys* (url, file_id)."""

    def check(source: Mapping[str, Any], path: str, where: str) -> None:
        check_keys(source, where, ("type", *keys), ())
        for key in keys:
            check_str(source[key], f"{where}.{key}")

    return check


def _source(
    block: Mapping[str, Any], path: str, where: str, kinds: Mapping[str, SourceCheck]
) -> Mapping[str, Any]:
    at = f"{where}.source"
    source = as_dict(block["source"], at)
    kind = source.get("type")
    if not isinstance(kind, str):
        reject(f"{at}: Unable to extract tag using discriminator 'type'")
    if kind not in kinds:
        # "messages.10.content.0.document.source: Input tag 'file' found using
        # 'type' does not match any of the expected tags: 'base64', 'content',
        # 'text', 'url'" (a 2025 server answer quoted in a public repository).
        reject_tag(at, kind, sorted(kinds))
    kinds[kind](source, path, f"{at}.{kind}")
    return source


def _image(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    kinds = {"base64": _base64_image, "url": _fields("url"), "file": _fields("file_id")}
    source = _source(block, path, where, kinds)
    if block.get("transformations") is not None:
        as_dict(block["transformations"], f"{where}.transformations")
    if ctx.endpoint == "count_tokens" and source["type"] != "base64":
        reject(
            f"{path}.source: count_tokens does not support images or documents "
            "with `url` or `file` sources; send them as base64"
        )


def _pdf(source: Mapping[str, Any], path: str, where: str) -> None:
    check_keys(source, where, ("data", "media_type", "type"), ())
    if source["media_type"] != "application/pdf":
        # "...document.source.base64.media_type: Input should be 'application/pdf'"
        # (quoted by several public repositories, 2025-2026).
        reject(f"{where}.media_type: Input should be 'application/pdf'")
    data = source["data"]
    check_str(data, f"{where}.data")
    if not data:
        # "messages.0.content.0.document.source.base64: PDF cannot be empty",
        # checked against the API in 2026-09 (a public repository's test).
        reject(f"{where}: PDF cannot be empty")
    raw = decode_base64(data)
    if raw is None:
        # "messages.0.content.0.document.source.base64: Invalid base64 data"
        # (a public repository's regression test); images say it in lower case.
        reject(f"{where}: Invalid base64 data")
    if not raw.startswith(b"%PDF-"):
        # The PDF check names the block `pdf`, not `document`:
        # "messages.2.content.0.pdf.source.base64.data: The PDF specified was not
        # valid." (anthropics/claude-code#5174, 2025-08; the same in 2026-09).
        reject(f"{path}.pdf.source.base64.data: The PDF specified was not valid.")


def _plain_text(source: Mapping[str, Any], path: str, where: str) -> None:
    check_keys(source, where, ("data", "media_type", "type"), ())
    if source["media_type"] != "text/plain":
        reject(f"{where}.media_type: Input should be 'text/plain'")
    check_str(source["data"], f"{where}.data")


def _citations_config(block: Mapping[str, Any], where: str) -> None:
    # document and search_result blocks take ``{"enabled": bool}`` (CitationsConfigParam).
    value = block.get("citations")
    if value is None:
        return
    config = as_dict(value, f"{where}.citations")
    check_keys(config, f"{where}.citations", (), ("enabled",))
    if "enabled" in config and not isinstance(config["enabled"], bool):
        reject(f"{where}.citations.enabled: Input should be a valid boolean")


def _document(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    if ctx.new_api and role == "assistant":
        reject(
            f"{path}: `document` blocks are not permitted directly in `assistant` "
            "messages"
        )

    def content(source: Mapping[str, Any], path: str, at: str) -> None:
        check_keys(source, at, ("content", "type"), ())
        inner = source["content"]
        if not isinstance(inner, str):
            nested = {"text": _SPECS["text"], "image": _SPECS["image"]}
            check_content(ctx, inner, f"{at}.content", role, nested)

    kinds: dict[str, SourceCheck] = {
        "base64": _pdf,
        "text": _plain_text,
        "content": content,
        "url": _fields("url"),
        "file": _fields("file_id"),
    }
    source = _source(block, path, where, kinds)
    if ctx.endpoint == "count_tokens" and source["type"] in ("url", "file"):
        reject(
            f"{path}.source: count_tokens does not support images or documents "
            "with `url` or `file` sources; send them as base64"
        )
    for key in ("title", "context"):
        check_str(block.get(key), f"{where}.{key}", nullable=True)
    _citations_config(block, where)


def _search_result(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    check_str(block["source"], f"{where}.source")
    check_str(block["title"], f"{where}.title")
    if not isinstance(block["content"], list):
        reject(f"{where}.content: Input should be a valid list")
    # A list of TextBlockParam, not a union: no tag in the nested locations.
    text = {"text": _SPECS["text"]}
    check_content(ctx, block["content"], f"{where}.content", role, text, tagged=False)
    _citations_config(block, where)


def _thinking(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    check_str(block["thinking"], f"{where}.thinking")
    check_str(block["signature"], f"{where}.signature")


def _tool_use(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    server = block["type"] == "server_tool_use"
    check_pattern(block["id"], f"{where}.id", SERVER_TOOL_ID if server else TOOL_ID)
    if server:
        check_str(block["name"], f"{where}.name")
        if block["name"] not in SERVER_TOOLS:
            expected = ", ".join(f"'{n}'" for n in SERVER_TOOLS[:-1])
            reject(f"{where}.name: Input should be {expected} or '{SERVER_TOOLS[-1]}'")
    else:
        check_length(block["name"], f"{where}.name", 1, TOOL_USE_NAME_MAX)
    # "messages.5.content.1.tool_use.input: Input should be a valid dictionary"
    # (quoted in a public repository's notes).
    as_dict(block["input"], f"{where}.input")


def _tool_result(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    check_pattern(block["tool_use_id"], f"{where}.tool_use_id", TOOL_ID)
    if "is_error" in block and not isinstance(block["is_error"], bool):
        reject(f"{where}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is not None and not isinstance(content, str):
        check_content(ctx, content, f"{where}.content", role, _RESULT_SPECS)


def _server_result(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    check_str(block["tool_use_id"], f"{where}.tool_use_id")
    if not isinstance(block["content"], (list, Mapping)):
        reject(f"{where}.content: Input should be a valid list or dictionary")


def _plain(
    ctx: Ctx, block: Mapping[str, Any], path: str, where: str, role: str
) -> None:
    for key in ("file_id", "data", "tool_name"):
        if key in block:
            check_str(block[key], f"{where}.{key}")


Check = Callable[[Ctx, Mapping[str, Any], str, str, str], None]
_BOTH = frozenset({"user", "assistant"})
_ASSISTANT = frozenset({"assistant"})
_USER = frozenset({"user"})
_ANY_ROLE = frozenset({"user", "assistant", "system"})


@frozen
class Spec:
    """What one block type may hold and where it may appear."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    check: Check
    roles: frozenset[str] = _BOTH


# Keys from the SDK's *BlockParam types (anthropic 2.x, types/*_block_param.py).
_CACHE = ("cache_control",)
_CALLER = frozenset({"web_search_tool_result", "web_fetch_tool_result"})
_SPECS: dict[str, Spec] = {
    "text": Spec(("text", "type"), (*_CACHE, "citations"), _text, _ANY_ROLE),
    "image": Spec(("source", "type"), (*_CACHE, "transformations"), _image),
    "document": Spec(
        ("source", "type"), (*_CACHE, "citations", "context", "title"), _document
    ),
    "search_result": Spec(
        ("content", "source", "title", "type"), (*_CACHE, "citations"), _search_result
    ),
    # No cache_control: "messages.13.content.0.thinking.cache_control: Extra inputs
    # are not permitted" (Wei-Shaw/sub2api#225, LeenHawk/gproxy#67, 2026).
    "thinking": Spec(("signature", "thinking", "type"), (), _thinking, _ASSISTANT),
    "redacted_thinking": Spec(("data", "type"), (), _plain, _ASSISTANT),
    "tool_use": Spec(
        ("id", "input", "name", "type"),
        (*_CACHE, "caller", "toolset_name"),
        _tool_use,
        _ASSISTANT,
    ),
    "tool_result": Spec(
        ("tool_use_id", "type"),
        (*_CACHE, "content", "is_error", "toolset_name"),
        _tool_result,
        _USER,
    ),
    "server_tool_use": Spec(
        ("id", "input", "name", "type"), (*_CACHE, "caller"), _tool_use, _ASSISTANT
    ),
    **{
        kind: Spec(
            ("content", "tool_use_id", "type"),
            (*_CACHE, "caller") if kind in _CALLER else _CACHE,
            _server_result,
            _ASSISTANT,
        )
        for kind in sorted(SERVER_RESULTS)
    },
    "container_upload": Spec(("file_id", "type"), _CACHE, _plain),
}
_RESULT_SPECS: dict[str, Spec] = {
    "text": _SPECS["text"],
    "image": _SPECS["image"],
    "search_result": _SPECS["search_result"],
    "document": _SPECS["document"],
    "tool_reference": Spec(("tool_name", "type"), _CACHE, _plain),
    "browser_state": Spec(("tabs", "type"), (*_CACHE, "state_changes"), _plain),
}
MESSAGE_SPECS = _SPECS


def check_block(
    ctx: Ctx,
    block: Any,
    path: str,
    role: str,
    specs: Mapping[str, Spec],
    *,
    tagged: bool = True,
) -> None:
    """Check one content block against *specs*, the block types allowed here.

    *tagged* says whether the API's type here is a tagged union, whose errors name
    the tag after the position (content lists), or a single block type (system).
    """
    block = as_dict(block, path)
    kind = block.get("type")
    if not isinstance(kind, str):
        reject(f"{path}: Unable to extract tag using discriminator 'type'")
    spec = specs.get(kind)
    if spec is None:
        reject_tag(path, kind, specs)
    if role not in spec.roles:
        reject(f"{path}: `{kind}` blocks are not allowed in `{role}` messages")
    where = f"{path}.{kind}" if tagged else path
    check_keys(block, where, spec.required, spec.optional)
    check_cache_control(block.get("cache_control"), f"{where}.cache_control")
    spec.check(ctx, block, path, where, role)


def check_content(
    ctx: Ctx,
    content: Any,
    path: str,
    role: str,
    specs: Mapping[str, Spec],
    *,
    tagged: bool = True,
) -> None:
    """Check a list of blocks (or a string, where *specs* allows text)."""
    if isinstance(content, str):
        if content and "text" in specs:
            text = {"type": "text", "text": content}
            _text(ctx, text, path, path, role)
        return
    if not isinstance(content, list):
        reject(f"{path}: Input should be a valid string or list of blocks")
    for index, block in enumerate(content):
        check_block(ctx, block, f"{path}.{index}", role, specs, tagged=tagged)
