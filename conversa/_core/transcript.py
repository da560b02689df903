"""A conversation as a Markdown transcript: for people to read, not to import.

The lossless form is the JSONL export (`conversa export`); this one is the readable
one (`conversa export --format markdown`, `markdown_transcript`): a header with the
record, the system prompt, then one section a turn, in seq order, with its text as
written (model replies are usually Markdown already), tool calls and results in
fenced blocks, thinking folded away, usage under each reply. Every turn stored is
shown, retracted ones too: a retraction says which turns it hides from the replay.

Pure functions from conversa values to text; the callers read the store, a page of
turns at a time if they like (`markdown_header` once, then `markdown_turn` per turn).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._values.blocks import (
    Block,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.turns import ConversationRecord, Turn

__all__ = ["markdown_header", "markdown_transcript", "markdown_turn"]

_TICKS = re.compile(r"`{3,}")


def _fence(text: str, language: str = "") -> str:
    """*text* in a code fence longer than any run of backticks inside it."""
    longest = max((len(m) for m in _TICKS.findall(text)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{text}\n{ticks}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def _when(turn_or_record: Turn | ConversationRecord) -> str:
    return turn_or_record.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _source(block: Mapping[str, Any]) -> str:
    source = block.get("source")
    if not isinstance(source, Mapping):
        return ""
    if source.get("type") == "url":
        return f" {source.get('url')}"
    if source.get("type") == "base64":
        return f" ({source.get('media_type')}, {len(str(source.get('data', '')))} base64 characters)"
    return f" ({source.get('type')})"


def _result(block: ToolResultBlock) -> str:
    label = "Tool error" if block.is_error else "Tool result"
    head = f"**{label}** (`{block.tool_use_id}`):"
    if block.content is None:
        return f"{head} *(empty)*"
    if isinstance(block.content, str):
        return f"{head}\n\n{_fence(block.content)}"
    inner = "\n\n".join(_block(b) for b in block.content)
    return f"{head}\n\n{inner}"


def _block(block: Block) -> str:
    """One block as Markdown."""
    if isinstance(block, TextBlock):
        return block.text
    if isinstance(block, ToolUseBlock):
        call = f"**Tool call** `{block.name}` (`{block.id}`):"
        return f"{call}\n\n{_fence(_json(dict(block.input)), 'json')}"
    if isinstance(block, ToolResultBlock):
        return _result(block)
    if isinstance(block, ThinkingBlock):
        return f"<details><summary>Thinking</summary>\n\n{block.thinking}\n\n</details>"
    if isinstance(block, RedactedThinkingBlock):
        return "*(redacted thinking)*"
    data = block.to_api()
    kind = data.get("type", "block")
    if kind in ("image", "document"):
        title = f" “{data['title']}”" if isinstance(data.get("title"), str) else ""
        return f"*[{kind}{title}{_source(data)}]*"
    return f"*[{kind} block]*\n\n{_fence(_json(data), 'json')}"


def _usage(turn: Turn) -> str:
    usage = turn.usage
    if usage is None:
        return ""
    return (
        f"*Tokens: in {usage.input_tokens} · out {usage.output_tokens} · cache write "
        f"{usage.cache_creation_input_tokens} · cache read "
        f"{usage.cache_read_input_tokens}*"
    )


def markdown_header(record: ConversationRecord) -> str:
    """The transcript's title, the record's facts and the system prompt."""
    lines = [f"# Conversation `{record.id}`", ""]
    facts = [
        ("Model", f"`{record.model}`" if record.model else "—"),
        ("Owner", record.owner or "—"),
        ("Created", _when(record)),
        ("Turns", str(record.last_seq)),
    ]
    if record.parent_id is not None:
        facts.append(("Forked from", f"`{record.parent_id}` at #{record.forked_at}"))
    if record.metadata:
        meta = json.dumps(dict(record.metadata), ensure_ascii=False, sort_keys=True)
        facts.append(("Metadata", f"`{meta}`"))
    lines += [f"- **{name}:** {value}" for name, value in facts]
    if record.system is not None:
        system = (
            record.system
            if isinstance(record.system, str)
            else "\n\n".join(_block(b) for b in record.system)
        )
        lines += ["", "## System", "", system]
    return "\n".join(lines) + "\n"


def markdown_turn(turn: Turn) -> str:
    """One turn as a section of the transcript (a retraction as one line)."""
    if turn.kind == "retraction":
        hidden = ", ".join(f"#{seq}" for seq in turn.retracts)
        return f"\n*#{turn.seq}: retracted {hidden} (hidden from the replay, still stored)*\n"
    title = "User" if turn.role == "user" else "Assistant"
    if turn.kind == "summary":
        title = "Summary"
    head = f"## {title} · #{turn.seq}"
    if turn.role == "assistant" and turn.model:
        head += f" · `{turn.model}`"
    if turn.status != "complete":
        head += f" · *{turn.status}*"
    parts = [head, f"*{_when(turn)}*", *(_block(b) for b in turn.blocks)]
    if not turn.blocks:
        parts.append("*(no content)*")
    usage = _usage(turn)
    if usage:
        parts.append(usage)
    return "\n" + "\n\n".join(parts) + "\n"


def markdown_transcript(record: ConversationRecord, turns: Iterable[Turn]) -> str:
    """Return a conversation as a readable Markdown transcript.

    The lossless form is the JSONL export; this one is for people: the record's
    model, owner and system prompt, then every stored turn in order (text as
    written, tool calls and results in code blocks, thinking folded, each reply's
    tokens), a retraction as a line naming the turns it hides.

    Args:
        record: the conversation record (``conv.record()``).
        turns: its turns, oldest first (``conv.turns()``).
    """
    return markdown_header(record) + "".join(markdown_turn(t) for t in turns)
