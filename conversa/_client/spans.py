"""The shapes of a client's spans, as Protocols: what the clients call.

``otel.py`` implements them with OpenTelemetry (the ``otel`` extra); the clients
and ``wire.py`` type against these, so nothing but `tracing.make_tracer` imports
``otel.py``, and only when a client traces.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._values.tools import ToolHook

__all__ = ["CallTracer", "ChatSpan", "Reply"]


class Reply(Protocol):
    """What a span reads of a reply (an `APIResponse`)."""

    @property
    def body(self) -> dict[str, Any]: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...


class ChatSpan(Protocol):
    """The span of one Messages call (``otel.ChatSpan``), ended once."""

    def current(self) -> AbstractContextManager[None]:
        """Make the span current while the HTTP requests are sent."""
        ...

    def retry(self, attempt: int, exc: BaseException | None, wait: float) -> None:
        """Record a failed attempt and the wait before the next."""
        ...

    def ok(self, response: Reply) -> None:
        """Record the reply and end the span."""
        ...

    def fail(self, exc: BaseException) -> None:
        """Record the call's failure and end the span."""
        ...

    def abandon(self) -> None:
        """End the span of a stream closed before it finished."""
        ...


class CallTracer(Protocol):
    """A client's span maker (``otel.CallTracer``, imported only with the extra)."""

    def chat(
        self,
        door: str,
        base_url: str,
        body: Mapping[str, Any],
        *,
        model: str | None,
        conversation_id: str | None,
    ) -> ChatSpan | None:
        """Start the span of a Messages call; None when it would not be recorded."""
        ...

    def tool_hook(self, conversation_id: str | None) -> ToolHook:
        """Return the hook that wraps each tool call in a span."""
        ...
