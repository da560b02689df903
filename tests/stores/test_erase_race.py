"""An erase racing a send: the conversation stays erased, and the caller gets the reply.

The erase runs while the send's API call is in flight (the fake API erases the
conversation before it answers), so the send holds the conversation's section
and has already stored its user turn. The reply cannot be stored, nothing is
re-created, and `ConversationDeletedError` carries the reply the API billed.
Every backend, both twins; on PostgreSQL the erase runs on its own connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    Conversation,
    ConversationDeletedError,
    ConversationNotFoundError,
    Erased,
    Turn,
)
from conversa.testing import FakeMessagesAPI
from tests.stores.conftest import open_sync_store

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"


class ErasingAPI(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The fake Messages API, which first runs *before* (an erase) on every call."""

    def __init__(self, before: Callable[[], Any]) -> None:
        self.fake = FakeMessagesAPI()
        self.before = before
        self.erased: list[Erased] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.erased.append(self.before())
        return self.fake.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.erased.append(await self.before())
        return await self.fake.handle_async_request(request)


@pytest.fixture(name="store")
async def _store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Any]:
    store = open_sync_store(backend, request, tmp_path)
    yield store
    await store.aclose()  # closes both twins' connections


def _check_gone(store: Any, conversation_id: str, owner: str) -> None:
    with pytest.raises(ConversationNotFoundError):
        store.get(conversation_id)
    with pytest.raises(ConversationNotFoundError):
        store.read(conversation_id)
    assert store.list(owner=owner).items == ()


async def test_a_send_erased_mid_call_stores_nothing_and_hands_back_the_reply(
    store: Any,
) -> None:
    """Sync: the erase wins; send raises ConversationDeletedError with the reply on it."""
    owner = "racer"
    holder: dict[str, str] = {}
    api = ErasingAPI(lambda: store.erase(holder["id"]))
    conv = Conversation.create(
        store, client=Client(api_key="k", transport=api), model=MODEL, owner=owner
    )
    holder["id"] = conv.id
    with pytest.raises(ConversationDeletedError) as info:
        conv.send("hello")
    assert api.erased == [Erased(1, 1)]  # the user turn was stored, then erased
    reply = info.value.reply
    assert isinstance(reply, Turn)
    assert reply.role == "assistant"
    assert reply.text
    assert isinstance(info.value, ConversationNotFoundError)
    assert "reply was not stored" in str(info.value)
    _check_gone(store, conv.id, owner)
    # Nothing of the section is left behind: the id can start over and send.
    api.before = lambda: Erased()
    again = Conversation.create(
        store, client=Client(api_key="k", transport=api), model=MODEL, id=conv.id
    )
    assert again.send("again").seq == 2


async def test_an_async_send_erased_mid_call_stores_nothing(store: Any) -> None:
    """Async: the same, with the erase awaited on the async twin."""
    owner = "racer"
    holder: dict[str, str] = {}

    async def erase() -> Erased:
        return await store.aerase(holder["id"])  # type: ignore[no-any-return]

    api = ErasingAPI(erase)
    conv = await AsyncConversation.create(
        store,
        client=AsyncClient(api_key="k", transport=api),
        model=MODEL,
        owner=owner,
    )
    holder["id"] = conv.id
    with pytest.raises(ConversationDeletedError) as info:
        await conv.send("hello")
    assert api.erased == [Erased(1, 1)]
    assert isinstance(info.value.reply, Turn)
    _check_gone(store, conv.id, owner)
