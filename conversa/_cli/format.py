"""Text the command line prints: transcripts, listings and ledgers.

Pure functions from conversa values to lines; `_cli.main` prints them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from decimal import Decimal

from .._core.pricing import Ledger, cost
from .._exceptions import InvalidInputError
from .._values.blocks import (
    Block,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.turns import ConversationRecord, Turn, Usage

__all__ = [
    "ledger_line",
    "listing_line",
    "money",
    "plural",
    "sum_ledgers",
    "transcript",
    "usage_line",
]

_SNIPPET = 80


def _snippet(text: str) -> str:
    """One line of at most `_SNIPPET` characters: a summary, not the content."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 1] + "…"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 call``, ``2 calls``; *plural_form* for nouns that add more than an s."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def money(amount: Decimal) -> str:
    """Format USD with enough digits for a single cheap call."""
    return f"${amount:.6f}"


def listing_line(record: ConversationRecord) -> str:
    """One `ls` row: id, model, owner, last update, metadata."""
    meta = json.dumps(dict(record.metadata), ensure_ascii=False, sort_keys=True)
    when = record.updated_at.strftime("%Y-%m-%d %H:%M")
    return f"{record.id}  {record.model}  owner={record.owner or '-'}  {when}  turns={record.last_seq}  {meta}"


def usage_line(usage: Usage, model: str | None) -> str:
    """A reply's tokens and, when its model has a price, its cost."""
    line = (
        f"in {usage.input_tokens} · out {usage.output_tokens} · cache write "
        f"{usage.cache_creation_input_tokens} · cache read {usage.cache_read_input_tokens}"
    )
    try:
        return f"{line} · {money(cost(usage, model or '').total)}"
    except InvalidInputError:
        return f"{line} · unpriced"


def _result_text(block: ToolResultBlock) -> str:
    if block.content is None:
        return ""
    if isinstance(block.content, str):
        return block.content
    return " ".join(b.text for b in block.content if isinstance(b, TextBlock))


def _block_lines(block: Block) -> Iterator[str]:
    match block:
        case TextBlock(text=text):
            yield from (f"  {line}" for line in text.splitlines() or [""])
        case ToolUseBlock(id=tool_id, name=name, input=args):
            yield f"  → tool call {name} [{tool_id}] {_snippet(json.dumps(dict(args), ensure_ascii=False))}"
        case ToolResultBlock(tool_use_id=tool_id, is_error=is_error):
            label = "tool error" if is_error else "tool result"
            yield f"  ← {label} [{tool_id}] {_snippet(_result_text(block))}"
        case ThinkingBlock(thinking=thinking):
            yield f"  (thinking: {_snippet(thinking)})"
        case _:
            yield f"  [{block.to_api().get('type', 'block')}]"


def transcript(record: ConversationRecord, turns: Iterable[Turn]) -> Iterator[str]:
    """The lines of `show`: header, system prompt, each turn, then the totals."""
    yield f"conversation {record.id}  model {record.model}  owner {record.owner or '-'}"
    if record.system is not None:
        system = (
            record.system
            if isinstance(record.system, str)
            else "".join(b.text for b in record.system if isinstance(b, TextBlock))
        )
        yield f"system: {_snippet(system)}"
    ledger = Ledger()
    for turn in turns:
        if turn.kind == "retraction":
            hidden = ", ".join(str(seq) for seq in turn.retracts)
            noun = "turn" if len(turn.retracts) == 1 else "turns"
            yield ""
            yield f"[{turn.seq}] retraction: hides {noun} {hidden} from the replay"
            continue
        head = f"[{turn.seq}] {turn.role}"
        if turn.kind != "message":
            head += f" ({turn.kind})"
        if turn.status != "complete":
            head += f" [{turn.status}]"
        if turn.role == "assistant" and turn.model:
            head += f"  {turn.model}"
        yield ""
        yield head
        yield from (line for block in turn.blocks for line in _block_lines(block))
        if turn.role == "assistant" and turn.usage is not None:
            yield f"  usage: {usage_line(turn.usage, turn.model)}"
            ledger = ledger.add(turn.usage, turn.model or "")
    yield ""
    yield f"totals: {ledger_line(ledger)}"


def ledger_line(ledger: Ledger) -> str:
    """Calls, tokens, cache read share and cost of a ledger, on one line."""
    line = (
        f"{plural(ledger.calls, 'call')} · in {ledger.total_input_tokens} "
        f"(cache read {ledger.cache_read_tokens}, {ledger.cache_read_share:.0%}) · "
        f"out {ledger.output_tokens} · {money(ledger.cost.total)}"
    )
    if ledger.unpriced_calls:
        line += f" ({ledger.unpriced_calls} unpriced)"
    return line


def sum_ledgers(ledgers: Iterable[Ledger]) -> Ledger:
    """Add ledgers field by field (the total over many conversations)."""
    total = Ledger()
    for one in ledgers:
        total = Ledger(
            calls=total.calls + one.calls,
            input_tokens=total.input_tokens + one.input_tokens,
            output_tokens=total.output_tokens + one.output_tokens,
            cache_write_5m_tokens=total.cache_write_5m_tokens
            + one.cache_write_5m_tokens,
            cache_write_1h_tokens=total.cache_write_1h_tokens
            + one.cache_write_1h_tokens,
            cache_read_tokens=total.cache_read_tokens + one.cache_read_tokens,
            cost=total.cost + one.cost,
            unpriced_calls=total.unpriced_calls + one.unpriced_calls,
        )
    return total
