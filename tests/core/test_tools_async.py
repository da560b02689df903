"""Running tool calls on the async path: concurrent, in order, and never swallowing.

Concurrency is shown without clocks: a tool that waits for a later tool's event can
only finish if both run at once. `fail_after` only stops a hung test from hanging the
suite; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import anyio
import anyio.from_thread
import pytest

from conversa._values.blocks import ToolResultBlock, ToolUseBlock
from conversa._values.tools import Tool, ToolSet, aexecute

pytestmark = pytest.mark.anyio


def _use(
    name: str, tool_input: dict[str, Any] | None = None, n: int = 1
) -> ToolUseBlock:
    return ToolUseBlock(f"toolu_{n:02d}", name, tool_input or {})


def _texts(results: tuple[ToolResultBlock, ...]) -> list[Any]:
    return [r.content for r in results]


async def test_async_tools_run_concurrently_and_answer_in_order() -> None:
    """The first tool waits for the second; results still follow the uses' order."""
    second_ran = anyio.Event()

    async def first() -> str:
        """Wait for the second tool."""
        await second_ran.wait()
        return "first"

    async def second() -> str:
        """Let the first tool go on."""
        second_ran.set()
        return "second"

    with anyio.fail_after(10):
        results = await aexecute([first, second], [_use("first"), _use("second", n=2)])
    assert _texts(results) == ["first", "second"]
    assert [r.tool_use_id for r in results] == ["toolu_01", "toolu_02"]


async def test_sync_tools_run_in_worker_threads_by_default() -> None:
    """A sync tool runs in a worker thread; `sync_in_thread=False` keeps it on the loop."""
    loop_thread = threading.get_ident()

    def where() -> bool:
        """Tell whether this runs on the event loop's thread."""
        return threading.get_ident() == loop_thread

    assert _texts(await aexecute([where], [_use("where")])) == ["false"]
    inline = await aexecute([where], [_use("where")], sync_in_thread=False)
    assert _texts(inline) == ["true"]


async def test_mixed_calls_keep_their_order() -> None:
    """Sync, async, unknown and invalid calls in one turn answer in order."""

    def double(n: int) -> int:
        """Double a number."""
        return 2 * n

    async def echo(text: str) -> str:
        """Echo the text."""
        return text

    uses = [
        _use("echo", {"text": "hi"}, 1),
        _use("nope", n=2),
        _use("double", {"n": 21}, 3),
        _use("double", {"n": "x"}, 4),
    ]
    results = await aexecute(ToolSet([double, echo]), uses)
    assert _texts(results)[0::2] == ["hi", "42"]
    assert [r.is_error for r in results] == [None, True, None, True]
    assert results[1].content == "unknown tool 'nope' (tools run here: double, echo)"
    assert "'n': Input should be a valid integer" in str(results[3].content)


async def test_raising_tools_become_error_results(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Async and threaded sync tools that raise give is_error results, logged."""

    async def broken() -> None:
        """Fail."""
        msg = "no luck"
        raise RuntimeError(msg)

    def also_broken() -> None:
        """Fail in a thread."""
        key = "k"
        raise KeyError(key)

    with caplog.at_level(logging.WARNING, logger="conversa"):
        results = await aexecute(
            [broken, also_broken], [_use("broken"), _use("also_broken", n=2)]
        )
    assert _texts(results) == ["RuntimeError: no luck", "KeyError: 'k'"]
    assert all(r.is_error for r in results)
    assert len(caplog.records) == 2


async def test_a_sync_tool_returning_a_coroutine_is_awaited() -> None:
    """On the async path, a coroutine returned by a plain function is awaited."""

    async def later(x: int) -> int:
        return x + 1

    def soon(x: int) -> Any:
        """Return a coroutine."""
        return later(x)

    assert _texts(await aexecute([soon], [_use("soon", {"x": 1})])) == ["2"]


async def test_no_uses_no_results() -> None:
    """Nothing asked, nothing run."""
    assert await aexecute([], []) == ()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("sync_tool", [False, True])
async def test_interrupts_propagate_and_cancel_the_other_calls(
    exc: type[BaseException], sync_tool: bool
) -> None:
    """KeyboardInterrupt and SystemExit propagate; the calls still running are cancelled."""
    waiting = anyio.Event()
    seen: list[str] = []

    async def wait() -> None:
        """Wait until cancelled."""
        waiting.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    async def stop() -> None:
        """Stop everything, once the other call waits."""
        await waiting.wait()
        raise exc

    def stop_now() -> None:
        """Stop everything, from a worker thread."""
        anyio.from_thread.run(waiting.wait)
        raise exc

    stopper = Tool.from_callable(stop_now if sync_tool else stop, name="stop")
    with anyio.fail_after(10), pytest.raises(exc):
        await aexecute([wait, stopper], [_use("wait"), _use("stop", n=2)])
    assert seen == ["cancelled"]


async def test_a_tool_that_cancels_itself_propagates() -> None:
    """A tool raising CancelledError by itself is not absorbed into a result."""

    async def give_up() -> None:
        """Cancel oneself."""
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await aexecute([give_up], [_use("give_up")])


async def test_the_callers_cancellation_propagates() -> None:
    """Cancelling the caller cancels the running tools, and aexecute does not return."""
    started = anyio.Event()
    seen: list[str] = []

    async def slow() -> None:
        """Run until cancelled."""
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise

    async def call() -> None:
        seen.append(repr(await aexecute([slow], [_use("slow")])))

    with anyio.fail_after(10), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(call)
            await started.wait()
            scope.cancel()
    assert scope.cancelled_caught
    assert seen == ["cancelled"]
