"""Tool schemas: each type hint gives its JSON Schema, and the input is checked by it.

The table in `conversa/_values/tool_schema.py` is tested row by row: the schema a hint makes,
the value the function gets for valid input, and the message the model gets for
invalid input. Unsupported hints are refused when the tool is made.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, Union

import attr
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typing_extensions import NotRequired, TypedDict  # typing's on 3.11+ only

from conversa._exceptions import InvalidInputError
from conversa._values.tool_schema import ArgumentError, parse_docstring
from conversa._values.tools import Tool

# --- module-level types: the test functions' string annotations resolve here ---------


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Pair(enum.Enum):
    A = (1, 2)


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
    hidden: int = dataclasses.field(default=0, init=False)


@attrs.frozen
class Box:
    """A box to pack.

    Attributes:
        size: Edge length in cm.
    """

    size: int = attrs.field(validator=attrs.validators.gt(0))
    _owner: str = "me"
    items: tuple[Point, ...] = attrs.field(factory=tuple)


@dataclasses.dataclass
class Strict:
    n: int

    def __post_init__(self) -> None:
        if self.n == 13:
            msg = "unlucky"
            raise TypeError(msg)


@dataclasses.dataclass
class Empty:
    pass


@dataclasses.dataclass
class Node:
    children: list[Node]


@dataclasses.dataclass
class Broken:
    x: Missing  # type: ignore[name-defined]  # noqa: F821 - never defined, on purpose


@attr.s
class Untyped:
    a = attr.ib()


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
        (type(None), {"type": "null"}),
        (Any, {}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array"}),
        (typing.List[str], {"type": "array", "items": {"type": "string"}}),  # noqa: UP006
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (tuple, {"type": "array"}),
        (dict[str, float], {**_OBJ, "additionalProperties": {"type": "number"}}),
        (dict, _OBJ),
        (Mapping[str, Any], _OBJ),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, "a", None], {"enum": [1, "a", None]}),
        (Color, {"type": "string", "enum": ["red", "green"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Optional[str], {"anyOf": [{"type": "string"}, {"type": "null"}]}),  # noqa: UP045
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),  # noqa: UP007
        (Annotated[int, "How many."], {"type": "integer", "description": "How many."}),
        (
            Annotated[int, {"minimum": 0}, "n", 42],
            {"type": "integer", "minimum": 0, "description": "n"},
        ),
    ],
)
def test_hint_gives_schema(hint: Any, schema: dict[str, Any]) -> None:
    """Each supported hint makes the schema the module's table promises."""
    assert _schema(hint) == schema


def test_typeddict_is_an_object_with_its_required_keys() -> None:
    """A TypedDict makes a closed object; NotRequired keys are optional."""
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
    """A dataclass's init fields become properties; defaults make them optional."""
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


def test_attrs_class_uses_aliases_and_nests() -> None:
    """An attrs class is keyed by init alias (`_owner` → `owner`) and may nest."""
    schema = _schema(Box)
    assert schema["description"] == "A box to pack."
    assert schema["required"] == ["size"]
    assert schema["properties"]["size"] == {
        "type": "integer",
        "description": "Edge length in cm.",
    }
    assert schema["properties"]["owner"] == {"type": "string", "default": "me"}
    assert schema["properties"]["items"]["items"] == _schema(Point)


def _example(
    city: str,
    days: Annotated[int, "Ignored: the docstring wins."] = 3,
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
    """Parameters, defaults, and the docstring's summary and Args become the schema."""
    made = Tool.from_callable(_example)
    assert made.description == (
        "Get the forecast for a city.\n\nUses the national weather service.\n\n"
        "Returns:\n    The forecast, as text."
    )
    assert made.input_schema == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, with its country."},
            "days": {"type": "integer", "description": "How many days.", "default": 3},
            "unit": {"type": "string", "enum": ["red", "green"], "default": "red"},
            "point": {
                "anyOf": [_schema(Point), {"type": "null"}],
                "description": "A place instead.",
                "default": None,
            },
            "ratio": {"type": "number"},
            "anything": {},
        },
        "required": ["city"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("doc", "description", "names"),
    [
        (None, "", {}),
        ("Just a line.", "Just a line.", {}),
        (
            "Do it.\n\nArguments:\n    a: First.\n\n    b: Second\n        part.\nDone.",
            "Do it.\n\nDone.",
            {"a": "First.", "b": "Second part."},
        ),
        (
            "Sum.\nKeyword Args:\n    stray line\n    *args: Extra.\n    **kw:\n        Later.",
            "Sum.",
            {"args": "Extra.", "kw": "Later."},
        ),
        (
            "Top.\n\nParameters:\n    x: X.\n\n\n\nNote:\n    kept.",
            "Top.\n\nNote:\n    kept.",
            {"x": "X."},
        ),
    ],
)
def test_parse_docstring(
    doc: str | None, description: str, names: dict[str, str]
) -> None:
    """Google-style sections give per-name text; the rest is the description."""
    assert parse_docstring(doc) == (description, names)


# --- binding: the model's JSON becomes the function's arguments ---------------------


@pytest.mark.parametrize(
    ("hint", "given", "expected"),
    [
        (int, 3, 3),
        (int, 3.0, 3),
        (float, 3, 3.0),
        (str, "a", "a"),
        (bool, True, True),
        (None, None, None),
        (Any, {"a": [1]}, {"a": [1]}),
        (list[int], [1, 2.0], [1, 2]),
        (Sequence[float], (1,), [1.0]),
        (tuple[int, ...], [1], (1,)),
        (dict[str, int], {"a": 1}, {"a": 1}),
        (Literal["a", 1], 1, 1),
        (Color, "green", Color.GREEN),
        (Level, 2, Level.HIGH),
        (int | None, None, None),
        (int | str, "5", "5"),
        (Annotated[int, "n"], 4, 4),
        (Movie, {"title": "Up"}, {"title": "Up"}),
        (Point, {"x": 1, "y": 2}, Point(1.0, 2.0)),
        (Box, {"size": 2, "owner": "you"}, Box(2, "you")),
        (Empty, {}, Empty()),
    ],
)
def test_input_is_checked_and_converted(hint: Any, given: Any, expected: Any) -> None:
    """Valid JSON becomes the Python value the hint names."""
    value = _probe(hint).bind({"x": given})["x"]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("hint", "given", "message"),
    [
        (int, "3", "'x': expected integer, got string"),
        (int, 3.5, "'x': expected integer, got number"),
        (int, True, "'x': expected integer, got boolean"),
        (int, {1}, "'x': expected integer, got set"),
        (float, "1", "'x': expected number, got string"),
        (str, 1, "'x': expected string, got integer"),
        (bool, 1, "'x': expected boolean, got integer"),
        (None, 0, "'x': expected null, got integer"),
        (list[int], "a", "'x': expected array, got string"),
        (list[int], [1, "a"], "'x[1]': expected integer, got string"),
        (dict[str, int], [], "'x': expected object, got array"),
        (dict[str, int], {"a": "b"}, "'x.a': expected integer, got string"),
        (Literal["a", "b"], "c", "'x': expected one of ['a', 'b'], got 'c'"),
        (Literal[1], True, "'x': expected one of [1], got True"),
        (Color, "blue", "'x': expected one of ['red', 'green'], got 'blue'"),
        (int | None, "s", "'x': expected integer or null, got string"),
        (Point | None, {"x": 1}, "'x.y' is required"),
        (list[Point] | None, [{"x": 1, "y": "2"}], "'x[0].y': expected number"),
        (Point, "s", "'x': expected object, got string"),
        (Point, {"x": 1, "y": 2, "z": 3}, "'x.z' is not accepted (accepted: x, y,"),
        (Empty, {"a": 1}, "'x.a' is not accepted (accepted: none)"),
        (Movie, {"year": 1}, "'x.title' is required"),
        (Box, {"size": 0}, "'x': ValueError: 'size' must be > 0: 0"),
        (Strict, {"n": 13}, "'x': TypeError: unlucky"),
    ],
)
def test_invalid_input_is_explained(hint: Any, given: Any, message: str) -> None:
    """Invalid JSON raises an ArgumentError whose message tells the model what is wrong."""
    with pytest.raises(ArgumentError) as caught:
        _probe(hint).bind({"x": given})
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, InvalidInputError)


def test_every_problem_is_named_at_once() -> None:
    """Missing, unknown and mistyped arguments are all reported together."""

    def f(a: int, b: str) -> None:
        """Do nothing."""

    with pytest.raises(ArgumentError) as caught:
        Tool.from_callable(f).bind({"b": 1, "c": 2})
    assert str(caught.value) == (
        "'c' is not accepted (accepted: a, b); 'a' is required; "
        "'b': expected string, got integer"
    )


def test_input_that_is_not_an_object_is_refused() -> None:
    """The input as a whole must be an object."""
    with pytest.raises(ArgumentError, match=r"^expected object, got array$"):
        _probe(int).bind([1])  # type: ignore[arg-type]


@given(
    x=st.floats(allow_nan=False, allow_infinity=False), y=st.integers(), label=st.text()
)
def test_dataclass_round_trips_through_json(x: float, y: int, label: str) -> None:
    """A dataclass sent as its JSON fields comes back equal."""
    point = Point(x, float(y), label)
    data = {"x": point.x, "y": y, "label": label}
    assert _probe(Point).bind({"x": data})["x"] == point


# --- refused when the tool is made --------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "words"),
    [
        (set[int], "set[int] has no JSON Schema"),
        (Plain, "Plain"),
        (tuple[int, str], "tuple[int, str] has no JSON Schema"),
        (dict[int, str], "dict[int, str] has no JSON Schema"),
        (Literal[b"x"], "choices [b'x'] must be"),
        (Pair, "choices [(1, 2)] must be"),
        (Node, "Node refers to itself"),
        (Broken, "the type hints of Broken do not resolve"),
        (Untyped, "field 'a' of Untyped has no type hint"),
        (list[Plain], "Plain"),
    ],
)
def test_unsupported_hint_is_refused_naming_the_parameter(
    hint: Any, words: str
) -> None:
    """A hint with no JSON Schema is an InvalidInputError naming tool and parameter."""
    with pytest.raises(InvalidInputError) as caught:
        _probe(hint)
    message = str(caught.value)
    assert message.startswith("tool 'probe': parameter 'x'")
    assert words in message
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


def test_a_builtin_without_a_signature_needs_an_input_schema() -> None:
    """A callable whose signature cannot be read is refused; input_schema= works."""
    with pytest.raises(InvalidInputError, match="no signature found"):
        Tool.from_callable(max, name="biggest")
    schema = {"type": "object", "properties": {}}
    assert (
        Tool.from_callable(max, name="biggest", input_schema=schema).input_schema
        == schema
    )
