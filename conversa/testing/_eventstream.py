"""AWS event-stream frames, as Bedrock's InvokeModelWithResponseStream sends them.

A frame is a prelude (``total_length``, ``headers_length``, both u32 big-endian,
then the CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of
everything before it. Each header is ``name_len:u8, name, type:u8, value_len:u16,
value``; only type 7 (string) is used here. An event frame carries one Messages
stream event as ``{"bytes": base64(event JSON)}``; an exception frame carries
``{"message": ...}`` under ``:exception-type``.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping
from typing import Any, Final

from ._stream import encode_json

__all__ = ["CONTENT_TYPE", "chunk_frame", "exception_frame", "frame"]

# The stream response's content type (inferred: not in the sources read).
CONTENT_TYPE: Final = "application/vnd.amazon.eventstream"
_STRING: Final = 7


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack(">B", len(raw_name))
        + raw_name
        + struct.pack(">BH", _STRING, len(raw_value))
        + raw_value
    )


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """Return one event-stream frame with string *headers* and *payload*."""
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk_frame(event: Mapping[str, Any]) -> bytes:
    """Return the ``chunk`` event frame that carries one Messages stream *event*."""
    data = base64.b64encode(encode_json(event)).decode()
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return frame(headers, encode_json({"bytes": data}))


def exception_frame(exception_type: str, message: str) -> bytes:
    """Return an exception frame (``throttlingException``, ...) saying *message*."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, encode_json({"message": message}))
