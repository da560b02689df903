"""A request's prompt as the prompt cache sees it: blocks, prefix hashes, breakpoints.

Prompt caching (https://platform.claude.com/docs/en/build-with-claude/prompt-caching):
the prefix runs tools → system → messages, and a cache hit
needs every block up to the breakpoint identical. Each block gets a rolling hash of
the whole prefix through it, so two prompts share an entry exactly when they agree
on every block so far. What goes into a block's hash:

* the model (every entry belongs to one model);
* for system blocks, also ``speed``; for message blocks, also ``speed``,
  ``tool_choice``, the thinking config (type and ``budget_tokens``) and
  ``output_config.effort``: the prompt caching docs' "what invalidates the cache"
  table. An explicit
  default counts as omitted (``tool_choice`` auto, thinking off, effort high);
* the block itself without its ``cache_control`` marker, so moving a breakpoint
  changes no hash. A block's own fields are hashed in sorted order (the API reads
  fields, not bytes), but free-form JSON inside (``tool_use.input``, a tool's
  ``input_schema``) keeps its key order: the prompt caching docs warn that reordering it breaks
  caches;
* for message blocks, the role and whether the block opens its message: a string
  content hashes like the single text block it stands for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from ._tokens import PromptItem, prompt_items
from ._validate_base import Ctx
from ._validate_blocks import SERVER_RESULTS

__all__ = ["TTL_SECONDS", "Prompt", "build_prompt"]

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_UNCACHEABLE = ("thinking", "redacted_thinking")


@frozen
class Prompt:
    """The cache's view of one request.

    Attributes:
        model: the request's model.
        speed: the request's speed (``standard`` when omitted).
        params: the other prompt-affecting parameters (``tool_choice``,
            ``thinking``, ``output_config``, betas, ``context_management``) as
            canonical JSON; cache diagnostics report ``unavailable`` when they
            differ.
        keys: the rolling hash of the prefix through each block.
        cumulative: the tokens of the prefix through each block.
        total: the tokens of the whole prompt (`count_request`).
        tools: how many blocks are tool definitions.
        system: how many blocks are system blocks (they follow the tools).
        breakpoints: ``(position, ttl)`` of each block that carries a breakpoint,
            the automatic one included, by position.
    """

    model: str
    speed: str
    params: str
    keys: tuple[bytes, ...]
    cumulative: tuple[int, ...]
    total: int
    tools: int
    system: int
    breakpoints: tuple[tuple[int, str], ...]

    def tokens_through(self, position: int) -> int:
        """Return the tokens of the prefix through block *position* (0 before -1)."""
        return self.cumulative[position] if position >= 0 else 0

    def section_of(self, position: int) -> str:
        """Return ``tools``, ``system`` or ``messages`` for block *position*."""
        if position < self.tools:
            return "tools"
        return "system" if position < self.tools + self.system else "messages"


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _bare(block: Mapping[str, Any]) -> dict[str, Any]:
    # Sorted fields, no cache marker; nested block lists get the same treatment.
    bare: dict[str, Any] = {}
    for key in sorted(block):
        if key == "cache_control":
            continue
        value = block[key]
        if key in ("content", "source") and isinstance(value, (list, Mapping)):
            value = _nested(value)
        bare[key] = value
    return bare


def _nested(value: list[Any] | Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _bare(value) if "type" in value else value
    return [_bare(v) if isinstance(v, Mapping) and "type" in v else v for v in value]


def _markers(block: Mapping[str, Any]) -> list[str]:
    # Breakpoints inside a block (tool_result content, a document's content)
    # count at the top-level block that holds them.
    ttls = []
    control = block.get("cache_control")
    if isinstance(control, Mapping):
        ttls.append(str(control.get("ttl", "5m")))
    inner = block.get("content")
    source = block.get("source")
    if block.get("type") == "document" and isinstance(source, Mapping):
        inner = source.get("content")
    # Validation has checked every nested block list; server tool results hold
    # search results and the like, never breakpoints.
    if isinstance(inner, list) and block.get("type") not in SERVER_RESULTS:
        for item in inner:
            ttls += _markers(item)
    return ttls


def _settings(body: Mapping[str, Any], ctx: Ctx) -> tuple[str, bytes, bytes, str]:
    speed = str(body.get("speed") or "standard")
    thinking = body.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
    config = body.get("output_config") or {}
    choice = body.get("tool_choice") or {"type": "auto"}
    thinks = [ctx.thinking_type or "disabled", budget]
    effort = config.get("effort") or "high"
    system_salt = _canonical(["system", speed])
    message_salt = _canonical(["messages", speed, choice, thinks, effort])
    params = _canonical(
        [
            choice,
            thinks,
            config,
            sorted(ctx.betas),
            body.get("context_management"),
        ]
    ).decode()
    return speed, system_salt, message_salt, params


def _element(
    item: PromptItem, block: bytes, salts: tuple[bytes, bytes], *, opens: bool
) -> bytes:
    if item.section == "tools":
        return b"T" + block
    if item.section == "system":
        return b"S" + salts[0] + block
    head = _canonical([item.role, opens])
    return b"M" + salts[1] + head + block


def build_prompt(ctx: Ctx) -> Prompt:
    """Return the cache's view of the request in *ctx* (already validated)."""
    body = ctx.body
    speed, system_salt, message_salt, params = _settings(body, ctx)
    key = hashlib.sha256(b"model:" + str(body["model"]).encode()).digest()
    keys: list[bytes] = []
    cumulative: list[int] = []
    counts = {"tools": 0, "system": 0}
    points: dict[int, str] = {}
    spent = 0
    last_message = -1
    eligible = -1
    for item in prompt_items(body, scale=ctx.token_scale):
        spent += item.tokens
        if item.block is None:
            continue
        opens = item.section == "messages" and item.parent != last_message
        if item.section == "messages":
            last_message = item.parent
            if item.block.get("type") not in _UNCACHEABLE:
                eligible = len(keys)
        else:
            counts[item.section] += 1
        block = _canonical(_bare(item.block))
        element = _element(item, block, (system_salt, message_salt), opens=opens)
        key = hashlib.sha256(key + element).digest()
        ttls = _markers(item.block)
        if ttls:
            points[len(keys)] = "1h" if "1h" in ttls else "5m"
        keys.append(key)
        cumulative.append(spent)
    automatic = body.get("cache_control")
    if isinstance(automatic, Mapping) and eligible >= 0 and eligible not in points:
        # Automatic caching: a breakpoint on the last cacheable block.
        points[eligible] = str(automatic.get("ttl", "5m"))
    return Prompt(
        model=str(body["model"]),
        speed=speed,
        params=params,
        keys=tuple(keys),
        cumulative=tuple(cumulative),
        total=spent,
        tools=counts["tools"],
        system=counts["system"],
        breakpoints=tuple(sorted(points.items())),
    )
