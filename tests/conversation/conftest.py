"""Fixtures for conversation tests: both twins, seen through one async interface."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from conversa import (
    AsyncClient,
    AsyncConversation,
    CacheConfig,
    Client,
    Conversation,
    MemoryStore,
    RetryPolicy,
)
from conversa.testing import FakeMessagesAPI
from tests.sdk_check import check_message, check_request_body


class SyncAsAsync:
    """Present a sync Conversation through awaitable methods, like its async twin."""

    def __init__(self, conv: Conversation) -> None:
        self.conv = conv

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.conv, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            return SyncAsAsync(result) if isinstance(result, Conversation) else result

        return call


class Harness:
    """Makes conversations of one twin over one store, one fake and one client."""

    def __init__(
        self, twin: str, fake: FakeMessagesAPI, store: MemoryStore, **client_kw: Any
    ) -> None:
        self.twin = twin
        self.fake = fake
        self.store = store
        policy = client_kw.pop("retry", RetryPolicy.no_wait())
        if twin == "sync":
            self.client: Any = Client(
                api_key="sk-test-secret", transport=fake, retry=policy, **client_kw
            )
        else:
            self.client = AsyncClient(
                api_key="sk-test-secret", transport=fake, retry=policy, **client_kw
            )

    async def create(self, **kwargs: Any) -> Any:
        """Create a conversation (default model claude-sonnet-4-5) in this twin.

        Cache breakpoints are off unless a test asks for them, so bodies are the
        plain replay; tests/conversation/test_context.py tests the breakpoints.
        """
        kwargs.setdefault("model", "claude-sonnet-4-5")
        kwargs.setdefault("cache", CacheConfig(enabled=False))
        if self.twin == "sync":
            return SyncAsAsync(
                Conversation.create(self.store, client=self.client, **kwargs)
            )
        return await AsyncConversation.create(self.store, client=self.client, **kwargs)

    async def load(self, conversation_id: str) -> Any:
        """Load a stored conversation in this twin."""
        if self.twin == "sync":
            return SyncAsAsync(
                Conversation.load(self.store, conversation_id, client=self.client)
            )
        return await AsyncConversation.load(
            self.store, conversation_id, client=self.client
        )

    async def close(self) -> None:
        """Close the client."""
        closed = self.client.close() if self.twin == "sync" else self.client.aclose()
        if inspect.isawaitable(closed):
            await closed

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the POST /v1/messages requests the fake received."""
        return [r.body for r in self.fake.requests if r.path == "/v1/messages"]


def check_exchanges(fake: FakeMessagesAPI) -> None:
    """Every body the fake accepted validates against the SDK; every reply parses."""
    for recorded in fake.requests:
        if recorded.path != "/v1/messages" or recorded.status_code != 200:
            continue
        check_request_body(recorded.body)
        if recorded.response_json is not None:
            check_message(recorded.response_json)


@pytest.fixture(name="twin", params=["sync", "async"])
def _twin(request: pytest.FixtureRequest) -> str:
    """Each test runs once per twin."""
    return str(request.param)


@pytest.fixture(name="fake")
def _fake() -> FakeMessagesAPI:
    """A fresh fake Messages API."""
    return FakeMessagesAPI()


@pytest.fixture(name="harness")
async def _harness(twin: str, fake: FakeMessagesAPI) -> AsyncIterator[Harness]:
    """A harness for the twin under test; checks every exchange against the SDK."""
    harness = Harness(twin, fake, MemoryStore())
    yield harness
    await harness.close()
    check_exchanges(fake)


@pytest.fixture(name="make_harness")
async def _make_harness(twin: str) -> AsyncIterator[Callable[..., Harness]]:
    """Build harnesses with client options (api_version, retry, ...)."""
    made: list[Harness] = []

    def make(fake: FakeMessagesAPI | None = None, **client_kw: Any) -> Harness:
        harness = Harness(twin, fake or FakeMessagesAPI(), MemoryStore(), **client_kw)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
        check_exchanges(harness.fake)
