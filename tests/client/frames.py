"""AWS event-stream frames, built by hand for the Bedrock stream tests.

The layout is PLATFORMS.md §3a's (prelude with its CRC32, string headers of type 7,
the payload, the message CRC32); the tests decode these with botocore's own parser,
through conversa and through the official SDK.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterable, Mapping
from typing import Any


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream frame with string *headers* and *payload*."""
    head = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in headers.items()
    )
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + head + payload
    return message + struct.pack(">I", binascii.crc32(message))


def chunk(event: Mapping[str, Any]) -> bytes:
    """A ``chunk`` frame carrying one Anthropic stream event."""
    data = base64.b64encode(json.dumps(event).encode()).decode()
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, json.dumps({"bytes": data}).encode())


def exception(kind: str, message: str) -> bytes:
    """An exception frame (``throttlingException``, ...)."""
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


def stream(events: Iterable[Mapping[str, Any]]) -> bytes:
    """The frames of a whole stream."""
    return b"".join(chunk(e) for e in events)


def message_events(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stream events that fold to *message* (text blocks only)."""
    start = {**message, "content": [], "stop_reason": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        events.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            }
        )
        text = block["text"]
        events.extend(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            }
            for piece in (text[: len(text) // 2], text[len(text) // 2 :])
        )
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        }
    )
    events.append(
        {
            "type": "message_stop",
            "amazon-bedrock-invocationMetrics": {"inputTokenCount": 3},
        }
    )
    return events
