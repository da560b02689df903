"""`Client`: the Messages API over httpx, with retries and streaming (sync).

The async twin, `AsyncClient`, lives in ``async_client.py``; both only send,
retry and read, and leave everything else to ``wire.py`` and ``sse.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
from attrs import define, field
from httpx_sse import EventSource, ServerSentEvent
from tenacity import Retrying

from .._exceptions import InvalidInputError, StreamError
from .async_client import AsyncClient, AsyncMessageStream
from .config import ClientConfig
from .doors.constructors import DoorConstructors
from .doors.eventstream import iter_frames
from .doors.route import COUNT_TOKENS, tokens_from
from .retry import RetryPolicy, goes_on, replay_first, tenacity_kwargs
from .spans import CallTracer, ChatSpan
from .sse import Delta
from .tracing import CallInfo, Tracing, make_tracer
from .wire import (
    APIResponse,
    CookielessClient,
    StreamReader,
    build_request,
    check_http_args,
    error_from_response,
    error_from_transport,
    log_request,
    log_response,
    make_config,
    message_call,
    result_from_response,
    stream_body,
)

__all__ = [
    "APIResponse",
    "AsyncClient",
    "AsyncMessageStream",
    "Client",
    "MessageStream",
]


@define(init=False)
class Client(DoorConstructors[httpx.BaseTransport, httpx.Client]):
    """A client for the Messages API (sync; `AsyncClient` is its twin).

    Credentials and the base URL come from the arguments, else from
    ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_AUTH_TOKEN`` / ``ANTHROPIC_BASE_URL``
    (see `ClientConfig.from_env`). Calls are retried by the `RetryPolicy`.
    Close the client (or use it as a context manager) to release its
    connections; an *http_client* passed in is left for its owner to close.

    Attributes:
        config: everything the client sends with, as one value.
        tracer: makes the spans of its calls, and of the tools a conversation
            runs beside them (None: not tracing; see `Tracing`).
    """

    config: ClientConfig
    _http: httpx.Client = field(repr=False)
    _owns_http: bool = field(repr=False, kw_only=True)
    _auth: httpx.Auth | None = field(default=None, repr=False, kw_only=True)
    tracer: CallTracer | None = field(default=None, repr=False, kw_only=True)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        betas: Iterable[str] = (),
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
        tracing: Tracing | bool | None = None,
    ) -> None:
        """Make a client.

        Args:
            api_key: sent as ``x-api-key``.
            auth_token: sent as ``authorization: Bearer <token>``.
            base_url: the API's root URL.
            api_version: ``"2026-10-21"`` (the default) or ``"2023-06-01"``.
            betas: beta names sent with every call.
            timeout: seconds, or an ``httpx.Timeout``; default 600 s, connect 5 s.
            retry: the retry policy; default `RetryPolicy()`.
            max_retries: shorthand that overrides *retry*'s ``max_retries``.
            transport: an httpx transport to send through (a test fake, say).
            http_client: an httpx client to send through, which you close.
            default_headers: extra headers sent with every call.
            tracing: OpenTelemetry spans (`Tracing`); the default traces
                through the global provider when the ``otel`` extra is
                installed; False turns them off.

        Raises:
            InvalidInputError: no credentials, a bad value, both *transport*
                and *http_client*, or tracing asked for without the extra.
        """
        config = make_config(
            api_key=api_key,
            auth_token=auth_token,
            base_url=base_url,
            api_version=api_version,
            betas=betas,
            timeout=timeout,
            retry=retry,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        self._setup(config, transport, http_client, tracing=tracing)

    @classmethod
    def from_config(
        cls,
        config: ClientConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        auth: httpx.Auth | None = None,
        tracing: Tracing | bool | None = None,
    ) -> Client:
        """Make a client from a ready `ClientConfig` (the environment is not read).

        *auth* signs or authenticates each request (the doors' SigV4 or OAuth);
        *tracing* is as for `Client`.
        """
        client = cls.__new__(cls)
        cls._setup(client, config, transport, http_client, auth, tracing=tracing)
        return client

    def _setup(
        self,
        config: ClientConfig,
        transport: httpx.BaseTransport | None,
        http_client: httpx.Client | None,
        auth: httpx.Auth | None = None,
        *,
        tracing: Tracing | bool | None = None,
    ) -> None:
        check_http_args(transport, http_client)
        tracer = make_tracer(tracing=tracing)
        http = (
            http_client
            if http_client is not None
            else CookielessClient(transport=transport)
        )
        self.__attrs_init__(
            config, http, owns_http=http_client is None, auth=auth, tracer=tracer
        )

    def close(self) -> None:
        """Close the connections (not those of an *http_client* passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create_message(
        self,
        body: Mapping[str, Any],
        *,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        conversation_id: str | None = None,
    ) -> APIResponse:
        """POST /v1/messages and return the reply, retried by the policy.

        Args:
            body: the request body, sent as given (keys in order).
            betas: beta names for this call, after the config's.
            headers: extra headers for this call; they win over all others.
            conversation_id: the conversation the call is for, recorded on
                its span and log lines (conversations pass their id).

        Raises:
            InvalidInputError: *body* asks for a stream (use `stream_message`).
            APIStatusError: the API answered with an error (typed by status).
            APIConnectionError: the API could not be reached (or timed out).
        """
        if body.get("stream"):
            msg = 'the body has "stream": true; use stream_message() for a stream'
            raise InvalidInputError(msg)
        request, call, span = message_call(
            self.config,
            self.tracer,
            body,
            betas=betas,
            headers=headers,
            conversation_id=conversation_id,
        )
        if span is None:
            response, attempts = self._send(request, call)
            return result_from_response(response, attempts=attempts)
        try:
            with span.current():
                response, attempts = self._send(request, call, span)
            result = result_from_response(response, attempts=attempts)
        except BaseException as exc:
            span.fail(exc)
            raise
        span.ok(result)
        return result

    def count_tokens(
        self,
        body: Mapping[str, Any],
        *,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """POST /v1/messages/count_tokens and return ``input_tokens``, retried like a create."""
        response = self.request(
            "POST", COUNT_TOKENS, json=body, betas=betas, headers=headers
        )
        return tokens_from(response.body)

    def stream_message(
        self,
        body: Mapping[str, Any],
        *,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        conversation_id: str | None = None,
    ) -> MessageStream:
        """POST /v1/messages with ``"stream": true``; use the result in a ``with``.

        ``"stream": true`` is added to a copy of *body*. See `MessageStream` for
        what is retried. *conversation_id* is as for `create_message`; the
        call's span lasts until the stream ends, fails or is closed.
        """
        request, call, span = message_call(
            self.config,
            self.tracer,
            stream_body(body),
            betas=betas,
            headers=headers,
            conversation_id=conversation_id,
        )
        attempts = itertools.count(1)
        return MessageStream(
            lambda req: self._send_once(
                req, stream=True, call=call, attempt=next(attempts)
            ),
            request,
            self.config.retry,
            events=iter_frames if self.config.door == "bedrock" else _sse_events,
            call=call,
            span=span,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        jsonl: bool = False,
    ) -> APIResponse:
        """Send any call to the API with the client's auth, version and retries.

        The other methods are built on this one; use it for endpoints conversa has
        no method for (`GET /v1/models`, say).

        Args:
            method: the HTTP method.
            path: the path under the base URL (`/v1/models`).
            json: the JSON body, if any.
            params: query parameters.
            betas: beta names for the `anthropic-beta` header.
            headers: more headers.
            jsonl: decode the body as JSON Lines (batch results).

        Returns:
            The decoded body (or its lines), with the request id and attempts.

        Raises:
            APIStatusError: the API answered with an error (typed by status).
            APIConnectionError: the API could not be reached (or timed out).
        """
        request = build_request(
            self.config,
            method,
            path,
            json=json,
            params=params,
            betas=betas,
            headers=headers,
        )
        response, attempts = self._send(request)
        return result_from_response(response, attempts=attempts, jsonl=jsonl)

    def _send(
        self,
        request: httpx.Request,
        call: CallInfo | None = None,
        span: ChatSpan | None = None,
    ) -> tuple[httpx.Response, int]:
        """Send *request* (its body read) until it succeeds or the policy stops."""
        started = time.monotonic()
        try:  # without the retry loop first (`goes_on`)
            return self._send_once(request, call=call), 1
        except Exception as exc:
            if not goes_on(self.config.retry, exc):
                raise
            first = exc
        label = f"{request.method} {request.url.path}"
        retrying = Retrying(
            **tenacity_kwargs(
                self.config.retry,
                label=label,
                call=call,
                on_retry=None if span is None else span.retry,
            )
        )
        for attempt in retrying:
            with attempt:
                replay_first(attempt, first, started)
                number = attempt.retry_state.attempt_number
                response = self._send_once(request, call=call, attempt=number)
        del first  # its traceback holds this frame: no cycle kept alive
        return response, attempt.retry_state.attempt_number

    def _send_once(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        call: CallInfo | None = None,
        attempt: int = 1,
    ) -> httpx.Response:
        """Send *request* once; return a 2xx response or raise the typed error."""
        log_request(request, call, attempt)
        try:
            response = self._http.send(request, stream=stream, auth=self._auth)
            if not response.is_success:
                try:
                    response.read()
                finally:
                    response.close()
        except httpx.RequestError as exc:
            raise error_from_transport(exc) from exc
        log_response(request, response, call, attempt)
        if not response.is_success:
            raise error_from_response(response)
        return response


class MessageStream:
    """A streamed reply: iterate it for `Delta`s, then call `response`.

    Entering the ``with`` sends the request and reads up to the first content
    (text, thinking, tool input or a citation). Until then every failure follows
    the retry policy, a new request being sent each time: connection errors,
    timeouts, error statuses, a connection that breaks after HTTP 200, and a
    transient ``error`` event (overloaded, rate limited, API error). Nothing had
    reached the caller, so a retry is invisible. Once content has reached the
    caller nothing is retried: a broken connection or an ``error`` event raises
    `StreamError` with ``partial=True``, and `snapshot` holds what arrived.
    """

    def __init__(
        self,
        send: Callable[[httpx.Request], httpx.Response],
        request: httpx.Request,
        policy: RetryPolicy,
        *,
        events: Callable[[httpx.Response], Iterator[ServerSentEvent]] | None = None,
        call: CallInfo | None = None,
        span: ChatSpan | None = None,
    ) -> None:
        """Prepare a stream; `Client.stream_message` makes them.

        *events* decodes the response's body into events (SSE by default;
        Bedrock's event-stream frames on InvokeModel). *call* is who the call is
        for (its log fields); *span* is the call's span, ended with the stream.
        """
        self._sendfn = send
        self._decode = events or _sse_events
        self._request = request
        self._policy = policy
        self._response: httpx.Response | None = None
        self._events: Iterator[ServerSentEvent] = iter(())
        self._reader: StreamReader | None = None
        self._first: Delta | None = None
        self._error: StreamError | None = None
        self._attempts = 0
        self._call = call
        self._span = span

    def __enter__(self) -> MessageStream:
        self._open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> MessageStream:
        return self

    def __next__(self) -> Delta:
        """Return the next thing the caller may show, as it arrives."""
        reader = self._open()
        if self._first is not None:
            first, self._first = self._first, None
            return first
        delta = self._next_delta(reader)
        if delta is None:
            raise StopIteration
        return delta

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The message folded so far (None before ``message_start``)."""
        reader = self._reader
        return (
            reader.fold.message if reader is not None and reader.fold.started else None
        )

    def response(self) -> APIResponse:
        """Read the rest of the stream, then return the folded message.

        Raises:
            StreamError: the stream failed (the same error iteration raised).
        """
        for _ in self:
            pass
        return self._open().result(attempts=self._attempts)

    def close(self) -> None:
        """Close the HTTP response; reading on raises `StreamError`."""
        self._release()
        if self._span is not None:  # a no-op once the stream ended
            self._span.abandon()

    def _release(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None

    def _open(self) -> StreamReader:
        if self._reader is None:
            span = self._span
            if span is None:
                self._reader = self._retrying()
            else:
                try:
                    with span.current():
                        self._reader = self._retrying()
                except BaseException as exc:
                    span.fail(exc)
                    raise
                if self._reader.fold.done:
                    span.ok(self._reader.result(attempts=self._attempts))
        return self._reader

    def _retrying(self) -> StreamReader:
        """Open the stream, retried by the policy."""
        label = f"{self._request.method} {self._request.url.path} (stream)"
        kwargs = tenacity_kwargs(
            self._policy,
            label=label,
            call=self._call,
            on_retry=None if self._span is None else self._span.retry,
        )
        for attempt in Retrying(**kwargs):
            with attempt:
                opened = self._attempt()
        self._attempts = attempt.retry_state.attempt_number
        return opened

    def _attempt(self) -> StreamReader:
        """Send once and read up to the first content; any failure may be retried."""
        self._release()
        self._error = None
        response = self._sendfn(self._request)
        self._response = response
        self._events = self._decode(response)
        reader = StreamReader(response)
        self._first = self._next_delta(reader)
        return reader

    def _next_delta(self, reader: StreamReader) -> Delta | None:
        """Read to the next delta; None once the message is done."""
        if self._error is not None:
            raise self._error
        try:
            while not reader.fold.done:
                if self._response is None:
                    raise reader.closed()
                try:
                    event = next(self._events)
                except StopIteration:
                    raise reader.ended() from None
                except httpx.RequestError as exc:
                    raise reader.broken(exc) from exc
                delta = reader.add(event)
                if delta is not None:
                    return delta
        except StreamError as exc:
            self._error = exc
            self._release()
            if self._span is not None and self._reader is not None:
                self._span.fail(exc)  # once opened, nothing is retried
            raise
        self._release()
        if self._span is not None and self._reader is not None:
            self._span.ok(reader.result(attempts=self._attempts))
        return None


def _sse_events(response: httpx.Response) -> Iterator[ServerSentEvent]:
    # httpx-sse splits lines only on CR, LF and CRLF, as the spec says.
    return EventSource(response).iter_sse()
