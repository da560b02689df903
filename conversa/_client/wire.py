"""The part of the HTTP clients that does no I/O, shared by both twins.

It builds ``httpx.Request`` objects (URL, auth, version and beta headers),
turns responses into `APIResponse` values or typed errors, maps httpx's
exceptions onto conversa's, folds a stream's events (decoded by httpx-sse), and
logs. `Client` and `AsyncClient` only send, retry and read.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json as jsonlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
from attrs import evolve, field, frozen
from httpx_sse import ServerSentEvent, SSEError

from .._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    InvalidInputError,
    StreamError,
    status_error,
)
from .._values.body_json import SplicedBody, body_json
from .config import ClientConfig
from .doors.eventstream import aws_error_type
from .doors.route import MESSAGES, route
from .retry import RetryPolicy, parse_retry_after
from .spans import CallTracer, ChatSpan
from .sse import Delta, StreamFold
from .tracing import CallInfo, log_fields

__all__ = [
    "USER_AGENT",
    "APIResponse",
    "StreamReader",
    "build_request",
    "check_http_args",
    "error_from_response",
    "error_from_transport",
    "kept_headers",
    "log_request",
    "log_response",
    "make_config",
    "masked",
    "message_call",
    "request_id_of",
    "result_from_response",
    "stream_body",
]

logger = logging.getLogger("conversa")


def _version() -> str:
    try:
        return importlib.metadata.version("conversa")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return "0+unknown"


USER_AGENT = f"conversa/{_version()}"
_SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization"})
_KEPT_HEADERS = frozenset(
    {
        "request-id",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
        "x-amzn-requestid",
    }
)


def request_id_of(headers: httpx.Headers) -> str | None:
    """Return the response's request id: Anthropic's, else AWS's (Bedrock)."""
    found: str | None = headers.get("request-id") or headers.get("x-amzn-requestid")
    return found


@frozen
class APIResponse:
    """A successful answer from the API.

    Attributes:
        body: the decoded JSON body, key order kept (for a stream: the folded
            message, the same body a non-streamed call returns).
        request_id: the ``request-id`` header, for support requests and logs.
        status_code: the HTTP status.
        headers: the headers worth keeping: ``request-id``, ``retry-after*``,
            and every ``anthropic-*`` (rate limits, organization, workspace).
        attempts: how many attempts the call took (1 when not retried).
        lines: for a JSON Lines answer (batch results): its records, in order;
            *body* is then empty.
    """

    body: dict[str, Any] = field(hash=False)
    request_id: str | None
    status_code: int
    headers: Mapping[str, str] = field(hash=False)
    attempts: int = 1
    lines: tuple[dict[str, Any], ...] = field(default=(), hash=False)


def make_config(
    *,
    api_key: str | None,
    auth_token: str | None,
    base_url: str | None,
    api_version: str | None,
    betas: Iterable[str],
    timeout: float | httpx.Timeout | None,
    retry: RetryPolicy | None,
    max_retries: int | None,
    default_headers: Mapping[str, str] | None,
) -> ClientConfig:
    """Build a client's config from its constructor's arguments and the environment."""
    policy = retry if retry is not None else RetryPolicy()
    if max_retries is not None:
        policy = evolve(policy, max_retries=max_retries)
    return ClientConfig.from_env(
        api_key=api_key,
        auth_token=auth_token,
        base_url=base_url,
        api_version=api_version,
        betas=betas,
        timeout=timeout,
        retry=policy,
        default_headers=default_headers,
    )


def check_http_args(transport: object | None, http_client: object | None) -> None:
    """Refuse both a transport and a client: the client already has a transport."""
    if transport is not None and http_client is not None:
        msg = "pass transport= or http_client=, not both (give the transport to your client)"
        raise InvalidInputError(msg)


class NoCookies(httpx.Cookies):
    """The cookies of the httpx clients conversa makes: none, and none kept.

    The API authenticates every call by its headers, and conversa builds its
    requests itself, so no cookie ever goes back. httpx's own `Cookies` wraps
    each reply and its request in urllib's shapes for the standard jar before
    the jar looks at them (a `urllib.request.Request` made on every call); this
    one skips both steps. An *http_client* passed in keeps its own cookies.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep no cookie from *response*."""

    def set_cookie_header(self, request: httpx.Request) -> None:
        """Add no cookie to *request*."""


class _Cookieless:
    """What both clients conversa makes share: `NoCookies`, whatever is set."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always none (`NoCookies`)."""
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Keep none: conversa's requests carry their auth in headers."""


class CookielessClient(_Cookieless, httpx.Client):
    """The `httpx.Client` conversa makes when given none: `NoCookies`."""


class AsyncCookielessClient(_Cookieless, httpx.AsyncClient):
    """The `httpx.AsyncClient` conversa makes when given none: `NoCookies`."""


def build_request(
    config: ClientConfig,
    method: str,
    path: str,
    *,
    json: Mapping[str, Any] | None = None,
    params: Mapping[str, str | int] | None = None,
    betas: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> httpx.Request:
    """Build the request for *method* *path*, headers and timeout included.

    Headers, later ones winning: conversa's (auth, ``anthropic-version``,
    ``anthropic-beta`` from the config's betas then *betas*, deduplicated in
    order, ``user-agent``), then the config's ``default_headers``, then
    *headers*.
    """
    sent: dict[str, str] = {
        "accept": "application/json",
        "anthropic-version": config.api_version,
        "user-agent": USER_AGENT,
    }
    if json is not None:
        sent["content-type"] = "application/json"
    if config.api_key is not None:
        sent["x-api-key"] = config.api_key
    if config.auth_token is not None:
        sent["authorization"] = f"Bearer {config.auth_token}"
    all_betas = tuple(
        dict.fromkeys(b.strip() for b in (*config.betas, *betas) if b.strip())
    )
    if all_betas:
        sent["anthropic-beta"] = ",".join(all_betas)
    if config.door != "anthropic":
        path, json = _door_route(config, method, path, json, all_betas, sent)
    sent.update(config.default_headers)
    sent.update(headers or {})
    return httpx.Request(
        method,
        _url(config.base_url + path),
        headers=sent,
        content=None if json is None else body_json(json),
        params=params,
        extensions={"timeout": config.timeout.as_dict()},
    )


@functools.lru_cache(maxsize=64)
def _url(text: str) -> httpx.URL:
    """The parsed URL (immutable): parsing it again costs a tenth of a request's build."""
    return httpx.URL(text)


def _door_route(
    config: ClientConfig,
    method: str,
    path: str,
    body: Mapping[str, Any] | None,
    betas: tuple[str, ...],
    sent: dict[str, str],
) -> tuple[str, Mapping[str, Any] | None]:
    """Turn a first-party call into the door's (see `conversa._client.doors.route`)."""
    path, routed, changes = route(
        config.door,
        method,
        path,
        body=body,
        betas=betas,
        api_version=config.api_version,
        project_id=config.project_id,
        region=config.region,
        models=config.models,
    )
    # The official SDK's clients send (and sign) accept-encoding on every door.
    sent["accept-encoding"] = "gzip, deflate"
    if config.door == "aws" and config.workspace_id:
        sent["anthropic-workspace-id"] = config.workspace_id
    for name, value in changes.items():
        if value is None:
            sent.pop(name, None)
        else:
            sent[name] = value
    return path, routed


def message_call(
    config: ClientConfig,
    tracer: CallTracer | None,
    body: Mapping[str, Any],
    *,
    betas: Sequence[str],
    headers: Mapping[str, str] | None,
    conversation_id: str | None,
) -> tuple[httpx.Request, CallInfo, ChatSpan | None]:
    """Prepare a Messages call: its request, who it is for, and its span (if traced)."""
    request = build_request(
        config, "POST", MESSAGES, json=body, betas=betas, headers=headers
    )
    call = CallInfo.of(body, config.door, conversation_id)
    if tracer is None:
        return request, call, None
    span = tracer.chat(
        config.door,
        config.base_url,
        body,
        model=call.model,
        conversation_id=call.conversation_id,
    )
    return request, call, span


def stream_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of *body* with ``"stream": true`` (the caller's is untouched)."""
    sent = (
        SplicedBody(body, body.sources) if isinstance(body, SplicedBody) else dict(body)
    )
    sent["stream"] = True
    return sent


def kept_headers(headers: httpx.Headers) -> dict[str, str]:
    """Return the response headers worth keeping (see `APIResponse.headers`)."""
    return {
        k: v
        for k, v in headers.items()
        if k in _KEPT_HEADERS or k.startswith("anthropic-")
    }


def result_from_response(
    response: httpx.Response, *, attempts: int, jsonl: bool = False
) -> APIResponse:
    """Turn a successful, read response into an `APIResponse`.

    With *jsonl* the body is JSON Lines (batch results): one object a line.

    Raises:
        APIError: the body is not a JSON object (or a line is not one).
    """
    request_id = request_id_of(response.headers)
    if jsonl:
        lines = _json_lines(response.text, request_id)
        headers = kept_headers(response.headers)
        return APIResponse(
            {}, request_id, response.status_code, headers, attempts, lines
        )
    try:
        body = jsonlib.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        msg = f"the API answered HTTP {response.status_code} with a body that is not a JSON object"
        raise APIError(msg, request_id=request_id)
    return APIResponse(
        body, request_id, response.status_code, kept_headers(response.headers), attempts
    )


def _json_lines(text: str, request_id: str | None) -> tuple[dict[str, Any], ...]:
    lines = []
    # JSON Lines end at "\n" only (a "\r" before it is JSON whitespace):
    # str.splitlines would also cut at U+2028, U+0085..., which a JSON string
    # may hold raw.
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            item = jsonlib.loads(line)
        except ValueError:
            item = None
        if not isinstance(item, dict):
            msg = "the API answered with a JSON Lines body holding a line that is not a JSON object"
            raise APIError(msg, request_id=request_id)
        lines.append(item)
    return tuple(lines)


def error_from_response(response: httpx.Response) -> APIStatusError:
    """Turn an error response (already read) into the matching `APIStatusError`."""
    try:
        body: Mapping[str, Any] | str = jsonlib.loads(response.content)
    except ValueError:
        body = response.text
    error_type = error_message = request_id = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            error_type, error_message = error.get("type"), error.get("message")
        request_id = body.get("request_id")
    else:
        body = str(body)
    aws_name = response.headers.get("x-amzn-errortype")
    if error_type is None and aws_name:
        # Bedrock: the error's name in a header, the message in the body.
        error_type = aws_error_type(aws_name)
        if isinstance(body, Mapping):
            error_message = body.get("message") or body.get("Message")
    should_retry = {"true": True, "false": False}.get(
        response.headers.get("x-should-retry", "").strip().lower()
    )
    return status_error(
        status_code=response.status_code,
        error_type=error_type,
        error_message=error_message,
        request_id=request_id or request_id_of(response.headers),
        retry_after=parse_retry_after(response.headers),
        body=body,
        should_retry=should_retry,
    )


def error_from_transport(exc: httpx.RequestError) -> APIConnectionError:
    """Map an httpx error raised before a response onto conversa's (raise it ``from exc``)."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the request timed out ({type(exc).__name__})")
    return APIConnectionError(f"could not reach the API ({type(exc).__name__}: {exc})")


def masked(headers: httpx.Headers) -> dict[str, str]:
    """Return *headers* with every credential replaced, for logging."""
    return {
        k: ("<redacted>" if k in _SECRET_HEADERS else v) for k, v in headers.items()
    }


def log_request(
    request: httpx.Request, call: CallInfo | None = None, attempt: int = 1
) -> None:
    """Log a request about to be sent, its credentials masked (DEBUG).

    The record's ``extra`` fields: *call*'s (conversation id, model, door) and
    *attempt*.
    """
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "sending %s %s headers=%s",
            request.method,
            request.url,
            masked(request.headers),
            extra=log_fields(call, attempt=attempt),
        )


def log_response(
    request: httpx.Request,
    response: httpx.Response,
    call: CallInfo | None = None,
    attempt: int = 1,
) -> None:
    """Log the status, request id and rate-limit headers of a response (DEBUG).

    The record's ``extra`` fields: *call*'s, *attempt*, ``request_id`` and
    ``status_code``.
    """
    if logger.isEnabledFor(logging.DEBUG):
        limits = {
            k: v
            for k, v in response.headers.items()
            if k.startswith("anthropic-ratelimit-")
        }
        logger.debug(
            "%s %s: HTTP %d, request id %s, rate limits %s",
            request.method,
            request.url.path,
            response.status_code,
            response.headers.get("request-id"),
            limits,
            extra=log_fields(
                call,
                attempt=attempt,
                request_id=request_id_of(response.headers),
                status_code=response.status_code,
            ),
        )


class StreamReader:
    """One streamed response, its events folded.

    Pure: the shells hand it the events httpx-sse decodes (``EventSource``)
    and ask it for the errors to raise.
    """

    def __init__(self, response: httpx.Response) -> None:
        """Start reading *response* (status and headers only are used here)."""
        self.status_code = response.status_code
        self.headers = kept_headers(response.headers)
        self.request_id = request_id_of(response.headers)
        self.content_type = response.headers.get("content-type")
        self.fold = StreamFold(request_id=self.request_id)

    def add(self, event: ServerSentEvent) -> Delta | None:
        """Take one event; return what the caller may show, if anything."""
        return self.fold.add(event)

    def broken(self, exc: httpx.RequestError) -> StreamError:
        """Return the error for a connection that broke while reading.

        httpx-sse raises `SSEError` (an ``httpx.TransportError``) for a body
        that is not ``text/event-stream``: that one says so.
        """
        if isinstance(exc, SSEError):
            return StreamError(
                f"the API answered HTTP {self.status_code} with content-type "
                f"{self.content_type!r}, not an event stream",
                request_id=self.request_id,
                partial=self.fold.has_content,
            )
        return StreamError(
            f"the stream broke after HTTP {self.status_code} ({type(exc).__name__}: {exc})",
            request_id=self.request_id,
            partial=self.fold.has_content,
        )

    def ended(self) -> StreamError:
        """Return the error for a stream that ended without ``message_stop``."""
        return StreamError(
            "the stream ended before message_stop",
            request_id=self.request_id,
            partial=self.fold.has_content,
        )

    def closed(self) -> StreamError:
        """Return the error for reading on after the stream was closed."""
        return StreamError(
            "the stream was closed before message_stop",
            request_id=self.request_id,
            partial=self.fold.has_content,
        )

    def result(self, *, attempts: int) -> APIResponse:
        """Return the folded message as an `APIResponse`."""
        return APIResponse(
            self.fold.message, self.request_id, self.status_code, self.headers, attempts
        )
