"""Tools: Python callables the model may call, their API form, and running them.

A `Tool` is a function plus what the model is told of it: name, description, input
schema (derived by `_values.tool_schema` with pydantic, which also validates the
model's input before the function runs). A `ToolSet` is a request's ordered,
name-unique `tools`; API tool mappings in it, such as server tools, run at the API,
never here.

`execute` and `aexecute` answer tool_use blocks with tool_result blocks, in order,
writing and sending nothing (the tool loop in `_flows` stores them). Bad input (the
function is then not called), an unknown tool, and a tool that raises each get an
`is_error` result saying why, like `"ValueError: message"`; the traceback goes to the
`conversa` logger at WARNING, never to the model. KeyboardInterrupt, SystemExit and
cancellation always propagate. `tool_result` turns return values into content.

`run_tools` and `arun_tools` are the same with a `ToolHook` around each call: a
conversation's shell passes its client's tracing hook (one span a tool call) and the
conversation id that the log lines carry.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeAlias, get_args, overload

import anyio
import anyio.abc
import anyio.to_thread
from attrs import Factory, evolve, field, frozen

from .._exceptions import InvalidInputError
from .blocks import Block, ToolResultBlock, ToolUseBlock, to_blocks
from .tool_schema import ArgumentError, InputModel, derive, describe

__all__ = [
    "Tool",
    "ToolHook",
    "ToolLike",
    "ToolSet",
    "aexecute",
    "arun_tools",
    "execute",
    "run_tools",
    "tool",
    "tool_result",
]

logger = logging.getLogger("conversa")

#: Wraps one tool call (tracing): called with the tool_use block, it returns a context
#: manager entered around the call, whose value is told the result and the exception
#: the tool raised (None when it returned, or was not called).
ToolHook: TypeAlias = Callable[
    [ToolUseBlock],
    AbstractContextManager[Callable[[ToolResultBlock, "BaseException | None"], None]],
]
#: A tool call's result, and the exception the tool raised, if it did.
_Outcome: TypeAlias = tuple[ToolResultBlock, "Exception | None"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_BLOCKS: tuple[type, ...] = get_args(Block)


def _check_name(_: object, __: object, name: str) -> None:
    data: object = name  # checked at run time: callers pass anything
    if not (isinstance(data, str) and _NAME.match(data)):
        msg = f"tool name {name!r} must match {_NAME.pattern} (the API's rule): pass name="
        raise InvalidInputError(msg)


def _schema(value: Mapping[str, Any]) -> dict[str, Any]:
    """Check the schema is an object schema (the API's rule); keep a private copy."""
    data: object = value  # checked at run time: callers pass anything
    if not (isinstance(data, Mapping) and data.get("type") == "object"):
        msg = 'a tool\'s input_schema must be a JSON Schema with "type": "object"'
        raise InvalidInputError(msg)
    return dict(json.loads(json.dumps(value)))


def _extra(value: Mapping[str, Any]) -> dict[str, Any]:
    for key in ("name", "description", "input_schema"):
        if key in value:
            msg = f"{key!r} is a Tool field, not an extra API field"
            raise InvalidInputError(msg)
    return dict(value)


def _is_async(fn: Callable[..., Any]) -> bool:
    """Whether *fn* is async: `async def`, a partial of one, or an async `__call__`."""
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's method
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


@frozen
class Tool:
    """A function the model may call, and what the model is told about it.

    Usually made by `tool` or `Tool.from_callable`, which derive the schema from the
    signature with pydantic and validate the model's input by it before *fn* runs.
    Built directly, a tool takes *input_schema* as given and calls *fn* with the
    input as keyword arguments.

    Attributes:
        name: how the model calls it (`^[a-zA-Z0-9_-]{1,128}$`).
        description: what it does and when to use it; the model reads this.
        input_schema: JSON Schema (2020-12) of the input, `"type": "object"`.
        fn: the function; a coroutine function makes an async tool.
        is_async: whether *fn* must be awaited (detected when not given).
        extra: other API fields, sent after the others (`cache_control`, `strict`).
    """

    name: str = field(validator=_check_name)
    description: str
    input_schema: Mapping[str, Any] = field(converter=_schema, hash=False)
    fn: Callable[..., Any] = field(repr=False)
    is_async: bool = field(
        default=Factory(lambda self: _is_async(self.fn), takes_self=True), kw_only=True
    )
    extra: Mapping[str, Any] = field(
        factory=dict, converter=_extra, kw_only=True, hash=False
    )
    _input: InputModel | None = field(
        default=None, kw_only=True, eq=False, repr=False, alias="_input"
    )

    @classmethod
    def from_callable(
        cls,
        fn: Callable[..., Any],
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        input_schema: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Tool:
        """Make *fn* (a function, `functools.partial` or callable object) a tool.

        *name* defaults to `fn.__name__`, *description* to the docstring less its
        parameters' entries (Google, NumPy or Sphinx style), which describe the
        parameters. A given *input_schema* is sent as is, and the model's input then
        passed unchecked. *extra*: other API fields (`strict=True`, ...); with
        `strict=True` the derived schema keeps only what strict tool use accepts,
        other limits said in the descriptions (and still enforced here).

        Raises:
            InvalidInputError: a bad name, or a parameter whose type has no JSON
                Schema (named in the message; pass *input_schema* instead).
        """
        target = fn.func if isinstance(fn, functools.partial) else fn
        tool_name = getattr(target, "__name__", "") if name is None else name
        _check_name(None, None, tool_name)
        doc = inspect.getdoc(target)
        summary, input_schema, model = (
            derive(fn, tool_name=tool_name, doc=doc, strict=extra.get("strict") is True)
            if input_schema is None
            else (describe(doc)[0], input_schema, None)
        )
        text = summary if description is None else description
        return cls(tool_name, text, input_schema, fn, extra=extra, _input=model)

    def to_api(self) -> dict[str, Any]:
        """Return the request's `tools` entry: name, description, input_schema, extras.

        The key order never changes, so the bytes the prompt cache hashes stay the
        same from call to call. An empty description is left out.
        """
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        return {**out, "input_schema": dict(self.input_schema), **self.extra}

    def bind(self, tool_input: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the model's *tool_input* by the signature: the keyword arguments.

        Only the arguments given are returned, converted to the parameters' types
        (a pydantic model, a dataclass, a `date`, an enum member...).

        Raises:
            ArgumentError: every problem with the input, written for the model.
        """
        if self._input is None:
            return dict(tool_input)
        return self._input.bind(tool_input)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function: a decorated function stays callable as before."""
        return self.fn(*args, **kwargs)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...  # pragma: no cover - typing only
@overload
def tool(
    **options: Any,
) -> Callable[[Callable[..., Any]], Tool]: ...  # pragma: no cover
def tool(
    fn: Callable[..., Any] | None = None, /, **options: Any
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a `Tool`: `@tool`, or `@tool(name=..., strict=True)`.

    *options* are `Tool.from_callable`'s keyword arguments.
    """
    if fn is None:
        return functools.partial(Tool.from_callable, **options)
    return Tool.from_callable(fn, **options)


ToolLike: TypeAlias = "Tool | Callable[..., Any] | Mapping[str, Any]"


def _entry(item: object) -> Tool | dict[str, Any]:
    if isinstance(item, Tool):
        return item
    if isinstance(item, Mapping) and isinstance(item.get("name", ""), str):
        return dict(item)
    if callable(item) and not isinstance(item, Mapping):
        return Tool.from_callable(item)
    msg = f"a tool is a Tool, a callable or an API tool mapping with a str name, not {item!r}"
    raise InvalidInputError(msg)


def _entries(
    items: ToolLike | Iterable[ToolLike],
) -> tuple[Tool | Mapping[str, Any], ...]:
    one = isinstance(items, (Tool, Mapping)) or callable(items)
    entries = tuple(_entry(i) for i in ([items] if one else items))  # type: ignore[union-attr]
    names = [e.name if isinstance(e, Tool) else e.get("name") for e in entries]
    for i, name in enumerate(names):
        if name is not None and name in names[:i]:
            msg = f"two tools are named {name!r}: tool names must be unique"
            raise InvalidInputError(msg)
    return entries


@frozen
class ToolSet:
    """A request's tools: ordered, names unique.

    Takes `Tool`s, plain callables (made tools by `Tool.from_callable`) and API tool
    mappings, sent as given and never run here: server tools such as
    `{"type": "web_search_20250305", "name": "web_search"}` run at the API.
    """

    tools: tuple[Tool | Mapping[str, Any], ...] = field(
        default=(), converter=_entries, hash=False
    )

    @property
    def local(self) -> tuple[Tool, ...]:
        """The tools that run here, in order (the mappings run at the API)."""
        return tuple(t for t in self.tools if isinstance(t, Tool))

    def get(self, name: str) -> Tool | None:
        """Return the tool called *name* that runs here, or None."""
        return next((t for t in self.local if t.name == name), None)

    def to_api(self) -> list[dict[str, Any]]:
        """Return the request's `tools` list."""
        return [t.to_api() if isinstance(t, Tool) else dict(t) for t in self.tools]

    def __iter__(self) -> Iterator[Tool | Mapping[str, Any]]:
        """The tools, in order."""
        return iter(self.tools)

    def require_sync(self, names: Iterable[str] | None = None) -> None:
        """Refuse async tools (among *names*, if given), for a sync tool loop.

        Raises:
            InvalidInputError: naming the async tools, before anything runs.
        """
        wanted = [t.name for t in self.local] if names is None else names
        found = sorted({n for n in wanted if (t := self.get(n)) and t.is_async})
        if found:
            msg = (
                f"async tools {', '.join(found)} need aexecute or AsyncConversation.run"
            )
            raise InvalidInputError(msg)


def _jsonable(value: Any) -> Any:
    """`json.dumps`'s fallback: an Enum's value, a mapping as a dict, else str()."""
    if isinstance(value, enum.Enum):
        return value.value
    return dict(value) if isinstance(value, Mapping) else str(value)


def tool_result(tool_use_id: str, value: object) -> ToolResultBlock:
    """Make a tool's return *value* the tool_result for *tool_use_id*.

    A str is the content as it is; None is no content at all (the API reads that as an
    empty result; an empty string would be dropped by normalization anyway); a block
    (text, image, document...), or a list of blocks and strings, is those blocks; a
    `ToolResultBlock` is itself with its `tool_use_id` set (so a tool can set
    `is_error` itself); an Enum is its value; mappings, lists, tuples, numbers and
    booleans are JSON text; anything else (a dataclass, a datetime) is `str(value)`.
    """
    if isinstance(value, ToolResultBlock):
        return evolve(value, tool_use_id=tool_use_id)
    if isinstance(value, enum.Enum):
        return tool_result(tool_use_id, value.value)
    if value is None or isinstance(value, (str, *_BLOCKS)):
        return ToolResultBlock(tool_use_id, value)  # a block becomes (block,)
    if (
        isinstance(value, (list, tuple))
        and any(isinstance(v, _BLOCKS) for v in value)
        and all(isinstance(v, (str, *_BLOCKS)) for v in value)
    ):
        return ToolResultBlock(tool_use_id, to_blocks(value))
    if isinstance(value, (Mapping, list, tuple, int, float)):
        text = json.dumps(value, ensure_ascii=False, default=_jsonable)
        return ToolResultBlock(tool_use_id, text)
    return ToolResultBlock(tool_use_id, str(value))


def _prepare(
    toolset: ToolSet, use: ToolUseBlock
) -> ToolResultBlock | tuple[Tool, dict[str, Any]]:
    """Find the tool and bind its input: `(tool, kwargs)`, or an error result."""
    found = toolset.get(use.name)
    if found is None:
        here = ", ".join(t.name for t in toolset.local) or "none"
        text = f"unknown tool {use.name!r} (tools run here: {here})"
        return ToolResultBlock(use.id, text, is_error=True)
    try:
        return found, found.bind(use.input)
    except ArgumentError as exc:
        text = f"invalid input for tool {use.name!r}: {exc}"
        return ToolResultBlock(use.id, text, is_error=True)


def _failed(
    found: Tool, use: ToolUseBlock, exc: Exception, conversation_id: str | None
) -> _Outcome:
    message = "tool %s raised on %s; the model gets an is_error result"
    fields = {
        "conversation_id": conversation_id,
        "tool_name": found.name,
        "tool_call_id": use.id,
    }
    logger.warning(message, found.name, use.id, exc_info=exc, extra=fields)
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ToolResultBlock(use.id, text, is_error=True), exc


def _not_awaitable(found: Tool, value: object) -> object:
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()  # never to be awaited: close it rather than warn
        msg = f"tool {found.name!r} returned an awaitable: it needs aexecute"
        raise TypeError(msg)
    return value


def execute(
    tools: ToolSet | ToolLike | Iterable[ToolLike], uses: Sequence[ToolUseBlock]
) -> tuple[ToolResultBlock, ...]:
    """Run the tools *uses* ask for, one after another; results in the same order.

    Raises:
        InvalidInputError: a use names an async tool, which needs `aexecute`
            (checked before anything runs).
    """
    return run_tools(tools, uses)


def run_tools(
    tools: ToolSet | ToolLike | Iterable[ToolLike],
    uses: Sequence[ToolUseBlock],
    *,
    hook: ToolHook | None = None,
    conversation_id: str | None = None,
) -> tuple[ToolResultBlock, ...]:
    """`execute`, each call inside *hook*; log lines carry *conversation_id*."""
    toolset = ToolSet(tools)
    toolset.require_sync(u.name for u in uses)
    results: list[ToolResultBlock] = []
    for use in uses:
        if hook is None:
            results.append(_run(toolset, use, conversation_id)[0])
            continue
        with hook(use) as report:
            result, exc = _run(toolset, use, conversation_id)
            report(result, exc)
        results.append(result)
    return tuple(results)


def _run(toolset: ToolSet, use: ToolUseBlock, conversation_id: str | None) -> _Outcome:
    call = _prepare(toolset, use)
    if not isinstance(call, tuple):
        return call, None
    found, kwargs = call
    try:
        value = _not_awaitable(found, found.fn(**kwargs))
        return tool_result(use.id, value), None
    except Exception as exc:  # a tool's failure is the model's to see
        return _failed(found, use, exc, conversation_id)


async def aexecute(
    tools: ToolSet | ToolLike | Iterable[ToolLike],
    uses: Sequence[ToolUseBlock],
    *,
    sync_in_thread: bool = True,
) -> tuple[ToolResultBlock, ...]:
    """Run the tools *uses* ask for concurrently; results in the same order.

    Async tools run concurrently in one anyio task group; sync tools in worker threads
    (`anyio.to_thread.run_sync`) so a slow one cannot stall the loop, or with
    `sync_in_thread=False` on the loop, one at a time (for quick or thread-unsafe
    tools). A thread cannot be interrupted: a cancellation waits for it to return.
    A tool raising KeyboardInterrupt or SystemExit, or cancelling itself, cancels
    the other calls and that exception propagates; so does the caller's cancellation.
    """
    return await arun_tools(tools, uses, sync_in_thread=sync_in_thread)


async def arun_tools(
    tools: ToolSet | ToolLike | Iterable[ToolLike],
    uses: Sequence[ToolUseBlock],
    *,
    sync_in_thread: bool = True,
    hook: ToolHook | None = None,
    conversation_id: str | None = None,
) -> tuple[ToolResultBlock, ...]:
    """`aexecute`, each call inside *hook*; log lines carry *conversation_id*."""
    toolset = ToolSet(tools)
    results: list[ToolResultBlock] = []
    raised: list[BaseException] = []

    async def run(index: int, use: ToolUseBlock, group: anyio.abc.TaskGroup) -> None:
        try:
            if hook is None:
                outcome = await _arun(toolset, use, sync_in_thread, conversation_id)
                results[index] = outcome[0]
                return
            with hook(use) as report:
                result, exc = await _arun(toolset, use, sync_in_thread, conversation_id)
                report(result, exc)
            results[index] = result
        except BaseException as exc:  # KeyboardInterrupt, SystemExit, cancellation
            raised.append(exc)
            group.cancel_scope.cancel()
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise

    async with anyio.create_task_group() as group:
        for index, use in enumerate(uses):
            results.append(ToolResultBlock(use.id))  # a placeholder, overwritten
            group.start_soon(run, index, use, group)
    if raised:  # the task group absorbs a cancellation a tool raised itself
        raise raised[0]
    return tuple(results)


async def _arun(
    toolset: ToolSet,
    use: ToolUseBlock,
    sync_in_thread: bool,  # noqa: FBT001 - private, passed positionally
    conversation_id: str | None,
) -> _Outcome:
    call = _prepare(toolset, use)
    if not isinstance(call, tuple):
        return call, None
    found, kwargs = call
    run = functools.partial(found.fn, **kwargs)
    try:
        if found.is_async or not sync_in_thread:
            value = run()
        else:
            value = await anyio.to_thread.run_sync(run)
        if inspect.isawaitable(value):  # async, or a function returning a coroutine
            value = await value
        return tool_result(use.id, value), None
    except Exception as exc:  # a tool's failure is the model's to see
        return _failed(found, use, exc, conversation_id)
