"""Helpers for the door tests: the official SDK's clients pointed at a `FakeDoor`.

The SDK speaks httpx2, the fake is an httpx transport: `sdk_http` bridges the two,
byte for byte, and keeps every request the SDK sent so a test can replay it with
one byte changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import httpx2
from anthropic.types import MessageParam

from conversa.testing import FakeDoor

MESSAGES: list[MessageParam] = [{"role": "user", "content": "Hello there"}]


def _to_httpx(request: httpx2.Request, content: bytes) -> httpx.Request:
    return httpx.Request(
        request.method,
        str(request.url),
        headers=request.headers.multi_items(),
        content=content,
    )


def _to_httpx2(response: httpx.Response, content: bytes) -> httpx2.Response:
    return httpx2.Response(
        response.status_code, headers=response.headers.multi_items(), content=content
    )


class Bridge:
    """httpx2 clients that hand every request to *door* and keep what was sent."""

    def __init__(self, door: FakeDoor) -> None:
        """Bridge to *door*."""
        self.door = door
        self.sent: list[httpx.Request] = []

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        sent = _to_httpx(request, request.read())
        self.sent.append(sent)
        response = self.door.handle_request(sent)
        return _to_httpx2(response, response.read())

    async def _ahandle(self, request: httpx2.Request) -> httpx2.Response:
        sent = _to_httpx(request, await request.aread())
        self.sent.append(sent)
        response = await self.door.handle_async_request(sent)
        return _to_httpx2(response, await response.aread())

    def client(self) -> httpx2.Client:
        """Return a sync httpx2 client for the SDK's ``http_client=``."""
        return httpx2.Client(transport=httpx2.MockTransport(self._handle))

    def async_client(self) -> httpx2.AsyncClient:
        """Return an async httpx2 client for the SDK's ``http_client=``."""
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self._ahandle))


def replay(
    door: FakeDoor,
    request: httpx.Request,
    *,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> httpx.Response:
    """Send *request* to *door* again, with its body or some headers changed."""
    new_headers = {k: v for k, v in request.headers.items() if k not in drop}
    new_headers.update(headers or {})
    again = httpx.Request(
        request.method,
        request.url,
        headers=new_headers,
        content=request.content if content is None else content,
    )
    response = door.handle_request(again)
    response.read()
    return response


def flip_last_byte(data: bytes) -> bytes:
    """Return *data* with its last byte changed (the length stays the same)."""
    return data[:-1] + bytes([data[-1] ^ 0x01])


def aws_kwargs(door: FakeDoor) -> dict[str, Any]:
    """Return the SDK's AWS credential arguments for *door*'s test credentials."""
    return {
        "aws_region": door.region,
        "aws_access_key": door.aws_access_key,
        "aws_secret_key": door.aws_secret_key,
        "aws_session_token": door.aws_session_token,
    }


class _Raw:
    """The raw body botocore reads, served *size* bytes at a time."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = data
        self._size = size

    def stream(self, **_: Any) -> Iterator[bytes]:
        for start in range(0, len(self._data), self._size):
            yield self._data[start : start + self._size]

    def read(self, *_: Any) -> bytes:
        return self._data


def boto_bedrock(door: FakeDoor, *, piece: int = 7) -> Any:
    """Return boto3's own ``bedrock-runtime`` client, sending through *door*.

    botocore builds, signs and parses (event streams included, read *piece*
    bytes at a time); a ``before-send`` hook hands the request to the door.
    """
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=door.aws_access_key,
        aws_secret_access_key=door.aws_secret_key,
        aws_session_token=door.aws_session_token,
        region_name=door.region,
    )
    client = session.client(
        "bedrock-runtime", config=Config(retries={"total_max_attempts": 1})
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        headers = {
            k: v.decode() if isinstance(v, bytes) else v
            for k, v in request.headers.items()
        }
        body = request.body or b""
        sent = httpx.Request(
            request.method,
            request.url,
            headers=headers,
            content=body if isinstance(body, bytes) else body.encode(),
        )
        response = door.handle_request(sent)
        data = response.read()
        return AWSResponse(
            request.url, response.status_code, dict(response.headers), _Raw(data, piece)
        )

    client.meta.events.register("before-send.bedrock-runtime", send)
    return client
