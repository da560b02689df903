"""Fixtures for the client tests: each twin behind one async interface, over the fake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import pytest

from conversa._client.client import AsyncClient, Client
from conversa._client.retry import RetryPolicy
from conversa._client.sse import Delta
from conversa._client.wire import APIResponse
from conversa.testing import FakeMessagesAPI

KEY = "sk-ant-api03-NEVER-LOG-THIS-KEY"
TOKEN = "sk-ant-oat01-NEVER-LOG-THIS-TOKEN"  # noqa: S105 - a fake, for the tests
MODEL = "claude-sonnet-4-5"


def body(text: str = "Hello, Claude", **extra: Any) -> dict[str, Any]:
    """A valid /v1/messages body."""
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


class Twin(Protocol):
    """What the tests use: either client, seen through async methods."""

    kind: str

    @property
    def client(self) -> Client | AsyncClient: ...

    async def create_message(
        self, body: Mapping[str, Any], **kw: Any
    ) -> APIResponse: ...
    async def count_tokens(self, body: Mapping[str, Any], **kw: Any) -> int: ...
    async def stream(
        self, body: Mapping[str, Any], into: list[Delta], **kw: Any
    ) -> APIResponse: ...
    async def aclose(self) -> None: ...


class SyncTwin:
    """The sync client behind async methods (it is in-memory, so nothing blocks)."""

    kind = "sync"

    def __init__(self, client: Client) -> None:
        self.client = client

    async def create_message(self, body: Mapping[str, Any], **kw: Any) -> APIResponse:
        return self.client.create_message(body, **kw)

    async def count_tokens(self, body: Mapping[str, Any], **kw: Any) -> int:
        return self.client.count_tokens(body, **kw)

    async def stream(
        self, body: Mapping[str, Any], into: list[Delta], **kw: Any
    ) -> APIResponse:
        with self.client.stream_message(body, **kw) as stream:
            for delta in stream:
                into.append(delta)  # noqa: PERF402 - keep each delta even if the stream then fails
            return stream.response()

    async def aclose(self) -> None:
        self.client.close()


class AsyncTwin:
    """The async client, as it is."""

    kind = "async"

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def create_message(self, body: Mapping[str, Any], **kw: Any) -> APIResponse:
        return await self.client.create_message(body, **kw)

    async def count_tokens(self, body: Mapping[str, Any], **kw: Any) -> int:
        return await self.client.count_tokens(body, **kw)

    async def stream(
        self, body: Mapping[str, Any], into: list[Delta], **kw: Any
    ) -> APIResponse:
        async with self.client.stream_message(body, **kw) as stream:
            async for delta in stream:
                into.append(delta)  # noqa: PERF401 - keep each delta even if the stream then fails
            return stream.response()

    async def aclose(self) -> None:
        await self.client.aclose()


MakeTwin = Callable[..., Twin]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the machine's own ANTHROPIC_* variables out of every test."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="fake")
def _fake() -> FakeMessagesAPI:
    """A fresh fake Messages API."""
    return FakeMessagesAPI()


@pytest.fixture(name="slept")
def _slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the waits tenacity asks for instead of sleeping (sync and async)."""
    waits: list[float] = []

    async def _async_sleep(seconds: float, result: Any = None) -> Any:
        waits.append(seconds)
        return result

    monkeypatch.setattr(time, "sleep", waits.append)
    monkeypatch.setattr(asyncio, "sleep", _async_sleep)
    return waits


@pytest.fixture(name="make_twin", params=["sync", "async"])
async def _make_twin(
    request: pytest.FixtureRequest, fake: FakeMessagesAPI
) -> AsyncIterator[MakeTwin]:
    """Build clients of each twin on the fake; retries wait 0 s unless a test says otherwise."""
    made: list[Twin] = []

    def make(**kwargs: Any) -> Twin:
        kwargs.setdefault("transport", fake)
        if "api_key" not in kwargs and "auth_token" not in kwargs:
            kwargs["api_key"] = KEY
        kwargs.setdefault("retry", RetryPolicy.no_wait())
        twin: Twin
        if request.param == "sync":
            twin = SyncTwin(Client(**kwargs))
        else:
            twin = AsyncTwin(AsyncClient(**kwargs))
        made.append(twin)
        return twin

    yield make
    for twin in made:
        await twin.aclose()


@pytest.fixture(name="twin")
def _twin(make_twin: MakeTwin) -> Twin:
    """A client of each twin with the defaults, on the fake."""
    return make_twin()
