"""The pieces of an answer every endpoint shares: ids, headers, errors, the record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ._faults import error_body
from ._recorded import Answer, RecordedRequest, Step
from ._stream import encode_json
from ._validate_base import RejectedError

__all__ = [
    "BASE_URL_EXTENSION",
    "JSON",
    "NOT_FOUND",
    "api_headers",
    "broken",
    "error_answer",
    "json_answer",
    "make_id",
    "partition_of",
    "record",
]

JSON = "application/json"
# A request a door forwards names the base its batches' ``results_url`` use.
BASE_URL_EXTENSION = "conversa_fake_base_url"
NOT_FOUND = "The requested resource could not be found."
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RESET = "2026-01-01T00:00:00Z"
_ORGANIZATION = "00000000-0000-4000-8000-00000000fa4e"


def make_id(seed: int, prefix: str, counter: int) -> str:
    """Return *prefix* plus 24 base62 characters derived from *seed* and *counter*.

    Realistic looking, deterministic per fake, distinct across calls.
    """
    digest = hashlib.sha256(f"{seed}:{prefix}:{counter}".encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(24):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return prefix + "".join(chars)


def partition_of(headers: httpx.Headers) -> tuple[str, str]:
    """Return who a request is from: a digest of its API key, and its workspace.

    Prompt caches, fingerprints and batches are per organization and workspace
    (prompt caching and Message Batches docs); the fake treats each API key as an
    organization.
    """
    bearer = headers.get("authorization", "")
    key = headers.get("x-api-key") or bearer.partition(" ")[2].strip()
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return digest, headers.get("anthropic-workspace-id", "")


def api_headers(
    content_type: str, request_id: str, remaining: int
) -> tuple[tuple[str, str], ...]:
    """Return a success response's headers, rate-limit headers included."""
    limits = [("requests", "4000", str(max(remaining, 0)))] + [
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
        for name, value in (("limit", limit), ("remaining", left), ("reset", _RESET))
    ]
    return (
        ("content-type", content_type),
        ("request-id", request_id),
        ("anthropic-organization-id", _ORGANIZATION),
        *rate,
    )


def json_answer(
    body: Any, headers: tuple[tuple[str, str], ...], step: Step | None = None
) -> Answer:
    """Return a 200 answer carrying *body* as JSON."""
    return Answer(200, headers, body, (encode_json(body),), step=step)


def error_answer(
    rejection: RejectedError,
    request_id: str,
    *,
    extra: Iterable[tuple[str, str]] = (),
    step: Step | None = None,
    details: Mapping[str, Any] | None = None,
) -> Answer:
    """Return the API's error answer for *rejection*."""
    body = error_body(rejection.error_type, rejection.message, request_id)
    if details:
        body["error"]["details"] = dict(details)
    headers = (("content-type", JSON), ("request-id", request_id), *extra)
    return Answer(rejection.status, headers, body, (encode_json(body),), step=step)


def broken(request: httpx.Request) -> httpx.RemoteProtocolError:
    """Return the error a peer closing the connection mid-body raises."""
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body "
        "(incomplete chunked read)",
        request=request,
    )


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def record(request: httpx.Request, content: bytes, answer: Answer) -> RecordedRequest:
    """Return what the fake keeps of *request* and its *answer*."""
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
        stream=answer.stream
        if answer.stream is not None
        else isinstance(body, dict) and body.get("stream") is True,
        events=answer.events,
        error=type(error).__name__ if error is not None else None,
        step=answer.step,
    )
