"""The Messages API's rules for what a caller supplies, checked at the door (pure).

conversa promises that a request it sends is never rejected for its shape. The rules
fall in three classes, each checked where it is cheap and certain:

- **per block, at the door** (this module): every block a caller supplies, through
  every entry point (`add`, `send`, `stream`, `run` and its tool results,
  `add_tool_results`, `add_turns`, `edit`, import, batch submit), and the system
  prompt and tools: required fields and their types, no unknown keys, images (media
  type, base64, magic bytes, size, dimensions), documents, sources, tool ids and
  names, `cache_control`. Nothing is written before these pass.
- **per tail, at append**: role order, tool_result ↔ tool_use pairing, duplicate
  tool ids (`_core.history_rules`).
- **per request, at plan time**: at most 4 breakpoints counting the caller's own,
  TTL order, image count and size limits, request size (`check_request` here,
  `_core.window`, `_core.history_rules`).

Blocks that came from the API (replies) are not checked: they are stored and
replayed verbatim. A `RawBlock` a caller builds explicitly is a block conversa
does not know, which the caller vouches for: it is not checked either. Every
refusal names the entry point, the block's path and the rule, in the API's own
words where the API has them (https://docs.claude.com/en/api/messages).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from attrs import frozen

from .._exceptions import InvalidContentError
from .._values.blocks import Block, RawBlock, TextBlock, block_from_api, to_blocks
from .._values.settings import VOUCHED
from .._values.turns import Turn
from .cache import cache_controls
from .estimate import image_size
from .normalize import replayed

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "MAX_BREAKPOINTS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_SIDE",
    "check_block",
    "check_blocks",
    "check_caller_content",
    "check_request",
    "check_stored_turns",
    "check_system",
    "check_tools",
    "vouched_flags",
]

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
#: Base64 bytes per image on the first-party API (5 MB on Bedrock and Vertex).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Pixels per side, any image.
MAX_IMAGE_SIDE = 8000
MAX_BREAKPOINTS = 4

_ID = re.compile(r"[a-zA-Z0-9_-]+")
_SERVER_ID = re.compile(r"srvtoolu_[a-zA-Z0-9_]+")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
#: A tool_use block's name is checked for length only (1 to 200 characters).
_MAX_TOOL_USE_NAME = 200
_CACHE = ("cache_control",)
_MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda b: b.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda b: b.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda b: b[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
}
_SERVER_RESULTS = frozenset(
    {
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
    }
)
_SERVER_TOOLS = frozenset(
    {
        "web_search",
        "web_fetch",
        "code_execution",
        "bash_code_execution",
        "text_editor_code_execution",
        "tool_search_tool_regex",
        "tool_search_tool_bm25",
    }
)


class _RuleError(Exception):
    """A rule broken at *path* (internal: becomes `InvalidContentError`)."""

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(path, rule)
        self.path = path
        self.rule = rule


def _refuse(path: str, rule: str) -> NoReturn:
    raise _RuleError(path, rule)


# --- small checks -------------------------------------------------------------


def _str(block: Mapping[str, Any], key: str, path: str) -> str:
    value = block.get(key)
    if not isinstance(value, str):
        _refuse(f"{path}.{key}", "Input should be a valid string")
    return value


def _keys(
    block: Mapping[str, Any],
    path: str,
    required: Sequence[str],
    optional: Sequence[str],
) -> None:
    """Refuse a missing required key or an unknown one (`type` is always known)."""
    for key in required:
        if key not in block:
            _refuse(f"{path}.{key}", "Field required")
    allowed = {"type", *required, *optional}
    for key in block:
        if key not in allowed:
            _refuse(f"{path}.{key}", "Extra inputs are not permitted")


def _cache_control(value: Any, path: str) -> None:
    """The API takes `{"type": "ephemeral", "ttl": "5m" | "1h"}` or null."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        _refuse(path, "Input should be a valid dictionary")
    if value.get("type") != "ephemeral":
        _refuse(f"{path}.type", "Input should be 'ephemeral'")
    for key in value:
        if key not in ("type", "ttl"):
            _refuse(f"{path}.{key}", "Extra inputs are not permitted")
    if "ttl" in value and value["ttl"] not in ("5m", "1h"):
        _refuse(f"{path}.ttl", "Input should be '5m' or '1h'")


def _base64(data: str, path: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        _refuse(path, "invalid base64 data")


def _object(value: Any, path: str) -> None:
    if not isinstance(value, Mapping):
        _refuse(path, "Input should be a valid dictionary")


def _bool(block: Mapping[str, Any], key: str, path: str) -> None:
    if key in block and block[key] is not None and not isinstance(block[key], bool):
        _refuse(f"{path}.{key}", "Input should be a valid boolean")


# --- sources ------------------------------------------------------------------


#: Sources that point at content elsewhere, and the one key each holds.
_REFERENCES = {"url": "url", "file": "file_id"}


def _reference(source: Mapping[str, Any], kind: str, path: str) -> None:
    """A url or file source: its one key, a string."""
    _keys(source, path, (_REFERENCES[kind],), ())
    _str(source, _REFERENCES[kind], path)


def _image_source(source: Any, path: str) -> None:
    _object(source, path)
    kind = source.get("type")
    if kind == "base64":
        _keys(source, path, ("media_type", "data"), ())
        media_type = source["media_type"]
        if media_type not in IMAGE_MEDIA_TYPES:
            _refuse(
                f"{path}.media_type",
                "Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                "'image/webp'",
            )
        data = _str(source, "data", path)
        if not data:
            _refuse(f"{path}.data", "image cannot be empty")
        if len(data) > MAX_IMAGE_BYTES:
            _refuse(
                path,
                f"image exceeds 10 MB maximum: {len(data)} bytes > "
                f"{MAX_IMAGE_BYTES} bytes",
            )
        raw = _base64(data, f"{path}.data")
        actual = next((m for m, test in _MAGIC.items() if test(raw[:16])), None)
        if actual is None:
            _refuse(path, "Could not process image")
        if actual != media_type:
            _refuse(
                path,
                f"The image was specified using the {media_type} media type, but "
                f"the image appears to be a {actual} image",
            )
        size = image_size(source)
        if size is None:
            # Its header does not say how large it is: the API cannot read it either.
            _refuse(path, "Could not process image")
        if max(size) > MAX_IMAGE_SIDE:
            _refuse(
                path,
                "At least one of the image dimensions exceed max allowed size: "
                f"{MAX_IMAGE_SIDE} pixels",
            )
    elif kind in _REFERENCES:
        _reference(source, kind, path)
    else:
        _refuse(f"{path}.type", "Input should be 'base64', 'url' or 'file'")


def _document_source(source: Any, path: str) -> None:
    _object(source, path)
    kind = source.get("type")
    if kind == "base64":
        _keys(source, path, ("media_type", "data"), ())
        if source["media_type"] != "application/pdf":
            _refuse(f"{path}.media_type", "Input should be 'application/pdf'")
        data = _str(source, "data", path)
        if not data:
            _refuse(f"{path}.data", "PDF cannot be empty")
        raw = _base64(data, f"{path}.data")
        if not raw.startswith(b"%PDF-"):
            _refuse(f"{path}.data", "The PDF specified was not valid.")
    elif kind == "text":
        _keys(source, path, ("media_type", "data"), ())
        if source["media_type"] != "text/plain":
            _refuse(f"{path}.media_type", "Input should be 'text/plain'")
        _str(source, "data", path)
    elif kind == "content":
        _keys(source, path, ("content",), ())
        content = source["content"]
        if isinstance(content, str):
            return
        _content_list(content, f"{path}.content", "user", _DOC_CONTENT)
    elif kind in _REFERENCES:
        _reference(source, kind, path)
    else:
        _refuse(
            f"{path}.type",
            "Input should be 'base64', 'text', 'content', 'url' or 'file'",
        )


def _citations_config(value: Any, path: str) -> None:
    if value is None:
        return
    _object(value, path)
    for key in value:
        if key != "enabled":
            _refuse(f"{path}.{key}", "Extra inputs are not permitted")
    _bool(value, "enabled", path)


# --- blocks -------------------------------------------------------------------


_CITATION_KINDS = (
    "char_location",
    "page_location",
    "content_block_location",
    "web_search_result_location",
    "search_result_location",
)


def _text(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "text", path)
    citations = block.get("citations")
    if citations is None:
        return
    if not isinstance(citations, list):
        _refuse(f"{path}.citations", "Input should be a valid list")
    for index, citation in enumerate(citations):
        at = f"{path}.citations.{index}"
        _object(citation, at)
        kind = citation.get("type")
        if kind not in _CITATION_KINDS:
            expected = ", ".join(f"'{k}'" for k in _CITATION_KINDS)
            _refuse(
                at,
                f"Input tag '{kind}' found using 'type' does not match any of the "
                f"expected tags: {expected}",
            )


def _image(block: Mapping[str, Any], path: str, role: str) -> None:
    _image_source(block["source"], f"{path}.source")
    transformations = block.get("transformations")
    if transformations is not None:
        _object(transformations, f"{path}.transformations")


def _document(block: Mapping[str, Any], path: str, role: str) -> None:
    _document_source(block["source"], f"{path}.source")
    for key in ("title", "context"):
        if block.get(key) is not None:
            _str(block, key, path)
    _citations_config(block.get("citations"), f"{path}.citations")


def _search_result(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "source", path)
    _str(block, "title", path)
    _content_list(block["content"], f"{path}.content", role, _TEXT_ONLY)
    _citations_config(block.get("citations"), f"{path}.citations")


def _tool_use(block: Mapping[str, Any], path: str, role: str) -> None:
    use_id = _str(block, "id", path)
    name = _str(block, "name", path)
    if block.get("type") == "server_tool_use":
        if not _SERVER_ID.fullmatch(use_id):
            _refuse(
                f"{path}.id", "String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'"
            )
        if name not in _SERVER_TOOLS:
            _refuse(f"{path}.name", f"unknown server tool {name!r}")
    else:
        if not _ID.fullmatch(use_id):
            _refuse(f"{path}.id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not 1 <= len(name) <= _MAX_TOOL_USE_NAME:
            _refuse(
                f"{path}.name",
                f"String should have between 1 and {_MAX_TOOL_USE_NAME} characters",
            )
    _object(block["input"], f"{path}.input")


def _tool_result(block: Mapping[str, Any], path: str, role: str) -> None:
    use_id = _str(block, "tool_use_id", path)
    if not _ID.fullmatch(use_id):
        _refuse(f"{path}.tool_use_id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
    _bool(block, "is_error", path)
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    _content_list(content, f"{path}.content", role, _RESULT_CONTENT)


def _thinking(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "thinking", path)
    _str(block, "signature", path)


def _redacted(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "data", path)


def _server_result(block: Mapping[str, Any], path: str, role: str) -> None:
    use_id = _str(block, "tool_use_id", path)
    if not _ID.fullmatch(use_id):
        _refuse(f"{path}.tool_use_id", "String should match pattern '^[a-zA-Z0-9_-]+$'")
    content = block["content"]
    if not isinstance(content, list | Mapping):
        _refuse(f"{path}.content", "Input should be a valid list or object")


def _file(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "file_id", path)


def _tool_reference(block: Mapping[str, Any], path: str, role: str) -> None:
    _str(block, "tool_name", path)


_Check = Callable[[Mapping[str, Any], str, str], None]


@frozen
class _Kind:
    """What one block type may hold, and in which roles."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    check: _Check
    roles: frozenset[str] = frozenset({"user", "assistant"})


_USER = frozenset({"user"})
_ASSISTANT = frozenset({"assistant"})
_KINDS: dict[str, _Kind] = {
    "text": _Kind(("text",), (*_CACHE, "citations"), _text),
    "image": _Kind(("source",), (*_CACHE, "transformations"), _image, _USER),
    "document": _Kind(
        ("source",), (*_CACHE, "citations", "context", "title"), _document
    ),
    "search_result": _Kind(
        ("source", "title", "content"), (*_CACHE, "citations"), _search_result, _USER
    ),
    "tool_use": _Kind(
        ("id", "name", "input"),
        (*_CACHE, "caller", "toolset_name"),
        _tool_use,
        _ASSISTANT,
    ),
    "tool_result": _Kind(
        ("tool_use_id",),
        (*_CACHE, "content", "is_error", "toolset_name"),
        _tool_result,
        _USER,
    ),
    # Thinking blocks take no cache_control: to them it is an unknown key.
    "thinking": _Kind(("thinking", "signature"), (), _thinking, _ASSISTANT),
    "redacted_thinking": _Kind(("data",), (), _redacted, _ASSISTANT),
    "server_tool_use": _Kind(
        ("id", "name", "input"), (*_CACHE, "caller"), _tool_use, _ASSISTANT
    ),
    # `caller` (programmatic tool calling) only on web search and fetch results.
    **{
        kind: _Kind(
            ("tool_use_id", "content"),
            (*_CACHE, "caller")
            if kind in ("web_search_tool_result", "web_fetch_tool_result")
            else _CACHE,
            _server_result,
            _ASSISTANT,
        )
        for kind in sorted(_SERVER_RESULTS)
    },
    "container_upload": _Kind(("file_id",), _CACHE, _file, _USER),
}
_TEXT_ONLY = {"text": _KINDS["text"]}
_DOC_CONTENT = {"text": _KINDS["text"], "image": _KINDS["image"]}
_RESULT_CONTENT = {
    "text": _KINDS["text"],
    "image": _KINDS["image"],
    "search_result": _KINDS["search_result"],
    "document": _KINDS["document"],
    "tool_reference": _Kind(("tool_name",), _CACHE, _tool_reference),
}


def _content_list(
    content: Any, path: str, role: str, kinds: Mapping[str, _Kind]
) -> None:
    if not isinstance(content, list | tuple):
        _refuse(path, "Input should be a valid list")
    for index, item in enumerate(content):
        _block(item, f"{path}.{index}", role, kinds)


def _block(data: Any, path: str, role: str, kinds: Mapping[str, _Kind]) -> None:
    if not isinstance(data, Mapping):
        _refuse(path, "Input should be a valid dictionary")
    kind = data.get("type")
    if not isinstance(kind, str):
        _refuse(path, "Unable to extract tag using discriminator 'type'")
    spec = kinds.get(kind)
    if spec is None:
        expected = ", ".join(f"'{k}'" for k in kinds)
        _refuse(
            f"{path}.type",
            f"Input tag '{kind}' found using 'type' does not match any of the "
            f"expected tags: {expected} (wrap a block kind conversa does not know "
            "in RawBlock(...) to send it as it is)",
        )
    if role not in spec.roles:
        _refuse(path, f"`{kind}` blocks are not allowed in `{role}` messages")
    _keys(data, path, spec.required, spec.optional)
    _cache_control(data.get("cache_control"), f"{path}.cache_control")
    spec.check(data, path, role)


# --- the door -----------------------------------------------------------------


def _error(entry: str, refused: _RuleError, prefix: str = "") -> InvalidContentError:
    return InvalidContentError(
        refused.rule, entry=entry, path=f"{prefix}{refused.path}"
    )


def check_block(
    block: Block | Mapping[str, Any], *, role: str, entry: str, path: str
) -> None:
    """Refuse one block a caller supplies that breaks an API rule.

    A `RawBlock` the caller built is taken as vouched for and not checked.

    Raises:
        InvalidContentError: naming *entry*, the block's *path* and the rule.
    """
    if isinstance(block, RawBlock):
        return
    data = block if isinstance(block, Mapping) else block.to_api()
    try:
        _block(data, path, role, _KINDS)
        _finite(data, path)
    except _RuleError as refused:
        raise _error(entry, refused) from None


def _finite(value: Any, path: str) -> None:
    """Refuse a number JSON has no text for (NaN, an infinity), anywhere in *value*.

    The API reads its body as JSON, which has none; the body could not be sent.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            _refuse(
                path, f"Out of range float values are not JSON compliant: {value!r}"
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(item, str):
                _finite(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _finite(item, f"{path}.{index}")


def check_blocks(
    blocks: Iterable[Block], *, role: str, entry: str, path: str = "content"
) -> None:
    """Check blocks a caller supplied (already converted), each by its index."""
    for index, block in enumerate(blocks):
        check_block(block, role=role, entry=entry, path=f"{path}.{index}")


def check_caller_content(
    content: Any, *, role: str, entry: str, path: str = "content"
) -> tuple[Block, ...]:
    """Turn what a caller passes as content into blocks, refusing what the API would.

    Accepts what `to_blocks` accepts: a string, a block, an API-form mapping, or a
    list of those. A mapping of a kind conversa does not know is refused (wrap it
    in `RawBlock` to vouch for it); an explicit `RawBlock` is taken as it is.

    Raises:
        InvalidInputError: content of the wrong type.
        InvalidContentError: a block breaks an API rule.
    """
    value: object = content
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        items: list[Any] = [value]
    else:
        items = list(value)
    out: list[Block] = []
    for index, item in enumerate(items):
        where = f"{path}.{index}"
        if isinstance(item, str):
            out.append(TextBlock(item))
            continue
        if isinstance(item, Mapping):
            check_block(item, role=role, entry=entry, path=where)
            out.append(block_from_api(item))
            continue
        (block,) = to_blocks(
            item
        )  # a block, or the InvalidInputError for anything else
        check_block(block, role=role, entry=entry, path=where)
        out.append(block)
    return tuple(out)


def vouched_flags(blocks: Sequence[Block]) -> dict[str, Any]:
    """The turn flags that remember which of *blocks* a caller vouched for.

    Those are `RawBlock`s of kinds conversa does not know: an import takes them as
    they are, as `add` did.
    """
    vouched = frozenset(
        index
        for index, block in enumerate(blocks)
        if isinstance(block, RawBlock) and block.type not in _KINDS
    )
    return VOUCHED.entry(vouched) if vouched else {}


def check_stored_turns(turns: Sequence[Turn], *, entry: str) -> None:
    """Check turns read back from an export, as the door checked them when stored.

    Replies from the API (an assistant turn with a message id), retracted turns,
    retractions and summaries are taken as they are; so are the blocks a caller
    vouched for when it added them (the `VOUCHED` flag).

    Raises:
        InvalidContentError: naming the turn's seq and the block's path.
    """
    visible = {id(turn) for _, turn in replayed(turns)}
    for turn in turns:
        if turn.kind != "message" or id(turn) not in visible:
            continue
        if turn.role == "assistant" and turn.message_id:
            continue
        vouched = VOUCHED.of(turn)
        for index, block in enumerate(turn.blocks):
            if index in vouched:
                continue
            try:
                _block(block.to_api(), f"content.{index}", turn.role, _KINDS)
            except _RuleError as refused:
                where = f"turn seq {turn.seq} (id {turn.id!r}) {refused.path}"
                raise InvalidContentError(
                    refused.rule, entry=entry, path=where
                ) from None


def check_system(system: Any, *, entry: str) -> None:
    """Refuse a system prompt the API would: a string, or a list of text blocks."""
    if system is None or isinstance(system, str):
        return
    try:
        _content_list(system, "system", "user", _TEXT_ONLY)
    except _RuleError as refused:
        raise _error(entry, refused) from None


# Anthropic-defined tools: a type is a family and a date (web_search_20250305).
# Their keys and fixed names are the SDK's tool params (types/*_tool_*_param.py).
_VERSIONED = re.compile(
    r"(bash|code_execution|memory|text_editor|web_search|web_fetch"
    r"|tool_search_tool_bm25|tool_search_tool_regex)_\d{8}"
)
_TOOL_COMMON = ("allowed_callers", "cache_control", "defer_loading", "strict")
_TOOL_DOMAINS = ("allowed_domains", "blocked_domains", "max_uses")
_FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "bash": (*_TOOL_COMMON, "input_examples"),
    "code_execution": _TOOL_COMMON,
    "memory": (*_TOOL_COMMON, "input_examples"),
    "text_editor": (*_TOOL_COMMON, "input_examples"),
    "web_search": (*_TOOL_COMMON, *_TOOL_DOMAINS, "user_location"),
    "web_fetch": (
        *_TOOL_COMMON,
        *_TOOL_DOMAINS,
        "citations",
        "max_content_tokens",
        "url_sources",
    ),
    "tool_search_tool_bm25": _TOOL_COMMON,
    "tool_search_tool_regex": _TOOL_COMMON,
}
_VERSION_KEYS: dict[str, tuple[str, ...]] = {
    "text_editor_20250728": ("max_characters",),
    "web_search_20260318": ("response_inclusion",),
    "web_fetch_20260309": ("use_cache",),
    "web_fetch_20260318": ("use_cache", "response_inclusion"),
}
_FIXED_NAMES = {
    "text_editor": "str_replace_based_edit_tool",
    "text_editor_20250124": "str_replace_editor",
    "text_editor_20241022": "str_replace_editor",
}


def _versioned_tool(tool: Mapping[str, Any], kind: str, path: str) -> None:
    """An Anthropic-defined tool: its own keys, and the name it must carry."""
    family = kind.rsplit("_", 1)[0]
    where = f"{path}.{kind}"
    _keys(tool, where, ("name",), (*_FAMILY_KEYS[family], *_VERSION_KEYS.get(kind, ())))
    expected = _FIXED_NAMES.get(kind, _FIXED_NAMES.get(family, family))
    if tool["name"] != expected:
        _refuse(f"{where}.name", f"Input should be '{expected}'")
    _cache_control(tool.get("cache_control"), f"{where}.cache_control")


def _tool(tool: Any, path: str) -> None:
    _object(tool, path)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        if not isinstance(kind, str):
            _refuse(f"{path}.type", "Input should be a valid string")
        if _VERSIONED.fullmatch(kind):
            _versioned_tool(tool, kind, path)
            return
        # A tool type conversa does not know (a beta toolset, an MCP toolset):
        # its fields are the API's to check.
        _cache_control(tool.get("cache_control"), f"{path}.cache_control")
        return
    _keys(
        tool,
        path,
        ("name", "input_schema"),
        (
            *_CACHE,
            "description",
            "defer_loading",
            "allowed_callers",
            "strict",
            "eager_input_streaming",
            "input_examples",
        ),
    )
    name = _str(tool, "name", path)
    if not _TOOL_NAME.fullmatch(name):
        _refuse(f"{path}.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'")
    if tool.get("description") is not None:
        _str(tool, "description", path)
    schema = tool["input_schema"]
    _object(schema, f"{path}.input_schema")
    if schema.get("type") != "object":
        _refuse(f"{path}.input_schema.type", "Input should be 'object'")
    _cache_control(tool.get("cache_control"), f"{path}.cache_control")


def check_tools(tools: Sequence[Any] | None, *, entry: str) -> None:
    """Refuse tool definitions the API would (names, schemas, unknown keys, duplicates)."""
    if not tools:
        return
    seen: set[str] = set()
    try:
        for index, tool in enumerate(tools):
            path = f"tools.{index}"
            _tool(tool, path)
            name = tool.get("name")
            if isinstance(name, str):
                if name in seen:
                    _refuse(f"{path}.name", f"Tool names must be unique: {name}")
                seen.add(name)
    except _RuleError as refused:
        raise _error(entry, refused) from None


# --- per request --------------------------------------------------------------


def _marks(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every cache_control in *body*, in the API's prefix order, with its TTL."""
    found = [
        (_mark_path(key), str(control.get("ttl", "5m")))
        for key, control in cache_controls(body)
        if isinstance(control, Mapping)
    ]
    control = body.get("cache_control")
    if isinstance(control, Mapping):
        # The automatic breakpoint sits on the last block, so it comes last; on a
        # block already marked with its TTL it takes no slot of its own.
        target = _automatic_target(body)
        if target is None or target.get("cache_control") is None:
            found.append(("cache_control", str(control.get("ttl", "5m"))))
    return found


def _mark_path(key: tuple[int, ...]) -> str:
    """A `cache_controls` key as a path in the body: messages.3.content.0, ..."""
    part, index, *nested = key
    if part == 2:
        block, *nested = nested
        head = f"messages.{index}.content.{block}"
    else:
        head = f"{('tools', 'system')[part]}.{index}"
    return head + "".join(f".content.{i}" for i in nested)


def _automatic_target(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The block the automatic breakpoint marks: the last one that can be cached."""
    for message in reversed(body.get("messages") or ()):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in reversed(content):
            if not isinstance(block, Mapping):
                continue
            kind = block.get("type")
            if kind in ("thinking", "redacted_thinking"):
                continue
            if kind == "text" and not str(block.get("text", "")).strip():
                continue
            return block
    return None


def _check_automatic(body: Mapping[str, Any], entry: str) -> None:
    """The top-level `cache_control`: its shape, and its TTL against the target's."""
    control = body.get("cache_control")
    if control is None:
        return
    try:
        _cache_control(control, "cache_control")
    except _RuleError as refused:
        raise _error(entry, refused) from None
    target = _automatic_target(body)
    marked = None if target is None else target.get("cache_control")
    if isinstance(marked, Mapping):
        ttl, theirs = control.get("ttl", "5m"), marked.get("ttl", "5m")
        if ttl != theirs:
            rule = (
                f"Top-level cache_control has ttl='{ttl}' but the target block "
                f"already has cache_control with ttl='{theirs}'"
            )
            raise InvalidContentError(rule, entry=entry, path="cache_control")


def check_request(body: Mapping[str, Any], *, entry: str) -> None:
    """Refuse a request body that breaks a rule of the request as a whole.

    At most 4 `cache_control` breakpoints, the automatic one included; a 1h
    breakpoint never after a 5m one in the order tools → system → messages.
    (The image limits of a request, 600 or 100 images and no image over 2000 px a
    side in a request of more than 20, are the window's: `_core.window` leaves older
    exchanges out until the request keeps them.) conversa's own
    breakpoints are placed within these rules (`_core.cache`), so what this refuses is
    the caller's own excess, named by its path.

    Raises:
        InvalidContentError: naming the path in the request body.
    """
    _check_automatic(body, entry)
    marks = _marks(body)
    if len(marks) > MAX_BREAKPOINTS:
        paths = ", ".join(path for path, _ in marks)
        rule = (
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
            f"provided. Found {len(marks)}. (at {paths}: remove the caller's own "
            "breakpoints; conversa drops its own first)"
        )
        raise InvalidContentError(rule, entry=entry, path="request")
    seen_5m = None
    for path, ttl in marks:
        if ttl == "5m" and seen_5m is None:
            seen_5m = path
        elif ttl == "1h" and seen_5m is not None:
            rule = (
                "a ttl='1h' cache_control block must not come after a ttl='5m' "
                f"cache_control block (the 5m one is at {seen_5m}): longer TTLs "
                "come first, in the order tools, system, messages"
            )
            raise InvalidContentError(rule, entry=entry, path=path)
