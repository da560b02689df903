"""The effect loop: one per twin, knowing nothing of conversations or SQL.

A *flow* is a generator that yields effects and is sent each effect's result; an
effect that failed is thrown back in, so the flow can map or handle the error. The
caller supplies `do`, which performs one effect. Conversations, streams, batches and
the SQL runners all run their flows here, so the only code the twins repeat is this
loop, written once for each (the sync twin's `drive`, the one every store call
runs, writes it out once more rather than pay for a generator).

A result may be a *feed* (`Feed`, `AsyncFeed`): something to read through to the
caller before the flow goes on, such as a streamed reply. `Pump` / `AsyncPump` pass a
feed's items to whoever iterates them; when the feed is read to the end the flow is
sent `feed.result()`. If the reader stops early (or, in the async twin, is
cancelled), the flow is sent `feed.abandoned()` instead and run to its end at once,
shielded from cancellation, errors swallowed: whatever it still has to store is
stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
)
from typing import Any, Generic, TypeAlias, TypeVar

import anyio

__all__ = [
    "AsyncFeed",
    "AsyncPump",
    "Feed",
    "Flow",
    "Pump",
    "adrive",
    "drive",
]

T = TypeVar("T")
Y = TypeVar("Y")

#: A procedure written once: yields effects, gets their results, returns a T.
Flow: TypeAlias = Generator[Any, Any, T]


class Feed(Generic[Y]):
    """An effect's result to read through before the flow continues (sync twin).

    A subclass is a context manager (entered around the reading) and an iterable
    of the items to pass to the reader.
    """

    def __enter__(self) -> Feed[Y]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __iter__(self) -> Iterator[Y]:
        """The items to pass to the reader."""
        return iter(())

    def result(self) -> Any:
        """What the flow is sent once the items are read to the end."""
        return None

    def abandoned(self) -> Any:
        """What the flow is sent when the reader stopped early."""
        return None


class AsyncFeed(Generic[Y]):
    """An effect's result to read through before the flow continues (async twin)."""

    async def __aenter__(self) -> AsyncFeed[Y]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[Y]:
        """The items to pass to the reader."""
        items: tuple[Y, ...] = ()
        for item in items:
            yield item

    def result(self) -> Any:
        """What the flow is sent once the items are read to the end."""
        return None

    def abandoned(self) -> Any:
        """What the flow is sent when the reader stopped early or was cancelled."""
        return None


def _advance(flow: Flow[T], value: Any, error: BaseException | None) -> Any:
    return flow.throw(error) if error is not None else flow.send(value)


def drive(flow: Flow[T], do: Callable[[Any], Any], value: Any = None) -> T:
    """Run *flow* to its end, performing each effect with *do*; return its value.

    *value* is what the flow is sent first (None to start it). `Pump`'s loop with
    nobody reading, written out: every store call runs one (or two), and a pump,
    a generator iterated to its end, costs more than the loop it runs. A feed is
    handed to a pump, which reads its items and drops them, and runs the rest.
    """
    error: Exception | None = None
    try:
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            error = None
            try:
                value = do(effect)
            except Exception as exc:  # thrown back into the flow
                error = exc
                continue
            if isinstance(value, Feed):
                pump: Pump[T, Any] = Pump(flow, do, feed=value)
                for _ in pump:
                    pass
                return pump.result
    finally:
        flow.close()


async def adrive(
    flow: Flow[T], do: Callable[[Any], Awaitable[Any]], value: Any = None
) -> T:
    """The async twin of `drive`: *do* is awaited."""
    pump: AsyncPump[T, Any] = AsyncPump(flow, do, value)
    async for _ in pump:
        pass
    return pump.result


def _finish(flow: Flow[Any], do: Callable[[Any], Any], value: Any) -> Any:
    """Run the rest of a flow whose reader left (it only stores); its value or None."""
    with contextlib.suppress(Exception):  # the reader is gone: nobody to tell
        return drive(flow, do, value)
    return None


async def _afinish(
    flow: Flow[Any], do: Callable[[Any], Awaitable[Any]], value: Any
) -> Any:
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        return await adrive(flow, do, value)  # the reader is gone: nobody to tell
    return None


class _Outcome(Generic[T]):
    """Where a pump's flow ended: its value, or a reader that left early."""

    _done = False
    _result: T | None = None
    _stopped = False

    @property
    def done(self) -> bool:
        """Whether the flow ran to its end (also after its reader left early)."""
        return self._done

    @property
    def left_early(self) -> bool:
        """Whether the reader stopped before the end (the flow then only stored)."""
        return self._stopped

    @property
    def result(self) -> T:
        """The flow's value (only once `done`)."""
        if not self._done:
            msg = "the flow has not finished"
            raise RuntimeError(msg)
        return self._result  # type: ignore[return-value]

    def _left(self, value: T | None) -> None:
        # The rest of the flow ran without its reader: None if it raised.
        self._stopped = True
        if value is not None:
            self._result, self._done = value, True


class Pump(_Outcome[T], Generic[T, Y]):
    """Run a flow while a reader iterates it: feeds' items pass through.

        Iterate it (once) to run the flow; `result` is the flow's value after the end.
    *value* is what the flow is sent first; *feed*, an effect's result to read
    before the flow goes on (`drive` hands over a flow that met one). This is
    the sync twin's loop; `drive` writes it out for nobody reading.
    """

    def __init__(
        self,
        flow: Flow[T],
        do: Callable[[Any], Any],
        value: Any = None,
        *,
        feed: Feed[Y] | None = None,
    ) -> None:
        self._flow = flow
        self._do = do
        self._first = value
        self._feed = feed  # an effect's result to read first (`drive`)

    def __iter__(self) -> Iterator[Y]:
        flow, do = self._flow, self._do
        value: Any = self._first
        error: Exception | None = None
        pending: Any = self._feed
        try:
            while True:
                if pending is None:
                    try:
                        effect = _advance(flow, value, error)
                    except StopIteration as stop:
                        self._result, self._done = stop.value, True
                        return
                value, error = None, None
                try:
                    if pending is None:
                        outcome = do(effect)
                    else:
                        outcome, pending = pending, None
                    if isinstance(outcome, Feed):
                        with outcome as feed:
                            try:
                                yield from feed
                            except GeneratorExit:  # the reader stopped
                                self._left(_finish(flow, do, feed.abandoned()))
                                return
                            value = feed.result()
                    else:
                        value = outcome
                except Exception as exc:  # thrown back into the flow
                    error = exc
        finally:
            flow.close()


class AsyncPump(_Outcome[T], Generic[T, Y]):
    """The async twin of `Pump`: iterate it with `async for`."""

    def __init__(
        self, flow: Flow[T], do: Callable[[Any], Awaitable[Any]], value: Any = None
    ) -> None:
        self._flow = flow
        self._do = do
        self._first = value

    async def __aiter__(self) -> AsyncIterator[Y]:
        flow, do = self._flow, self._do
        value: Any = self._first
        error: Exception | None = None
        try:
            while True:
                try:
                    effect = _advance(flow, value, error)
                except StopIteration as stop:
                    self._result, self._done = stop.value, True
                    return
                value, error = None, None
                try:
                    outcome = await do(effect)
                    if isinstance(outcome, AsyncFeed):
                        async with outcome as feed:
                            try:
                                async for item in feed:
                                    yield item
                            except GeneratorExit:  # the reader stopped
                                self._left(await _afinish(flow, do, feed.abandoned()))
                                return
                            except anyio.get_cancelled_exc_class():
                                await _afinish(flow, do, feed.abandoned())
                                raise
                            value = feed.result()
                    else:
                        value = outcome
                except Exception as exc:  # thrown back into the flow
                    error = exc
        finally:
            flow.close()
