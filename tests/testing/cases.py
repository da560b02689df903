"""Request bodies for the validation tables: invalid ones with the API's answer, valid edge cases."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from conversa.testing import png_base64
from conversa.testing._signing import Signer
from tests.testing.support import assistant, body, user

PNG = png_base64(28, 28)
GIF = base64.b64encode(b"GIF89a\x02\x00\x03\x00" + b"\x00" * 8).decode()
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
SIGNED = {
    "type": "thinking",
    "thinking": "Let me think.",
    "signature": Signer(0).sign("Let me think.", nonce="n", omitted=False),
}
FOREIGN = {
    **SIGNED,
    "signature": Signer(7).sign("Let me think.", nonce="n", omitted=False),
}
OMITTED = {
    "type": "thinking",
    "thinking": "",
    "signature": Signer(0).sign("hidden", nonce="m", omitted=True),
}
SEARCH = {
    "type": "server_tool_use",
    "id": "srvtoolu_1",
    "name": "web_search",
    "input": {"query": "q"},
}
SEARCH_RESULT = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_1",
    "content": [],
}
CITATION = {
    "type": "char_location",
    "cited_text": "a",
    "document_index": 0,
    "document_title": None,
    "start_char_index": 0,
    "end_char_index": 1,
}
CACHE = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
ENABLED = {"type": "enabled", "budget_tokens": 1024}


def text(value: Any, **extra: Any) -> dict[str, Any]:
    """Return a text block."""
    return {"type": "text", "text": value, **extra}


def image(data: str = PNG, media_type: str = "image/png") -> dict[str, Any]:
    """Return a base64 image block."""
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


def cached(n: int) -> list[dict[str, Any]]:
    """Return *n* text blocks that each carry a cache breakpoint."""
    return [text(f"part {i}", cache_control=CACHE) for i in range(n)]


NO_PREFILL = "This model does not support assistant message prefill. The conversation must end with a user message."
EMPTY = "all messages must have non-empty content except for the optional final assistant message"
MISSING = "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message."
ORPHAN = "unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
DOCS = " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
TAGS = "'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', 'server_tool_use', 'bash_code_execution_tool_result', 'code_execution_tool_result', 'text_editor_code_execution_tool_result', 'tool_search_tool_result', 'web_fetch_tool_result', 'web_search_tool_result', 'container_upload'"
V2 = "2026-10-21"

# (id, body, expected error message, API version)
_INVALID: list[tuple[Any, ...]] = [
    (
        "model-missing",
        {"max_tokens": 1, "messages": [user("hi")]},
        "model: Field required",
    ),
    (
        "max-tokens-missing",
        {"model": "m", "messages": [user("hi")]},
        "max_tokens: Field required",
    ),
    ("messages-missing", {"model": "m", "max_tokens": 1}, "messages: Field required"),
    ("model-type", body(model=5), "model: Input should be a valid string"),
    ("model-empty", body(model=""), "model: String should have at least 1 character"),
    (
        "max-tokens-type",
        body(max_tokens="9"),
        "max_tokens: Input should be a valid integer",
    ),
    (
        "max-tokens-bool",
        body(max_tokens=True),
        "max_tokens: Input should be a valid integer",
    ),
    (
        "max-tokens-negative",
        body(max_tokens=-1),
        "max_tokens: Input should be greater than or equal to 0",
    ),
    (
        "max-tokens-over-model",
        body(max_tokens=64_001),
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for claude-sonnet-4-5",
    ),
    (
        "max-tokens-0-stream",
        body(max_tokens=0, stream=True),
        "max_tokens: 0 is only allowed for cache pre-warming; it cannot be combined with `stream: true`",
    ),
    (
        "max-tokens-0-thinking",
        body(max_tokens=0, thinking=ENABLED),
        'max_tokens: 0 is only allowed for cache pre-warming; it cannot be combined with `thinking.type: "enabled"`',
    ),
    (
        "max-tokens-0-format",
        body(
            max_tokens=0,
            output_config={
                "format": {"type": "json_schema", "schema": {"type": "object"}}
            },
        ),
        "max_tokens: 0 is only allowed for cache pre-warming; it cannot be combined with `output_config.format`",
    ),
    (
        "max-tokens-0-forced-tool",
        body(max_tokens=0, tools=[TOOL], tool_choice={"type": "any"}),
        "max_tokens: 0 is only allowed for cache pre-warming; it cannot be combined with a `tool_choice` that forces tool use",
    ),
    ("unknown-field", body(foo=1), "foo: Extra inputs are not permitted"),
    (
        "beta-field-without-beta",
        body(context_management={"edits": []}),
        "context_management: Extra inputs are not permitted",
    ),
    ("stream-type", body(stream="yes"), "stream: Input should be a valid boolean"),
    (
        "stop-sequences-type",
        body(stop_sequences="END"),
        "stop_sequences: Input should be a valid list",
    ),
    (
        "stop-sequence-item",
        body(stop_sequences=[1]),
        "stop_sequences.0: Input should be a valid string",
    ),
    (
        "stop-sequence-blank",
        body(stop_sequences=[" "]),
        "stop_sequences: each stop sequence must contain non-whitespace",
    ),
    (
        "metadata-type",
        body(metadata="u"),
        "metadata: Input should be a valid dictionary",
    ),
    (
        "metadata-extra",
        body(metadata={"user": "u"}),
        "metadata.user: Extra inputs are not permitted",
    ),
    (
        "metadata-user-id",
        body(metadata={"user_id": 5}),
        "metadata.user_id: Input should be a valid string",
    ),
    (
        "service-tier",
        body(service_tier="priority"),
        "service_tier: Input should be 'auto' or 'standard_only'",
    ),
    ("speed", body(speed="slow"), "speed: Input should be 'standard' or 'fast'"),
    (
        "inference-geo",
        body(inference_geo=1),
        "inference_geo: Input should be a valid string",
    ),
    (
        "container",
        body(container=1),
        "container: Input should be a valid string or dictionary",
    ),
    (
        "diagnostics-type",
        body(diagnostics="x"),
        "diagnostics: Input should be a valid dictionary",
    ),
    (
        "diagnostics-extra",
        body(diagnostics={"id": None}),
        "diagnostics.id: Extra inputs are not permitted",
    ),
    (
        "diagnostics-id",
        body(diagnostics={"previous_message_id": 1}),
        "diagnostics.previous_message_id: Input should be a valid string",
    ),
    (
        "top-cache-control-type",
        body(cache_control={"type": "persistent"}),
        "cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "top-cache-control-ttl",
        body(cache_control={"type": "ephemeral", "ttl": "2h"}),
        "cache_control.ttl: Input should be '5m' or '1h'",
    ),
    (
        "cache-control-not-object",
        body(user([text("a", cache_control="yes")])),
        "messages.0.content.0.text.cache_control: Input should be a valid dictionary",
    ),
    (
        "cache-control-extra",
        body(user([text("a", cache_control={"type": "ephemeral", "x": 1})])),
        "messages.0.content.0.text.cache_control.x: Extra inputs are not permitted",
    ),
    (
        "temperature-range",
        body(temperature=1.5),
        "temperature: Input should be less than or equal to 1",
    ),
    (
        "temperature-negative",
        body(temperature=-0.1),
        "temperature: Input should be greater than or equal to 0",
    ),
    (
        "temperature-type",
        body(temperature="hot"),
        "temperature: Input should be a valid number",
    ),
    (
        "top-k",
        body(top_k=-1),
        "top_k: Input should be a valid integer greater than or equal to 0",
    ),
    (
        "temperature-new-api",
        body(temperature=1.0),
        "temperature: Extra inputs are not permitted",
        V2,
    ),
    ("top-p-new-api", body(top_p=0.9), "top_p: Extra inputs are not permitted", V2),
    ("top-k-new-api", body(top_k=5), "top_k: Extra inputs are not permitted", V2),
    (
        "temperature-default-only",
        body(model="claude-opus-4-7", temperature=0.2),
        "temperature: claude-opus-4-7 only supports the default value; remove the parameter",
    ),
    (
        "temperature-with-thinking",
        body(temperature=0.5, thinking=ENABLED, max_tokens=2048),
        "temperature may only be set to 1 when thinking is enabled." + DOCS,
    ),
    (
        "top-p-with-thinking",
        body(top_p=0.5, thinking=ENABLED, max_tokens=2048),
        "top_p must be greater than or equal to 0.95 or unset when thinking is enabled."
        + DOCS,
    ),
    (
        "top-k-with-thinking",
        body(top_k=5, thinking=ENABLED, max_tokens=2048),
        "top_k must be unset when thinking is enabled." + DOCS,
    ),
    (
        "system-type",
        body(system=5),
        "system: Input should be a valid string or list of text blocks",
    ),
    (
        "system-block-type",
        body(system=[image()]),
        "system.0: Input tag 'image' found using 'type' does not match any of the expected tags: 'text'",
    ),
    (
        "system-empty-text",
        body(system=[text("")]),
        "system: text content blocks must be non-empty",
    ),
    (
        "system-blank-text",
        body(system=[text(" ")]),
        "system: text content blocks must contain non-whitespace text",
    ),
    ("tools-type", body(tools={}), "tools: Input should be a valid list"),
    ("tool-type", body(tools=["x"]), "tools.0: Input should be a valid dictionary"),
    (
        "tool-name-missing",
        body(tools=[{"input_schema": {"type": "object"}}]),
        "tools.0.custom.name: Field required",
    ),
    (
        "tool-schema-missing",
        body(tools=[{"name": "t"}]),
        "tools.0.custom.input_schema: Field required",
    ),
    (
        "tool-name-pattern",
        body(tools=[{**TOOL, "name": "get weather"}]),
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "tool-description",
        body(tools=[{**TOOL, "description": 1}]),
        "tools.0.custom.description: Input should be a valid string",
    ),
    (
        "tool-schema-type",
        body(tools=[{**TOOL, "input_schema": []}]),
        "tools.0.custom.input_schema: Input should be a valid dictionary",
    ),
    (
        "tool-schema-object",
        body(tools=[{**TOOL, "input_schema": {"type": "string"}}]),
        "tools.0.custom.input_schema.type: Input should be 'object'",
    ),
    (
        "tool-extra",
        body(tools=[{**TOOL, "color": "red"}]),
        "tools.0.custom.color: Extra inputs are not permitted",
    ),
    (
        "tool-unknown-type",
        body(tools=[{"type": "laser_20250101", "name": "x"}]),
        "tools.0: Input tag 'laser_20250101' found using 'type' does not match any of the expected tags",
    ),
    (
        "tool-names-unique",
        body(tools=[TOOL, TOOL]),
        "tools: Tool names must be unique.",
    ),
    (
        "tool-cache-control",
        body(tools=[{**TOOL, "cache_control": {"type": "x"}}]),
        "tools.0.custom.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "tool-choice-type",
        body(tools=[TOOL], tool_choice={"type": "some"}),
        "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
    ),
    (
        "tool-choice-name-missing",
        body(tools=[TOOL], tool_choice={"type": "tool"}),
        "tool_choice.tool.name: Field required",
    ),
    (
        "tool-choice-extra",
        body(
            tools=[TOOL],
            tool_choice={"type": "none", "disable_parallel_tool_use": True},
        ),
        "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
    ),
    (
        "tool-choice-parallel-type",
        body(
            tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": "y"}
        ),
        "tool_choice.auto.disable_parallel_tool_use: Input should be a valid boolean",
    ),
    (
        "tool-choice-without-tools",
        body(tool_choice={"type": "any"}),
        "tool_choice may only be specified while providing tools.",
    ),
    (
        "tool-choice-unknown-tool",
        body(tools=[TOOL], tool_choice={"type": "tool", "name": "other"}),
        "tool_choice.tool.name: Tool 'other' not found in tools",
    ),
    (
        "forced-tool-with-thinking",
        body(
            tools=[TOOL], tool_choice={"type": "any"}, thinking=ENABLED, max_tokens=2048
        ),
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    (
        "output-config-type",
        body(output_config=1),
        "output_config: Input should be a valid dictionary",
    ),
    (
        "output-config-extra",
        body(output_config={"speed": 1}),
        "output_config.speed: Extra inputs are not permitted",
    ),
    (
        "effort",
        body(output_config={"effort": "huge"}),
        "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
    ),
    (
        "format-type",
        body(output_config={"format": "json"}),
        "output_config.format: Input should be a valid dictionary",
    ),
    (
        "format-kind",
        body(output_config={"format": {"type": "xml", "schema": {}}}),
        "output_config.format.type: Input should be 'json_schema'",
    ),
    (
        "format-schema",
        body(output_config={"format": {"type": "json_schema", "schema": 1}}),
        "output_config.format.schema: Input should be a valid dictionary",
    ),
    (
        "thinking-type",
        body(thinking={"type": "on"}),
        "thinking: Input tag found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive', 'between_tools'",
    ),
    (
        "thinking-budget-missing",
        body(thinking={"type": "enabled"}),
        "thinking.enabled.budget_tokens: Field required",
    ),
    (
        "thinking-budget-type",
        body(thinking={"type": "enabled", "budget_tokens": "many"}),
        "thinking.enabled.budget_tokens: Input should be a valid integer",
    ),
    (
        "thinking-budget-small",
        body(thinking={"type": "enabled", "budget_tokens": 1023}),
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "thinking-budget-over-max",
        body(max_tokens=1024, thinking=ENABLED),
        "`max_tokens` must be greater than `thinking.budget_tokens`."
        + DOCS
        + "#max-tokens-and-context-window-size",
    ),
    (
        "thinking-display",
        body(thinking={"type": "enabled", "budget_tokens": 1024, "display": "full"}),
        "thinking.enabled.display: Input should be 'summarized' or 'omitted'",
    ),
    (
        "thinking-extra",
        body(thinking={"type": "disabled", "display": "omitted"}),
        "thinking.disabled.display: Extra inputs are not permitted",
    ),
    (
        "thinking-enabled-on-4-7",
        body(model="claude-opus-4-7", thinking=ENABLED),
        '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.',
    ),
    (
        "thinking-adaptive-on-4-5",
        body(thinking={"type": "adaptive"}),
        "adaptive thinking is not supported on this model",
    ),
    (
        "thinking-between-tools-on-4-5",
        body(thinking={"type": "between_tools"}),
        '"thinking.type.between_tools" is not supported for this model.',
    ),
    (
        "thinking-disabled-on-fable",
        body(model="claude-fable-5", thinking={"type": "disabled"}),
        '"thinking.type.disabled" is not supported for this model. Thinking is always on; use "output_config.effort" to control thinking behavior.',
    ),
    (
        "thinking-disabled-opus-5-max-effort",
        body(
            model="claude-opus-5",
            thinking={"type": "disabled"},
            output_config={"effort": "max"},
        ),
        '"thinking.type.disabled" is not supported with "output_config.effort": "max" for this model. Use effort "high" or lower, or adaptive thinking.',
    ),
    ("messages-type", body(messages={}), "messages: Input should be a valid list"),
    (
        "messages-empty",
        {**body(), "messages": []},
        "messages: List should have at least 1 item after validation, not 0",
    ),
    ("message-type", body("hi"), "messages.0: Input should be a valid dictionary"),
    (
        "message-role-missing",
        body({"content": "hi"}),
        "messages.0.role: Field required",
    ),
    (
        "message-content-missing",
        body({"role": "user"}),
        "messages.0.content: Field required",
    ),
    (
        "message-extra",
        body({"role": "user", "content": "hi", "name": "bob"}),
        "messages.0.name: Extra inputs are not permitted",
    ),
    (
        "role-bot",
        body({"role": "bot", "content": "hi"}),
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    (
        "role-system-unsupported",
        body(user("a"), {"role": "system", "content": "be brief"}),
        "messages.1.role: Input should be 'user' or 'assistant'",
    ),
    (
        "content-type",
        body(user(5)),
        "messages.0.content: Input should be a valid string or list of blocks",
    ),
    (
        "block-type",
        body(user(["hi"])),
        "messages.0.content.0: Input should be a valid dictionary",
    ),
    (
        "block-tag-missing",
        body(user([{"text": "hi"}])),
        "messages.0.content.0: Unable to extract tag using discriminator 'type'",
    ),
    (
        "block-unknown",
        body(user([{"type": "nope"}])),
        "messages.0.content.0: Input tag 'nope' found using 'type' does not match any of the expected tags: "
        + TAGS,
    ),
    (
        "block-extra",
        body(user([text("hi", color="red")])),
        "messages.0.content.0.text.color: Extra inputs are not permitted",
    ),
    (
        "text-missing",
        body(user([{"type": "text"}])),
        "messages.0.content.0.text.text: Field required",
    ),
    (
        "text-type",
        body(user([text(5)])),
        "messages.0.content.0.text.text: Input should be a valid string",
    ),
    (
        "text-empty",
        body(user([text("")])),
        "messages: text content blocks must be non-empty",
    ),
    (
        "text-blank",
        body(user([text("  ")])),
        "messages: text content blocks must contain non-whitespace text",
    ),
    (
        "text-blank-string",
        body(user(" \n")),
        "messages: text content blocks must contain non-whitespace text",
    ),
    (
        "text-empty-cached",
        body(user([text("", cache_control=CACHE)])),
        "messages.0.content.0.text: cache_control cannot be set for empty text blocks",
    ),
    (
        "text-citations-type",
        body(user([text("a", citations="x")])),
        "messages.0.content.0.text.citations: Input should be a valid list",
    ),
    (
        "user-citations-new-api",
        body(user([text("a", citations=[CITATION])])),
        "messages.0.content.0.text.citations: citations are not permitted on text blocks in `user` messages",
        V2,
    ),
    (
        "search-result-citations-new-api",
        body(
            user(
                [
                    {
                        "type": "search_result",
                        "source": "s",
                        "title": "t",
                        "content": [text("a", citations=[CITATION])],
                    }
                ]
            )
        ),
        "messages.0.content.0.search_result.content.0.citations: citations are not permitted on text blocks in `user` messages",
        V2,
    ),
    (
        "document-in-assistant-new-api",
        body(
            user("a"),
            assistant(
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
            user("b"),
        ),
        "messages.1.content.0: `document` blocks are not permitted directly in `assistant` messages",
        V2,
    ),
    (
        "image-source-type",
        body(user([{"type": "image", "source": "x"}])),
        "messages.0.content.0.image.source: Input should be a valid dictionary",
    ),
    (
        "image-source-kind",
        body(user([{"type": "image", "source": {"type": "path"}}])),
        "messages.0.content.0.image.source: Input tag 'path' found using 'type' does not match any of the expected tags: 'base64', 'file', 'url'",
    ),
    (
        "image-media-type",
        body(user([image(media_type="image/bmp")])),
        "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
    ),
    (
        "image-data-type",
        body(
            user(
                [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": 5,
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.image.source.base64.data: Input should be a valid string",
    ),
    (
        "image-not-base64",
        body(user([image(data="not base64!")])),
        "messages.0.content.0.image.source.base64: invalid base64 data",
    ),
    (
        "image-not-image",
        body(user([image(data=base64.b64encode(b"hello").decode())])),
        "Could not process image",
    ),
    (
        "image-wrong-media-type",
        body(user([image(media_type="image/jpeg")])),
        "messages.0.content.0.image.source.base64: The image was specified using the image/jpeg media type, but the image appears to be a image/png image",
    ),
    (
        "image-too-large-side",
        body(user([image(png_base64(8001, 1))])),
        "messages.0.content.0.image.source.base64.data: At least one of the image dimensions exceed max allowed size: 8000 pixels",
    ),
    (
        "image-url-missing",
        body(user([{"type": "image", "source": {"type": "url"}}])),
        "messages.0.content.0.image.source.url.url: Field required",
    ),
    (
        "image-url-type",
        body(user([{"type": "image", "source": {"type": "url", "url": 1}}])),
        "messages.0.content.0.image.source.url.url: Input should be a valid string",
    ),
    (
        "many-images-large",
        body(user([image(png_base64(2001, 1))] + [image() for _ in range(20)])),
        "messages.0.content.0.image.source.base64.data: At least one of the image dimensions exceed max allowed size for many-image requests: 2000 pixels",
    ),
    (
        "too-many-images",
        body(user([image() for _ in range(101)])),
        "messages: too many images in the request: 101 > 100 maximum",
    ),
    (
        "document-pdf-media-type",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "text/plain",
                            "data": PDF,
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.document.source.base64.media_type: Input should be 'application/pdf'",
    ),
    (
        "document-pdf-invalid",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": PNG,
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.pdf.source.base64.data: The PDF specified was not valid.",
    ),
    (
        "document-text-media-type",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/html",
                            "data": "d",
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.document.source.text.media_type: Input should be 'text/plain'",
    ),
    (
        "document-title",
        body(
            user(
                [
                    {
                        "type": "document",
                        "title": 1,
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "d",
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.document.title: Input should be a valid string",
    ),
    (
        "document-content-block",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "content",
                            "content": [{"type": "tool_use"}],
                        },
                    }
                ]
            )
        ),
        "messages.0.content.0.document.source.content.content.0: Input tag 'tool_use' found using 'type' does not match any of the expected tags: 'text', 'image'",
    ),
    (
        "search-result-content",
        body(
            user(
                [{"type": "search_result", "source": "s", "title": "t", "content": "x"}]
            )
        ),
        "messages.0.content.0.search_result.content: Input should be a valid list",
    ),
    (
        "tool-use-in-user",
        body(user([USE])),
        "messages.0.content.0: `tool_use` blocks are not allowed in `user` messages",
    ),
    (
        "tool-result-in-assistant",
        body(user("a"), assistant([RESULT]), user("b")),
        "messages.1.content.0: `tool_result` blocks are not allowed in `assistant` messages",
    ),
    (
        "tool-use-input",
        body(user("a"), assistant([{**USE, "input": []}]), user([RESULT])),
        "messages.1.content.0.tool_use.input: Input should be a valid dictionary",
    ),
    (
        "tool-result-id-missing",
        body(user([{"type": "tool_result", "content": "x"}])),
        "messages.0.content.0.tool_result.tool_use_id: Field required",
    ),
    (
        "tool-result-is-error",
        body(user("a"), assistant([USE]), user([{**RESULT, "is_error": "no"}])),
        "messages.2.content.0.tool_result.is_error: Input should be a valid boolean",
    ),
    (
        "tool-result-nested-unknown",
        body(
            user("a"),
            assistant([USE]),
            user([{**RESULT, "content": [{"type": "tool_use"}]}]),
        ),
        "messages.2.content.0.tool_result.content.0: Input tag 'tool_use' found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document', 'tool_reference', 'browser_state'",
    ),
    (
        "tool-result-nested-empty-text",
        body(user("a"), assistant([USE]), user([{**RESULT, "content": [text("")]}])),
        "messages: text content blocks must be non-empty",
    ),
    (
        "server-tool-name",
        body(user("a"), assistant([{**SEARCH, "name": "browse"}])),
        "messages.1.content.0.server_tool_use.name: Input should be 'web_search', 'web_fetch', 'code_execution', 'bash_code_execution', 'text_editor_code_execution', 'tool_search_tool_regex' or 'tool_search_tool_bm25'",
    ),
    (
        "server-result-content",
        body(user("a"), assistant([SEARCH, {**SEARCH_RESULT, "content": "x"}])),
        "messages.1.content.1.web_search_tool_result.content: Input should be a valid list or dictionary",
    ),
    (
        "thinking-in-user",
        body(user([SIGNED])),
        "messages.0.content.0: `thinking` blocks are not allowed in `user` messages",
    ),
    (
        "thinking-cache-control",
        body(
            user("a"),
            assistant([{**SIGNED, "cache_control": CACHE}, text("b")]),
            user("c"),
        ),
        "messages.1.content.0.thinking.cache_control: Extra inputs are not permitted",
    ),
    (
        "thinking-signature-type",
        body(user("a"), assistant([{**SIGNED, "signature": 1}, text("b")]), user("c")),
        "messages.1.content.0.thinking.signature: Input should be a valid string",
    ),
    (
        "redacted-thinking-data",
        body(
            user("a"),
            assistant([{"type": "redacted_thinking", "data": 1}, text("b")]),
            user("c"),
        ),
        "messages.1.content.0.redacted_thinking.data: Input should be a valid string",
    ),
    ("empty-content-user", body(user("")), "messages.0: " + EMPTY),
    (
        "empty-content-list",
        body(user("a"), assistant([]), user("b")),
        "messages.1: " + EMPTY,
    ),
    (
        "prefill-rejected",
        body(user("a"), assistant("b"), model="claude-opus-4-6"),
        NO_PREFILL,
    ),
    (
        "prefill-rejected-mythos-preview",
        body(user("a"), assistant("b"), model="claude-mythos-preview"),
        NO_PREFILL,
    ),
    (
        "trailing-whitespace",
        body(user("a"), assistant("The answer is ")),
        "messages: final assistant content cannot end with trailing whitespace",
    ),
    (
        "trailing-whitespace-block",
        body(user("a"), assistant([text("b"), text("c\n")])),
        "messages: final assistant content cannot end with trailing whitespace",
    ),
    (
        "thinking-final-assistant",
        body(user("a"), assistant("b"), thinking=ENABLED, max_tokens=2048),
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.",
    ),
    (
        "tool-use-unanswered",
        body(user("a"), assistant([USE]), user("b")),
        "messages.1: " + MISSING,
    ),
    ("tool-use-final", body(user("a"), assistant([USE])), "messages.1: " + MISSING),
    (
        "tool-result-not-first",
        body(user("a"), assistant([USE]), user([text("here"), RESULT])),
        "messages.1: " + MISSING,
    ),
    (
        "tool-result-merged-not-first",
        body(user("a"), assistant([USE]), user("here"), user([RESULT])),
        "messages.1: " + MISSING,
    ),
    (
        "tool-result-orphan",
        body(
            user("a"),
            assistant([USE]),
            user([RESULT, {**RESULT, "tool_use_id": "toolu_9"}]),
        ),
        "messages.2.content.1: " + ORPHAN,
    ),
    (
        "tool-result-duplicate",
        body(user("a"), assistant([USE]), user([RESULT, RESULT])),
        "messages.2.content.1: each `tool_use` must have a single result. Found multiple `tool_result` blocks with id: toolu_1",
    ),
    (
        "tool-result-first-message",
        body(user([RESULT])),
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
    ),
    (
        "server-result-orphan",
        body(user("a"), assistant([{**SEARCH_RESULT, "tool_use_id": "srvtoolu_9"}])),
        "messages.1.content.0: unexpected `tool_use_id` found in `web_search_tool_result` blocks: srvtoolu_9. Each `web_search_tool_result` block must have a corresponding `server_tool_use` block before it.",
    ),
    (
        "server-tool-use-unanswered",
        body(user("a"), assistant([SEARCH]), user("b")),
        "messages.1: `server_tool_use` block with id srvtoolu_1 was found without a corresponding web_search_tool_result block",
    ),
    (
        "signature-modified",
        body(
            user("a"),
            assistant([{**SIGNED, "thinking": "Let me think!"}, text("b")]),
            user("c"),
        ),
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    (
        "signature-foreign",
        body(user("a"), assistant([FOREIGN, text("b")]), user("c")),
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    (
        "signature-garbage",
        body(
            user("a"), assistant([{**SIGNED, "signature": "sig"}, text("b")]), user("c")
        ),
        "messages.1.content.0: Invalid `signature` in `thinking` block",
    ),
    (
        "cache-breakpoints-5",
        body(user(cached(5))),
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "cache-breakpoints-auto",
        body(user([*cached(3), text("last")]), system=cached(1), cache_control=CACHE),
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "cache-breakpoints-tools",
        body(
            user(cached(2)), system=cached(2), tools=[{**TOOL, "cache_control": CACHE}]
        ),
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "cache-auto-ttl-conflict",
        body(user([text("a", cache_control=HOUR)]), cache_control=CACHE),
        "Top-level cache_control has ttl='5m' but the target block already has cache_control with ttl='1h'",
    ),
    (
        "cache-ttl-order",
        body(user([text("a", cache_control=CACHE), text("b", cache_control=HOUR)])),
        "messages.0.content.1.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.",
    ),
    (
        "system-message-first",
        body({"role": "system", "content": "x"}, user("a"), model="claude-opus-4-8"),
        "messages.0: a `system` message cannot be the first message",
    ),
    (
        "system-message-after-assistant",
        body(
            user("a"),
            assistant("b"),
            {"role": "system", "content": "x"},
            model="claude-opus-4-8",
        ),
        "messages.2: a `system` message must immediately follow a `user` message or an `assistant` message that ends with a server tool result",
    ),
    (
        "system-message-before-user",
        body(
            user("a"),
            {"role": "system", "content": "x"},
            user("b"),
            model="claude-opus-4-8",
        ),
        "messages.1: a `system` message must be followed by an `assistant` message or end the conversation",
    ),
    (
        "system-message-block",
        body(
            user("a"), {"role": "system", "content": [image()]}, model="claude-opus-4-8"
        ),
        "messages.1.content.0: Input tag 'image' found using 'type' does not match any of the expected tags: 'text'",
    ),
    (
        "image-over-10mb",
        body(user([image(data="A" * (10 * 1024 * 1024 + 4))])),
        "messages.0.content.0.image.source.base64: image exceeds 10 MB maximum: 10485764 bytes > 10485760 bytes",
    ),
    (
        "tool-names-unique-with-server-tool",
        body(tools=[{"type": "web_search_20250305", "name": "web_search"}, TOOL, TOOL]),
        "tools: Tool names must be unique.",
    ),
    (
        "image-truncated-jpeg",
        body(
            user(
                [
                    image(
                        base64.b64encode(b"\xff\xd8\xff\xe0\x00").decode(), "image/jpeg"
                    )
                ]
            )
        ),
        "Could not process image",
    ),
    (
        "image-empty-before-base64",
        body(user([image(data="")])),
        "messages.0.content.0.image.source.base64: image cannot be empty",
    ),
    (
        "pdf-in-tool-result-invalid",
        body(
            user("a"),
            assistant([USE]),
            user(
                [
                    {
                        **RESULT,
                        "content": [
                            {
                                "type": "document",
                                "source": {
                                    "type": "base64",
                                    "media_type": "application/pdf",
                                    "data": PNG,
                                },
                            }
                        ],
                    }
                ]
            ),
        ),
        "messages.2.content.0.tool_result.content.0.pdf.source.base64.data: The PDF specified was not valid.",
    ),
    (
        "text-editor-old-name",
        body(tools=[{"type": "text_editor_20250728", "name": "str_replace_editor"}]),
        "tools.0.text_editor_20250728.name: Input should be 'str_replace_based_edit_tool'",
    ),
    (
        "text-editor-max-characters-on-old-version",
        body(
            tools=[
                {
                    "type": "text_editor_20250124",
                    "name": "str_replace_editor",
                    "max_characters": 10,
                }
            ]
        ),
        "tools.0.text_editor_20250124.max_characters: Extra inputs are not permitted",
    ),
    (
        "toolset-extra-name",
        body(tools=[{"type": "computer_toolset_20260801", "name": "computer"}]),
        "tools.0.computer_toolset_20260801.name: Extra inputs are not permitted",
    ),
    (
        "server-result-caller-not-allowed",
        body(
            user("a"),
            assistant(
                [
                    {**SEARCH, "name": "code_execution", "input": {"code": "1"}},
                    {
                        "type": "code_execution_tool_result",
                        "tool_use_id": "srvtoolu_1",
                        "content": [],
                        "caller": {"type": "direct"},
                    },
                ]
            ),
            user("b"),
        ),
        "messages.1.content.1.code_execution_tool_result.caller: Extra inputs are not permitted",
    ),
    (
        "document-citations-type",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "d",
                        },
                        "citations": {"enabled": "yes"},
                    }
                ]
            )
        ),
        "messages.0.content.0.document.citations.enabled: Input should be a valid boolean",
    ),
    (
        "too-many-messages",
        body(*[user("a")] * 100_001),
        "messages: List should have at most 100000 items after validation, not 100001",
    ),
    (
        "prompt-too-long",
        body(user("word " * 200_001)),
        "prompt is too long: 200006 tokens > 200000 maximum",
    ),
]
INVALID = [
    pytest.param(row[1], row[2], row[3] if len(row) > 3 else "2023-06-01", id=row[0])
    for row in _INVALID
]

# (id, body, API version) of requests the API accepts.
_VALID: list[tuple[Any, ...]] = [
    ("plain", body(), "2023-06-01"),
    ("new-api-bearer", body(), V2),
    (
        "first-message-assistant",
        body(assistant("Hi, I am Claude."), user("Hello")),
        "2023-06-01",
    ),
    ("consecutive-users-merge", body(user("a"), user("b")), "2023-06-01"),
    ("prefill", body(user("a"), assistant("The answer is (")), "2023-06-01"),
    (
        "prefill-unknown-model",
        body(user("a"), assistant("{"), model="claude-test-1"),
        "2023-06-01",
    ),
    ("final-assistant-empty", body(user("a"), assistant("")), "2023-06-01"),
    (
        "final-assistant-empty-on-4-6",
        body(user("a"), assistant([]), model="claude-opus-4-6"),
        "2023-06-01",
    ),
    (
        "tool-round-trip",
        body(
            user("a"),
            assistant([text("Let me check."), USE]),
            user([RESULT, text("thanks")]),
            tools=[TOOL],
        ),
        "2023-06-01",
    ),
    (
        "tool-result-list-content",
        body(
            user("a"),
            assistant([USE]),
            user([{**RESULT, "content": [text("sunny"), image()], "is_error": False}]),
        ),
        "2023-06-01",
    ),
    (
        "tool-result-no-content",
        body(
            user("a"),
            assistant([USE]),
            user([{"type": "tool_result", "tool_use_id": "toolu_1"}]),
        ),
        "2023-06-01",
    ),
    (
        "tool-choice-any",
        body(
            tools=[TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True}
        ),
        "2023-06-01",
    ),
    (
        "tool-choice-tool-adaptive",
        body(
            model="claude-opus-4-6",
            tools=[TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
            thinking={"type": "adaptive"},
        ),
        "2023-06-01",
    ),
    (
        "server-tool",
        body(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "2023-06-01",
    ),
    (
        "cache-4-breakpoints",
        body(
            user(cached(2)), system=cached(1), tools=[{**TOOL, "cache_control": HOUR}]
        ),
        "2023-06-01",
    ),
    ("cache-auto-same-ttl", body(user(cached(4)), cache_control=CACHE), "2023-06-01"),
    (
        "cache-auto-skips-thinking",
        body(
            user("a"),
            assistant([SIGNED, text("b", cache_control=CACHE)]),
            cache_control={"type": "ephemeral", "ttl": "5m"},
        ),
        "2023-06-01",
    ),
    (
        "cache-ttl-1h-then-5m",
        body(user([text("a", cache_control=HOUR), text("b", cache_control=CACHE)])),
        "2023-06-01",
    ),
    (
        "thinking-enabled",
        body(
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
        ),
        "2023-06-01",
    ),
    (
        "thinking-adaptive-4-6",
        body(model="claude-opus-4-6", thinking={"type": "adaptive"}),
        "2023-06-01",
    ),
    (
        "thinking-disabled-opus-5-high",
        body(
            model="claude-opus-5",
            thinking={"type": "disabled"},
            output_config={"effort": "high"},
        ),
        "2023-06-01",
    ),
    (
        "thinking-continuation",
        body(
            user("a"),
            assistant([SIGNED, USE]),
            user([RESULT]),
            max_tokens=2048,
            thinking=ENABLED,
            tools=[TOOL],
        ),
        "2023-06-01",
    ),
    (
        "thinking-omitted-signature",
        body(user("a"), assistant([OMITTED, text("b")]), user("c")),
        "2023-06-01",
    ),
    (
        "thinking-final-assistant-starts-with-thinking",
        body(
            user("a"), assistant([SIGNED, text("b")]), thinking=ENABLED, max_tokens=2048
        ),
        "2023-06-01",
    ),
    (
        "redacted-thinking",
        body(
            user("a"),
            assistant([{"type": "redacted_thinking", "data": "opaque"}, text("b")]),
            user("c"),
        ),
        "2023-06-01",
    ),
    (
        "older-thinking-unchecked",
        body(
            user("a"),
            assistant([FOREIGN, text("b")]),
            user("c"),
            assistant("d"),
            user("e"),
        ),
        "2023-06-01",
    ),
    ("sampling-old-api", body(temperature=0.2, top_p=0.9, top_k=5), "2023-06-01"),
    (
        "system-string-and-blocks",
        body(system=[text("You are terse.", cache_control=CACHE)]),
        "2023-06-01",
    ),
    (
        "everything-optional",
        body(
            system="s",
            metadata={"user_id": "u1"},
            stop_sequences=["END"],
            stream=False,
            service_tier="auto",
            speed="standard",
            inference_geo="us",
            container="c1",
            diagnostics={"previous_message_id": None},
            output_config={
                "effort": "low",
                "format": {"type": "json_schema", "schema": {"type": "object"}},
            },
        ),
        "2023-06-01",
    ),
    ("diagnostics-null", body(diagnostics=None), "2023-06-01"),
    (
        "cache-auto-skips-final-thinking",
        body(user("a"), assistant([text("x"), SIGNED]), cache_control=CACHE),
        "2023-06-01",
    ),
    (
        "cache-auto-no-target",
        body(assistant([SIGNED]), cache_control=CACHE),
        "2023-06-01",
    ),
    ("prewarm", body(max_tokens=0, cache_control=CACHE), "2023-06-01"),
    (
        "images-20-large",
        body(user([image(png_base64(2100, 10)) for _ in range(20)])),
        "2023-06-01",
    ),
    (
        "images-21-small",
        body(user([image() for _ in range(21)] + [image(GIF, "image/gif")])),
        "2023-06-01",
    ),
    (
        "image-url-and-file",
        body(
            user(
                [
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://x/y.png"},
                    },
                    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                ]
            )
        ),
        "2023-06-01",
    ),
    (
        "documents",
        body(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": PDF,
                        },
                        "title": "t",
                        "citations": {"enabled": True},
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "d",
                        },
                    },
                    {
                        "type": "document",
                        "source": {"type": "content", "content": [text("c")]},
                    },
                    text("Summarize"),
                ]
            )
        ),
        "2023-06-01",
    ),
    (
        "search-result",
        body(
            user(
                [
                    {
                        "type": "search_result",
                        "source": "s",
                        "title": "t",
                        "content": [text("x")],
                        "citations": {"enabled": True},
                    },
                    text("q"),
                ]
            )
        ),
        "2023-06-01",
    ),
    (
        "assistant-citations-new-api",
        body(user("a"), assistant([text("cited", citations=[CITATION])]), user("b")),
        V2,
    ),
    (
        "document-in-assistant-old-api",
        body(
            user("a"),
            assistant(
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
            user("b"),
        ),
        "2023-06-01",
    ),
    (
        "system-message-opus-4-8",
        body(
            user("a"),
            {"role": "system", "content": "Be brief."},
            assistant("ok"),
            user("b"),
            model="claude-opus-4-8",
        ),
        "2023-06-01",
    ),
    (
        "system-message-ends",
        body(
            user("a"),
            {"role": "system", "content": [text("Be brief.")]},
            model="claude-fable-5",
        ),
        "2023-06-01",
    ),
    (
        "pause-turn-continuation",
        body(
            user("a"),
            assistant([text("Searching."), SEARCH]),
            model="claude-opus-4-6",
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        ),
        "2023-06-01",
    ),
    (
        "server-result-answered",
        body(user("a"), assistant([SEARCH, SEARCH_RESULT, text("found")]), user("b")),
        "2023-06-01",
    ),
    (
        "server-tool-pending-with-results",
        body(user("a"), assistant([SEARCH, USE]), user([RESULT])),
        "2023-06-01",
    ),
    (
        "server-tools-with-their-names",
        body(
            tools=[
                {"type": "bash_20250124", "name": "bash"},
                {"type": "code_execution_20250825", "name": "code_execution"},
                {"type": "memory_20250818", "name": "memory"},
                {"type": "text_editor_20250124", "name": "str_replace_editor"},
                {
                    "type": "text_editor_20250728",
                    "name": "str_replace_based_edit_tool",
                    "max_characters": 1000,
                },
                {
                    "type": "web_fetch_20260318",
                    "name": "web_fetch",
                    "use_cache": True,
                    "max_uses": 2,
                },
                {
                    "type": "tool_search_tool_regex_20251119",
                    "name": "tool_search_tool_regex",
                },
                {"type": "computer_toolset_20260801"},
            ]
        ),
        "2023-06-01",
    ),
    (
        "web-search-result-with-caller",
        body(
            user("a"),
            assistant([SEARCH, {**SEARCH_RESULT, "caller": {"type": "direct"}}]),
            user("b"),
        ),
        "2023-06-01",
    ),
    (
        "container-upload",
        body(user([{"type": "container_upload", "file_id": "file_1"}, text("run it")])),
        "2023-06-01",
    ),
]
VALID = [pytest.param(row[1], row[2], id=row[0]) for row in _VALID]
