"""OpenTelemetry spans for API calls and tool calls (imported only with the extra).

The spans follow the GenAI semantic conventions (the registry's ``gen_ai.*``
names, as of semantic conventions 1.37 and later: ``gen_ai.provider.name``, which
replaced ``gen_ai.system``):

- ``chat {model}`` (kind CLIENT), one per Messages call, retries included: each
  failed attempt is a ``conversa.retry`` event on it, so a dashboard counts calls,
  not attempts. For a stream the span lasts until the stream ends, fails or is
  closed early (then ``conversa.stream.abandoned`` is true). The HTTP requests
  are sent with the span current, so an httpx instrumentation's spans nest under it.
- ``execute_tool {name}`` (kind INTERNAL), one per local tool call.

``error.type`` is the API's error type (``rate_limit_error``,
``overloaded_error``...), else the HTTP status, ``timeout``, or the exception's
class name (``conversa.APIConnectionError``, ``ValueError``); a tool's failure is
its exception's class name, or ``tool_error`` for an error result without one
(an unknown tool, input that does not fit). Exception messages are not recorded:
they can quote content.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .._exceptions import APIStatusError, APITimeoutError, StreamError
from .._values.blocks import ToolResultBlock, ToolUseBlock
from .._values.tools import ToolHook
from .spans import Reply

__all__ = ["CallTracer", "ChatSpan", "error_type"]

#: The door → ``gen_ai.provider.name``: who serves the model. Claude Platform on
#: AWS and Claude on Google Cloud are Anthropic's API, reached through a cloud.
PROVIDERS: Mapping[str, str] = {
    "anthropic": "anthropic",
    "aws": "anthropic",
    "google-cloud": "anthropic",
    "bedrock": "aws.bedrock",
    "bedrock-messages": "aws.bedrock",
    "vertex": "gcp.vertex_ai",
}
#: Request parameters → their attribute, recorded when the body sets them.
_REQUEST_ATTRIBUTES: Mapping[str, str] = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "stop_sequences": "gen_ai.request.stop_sequences",
}


def _version() -> str | None:
    try:
        return importlib.metadata.version("conversa-state")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return None


def error_type(exc: BaseException) -> str:
    """Return the ``error.type`` of *exc* (low-cardinality: never its message)."""
    if isinstance(exc, APIStatusError):
        return exc.error_type or str(exc.status_code)
    if isinstance(exc, StreamError) and exc.error_type:
        return exc.error_type
    if isinstance(exc, APITimeoutError):
        return "timeout"
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("conversa."):  # its public name
        module = "conversa"
    return f"{module}.{cls.__qualname__}"


#: The OpenTelemetry API's own providers: their spans never record.
_API_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


@functools.lru_cache(maxsize=64)
def _server(base_url: str) -> dict[str, Any]:
    """The server's attributes for *base_url* (unpacked into each span's own)."""
    url = httpx.URL(base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    return {"server.address": url.host, "server.port": port}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    """One content block as a part of the conventions' message schema."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": "tool_call",
            "id": block.get("id"),
            "name": block.get("name"),
            "arguments": block.get("input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": block.get("content"),
        }
    return dict(block)  # images, documents, server results: as sent


def _parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        return [_part(b) for b in content if isinstance(b, Mapping)]
    return []


def _messages(body: Mapping[str, Any]) -> str:
    messages = body.get("messages")
    return _json(
        [
            {"role": m.get("role"), "parts": _parts(m.get("content"))}
            for m in (messages if isinstance(messages, list) else ())
            if isinstance(m, Mapping)
        ]
    )


class ChatSpan:
    """The span of one Messages call: started by `CallTracer.chat`, ended once."""

    def __init__(self, span: Span, *, capture_content: bool) -> None:
        """Wrap *span*, a recording one."""
        self._span = span
        self._capture = capture_content
        self._attempts = 1
        self._ended = False

    @contextmanager
    def current(self) -> Iterator[None]:
        """Make the span current while the HTTP requests are sent."""
        with trace.use_span(
            self._span,
            end_on_exit=False,
            record_exception=False,
            set_status_on_exception=False,
        ):
            yield

    def retry(self, attempt: int, exc: BaseException | None, wait: float) -> None:
        """Record that attempt *attempt* failed with *exc* and *wait* s pass before the next."""
        self._attempts = attempt + 1
        event: dict[str, Any] = {"conversa.attempt": attempt, "conversa.wait": wait}
        if exc is not None:
            event["error.type"] = error_type(exc)
        self._span.add_event("conversa.retry", event)

    def ok(self, response: Reply) -> None:
        """Record the reply and end the span."""
        if self._ended:
            return
        body = response.body
        # One set_attributes call: the SDK takes a lock and checks each call.
        found: dict[str, Any] = {"conversa.attempts": response.attempts}
        if response.request_id:
            found["conversa.request_id"] = response.request_id
        for key, name in (
            ("id", "gen_ai.response.id"),
            ("model", "gen_ai.response.model"),
        ):
            if isinstance(body.get(key), str):
                found[name] = body[key]
        stop = body.get("stop_reason")
        if isinstance(stop, str):
            found["gen_ai.response.finish_reasons"] = (stop,)
        usage = body.get("usage")
        if isinstance(usage, Mapping):
            _usage(found, usage)
        if self._capture:
            message = {
                "role": "assistant",
                "parts": _parts(body.get("content")),
                "finish_reason": stop,
            }
            found["gen_ai.output.messages"] = _json([message])
        self._span.set_attributes(found)
        self._end()

    def fail(self, exc: BaseException) -> None:
        """Record that the call failed with *exc* and end the span."""
        if self._ended:
            return
        kind = error_type(exc)
        found: dict[str, Any] = {
            "error.type": kind,
            "conversa.attempts": self._attempts,
        }
        request_id = getattr(exc, "request_id", None)
        if isinstance(request_id, str):
            found["conversa.request_id"] = request_id
        self._span.set_attributes(found)
        self._span.set_status(Status(StatusCode.ERROR, kind))
        self._end()

    def abandon(self) -> None:
        """End the span of a stream closed before it finished."""
        if self._ended:
            return
        self._span.set_attribute("conversa.stream.abandoned", True)  # noqa: FBT003
        self._end()

    def _end(self) -> None:
        self._ended = True
        self._span.end()


def _usage(found: dict[str, Any], usage: Mapping[str, Any]) -> None:
    """Add the token counts; the conventions' input count includes the cache's."""
    counts = {k: v for k, v in usage.items() if isinstance(v, int)}
    read = counts.get("cache_read_input_tokens", 0)
    written = counts.get("cache_creation_input_tokens", 0)
    if "input_tokens" in counts:
        found["gen_ai.usage.input_tokens"] = counts["input_tokens"] + read + written
    if "output_tokens" in counts:
        found["gen_ai.usage.output_tokens"] = counts["output_tokens"]
    found["gen_ai.usage.cache_read.input_tokens"] = read
    found["gen_ai.usage.cache_creation.input_tokens"] = written


class CallTracer:
    """A client's tracer: makes the spans of its calls and of the tools run beside them."""

    def __init__(self, tracer_provider: Any, *, capture_content: bool) -> None:
        """Make spans with *tracer_provider* (None: the global one)."""
        self._provider = tracer_provider
        self._tracer = trace.get_tracer(
            "conversa", _version(), tracer_provider=tracer_provider
        )
        self.capture_content = capture_content

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
        if self._silent():
            return None
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDERS.get(door, "anthropic"),
            "conversa.door": door,
            **_server(base_url),
        }
        if model:
            attributes["gen_ai.request.model"] = model
        if conversation_id:
            attributes["gen_ai.conversation.id"] = conversation_id
        for key, attribute in _REQUEST_ATTRIBUTES.items():
            value = body.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[attribute] = value
            elif key == "stop_sequences" and isinstance(value, list):
                attributes[attribute] = [str(s) for s in value]
        attributes["conversa.stream"] = bool(body.get("stream"))
        name = f"chat {model}" if model else "chat"
        span = self._tracer.start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        if not span.is_recording():
            return None
        if self.capture_content:
            system = body.get("system")
            if system is not None:
                span.set_attribute("gen_ai.system_instructions", _json(_parts(system)))
            span.set_attribute("gen_ai.input.messages", _messages(body))
        return ChatSpan(span, capture_content=self.capture_content)

    def _silent(self) -> bool:
        """Whether no span could record: the provider is the API's own (the
        proxy before an SDK's is set, or the no-op one), whose spans are all
        non-recording. Asked on each call: an SDK's provider may be set later."""
        provider = self._provider
        if provider is None:
            provider = trace.get_tracer_provider()
        return isinstance(provider, _API_PROVIDERS)

    def tool_hook(self, conversation_id: str | None) -> ToolHook:
        """Return the hook that wraps each tool call in an ``execute_tool`` span."""

        @contextmanager
        def hook(
            use: ToolUseBlock,
        ) -> Iterator[Callable[[ToolResultBlock, BaseException | None], None]]:
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": use.name,
                "gen_ai.tool.call.id": use.id,
                "gen_ai.tool.type": "function",
            }
            if conversation_id:
                attributes["gen_ai.conversation.id"] = conversation_id
            if self.capture_content:
                attributes["gen_ai.tool.call.arguments"] = _json(use.input)
            with self._tracer.start_as_current_span(
                f"execute_tool {use.name}",
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:

                def report(result: ToolResultBlock, exc: BaseException | None) -> None:
                    if self.capture_content:
                        content = result.to_api().get("content")
                        span.set_attribute("gen_ai.tool.call.result", _json(content))
                    if exc is not None or result.is_error:
                        kind = "tool_error" if exc is None else error_type(exc)
                        span.set_attribute("error.type", kind)
                        span.set_status(Status(StatusCode.ERROR, kind))

                try:
                    yield report
                except BaseException as exc:  # cancellation, KeyboardInterrupt
                    span.set_attribute("error.type", error_type(exc))
                    span.set_status(Status(StatusCode.ERROR, error_type(exc)))
                    raise

        return hook
