"""Check request bodies and replies against the official SDK's types (MESSAGES_API.md §12).

Every conversa test that builds a /v1/messages body or reads a reply can run it
through these checks: they catch shape mistakes (a missing ``tool_use_id``, a bad
role, an unknown block type, a wrong ``media_type``) with the SDK's own idea of the
wire format, independent of conversa and of the fake. The SDK's request types are
TypedDicts whose ``Iterable`` fields validate lazily, so blocks are checked one
level at a time with eager, discriminated adapters (content lists, then the lists
nested in ``tool_result``, ``search_result`` and ``document`` blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args

from anthropic.types import (
    ContentBlockParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolUnionParam,
)
from anthropic.types.content_block_source_content_param import (
    ContentBlockSourceContentParam,
)
from anthropic.types.message_create_params import (
    MessageCreateParamsNonStreaming,
    MessageCreateParamsStreaming,
)
from anthropic.types.tool_result_block_param import Content as ToolResultContent
from pydantic import Field, TypeAdapter

__all__ = ["check_message", "check_request_body"]


def _tagged_list(union: Any) -> TypeAdapter[list[Any]]:
    # A discriminated union validates each block eagerly, with one error per block.
    tagged: Any = Annotated[Union[get_args(union)], Field(discriminator="type")]  # noqa: UP007
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[tagged])
    return adapter


# Built once at import: each adapter costs tens of milliseconds.
_STREAMING = TypeAdapter(MessageCreateParamsStreaming)
_NON_STREAMING = TypeAdapter(MessageCreateParamsNonStreaming)
_MESSAGES = TypeAdapter(list[MessageParam])
_BLOCKS = _tagged_list(ContentBlockParam)
_RESULT_BLOCKS = _tagged_list(ToolResultContent)
_SOURCE_BLOCKS = _tagged_list(ContentBlockSourceContentParam)
_TEXT_BLOCKS = TypeAdapter(list[TextBlockParam])
_TOOLS = TypeAdapter(list[ToolUnionParam])


def _check_nested(block: Mapping[str, Any]) -> None:
    kind = block.get("type")
    if kind == "tool_result" and isinstance(block.get("content"), list):
        _RESULT_BLOCKS.validate_python(block["content"])
        for inner in block["content"]:
            _check_nested(inner)
    elif kind == "search_result":
        _TEXT_BLOCKS.validate_python(block["content"])
    elif kind == "document":
        source = block["source"]
        if source.get("type") == "content" and isinstance(source.get("content"), list):
            _SOURCE_BLOCKS.validate_python(source["content"])


def check_request_body(body: Mapping[str, Any]) -> None:
    """Validate a /v1/messages *body* with the SDK's request types, block by block.

    Raises:
        pydantic.ValidationError: at the first part the SDK types reject.
    """
    adapter = _STREAMING if body.get("stream") is True else _NON_STREAMING
    adapter.validate_python(body)
    if isinstance(body.get("system"), list):
        _TEXT_BLOCKS.validate_python(body["system"])
    if "tools" in body:
        _TOOLS.validate_python(body["tools"])
    _MESSAGES.validate_python(body["messages"])
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            continue
        if message["role"] == "system":
            _TEXT_BLOCKS.validate_python(content)
            continue
        _BLOCKS.validate_python(content)
        for block in content:
            _check_nested(block)


def check_message(json: Mapping[str, Any]) -> None:
    """Validate a /v1/messages response body as an ``anthropic.types.Message``.

    Raises:
        pydantic.ValidationError: if the SDK cannot parse it.
    """
    Message.model_validate(json)
