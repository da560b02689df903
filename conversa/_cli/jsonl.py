"""The JSONL export format of the command line, and its reader (and the Markdown one).

One line is one conversation, a JSON object::

    {"format": "conversa.export/1",
     "record": {"id": ..., "model": ..., "system": ..., "params": {...}, ...},
     "turns": [{"role": ..., "kind": ..., "id": ..., "seq": 1,
                "content": "[{\\"type\\":\\"text\\",...}]", "usage": {...}, ...}]}

A turn's *content* is the JSON **text** a store keeps (`Turn.content_json`), held as
a string so that importing it stores the same bytes, key order included: the prompt
cache hashes those bytes. Datetimes are ISO 8601 with their UTC offset. The record's
*params* are `RequestParams.to_json_dict`, which leaves secrets out.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from .._core.api_rules import check_stored_turns, check_system, check_tools
from .._core.normalize import to_messages
from .._core.transcript import markdown_header, markdown_turn
from .._stores import Store
from .._values.capabilities import capabilities_for
from .._values.params import RequestParams
from .._values.turns import ConversationRecord, Turn, Usage

__all__ = [
    "FORMAT",
    "ExportedConversation",
    "check_import",
    "dump_line",
    "export_line",
    "parse_line",
    "write_export",
    "write_markdown",
]

#: The format tag of every exported line; a later format gets a new number.
FORMAT = "conversa.export/1"

ExportedConversation = tuple[ConversationRecord, tuple[Turn, ...]]


def _record_to_json(record: ConversationRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "model": record.model,
        "system": record.system_to_api(),
        "params": record.params.to_json_dict(),
        "owner": record.owner,
        "metadata": dict(record.metadata),
        "capabilities": dict(record.capabilities),
        "window_start": record.window_start,
        "last_seq": record.last_seq,
        "parent_id": record.parent_id,
        "forked_at": record.forked_at,
        "flags": dict(record.flags),
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def _turn_to_json(turn: Turn) -> dict[str, Any]:
    return {
        "role": turn.role,
        "kind": turn.kind,
        "id": turn.id,
        "seq": turn.seq,
        "content": turn.content_json(),
        "usage": None if turn.usage is None else turn.usage.to_api(),
        "model": turn.model,
        "stop_reason": turn.stop_reason,
        "stop_sequence": turn.stop_sequence,
        "message_id": turn.message_id,
        "request_id": turn.request_id,
        "response_extra": dict(turn.response_extra),
        "tokens": turn.tokens,
        "tokens_exact": turn.tokens_exact,
        "status": turn.status,
        "flags": dict(turn.flags),
        "created_at": turn.created_at.isoformat(),
    }


def dump_line(record: ConversationRecord, turns: tuple[Turn, ...]) -> str:
    """Return one conversation as one JSONL line (without the newline)."""
    obj = {
        "format": FORMAT,
        "record": _record_to_json(record),
        "turns": [_turn_to_json(t) for t in turns],
    }
    return _dumps(obj)


#: Turns read from the store at a time while exporting: memory stays bounded.
EXPORT_PAGE = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_export(
    store: Store, conversation_id: str, out: TextIO, *, page: int = EXPORT_PAGE
) -> None:
    """Write one conversation as one JSONL line (with its newline) to *out*.

    Turns are read *page* at a time by seq range and written as they come, so a
    conversation of any length exports in bounded memory; the line is the same
    text `dump_line` makes.
    """
    record = store.get(conversation_id)
    out.write(
        f'{{"format":{_dumps(FORMAT)},"record":{_dumps(_record_to_json(record))},"turns":['
    )
    first = True
    for turn in _turns(store, record, page):
        out.write(("" if first else ",") + _dumps(_turn_to_json(turn)))
        first = False
    out.write("]}\n")


def _turns(store: Store, record: ConversationRecord, page: int) -> Iterator[Turn]:
    """Every turn of *record*, read *page* at a time by seq range."""
    start = 1
    while start <= record.last_seq:
        yield from store.read(record.id, start=start, stop=start + page)
        start += page


def write_markdown(
    store: Store, conversation_id: str, out: TextIO, *, page: int = EXPORT_PAGE
) -> None:
    """Write one conversation as a Markdown transcript to *out* (`markdown_transcript`).

    Read and written a page of turns at a time, as `write_export` does.
    """
    record = store.get(conversation_id)
    out.write(markdown_header(record))
    for turn in _turns(store, record, page):
        out.write(markdown_turn(turn))


def export_line(store: Store, conversation_id: str) -> str:
    """Read a conversation and all its turns from *store* as one JSONL line."""
    buffer = io.StringIO()
    write_export(store, conversation_id, buffer)
    return buffer.getvalue().removesuffix("\n")


def _record_from_json(data: Mapping[str, Any]) -> ConversationRecord:
    return ConversationRecord(
        data["id"],
        model=data["model"],
        system=data["system"],
        params=RequestParams.from_json_dict(data["params"]),
        owner=data["owner"],
        metadata=data["metadata"],
        capabilities=data["capabilities"],
        window_start=data["window_start"],
        parent_id=data["parent_id"],
        forked_at=data["forked_at"],
        flags=data["flags"],
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


def _turn_from_json(data: Mapping[str, Any]) -> Turn:
    usage = data["usage"]
    return Turn.from_content_json(
        data["role"],
        data["content"],
        id=data["id"],
        seq=data["seq"],
        kind=data["kind"],
        usage=None if usage is None else Usage.from_api(usage),
        model=data["model"],
        stop_reason=data["stop_reason"],
        stop_sequence=data["stop_sequence"],
        message_id=data["message_id"],
        request_id=data["request_id"],
        response_extra=data["response_extra"],
        tokens=data["tokens"],
        tokens_exact=data["tokens_exact"],
        status=data["status"],
        flags=data["flags"],
        created_at=datetime.fromisoformat(data["created_at"]),
    )


def parse_line(line: str) -> ExportedConversation:
    """Read one exported line back into a record and its turns.

    Raises:
        ValueError: the line is not JSON, not of this format, or misses a field
            (the message says which).
    """
    data = json.loads(line)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        msg = f"not a conversa export line (expected format {FORMAT!r})"
        raise ValueError(msg)
    try:
        record = _record_from_json(data["record"])
        turns = tuple(_turn_from_json(t) for t in data["turns"])
    except KeyError as exc:
        msg = f"missing field {exc.args[0]!r}"
        raise ValueError(msg) from None
    return record, turns


def check_import(record: ConversationRecord, turns: tuple[Turn, ...]) -> None:
    """Refuse an exported conversation that conversa would not have stored.

    The system prompt, tools and every block a caller supplied are checked as the
    door checks them (`check_stored_turns` says what is taken as it is: replies
    from the API, retracted turns, vouched blocks); then the messages, as a history
    being stored (roles, tool pairs, duplicate ids). Summaries stand where they
    were written, which is not where they replay, so the pairing check leaves them
    out.

    Raises:
        InvalidInputError: naming the conversation, the turn and the rule.
    """
    entry = f"import {record.id}"
    check_system(record.system_to_api(), entry=entry)
    check_tools(record.params.tools, entry=entry)
    check_stored_turns(turns, entry=entry)
    messages = tuple(t for t in turns if t.kind in ("message", "retraction"))
    if any(t.kind == "message" for t in messages):
        to_messages(
            messages,
            model=record.model,
            caps=capabilities_for(record.model, record.capabilities),
            open_end=True,
        )
