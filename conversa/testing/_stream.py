"""Turning a Message into server-sent events, and the byte streams that carry them.

The events follow the streaming docs (https://platform.claude.com/docs/en/build-with-claude/streaming),
built so that accumulating them as those docs describe gives back the very Message the non-streamed call returns:
same keys, same order, same values. Each content block starts with its streamed
fields blanked in place (``text: ""``, ``input: {}``...), so its key order survives
the fold; blocks without deltas (tool results, unknown kinds) start complete.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx

__all__ = ["Event", "EventStream", "encode", "encode_json", "message_events"]

Event = tuple[str, dict[str, Any]]
_WORDS = re.compile(r"\s*\S+(?:\s+\S+){0,2}\s*|\s+")
_DELTA_USAGE = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "server_tool_use",
    "output_tokens_details",
)


def encode_json(value: Any) -> bytes:
    """Serialize *value* compactly, as the API does, keeping key order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def encode(event: Event) -> bytes:
    """Return one SSE frame: ``event:`` line, ``data:`` line, blank line."""
    name, data = event
    return b"event: " + name.encode() + b"\ndata: " + encode_json(data) + b"\n\n"


def _chunks(text: str) -> list[str]:
    # A few words per delta, whitespace kept, so the pieces join back exactly.
    return _WORDS.findall(text) or [text]


def _json_pieces(value: Any) -> list[str]:
    # The first piece is "" as in the API's own streams; then ~12-character slices.
    text = json.dumps(value, ensure_ascii=False)
    return ["", *(text[i : i + 12] for i in range(0, len(text), 12))]


def _block_events(index: int, block: dict[str, Any]) -> list[Event]:
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        start["text"] = ""
        deltas = [{"type": "text_delta", "text": t} for t in _chunks(block["text"])]
        citations = block.get("citations")
        if isinstance(citations, list) and citations:
            start["citations"] = []
            deltas += [{"type": "citations_delta", "citation": c} for c in citations]
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        start["thinking"] = ""
        start["signature"] = ""
        if block["thinking"]:
            deltas = [
                {"type": "thinking_delta", "thinking": t}
                for t in _chunks(block["thinking"])
            ]
        deltas.append({"type": "signature_delta", "signature": block.get("signature")})
    elif kind in ("tool_use", "server_tool_use") and isinstance(
        block.get("input"), dict
    ):
        start["input"] = {}
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in _json_pieces(block["input"])
        ]
    events: list[Event] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )
        for delta in deltas
    ]
    events.append(
        ("content_block_stop", {"type": "content_block_stop", "index": index})
    )
    return events


def message_events(message: dict[str, Any]) -> list[Event]:
    """Return the SSE events that stream *message* (a Message with ``usage``)."""
    start = copy.deepcopy(message)
    start["content"] = []
    for key in ("stop_reason", "stop_sequence", "stop_details"):
        start[key] = None
    usage = message["usage"]
    start["usage"]["output_tokens"] = min(1, usage.get("output_tokens") or 0)
    events: list[Event] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
        "stop_details": message.get("stop_details"),
        "container": message.get("container"),
    }
    usage_delta = {k: usage[k] for k in _DELTA_USAGE if k in usage}
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": usage_delta},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class EventStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body of fixed chunks that may end in a transport error.

    Works for both `httpx.Client` and `httpx.AsyncClient`; the error, when set,
    is raised after the last chunk, like a peer closing the connection early.
    """

    def __init__(
        self, chunks: Sequence[bytes], *, error: Exception | None = None
    ) -> None:
        """Serve *chunks* in order, then raise *error* if one is given."""
        self._chunks = tuple(chunks)
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        """Yield the chunks, then raise the error if any."""
        yield from self._chunks
        if self._error is not None:
            raise self._error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the chunks, then raise the error if any."""
        for chunk in self._chunks:
            yield chunk
        if self._error is not None:
            raise self._error
