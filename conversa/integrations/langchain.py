"""LangChain's chat message history, kept in a conversa store.

``pip install 'conversa-state[langchain]'``. `ConversaChatMessageHistory` is a
`BaseChatMessageHistory`, so `RunnableWithMessageHistory` (and anything else that
takes one) keeps its sessions in any conversa store::

    chain = RunnableWithMessageHistory(
        model,
        lambda session_id: ConversaChatMessageHistory(store, session_id, owner="u-42"),
    )

Each message is one stored turn. `HumanMessage` is a user turn with its text, an
`AIMessage` an assistant turn with its text and one `tool_use` block a tool call,
a `ToolMessage` a user turn with one `tool_result` (``is_error`` when its status is
``"error"``). A `SystemMessage` (and any other kind) is a user turn with no blocks:
the Messages API has no system message in a conversation (conversa keeps a
conversation's system prompt in its record). Whatever the blocks do not carry
(names, ids, metadata, usage, non-text content items, a system message whole) is
kept as the JSON LangChain writes (`message_to_dict`), in the turn's
``flags["langchain"]``; the messages read back equal those added. An AI
message's model name and token counts are also the turn's ``model`` and ``usage``.

`clear()` retracts every turn: the history reads empty afterwards, and the turns
stay stored (erase a conversation with the store's `erase`/`delete`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .. import (
    Block,
    TextBlock,
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
    from langchain_core.chat_history import BaseChatMessageHistory
    from langchain_core.messages import (
        AIMessage,
        BaseMessage,
        HumanMessage,
        ToolMessage,
        message_to_dict,
        messages_from_dict,
    )
except ImportError as exc:  # pragma: no cover - the langchain extra installs it
    _msg = "conversa.integrations.langchain needs langchain-core: pip install 'conversa-state[langchain]'"
    raise ImportError(_msg) from exc

__all__ = [
    "FLAG",
    "ConversaChatMessageHistory",
    "messages_from_turns",
    "turns_from_messages",
]

FLAG = "langchain"
"""The key of a turn's `flags` that keeps what its message holds beyond its blocks."""

Role = Literal["user", "assistant"]


def _texts(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [TextBlock(content)] if content else []
    items = content if isinstance(content, list) else []
    return [
        TextBlock(item["text"])
        for item in items
        if isinstance(item, Mapping)
        and item.get("type") == "text"
        and isinstance(item.get("text"), str)
        and item["text"]
    ]


def _blocks(kind: str, data: Mapping[str, Any]) -> list[Block]:
    """The Anthropic blocks a message is (none for a system message)."""
    content = data.get("content")
    if kind == "human":
        return _texts(content)
    if kind == "ai":
        calls = [
            ToolUseBlock(str(c.get("id") or ""), str(c.get("name")), dict(c["args"]))
            for c in data.get("tool_calls") or ()
            if isinstance(c.get("args"), Mapping)
        ]
        return [*_texts(content), *calls]
    if kind == "tool":
        text = (
            content
            if isinstance(content, str)
            else json.dumps(content, ensure_ascii=False)
        )
        failed = data.get("status") == "error" or None
        return [ToolResultBlock(str(data.get("tool_call_id")), text, is_error=failed)]
    return []


def _back(kind: str, blocks: Sequence[Block]) -> dict[str, Any]:
    """The message fields *blocks* give back."""
    text = "".join(b.text for b in blocks if isinstance(b, TextBlock))
    if kind == "tool" and blocks and isinstance(blocks[0], ToolResultBlock):
        result = blocks[0]
        return {
            "content": result.content if isinstance(result.content, str) else "",
            "type": "tool",
            "tool_call_id": result.tool_use_id,
            "status": "error" if result.is_error else "success",
        }
    if kind == "ai":
        calls = [
            {"name": b.name, "args": dict(b.input), "id": b.id, "type": "tool_call"}
            for b in blocks
            if isinstance(b, ToolUseBlock)
        ]
        return {"content": text, "type": "ai", "tool_calls": calls}
    if kind == "human":
        return {"content": text, "type": "human"}
    return {"type": kind}


def _usage(data: Mapping[str, Any]) -> Usage | None:
    usage = data.get("usage_metadata")
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("input_token_details")
    details = details if isinstance(details, Mapping) else {}

    def count(source: Mapping[str, Any], key: str) -> int:
        value = source.get(key)
        return value if isinstance(value, int) else 0

    cache_read = count(details, "cache_read")
    cache_write = count(details, "cache_creation")
    return Usage(
        # LangChain's input_tokens counts the cache too; the API's does not.
        max(count(usage, "input_tokens") - cache_read - cache_write, 0),
        count(usage, "output_tokens"),
        cache_write,
        cache_read,
    )


def _turn(message: BaseMessage, seq: int) -> Turn:
    dumped = message_to_dict(message)
    kind, data = dumped["type"], dumped["data"]
    role: Role = "assistant" if kind == "ai" else "user"
    blocks = [settled(b) for b in _blocks(kind, data)]
    metadata = data.get("response_metadata")
    model = metadata.get("model_name") if isinstance(metadata, Mapping) else None
    return Turn(
        role,
        tuple(blocks),
        id=turn_id("langchain", seq, dumped),
        model=model if isinstance(model, str) and kind == "ai" else None,
        usage=_usage(data) if kind == "ai" else None,
        flags={FLAG: {"type": kind, **split(data, _back(kind, blocks))}},
    )


def turns_from_messages(
    messages: Sequence[BaseMessage], *, after_seq: int = 0
) -> tuple[Turn, ...]:
    """Return the turns that keep *messages*, to be stored after seq *after_seq*.

    A turn's id depends on the message and its seq: storing the same messages at
    the same place again is idempotent.
    """
    return tuple(_turn(m, after_seq + i + 1) for i, m in enumerate(messages))


def _foreign(turn: Turn) -> list[BaseMessage]:
    """The messages a turn conversa wrote itself reads as."""
    if turn.role == "assistant":
        calls = [b for b in turn.blocks if isinstance(b, ToolUseBlock)]
        rest = [b for b in turn.blocks if not isinstance(b, ToolUseBlock)]
        content: Any = turn.text
        if any(not isinstance(b, TextBlock) for b in rest):
            content = [b.to_api() for b in rest]
        tool_calls = [
            {"name": b.name, "args": dict(b.input), "id": b.id} for b in calls
        ]
        return [AIMessage(content=content, tool_calls=tool_calls)]
    out: list[BaseMessage] = []
    for b in turn.blocks:
        if isinstance(b, ToolResultBlock):
            text = b.content if isinstance(b.content, str) else ""
            status = "error" if b.is_error else "success"
            if not isinstance(b.content, str) and b.content is not None:
                text = json.dumps([x.to_api() for x in b.content], ensure_ascii=False)
            out.append(ToolMessage(text, tool_call_id=b.tool_use_id, status=status))
    said = [b for b in turn.blocks if not isinstance(b, ToolResultBlock)]
    if said and all(isinstance(b, TextBlock) for b in said):
        out.append(HumanMessage(turn.text))
    elif said:
        out.append(HumanMessage([b.to_api() for b in said]))
    return out


def messages_from_turns(turns: Sequence[Turn]) -> list[BaseMessage]:
    """Return the LangChain messages stored *turns* keep (message turns only).

    A turn conversa wrote itself reads as LangChain's messages for its blocks: a
    user turn's tool results as `ToolMessage`s, then its other content as one
    `HumanMessage` (blocks other than text as their API form).
    """
    messages: list[BaseMessage] = []
    for turn in turns:
        entry = turn.flags.get(FLAG)
        if not isinstance(entry, Mapping):
            messages.extend(_foreign(turn))
            continue
        kind = entry["type"]
        data = join(_back(kind, turn.blocks), entry)
        messages.extend(messages_from_dict([{"type": kind, "data": data}]))
    return messages


class ConversaChatMessageHistory(Adapter[BaseMessage], BaseChatMessageHistory):
    """LangChain's chat message history for one conversation of a conversa store.

    Adding messages appends conditionally on the history this object read first
    since its last write (a later read, such as the one LangChain makes after the
    model ran, does not move it): if another writer appended since, `add_messages`
    raises `SeqConflictError` and stores nothing; after a conflict or a write, the
    next read counts again. An object that has read nothing appends after whatever
    is stored. (Under `RunnableWithMessageHistory`, which
    reads the history before the model runs and adds the exchange from a callback,
    LangChain logs that error as a warning instead of raising it: the exchange
    that lost the race is not stored, and the stored history stays one that each
    reply saw.) While a conversa send to the same conversation is in flight, an
    add waits for it, up to *lease_wait* seconds (then `ConversationBusyError`).

    Args:
        store: any conversa store (`Store` for the sync methods, `AsyncStore` for
            the async ones; conversa's stores are both).
        session_id: the conversation id; the conversation is created at the first
            add. A random id by default.
        owner: the tenant: every read and write goes through
            ``store.for_owner(owner)``, so another owner's session reads empty and
            cannot be written (`ConversationNotFoundError`).
        metadata: the new conversation's metadata (never sent anywhere).
        lease_wait: how long an add waits for a conversa send in flight.

    Raises:
        InvalidInputError: *owner* with a store that cannot scope to one.
    """

    def __init__(
        self,
        store: Any,
        session_id: str | None = None,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        lease_wait: float = DEFAULT_LEASE_WAIT,
    ) -> None:
        self._stored = StoredHistory.of(
            store,
            session_id,
            owner=owner,
            metadata=metadata,
            lease_wait=lease_wait,
            pin=True,
        )

    _decode = staticmethod(messages_from_turns)
    _encode = staticmethod(turns_from_messages)

    @property
    def session_id(self) -> str:
        """The conversation the history is kept in."""
        return self._stored.conversation_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The stored messages, oldest first (retracted ones left out)."""
        return self._read()

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append *messages* in one transaction.

        Raises:
            SeqConflictError: another writer appended since the history this
                object read; nothing was stored.
        """
        self._write(messages)

    async def aget_messages(self) -> list[BaseMessage]:
        """See `messages`."""
        return await self._aread()

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """See `add_messages`."""
        await self._awrite(messages)
