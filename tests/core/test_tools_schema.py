"""Tool schemas from pydantic: each kind of type gives its schema, and input is checked.

`conversa/_values/tool_schema.py` builds one pydantic model of a function's
parameters; these tests check the schema the model is shown for each kind of type
(scalars, containers, Literal, enums, dates, UUIDs, pydantic models, dataclasses,
TypedDicts, recursive types, `Annotated` constraints, docstring descriptions), what
the function gets for valid input, the message the model gets for invalid input, and
that a failure travels back as an `is_error` tool_result through a real tool loop
against conversa.testing's fake, sync and async, the function not called.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field
from typing_extensions import NotRequired, TypedDict  # typing's on 3.11+ only

from conversa import (
    AsyncClient,
    AsyncConversation,
    CacheConfig,
    Client,
    Conversation,
    MemoryStore,
    RetryPolicy,
)
from conversa._exceptions import InvalidInputError
from conversa._values.tool_schema import ArgumentError, describe
from conversa._values.tools import Tool, tool
from conversa.testing import FakeMessagesAPI, reply

# --- module-level types: the test functions' string annotations resolve here ---------


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Movie(TypedDict):
    """A film.

    Attributes:
        title: The title.
    """

    title: str
    year: NotRequired[int]


@dataclasses.dataclass
class Point:
    x: float
    y: float
    label: str = "origin"
    tags: list[str] = dataclasses.field(default_factory=list)


class Order(pydantic.BaseModel):
    """An order to place.

    Attributes:
        sku: The product code.
    """

    sku: str = Field(min_length=3)
    quantity: int = Field(default=1, ge=1, le=99, description="How many.")


class Titled(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(title="A titled thing")

    name: str = Field(title="Name shown")


@dataclasses.dataclass
class Node:
    children: list[Node]


class Plain:
    pass


def _probe(hint: Any) -> Tool:
    """Make a tool of one parameter `x` typed *hint*."""

    def probe(x):  # type: ignore[no-untyped-def]
        return x

    probe.__annotations__ = {"x": hint}
    return Tool.from_callable(probe)


def _schema(hint: Any) -> dict[str, Any]:
    return dict(_probe(hint).input_schema["properties"]["x"])


_OBJ = {"type": "object"}


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (Any, {}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            set[int],
            {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        ),
        (dict[str, float], {**_OBJ, "additionalProperties": {"type": "number"}}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Color, {"type": "string", "enum": ["red", "green"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (datetime.date, {"type": "string", "format": "date"}),
        (datetime.datetime, {"type": "string", "format": "date-time"}),
        (uuid.UUID, {"type": "string", "format": "uuid"}),
        (Annotated[int, "How many."], {"type": "integer", "description": "How many."}),
        (
            Annotated[int, Field(ge=1, le=10)],
            {"type": "integer", "minimum": 1, "maximum": 10},
        ),
        (
            Annotated[str, Field(min_length=2, pattern="^[a-z]+$")],
            {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
        ),
    ],
)
def test_hint_gives_schema(hint: Any, schema: dict[str, Any]) -> None:
    """Each kind of hint makes pydantic's schema, without made-up titles."""
    assert _schema(hint) == schema


def test_typeddict_is_a_closed_object_described_by_its_docstring() -> None:
    """A TypedDict: NotRequired keys optional, its Attributes describe its keys."""
    assert _schema(Movie) == {
        "type": "object",
        "description": "A film.",
        "properties": {
            "title": {"type": "string", "description": "The title."},
            "year": {"type": "integer"},
        },
        "required": ["title"],
        "additionalProperties": False,
    }


def test_dataclass_is_an_object_with_defaults() -> None:
    """A dataclass's fields become properties; defaults make them optional."""
    assert _schema(Point) == {
        "type": "object",
        "properties": {
            "x": {"type": "number"},
            "y": {"type": "number"},
            "label": {"type": "string", "default": "origin"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["x", "y"],
        "additionalProperties": False,
    }


def test_pydantic_model_keeps_its_limits_and_descriptions() -> None:
    """A pydantic model: Field limits shown, docstring and Field descriptions kept."""
    assert _schema(Order) == {
        "type": "object",
        "description": "An order to place.",
        "properties": {
            "sku": {
                "type": "string",
                "minLength": 3,
                "description": "The product code.",
            },
            "quantity": {
                "type": "integer",
                "default": 1,
                "minimum": 1,
                "maximum": 99,
                "description": "How many.",
            },
        },
        "required": ["sku"],
        "additionalProperties": False,
    }


def test_titles_given_on_purpose_are_kept() -> None:
    """Only made-up titles go: a model's title config and Field(title=) stay."""
    schema = _schema(Titled)
    assert schema["title"] == "A titled thing"
    assert schema["properties"]["name"]["title"] == "Name shown"


def test_definitions_are_inlined_but_recursive_ones_kept() -> None:
    """Nested classes are inlined; a recursive type refers to itself by `$ref`."""
    flat = _probe(list[Point]).input_schema
    assert "$defs" not in flat
    assert "$ref" not in json.dumps(flat)
    tree = _probe(Node).input_schema
    assert tree["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }
    inner = tree["properties"]["x"]["properties"]["children"]["items"]
    assert inner == {"$ref": "#/$defs/Node"}


def _example(
    city: str,
    days: Annotated[int, Field(ge=1, le=7), "Ignored: the docstring wins."] = 3,
    unit: Color = Color.RED,
    point: Point | None = None,
    ratio: float = math.nan,
    anything: Any = Plain,
) -> str:
    """Get the forecast for a city.

    Uses the national weather service.

    Args:
        city (str): The city,
            with its country.
        days: How many days.
        point: A place instead.

    Returns:
        The forecast, as text.
    """
    return city


def test_function_schema_from_hints_defaults_and_docstring() -> None:
    """Parameters, defaults, limits and the docstring's texts make the schema."""
    made = Tool.from_callable(_example)
    assert made.description == (
        "Get the forecast for a city.\n\nUses the national weather service.\n\n"
        "Returns: The forecast, as text."
    )
    schema = made.input_schema
    assert next(iter(schema)) == "type"
    assert schema["type"] == "object"
    assert schema["required"] == ["city"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["city", "days", "unit", "point", "ratio", "anything"]
    assert props["city"] == {
        "type": "string",
        "description": "The city, with its country.",
    }
    assert props["days"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 7,
        "default": 3,
        "description": "How many days.",
    }
    assert props["unit"] == {
        "type": "string",
        "enum": ["red", "green"],
        "default": "red",
    }
    assert props["point"] == {
        "anyOf": [_schema(Point), {"type": "null"}],
        "default": None,
        "description": "A place instead.",
    }
    assert props["ratio"] == {"type": "number"}  # NaN is no JSON default
    assert props["anything"] == {}
    json.dumps(schema, allow_nan=False)  # the body is JSON


NUMPY = """Add.

Parameters
----------
a : int
    The first.
b : int
    The second.
"""

SPHINX = """Add.

:param a: The first.
:param b: The second.
:returns: the sum.
"""


AB = {"a": "The first.", "b": "The second."}


@pytest.mark.parametrize(
    ("doc", "description", "names"),
    [
        (None, "", {}),
        ("Just a line.", "Just a line.", {}),
        ("Add.\n\nArgs:\n    a: The first.\n    b: The\n        second.\n", "Add.", AB),
        (NUMPY, "Add.", AB),
        (SPHINX, "Add.\n\nReturns: the sum.", AB),
    ],
)
def test_describe_reads_every_style(
    doc: str | None, description: str, names: dict[str, str]
) -> None:
    """Google, NumPy and Sphinx docstrings: the text, and each parameter's entry."""
    assert describe(doc) == (description, names)


def test_numpy_and_sphinx_describe_the_parameters() -> None:
    """A tool documented NumPy- or Sphinx-style gets its parameters described."""
    for doc in (NUMPY, SPHINX):

        def add(a: int, b: int) -> int:
            return a + b

        add.__doc__ = doc
        props = Tool.from_callable(add).input_schema["properties"]
        assert props["a"]["description"] == "The first."
        assert props["b"]["description"] == "The second."


# --- validation: the model's JSON becomes the function's arguments ------------------


@pytest.mark.parametrize(
    ("hint", "given_value", "expected"),
    [
        (int, 3, 3),
        (int, 3.0, 3),
        (float, 3, 3.0),
        (list[int], [1, 2], [1, 2]),
        (tuple[int, ...], [1], (1,)),
        (set[str], ["a", "a"], {"a"}),
        (Color, "green", Color.GREEN),
        (Level, 2, Level.HIGH),
        (datetime.date, "2026-12-05", datetime.date(2026, 12, 5)),
        (
            uuid.UUID,
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
        ),
        (Decimal, "1.10", Decimal("1.10")),
        (Movie, {"title": "Up"}, {"title": "Up"}),
        (Point, {"x": 1, "y": 2}, Point(1.0, 2.0)),
        (Order, {"sku": "abc"}, Order(sku="abc")),
        (Node, {"children": [{"children": []}]}, Node([Node([])])),
    ],
)
def test_input_is_validated_and_converted(
    hint: Any, given_value: Any, expected: Any
) -> None:
    """Valid JSON becomes the Python value the hint names."""
    value = _probe(hint).bind({"x": given_value})["x"]
    assert value == expected
    assert type(value) is type(expected)


def test_only_the_given_arguments_are_passed() -> None:
    """Arguments the model left out are not passed: the function's defaults apply."""
    sentinel = object()

    def f(a: int, b: Any = sentinel) -> None:
        """Do nothing."""

    assert Tool.from_callable(f).bind({"a": 1}) == {"a": 1}


def test_parameters_named_like_model_attributes_work() -> None:
    """A parameter may be called `schema`, `json` or `model_config`."""

    def f(schema: str, json: int, model_config: bool = False) -> None:
        """Do nothing."""

    made = Tool.from_callable(f)
    assert list(made.input_schema["properties"]) == ["schema", "json", "model_config"]
    assert made.bind({"schema": "s", "json": 1}) == {"schema": "s", "json": 1}


@pytest.mark.parametrize(
    ("hint", "given_value", "message"),
    [
        (int, "three", "'x': Input should be a valid integer"),
        (int, 3.5, "'x': Input should be a valid integer, got a number with a"),
        (Annotated[int, Field(ge=1, le=10)], 11, "'x': Input should be less than or"),
        (list[int], [1, "a"], "'x[1]': Input should be a valid integer"),
        (Literal["a", "b"], "c", "'x': Input should be 'a' or 'b' (got 'c')"),
        (Color, "blue", "'x': Input should be 'red' or 'green' (got 'blue')"),
        (datetime.date, "someday", "'x': Input should be a valid date"),
        (uuid.UUID, "42", "'x': Input should be a valid UUID"),
        (Point, {"x": 1}, "'x.y' is required"),
        (Point, {"x": 1, "y": 2, "z": 3}, "'x.z' is not accepted"),
        (Movie, {"year": 1}, "'x.title' is required"),
        (Order, {"sku": "ab"}, "'x.sku': String should have at least 3 characters"),
        (Order, {"sku": "abc", "quantity": 0}, "'x.quantity': Input should be greater"),
        (Node, {"children": [{"children": 3}]}, "'x.children[0].children': Input"),
    ],
)
def test_invalid_input_is_explained(hint: Any, given_value: Any, message: str) -> None:
    """Invalid JSON raises an ArgumentError saying where and what, for the model."""
    with pytest.raises(ArgumentError) as caught:
        _probe(hint).bind({"x": given_value})
    assert message in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.errors


def test_every_problem_is_named_at_once() -> None:
    """Missing, unknown and mistyped arguments are all reported together."""

    def f(a: int, b: str) -> None:
        """Do nothing."""

    with pytest.raises(ArgumentError) as caught:
        Tool.from_callable(f).bind({"b": 1, "c": 2})
    assert str(caught.value) == (
        "'a' is required; 'b': Input should be a valid string (got 1); "
        "'c' is not accepted (accepted: a, b)"
    )


def test_input_that_is_not_an_object_is_refused() -> None:
    """The input as a whole must be an object."""
    with pytest.raises(ArgumentError, match="must be an object of the tool's"):
        _probe(int).bind([1])  # type: ignore[arg-type]


def test_a_long_wrong_value_is_shortened() -> None:
    """A wrong value is quoted back to the model, cut at 80 characters."""
    with pytest.raises(ArgumentError) as caught:
        _probe(int).bind({"x": "y" * 500})
    assert len(str(caught.value)) < 200


@given(
    x=st.floats(allow_nan=False, allow_infinity=False), y=st.integers(), label=st.text()
)
def test_dataclass_round_trips_through_json(x: float, y: int, label: str) -> None:
    """A dataclass sent as its JSON fields comes back equal."""
    point = Point(x, float(y), label)
    data = json.loads(json.dumps({"x": point.x, "y": y, "label": label}))
    assert _probe(Point).bind({"x": data})["x"] == point


# --- refused when the tool is made --------------------------------------------------


def test_a_type_with_no_schema_is_refused_naming_the_parameter() -> None:
    """A plain class has no schema: an InvalidInputError names tool and parameter."""
    with pytest.raises(InvalidInputError) as caught:
        _probe(list[Plain])
    message = str(caught.value)
    assert message.startswith("tool 'probe': parameter 'x': ")
    assert "Plain" in message
    assert message.endswith("pass input_schema= to describe the input yourself")


def _no_hint(a):  # type: ignore[no-untyped-def]
    return a


def _variadic(*args: int) -> None:
    pass


def _kwargs(**kwargs: int) -> None:
    pass


def _positional(a: int, /) -> None:
    pass


def _unresolved(a: Nope) -> None:  # type: ignore[name-defined]  # noqa: F821
    pass


@pytest.mark.parametrize(
    ("fn", "words"),
    [
        (_no_hint, "parameter 'a' has no type hint"),
        (_variadic, "parameter 'args' is variadic positional"),
        (_kwargs, "parameter 'kwargs' is variadic keyword"),
        (_positional, "parameter 'a' is positional-only"),
        (_unresolved, "name 'Nope' is not defined"),
    ],
)
def test_unsupported_signature_is_refused(fn: Any, words: str) -> None:
    """Parameters the model cannot be told about are refused, naming them."""
    with pytest.raises(InvalidInputError, match=words):
        Tool.from_callable(fn)


def test_a_given_input_schema_is_sent_as_is_and_not_checked() -> None:
    """A callable whose signature cannot be read needs input_schema=; it is unchecked."""
    with pytest.raises(InvalidInputError, match="no signature found"):
        Tool.from_callable(max, name="biggest")
    schema = {"type": "object", "properties": {}}
    made = Tool.from_callable(max, name="biggest", input_schema=schema)
    assert made.input_schema == schema
    assert made.bind({"anything": 1}) == {"anything": 1}


# --- a validation failure through a real tool loop -----------------------------------

PLACED: list[tuple[str, int]] = []


@tool
def place(order: Order, when: datetime.date) -> str:
    """Place an order.

    Args:
        order: What to order.
        when: The delivery day.
    """
    PLACED.append((order.sku, when.day))
    return f"placed {order.quantity} x {order.sku} for {when.isoformat()}"


@tool
async def aplace(order: Order, when: datetime.date) -> str:
    """Place an order, asynchronously.

    Args:
        order: What to order.
        when: The delivery day.
    """
    PLACED.append((order.sku, when.day))
    return f"placed {order.quantity} x {order.sku}"


def _fake() -> FakeMessagesAPI:
    fake = FakeMessagesAPI()
    fake.script(
        reply.tool_use(
            "place", {"order": {"sku": "ab", "quantity": 0}, "when": "soon"}
        ),
        reply.tool_use("place", {"order": {"sku": "abc"}, "when": "2026-12-24"}),
        reply.text("Placed."),
    )
    return fake


def _results(fake: FakeMessagesAPI) -> list[dict[str, Any]]:
    bodies = [r.body for r in fake.requests if r.path == "/v1/messages"]
    return [
        block
        for body in bodies
        for block in body["messages"][-1]["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def _check_loop(fake: FakeMessagesAPI) -> None:
    first, second = _results(fake)
    assert first["is_error"] is True
    text = str(first["content"])
    assert text.startswith("invalid input for tool 'place': ")
    assert "'order.sku': String should have at least 3 characters" in text
    assert "'order.quantity': Input should be greater than or equal to 1" in text
    assert "'when': Input should be a valid date" in text
    assert "is_error" not in second
    assert second["content"] == "placed 1 x abc for 2026-12-24"
    assert PLACED == [("abc", 24)]  # the invalid call never ran
    tools = next(r.body for r in fake.requests if r.path == "/v1/messages")["tools"]
    assert tools[0]["input_schema"]["properties"]["when"]["format"] == "date"


def test_validation_failure_goes_back_as_is_error_sync() -> None:
    """Sync: the model's bad input gets an is_error result, then it corrects itself."""
    PLACED.clear()
    fake = _fake()
    client = Client(api_key="sk-test", transport=fake, retry=RetryPolicy.no_wait())
    conv = Conversation.create(
        MemoryStore(),
        client=client,
        model="claude-sonnet-4-6",
        cache=CacheConfig(enabled=False),
    )
    assert conv.run("Order abc for Christmas Eve.", tools=[place]).text == "Placed."
    _check_loop(fake)


@pytest.mark.anyio
@pytest.mark.parametrize("fn", [place, aplace], ids=["sync-tool", "async-tool"])
async def test_validation_failure_goes_back_as_is_error_async(fn: Tool) -> None:
    """Async (sync and async tools): the same, the function not called on bad input."""
    PLACED.clear()
    fake = _fake()
    if fn is aplace:
        fake = FakeMessagesAPI()
        fake.script(
            reply.tool_use("aplace", {"order": {"sku": "ab"}, "when": "soon"}),
            reply.text("Gave up."),
        )
    client = AsyncClient(api_key="sk-test", transport=fake, retry=RetryPolicy.no_wait())
    conv = await AsyncConversation.create(
        MemoryStore(),
        client=client,
        model="claude-sonnet-4-6",
        cache=CacheConfig(enabled=False),
    )
    await conv.run("Order abc for Christmas Eve.", tools=[fn])
    if fn is place:
        _check_loop(fake)
        return
    (result,) = _results(fake)
    assert result["is_error"] is True
    assert "'order.sku': String should have at least 3 characters" in str(
        result["content"]
    )
    assert PLACED == []


# --- strict tool use: only the keywords strict mode accepts -------------------------


def _strict_keys(value: Any) -> set[str]:
    """Every keyword used in *value*'s schemas (property names left out)."""
    if isinstance(value, list):
        return set().union(*(_strict_keys(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    keys = set(value)
    for key, item in value.items():
        if key in ("properties", "$defs"):
            keys |= set().union(*(_strict_keys(v) for v in item.values()))
        else:
            keys |= _strict_keys(item)
    return keys


def test_strict_tools_say_unsupported_limits_in_the_description() -> None:
    """strict=True: limits strict mode refuses become text, and are still enforced."""

    @tool(strict=True)
    def book(
        nights: Annotated[int, Field(ge=1, le=14)],
        guest: Annotated[str, Field(min_length=2)] = "me",
        order: Order | None = None,
        when: datetime.date | None = None,
    ) -> str:
        """Book a room.

        Args:
            nights: How long.
        """
        return "booked"

    schema = book.input_schema
    allowed = {
        "type", "enum", "const", "anyOf", "allOf", "description", "title",
        "properties", "additionalProperties", "required", "items", "$ref", "$defs",
        "format", "minItems",
    }  # fmt: skip
    assert _strict_keys(schema) <= allowed
    nights = schema["properties"]["nights"]
    assert nights == {
        "type": "integer",
        "description": "How long.\n\nLimits: maximum 14, minimum 1.",
    }
    assert schema["properties"]["guest"]["description"] == (
        'Limits: default "me", minLength 2.'
    )
    when = schema["properties"]["when"]["anyOf"][0]
    assert when == {"type": "string", "format": "date"}
    assert book.to_api()["strict"] is True
    with pytest.raises(ArgumentError, match="less than or equal to 14"):
        book.bind({"nights": 15})


def test_without_strict_the_limits_stay_keywords() -> None:
    """Without strict, `minimum`/`maximum` are schema keywords (the API takes them)."""

    @tool
    def book(nights: Annotated[int, Field(ge=1, le=14)]) -> str:
        """Book a room."""
        return "booked"

    nights = book.input_schema["properties"]["nights"]
    assert nights == {"type": "integer", "minimum": 1, "maximum": 14}
