"""Derive a tool's input schema, and the binder that checks input against it.

Each type hint compiles to a pair: the JSON Schema (2020-12) the model sees, and a
converter that checks the model's JSON against the same hint and builds the Python
value. Both come from one table, so the schema and the checks cannot drift apart::

    str, int, float, bool, None       {"type": "string" | "integer" | ... | "null"}
    Any                               {}
    list[T], Sequence[T], tuple[T, ...]  {"type": "array", "items": T}: a list, a tuple
    dict[str, T], Mapping[str, T]     {"type": "object", "additionalProperties": T}
    Literal["a", 1], an Enum class    {"enum": [...]} (+ "type" if all alike): the value
    A | B, Optional[A]                {"anyOf": [A, B]}: the first that fits
    Annotated[T, "text" | {...}]      T + "description" / those keywords (not checked)
    TypedDict, dataclass, attrs class  an object as below: a dict, an instance

JSON has one number type: 3 is taken for a float (3.0), and 3.0 for an int.
Parameters (a class's fields) make ``{"type": "object", "properties": ...,
"required": [those without default], "additionalProperties": false}``, a JSON
default shown as ``"default"``. ``additionalProperties: false`` states what the
binder enforces (no other key), is what strict tool use requires of every object,
and keeps the model from inventing arguments. A description comes from the
docstring's ``Args:`` (a class's ``Attributes:``) entry, else ``Annotated[T, "..."]``.
Anything else (a plain class, ``set``, a fixed-length tuple, ``*args``, a
positional-only parameter) is refused when the tool is made, naming the parameter:
pass ``input_schema=`` instead.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

import attrs

from .._exceptions import InvalidInputError

__all__ = ["ArgumentError", "Prop", "bind_props", "derive", "parse_docstring"]

Convert = Callable[[Any, str], Any]
Spec = tuple[dict[str, Any], Convert]
_Field = tuple[str, Any, Any]  # key, hint, default (_MISSING: none given)

_MISSING: Any = object()
_OPTIONAL: Any = object()  # a field that may be left out but has no default to show
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean"}
_KINDS = {**_SCALARS, type(None): "null", list: "array", tuple: "array", dict: "object"}
_LISTS = (list, tuple, Sequence, MutableSequence)
_MAPS = (dict, Mapping, MutableMapping)
_FACTORY: type[Any] = type(attrs.Factory(list))  # attrs' stubs make Factory a function
_WRAPPERS = ("Required", "NotRequired", "ReadOnly")
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
# A names section: its header at the margin, then indented or blank lines.
_SECTION = re.compile(
    r"^(?:Args|Arguments|Parameters|Keyword Args|Attributes):[ \t]*$"
    r"((?:\n(?:[ \t]+.*|[ \t]*$))*)\n?",
    re.MULTILINE,
)
# An entry: `name (type): text`, then lines indented deeper than the name.
_ENTRY = re.compile(
    r"^( +)\*{0,2}(\w+)(?: *\([^)]*\))? *:(.*(?:\n\1 +\S.*)*)", re.MULTILINE
)


class ArgumentError(InvalidInputError):
    """The model's input does not fit the signature; the message is for the model.

    Attributes:
        path: where the problem is (`"city"`, `"opts.size"`, `"items[2]"`).
        expected: for a value of the wrong kind, what was wanted (`"integer"`);
            None for other problems (a missing or unknown key, a refused value).
    """

    def __init__(
        self, message: str, *, path: str = "", expected: str | None = None
    ) -> None:
        self.path = path
        self.expected = expected
        super().__init__(message)


class _UnsupportedError(Exception):
    """A hint with no JSON Schema; `derive` makes it an InvalidInputError."""


def _kind(value: object) -> str:
    """Name *value*'s JSON type, for messages and for `enum` schemas."""
    kind = _KINDS.get(type(value))
    return kind or ("object" if isinstance(value, Mapping) else type(value).__name__)


def _at(path: str) -> str:
    return f"{path!r}: " if path else ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _mismatch(path: str, expected: str, value: object) -> ArgumentError:
    message = f"{_at(path)}expected {expected}, got {_kind(value)}"
    return ArgumentError(message, path=path, expected=expected)


def _same(value: Any, path: str) -> Any:
    return value


def _scalar(name: str) -> Convert:
    def convert(value: Any, path: str) -> Any:
        kind = _kind(value)
        if kind == name or (name == "number" and kind == "integer"):
            return float(value) if name == "number" else value
        if name == "integer" and kind == "number" and value.is_integer():
            return int(value)
        raise _mismatch(path, name, value)

    return convert


def _compile(hint: Any, stack: tuple[type, ...]) -> Spec:
    """Return the schema and converter for *hint* (*stack*: the classes being built)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return {}, _same
    if origin is Annotated:
        schema, convert = _compile(args[0], stack)
        for meta in args[1:]:
            if isinstance(meta, (str, Mapping)):
                schema.update({"description": meta} if isinstance(meta, str) else meta)
        return schema, convert
    if origin is Union or origin is types.UnionType:
        return _union([_compile(a, stack) for a in args])
    if hint is None or hint is type(None) or hint in _SCALARS:
        name = _SCALARS.get(hint, "null")
        return {"type": name}, _scalar(name)
    if origin is Literal:
        return _choices(args, {a: a for a in args})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _choices([m.value for m in hint], {m.value: m for m in hint})
    container = origin or hint
    if container in _LISTS and not (container is tuple and args and args[-1] != ...):
        item = _compile(args[0], stack) if args else ({}, _same)
        return _container(item, "array", tuple if container is tuple else list)
    if container in _MAPS and args[:1] in ((), (str,)):
        item = _compile(args[1], stack) if args else ({}, _same)
        return _container(item, "object", dict)
    if isinstance(hint, type) and _fields(hint) is not None:
        return _object(hint, stack)
    msg = (
        f"{hint!r} has no JSON Schema (supported: str, int, float, bool, None, Any, "
        "list, tuple[T, ...], dict[str, T], Literal, Enum, unions, Annotated, "
        "TypedDict, dataclasses, attrs classes)"
    )
    raise _UnsupportedError(msg)


def _union(specs: list[Spec]) -> Spec:
    def convert(value: Any, path: str) -> Any:
        errors: list[ArgumentError] = []
        for _, member in specs:
            try:
                return member(value, path)
            except ArgumentError as exc:  # noqa: PERF203 - trying each is the point
                errors.append(exc)
        # A member whose shape fit but whose content did not explains best.
        fitting = [e for e in errors if e.expected is None or e.path != path]
        if fitting:
            raise fitting[0]
        raise _mismatch(path, " or ".join(str(e.expected) for e in errors), value)

    return {"anyOf": [schema for schema, _ in specs]}, convert


def _choices(values: Sequence[Any], members: Mapping[Any, Any]) -> Spec:
    kinds = {_kind(v) for v in values}
    if not kinds <= {"null", "boolean", "integer", "number", "string"}:
        msg = f"choices {list(values)!r} must be strings, numbers, booleans or None"
        raise _UnsupportedError(msg)
    schema: dict[str, Any] = {"enum": list(values)}
    if len(kinds) == 1:
        schema = {"type": kinds.pop(), **schema}
    expected = f"one of {list(values)!r}"

    def convert(value: Any, path: str) -> Any:
        for choice in values:
            if _kind(choice) == _kind(value) and choice == value:
                return members[choice]
        message = f"{_at(path)}expected {expected}, got {value!r}"
        raise ArgumentError(message, path=path, expected=expected)

    return schema, convert


def _container(item: Spec, kind: str, make: Callable[[Any], Any]) -> Spec:
    """An array (`items`) or a map (`additionalProperties`) of *item*."""
    schema: dict[str, Any] = {"type": kind}
    if item[0]:
        schema["items" if kind == "array" else "additionalProperties"] = item[0]

    def convert(value: Any, path: str) -> Any:
        if _kind(value) != kind:
            raise _mismatch(path, kind, value)
        if kind == "array":
            return make([item[1](v, f"{path}[{i}]") for i, v in enumerate(value)])
        return {k: item[1](v, _join(path, k)) for k, v in value.items()}

    return schema, convert


class Prop(NamedTuple):
    """One property of an object, or one parameter (*default* _MISSING: required)."""

    key: str
    convert: Convert
    default: Any


def bind_props(props: Sequence[Prop], value: Any, path: str) -> dict[str, Any]:
    """Check *value* (an object) against *props*; return the converted values.

    Raises:
        ArgumentError: naming every problem (missing, unknown and mistyped keys).
    """
    if not isinstance(value, Mapping):
        raise _mismatch(path, "object", value)
    known = [p.key for p in props]
    accepted = ", ".join(known) or "none"
    problems = [
        ArgumentError(f"{_join(path, k)!r} is not accepted (accepted: {accepted})")
        for k in value
        if k not in known
    ]
    out: dict[str, Any] = {}
    for prop in props:
        where = _join(path, prop.key)
        if prop.key in value:
            try:
                out[prop.key] = prop.convert(value[prop.key], where)
            except ArgumentError as exc:
                problems.append(exc)
        elif prop.default is _MISSING:
            problems.append(ArgumentError(f"{where!r} is required"))
    if len(problems) > 1:
        raise ArgumentError("; ".join(str(p) for p in problems))
    if problems:
        raise problems[0]
    return out


def _fields(cls: type) -> list[_Field] | None:
    """List the init fields of a TypedDict, dataclass or attrs class; else None."""
    typed_dict = issubclass(cls, dict) and hasattr(cls, "__required_keys__")
    if not (typed_dict or dataclasses.is_dataclass(cls) or attrs.has(cls)):
        return None
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError as exc:
        msg = f"the type hints of {cls.__name__} do not resolve ({exc})"
        raise _UnsupportedError(msg) from None
    if typed_dict:
        keys = cls.__required_keys__  # type: ignore[attr-defined]
        return [(k, *_unwrap(h, required=k in keys)) for k, h in hints.items()]
    if dataclasses.is_dataclass(cls):
        fields = [f for f in dataclasses.fields(cls) if f.init]
        return [(f.name, hints[f.name], _default(f)) for f in fields]
    attributes = [a for a in attrs.fields(cls) if a.init]
    return [(a.alias, hints.get(a.name, _MISSING), _default(a)) for a in attributes]


def _default(field: Any) -> Any:
    """Map a dataclass's or attrs's field's "no default" and "factory" to ours."""
    value, factory = field.default, getattr(field, "default_factory", None)
    if factory not in (None, dataclasses.MISSING) or isinstance(value, _FACTORY):
        return _OPTIONAL
    return _MISSING if value is dataclasses.MISSING or value is attrs.NOTHING else value


def _unwrap(hint: Any, *, required: bool) -> tuple[Any, Any]:
    """Drop TypedDict's Required/NotRequired/ReadOnly: the hint, and its default."""
    # `__required_keys__` cannot see these in string annotations: they decide.
    while (name := getattr(get_origin(hint), "_name", None)) in _WRAPPERS:
        required = {"Required": True, "NotRequired": False}.get(name, required)
        hint = get_args(hint)[0]
    return hint, _MISSING if required else _OPTIONAL


def _object(cls: type, stack: tuple[type, ...]) -> Spec:
    if cls in stack:
        msg = f"{cls.__name__} refers to itself, and recursive types are not derived"
        raise _UnsupportedError(msg)
    doc = cls.__dict__.get("__doc__") or ""  # its own, not an inherited one
    summary, docs = parse_docstring("" if doc.startswith(f"{cls.__name__}(") else doc)
    props, schema = _properties(_fields(cls) or [], docs, (*stack, cls), cls.__name__)
    if summary:
        schema = {"type": "object", "description": summary, **schema}
    build: Callable[..., Any] = dict if issubclass(cls, dict) else cls

    def convert(value: Any, path: str) -> Any:
        values = bind_props(props, value, path)
        try:
            return build(**values)
        except (TypeError, ValueError) as exc:  # the class's own validation said no
            message = f"{_at(path)}{type(exc).__name__}: {exc}"
            raise ArgumentError(message) from None

    return schema, convert


def _properties(
    fields: Sequence[_Field],
    docs: Mapping[str, str],
    stack: tuple[type, ...],
    owner: str,
) -> tuple[list[Prop], dict[str, Any]]:
    """Compile an object's fields, or (*owner* "") a function's parameters."""
    props: list[Prop] = []
    schemas: dict[str, Any] = {}
    for key, hint, default in fields:
        what = f"field {key!r} of {owner}" if owner else f"parameter {key!r}"
        if hint is _MISSING:
            msg = f"{what} has no type hint (annotate it; Any accepts anything)"
            raise _UnsupportedError(msg)
        try:
            schema, convert = _compile(hint, stack)
        except _UnsupportedError as exc:
            msg = f"{what}: {exc}"
            raise _UnsupportedError(msg) from None
        if key in docs:  # the docstring speaks of this very parameter: it wins
            schema["description"] = docs[key]
        if default is not _MISSING and (value := _json_value(default)) is not _MISSING:
            schema["default"] = value
        schemas[key] = schema
        props.append(Prop(key, convert, default))
    schema = {"type": "object", "properties": schemas}
    if required := [p.key for p in props if p.default is _MISSING]:
        schema["required"] = required
    schema["additionalProperties"] = False
    return props, schema


def _json_value(value: Any) -> Any:
    """Return *value* as JSON data, for a schema's `default` (_MISSING if it is not)."""
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return _MISSING


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into a description and per-name descriptions.

    `Args:` (`Arguments:`, `Parameters:`, `Keyword Args:`, `Attributes:`) sections
    give the names; the rest, `Returns:` included, is the description: the model reads
    it to decide when and how to call the tool.
    """
    names: dict[str, str] = {}

    def take(section: re.Match[str]) -> str:
        for entry in _ENTRY.finditer(section.group(1)):
            names[entry.group(2)] = " ".join(entry.group(3).split())
        return ""

    return _SECTION.sub(take, inspect.cleandoc(doc or "")).strip(), names


def _parameter(param: inspect.Parameter) -> _Field:
    if param.kind not in _KEYWORD:  # the model's input is an object: names only
        msg = f"parameter {param.name!r} is {param.kind.description}: name it"
        raise _UnsupportedError(msg)
    empty = param.empty
    hint = _MISSING if param.annotation is empty else param.annotation
    return param.name, hint, _MISSING if param.default is empty else param.default


def derive(
    fn: Callable[..., Any], *, tool_name: str, doc: str | None
) -> tuple[str, dict[str, Any], tuple[Prop, ...]]:
    """Read *fn*'s signature and *doc*: a description, an input schema, the props.

    Raises:
        InvalidInputError: an unreadable signature, or a parameter with no schema.
    """
    summary, docs = parse_docstring(doc)
    try:
        params = inspect.signature(fn, eval_str=True).parameters.values()
        props, schema = _properties([_parameter(p) for p in params], docs, (), "")
    except (_UnsupportedError, TypeError, ValueError, NameError, SyntaxError) as exc:
        msg = f"tool {tool_name!r}: {exc}; pass input_schema= to describe the input yourself"
        raise InvalidInputError(msg) from None
    return summary, schema, tuple(props)
