"""Shape rules for messages and content blocks (MESSAGES_API.md §1b, §2, §3.2).

Each block type has a spec: its required and optional keys, the roles it may appear
in, and a check for its values. Error texts follow the API's pydantic style
(``messages.0.content.1.source.media_type: Input should be ...``) and quote the API
verbatim where MESSAGES_API.md gives a text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from attrs import frozen

from ._tokens import decode_base64, image_size, sniff_image
from ._validate_base import (
    Ctx,
    as_dict,
    check_cache_control,
    check_keys,
    check_str,
    reject,
)

__all__ = ["MESSAGE_SPECS", "SERVER_RESULTS", "Spec", "check_block", "check_content"]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
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


def _text(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["text"], f"{path}.text")
    where = "system" if path.startswith("system") else "messages"
    if block.get("cache_control") is not None and not block["text"]:
        reject(f"{path}: cache_control cannot be set for empty text blocks")
    if not block["text"]:
        reject(f"{where}: text content blocks must be non-empty")
    if not block["text"].strip():
        reject(f"{where}: text content blocks must contain non-whitespace text")
    citations = block.get("citations")
    if citations is not None and not isinstance(citations, list):
        reject(f"{path}.citations: Input should be a valid list")
    if ctx.new_api and role == "user" and citations:
        # 2026-10-21: user text may not carry citations (assistant echoes may).
        reject(
            f"{path}.citations: citations are not permitted on text blocks in "
            "`user` messages"
        )


def _base64_image(source: Mapping[str, Any], path: str) -> None:
    check_keys(source, path, ("data", "media_type", "type"), ())
    if source["media_type"] not in IMAGE_TYPES:
        reject(
            f"{path}.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'"
        )
    check_str(source["data"], f"{path}.data")
    size = len(source["data"])
    if size > MAX_IMAGE_BYTES:
        reject(
            f"{path}: image exceeds 10 MB maximum: {size} bytes > {MAX_IMAGE_BYTES} bytes"
        )
    raw = decode_base64(source["data"])
    actual = sniff_image(raw) if raw is not None else None
    if raw is None or actual is None:
        reject(f"{path}.data: Could not process image")
    if actual != source["media_type"]:
        reject(
            f"{path}.data: The image was specified using the {source['media_type']} "
            f"media type, but the image appears to be a {actual} image"
        )
    dims = image_size(raw)
    if dims is not None and max(dims) > MAX_IMAGE_SIDE:
        reject(
            f"{path}.data: At least one of the image dimensions exceed max allowed "
            f"size: {MAX_IMAGE_SIDE} pixels"
        )


def _source(source: Mapping[str, Any], path: str, kinds: Mapping[str, Any]) -> None:
    kind = source.get("type")
    if kind not in kinds:
        expected = ", ".join(f"'{k}'" for k in kinds)
        reject(
            f"{path}: Input tag '{kind}' found using 'type' does not match any of "
            f"the expected tags: {expected}"
        )
    check = kinds[str(kind)]
    if callable(check):
        check(source, f"{path}.{kind}")
    else:
        check_keys(source, f"{path}.{kind}", ("type", *check), ())
        for key in check:
            if key != "content":
                check_str(source[key], f"{path}.{kind}.{key}")


def _image(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    source = as_dict(block["source"], f"{path}.source")
    kinds = {"base64": _base64_image, "url": ("url",), "file": ("file_id",)}
    _source(source, f"{path}.source", kinds)
    if ctx.endpoint == "count_tokens" and source["type"] != "base64":
        reject(
            f"{path}.source: count_tokens does not support images or documents "
            "with `url` or `file` sources; send them as base64"
        )


def _pdf(source: Mapping[str, Any], path: str) -> None:
    check_keys(source, path, ("data", "media_type", "type"), ())
    if source["media_type"] != "application/pdf":
        reject(f"{path}.media_type: Input should be 'application/pdf'")
    check_str(source["data"], f"{path}.data")
    raw = decode_base64(source["data"])
    if raw is None or not raw.startswith(b"%PDF-"):
        reject(f"{path}.data: The PDF specified was not valid.")


def _plain_text(source: Mapping[str, Any], path: str) -> None:
    check_keys(source, path, ("data", "media_type", "type"), ())
    if source["media_type"] != "text/plain":
        reject(f"{path}.media_type: Input should be 'text/plain'")
    check_str(source["data"], f"{path}.data")


def _document(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    if ctx.new_api and role == "assistant":
        reject(
            f"{path}: `document` blocks are not permitted directly in `assistant` "
            "messages"
        )
    source = as_dict(block["source"], f"{path}.source")
    kinds = {
        "base64": _pdf,
        "text": _plain_text,
        "content": ("content",),
        "url": ("url",),
        "file": ("file_id",),
    }
    _source(source, f"{path}.source", kinds)
    if source["type"] == "content" and not isinstance(source["content"], str):
        nested = {"text": _SPECS["text"], "image": _SPECS["image"]}
        check_content(ctx, source["content"], f"{path}.source.content", role, nested)
    if ctx.endpoint == "count_tokens" and source["type"] in ("url", "file"):
        reject(
            f"{path}.source: count_tokens does not support images or documents "
            "with `url` or `file` sources; send them as base64"
        )
    for key in ("title", "context"):
        check_str(block.get(key), f"{path}.{key}", nullable=True)


def _search_result(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["source"], f"{path}.source")
    check_str(block["title"], f"{path}.title")
    if not isinstance(block["content"], list):
        reject(f"{path}.content: Input should be a valid list")
    check_content(
        ctx, block["content"], f"{path}.content", role, {"text": _SPECS["text"]}
    )


def _thinking(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["thinking"], f"{path}.thinking")
    check_str(block["signature"], f"{path}.signature")


def _tool_use(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["id"], f"{path}.id")
    check_str(block["name"], f"{path}.name")
    as_dict(block["input"], f"{path}.input")
    if block["type"] == "server_tool_use" and block["name"] not in SERVER_TOOLS:
        expected = ", ".join(f"'{n}'" for n in SERVER_TOOLS)
        reject(f"{path}.name: Input should be {expected}")


def _tool_result(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["tool_use_id"], f"{path}.tool_use_id")
    if "is_error" in block and not isinstance(block["is_error"], bool):
        reject(f"{path}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is not None and not isinstance(content, str):
        check_content(ctx, content, f"{path}.content", role, _RESULT_SPECS)


def _server_result(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    check_str(block["tool_use_id"], f"{path}.tool_use_id")
    if not isinstance(block["content"], (list, Mapping)):
        reject(f"{path}.content: Input should be a valid list or dictionary")


def _plain(ctx: Ctx, block: Mapping[str, Any], path: str, role: str) -> None:
    for key in ("file_id", "data", "tool_name"):
        if key in block:
            check_str(block[key], f"{path}.{key}")


Check = Callable[[Ctx, Mapping[str, Any], str, str], None]
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


_CACHE = ("cache_control",)
_SPECS: dict[str, Spec] = {
    "text": Spec(("text", "type"), (*_CACHE, "citations"), _text, _ANY_ROLE),
    "image": Spec(("source", "type"), (*_CACHE, "transformations"), _image),
    "document": Spec(
        ("source", "type"), (*_CACHE, "citations", "context", "title"), _document
    ),
    "search_result": Spec(
        ("content", "source", "title", "type"), (*_CACHE, "citations"), _search_result
    ),
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
            (*_CACHE, "caller"),
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
    ctx: Ctx, block: Any, path: str, role: str, specs: Mapping[str, Spec]
) -> None:
    """Check one content block against *specs*, the block types allowed here."""
    block = as_dict(block, path)
    kind = block.get("type")
    if not isinstance(kind, str):
        reject(f"{path}: Unable to extract tag using discriminator 'type'")
    spec = specs.get(kind)
    if spec is None:
        expected = ", ".join(f"'{k}'" for k in specs)
        reject(
            f"{path}: Input tag '{kind}' found using 'type' does not match any of "
            f"the expected tags: {expected}"
        )
    if role not in spec.roles:
        reject(f"{path}: `{kind}` blocks are not allowed in `{role}` messages")
    check_keys(block, path, spec.required, spec.optional)
    check_cache_control(block.get("cache_control"), f"{path}.cache_control")
    spec.check(ctx, block, path, role)


def check_content(
    ctx: Ctx, content: Any, path: str, role: str, specs: Mapping[str, Spec]
) -> None:
    """Check a list of blocks (or a string, where *specs* allows text)."""
    if isinstance(content, str):
        if content and "text" in specs:
            _text(ctx, {"type": "text", "text": content}, path, role)
        return
    if not isinstance(content, list):
        reject(f"{path}: Input should be a valid string or list of blocks")
    for index, block in enumerate(content):
        check_block(ctx, block, f"{path}.{index}", role, specs)
