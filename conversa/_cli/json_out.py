"""`--json` output of `ls`, `show` and `stats`: one JSON document on stdout.

Records and turns take the export's field names (`jsonl`), with each turn's
content as JSON blocks rather than the stored text; money is a decimal string
(USD), so no precision is lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .._core.pricing import Ledger
from .._stores import Page
from .._values.turns import ConversationRecord, Turn
from .jsonl import _record_to_json, _turn_to_json

__all__ = ["dumps", "ledger_json", "listing_json", "transcript_json"]


def dumps(document: Any) -> str:
    """The document as printed: indented, non-ASCII kept."""
    return json.dumps(document, ensure_ascii=False, indent=2)


def ledger_json(ledger: Ledger) -> dict[str, Any]:
    """Calls, tokens, cache read share and cost (USD, as decimal strings)."""
    return {
        "calls": ledger.calls,
        "input_tokens": ledger.input_tokens,
        "output_tokens": ledger.output_tokens,
        "cache_write_5m_tokens": ledger.cache_write_5m_tokens,
        "cache_write_1h_tokens": ledger.cache_write_1h_tokens,
        "cache_read_tokens": ledger.cache_read_tokens,
        "total_input_tokens": ledger.total_input_tokens,
        "cache_read_share": ledger.cache_read_share,
        "cost_usd": {
            "input": str(ledger.cost.input),
            "output": str(ledger.cost.output),
            "cache_write": str(ledger.cost.cache_write),
            "cache_read": str(ledger.cost.cache_read),
            "total": str(ledger.cost.total),
        },
        "unpriced_calls": ledger.unpriced_calls,
    }


def listing_json(page: Page) -> dict[str, Any]:
    """`ls --json`: the page's records and the cursor of the next page (or null)."""
    return {
        "conversations": [_record_to_json(record) for record in page.items],
        "next_cursor": page.next_cursor,
    }


def _turn(turn: Turn) -> dict[str, Any]:
    out = _turn_to_json(turn)
    out["content"] = json.loads(out["content"])
    if turn.kind == "retraction":
        out["retracts"] = list(turn.retracts)
    return out


def transcript_json(
    record: ConversationRecord, turns: Iterable[Turn]
) -> dict[str, Any]:
    """`show --json`: the record, every turn, and the totals of the replies."""
    ledger = Ledger()
    shown = []
    for turn in turns:
        shown.append(_turn(turn))
        if turn.role == "assistant" and turn.usage is not None:
            ledger = ledger.add(turn.usage, turn.model or "")
    return {
        "record": _record_to_json(record),
        "turns": shown,
        "totals": ledger_json(ledger),
    }
