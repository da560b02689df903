"""Pydantic AI's message history, kept in a conversa store.

``pip install 'conversa-state[pydantic-ai]'``. Load the history before a run, save
the run's new messages after it::

    history = MessageHistory(store, "session-42", owner="u-42")
    result = agent.run_sync("Hello", message_history=history.load())
    history.save(result.new_messages())

Each `ModelMessage` is one stored turn: a `ModelRequest` a user turn, a
`ModelResponse` an assistant turn. The parts that are Anthropic blocks become the
turn's blocks: user prompts with text content and text parts (`text`), tool calls
(`tool_use`), tool returns and retry prompts for a tool (`tool_result`, a retry or
a failure with ``is_error``), retry feedback (`text`), Anthropic thinking with its signature (`thinking`,
`redacted_thinking`). Every other part (system prompts, multi-modal prompts, files,
native tool calls, other providers' thinking, ...) and every field the blocks do not
carry (timestamps, run ids, usage, provider details, instructions) are kept as the
JSON Pydantic AI writes, in the turn's ``flags["pydantic_ai"]``: a loaded history
equals the saved one (`ModelMessagesTypeAdapter` round trip). A response's model
name and token counts are also the turn's ``model`` and ``usage``, so `conversa
stats` counts them.

Turns conversa wrote itself (a `Conversation` on the same store) load too: text,
tool calls and results and thinking become the matching parts; a block with no
Pydantic AI part (an image, a document) is refused with `InvalidInputError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .. import (
    Block,
    InvalidInputError,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Turn,
    Usage,
)
from ._stored import (
    DEFAULT_LEASE_WAIT,
    Adapter,
    StoredHistory,
    join,
    settled,
    split,
    turn_id,
)

try:
    from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
except ImportError as exc:  # pragma: no cover - the pydantic-ai extra installs it
    _msg = "conversa.integrations.pydantic_ai needs Pydantic AI: pip install 'conversa-state[pydantic-ai]'"
    raise ImportError(_msg) from exc

__all__ = ["FLAG", "MessageHistory", "messages_from_turns", "turns_from_messages"]

FLAG = "pydantic_ai"
"""The key of a turn's `flags` that keeps what its message holds beyond its blocks."""

Role = Literal["user", "assistant"]

_REDACTED = "redacted_thinking"  # the id Pydantic AI gives redacted thinking
#: The tool-return outcomes the model sees as an error (Pydantic AI's ERROR_OUTCOMES).
_FAILED = ("failed", "retried")
#: The blocks that are a Pydantic AI part.
_PARTS = (
    TextBlock,
    ToolUseBlock,
    ToolResultBlock,
    ThinkingBlock,
    RedactedThinkingBlock,
)


def _text(content: Any) -> str:
    return (
        content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    )


def _args(args: Any) -> dict[str, Any]:
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return {}
    return dict(args) if isinstance(args, Mapping) else {}


def _block(part: Mapping[str, Any]) -> Block | None:
    """The Anthropic block a part is, or None for a part that is none."""
    kind, content = part.get("part_kind"), part.get("content")
    if kind in ("user-prompt", "text") and isinstance(content, str):
        return TextBlock(content)
    if kind == "tool-return":
        failed = part.get("outcome") in _FAILED or None
        return ToolResultBlock(
            str(part.get("tool_call_id")), _text(content), is_error=failed
        )
    if kind == "retry-feedback":  # what the model is told to fix, as user text
        return TextBlock(_text(content))
    if kind == "retry-prompt":
        if part.get("tool_name") is None:
            return TextBlock(_text(content))
        return ToolResultBlock(
            str(part.get("tool_call_id")), _text(content), is_error=True
        )
    if kind == "tool-call":
        name, call_id = part.get("tool_name"), part.get("tool_call_id")
        return ToolUseBlock(str(call_id), str(name), _args(part.get("args")))
    signature = part.get("signature")
    if kind == "thinking" and signature and part.get("provider_name") == "anthropic":
        if part.get("id") == _REDACTED:
            return RedactedThinkingBlock(str(signature))
        return ThinkingBlock(str(content), str(signature))
    return None


def _part(block: Block, *, role: Role, names: Mapping[str, str]) -> dict[str, Any]:
    """The part JSON a block gives back (*names*: tool names by call id).

    Raises:
        InvalidInputError: a block with no Pydantic AI part.
    """
    if isinstance(block, TextBlock):
        kind = "user-prompt" if role == "user" else "text"
        return {"part_kind": kind, "content": block.text}
    if isinstance(block, ToolUseBlock):
        return {
            "part_kind": "tool-call",
            "tool_name": block.name,
            "args": dict(block.input),
            "tool_call_id": block.id,
        }
    if isinstance(block, ToolResultBlock):
        content = block.content if isinstance(block.content, str) else ""
        return {
            "part_kind": "retry-prompt" if block.is_error else "tool-return",
            "tool_name": names.get(block.tool_use_id, ""),
            "content": content,
            "tool_call_id": block.tool_use_id,
        }
    if isinstance(block, ThinkingBlock):
        return {
            "part_kind": "thinking",
            "content": block.thinking,
            "signature": block.signature,
            "provider_name": "anthropic",
        }
    if isinstance(block, RedactedThinkingBlock):
        return {
            "part_kind": "thinking",
            "content": "",
            "id": _REDACTED,
            "signature": block.data,
            "provider_name": "anthropic",
        }
    msg = f"a {block.type!r} block has no Pydantic AI message part"
    raise InvalidInputError(msg)  # pragma: no cover - `_message` names the turn first


def _usage(message: Mapping[str, Any]) -> Usage | None:
    usage = message.get("usage")
    if message.get("kind") != "response" or not isinstance(usage, Mapping):
        return None

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else 0

    return Usage(
        count("input_tokens"),
        count("output_tokens"),
        count("cache_write_tokens"),
        count("cache_read_tokens"),
    )


def _turn(message: Mapping[str, Any], seq: int) -> Turn:
    role: Role = "user" if message.get("kind") == "request" else "assistant"
    blocks: list[Block] = []
    parts: list[dict[str, Any]] = []
    for part in message.get("parts", ()):
        block = _block(part)
        if block is None:
            parts.append({"json": part})
            continue
        block = settled(block)
        back = _part(block, role=role, names={})
        parts.append({"block": len(blocks), **split(part, back)})
        blocks.append(block)
    head = {k: v for k, v in message.items() if k != "parts"}
    model = message.get("model_name")
    return Turn(
        role,
        tuple(blocks),
        id=turn_id("pydantic-ai", seq, message),
        model=model if isinstance(model, str) and role == "assistant" else None,
        usage=_usage(message),
        flags={FLAG: {"message": head, "parts": parts}},
    )


def turns_from_messages(
    messages: Sequence[ModelMessage], *, after_seq: int = 0
) -> tuple[Turn, ...]:
    """Return the turns that keep *messages*, to be stored after seq *after_seq*.

    A turn's id depends on the message and its seq: storing the same messages at
    the same place again is idempotent.
    """
    dumped = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
    return tuple(_turn(m, after_seq + i + 1) for i, m in enumerate(dumped))


def _message(turn: Turn, names: dict[str, str]) -> dict[str, Any]:
    entry = turn.flags.get(FLAG)
    for block in turn.blocks:
        if isinstance(block, ToolUseBlock):
            names[block.id] = block.name
    if not isinstance(entry, Mapping):  # a turn conversa wrote itself
        other = [b.type for b in turn.blocks if not isinstance(b, _PARTS)]
        if other:
            msg = f"turn {turn.seq} has a {other[0]!r} block, which has no Pydantic AI message part"
            raise InvalidInputError(msg)
        parts = [_part(b, role=turn.role, names=names) for b in turn.blocks]
        if turn.role == "user":
            return {"kind": "request", "parts": parts}
        return {"kind": "response", "parts": parts, "model_name": turn.model}
    parts = [
        item["json"]
        if "json" in item
        else join(_part(turn.blocks[item["block"]], role=turn.role, names={}), item)
        for item in entry["parts"]
    ]
    return {**entry["message"], "parts": parts}


def messages_from_turns(turns: Sequence[Turn]) -> list[ModelMessage]:
    """Return the Pydantic AI messages stored *turns* keep (message turns only).

    Raises:
        InvalidInputError: a turn conversa wrote holds a block with no Pydantic AI
            part (an image, a document), named by its seq.
    """
    names: dict[str, str] = {}
    return ModelMessagesTypeAdapter.validate_python([_message(t, names) for t in turns])


class MessageHistory(Adapter[ModelMessage]):
    """Pydantic AI's message history for one conversation of a conversa store.

    `load` (`aload`) before a run, for its ``message_history=``; `save` (`asave`)
    after it, with ``result.new_messages()``. A save appends conditionally on the
    history this object last loaded (or saved): if another writer appended to the
    conversation since, it raises `SeqConflictError` and stores nothing (load again
    and rerun). An object that has loaded nothing appends after whatever is
    stored. While a conversa send to the same conversation is in flight, a save
    waits for it, up to *lease_wait* seconds (then `ConversationBusyError`).

    Args:
        store: any conversa store (`Store` for the sync methods, `AsyncStore` for
            the async ones; conversa's stores are both).
        conversation_id: the conversation; created at the first save. A random id
            by default (read it from `conversation_id`).
        owner: the tenant: every read and write goes through
            ``store.for_owner(owner)``, so another owner's conversation is not found
            (`ConversationNotFoundError`), and a new one belongs to *owner*.
        metadata: the new conversation's metadata (never sent anywhere).
        lease_wait: how long a save waits for a conversa send in flight.

    Raises:
        InvalidInputError: *owner* with a store that cannot scope to one.
    """

    def __init__(
        self,
        store: Any,
        conversation_id: str | None = None,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        lease_wait: float = DEFAULT_LEASE_WAIT,
    ) -> None:
        self._stored = StoredHistory.of(
            store,
            conversation_id,
            owner=owner,
            metadata=metadata,
            lease_wait=lease_wait,
        )

    _decode = staticmethod(messages_from_turns)
    _encode = staticmethod(turns_from_messages)

    @property
    def conversation_id(self) -> str:
        """The conversation the history is kept in."""
        return self._stored.conversation_id

    def load(self) -> list[ModelMessage]:
        """Return the stored history (empty for a conversation not stored yet)."""
        return self._read()

    def save(self, messages: Sequence[ModelMessage]) -> None:
        """Append *messages* (a run's ``new_messages()``) to the stored history.

        Raises:
            SeqConflictError: another writer appended since the history this
                object loaded; nothing was stored.
        """
        self._write(messages)

    async def aload(self) -> list[ModelMessage]:
        """See `load`."""
        return await self._aread()

    async def asave(self, messages: Sequence[ModelMessage]) -> None:
        """See `save`."""
        await self._awrite(messages)
