"""Scripted failures: HTTP errors, transport errors, broken streams, expired batch requests.

Edge faults (`fault.status`, `fault.timeout`, `fault.connect_error`) fire before
the request is looked at, like a rate limiter in front of the API. Stream faults
(`fault.break_stream`, `fault.stream_error`) happen while a reply is sent, so a
request must pass validation to reach them. In a Message Batch, a fault consumed
by a request makes its result ``errored`` (with the fault's error, ``api_error``
for transport faults), and `fault.expired` makes it ``expired``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, final

from attrs import field, frozen

from ._replies import Reply

__all__ = [
    "ERROR_TYPES",
    "Fault",
    "FaultBuilders",
    "error_body",
    "fault",
    "message_for",
    "status_for",
]

# HTTP status → error.type, as https://platform.claude.com/docs/en/api/errors lists them.
ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STATUS_OF: Final = {kind: status for status, kind in ERROR_TYPES.items()}
_MESSAGES: Final[Mapping[str, str]] = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "The requested resource could not be found.",
    "conflict_error": "The request conflicts with the current state of the resource.",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of requests has exceeded your per-minute rate limit. "
    "Please try again later.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out.",
    "overloaded_error": "Overloaded",
}


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    """Return the API's error JSON for *error_type* and *message*."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def status_for(error_type: str) -> int:
    """Return the HTTP status the API uses for *error_type* (500 if unknown)."""
    return _STATUS_OF.get(error_type, 500)


def message_for(error_type: str) -> str:
    """Return a realistic default message for *error_type*."""
    return _MESSAGES.get(error_type, "Internal server error")


@frozen
class Fault:
    """A scripted failure; build one with the `fault` helpers.

    Attributes:
        kind: ``status``, ``timeout``, ``connect_error``, ``break_stream``,
            ``stream_error`` or ``expired`` (batch requests only).
        status_code: the HTTP status of a ``status`` fault.
        error_type: the ``error.type`` of a ``status`` or ``stream_error`` fault.
        message: the ``error.message``.
        headers: extra response headers (``retry-after``, ``x-should-retry``...).
        details: an ``error.details`` object, if any.
        after_events: how many SSE events go out before a stream fault.
        reply: what a faulty stream carries; None for the default reply.
    """

    kind: str
    status_code: int = field(default=0, kw_only=True)
    error_type: str = field(default="", kw_only=True)
    message: str = field(default="", kw_only=True)
    headers: tuple[tuple[str, str], ...] = field(default=(), kw_only=True)
    details: Mapping[str, Any] | None = field(default=None, kw_only=True)
    after_events: int = field(default=0, kw_only=True)
    reply: Reply | None = field(default=None, kw_only=True)

    @property
    def at_edge(self) -> bool:
        """Whether the fault fires before validation (not a stream fault)."""
        return self.kind in ("status", "timeout", "connect_error")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@final
class FaultBuilders:
    """Builders for scripted failures; use the `fault` instance."""

    @staticmethod
    def status(
        status_code: int,
        *,
        error_type: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        should_retry: bool | None = None,
        error_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next call with an HTTP error, before validation.

        Args:
            status_code: the HTTP status (429, 500, 529...).
            error_type: ``error.type``; by default the one the API uses for
                *status_code*.
            message: ``error.message``; by default a realistic one.
            retry_after: the ``retry-after`` header: seconds, or an HTTP date.
            retry_after_ms: the ``retry-after-ms`` header, in milliseconds.
            should_retry: the ``x-should-retry`` header.
            error_code: ``error.details.error_code`` (``ramp_limit_exceeded``...).
            headers: any other response headers.
        """
        kind = error_type or ERROR_TYPES.get(status_code, "api_error")
        extra: list[tuple[str, str]] = []
        if retry_after is not None:
            text = (
                retry_after if isinstance(retry_after, str) else _seconds(retry_after)
            )
            extra.append(("retry-after", text))
        if retry_after_ms is not None:
            extra.append(("retry-after-ms", _seconds(retry_after_ms)))
        if should_retry is not None:
            extra.append(("x-should-retry", "true" if should_retry else "false"))
        extra.extend((headers or {}).items())
        return Fault(
            "status",
            status_code=status_code,
            error_type=kind,
            message=message or message_for(kind),
            headers=tuple(extra),
            details={"error_code": error_code} if error_code else None,
        )

    @staticmethod
    def timeout() -> Fault:
        """Make the next call raise `httpx.ReadTimeout`, before validation."""
        return Fault("timeout")

    @staticmethod
    def connect_error() -> Fault:
        """Make the next call raise `httpx.ConnectError`, before validation."""
        return Fault("connect_error")

    @staticmethod
    def break_stream(after_events: int = 5, *, reply: Reply | None = None) -> Fault:
        """Cut the next reply's body: the peer closes the connection mid-way.

        A streamed call gets *after_events* SSE events, then reading raises
        `httpx.RemoteProtocolError`. A non-streamed call gets the first half of
        its JSON body, then the same error.

        Args:
            after_events: events sent before the break.
            reply: the reply being sent; by default the fake's default reply.
        """
        return Fault("break_stream", after_events=after_events, reply=reply)

    @staticmethod
    def stream_error(
        error_type: str = "overloaded_error",
        *,
        message: str | None = None,
        after_events: int = 4,
        reply: Reply | None = None,
    ) -> Fault:
        """Send an ``event: error`` mid-stream, after HTTP 200.

        A streamed call gets *after_events* events (by default message_start,
        ping, a content_block_start and one delta), then the error event, then
        the stream ends. A non-streamed call gets the HTTP error the API uses
        for *error_type* instead (529 for ``overloaded_error``).

        Args:
            error_type: the error event's ``error.type``.
            message: its ``error.message``; by default a realistic one.
            after_events: events sent before the error.
            reply: the reply being sent; by default the fake's default reply.
        """
        return Fault(
            "stream_error",
            error_type=error_type,
            message=message or message_for(error_type),
            after_events=after_events,
            reply=reply,
        )

    @staticmethod
    def expired() -> Fault:
        """Make a batch request expire: its result is ``{"type": "expired"}``.

        Only batch requests can expire; give it to `FakeMessagesAPI.script_batch`
        for a ``custom_id``, or queue it for the batch request that comes next.
        A plain ``/v1/messages`` call that reaches it raises `ValueError`.
        """
        return Fault("expired")


fault: Final = FaultBuilders()
