"""`FakeMessagesAPI`: a strict, deterministic Messages API behind an httpx transport.

One queue of scripted steps serves every ``POST /v1/messages`` call, streamed or
not. Edge faults fire first, before the request is looked at; then the request is
validated (a rejected request is recorded but consumes no step); then the next
reply step (or the default reply) is rendered and sent as JSON or as SSE events.
Sync and async clients share one implementation: `handle_request` and
`handle_async_request` only read the body and call `_respond`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from attrs import define, field

from ._faults import Fault, error_body, status_for
from ._models import ModelRules, rules_for
from ._recorded import Answer, RecordedRequest, Step
from ._replies import (
    Limits,
    Rendering,
    Reply,
    build_message,
    default_reply,
    prefill_of,
    skeleton,
    topic_of,
)
from ._signing import Signer
from ._stream import EventStream, encode, encode_json, message_events
from ._tokens import count_request
from ._validate import MAX_BODY_BYTES, check_headers, parse_body, validate
from ._validate_base import Ctx, RejectedError

__all__ = ["FakeMessagesAPI"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RESET = "2026-01-01T00:00:00Z"
_NOT_FOUND = "The requested resource could not be found."
_JSON = "application/json"


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _to_ids(ids: Iterable[str]) -> frozenset[str]:
    return frozenset(ids)


def _to_models(models: Mapping[str, ModelRules]) -> dict[str, ModelRules]:
    return dict(models)


def _broken(request: httpx.Request) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body "
        "(incomplete chunked read)",
        request=request,
    )


@define(eq=False)
class FakeMessagesAPI(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A strict, deterministic fake of the Messages API, usable as an httpx transport.

    Script replies and faults with `script`; unscripted calls get a deterministic
    default reply derived from the request. Every request is validated as the API
    would (an invalid one gets the API's 4xx error, text included) and recorded in
    `requests`. The same object serves `httpx.Client` and `httpx.AsyncClient`, and
    is safe to share between threads.

    Args:
        seed: makes ids (``msg_…``, ``req_…``, ``toolu_…``) and thinking
            signatures; two fakes with the same seed answer the same calls alike.
        prefill_rejecting_models: model ids that reject prefill on top of the
            built-in table (which already covers Claude 4.6+, Fable and Mythos).
        models: rules for model ids, replacing the built-in table's.
        max_request_bytes: bodies larger than this get 413 ``request_too_large``.
    """

    seed: int = field(default=0, kw_only=True)
    prefill_rejecting_models: frozenset[str] = field(
        default=frozenset(), converter=_to_ids, kw_only=True
    )
    models: dict[str, ModelRules] = field(
        factory=dict, converter=_to_models, kw_only=True
    )
    max_request_bytes: int = field(default=MAX_BODY_BYTES, kw_only=True)
    _lock: threading.Lock = field(init=False, factory=threading.Lock, repr=False)
    _steps: deque[Step] = field(init=False, factory=deque, repr=False)
    _log: list[RecordedRequest] = field(init=False, factory=list, repr=False)
    _ids: int = field(init=False, default=0, repr=False)
    _replies: int = field(init=False, default=0, repr=False)
    _signer: Signer = field(init=False, repr=False)

    @_signer.default
    def _make_signer(self) -> Signer:
        return Signer(self.seed)

    def script(self, *steps: Step) -> None:
        """Queue *steps* (replies and faults), consumed in order by message calls."""
        with self._lock:
            self._steps.extend(steps)

    @property
    def pending(self) -> tuple[Step, ...]:
        """The scripted steps not consumed yet."""
        with self._lock:
            return tuple(self._steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def last_request(self) -> RecordedRequest:
        """The latest request received.

        Raises:
            LookupError: if no request was received yet.
        """
        with self._lock:
            if not self._log:
                msg = "the fake has received no request yet"
                raise LookupError(msg)
            return self._log[-1]

    def reset(self) -> None:
        """Forget the script, the recorded requests and the id counters."""
        with self._lock:
            self._steps.clear()
            self._log.clear()
            self._ids = 0
            self._replies = 0

    @staticmethod
    def count_tokens(body: Mapping[str, Any]) -> int:
        """Return the fake tokenizer's input count for a request *body*.

        It equals ``usage.input_tokens`` of a reply and the ``input_tokens`` that
        count_tokens answers for the same system, tools and messages.
        """
        return count_request(body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.BaseTransport` entry point)."""
        return self._respond(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.AsyncBaseTransport` entry point)."""
        return self._respond(request, await request.aread())

    def _respond(self, request: httpx.Request, content: bytes) -> httpx.Response:
        with self._lock:
            answer = self._route(request, content)
            self._log.append(self._record(request, content, answer))
        if answer.raised is not None:
            raise answer.raised
        return httpx.Response(
            answer.status or 200,
            headers=list(answer.headers),
            stream=EventStream(answer.chunks, error=answer.body_error),
            request=request,
        )

    def _record(
        self, request: httpx.Request, content: bytes, answer: Answer
    ) -> RecordedRequest:
        body = _json_or_none(content)
        error = answer.raised or answer.body_error
        raised = answer.status is None
        return RecordedRequest(
            method=request.method,
            url=str(request.url),
            path=request.url.path,
            headers=httpx.Headers(request.headers),
            content=content,
            body=body,
            status_code=answer.status,
            response_headers=None if raised else httpx.Headers(list(answer.headers)),
            response_json=answer.json,
            stream=isinstance(body, dict) and body.get("stream") is True,
            events=answer.events,
            error=type(error).__name__ if error is not None else None,
            step=answer.step,
        )

    def _new_id(self, prefix: str) -> str:
        # prefix + 24 base62 characters from (seed, prefix, counter): realistic
        # looking, deterministic per fake, distinct across calls.
        self._ids += 1
        digest = hashlib.sha256(f"{self.seed}:{prefix}:{self._ids}".encode()).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(24):
            number, rest = divmod(number, 62)
            chars.append(_BASE62[rest])
        return prefix + "".join(chars)

    def _route(self, request: httpx.Request, content: bytes) -> Answer:
        route = (request.method, request.url.path)
        if route == ("POST", "/v1/messages"):
            return self._create(request, content)
        if route == ("POST", "/v1/messages/count_tokens"):
            return self._count(request, content)
        return self._error(RejectedError(404, "not_found_error", _NOT_FOUND))

    def _error(
        self,
        rejection: RejectedError,
        *,
        extra: Iterable[tuple[str, str]] = (),
        step: Step | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Answer:
        request_id = self._new_id("req_")
        body = error_body(rejection.error_type, rejection.message, request_id)
        if details:
            body["error"]["details"] = dict(details)
        headers = (("content-type", _JSON), ("request-id", request_id), *extra)
        return Answer(rejection.status, headers, body, (encode_json(body),), step=step)

    def _headers(self, content_type: str) -> tuple[tuple[str, str], ...]:
        remaining = str(max(4000 - len(self._log) - 1, 0))
        limits = [("requests", "4000", remaining)] + [
            (kind, limit, limit)
            for kind, limit in (
                ("input-tokens", "2000000"),
                ("output-tokens", "400000"),
                ("tokens", "2400000"),
            )
        ]
        rate = [
            (f"anthropic-ratelimit-{kind}-{name}", value)
            for kind, limit, left in limits
            for name, value in (
                ("limit", limit),
                ("remaining", left),
                ("reset", _RESET),
            )
        ]
        return (
            ("content-type", content_type),
            ("request-id", self._new_id("req_")),
            ("anthropic-organization-id", "00000000-0000-4000-8000-00000000fa4e"),
            *rate,
        )

    def _checked(self, request: httpx.Request, content: bytes, endpoint: str) -> Ctx:
        limit = self.max_request_bytes
        version, betas = check_headers(request.headers, len(content), limit)
        body = parse_body(content)
        model = body.get("model")
        rules = rules_for(
            model if isinstance(model, str) else "",
            overrides=self.models,
            prefill_rejecting=self.prefill_rejecting_models,
        )
        ctx = Ctx(body, rules, version, betas, endpoint, self._signer.verify)
        validate(ctx)
        return ctx

    def _count(self, request: httpx.Request, content: bytes) -> Answer:
        try:
            ctx = self._checked(request, content, "count_tokens")
        except RejectedError as rejection:
            return self._error(rejection)
        body = {"input_tokens": count_request(ctx.body)}
        return Answer(200, self._headers(_JSON), body, (encode_json(body),))

    def _edge(self, step: Fault, request: httpx.Request) -> Answer:
        if step.kind == "timeout":
            error: Exception = httpx.ReadTimeout("timed out", request=request)
            return Answer(None, raised=error, step=step)
        if step.kind == "connect_error":
            error = httpx.ConnectError(
                "[Errno 111] Connection refused", request=request
            )
            return Answer(None, raised=error, step=step)
        rejection = RejectedError(step.status_code, step.error_type, step.message)
        return self._error(
            rejection, extra=step.headers, step=step, details=step.details
        )

    def _create(self, request: httpx.Request, content: bytes) -> Answer:
        head = self._steps[0] if self._steps else None
        if isinstance(head, Fault) and head.at_edge:
            self._steps.popleft()
            return self._edge(head, request)
        try:
            ctx = self._checked(request, content, "messages")
        except RejectedError as rejection:
            return self._error(rejection)
        step = self._steps.popleft() if self._steps else None
        if isinstance(step, Fault):
            return self._faulty(request, ctx, step)
        message = self._message(ctx, step)
        if ctx.body.get("stream") is not True:
            data = encode_json(message)
            return Answer(200, self._headers(_JSON), message, (data,), step=step)
        events = message_events(message)
        chunks = tuple(map(encode, events))
        return Answer(
            200, self._sse_headers(), message, chunks, tuple(events), step=step
        )

    def _sse_headers(self) -> tuple[tuple[str, str], ...]:
        sse = self._headers("text/event-stream; charset=utf-8")
        return (*sse, ("cache-control", "no-cache"))

    def _faulty(self, request: httpx.Request, ctx: Ctx, step: Fault) -> Answer:
        message = self._message(ctx, step.reply)
        streamed = ctx.body.get("stream") is True
        if step.kind == "stream_error" and not streamed:
            # Without SSE the API reports the same trouble as an HTTP error.
            status = status_for(step.error_type)
            rejection = RejectedError(status, step.error_type, step.message)
            return self._error(rejection, step=step)
        if not streamed:
            data = encode_json(message)
            half = (data[: len(data) // 2],)
            headers = self._headers(_JSON)
            return Answer(
                200, headers, None, half, body_error=_broken(request), step=step
            )
        sent = message_events(message)[: step.after_events]
        broken = None
        if step.kind == "stream_error":
            error = {"type": step.error_type, "message": step.message}
            sent.append(("error", {"type": "error", "error": error}))
        else:
            broken = _broken(request)
        chunks = tuple(map(encode, sent))
        headers = self._sse_headers()
        return Answer(200, headers, None, chunks, tuple(sent), broken, step=step)

    def _message(self, ctx: Ctx, step: Reply | None) -> dict[str, Any]:
        body = ctx.body
        self._replies += 1
        rendering = Rendering(
            thinking=ctx.thinking_on,
            prefill=prefill_of(body["messages"]),
            number=self._replies,
            topic=topic_of(body["messages"]),
            new_id=self._new_id,
        )
        input_tokens = count_request(body)
        display = (body.get("thinking") or {}).get("display")
        omit = display == "omitted" or (
            display is None and ctx.rules.omit_thinking_by_default
        )

        def finish(blocks: list[dict[str, Any]]) -> None:
            for block in blocks:
                if block["type"] == "thinking":
                    nonce = self._new_id("sig_")
                    block["signature"] = self._signer.sign(
                        block["thinking"], nonce=nonce, omitted=omit
                    )
                    if omit:
                        block["thinking"] = ""

        message = skeleton(body, self._new_id("msg_"), input_tokens)
        limits = Limits(
            body["max_tokens"],
            ctx.rules.context_window - input_tokens,
            tuple(body.get("stop_sequences", ())),
        )
        step = step if step is not None else default_reply(rendering)
        return build_message(step, rendering, limits, skeleton=message, finish=finish)
