"""Streaming sends: text as it arrives, and the same stored turn as a plain send."""

from __future__ import annotations

import anyio
import pytest

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
    RetryPolicy,
    StreamError,
)
from conversa.testing import FakeMessagesAPI, fault, reply

pytestmark = pytest.mark.anyio

LONG = "Your parcel left our warehouse on Monday and should reach you within two days."


def _client(fake: FakeMessagesAPI) -> Client:
    return Client(api_key="sk-test", transport=fake, retry=RetryPolicy.no_wait())


def _aclient(fake: FakeMessagesAPI) -> AsyncClient:
    return AsyncClient(api_key="sk-test", transport=fake, retry=RetryPolicy.no_wait())


def test_streamed_text_arrives_in_pieces_and_is_stored_like_a_send() -> None:
    """The streamed pieces join to the reply, and the stored turn equals send()'s."""
    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG), reply.text(LONG))
    store = MemoryStore()
    with _client(fake) as client:
        streamed = Conversation.create(store, client=client, model="claude-sonnet-4-5")
        plain = Conversation.create(store, client=client, model="claude-sonnet-4-5")
        with streamed.stream("Where is my parcel?") as stream:
            pieces = list(stream)
        sent = plain.send("Where is my parcel?")
    assert len(pieces) > 1
    assert "".join(pieces) == LONG
    turn = stream.turn
    assert turn.content_json() == sent.content_json()
    assert (turn.stop_reason, turn.model, turn.usage) == (
        sent.stop_reason,
        sent.model,
        sent.usage,
    )
    assert streamed.turns()[-1] == turn
    assert fake.requests[0].body["stream"] is True


async def test_async_stream_matches_an_async_send() -> None:
    """The async twin streams the same pieces and stores the same turn."""
    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG), reply.text(LONG))
    store = MemoryStore()
    async with _aclient(fake) as client:
        streamed = await AsyncConversation.create(
            store, client=client, model="claude-sonnet-4-5"
        )
        plain = await AsyncConversation.create(
            store, client=client, model="claude-sonnet-4-5"
        )
        async with streamed.stream("Where is my parcel?") as stream:
            pieces = [text async for text in stream]
        sent = await plain.send("Where is my parcel?")
    assert "".join(pieces) == LONG
    assert stream.turn.content_json() == sent.content_json()
    assert (await streamed.turns())[-1] == stream.turn


def test_a_streamed_prefill_is_stored_as_one_turn() -> None:
    """Streaming with a prefill yields the continuation; the turn holds both."""
    fake = FakeMessagesAPI()
    fake.script(reply.text('"ok": true}'))
    with _client(fake) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with conv.stream("JSON please", prefill="{") as stream:
            text = "".join(stream)
    assert text == '"ok": true}'
    assert stream.turn.text == '{"ok": true}'


def test_a_broken_stream_keeps_its_partial_text_and_run_resumes_it() -> None:
    """Once text reached the caller, a broken stream is not retried: its text is stored
    marked interrupted, and run() continues it by prefill."""
    fake = FakeMessagesAPI()
    fake.script(
        fault.break_stream(after_events=6, reply=reply.text(LONG)), reply.text(" done.")
    )
    with _client(fake) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        pieces: list[str] = []
        with pytest.raises(StreamError) as info, conv.stream("Where is it?") as stream:
            pieces.extend(stream)
        assert info.value.partial
        assert len([r for r in fake.requests if r.path == "/v1/messages"]) == 1
        user, partial = conv.turns()
        assert (partial.status, partial.text) == ("interrupted", "".join(pieces))
        assert LONG.startswith(partial.text)
        final = conv.run()
        resumed = fake.requests[-1].body["messages"][-1]
        assert resumed["role"] == "assistant"
        assert resumed["content"][0]["text"] == partial.text.rstrip()
        assert final.text == " done."
        assert user.text == "Where is it?"


async def test_an_error_event_raises_a_typed_stream_error() -> None:
    """A mid-stream error event becomes StreamError with the API's error type."""
    fake = FakeMessagesAPI()
    fake.script(fault.stream_error("overloaded_error"))
    async with _aclient(fake) as client:
        conv = await AsyncConversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with pytest.raises(StreamError) as info:
            async with conv.stream("hi") as stream:
                await stream.until_done()
        assert info.value.error_type == "overloaded_error"
        turns = await conv.turns()
        assert turns[0].role == "user"
        assert all(t.status == "interrupted" for t in turns[1:])


def test_leaving_a_stream_early_keeps_the_text_and_releases_the_conversation() -> None:
    """A caller that stops reading: the text so far is stored, and the lock is free."""
    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG))
    with _client(fake) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with conv.stream("hi") as stream:
            first = next(iter(stream))
        partial = conv.turns()[-1]
        assert stream.turn == partial
        assert (partial.role, partial.status) == ("assistant", "interrupted")
        assert partial.text.startswith(first)
        assert conv.send("still there?").role == "assistant"


async def test_a_cancelled_async_stream_keeps_its_text() -> None:
    """Cancelling the task that reads a stream stores the text so far, then cancels."""
    fake = FakeMessagesAPI()
    fake.script(reply.text(LONG))
    async with _aclient(fake) as client:
        conv = await AsyncConversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        got_text = anyio.Event()

        async def read() -> None:
            async with conv.stream("hi") as stream:
                async for _ in stream:
                    got_text.set()
                    await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await got_text.wait()
            tg.cancel_scope.cancel()
        partial = (await conv.turns())[-1]
        assert (partial.role, partial.status) == ("assistant", "interrupted")
        assert LONG.startswith(partial.text)
        assert (await conv.send("again?")).role == "assistant"


def test_a_stream_must_be_entered_before_reading() -> None:
    """Iterating a stream outside its with block is a clear error."""
    with _client(FakeMessagesAPI()) as client:
        conv = Conversation.create(
            MemoryStore(), client=client, model="claude-sonnet-4-5"
        )
        with pytest.raises(InvalidInputError, match="with block"):
            list(conv.stream("hi"))
