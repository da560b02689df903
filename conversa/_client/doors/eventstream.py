"""Bedrock's replies: AWS event-stream frames as stream events, and AWS error names.

InvokeModelWithResponseStream answers with binary AWS event-stream frames, not
SSE. `EventStreamDecoder` feeds the bytes, cut anywhere, to
botocore's own frame buffer (which checks both CRCs) and parser (with the
``ResponseStream`` shape from botocore's bedrock-runtime model), and gives back
the same `ServerSentEvent` values an SSE stream gives, so one fold serves both. An
exception frame becomes an ``error`` event whose type is the Anthropic name for it,
so the retry rules for a stream hold unchanged. A bad frame is a `StreamError`.

Bedrock's HTTP errors name themselves in ``x-amzn-ErrorType``; `aws_error_type`
maps the name to the Anthropic error type of the same meaning.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from ..._exceptions import StreamError

__all__ = ["EventStreamDecoder", "aiter_frames", "aws_error_type", "iter_frames"]

#: AWS exception names (HTTP ``x-amzn-ErrorType`` and stream exception frames),
#: lower-cased, → the Anthropic error type of the same meaning (inferred: the SDK
#: maps by HTTP status only; the statuses are botocore's service model's).
_AWS_ERRORS = {
    "validationexception": "invalid_request_error",
    "servicequotaexceededexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "unrecognizedclientexception": "authentication_error",
    "expiredtokenexception": "authentication_error",
    "resourcenotfoundexception": "not_found_error",
    "modeltimeoutexception": "timeout_error",
    "throttlingexception": "rate_limit_error",
    "modelnotreadyexception": "rate_limit_error",
    "modelerrorexception": "api_error",
    "modelstreamerrorexception": "api_error",
    "internalserverexception": "api_error",
    "serviceunavailableexception": "overloaded_error",
}


def aws_error_type(name: str) -> str:
    """Return the Anthropic error type for an AWS error name (``ThrottlingException``).

    The header may carry ``Name:namespace#...`` decorations; an unknown name
    comes back as it is.
    """
    bare = name.split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return _AWS_ERRORS.get(bare.lower(), bare)


@functools.cache
def _response_stream_shape() -> Any:
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    model = Loader().load_service_model("bedrock-runtime", "service-2")
    return ServiceModel(model).shape_for("ResponseStream")


class EventStreamDecoder:
    """Turn event-stream bytes, split anywhere, into stream events (pure)."""

    def __init__(self, *, request_id: str | None = None) -> None:
        """Start with an empty buffer; *request_id* goes into the errors raised."""
        from botocore.eventstream import EventStreamBuffer
        from botocore.parsers import EventStreamJSONParser

        self._buffer = EventStreamBuffer()
        self._parser = EventStreamJSONParser()
        self._request_id = request_id

    def feed(self, data: bytes) -> Iterator[ServerSentEvent]:
        """Add *data*; yield the events of every frame it completes.

        Raises:
            StreamError: a frame with a bad CRC or a bad length.
        """
        from botocore.eventstream import ParserError

        self._buffer.add_data(data)
        try:
            for frame in self._buffer:
                event = self._event(frame.to_response_dict())
                if event is not None:
                    yield event
        except ParserError as exc:
            # ChecksumMismatch, InvalidPayloadLength, ...: the bytes are damaged.
            msg = f"a Bedrock event-stream frame is damaged ({type(exc).__name__})"
            raise StreamError(msg, request_id=self._request_id) from None

    def _event(self, response: dict[str, Any]) -> ServerSentEvent | None:
        parsed = self._parser.parse(response, _response_stream_shape())
        if response["status_code"] != 200:
            error = parsed.get("Error") or {}
            data = {
                "type": "error",
                "error": {
                    "type": aws_error_type(str(error.get("Code") or "api_error")),
                    "message": error.get("Message") or "",
                },
            }
            return ServerSentEvent(event="error", data=json.dumps(data))
        chunk = parsed.get("chunk")
        raw = chunk.get("bytes") if isinstance(chunk, dict) else None
        if not raw:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            kind = None
        # No SSE event name on Bedrock: the JSON's own type names the event.
        return ServerSentEvent(
            event=kind if isinstance(kind, str) else "message", data=text
        )


def iter_frames(response: httpx.Response) -> Iterator[ServerSentEvent]:
    """The events of a Bedrock stream, read from *response* as its bytes arrive."""
    decoder = EventStreamDecoder(request_id=response.headers.get("x-amzn-requestid"))
    for chunk in response.iter_bytes():
        yield from decoder.feed(chunk)


async def aiter_frames(
    response: httpx.Response,
) -> AsyncGenerator[ServerSentEvent, None]:
    """The async twin of `iter_frames`."""
    decoder = EventStreamDecoder(request_id=response.headers.get("x-amzn-requestid"))
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            yield event
