"""Request parameters, and every table of body fields: one home per API field.

A field conversa models is declared once, as an attrs field of `RequestParams`.
Its metadata (`_spec`) says what else conversa must know about it, and every
table below is derived from `attrs.fields(RequestParams)`, so adding a field is
one line:

- *kwarg*: the keyword a caller passes it by (default: its name). `metadata` is
  `api_metadata`: a conversation's own `metadata` is the application's.
- *sent*: whether it is the top-level body field of its name (`betas` go in the
  `anthropic-beta` header instead, and `extra` is spread into the body as it is).
- *always*: sent and stored even when empty, right after `model`; every other
  field is sent (after `messages`) and stored only when set.
- *rules*: what the API's other endpoints make of it (`BodyField`).

Body fields conversa does not model are accepted by name when they are in
`PASSTHROUGH` (they ride in `extra`); the fields conversa fills from the
conversation and the call itself are `OWNED`. `BODY_FIELDS` is all three.

Secrets (an MCP server's authorization token) may ride in `tools` or `extra`: the
storage form leaves them out (`SECRET_KEYS`) and the repr masks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import Attribute, evolve, field, fields, frozen

from .._exceptions import InvalidInputError

__all__ = [
    "BODY_FIELDS",
    "DEFAULT_MAX_TOKENS",
    "KWARGS",
    "NOT_COUNTED",
    "NOT_IN_BATCH",
    "OWNED",
    "PARAMS",
    "PASSTHROUGH",
    "RESERVED",
    "SECRET_KEYS",
    "BodyField",
    "Param",
    "RequestParams",
    "body_fields",
    "find_secret",
    "params_from_kwargs",
    "updated_params",
]

#: The `max_tokens` a conversation sends when the caller names none. Large enough
#: for a long answer on every current model, small enough that a non-streamed call
#: stays well inside the API's 10-minute guidance.
DEFAULT_MAX_TOKENS = 4096

#: Keys whose values are secrets: never stored, never logged (an MCP server's token).
SECRET_KEYS = frozenset(
    {"authorization_token", "api_key", "x-api-key", "authorization"}
)


@frozen
class BodyField:
    """What conversa knows about one top-level field of a request body.

    Attributes:
        counted: count_tokens takes it (it takes the create body less
            max_tokens, stream, metadata, stop_sequences and diagnostics:
            https://platform.claude.com/docs/en/build-with-claude/token-counting).
        in_batch: a batch request may carry it (Message Batches docs).
        removed_in: the API version from which any value is rejected.
    """

    counted: bool = True
    in_batch: bool = True
    removed_in: str | None = None


#: The metadata key of a `RequestParams` field's description.
_SPEC = "conversa"


def _spec(
    *,
    kwarg: str | None = None,
    sent: bool = True,
    always: bool = False,
    rules: BodyField | None = None,
) -> dict[str, Any]:
    """Describe a `RequestParams` field (see the module docstring)."""
    spec = {"kwarg": kwarg, "sent": sent, "always": always, "rules": rules}
    return {_SPEC: spec}


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _strip_secrets(v)
            for k, v in value.items()
            if k.lower() not in SECRET_KEYS
        }
    if isinstance(value, list | tuple):
        return [_strip_secrets(v) for v in value]
    return value


def find_secret(value: Any, path: str = "") -> str | None:
    """Return the path of the first secret-named key inside *value*, if any."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if str(k).lower() in SECRET_KEYS:
                return here
            found = find_secret(v, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = find_secret(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _redacted(value: Any) -> str:
    """Repr *value* with secrets replaced: an MCP token may ride in `extra`."""
    return repr(_mask_secrets(value))


def _mask_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: "<redacted>" if k.lower() in SECRET_KEYS else _mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_mask_secrets(v) for v in value]
    return value


def _opt_tuple(value: Any) -> tuple[Any, ...] | None:
    return None if value is None else tuple(value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # A named, typed converter: with `converter=tuple` mypy cannot type the argument.
    return tuple(value)


def _positive(_: Any, attribute: Any, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        msg = f"{attribute.name} must be a positive integer, not {value!r}"
        raise InvalidInputError(msg)


@frozen
class RequestParams:
    """The request parameters a conversation sends by default.

    Attributes:
        max_tokens: output cap per call (thinking included); `DEFAULT_MAX_TOKENS`.
        tools, tool_choice, thinking, output_config, stop_sequences: as the API has them.
        metadata: the API's own `metadata` object (`{"user_id": ...}`), sent with calls.
        betas: beta names for the `anthropic-beta` header.
        extra: further top-level body fields (service_tier, container, ...).
    """

    max_tokens: int = field(
        default=DEFAULT_MAX_TOKENS,
        validator=_positive,
        metadata=_spec(always=True, rules=BodyField(counted=False)),
    )
    tools: tuple[Mapping[str, Any], ...] | None = field(
        default=None, converter=_opt_tuple, hash=False, metadata=_spec()
    )
    tool_choice: Mapping[str, Any] | None = field(
        default=None, hash=False, metadata=_spec()
    )
    thinking: Mapping[str, Any] | None = field(
        default=None, hash=False, metadata=_spec()
    )
    output_config: Mapping[str, Any] | None = field(
        default=None, hash=False, metadata=_spec()
    )
    stop_sequences: tuple[str, ...] | None = field(
        default=None,
        converter=_opt_tuple,
        metadata=_spec(rules=BodyField(counted=False)),
    )
    metadata: Mapping[str, Any] | None = field(
        default=None,
        hash=False,
        metadata=_spec(kwarg="api_metadata", rules=BodyField(counted=False)),
    )
    betas: tuple[str, ...] = field(
        default=(), converter=_str_tuple, metadata=_spec(sent=False)
    )
    extra: Mapping[str, Any] = field(
        factory=dict, hash=False, repr=_redacted, metadata=_spec(sent=False)
    )

    def merged(self, overrides: Mapping[str, Any]) -> RequestParams:
        """Return these params with per-call *overrides*; unknown names go to `extra`."""
        if not overrides:
            return self
        known = {k: v for k, v in overrides.items() if k in _NAMES and k != "extra"}
        extra = {**self.extra, **overrides.get("extra", {})}
        extra.update((k, v) for k, v in overrides.items() if k not in _NAMES)
        return evolve(self, **known, extra=extra)

    def to_json_dict(self) -> dict[str, Any]:
        """The storage form, with secrets (MCP authorization tokens, keys) removed."""
        out: dict[str, Any] = {}
        for param in PARAMS:
            value = getattr(self, param.name)
            if param.always or value:
                out[param.name] = _strip_secrets(value)
        return out

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> RequestParams:
        """Rebuild params from their storage form."""
        return cls(**{p.name: data[p.name] for p in PARAMS if p.name in data})


@frozen
class Param:
    """One modelled request parameter, as `RequestParams`'s field metadata has it.

    Attributes:
        name: the attribute, and the key of the storage form.
        kwarg: the keyword a caller passes it by.
        body: the top-level body field it is sent as; None when it is not one.
        always: sent and stored even when empty, right after `model`.
        rules: what the API's other endpoints make of it.
    """

    name: str
    kwarg: str
    body: str | None
    always: bool
    rules: BodyField


def _param(attribute: Attribute[Any]) -> Param:
    spec = attribute.metadata[_SPEC]
    return Param(
        attribute.name,
        spec["kwarg"] or attribute.name,
        attribute.name if spec["sent"] else None,
        spec["always"],
        spec["rules"] or BodyField(),
    )


#: Every modelled parameter, in declaration order (the body and storage order).
PARAMS: tuple[Param, ...] = tuple(_param(a) for a in fields(RequestParams))
_NAMES = frozenset(p.name for p in PARAMS)
#: The keyword a caller uses → the `RequestParams` field it sets.
KWARGS: Mapping[str, str] = {p.kwarg: p.name for p in PARAMS}

#: Body fields conversa fills from the conversation and the call itself.
OWNED: Mapping[str, BodyField] = {
    "model": BodyField(),
    "system": BodyField(),
    "messages": BodyField(),
    "stream": BodyField(counted=False, in_batch=False),
}
#: Top-level body fields accepted by name and sent as they are (they ride in `extra`).
PASSTHROUGH: Mapping[str, BodyField] = {
    "temperature": BodyField(removed_in="2026-10-21"),
    "top_p": BodyField(removed_in="2026-10-21"),
    "top_k": BodyField(removed_in="2026-10-21"),
    "service_tier": BodyField(),
    "container": BodyField(),
    "inference_geo": BodyField(),
    "speed": BodyField(in_batch=False),
    "diagnostics": BodyField(counted=False),
    "cache_control": BodyField(),
    "context_management": BodyField(),
    "mcp_servers": BodyField(),
}
#: Every top-level body field conversa knows by name.
BODY_FIELDS: Mapping[str, BodyField] = {
    **OWNED,
    **{p.body: p.rules for p in PARAMS if p.body is not None},
    **PASSTHROUGH,
}
#: Fields count_tokens does not take: left out of the body it is sent.
NOT_COUNTED = frozenset(name for name, f in BODY_FIELDS.items() if not f.counted)
#: Fields a batch request may not carry, in `BODY_FIELDS` order.
NOT_IN_BATCH = tuple(name for name, f in BODY_FIELDS.items() if not f.in_batch)
#: Fields conversa sets itself: a caller's `extra` may not shadow them.
RESERVED = frozenset(
    {*OWNED, *(p.body for p in PARAMS if p.always and p.body is not None)}
)


def _body_value(value: Any) -> Any:
    """A parameter's value as plain JSON data (the body is serialized as it is)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return [dict(v) if isinstance(v, Mapping) else v for v in value]
    return value


def body_fields(params: RequestParams, *, always: bool) -> dict[str, Any]:
    """The modelled body fields to send, in declaration order.

    With *always*, the fields sent on every call (they go right after `model`);
    without, the others that are set (they go after `messages`). `extra` is not
    among them: the body ends with it.
    """
    out: dict[str, Any] = {}
    for param in PARAMS:
        value = getattr(params, param.name)
        if param.body is not None and param.always is always and (always or value):
            out[param.body] = _body_value(value)
    return out


def params_from_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Map a caller's keyword parameters to `RequestParams.merged` input.

    Raises:
        InvalidInputError: for a name that is neither a parameter nor a known body
            field (a typo would otherwise reach the API as an unknown field).
    """
    out: dict[str, Any] = {}
    extra: dict[str, Any] = dict(kwargs.get("extra") or {})
    for name, value in kwargs.items():
        if name in KWARGS:
            if name != "extra":
                out[KWARGS[name]] = value
        elif name in PASSTHROUGH:
            extra[name] = value
        else:
            known = sorted({*KWARGS, *PASSTHROUGH})
            msg = (
                f"unknown request parameter {name!r}; known: {', '.join(known)} "
                "(pass other body fields as extra={...})"
            )
            raise InvalidInputError(msg)
    if extra:
        out["extra"] = extra
    return out


def updated_params(params: RequestParams, kwargs: Mapping[str, Any]) -> RequestParams:
    """Return *params* changed the way `set_params(**kwargs)` documents.

    None leaves a field as it is (every field); `extra=` replaces the extra body
    fields as a whole (`extra={}` clears them); a body field passed by name
    (`service_tier=...`) sets that one extra field. An empty value (`tools=[]`,
    `thinking={}`) clears a field.

    Raises:
        InvalidInputError: an unknown parameter name.
    """
    changes = {k: v for k, v in kwargs.items() if v is not None}
    mapped = params_from_kwargs({k: v for k, v in changes.items() if k != "extra"})
    extra = dict(changes["extra"]) if "extra" in changes else dict(params.extra)
    extra.update(mapped.pop("extra", {}))
    return evolve(params, **mapped, extra=extra)
