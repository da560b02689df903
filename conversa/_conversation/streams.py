"""Streamed sends: `ReplyStream` and `AsyncReplyStream`, and the feeds they read.

Iterate a stream for the reply's text as it arrives; after the loop its `turn` is
the stored reply, exactly what a plain send stores. The conversation stays locked
for the `with` block. A stream cut short (a broken connection, an error event, a
caller that stops reading, a cancelled task) stores the text that arrived as a turn
marked "interrupted" and releases the conversation; `run()` continues it.

The flow's streamed call is a *feed* (`_drive`): `ReplyFeed` passes the reply's
text through and sends the flow the response, or `Interrupted` with what arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any

from .._client.async_client import AsyncMessageStream
from .._client.client import MessageStream
from .._client.sse import TextDelta
from .._drive import AsyncFeed, AsyncPump, Feed, Pump
from .._exceptions import InvalidInputError, StreamError
from .._flows.send import Interrupted
from .._values.turns import Turn

__all__ = ["AsyncReplyFeed", "AsyncReplyStream", "ReplyFeed", "ReplyStream"]


class _Reply:
    """What both feeds know: the reply they stand for, or where it was cut."""

    def __init__(self, events: MessageStream | AsyncMessageStream) -> None:
        self._events = events
        self._cut: Interrupted | None = None

    def _text(self, delta: object) -> str | None:
        return delta.text if isinstance(delta, TextDelta) else None

    def _interrupted(self, exc: StreamError) -> None:
        # What arrived is kept, marked interrupted.
        self._cut = Interrupted(self._events.snapshot, exc)

    def result(self) -> Any:
        return self._cut or self._events.response()

    def abandoned(self) -> Any:
        return Interrupted(self._events.snapshot)


class ReplyFeed(_Reply, Feed[str]):
    """A streamed call's text, read through; the flow gets the reply or `Interrupted`."""

    _events: MessageStream

    def __enter__(self) -> ReplyFeed:
        self._events.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._events.__exit__(*exc_info)

    def __iter__(self) -> Iterator[str]:
        try:
            for delta in self._events:
                if (text := self._text(delta)) is not None:
                    yield text
        except StreamError as exc:
            self._interrupted(exc)


class AsyncReplyFeed(_Reply, AsyncFeed[str]):
    """The async twin of `ReplyFeed`."""

    _events: AsyncMessageStream

    async def __aenter__(self) -> AsyncReplyFeed:
        await self._events.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._events.__aexit__(*exc_info)

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            async for delta in self._events:
                if (text := self._text(delta)) is not None:
                    yield text
        except StreamError as exc:
            self._interrupted(exc)


def _stored_turn(pump: Pump[Turn, str] | AsyncPump[Turn, str], *, exited: bool) -> Turn:
    """A stream's `turn`, or why there is none (yet)."""
    if pump.done:
        return pump.result
    if pump.left_early:
        msg = (
            "the stream was left early and what had arrived could not be stored; "
            "the user turn is stored and pending (retry() sends it again)"
        )
    elif exited:
        msg = "the stream was left before it was read: nothing was sent or stored"
    else:
        msg = (
            "the stream has not been read to the end yet: iterate it, or call "
            "until_done() for the stored reply"
        )
    raise InvalidInputError(msg)


class ReplyStream:
    """A streamed send: iterate it for text as it arrives; then `turn` is the stored reply.

    Use it as a context manager; the conversation stays locked until the block ends.
    Leaving early closes the HTTP stream and stores the text that had arrived as a
    turn marked "interrupted", which `turn` then returns (`run()` continues it).
    """

    def __init__(
        self, pump: Pump[Turn, str], lock: AbstractContextManager[Any]
    ) -> None:
        self._pump = pump
        self._lock = lock
        self._texts: Iterator[str] | None = None
        self._exited = False

    def __enter__(self) -> ReplyStream:
        self._lock.__enter__()
        self._texts = iter(self._pump)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exited = True
        try:
            if self._texts is not None and hasattr(self._texts, "close"):
                self._texts.close()
        finally:
            self._lock.__exit__(exc_type, exc, tb)

    def __iter__(self) -> Iterator[str]:
        if self._texts is None:
            msg = "use the stream in a with block: `with conv.stream(...) as s:`"
            raise InvalidInputError(msg)
        yield from self._texts

    @property
    def text_stream(self) -> Iterator[str]:
        """The reply's text, piece by piece, as it arrives."""
        return iter(self)

    def until_done(self) -> Turn:
        """Read the rest of the stream and return the stored reply."""
        for _ in self:
            pass
        return self.turn

    @property
    def turn(self) -> Turn:
        """The stored reply, once the stream has been read to the end.

        After leaving the stream early, the turn stored with the text that had
        arrived, marked ``status="interrupted"``.
        """
        return _stored_turn(self._pump, exited=self._exited)


class AsyncReplyStream:
    """The async twin of `ReplyStream`: `async with` it, `async for` the text."""

    def __init__(
        self, pump: AsyncPump[Turn, str], lock: AbstractAsyncContextManager[Any]
    ) -> None:
        self._pump = pump
        self._lock = lock
        self._texts: AsyncIterator[str] | None = None
        self._exited = False

    async def __aenter__(self) -> AsyncReplyStream:
        await self._lock.__aenter__()
        self._texts = aiter(self._pump)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exited = True
        try:
            if self._texts is not None and hasattr(self._texts, "aclose"):
                await self._texts.aclose()
        finally:
            await self._lock.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> AsyncIterator[str]:
        if self._texts is None:
            msg = "use the stream in an async with block: `async with aconv.stream(...) as s:`"
            raise InvalidInputError(msg)
        return self._texts

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The reply's text, piece by piece, as it arrives."""
        return self.__aiter__()

    async def until_done(self) -> Turn:
        """Read the rest of the stream and return the stored reply."""
        async for _ in self:
            pass
        return self.turn

    @property
    def turn(self) -> Turn:
        """The stored reply, once the stream has been read to the end.

        After leaving the stream early, the turn stored with the text that had
        arrived, marked ``status="interrupted"``.
        """
        return _stored_turn(self._pump, exited=self._exited)
