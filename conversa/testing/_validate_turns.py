"""Rules across messages: turn order, prefill, tool pairing, thinking, limits.

The API merges consecutive same-role messages into one turn, so pairing and
prefill rules look at merged turns; error positions still name the original
``messages.N.content.K`` (https://docs.claude.com/en/api/messages).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from attrs import frozen

from ._tokens import count_request, decode_base64, image_size
from ._validate_base import Ctx, check_keys, reject
from ._validate_blocks import MESSAGE_SPECS, SERVER_RESULTS, check_content

__all__ = ["MESSAGE_RULES", "check_messages"]

MAX_MESSAGES = 100_000
MANY_IMAGES = 20
MANY_IMAGES_SIDE = 2000
PREFILL = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)
Item = tuple[int, int, Mapping[str, Any]]


@frozen
class Turn:
    """Consecutive same-role messages, merged as the API merges them."""

    role: str
    items: tuple[Item, ...]


def _items(index: int, content: Any) -> list[Item]:
    if isinstance(content, str):
        return [(index, 0, {"type": "text", "text": content})] if content else []
    return [(index, j, block) for j, block in enumerate(content)]


def _turns(messages: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        items = tuple(_items(index, message["content"]))
        role = message["role"]
        if turns and turns[-1].role == role != "system":
            turns[-1] = Turn(role, turns[-1].items + items)
        else:
            turns.append(Turn(role, items))
    return turns


def check_messages(ctx: Ctx) -> None:
    """Check the ``messages`` list and every message's shape and blocks."""
    messages = ctx.body["messages"]
    if not isinstance(messages, list):
        reject("messages: Input should be a valid list")
    if not messages:
        reject("messages: List should have at least 1 item after validation, not 0")
    if len(messages) > MAX_MESSAGES:
        reject(
            f"messages: List should have at most {MAX_MESSAGES} items after "
            f"validation, not {len(messages)}"
        )
    roles = ("user", "assistant", "system") if ctx.rules.system_messages else ()
    allowed = "'user', 'assistant' or 'system'" if roles else "'user' or 'assistant'"
    for index, message in enumerate(messages):
        path = f"messages.{index}"
        if not isinstance(message, Mapping):
            reject(f"{path}: Input should be a valid dictionary")
        check_keys(message, path, ("role", "content"), ())
        role = message["role"]
        if role not in (roles or ("user", "assistant")):
            reject(f"{path}.role: Input should be {allowed}")
        system = role == "system"
        specs = {"text": MESSAGE_SPECS["text"]} if system else MESSAGE_SPECS
        check_content(
            ctx, message["content"], f"{path}.content", role, specs, tagged=not system
        )


def _non_empty(ctx: Ctx) -> None:
    messages = ctx.body["messages"]
    for index, message in enumerate(messages):
        final_assistant = index == len(messages) - 1 and message["role"] == "assistant"
        if message["content"] in ("", []) and not final_assistant:
            reject(
                f"messages.{index}: all messages must have non-empty content except "
                "for the optional final assistant message"
            )


def _system_messages(ctx: Ctx) -> None:
    # After a user turn (or a server tool result), before an assistant turn.
    messages = ctx.body["messages"]
    for index, message in enumerate(messages):
        if message["role"] != "system":
            continue
        if index == 0:
            reject("messages.0: a `system` message cannot be the first message")
        before = messages[index - 1]
        items = _items(index - 1, before["content"])
        after_result = bool(items) and items[-1][2].get("type") in SERVER_RESULTS
        if not (
            before["role"] == "user" or (before["role"] == "assistant" and after_result)
        ):
            reject(
                f"messages.{index}: a `system` message must immediately follow a "
                "`user` message or an `assistant` message that ends with a server "
                "tool result"
            )
        if index + 1 < len(messages) and messages[index + 1]["role"] != "assistant":
            reject(
                f"messages.{index}: a `system` message must be followed by an "
                "`assistant` message or end the conversation"
            )


def _final_assistant(ctx: Ctx) -> None:
    final = _turns(ctx.body["messages"])[-1]
    if final.role != "assistant" or not final.items:
        return
    blocks = [block for _, _, block in final.items]
    server_turn = any(
        b["type"] == "server_tool_use" or b["type"] in SERVER_RESULTS for b in blocks
    )
    # A pause_turn reply is sent back as the final message: not a prefill.
    if not ctx.rules.accepts_prefill and not server_turn:
        reject(PREFILL)
    index, position, first = final.items[0]
    if ctx.thinking_on and first["type"] not in ("thinking", "redacted_thinking"):
        reject(
            f"messages.{index}.content.{position}.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{first['type']}`. When `thinking` is "
            "enabled, a final `assistant` message must start with a thinking block."
        )
    last = blocks[-1]
    if last["type"] == "text" and last["text"] != last["text"].rstrip():
        reject("messages: final assistant content cannot end with trailing whitespace")


def _tool_pairing(ctx: Ctx) -> None:
    turns = _turns(ctx.body["messages"])
    for number, turn in enumerate(turns):
        after = turns[number + 1] if number + 1 < len(turns) else None
        before = turns[number - 1] if number else None
        if turn.role == "assistant":
            _answered(turn, after)
            _server_answered(turn, after)
        elif turn.role == "user":
            _expected(turn, before)


def _answered(turn: Turn, after: Turn | None) -> None:
    uses = [(i, b["id"]) for i, _, b in turn.items if b["type"] == "tool_use"]
    answered: set[str] = set()
    if after is not None and after.role == "user":
        # The API wants tool_result blocks first in the next user message.
        for _, _, block in after.items:
            if block["type"] != "tool_result":
                break
            answered.add(block["tool_use_id"])
    missing = [(i, tool_id) for i, tool_id in uses if tool_id not in answered]
    if missing:
        ids = ", ".join(tool_id for _, tool_id in missing)
        reject(
            f"messages.{missing[0][0]}: `tool_use` ids were found without "
            f"`tool_result` blocks immediately after: {ids}. Each `tool_use` block "
            "must have a corresponding `tool_result` block in the next message."
        )


def _expected(turn: Turn, before: Turn | None) -> None:
    ids: set[str] = set()
    if before is not None and before.role == "assistant":
        ids = {b["id"] for _, _, b in before.items if b["type"] == "tool_use"}
    seen: set[str] = set()
    for index, position, block in turn.items:
        if block["type"] != "tool_result":
            continue
        tool_id = block["tool_use_id"]
        where = f"messages.{index}.content.{position}"
        if tool_id not in ids:
            reject(
                f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{tool_id}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        if tool_id in seen:
            reject(
                f"{where}: each `tool_use` must have a single result. Found multiple "
                f"`tool_result` blocks with id: {tool_id}"
            )
        seen.add(tool_id)


def _result_name(tool: str) -> str:
    return (
        "tool_search_tool_result"
        if tool.startswith("tool_search")
        else f"{tool}_tool_result"
    )


def _server_answered(turn: Turn, after: Turn | None) -> None:
    uses: dict[str, tuple[int, str]] = {}
    answered: set[str] = set()
    for index, position, block in turn.items:
        if block["type"] == "server_tool_use":
            uses[block["id"]] = (index, block["name"])
        elif block["type"] in SERVER_RESULTS:
            if block["tool_use_id"] not in uses:
                kind = block["type"]
                reject(
                    f"messages.{index}.content.{position}: unexpected `tool_use_id` "
                    f"found in `{kind}` blocks: {block['tool_use_id']}. Each `{kind}` "
                    "block must have a corresponding `server_tool_use` block before it."
                )
            answered.add(block["tool_use_id"])
    pending = [
        (tool_id, where) for tool_id, where in uses.items() if tool_id not in answered
    ]
    if not pending or after is None:
        return
    if after.role == "user" and all(
        b["type"] == "tool_result" for _, _, b in after.items
    ):
        return
    tool_id, (index, name) = pending[0]
    reject(
        f"messages.{index}: `server_tool_use` block with id {tool_id} was found "
        f"without a corresponding {_result_name(name)} block"
    )


def _signatures(ctx: Ctx) -> None:
    # The latest assistant turn's thinking must come back unmodified.
    assistant = [t for t in _turns(ctx.body["messages"]) if t.role == "assistant"]
    if not assistant:
        return
    for index, position, block in assistant[-1].items:
        if block["type"] == "thinking" and not ctx.verify(
            block["thinking"], block["signature"]
        ):
            reject(
                f"messages.{index}.content.{position}: Invalid `signature` in "
                "`thinking` block"
            )


def iter_blocks(messages: list[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield ``(path, block)`` for every block, nested ones included."""
    for index, message in enumerate(messages):
        if isinstance(message["content"], list):
            yield from _nested(f"messages.{index}.content", message["content"])


def _nested(path: str, blocks: list[Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    # Nested locations name the holder's tag, as the API's do:
    # messages.2.content.0.tool_result.content.1.image.source.base64.
    for position, block in enumerate(blocks):
        where = f"{path}.{position}"
        yield where, block
        inner = block.get("content")
        holder = f"{where}.{block['type']}"
        if block["type"] == "document":
            inner = block["source"].get("content")
            holder = f"{holder}.source.content"
        if isinstance(inner, list) and block["type"] not in SERVER_RESULTS:
            yield from _nested(f"{holder}.content", inner)


def _ttl(control: Mapping[str, Any]) -> str:
    return str(control.get("ttl", "5m"))


def _auto_target(messages: list[Any]) -> Mapping[str, Any] | None:
    for message in reversed(messages):
        for _, _, block in reversed(_items(0, message["content"])):
            # Thinking blocks cannot be cached; empty text never gets this far.
            if block["type"] not in ("thinking", "redacted_thinking"):
                return block
    return None


def _breakpoints(ctx: Ctx) -> None:
    body = ctx.body
    points: list[tuple[str, str]] = []
    for key in ("tools", "system"):
        if isinstance(body.get(key), list):
            points += [
                (f"{key}.{n}.cache_control", _ttl(item["cache_control"]))
                for n, item in enumerate(body[key])
                if item.get("cache_control") is not None
            ]
    points += [
        (f"{path}.cache_control", _ttl(block["cache_control"]))
        for path, block in iter_blocks(body["messages"])
        if block.get("cache_control") is not None
    ]
    auto = body.get("cache_control")
    if auto is not None:
        target = _auto_target(body["messages"])
        explicit = target.get("cache_control") if target is not None else None
        if explicit is None:
            points.append(("cache_control", _ttl(auto)))
        elif _ttl(explicit) != _ttl(auto):
            # Quoted from the API in vellum-ai/vellum-assistant#23414 (2026-04).
            reject(
                f"Top-level cache_control has ttl='{_ttl(auto)}' but the target "
                f"block already has cache_control with ttl='{_ttl(explicit)}'"
            )
    if len(points) > 4:
        # At most 4 breakpoints (prompt caching docs); the automatic one takes a slot.
        reject(
            "A maximum of 4 blocks with cache_control may be provided. "
            f"Found {len(points)}."
        )
    shorter_seen = False
    for path, ttl in points:
        if ttl == "1h" and shorter_seen:
            # "messages.0.content.4.cache_control.ttl: a ttl='1h' cache_control
            # block must not come after a ttl='5m' cache_control block. Note that
            # blocks are processed in the following order: `tools`, `system`,
            # `messages`." (cnighswonger/claude-code-cache-fix#44, 2026-04;
            # kristianvast/hermes-claude-auth#31 with system.1, 2026-08).
            reject(
                f"{path}.ttl: a ttl='1h' cache_control block must not come after a "
                "ttl='5m' cache_control block. Note that blocks are processed in "
                "the following order: `tools`, `system`, `messages`."
            )
        shorter_seen = shorter_seen or ttl == "5m"


def _images(ctx: Ctx) -> None:
    images = [
        (path, block)
        for path, block in iter_blocks(ctx.body["messages"])
        if block["type"] == "image"
    ]
    if len(images) > ctx.rules.max_images:
        reject(
            f"messages: too many images in the request: {len(images)} > "
            f"{ctx.rules.max_images} maximum"
        )
    if len(images) <= MANY_IMAGES:
        return
    for path, block in images:
        source = block["source"]
        raw = decode_base64(source["data"]) if source["type"] == "base64" else None
        dims = image_size(raw) if raw is not None else None
        if dims is not None and max(dims) > MANY_IMAGES_SIDE:
            # anthropics/claude-code#9375 (2025-10), verbatim with this location.
            reject(
                f"{path}.image.source.base64.data: At least one of the image dimensions "
                "exceed max allowed size for many-image requests: "
                f"{MANY_IMAGES_SIDE} pixels"
            )


def _prompt_length(ctx: Ctx) -> None:
    tokens = count_request(ctx.body, scale=ctx.token_scale)
    if tokens > ctx.rules.context_window:
        reject(
            f"prompt is too long: {tokens} tokens > {ctx.rules.context_window} maximum"
        )


MESSAGE_RULES = (
    check_messages,
    _non_empty,
    _system_messages,
    _final_assistant,
    _tool_pairing,
    _signatures,
    _breakpoints,
    _images,
    _prompt_length,
)
