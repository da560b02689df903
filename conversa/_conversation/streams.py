"""Streamed sends: `ReplyStream` and `AsyncReplyStream`.

Iterate one for the reply's text as it arrives; after the loop its `turn` is the
stored reply, exactly what a plain send stores. The conversation stays locked for
the `with` block. A stream cut short (a broken connection, an error event, a caller
that stops reading, a cancelled task) stores the text that arrived as a turn marked
"interrupted" and releases the conversation; `run()` continues it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import TYPE_CHECKING

from .._exceptions import InvalidInputError
from .._flows.send import Flow
from .._values.turns import Turn

if TYPE_CHECKING:
    from .async_conversation import AsyncConversation
    from .conversation import Conversation

__all__ = ["AsyncReplyStream", "ReplyStream"]


class ReplyStream:
    """A streamed send: iterate it for text as it arrives; then `turn` is the stored reply.

    Use it as a context manager; the conversation stays locked until the block ends.
    Leaving early closes the HTTP stream and leaves the user turn pending.
    """

    def __init__(self, conversation: Conversation, flow: Flow[Turn]) -> None:
        self._conversation = conversation
        self._flow = flow
        self._out: list[Turn] = []
        self._stack = ExitStack()
        self._texts: Iterator[str] | None = None

    def __enter__(self) -> ReplyStream:
        conv = self._conversation
        self._stack.enter_context(conv.store.lock(conv.id, timeout=conv.lock_timeout))
        self._texts = conv._pump(self._flow, self._out)  # noqa: SLF001 - the twin's own driver
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._texts is not None and hasattr(self._texts, "close"):
                self._texts.close()
        finally:
            self._stack.close()

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
        """The stored reply, once the stream has been read to the end."""
        if not self._out:
            msg = "the stream has not been read to the end yet"
            raise InvalidInputError(msg)
        return self._out[0]


class AsyncReplyStream:
    """The async twin of `ReplyStream`: `async with` it, `async for` the text."""

    def __init__(self, conversation: AsyncConversation, flow: Flow[Turn]) -> None:
        self._conversation = conversation
        self._flow = flow
        self._out: list[Turn] = []
        self._stack = AsyncExitStack()
        self._texts: AsyncIterator[str] | None = None

    async def __aenter__(self) -> AsyncReplyStream:
        conv = self._conversation
        await self._stack.enter_async_context(
            conv.store.alock(conv.id, timeout=conv.lock_timeout)
        )
        self._texts = conv._pump(self._flow, self._out)  # noqa: SLF001 - the twin's own driver
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._texts is not None and hasattr(self._texts, "aclose"):
                await self._texts.aclose()
        finally:
            await self._stack.aclose()

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
        """The stored reply, once the stream has been read to the end."""
        if not self._out:
            msg = "the stream has not been read to the end yet"
            raise InvalidInputError(msg)
        return self._out[0]
