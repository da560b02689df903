"""The checks normalization cannot repair: each one raises before anything is sent.

They run on merged messages whose blocks still know the turn they came from, so an
error names the turn at fault (its position in the replayed turns, its seq, its
id) and states the rule in the words of the API's own 400
(docs: concepts/normalization.md).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TypeAlias

from .._exceptions import PendingToolUseError, UnrepairableHistoryError
from .._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.turns import Role, Turn

__all__ = ["Entry", "Message", "check_messages", "check_thinking_end", "turn_error"]

#: A block and the position of the turn it came from.
Entry: TypeAlias = tuple[Block, int]
#: A message being built: its role and its blocks, each with its turn.
Message: TypeAlias = tuple[Role, list[Entry]]

_ASSISTANT_ONLY = (ToolUseBlock, ThinkingBlock, RedactedThinkingBlock)


def turn_error(
    rule: str, turns: Sequence[Turn], position: int
) -> UnrepairableHistoryError:
    """Build the error for *rule*, naming the turn at *position*."""
    turn = turns[position]
    return UnrepairableHistoryError(
        rule, turn_position=position, turn_seq=turn.seq, turn_id=turn.id
    )


def check_messages(
    messages: Sequence[Message],
    turns: Sequence[Turn],
    *,
    new_positions: Collection[int],
    open_end: bool = False,
    thinking: bool,
    rules_2026: bool,
    max_images: int,
) -> None:
    """Raise if *messages* break a rule that no safe repair can satisfy.

    Args:
        messages: merged messages, oldest first, alternating roles.
        turns: the turns the messages came from (for naming the turn at fault).
        new_positions: positions of the turns not stored yet (the new user turn);
            an unanswered tool_use followed by one of those is pending, not broken.
        open_end: an unanswered tool_use in the last message is allowed (a history
            being stored may end with a reply that asks for tools).
        thinking: whether the request has thinking on.
        rules_2026: whether the rules of anthropic-version 2026-10-21 apply.
        max_images: the most images the model takes in one request.

    Raises:
        PendingToolUseError: the last assistant message asked for tools the new
            turn does not answer.
        UnrepairableHistoryError: any other broken rule, naming the turn.
    """
    _check_images(messages, turns, max_images)
    seen_tool_use_ids: set[str] = set()
    for index, (role, entries) in enumerate(messages):
        if role == "assistant":
            _check_assistant_blocks(
                entries, turns, seen_tool_use_ids, rules_2026=rules_2026
            )
            _check_answered(messages, index, turns, new_positions, open_end=open_end)
            _check_server_tools(messages, index, turns)
        else:
            _check_user_blocks(messages, index, turns)
    check_thinking_end(messages, turns, thinking=thinking)


def check_thinking_end(
    messages: Sequence[Message], turns: Sequence[Turn], *, thinking: bool
) -> None:
    """With thinking on, a final assistant message must start with thinking."""
    role, entries = messages[-1]
    if thinking and role == "assistant":
        block, position = entries[0]
        if not isinstance(block, ThinkingBlock | RedactedThinkingBlock):
            rule = (
                f"Expected `thinking` or `redacted_thinking`, but found `{block.type}`. "
                "When `thinking` is enabled, a final `assistant` message must start "
                "with a thinking block."
            )
            raise turn_error(rule, turns, position)


def _check_images(
    messages: Sequence[Message], turns: Sequence[Turn], max_images: int
) -> None:
    """Count images, those inside tool results too: the API caps them per request."""
    count = 0
    for _, entries in messages:
        for block, position in entries:
            count += _images_in(block)
            if count > max_images:
                rule = (
                    f"too many images in the request: {count} > {max_images} "
                    "maximum for this model"
                )
                raise turn_error(rule, turns, position)


def _images_in(block: Block) -> int:
    if isinstance(block, ImageBlock):
        return 1
    if isinstance(block, ToolResultBlock) and isinstance(block.content, tuple):
        return sum(isinstance(b, ImageBlock) for b in block.content)
    if isinstance(block, DocumentBlock):
        # A custom-content document's source may hold images of its own.
        nested = block.source.get("content")
        if isinstance(nested, list):
            return sum(
                isinstance(b, Mapping) and b.get("type") == "image" for b in nested
            )
    return 0


def _check_assistant_blocks(
    entries: list[Entry], turns: Sequence[Turn], seen: set[str], *, rules_2026: bool
) -> None:
    for block, position in entries:
        if isinstance(block, ToolResultBlock):
            rule = "`tool_result` blocks are not allowed in `assistant` messages"
            raise turn_error(rule, turns, position)
        if isinstance(block, ToolUseBlock):
            # The API wants every tool_use id in a request to be unique.
            if block.id in seen:
                rule = f"`tool_use` ids must be unique: {block.id}"
                raise turn_error(rule, turns, position)
            seen.add(block.id)
        if rules_2026 and isinstance(block, DocumentBlock):
            # 2026-10-21 rejects a document placed directly in an assistant message.
            rule = (
                "`document` blocks are not permitted directly in `assistant` "
                "messages (anthropic-version 2026-10-21)"
            )
            raise turn_error(rule, turns, position)


def _check_user_blocks(
    messages: Sequence[Message], index: int, turns: Sequence[Turn]
) -> None:
    entries = messages[index][1]
    previous = messages[index - 1][1] if index else []
    asked = {b.id for b, _ in previous if isinstance(b, ToolUseBlock)}
    results: set[str] = set()
    for block, position in entries:
        if isinstance(block, _ASSISTANT_ONLY) or _is_server_block(block):
            rule = f"`{block.type}` blocks are not allowed in `user` messages"
            raise turn_error(rule, turns, position)
        if not isinstance(block, ToolResultBlock):
            continue
        use_id = block.tool_use_id
        if use_id in results:
            rule = (
                "each `tool_use` must have a single result. Found multiple "
                f"`tool_result` blocks with id: {use_id}"
            )
            raise turn_error(rule, turns, position)
        results.add(use_id)
        # The API wants each tool_result to answer a tool_use of the message before.
        if use_id not in asked:
            rule = (
                f"unexpected `tool_use_id` found in `tool_result` blocks: {use_id}. "
                "Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
            raise turn_error(rule, turns, position)


def _check_answered(
    messages: Sequence[Message],
    index: int,
    turns: Sequence[Turn],
    new_positions: Collection[int],
    *,
    open_end: bool,
) -> None:
    """Check that the next message answers every tool_use of assistant message *index*."""
    uses = [(b.id, p) for b, p in messages[index][1] if isinstance(b, ToolUseBlock)]
    following = messages[index + 1][1] if index + 1 < len(messages) else []
    answered = {b.tool_use_id for b, _ in following if isinstance(b, ToolResultBlock)}
    missing = [(use_id, p) for use_id, p in uses if use_id not in answered]
    if not missing or (open_end and index + 1 == len(messages)):
        return
    ids = tuple(use_id for use_id, _ in missing)
    if not following or any(p in new_positions for _, p in following):
        # Nothing stored is wrong yet: the caller can still answer or cancel them.
        asked = {use_id for use_id, _ in uses}
        unknown = tuple(
            b.tool_use_id
            for b, _ in following
            if isinstance(b, ToolResultBlock) and b.tool_use_id not in asked
        )
        raise PendingToolUseError(tool_use_ids=ids, unknown_ids=unknown)
    rule = (
        "`tool_use` ids were found without `tool_result` blocks immediately after: "
        f"{', '.join(ids)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
    raise turn_error(rule, turns, missing[0][1])


def _check_server_tools(
    messages: Sequence[Message], index: int, turns: Sequence[Turn]
) -> None:
    """Check the server tool calls of assistant message *index* and their results.

    A server tool's result comes in the same assistant message, after its call. A
    call still without its result (a `pause_turn` reply) may end the request, to be
    continued; otherwise the next user message must hold only tool_result blocks.
    """
    seen: set[str] = set()
    open_calls: dict[str, tuple[RawBlock, int]] = {}
    for block, position in messages[index][1]:
        if not isinstance(block, RawBlock):
            continue
        kind = block.type
        use_id = block.data.get("id")
        result_for = block.data.get("tool_use_id")
        if kind.endswith("_tool_use") and isinstance(use_id, str):
            seen.add(use_id)
            open_calls[use_id] = (block, position)
        elif kind.endswith("_tool_result") and isinstance(result_for, str):
            if result_for not in seen:
                rule = (
                    f"unexpected `tool_use_id` found in `{kind}` blocks: {result_for}. "
                    f"Each `{kind}` block must have a corresponding `server_tool_use` "
                    "block before it."
                )
                raise turn_error(rule, turns, position)
            open_calls.pop(result_for, None)
    if not open_calls or index + 1 == len(messages):
        return
    following = messages[index + 1][1]
    if all(isinstance(b, ToolResultBlock) for b, _ in following):
        return
    use_id, (block, position) = next(iter(open_calls.items()))
    rule = (
        f"`{block.type}` block with id {use_id} was found without a corresponding "
        f"{_result_kind(block)} block"
    )
    raise turn_error(rule, turns, position)


def _is_server_block(block: Block) -> bool:
    """Tell whether *block* is a server tool's call or result (assistant-only)."""
    return isinstance(block, RawBlock) and block.type.endswith(
        ("_tool_use", "_tool_result")
    )


def _result_kind(call: RawBlock) -> str:
    """Name the block type that carries the result of server tool *call*."""
    if call.type != "server_tool_use":
        return call.type.removesuffix("_tool_use") + "_tool_result"
    name = str(call.data.get("name", ""))
    # Both tool-search variants answer with one result type.
    return (
        "tool_search_tool_result"
        if name.startswith("tool_search")
        else f"{name}_tool_result"
    )
