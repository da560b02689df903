"""A tool's input schema and the check of the model's input, both from pydantic.

A function's parameters become one pydantic model (a field a parameter, keyed by the
parameter's name), and a `TypeAdapter` of it gives both the JSON Schema the model is
shown and the validation of the input the model sends: they cannot drift apart.
Whatever pydantic validates works: str, int, float, bool, None, Any, lists, tuples,
sets, dicts, Literal, enums, unions, dates and times, UUIDs, Decimal, pydantic
models, dataclasses, TypedDicts, recursive types, and `Annotated` constraints
(`Annotated[int, Field(ge=1, le=10)]` shows `minimum`/`maximum` and is enforced);
`Annotated[int, "text"]` is a description. A parameter with no type hint, `*args`,
`**kwargs` or a positional-only parameter is refused, naming it, as is a type pydantic
has no schema for (a plain class): pass `input_schema=` instead.

The schema is what the Messages API takes as `input_schema`: `"type": "object"` at
the top, JSON Schema 2020-12. Choices made for it:

- Descriptions: a parameter's comes from the function's docstring (Google, NumPy or
  Sphinx style, read by `docstring_parser`), else from `Field(description=...)` or
  `Annotated[T, "text"]`; a class's from its docstring, its `Attributes:` entries
  describing its fields.
- Definitions are inlined, so each property reads on its own; `$defs` and `$ref`
  stay only for a recursive type, which cannot be inlined.
- No `title`s that pydantic makes up (from class and parameter names): they say
  nothing the property's key does not. A title given with `Field(title=...)` or a
  model's `title` config stays.
- Every object with properties says `"additionalProperties": false` (what strict tool
  use requires): the top-level object and nested dataclasses and TypedDicts forbid
  other keys when validated; a pydantic model keeps its own `extra` setting, and one
  that ignores extra keys still drops them.
- A default is shown when it is JSON (a NaN or an object is not, and is left out).
- With `strict=True` (strict tool use), the schema keeps only what strict mode
  accepts (types, `enum`/`const`, `anyOf`/`allOf`, properties, `required`, `items`,
  `minItems` 0 or 1, `$ref`/`$defs`, and the string formats date-time, time, date,
  duration, email, hostname, uri, ipv4, ipv6 and uuid); any other keyword, such as
  `minimum`, `maxLength`, `pattern` or `default`, would be a 400, so it moves into
  the description as text ("Limits: minimum 1, maximum 10."). The limits are still
  enforced here, by validation. Strict mode also refuses recursive types.

Validation is pydantic's lax mode on the parsed JSON: "3" for an int is taken, as
are an ISO string for a date and a list for a tuple; the function gets the Python
values (a model instance, a `date`, an enum member). Only the arguments the model
sent are passed, so the function's own defaults apply to the rest. A failure is an
`ArgumentError` naming every problem, by where it is (`'point.x'`, `'items[2]'`).
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, get_args, get_origin

import docstring_parser
import pydantic
from attrs import frozen
from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from .._exceptions import InvalidInputError

__all__ = ["ArgumentError", "InputModel", "derive", "describe", "strict_schema"]

_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SHOWN = 80  # characters of a wrong value quoted back to the model
# What strict tool use accepts in a schema; anything else is a 400 there.
_STRICT_KEYS = frozenset(
    {"type", "enum", "const", "anyOf", "allOf", "description", "title"}
    | {"properties", "additionalProperties", "required", "items", "$ref", "$defs"}
)
_STRICT_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri"}
    | {"ipv4", "ipv6", "uuid"}
)


class ArgumentError(InvalidInputError):
    """The model's input does not fit the signature; the message is for the model.

    Attributes:
        errors: pydantic's errors (`type`, `loc`, `msg`, `input`), one a problem.
    """

    def __init__(
        self, message: str, *, errors: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        self.errors = tuple(errors)
        super().__init__(message)


class _UnsupportedError(Exception):
    """A parameter the model cannot be told about; `derive` says which tool."""


def describe(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring into the description the model reads and per-name texts.

    The description is the summary and the body, and what the function returns (the
    model decides with it when and how to call the tool); the parameters' entries
    (Google `Args:`/`Attributes:`, NumPy `Parameters`, Sphinx `:param x:`) are taken
    out of it into the mapping.
    """
    if not doc or not doc.strip():
        return "", {}
    try:
        parsed = docstring_parser.parse(inspect.cleandoc(doc))
    except docstring_parser.ParseError:  # not one of the styles: all of it is text
        return inspect.cleandoc(doc), {}
    parts = [parsed.short_description, parsed.long_description]
    if parsed.returns is not None and parsed.returns.description:
        parts.append(f"Returns: {parsed.returns.description}")
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    names = {
        p.arg_name.lstrip("*"): " ".join(p.description.split())
        for p in parsed.params
        if p.description
    }
    return text, names


class _Schema(GenerateJsonSchema):
    """pydantic's JSON Schema less made-up titles, with classes' docstrings read."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # `Field(title=...)` still sets one

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        return _tidy(super().model_schema(schema), schema["cls"])

    def dataclass_schema(self, schema: core_schema.DataclassSchema) -> JsonSchemaValue:
        return _tidy(super().dataclass_schema(schema), schema["cls"])

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        return _tidy(super().typed_dict_schema(schema), schema.get("cls"))

    def enum_schema(self, schema: core_schema.EnumSchema) -> JsonSchemaValue:
        return _tidy(super().enum_schema(schema), schema["cls"])


def _tidy(value: JsonSchemaValue, cls: Any) -> JsonSchemaValue:
    """Describe a class and its fields from its docstring (not its title: see below)."""
    if cls is None:
        return value
    own = cls.__dict__.get("__doc__") or ""
    if own.startswith(f"{cls.__name__}("):  # a dataclass's generated signature
        own = ""
    if own and "description" in value:
        text, names = describe(own)
        value["description"] = text
        if not text:
            del value["description"]
        for key, field in value.get("properties", {}).items():
            if key in names and "description" not in field:
                field["description"] = names[key]
    return value


def _parameter(param: inspect.Parameter, docs: Mapping[str, str]) -> tuple[Any, Any]:
    """Return a parameter's annotation and its pydantic field (aliased to its name)."""
    if param.kind not in _KEYWORD:  # the model's input is an object: names only
        msg = f"parameter {param.name!r} is {param.kind.description}: name it"
        raise _UnsupportedError(msg)
    if param.annotation is param.empty:
        msg = f"parameter {param.name!r} has no type hint (annotate it; Any accepts anything)"
        raise _UnsupportedError(msg)
    hint = param.annotation
    text = docs.get(param.name)
    if text is None and get_origin(hint) is Annotated:
        text = next((m for m in get_args(hint)[1:] if isinstance(m, str)), None)
    extra: dict[str, Any] = {"alias": param.name}
    if text is not None:
        extra["description"] = text
    if param.default is not param.empty:
        extra["default"] = param.default
    return hint, Field(**extra)


@frozen
class InputModel:
    """A tool's parameters as one pydantic model: its schema, and the check of input.

    Attributes:
        adapter: the `TypeAdapter` of the model (its fields alias the parameters).
        schema: the `input_schema` shown to the model.
        names: the parameters, in order.
    """

    adapter: TypeAdapter[Any]
    schema: Mapping[str, Any]
    names: tuple[str, ...]

    def bind(self, tool_input: object) -> dict[str, Any]:
        """Validate the model's *tool_input*: the keyword arguments it gives.

        Raises:
            ArgumentError: every problem, written for the model.
        """
        try:
            model = self.adapter.validate_python(tool_input)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            message = _explain(errors, self.names)
            raise ArgumentError(message, errors=errors) from None
        fields = type(model).model_fields
        return {
            fields[name].alias or name: getattr(model, name)
            for name in model.model_fields_set
        }


def _where(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out


def _explain(errors: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """Say what is wrong with the input, each problem where it is, in one line."""
    accepted = f" (accepted: {', '.join(names) or 'none'})"
    problems: list[str] = []
    for error in errors:
        where, kind = _where(error["loc"]), error["type"]
        if not where:
            problems.append("the input must be an object of the tool's parameters")
        elif kind == "missing":
            problems.append(f"{where!r} is required")
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            at_top = len(error["loc"]) == 1
            problems.append(f"{where!r} is not accepted{accepted if at_top else ''}")
        else:
            shown = repr(error.get("input"))
            shown = shown if len(shown) <= _SHOWN else f"{shown[: _SHOWN - 3]}..."
            problems.append(f"{where!r}: {error['msg']} (got {shown})")
    return "; ".join(dict.fromkeys(problems))


def _inline(value: Any, defs: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
    """Replace `$ref`s by their definitions, but for recursive ones (kept)."""
    if isinstance(value, list):
        return [_inline(v, defs, stack) for v in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in stack or name not in defs:
            return value
        rest = {k: v for k, v in value.items() if k != "$ref"}
        return {**_inline(defs[name], defs, (*stack, name)), **rest}
    return {
        k: {n: _inline(s, defs, stack) for n, s in v.items()}
        if k in _SCHEMA_MAPS and isinstance(v, dict)
        else _inline(v, defs, stack)
        if k in (*_SCHEMA_ONE, *_SCHEMA_LISTS)
        else v
        for k, v in value.items()
    }


def _refs(value: Any) -> set[str]:
    """Name the definitions *value* still refers to."""
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    if not isinstance(value, dict):
        return set()
    ref = value.get("$ref")
    found = {ref.removeprefix("#/$defs/")} if isinstance(ref, str) else set()
    return found.union(*(_refs(v) for v in value.values()))


def _close(value: Any) -> None:
    """Say `additionalProperties: false` on objects with properties that say nothing."""
    if isinstance(value, list):
        for item in value:
            _close(item)
        return
    if not isinstance(value, dict):
        return
    if "properties" in value and "additionalProperties" not in value:
        value["additionalProperties"] = False
    if not _json_default(value):
        del value["default"]
    for key, item in value.items():
        if key in _SCHEMA_MAPS and isinstance(item, dict):
            for schema in item.values():
                _close(schema)
        elif key in (*_SCHEMA_ONE, *_SCHEMA_LISTS):
            _close(item)


def _json_default(schema: Mapping[str, Any]) -> bool:
    """Tell whether *schema* has no default, or one that is JSON (not NaN)."""
    if "default" not in schema:
        return True
    stack = [schema["default"]]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _input_schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    with warnings.catch_warnings():  # a default that is not JSON is left out: fine
        warnings.simplefilter("ignore", pydantic.json_schema.PydanticJsonSchemaWarning)
        raw = adapter.json_schema(schema_generator=_Schema)
    defs = raw.pop("$defs", {})
    raw.pop("title", None)
    for name, definition in defs.items():  # a class's name, made its title
        title = definition.get("title")
        if isinstance(title, str) and (name == title or name.endswith(f"__{title}")):
            del definition["title"]
    schema = _inline(raw, defs, ())
    kept = _refs(schema)
    while more := {n for d in kept for n in _refs(defs.get(d))} - kept:
        kept |= more
    if kept:
        schema["$defs"] = {n: _inline(defs[n], defs, (n,)) for n in sorted(kept)}
    _close(schema)
    return {"type": "object", **{k: v for k, v in schema.items() if k != "type"}}


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return *schema* as strict tool use accepts it: other keywords become text.

    A keyword strict mode refuses is taken out and said in the description ("Limits:
    minimum 1, maximum 10."), so the model still reads it; `oneOf` becomes `anyOf`.
    """
    out: dict[str, Any] = {}
    said: list[str] = []
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, Mapping):
            out[key] = {name: strict_schema(item) for name, item in value.items()}
        elif key in ("anyOf", "allOf", "oneOf") and isinstance(value, list):
            out["allOf" if key == "allOf" else "anyOf"] = [
                strict_schema(item) for item in value
            ]
        elif key == "items" and isinstance(value, Mapping):
            out[key] = strict_schema(value)
        elif (
            key in _STRICT_KEYS
            or (key == "format" and value in _STRICT_FORMATS)
            or (key == "minItems" and value in (0, 1))
        ):
            out[key] = value
        else:
            said.append(f"{key} {json.dumps(value, ensure_ascii=False)}")
    if said:
        limits = f"Limits: {', '.join(said)}."
        text = out.get("description")
        out["description"] = f"{text}\n\n{limits}" if text else limits
    return out


def _refusal(hint: Any) -> str | None:
    """Say why pydantic gives *hint* no schema (its first line), or None if it does."""
    try:
        _input_schema(TypeAdapter(hint))
    except (pydantic.PydanticUserError, NameError, TypeError) as exc:
        return str(exc).splitlines()[0]
    return None


def _culprit(
    fields: Mapping[str, tuple[Any, Any]], exc: Exception
) -> _UnsupportedError:
    """Find the parameter whose type pydantic refused; say so."""
    for key, (hint, _) in fields.items():
        if (why := _refusal(hint)) is not None:
            return _UnsupportedError(f"parameter {key!r}: {why}")
    return _UnsupportedError(str(exc).splitlines()[0])


def derive(
    fn: Callable[..., Any], *, tool_name: str, doc: str | None, strict: bool = False
) -> tuple[str, dict[str, Any], InputModel]:
    """Read *fn*'s signature and *doc*: a description, the input schema, the model.

    *strict*: the schema for strict tool use (`strict_schema`).

    Raises:
        InvalidInputError: an unreadable signature, or a parameter with no schema.
    """
    text, docs = describe(doc)
    fields: dict[str, tuple[Any, Any]] = {}
    try:
        params = inspect.signature(fn, eval_str=True).parameters.values()
        fields = {p.name: _parameter(p, docs) for p in params}
        # Fields p0, p1...: a parameter may be called anything (`schema`, `json`).
        definitions: dict[str, Any] = {
            f"p{i}": field for i, field in enumerate(fields.values())
        }
        model = pydantic.create_model(
            f"{tool_name}_input", __config__=ConfigDict(extra="forbid"), **definitions
        )
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        schema = _input_schema(adapter)
    except (pydantic.PydanticUserError, TypeError) as exc:
        error = (
            _culprit(fields, exc)
            if isinstance(exc, pydantic.PydanticUserError)
            else exc
        )
        msg = f"tool {tool_name!r}: {error}; pass input_schema= to describe the input yourself"
        raise InvalidInputError(msg) from None
    except (_UnsupportedError, ValueError, NameError, SyntaxError) as exc:
        msg = f"tool {tool_name!r}: {exc}; pass input_schema= to describe the input yourself"
        raise InvalidInputError(msg) from None
    if strict:
        schema = strict_schema(schema)
    return text, schema, InputModel(adapter, schema, tuple(fields))
