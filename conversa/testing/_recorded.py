"""What the fake keeps of each call: `RecordedRequest`, and the answer it records."""

from __future__ import annotations

from typing import Any

import httpx
from attrs import field, frozen

from ._faults import Fault
from ._replies import Reply
from ._stream import Event

__all__ = ["Answer", "RecordedRequest", "Step"]

Step = Reply | Fault


@frozen
class RecordedRequest:
    """One request the fake received, and what it answered.

    Attributes:
        method: the HTTP method.
        url: the full URL.
        path: the URL path (``/v1/messages``).
        headers: the request headers, unmasked (kept out of ``repr``).
        content: the raw body bytes.
        body: the body parsed as JSON (key order kept), or None if not JSON.
        status_code: the response status, or None when the call raised.
        response_headers: the response headers, or None when the call raised.
        response_json: the JSON answered: a Message, an error,
            ``{"input_tokens": n}``, a MessageBatch (or a page of them), or the
            list of a batch's result lines; for a stream, the Message it carries
            (None when a stream fault cut it short).
        stream: whether the request asked for a stream (``"stream": true``, or
            Bedrock's ``invoke-with-response-stream`` path).
        events: the SSE events sent, as ``(name, data)`` pairs.
        error: the name of the exception the call raised (``ReadTimeout``,
            ``ConnectError``, or ``RemoteProtocolError`` while reading the body),
            or None.
        step: the scripted step this call consumed, or None.
    """

    method: str
    url: str
    path: str
    headers: httpx.Headers = field(repr=False, eq=False, hash=False)
    content: bytes = field(repr=False)
    body: Any = field(repr=False, hash=False)
    status_code: int | None
    response_headers: httpx.Headers | None = field(repr=False, eq=False, hash=False)
    response_json: Any = field(repr=False, hash=False)
    stream: bool
    events: tuple[Event, ...] = field(repr=False, hash=False)
    error: str | None
    step: Step | None


@frozen
class Answer:
    """What one call produces: a response to return, or an exception to raise.

    Attributes:
        status: the HTTP status, or None when *raised* is set.
        headers: the response headers.
        json: the JSON to record (the Message, error or count).
        chunks: the body, chunk by chunk.
        events: the SSE events the chunks carry.
        body_error: raised after the last chunk (a broken connection).
        raised: raised instead of any response (timeout, connect error).
        step: the scripted step consumed.
        stream: whether the call asked for a stream, when the body does not say
            (Bedrock picks streaming by path); None to read ``"stream"`` from it.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = field(default=None, hash=False)
    chunks: tuple[bytes, ...] = ()
    events: tuple[Event, ...] = field(default=(), hash=False)
    body_error: Exception | None = None
    raised: Exception | None = None
    step: Step | None = None
    stream: bool | None = None
