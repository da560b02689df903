"""`AsyncClient`: the async twin of `Client`, method for method.

Only the I/O differs from ``client.py``: ``await`` on httpx, ``AsyncRetrying``
for the retries. Everything else is in ``wire.py`` and ``sse.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any

import httpx
from attrs import define, field
from httpx_sse import EventSource, ServerSentEvent
from tenacity import AsyncRetrying

from .._exceptions import InvalidInputError, StreamError
from .config import ClientConfig
from .doors.constructors import DoorConstructors
from .doors.eventstream import aiter_frames
from .doors.route import COUNT_TOKENS, tokens_from
from .retry import RetryPolicy, goes_on, replay_first, tenacity_kwargs
from .spans import CallTracer, ChatSpan
from .sse import Delta
from .tracing import CallInfo, Tracing, make_tracer
from .wire import (
    APIResponse,
    AsyncCookielessClient,
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

__all__ = ["AsyncClient", "AsyncMessageStream"]


@define(init=False)
class AsyncClient(DoorConstructors[httpx.AsyncBaseTransport, httpx.AsyncClient]):
    """The async twin of `Client`: the same arguments, the same methods, awaited.

    Attributes:
        config: everything the client sends with, as one value.
        tracer: makes the spans of its calls (None: not tracing; see `Tracing`).
    """

    config: ClientConfig
    _http: httpx.AsyncClient = field(repr=False)
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
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        tracing: Tracing | bool | None = None,
    ) -> None:
        """Make a client; the arguments are `Client`'s, with async httpx objects."""
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
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        auth: httpx.Auth | None = None,
        tracing: Tracing | bool | None = None,
    ) -> AsyncClient:
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
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
        auth: httpx.Auth | None = None,
        *,
        tracing: Tracing | bool | None = None,
    ) -> None:
        check_http_args(transport, http_client)
        tracer = make_tracer(tracing=tracing)
        http = (
            http_client
            if http_client is not None
            else AsyncCookielessClient(transport=transport)
        )
        self.__attrs_init__(
            config, http, owns_http=http_client is None, auth=auth, tracer=tracer
        )

    async def aclose(self) -> None:
        """Close the connections (not those of an *http_client* passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def create_message(
        self,
        body: Mapping[str, Any],
        *,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        conversation_id: str | None = None,
    ) -> APIResponse:
        """POST /v1/messages and return the reply; see `Client.create_message`."""
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
            response, attempts = await self._send(request, call)
            return result_from_response(response, attempts=attempts)
        try:
            with span.current():
                response, attempts = await self._send(request, call, span)
            result = result_from_response(response, attempts=attempts)
        except BaseException as exc:
            span.fail(exc)
            raise
        span.ok(result)
        return result

    async def count_tokens(
        self,
        body: Mapping[str, Any],
        *,
        betas: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """POST /v1/messages/count_tokens and return ``input_tokens``."""
        response = await self.request(
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
    ) -> AsyncMessageStream:
        """POST /v1/messages with ``"stream": true``; use the result in ``async with``."""
        request, call, span = message_call(
            self.config,
            self.tracer,
            stream_body(body),
            betas=betas,
            headers=headers,
            conversation_id=conversation_id,
        )
        attempts = itertools.count(1)
        return AsyncMessageStream(
            lambda req: self._send_once(
                req, stream=True, call=call, attempt=next(attempts)
            ),
            request,
            self.config.retry,
            events=aiter_frames if self.config.door == "bedrock" else _sse_events,
            call=call,
            span=span,
        )

    async def request(
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
        response, attempts = await self._send(request)
        return result_from_response(response, attempts=attempts, jsonl=jsonl)

    async def _send(
        self,
        request: httpx.Request,
        call: CallInfo | None = None,
        span: ChatSpan | None = None,
    ) -> tuple[httpx.Response, int]:
        """Send *request* (its body read) until it succeeds or the policy stops."""
        started = time.monotonic()
        try:  # without the retry loop first (`goes_on`)
            return await self._send_once(request, call=call), 1
        except Exception as exc:
            if not goes_on(self.config.retry, exc):
                raise
            first = exc
        label = f"{request.method} {request.url.path}"
        retrying = AsyncRetrying(
            **tenacity_kwargs(
                self.config.retry,
                label=label,
                call=call,
                on_retry=None if span is None else span.retry,
            )
        )
        async for attempt in retrying:
            with attempt:
                replay_first(attempt, first, started)
                number = attempt.retry_state.attempt_number
                response = await self._send_once(request, call=call, attempt=number)
        del first  # its traceback holds this frame: no cycle kept alive
        return response, attempt.retry_state.attempt_number

    async def _send_once(
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
            response = await self._http.send(request, stream=stream, auth=self._auth)
            if not response.is_success:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.RequestError as exc:
            raise error_from_transport(exc) from exc
        log_response(request, response, call, attempt)
        if not response.is_success:
            raise error_from_response(response)
        return response


class AsyncMessageStream:
    """The async twin of `MessageStream`, with the same retry rule.

    ``async for`` it for `Delta`s; `response` is synchronous, as in the sync
    twin, so it needs the stream read to the end first (it cannot read from
    a sync method).
    """

    def __init__(
        self,
        send: Callable[[httpx.Request], Awaitable[httpx.Response]],
        request: httpx.Request,
        policy: RetryPolicy,
        *,
        events: Callable[[httpx.Response], AsyncGenerator[ServerSentEvent, None]]
        | None = None,
        call: CallInfo | None = None,
        span: ChatSpan | None = None,
    ) -> None:
        """Prepare a stream; `AsyncClient.stream_message` makes them."""
        self._sendfn = send
        self._decode = events or _sse_events
        self._request = request
        self._policy = policy
        self._response: httpx.Response | None = None
        self._events: AsyncGenerator[ServerSentEvent, None] | None = None
        self._reader: StreamReader | None = None
        self._first: Delta | None = None
        self._error: StreamError | None = None
        self._attempts = 0
        self._call = call
        self._span = span

    async def __aenter__(self) -> AsyncMessageStream:
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncMessageStream:
        return self

    async def __anext__(self) -> Delta:
        """Return the next thing the caller may show, as it arrives."""
        reader = await self._open()
        if self._first is not None:
            first, self._first = self._first, None
            return first
        delta = await self._next_delta(reader)
        if delta is None:
            raise StopAsyncIteration
        return delta

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The message folded so far (None before ``message_start``)."""
        reader = self._reader
        return (
            reader.fold.message if reader is not None and reader.fold.started else None
        )

    def response(self) -> APIResponse:
        """Return the folded message, once the stream has been read to the end.

        Raises:
            StreamError: the stream failed (the same error iteration raised).
            InvalidInputError: the stream has not been read to the end yet.
        """
        if self._error is not None:
            raise self._error
        reader = self._reader
        if reader is None or not reader.fold.done or self._first is not None:
            msg = "read the stream to the end (async for ...) before calling response()"
            raise InvalidInputError(msg)
        return reader.result(attempts=self._attempts)

    async def aclose(self) -> None:
        """Close the HTTP response; reading on raises `StreamError`."""
        try:
            await self._release()
        finally:
            if self._span is not None:  # a no-op once the stream ended
                self._span.abandon()

    async def _release(self) -> None:
        events, self._events = self._events, None
        try:
            # Finalized here, not by the event loop later; a read in progress (in
            # another task) ends when the response closes under it instead.
            if events is not None and not getattr(events, "ag_running", False):
                await events.aclose()
        finally:
            if self._response is not None:
                await self._response.aclose()
                self._response = None

    async def _open(self) -> StreamReader:
        if self._reader is None:
            span = self._span
            if span is None:
                self._reader = await self._retrying()
            else:
                try:
                    with span.current():
                        self._reader = await self._retrying()
                except BaseException as exc:
                    span.fail(exc)
                    raise
                if self._reader.fold.done:
                    span.ok(self._reader.result(attempts=self._attempts))
        return self._reader

    async def _retrying(self) -> StreamReader:
        """Open the stream, retried by the policy."""
        label = f"{self._request.method} {self._request.url.path} (stream)"
        kwargs = tenacity_kwargs(
            self._policy,
            label=label,
            call=self._call,
            on_retry=None if self._span is None else self._span.retry,
        )
        async for attempt in AsyncRetrying(**kwargs):
            with attempt:
                opened = await self._attempt()
        self._attempts = attempt.retry_state.attempt_number
        return opened

    async def _attempt(self) -> StreamReader:
        """Send once and read up to the first content; any failure may be retried."""
        await self._release()
        self._error = None
        response = await self._sendfn(self._request)
        self._response = response
        self._events = self._decode(response)
        reader = StreamReader(response)
        self._first = await self._next_delta(reader)
        return reader

    async def _next_delta(self, reader: StreamReader) -> Delta | None:
        """Read to the next delta; None once the message is done."""
        if self._error is not None:
            raise self._error
        try:
            while not reader.fold.done:
                if self._response is None or self._events is None:
                    raise reader.closed()
                try:
                    event = await self._events.__anext__()
                except StopAsyncIteration:
                    raise reader.ended() from None
                except httpx.RequestError as exc:
                    raise reader.broken(exc) from exc
                delta = reader.add(event)
                if delta is not None:
                    return delta
        except StreamError as exc:
            self._error = exc
            await self._release()
            if self._span is not None and self._reader is not None:
                self._span.fail(exc)  # once opened, nothing is retried
            raise
        await self._release()
        if self._span is not None and self._reader is not None:
            self._span.ok(reader.result(attempts=self._attempts))
        return None


def _sse_events(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    # httpx-sse splits lines only on CR, LF and CRLF, as the spec says.
    return EventSource(response).aiter_sse()
