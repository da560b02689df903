"""Content blocks: small frozen values with a lossless JSON round trip.

The prompt cache hashes the bytes of the request, so a block read from the API and
written back must serialize to the same JSON text, key order included. Each known
kind keeps the fields conversa reasons about as attributes; every other key rides in
`extra`, and the original key order is remembered in `keys`. Kinds conversa does not
model (server tool results, compaction, kinds the API adds later) are kept verbatim
as `RawBlock`.

The law, checked by a property test::

    json.dumps(block_from_api(d).to_api()) == json.dumps(d)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

from attrs import field, frozen

from .._exceptions import InvalidInputError

__all__ = [
    "Block",
    "DocumentBlock",
    "ImageBlock",
    "RawBlock",
    "RedactedThinkingBlock",
    "SearchResultBlock",
    "TextBlock",
    "ThinkingBlock",
    "ToolResultBlock",
    "ToolUseBlock",
    "block_from_api",
    "blocks_from_api",
    "to_blocks",
]

_Extra = Mapping[str, Any]


def _split(data: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    """Return the keys of *data* that are neither `type` nor in *known*, in order."""
    return {k: v for k, v in data.items() if k != "type" and k not in known}


def _keys(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(data)


def _emit(
    block_type: str, known: dict[str, Any], extra: _Extra, keys: tuple[str, ...]
) -> dict[str, Any]:
    """Build the API form: `type`, then known fields, then extras, in the original order."""
    out: dict[str, Any] = {"type": block_type, **known, **extra}
    if keys and tuple(out) != keys:
        ordered = {k: out[k] for k in keys if k in out}
        ordered.update((k, v) for k, v in out.items() if k not in ordered)
        return ordered
    return out


def _missing(data: Mapping[str, Any], key: str) -> InvalidInputError:
    return InvalidInputError(f"a {data.get('type')} block needs a valid {key!r}")


def _nested(value: Any) -> tuple[Block, ...]:
    """Make nested content a tuple of blocks, as `Turn.blocks` is (a list is unhashable)."""
    return to_blocks(value)


def _result_content(value: Any) -> str | tuple[Block, ...] | None:
    """Keep a tool_result's string or absent content; make anything else blocks."""
    return value if value is None or isinstance(value, str) else _nested(value)


#: The key orders of a text block with nothing else: its API form is type, text.
PLAIN_TEXT_KEYS = ((), ("type", "text"))


@frozen
class TextBlock:
    """Text, from a user or from the model."""

    text: str
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "text"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TextBlock:
        """Read a text block from its API form."""
        if not isinstance(data.get("text"), str):
            raise _missing(data, "text")
        return cls(data["text"], extra=_split(data, ("text",)), keys=_keys(data))

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        if not self.extra and self.keys in PLAIN_TEXT_KEYS:  # the usual block, sooner
            return {"type": "text", "text": self.text}
        return _emit("text", {"text": self.text}, self.extra, self.keys)


@frozen
class ImageBlock:
    """An image; *source* is the API's source object (base64, url or file)."""

    source: Mapping[str, Any] = field(hash=False)
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "image"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ImageBlock:
        """Read an image block from its API form."""
        if not isinstance(data.get("source"), Mapping):
            raise _missing(data, "source")
        return cls(data["source"], extra=_split(data, ("source",)), keys=_keys(data))

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        return _emit("image", {"source": self.source}, self.extra, self.keys)


@frozen
class DocumentBlock:
    """A document (PDF, plain text, custom content); *source* as the API has it."""

    source: Mapping[str, Any] = field(hash=False)
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "document"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DocumentBlock:
        """Read a document block from its API form."""
        if not isinstance(data.get("source"), Mapping):
            raise _missing(data, "source")
        return cls(data["source"], extra=_split(data, ("source",)), keys=_keys(data))

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        return _emit("document", {"source": self.source}, self.extra, self.keys)


@frozen
class ToolUseBlock:
    """The model asks to run tool *name* with *input*."""

    id: str
    name: str
    input: Mapping[str, Any] = field(hash=False)
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "tool_use"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ToolUseBlock:
        """Read a tool_use block from its API form."""
        for key in ("id", "name"):
            if not isinstance(data.get(key), str):
                raise _missing(data, key)
        tool_input = data.get("input", {})
        if not isinstance(tool_input, Mapping):
            raise _missing(data, "input")
        return cls(
            data["id"],
            data["name"],
            tool_input,
            extra=_split(data, ("id", "name", "input")),
            keys=_keys(data),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        known = {"id": self.id, "name": self.name, "input": self.input}
        return _emit("tool_use", known, self.extra, self.keys)


@frozen
class ToolResultBlock:
    """The result of tool call *tool_use_id*: text, or blocks (text, image, ...)."""

    tool_use_id: str
    content: str | tuple[Block, ...] | None = field(
        default=None, converter=_result_content
    )
    is_error: bool | None = None
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "tool_result"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ToolResultBlock:
        """Read a tool_result block from its API form."""
        if not isinstance(data.get("tool_use_id"), str):
            raise _missing(data, "tool_use_id")
        raw = data.get("content")
        content: str | tuple[Block, ...] | None
        if raw is None or isinstance(raw, str):
            content = raw
        elif isinstance(raw, list):
            content = blocks_from_api(raw)
        else:
            msg = "a tool_result's content must be a string or a list of blocks"
            raise InvalidInputError(msg)
        is_error = data.get("is_error")
        known = ("tool_use_id", "content", "is_error")
        # `content: null` and `is_error: null` are not the same as absent keys;
        # keep such values verbatim in extra so the round trip stays exact.
        extra = _split(data, known)
        if "content" in data and raw is None:
            extra["content"] = None
        if "is_error" in data and not isinstance(is_error, bool):
            extra["is_error"] = is_error
            is_error = None
        return cls(
            data["tool_use_id"], content, is_error, extra=extra, keys=_keys(data)
        )

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        known: dict[str, Any] = {"tool_use_id": self.tool_use_id}
        if isinstance(self.content, str):
            known["content"] = self.content
        elif self.content is not None:
            known["content"] = [b.to_api() for b in self.content]
        if self.is_error is not None:
            known["is_error"] = self.is_error
        return _emit("tool_result", known, self.extra, self.keys)


@frozen
class ThinkingBlock:
    """The model's thinking, with the signature the API checks when it comes back."""

    thinking: str
    signature: str
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "thinking"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ThinkingBlock:
        """Read a thinking block from its API form."""
        if not isinstance(data.get("thinking"), str):
            raise _missing(data, "thinking")
        signature = data.get("signature", "")
        if not isinstance(signature, str):
            raise _missing(data, "signature")
        return cls(
            data["thinking"],
            signature,
            extra=_split(data, ("thinking", "signature")),
            keys=_keys(data),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        known = {"thinking": self.thinking, "signature": self.signature}
        return _emit("thinking", known, self.extra, self.keys)


@frozen
class RedactedThinkingBlock:
    """Encrypted thinking; opaque, and sent back unchanged."""

    data: str
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "redacted_thinking"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RedactedThinkingBlock:
        """Read a redacted_thinking block from its API form."""
        if not isinstance(data.get("data"), str):
            raise _missing(data, "data")
        return cls(data["data"], extra=_split(data, ("data",)), keys=_keys(data))

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        return _emit("redacted_thinking", {"data": self.data}, self.extra, self.keys)


@frozen
class SearchResultBlock:
    """A search result the application supplies, citable by the model."""

    source: str
    title: str
    content: tuple[Block, ...] = field(converter=_nested)
    extra: _Extra = field(factory=dict, kw_only=True, hash=False, repr=False)
    keys: tuple[str, ...] = field(default=(), kw_only=True, eq=False, repr=False)

    type: ClassVar[str] = "search_result"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SearchResultBlock:
        """Read a search_result block from its API form."""
        for key in ("source", "title"):
            if not isinstance(data.get(key), str):
                raise _missing(data, key)
        if not isinstance(data.get("content"), list):
            raise _missing(data, "content")
        return cls(
            data["source"],
            data["title"],
            blocks_from_api(data["content"]),
            extra=_split(data, ("source", "title", "content")),
            keys=_keys(data),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the block's API form."""
        known = {
            "source": self.source,
            "title": self.title,
            "content": [b.to_api() for b in self.content],
        }
        return _emit("search_result", known, self.extra, self.keys)


@frozen
class RawBlock:
    """A block of a kind conversa does not model, kept exactly as the API sent it."""

    data: Mapping[str, Any] = field(hash=False)

    @property
    def type(self) -> str:
        """The block's `type`, as the API named it."""
        kind = self.data.get("type")
        return kind if isinstance(kind, str) else ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RawBlock:
        """Keep *data* verbatim."""
        return cls(data)

    def to_api(self) -> dict[str, Any]:
        """Return the block exactly as it was read."""
        return dict(self.data)


Block: TypeAlias = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | SearchResultBlock
    | RawBlock
)

_READERS: dict[str, Callable[[Mapping[str, Any]], Block]] = {
    "text": TextBlock.from_api,
    "image": ImageBlock.from_api,
    "document": DocumentBlock.from_api,
    "tool_use": ToolUseBlock.from_api,
    "tool_result": ToolResultBlock.from_api,
    "thinking": ThinkingBlock.from_api,
    "redacted_thinking": RedactedThinkingBlock.from_api,
    "search_result": SearchResultBlock.from_api,
}

_BLOCK_CLASSES = (
    TextBlock,
    ImageBlock,
    DocumentBlock,
    ToolUseBlock,
    ToolResultBlock,
    ThinkingBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    RawBlock,
)


def block_from_api(data: object) -> Block:
    """Read one block from its API form; unknown kinds become `RawBlock`."""
    if not isinstance(data, Mapping):
        msg = f"a content block must be a JSON object, not {type(data).__name__}"
        raise InvalidInputError(msg)
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        msg = "a content block needs a string 'type'"
        raise InvalidInputError(msg)
    reader = _READERS.get(kind)
    return reader(data) if reader else RawBlock(data)


def blocks_from_api(data: Iterable[object]) -> tuple[Block, ...]:
    """Read a list of blocks from their API form."""
    return tuple(block_from_api(d) for d in data)


def to_blocks(
    content: str | Block | Mapping[str, Any] | Iterable[Any],
) -> tuple[Block, ...]:
    """Accept what a caller may pass as content and return blocks.

    A string is one text block; a block or an API-form mapping is one block; any
    other iterable is a sequence of those.
    """
    value: object = content  # checked at run time: callers pass anything
    if isinstance(value, tuple) and all(isinstance(b, _BLOCK_CLASSES) for b in value):
        return value  # already blocks: the same tuple, so its copies share it
    if isinstance(value, str):
        return (TextBlock(value),)
    if isinstance(value, _BLOCK_CLASSES):
        return (value,)
    if isinstance(value, Mapping):
        return (block_from_api(value),)
    if isinstance(value, Iterable):
        out: list[Block] = []
        for item in value:
            if isinstance(item, str):
                out.append(TextBlock(item))
            elif isinstance(item, _BLOCK_CLASSES):
                out.append(item)
            elif isinstance(item, Mapping):
                out.append(block_from_api(item))
            else:
                msg = f"content items must be str, blocks or mappings, not {type(item).__name__}"
                raise InvalidInputError(msg)
        return tuple(out)
    msg = f"content must be str, a block, a mapping or a list, not {type(content).__name__}"
    raise InvalidInputError(msg)
