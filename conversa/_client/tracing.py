"""Tracing and structured log fields: what conversa tells observability tools.

`Tracing` is a client's option. Spans (the ``otel`` extra) follow the OpenTelemetry
GenAI semantic conventions; the code that touches OpenTelemetry is in ``otel.py``,
imported only when a client traces, so a client without the extra (or made with
``tracing=False``) pays one ``None`` check a call.

`CallInfo` is who a call is for; its `log_fields` are the ``extra=`` of the
``conversa`` logger's lines, so a JSON log formatter shows them as fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from .._exceptions import InvalidInputError

if TYPE_CHECKING:
    from .._values.tools import ToolHook
    from .spans import CallTracer

__all__ = ["CallInfo", "Tracing", "log_fields", "make_tracer", "tool_hook"]

_MISSING = (
    "tracing needs OpenTelemetry's API: pip install 'conversa-state[otel]' "
    "(and the SDK with an exporter, to see the spans)"
)


@frozen(kw_only=True)
class Tracing:
    """How a client traces its calls with OpenTelemetry (the ``otel`` extra).

    Pass it as ``tracing=`` to `Client`, `AsyncClient` or a door's constructor.
    ``tracing=True`` is ``Tracing()``; ``tracing=False`` turns spans off; the
    default traces through the global provider when OpenTelemetry's API is
    installed, and does nothing otherwise.

    Attributes:
        tracer_provider: the ``TracerProvider`` to make spans with; None: the
            global one, looked up when a span starts (so one set up after the
            client was made is used).
        capture_content: also record what is said: the system prompt, the
            messages sent and received (``gen_ai.system_instructions``,
            ``gen_ai.input.messages``, ``gen_ai.output.messages``) and each tool
            call's arguments and result. Off by default: content is the users'
            data. Credentials are never recorded.
    """

    tracer_provider: Any = field(default=None, repr=False)
    capture_content: bool = False


def make_tracer(*, tracing: Tracing | bool | None) -> CallTracer | None:
    """Return the tracer a client's *tracing* option asks for; None: no tracing.

    Raises:
        InvalidInputError: tracing was asked for and OpenTelemetry's API is
            not installed.
    """
    option = tracing
    if option is False:
        return None
    try:
        from .otel import CallTracer as OtelTracer  # the otel extra, lazily
    except ImportError as exc:
        if option is None:
            return None
        raise InvalidInputError(_MISSING) from exc
    data: object = Tracing() if option is None or option is True else option
    if not isinstance(data, Tracing):  # checked at run time: callers pass anything
        msg = f"tracing must be a Tracing, True or False, not {type(data).__name__}"
        raise InvalidInputError(msg)
    return OtelTracer(data.tracer_provider, capture_content=data.capture_content)


def tool_hook(client: object, conversation_id: str | None) -> ToolHook | None:
    """Return the span hook for tool calls made beside *client*'s calls, if it traces."""
    tracer: CallTracer | None = getattr(client, "tracer", None)
    return None if tracer is None else tracer.tool_hook(conversation_id)


@frozen
class CallInfo:
    """Who an API call is for: the fields of its log lines and spans.

    Attributes:
        conversation_id: the conversation the call belongs to, if known.
        model: the model asked for (the body's ``model``).
        door: the client's door (``"anthropic"``, ``"bedrock"``...).
    """

    conversation_id: str | None
    model: str | None
    door: str

    @classmethod
    def of(
        cls, body: Mapping[str, Any], door: str, conversation_id: str | None
    ) -> CallInfo:
        """Return the info of a call that sends *body* through *door*."""
        model = body.get("model")
        return cls(conversation_id, model if isinstance(model, str) else None, door)


def log_fields(call: CallInfo | None, **more: Any) -> dict[str, Any]:
    """Return the ``extra=`` of a log line: *call*'s fields (if known) and *more*."""
    if call is None:
        return more
    return {
        "conversation_id": call.conversation_id,
        "model": call.model,
        "door": call.door,
        **more,
    }
