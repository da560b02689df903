"""Tools: their API form, tool sets, and running tool calls (the sync path).

A tool's `to_api()` is checked against the official SDK's `ToolParam` and the strict
fake; `execute` is checked for what the model gets back: results in order, errors as
`is_error` results with a clear message, and interrupts that propagate.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import logging
from collections.abc import Generator
from types import MappingProxyType
from typing import Any

import httpx
import pydantic
import pytest
from anthropic.types import ToolParam
from attrs import evolve

from conversa._exceptions import InvalidInputError
from conversa._values.blocks import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from conversa._values.tools import Tool, ToolSet, execute, tool, tool_result
from conversa.testing import FakeMessagesAPI
from tests.sdk_check import check_request_body


class Unit(str, enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Level(enum.IntEnum):
    LOW = 1


def get_weather(city: str, unit: Unit = Unit.C, days: float = 1) -> dict[str, Any]:
    """Get the weather forecast for a city.

    Args:
        city: The city, e.g. "Paris".
        unit: Temperature unit.
        days: How many days ahead.
    """
    return {"city": city, "unit": unit, "days": days}


async def fetch(url: str) -> str:
    """Fetch a page."""
    return url


class Counter:
    """Count calls."""

    def __call__(self, step: int) -> int:
        return step


class AsyncCounter:
    async def __call__(self, step: int) -> int:
        return step


WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
PAGE = {"type": "object", "properties": {"page": {"type": "integer"}}}


def _use(
    name: str, tool_input: dict[str, Any] | None = None, n: int = 1
) -> ToolUseBlock:
    return ToolUseBlock(f"toolu_{n:02d}", name, tool_input or {})


# --- Tool ---------------------------------------------------------------------------


def test_to_api_has_name_description_schema_then_extras_in_order() -> None:
    """`to_api()` is the `tools` entry, keys in a fixed order for the prompt cache."""
    made = Tool.from_callable(
        get_weather, strict=True, cache_control={"type": "ephemeral"}
    )
    api = made.to_api()
    assert list(api) == [
        "name",
        "description",
        "input_schema",
        "strict",
        "cache_control",
    ]
    assert api["name"] == "get_weather"
    assert api["description"] == "Get the weather forecast for a city."
    assert api["input_schema"]["properties"]["unit"] == {  # strict: no `default`
        "type": "string",
        "enum": ["celsius", "fahrenheit"],
        "description": 'Temperature unit.\n\nLimits: default "celsius".',
    }
    assert json.dumps(api) == json.dumps(made.to_api())


def test_derived_tools_validate_as_sdk_tool_params() -> None:
    """Every derived `to_api()` validates as the SDK's ToolParam, with nothing dropped."""
    adapter = pydantic.TypeAdapter(ToolParam)
    for made in (
        Tool.from_callable(
            get_weather, strict=True, cache_control={"type": "ephemeral"}
        ),
        Tool.from_callable(fetch),
        Tool.from_callable(Counter(), name="count"),
    ):
        assert adapter.validate_python(made.to_api()) == made.to_api()


def test_fake_accepts_a_body_with_derived_tools_and_results() -> None:
    """The strict fake takes a body carrying derived tools, server tools and results."""
    tools = ToolSet([get_weather, fetch, WEB_SEARCH])
    use = _use("get_weather", {"city": "Paris"})
    (result,) = execute(ToolSet(get_weather), [use])
    image = ImageBlock({"type": "url", "url": "https://example.com/a.png"})
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "tools": tools.to_api(),
        "tool_choice": {"type": "auto"},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [use.to_api(), _use("fetch", n=2).to_api()],
            },
            {
                "role": "user",
                "content": [
                    result.to_api(),
                    tool_result("toolu_02", [image, "ok"]).to_api(),
                ],
            },
        ],
    }
    check_request_body(body)
    with httpx.Client(
        transport=FakeMessagesAPI(), base_url="https://api.anthropic.com"
    ) as client:
        response = client.post(
            "/v1/messages",
            json=body,
            headers={"x-api-key": "k", "anthropic-version": "2026-10-21"},
        )
    assert response.status_code == 200, response.text


def test_description_and_name_can_be_given() -> None:
    """Given name and description override the derived ones; empty is left out."""
    made = Tool.from_callable(get_weather, name="weather", description="")
    assert made.name == "weather"
    assert "description" not in made.to_api()


@pytest.mark.parametrize("name", ["", "has space", "x" * 129, "naïve", 7])
def test_bad_names_are_refused(name: Any) -> None:
    """Names must match the API's `^[a-zA-Z0-9_-]{1,128}$`."""
    with pytest.raises(InvalidInputError, match="must match"):
        Tool(name, "", PAGE, get_weather)


def test_a_lambda_or_nameless_callable_needs_a_name() -> None:
    """A lambda (`<lambda>`) or an object without `__name__` is told to pass name=."""
    with pytest.raises(InvalidInputError, match="pass name="):
        Tool.from_callable(lambda: None)
    with pytest.raises(InvalidInputError, match="pass name="):
        Tool.from_callable(Counter())
    assert Tool.from_callable(Counter(), name="count").description == "Count calls."


def test_explicit_input_schema_skips_derivation() -> None:
    """A given input_schema is used (and copied); the input then passes unchecked."""
    schema = {"type": "object", "properties": {"page": {"type": "integer"}}}

    def pages(**kwargs: Any) -> dict[str, Any]:
        """List pages.

        Args:
            page: Which page.
        """
        return kwargs

    made = Tool.from_callable(pages, input_schema=schema)
    schema["properties"] = {}
    assert made.input_schema == PAGE
    assert made.description == "List pages."
    assert made.bind({"page": "two", "more": 1}) == {"page": "two", "more": 1}


@pytest.mark.parametrize(
    "schema", [{"type": "array"}, {"properties": {}}, [("type", "object")]]
)
def test_input_schema_must_be_an_object_schema(schema: Any) -> None:
    """The API wants `"type": "object"` at the top of a tool's input_schema."""
    with pytest.raises(InvalidInputError, match='"type": "object"'):
        Tool("t", "", schema, get_weather)


@pytest.mark.parametrize("key", ["name", "description", "input_schema"])
def test_extras_cannot_shadow_tool_fields(key: str) -> None:
    """Extra API fields may not repeat name, description or input_schema."""
    with pytest.raises(InvalidInputError, match=f"'{key}' is a Tool field"):
        Tool("t", "", PAGE, get_weather, extra={key: "x"})


@pytest.mark.parametrize(
    ("fn", "is_async"),
    [
        (get_weather, False),
        (fetch, True),
        (functools.partial(fetch, "u"), True),
        (Counter(), False),
        (AsyncCounter(), True),
    ],
)
def test_async_is_detected(fn: Any, is_async: Any) -> None:
    """Coroutine functions, partials of them and async `__call__` are async tools."""
    assert Tool("t", "", PAGE, fn).is_async is is_async
    assert Tool("t", "", PAGE, fn, is_async=not is_async).is_async is not is_async


def test_partial_takes_name_doc_and_defaults_from_the_function() -> None:
    """A functools.partial is named and described by its function; bound args default."""
    made = Tool.from_callable(functools.partial(get_weather, days=3))
    assert made.name == "get_weather"
    assert made.description.startswith("Get the weather")
    assert made.input_schema["properties"]["days"]["default"] == 3


def test_decorator_bare_and_with_options() -> None:
    """`@tool` and `@tool(...)` make Tools that stay callable as the function was."""

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @tool(name="mul", strict=True)
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        return a * b

    assert isinstance(add, Tool)
    assert add(2, 3) == 5
    assert multiply.name == "mul"
    assert multiply.to_api()["strict"] is True
    assert multiply(a=2, b=3) == 6


# --- ToolSet ------------------------------------------------------------------------


def test_toolset_mixes_tools_callables_and_api_mappings_in_order() -> None:
    """A ToolSet keeps order; mappings pass through verbatim and never run here."""
    made = Tool.from_callable(fetch)
    mcp = {"type": "mcp_toolset", "mcp_server_name": "docs"}
    tools = ToolSet([made, get_weather, WEB_SEARCH, mcp, dict(mcp)])
    assert tools.to_api() == [
        made.to_api(),
        Tool.from_callable(get_weather).to_api(),
        WEB_SEARCH,
        mcp,
        mcp,
    ]
    assert tools.get("fetch") is made
    assert tools.get("web_search") is None
    assert list(tools) == list(tools.tools)
    assert ToolSet(tools) == tools


@pytest.mark.parametrize(
    "items",
    [
        [get_weather, get_weather],
        [get_weather, {"name": "get_weather", "input_schema": PAGE}],
        [WEB_SEARCH, {"type": "web_search_20260209", "name": "web_search"}],
    ],
)
def test_toolset_names_must_be_unique(items: list[Any]) -> None:
    """Two tools with one name (local or not) are refused."""
    with pytest.raises(
        InvalidInputError, match=r"named '.*': tool names must be unique"
    ):
        ToolSet(items)


@pytest.mark.parametrize("one", [get_weather, WEB_SEARCH, Tool.from_callable(fetch)])
def test_toolset_takes_a_single_tool(one: Any) -> None:
    """One callable, mapping or Tool is a set of one."""
    assert len(ToolSet(one).tools) == 1


@pytest.mark.parametrize("item", [3, "get_weather", {"name": 3}])
def test_toolset_refuses_other_things(item: Any) -> None:
    """Only Tools, callables and mappings with a str name make tools."""
    with pytest.raises(InvalidInputError, match="a tool is a Tool, a callable"):
        ToolSet([item])


def test_require_sync_names_the_async_tools() -> None:
    """A sync loop can refuse async tools before its first request."""
    tools = ToolSet([get_weather, fetch, WEB_SEARCH])
    tools.require_sync(["get_weather", "web_search", "nope"])
    with pytest.raises(InvalidInputError, match="async tools fetch need aexecute"):
        tools.require_sync()


# --- results ------------------------------------------------------------------------


def _text(value: Any) -> Any:
    return tool_result("id", value).content


class Shape(enum.Enum):
    SQUARE = "square"


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("sunny", "sunny"),
        ("", ""),
        (None, None),
        (
            {"t": 21.5, "ok": True, "city": "Zürich"},
            '{"t": 21.5, "ok": true, "city": "Zürich"}',
        ),
        ([1, "a"], '[1, "a"]'),
        ((1, 2), "[1, 2]"),
        (3, "3"),
        (2.5, "2.5"),
        (False, "false"),
        (Shape.SQUARE, "square"),
        (Level.LOW, "1"),
        (MappingProxyType({"a": 1}), '{"a": 1}'),
        (
            {
                "shape": Shape.SQUARE,
                "m": MappingProxyType({}),
                "at": dt.date(2026, 1, 2),
            },
            '{"shape": "square", "m": {}, "at": "2026-01-02"}',
        ),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (b"raw", "b'raw'"),
    ],
)
def test_return_values_become_content(value: Any, content: Any) -> None:
    """str as is, None as no content, JSON-like values as JSON, the rest as str()."""
    assert _text(value) == content


def test_blocks_become_block_content() -> None:
    """A block, or a list of blocks and strings, is the result's content."""
    image = ImageBlock({"type": "url", "url": "https://example.com/a.png"})
    assert _text(image) == (image,)
    assert _text([image, "caption"]) == (image, TextBlock("caption"))
    assert _text(["just", "strings"]) == '["just", "strings"]'
    assert _text([image, 1]).startswith('["ImageBlock(')


def test_a_returned_tool_result_is_used_with_the_right_id() -> None:
    """A tool may return its own ToolResultBlock (to set is_error); the id is fixed."""
    own = ToolResultBlock("whatever", "not found", is_error=True)
    assert tool_result("toolu_07", own) == evolve(own, tool_use_id="toolu_07")


# --- execute ------------------------------------------------------------------------


@pytest.fixture(name="calls")
def _calls() -> list[Any]:
    """Record the calls the tools below receive."""
    return []


def _recorder(calls: list[Any]) -> Tool:
    def record(n: int, scale: float = 1.0, shape: Shape = Shape.SQUARE) -> str:
        """Record a call."""
        calls.append((n, scale, shape))
        return f"{n}"

    return Tool.from_callable(record)


def test_execute_answers_in_order_with_converted_arguments(calls: list[Any]) -> None:
    """Results come in the order of the uses; ints become floats, strings Enums."""
    uses = [
        _use("record", {"n": 1, "scale": 2, "shape": "square"}, 1),
        _use("get_weather", {"city": "Oslo", "unit": "fahrenheit"}, 2),
        _use("record", {"n": 2}, 3),
    ]
    results = execute([_recorder(calls), get_weather], uses)
    assert [r.tool_use_id for r in results] == ["toolu_01", "toolu_02", "toolu_03"]
    assert [r.is_error for r in results] == [None, None, None]
    assert results[1].content == '{"city": "Oslo", "unit": "fahrenheit", "days": 1}'
    assert calls == [(1, 2.0, Shape.SQUARE), (2, 1.0, Shape.SQUARE)]
    assert isinstance(calls[0][1], float)


@pytest.mark.parametrize(
    ("tool_input", "message"),
    [
        ({}, "invalid input for tool 'record': 'n' is required"),
        ({"n": 1, "size": 2}, "'size' is not accepted (accepted: n, scale, shape)"),
        (
            {"n": "one"},
            "'n': Input should be a valid integer, unable to parse string as an "
            "integer (got 'one')",
        ),
        (
            {"n": 1, "shape": "circle"},
            "'shape': Input should be 'square' (got 'circle')",
        ),
    ],
)
def test_bad_input_is_an_error_result_and_no_call(
    calls: list[Any], tool_input: dict[str, Any], message: str
) -> None:
    """Input that does not fit the signature is explained; the tool is not called."""
    (result,) = execute(_recorder(calls), [_use("record", tool_input)])
    assert result.is_error is True
    assert isinstance(result.content, str)
    assert message in result.content
    assert calls == []


def test_unknown_tool_is_an_error_result() -> None:
    """A name that is not a local tool gets an is_error result naming those that are."""
    results = execute(
        [get_weather, WEB_SEARCH], [_use("nope"), _use("web_search", n=2)]
    )
    assert [r.content for r in results] == [
        "unknown tool 'nope' (tools run here: get_weather)",
        "unknown tool 'web_search' (tools run here: get_weather)",
    ]
    assert (
        execute([], [_use("x")])[0].content == "unknown tool 'x' (tools run here: none)"
    )


class LookupFailedError(Exception):
    pass


def test_a_raising_tool_is_an_error_result_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception becomes `Type: message` for the model and a WARNING with traceback."""

    def lookup(key: str) -> str:
        """Look a key up."""
        raise LookupFailedError(key)

    def silent() -> None:
        """Fail without a message."""
        raise LookupFailedError

    with caplog.at_level(logging.WARNING, logger="conversa"):
        results = execute(
            [lookup, silent], [_use("lookup", {"key": "k9"}), _use("silent", n=2)]
        )
    assert [(r.content, r.is_error) for r in results] == [
        ("LookupFailedError: k9", True),
        ("LookupFailedError", True),
    ]
    record = caplog.records[0]
    assert record.levelno == logging.WARNING
    assert record.name == "conversa"
    assert "lookup" in record.getMessage()
    assert record.exc_info is not None
    assert "Traceback" not in str(results[0].content)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_interrupts_propagate(calls: list[Any], exc: type[BaseException]) -> None:
    """KeyboardInterrupt and SystemExit are never turned into results."""

    def stop() -> None:
        """Stop."""
        raise exc

    with pytest.raises(exc):
        execute([stop, _recorder(calls)], [_use("stop"), _use("record", {"n": 1}, 2)])
    assert calls == []


def test_async_tools_are_refused_before_anything_runs(calls: list[Any]) -> None:
    """The sync path refuses async tools, and runs nothing, rather than block a loop."""
    with pytest.raises(InvalidInputError, match="async tools fetch need aexecute"):
        execute(
            [_recorder(calls), fetch], [_use("record", {"n": 1}), _use("fetch", n=2)]
        )
    assert calls == []
    assert execute([fetch], [_use("nope")])[0].is_error is True


class _Ready:
    def __await__(self) -> Generator[Any, None, str]:
        yield from ()
        return "ready"


def test_a_sync_tool_returning_an_awaitable_is_an_error_result() -> None:
    """A plain function that returns a coroutine gets an error result (and no warning)."""

    def sneaky(url: str) -> Any:
        """Return a coroutine."""
        return fetch(url)

    def ready() -> Any:
        """Return an awaitable."""
        return _Ready()

    results = execute(
        [sneaky, ready], [_use("sneaky", {"url": "u"}), _use("ready", n=2)]
    )
    for result in results:
        assert result.is_error is True
        assert "returned an awaitable: it needs aexecute" in str(result.content)


def test_an_explicit_schema_tool_gets_the_input_as_keywords() -> None:
    """Without derivation the input is passed as keyword arguments, unchecked."""
    made = Tool("pages", "List pages.", PAGE, lambda **kw: sorted(kw))
    (result,) = execute(made, [_use("pages", {"page": 1, "extra": True})])
    assert result.content == '["extra", "page"]'
