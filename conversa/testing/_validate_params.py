"""Rules for the request's parameters: system, tools, tool_choice, output_config, thinking.

The request body's fields (https://docs.claude.com/en/api/messages), forced tool use with
thinking, and thinking types per model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._validate_base import Ctx, check_cache_control, check_keys, is_int, reject
from ._validate_blocks import MESSAGE_SPECS, check_content

__all__ = [
    "THINKING_DOCS",
    "check_output_config",
    "check_system",
    "check_thinking",
    "check_tool_choice",
    "check_tools",
]

# "tools.73.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
# (jedisct1/openapi-mcp#9, 2025-06; modelcontextprotocol#1345, 2025-08); until
# mid-2025 the API said {1,64} (apify/tester-mcp-client#11, 2025-03).
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_SERVER_TOOL = re.compile(
    r"^(bash|code_execution|browser_toolset|computer_toolset|memory|text_editor"
    r"|web_search|web_fetch|tool_search_tool_bm25|tool_search_tool_regex)"
    r"(_\d{8})?$"
)
_TOOL_KEYS = (
    "type",
    "description",
    "cache_control",
    "defer_loading",
    "allowed_callers",
    "strict",
    "eager_input_streaming",
    "input_examples",
)
# Each server tool's keys, from the SDK's tool params (anthropic 2.x,
# types/*_tool_*_param.py); "type" and "name" are required where they exist.
_COMMON_TOOL = ("allowed_callers", "cache_control", "defer_loading", "strict")
_DOMAINS = ("allowed_domains", "blocked_domains", "max_uses")
_SERVER_TOOL_KEYS: dict[str, tuple[str, ...]] = {
    "bash": (*_COMMON_TOOL, "input_examples"),
    "code_execution": _COMMON_TOOL,
    "browser_toolset": ("cache_control", "configs"),
    "computer_toolset": ("cache_control", "configs"),
    "memory": (*_COMMON_TOOL, "input_examples"),
    "text_editor": (*_COMMON_TOOL, "input_examples"),
    "web_search": (*_COMMON_TOOL, *_DOMAINS, "user_location"),
    "web_fetch": (
        *_COMMON_TOOL,
        *_DOMAINS,
        "citations",
        "max_content_tokens",
        "url_sources",
    ),
    "tool_search_tool_bm25": _COMMON_TOOL,
    "tool_search_tool_regex": _COMMON_TOOL,
}
_SERVER_TOOL_EXTRA: dict[str, tuple[str, ...]] = {
    "text_editor_20250728": ("max_characters",),
    "web_search_20260318": ("response_inclusion",),
    "web_fetch_20260309": ("use_cache",),
    "web_fetch_20260318": ("use_cache", "response_inclusion"),
}
# The name each server tool must carry, where it differs from its type's stem.
_SERVER_TOOL_NAMES = {
    "text_editor": "str_replace_based_edit_tool",
    "text_editor_20250124": "str_replace_editor",
    "text_editor_20241022": "str_replace_editor",
}
_EFFORTS = ("low", "medium", "high", "xhigh", "max")
_NOT_ENABLED = (
    '"thinking.type.enabled" is not supported for this model. Use '
    '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.'
)
THINKING_DOCS = (
    " Please consult our documentation at https://docs.claude.com/en/docs/"
    "build-with-claude/extended-thinking"
)


def check_system(ctx: Ctx) -> None:
    system = ctx.body.get("system")
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        reject("system: Input should be a valid string or list of text blocks")
    # A list of TextBlockParam, not a union: "system.0.id: Extra inputs are not
    # permitted" (langchain-ai/langchain#39100) names no tag.
    text = {"text": MESSAGE_SPECS["text"]}
    check_content(ctx, system, "system", "user", text, tagged=False)


def check_tools(ctx: Ctx) -> None:
    tools = ctx.body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        reject("tools: Input should be a valid list")
    names: list[str] = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict):
            reject(f"tools.{n}: Input should be a valid dictionary")
        kind = tool.get("type")
        if kind in (None, "custom"):
            where = f"tools.{n}.custom"
            _custom_tool(tool, where)
        elif not (isinstance(kind, str) and _SERVER_TOOL.match(kind)):
            reject(
                f"tools.{n}: Input tag '{kind}' found using 'type' does not match any "
                "of the expected tags"
            )
        else:
            where = f"tools.{n}.{kind}"
            _server_tool(tool, kind, where)
            if ctx.endpoint == "count_tokens" and not kind.startswith(
                ("memory", "bash", "text_editor")
            ):
                reject(f"tools.{n}: count_tokens does not support server tools")
        check_cache_control(tool.get("cache_control"), f"{where}.cache_control")
        if isinstance(tool.get("name"), str):
            names.append(tool["name"])
    if len(set(names)) != len(names):
        reject("tools: Tool names must be unique.")


def _server_tool(tool: Mapping[str, Any], kind: str, path: str) -> None:
    family = _SERVER_TOOL.match(kind)
    name = family.group(1) if family else kind
    keys = _SERVER_TOOL_KEYS[name] + _SERVER_TOOL_EXTRA.get(kind, ())
    required = ("type",) if name.endswith("_toolset") else ("type", "name")
    check_keys(tool, path, required, keys)
    expected = _SERVER_TOOL_NAMES.get(kind, _SERVER_TOOL_NAMES.get(name, name))
    if "name" in required and tool["name"] != expected:
        reject(f"{path}.name: Input should be '{expected}'")


def _custom_tool(tool: Mapping[str, Any], path: str) -> None:
    check_keys(tool, path, ("name", "input_schema"), _TOOL_KEYS)
    if not (isinstance(tool["name"], str) and _TOOL_NAME.match(tool["name"])):
        reject(f"{path}.name: String should match pattern '{_TOOL_NAME.pattern}'")
    if "description" in tool and not isinstance(tool["description"], str):
        reject(f"{path}.description: Input should be a valid string")
    schema = tool["input_schema"]
    if not isinstance(schema, dict):
        reject(f"{path}.input_schema: Input should be a valid dictionary")
    if schema.get("type") != "object":
        reject(f"{path}.input_schema.type: Input should be 'object'")


def check_tool_choice(ctx: Ctx) -> None:
    choice = ctx.body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in (
        "auto",
        "any",
        "tool",
        "none",
    ):
        reject(
            "tool_choice: Input tag found using 'type' does not match any of the "
            "expected tags: 'auto', 'any', 'tool', 'none'"
        )
    kind = choice["type"]
    path = f"tool_choice.{kind}"
    if kind == "tool":
        check_keys(choice, path, ("type", "name"), ("disable_parallel_tool_use",))
    else:
        extra = () if kind == "none" else ("disable_parallel_tool_use",)
        check_keys(choice, path, ("type",), extra)
    if "disable_parallel_tool_use" in choice and not isinstance(
        choice["disable_parallel_tool_use"], bool
    ):
        reject(f"{path}.disable_parallel_tool_use: Input should be a valid boolean")
    names = [t.get("name") for t in ctx.body.get("tools") or []]
    if kind in ("any", "tool") and not names:
        reject("tool_choice may only be specified while providing tools.")
    if kind == "tool" and choice["name"] not in names:
        reject(f"tool_choice.tool.name: Tool '{choice['name']}' not found in tools")
    if kind in ("any", "tool") and ctx.thinking_type == "enabled":
        reject("Thinking may not be enabled when tool_choice forces tool use.")


def check_output_config(ctx: Ctx) -> None:
    config = ctx.body.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict):
        reject("output_config: Input should be a valid dictionary")
    check_keys(config, "output_config", (), ("effort", "format"))
    if config.get("effort") is not None and config["effort"] not in _EFFORTS:
        reject(
            "output_config.effort: Input should be "
            + ", ".join(f"'{e}'" for e in _EFFORTS[:-1])
            + f" or '{_EFFORTS[-1]}'"
        )
    form = config.get("format")
    if form is not None:
        if not isinstance(form, dict):
            reject("output_config.format: Input should be a valid dictionary")
        check_keys(form, "output_config.format", ("type", "schema"), ())
        if form["type"] != "json_schema":
            reject("output_config.format.type: Input should be 'json_schema'")
        if not isinstance(form["schema"], dict):
            reject("output_config.format.schema: Input should be a valid dictionary")


def check_thinking(ctx: Ctx) -> None:
    thinking = ctx.body.get("thinking")
    if thinking is None:
        return
    kinds = ("enabled", "disabled", "adaptive", "between_tools")
    if not isinstance(thinking, dict) or thinking.get("type") not in kinds:
        reject(
            "thinking: Input tag found using 'type' does not match any of the "
            "expected tags: " + ", ".join(f"'{k}'" for k in kinds)
        )
    kind = thinking["type"]
    path = f"thinking.{kind}"
    required = ("type", "budget_tokens") if kind == "enabled" else ("type",)
    check_keys(thinking, path, required, () if kind == "disabled" else ("display",))
    if thinking.get("display") not in (None, "summarized", "omitted"):
        reject(f"{path}.display: Input should be 'summarized' or 'omitted'")
    _thinking_support(ctx, kind)
    if kind == "enabled":
        budget = thinking["budget_tokens"]
        if not is_int(budget):
            reject(f"{path}.budget_tokens: Input should be a valid integer")
        if budget < 1024:
            reject(
                f"{path}.budget_tokens: Input should be greater than or equal to 1024"
            )
        if (
            ctx.endpoint == "messages"
            and ctx.body["max_tokens"]
            and budget >= ctx.body["max_tokens"]
        ):
            reject(
                "`max_tokens` must be greater than `thinking.budget_tokens`."
                + THINKING_DOCS
                + "#max-tokens-and-context-window-size"
            )


def _thinking_support(ctx: Ctx, kind: str) -> None:
    rules = ctx.rules
    if kind in rules.thinking_types:
        effort = (ctx.body.get("output_config") or {}).get("effort")
        if (
            kind == "disabled"
            and rules.disabled_needs_low_effort
            and effort in ("xhigh", "max")
        ):
            reject(
                f'"thinking.type.disabled" is not supported with "output_config.effort": '
                f'"{effort}" for this model. Use effort "high" or lower, or adaptive thinking.'
            )
        return
    if kind == "enabled":
        reject(_NOT_ENABLED)
    if kind == "disabled":
        reject(
            '"thinking.type.disabled" is not supported for this model. Thinking is '
            'always on; use "output_config.effort" to control thinking behavior.'
        )
    if kind == "adaptive":
        reject("adaptive thinking is not supported on this model")
    reject(f'"thinking.type.{kind}" is not supported for this model.')
