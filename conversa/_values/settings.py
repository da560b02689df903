"""Every flag conversa stores, typed: the one place that knows their keys.

A conversation record and each turn carry `flags`, one JSON object, so later
features need no migration. conversa's own entries are declared here, each as a
`Flag`: its JSON key, how the stored value reads back (typed, tolerant of what an
older or foreign writer left), and how a value is written. Nothing else spells a
key: `BUDGET.of(record)` reads, `BUDGET.set(record, config)` returns the record's
flags with one entry changed, `TOKENS.entry(counts)` is the one-key mapping a
store merges into a turn's flags.

Record flags (`RECORD_FLAGS`):

- `BUDGET` ``"budget"``: a `BudgetConfig` (fixed budget or margin, low watermark,
  pinning);
- `CACHE` ``"cache"``: a `CacheConfig` (breakpoints on or off, TTL, diagnostics);
- `FIXED_TOKENS` ``"fixed_tokens"``: exact system+tools counts learned from usage,
  `{tokenizer: {"key": content hash, "tokens": n}}` (`conversa._core.calibrate`);
- `PINNED` ``"pinned"``: (first, last) seq ranges pinned with `Conversation.pin`;
- `BATCH` ``"batch"``: the batch a conversation waits on and, once collected, its
  outcome (`conversa._flows.batch.BatchEntry.to_flag`).

Turn flags (`TURN_FLAGS`):

- `TOKENS` ``"tokens"``: exact counts by tokenizer, `{tokenizer: n}`;
- `VOUCHED` ``"vouched"``: indices of blocks of kinds conversa does not know that
  the caller vouched for (an import takes them as they are);
- `RETRACTS` ``"retracts"``: on a retraction, the seqs it hides from replay;
- `COVERS` ``"covers"``: on a summary, the (first, last) seq it stands in for;
- `CONTINUATION` ``"continuation"``: a user turn conversa added to ask a model
  without prefill to continue a cut reply;
- `TOKEN_RATIO` ``"token_ratio"``: the conversation's learned ratio of exact counts
  to conversa's estimate, by tokenizer, `{tokenizer: TokenRatio}` in its storage
  form, as it stood after the call that made this turn's count exact
  (`conversa._core.calibrate`). Kept on the turn, not the record, so it is stored
  with the counts that call already writes; a send reads the newest one.

The two configurations are values of their own, public as `conversa.BudgetConfig`
and `conversa.CacheConfig`.

**Budget.** `budget_for` is the model's context window (from the capability
table; a conversation may override it) minus `max_tokens` (thinking is part of the
output) minus a margin, or a fixed number. The default margin is
`max(1,024, 2% of the window)`: exact counts are not perfectly additive (message
framing costs a few tokens per message, and a window of a thousand messages on a
1M model adds up), older models count an assistant turn's thinking only while it
is the newest, and the hidden tool-use prompt is only estimated until the first
call; 2% covers that on the largest windows and 1,024 on the smallest. A fixed
budget is for cost control; it is never allowed above window minus `max_tokens`.
The low watermark is explained with the window (`conversa._core.window`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Generic, Literal, TypeAlias, TypeVar

from attrs import asdict, astuple, field, fields, frozen, validators

from .._exceptions import InvalidInputError
from .capabilities import ModelCapabilities
from .params import RequestParams
from .turns import RETRACTS_KEY, ConversationRecord, Turn, seqs_of

__all__ = [
    "BATCH",
    "BUDGET",
    "CACHE",
    "CONTINUATION",
    "COVERS",
    "DEFAULT_LOW_WATERMARK",
    "FIXED_TOKENS",
    "PINNED",
    "RECORD_FLAGS",
    "RETRACTS",
    "TOKENS",
    "TOKEN_RATIO",
    "TURN_FLAGS",
    "VOUCHED",
    "BudgetConfig",
    "CacheConfig",
    "Flag",
    "RecordFlag",
    "TokenRatio",
    "TurnFlag",
    "budget_for",
    "default_margin",
]

DEFAULT_MARGIN_FLOOR = 1024
DEFAULT_MARGIN_SHARE = 0.02
DEFAULT_LOW_WATERMARK = 0.9


def default_margin(context_window: int) -> int:
    """Return the default margin for a window: max(1,024, 2% of it)."""
    return max(DEFAULT_MARGIN_FLOOR, math.ceil(context_window * DEFAULT_MARGIN_SHARE))


def budget_for(
    caps: ModelCapabilities,
    params: RequestParams,
    *,
    margin: int | None = None,
    fixed: int | None = None,
) -> int:
    """Return the input token budget of a request (never below 0).

    Args:
        caps: the model's capabilities, the conversation's overrides applied.
        params: the request parameters (their `max_tokens`).
        margin: tokens kept free; None for `default_margin`.
        fixed: a budget chosen by the caller, capped at window minus max_tokens.
    """
    room = caps.context_window - params.max_tokens
    if fixed is not None:
        return max(0, min(fixed, room))
    spare = default_margin(caps.context_window) if margin is None else margin
    return max(0, room - spare)


def _opt_int(minimum: int) -> Any:
    def check(_: Any, attribute: Any, value: Any) -> None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        if value is not None and not ok:
            msg = f"{attribute.name} must be None or an integer >= {minimum}, not {value!r}"
            raise InvalidInputError(msg)

    return check


def _fraction(_: Any, attribute: Any, value: float) -> None:
    if not 0 < value <= 1:
        msg = f"{attribute.name} must be in (0, 1], not {value!r}"
        raise InvalidInputError(msg)


@frozen(kw_only=True)
class BudgetConfig:
    """How a conversation sizes its window.

    Attributes:
        fixed: a fixed input budget in tokens, instead of window minus max_tokens
            minus margin.
        margin: tokens kept free under the window; None for `default_margin`.
        low_watermark: the share of the budget a window is cut down to when it
            overflows (see the module docstring).
        pin_first_exchange: whether the first exchange is always replayed.
    """

    fixed: int | None = field(default=None, validator=_opt_int(1))
    margin: int | None = field(default=None, validator=_opt_int(0))
    low_watermark: float = field(default=DEFAULT_LOW_WATERMARK, validator=_fraction)
    pin_first_exchange: bool = True

    def budget(self, caps: ModelCapabilities, params: RequestParams) -> int:
        """Return `budget_for` with this configuration."""
        return budget_for(caps, params, margin=self.margin, fixed=self.fixed)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the storage form."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> BudgetConfig:
        """Rebuild a configuration from its storage form; missing keys take defaults."""
        return cls(**{a.name: data[a.name] for a in fields(cls) if a.name in data})


@frozen
class CacheConfig:
    """How a conversation uses the prompt cache.

    Attributes:
        enabled: whether conversa places cache_control breakpoints (on by default:
            a long conversation pays 0.1x for the prefix it reads back).
        ttl: "5m" (writes cost 1.25x input) or "1h" (2x; worth it when turns are
            more than five minutes apart).
        diagnostics: send `diagnostics.previous_message_id` so each reply reports
            why the cache missed; the reason is kept with the stored reply.
    """

    enabled: bool = True
    ttl: Literal["5m", "1h"] = field(
        default="5m", validator=validators.in_(("5m", "1h"))
    )
    diagnostics: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        """Return the storage form."""
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> CacheConfig:
        """Rebuild a configuration from its storage form."""
        return cls(**{a.name: data[a.name] for a in fields(cls) if a.name in data})


#: `TokenRatio`'s fields and their JSON keys, in order.
_RATIO_KEYS = ("weight", "share", "ratio", "share2", "cross", "spread")


@frozen
class TokenRatio:
    """A conversation's running record of exact token counts against its estimates.

    One per tokenizer: running (weighted) means over the samples, from which
    `conversa._core.calibrate` fits the ratio exact / estimate as a straight line
    in the *share* of an estimate that is not words (punctuation, characters
    outside ASCII, framing: `conversa._core.estimate.estimate_parts`). This is only
    the stored value.

    Attributes:
        weight: how much evidence the means rest on (capped).
        share: the mean share.
        ratio: the mean ratio.
        share2: the mean squared share.
        cross: the mean of share times ratio.
        spread: the running mean absolute error of the fitted line on the samples
            (each taken before it was learned).
    """

    weight: float
    share: float
    ratio: float
    share2: float
    cross: float
    spread: float = 0.0

    def to_json_dict(self) -> dict[str, Any]:
        """Return the storage form."""
        values = astuple(self)
        return {k: round(v, 6) for k, v in zip(_RATIO_KEYS, values, strict=True)}

    @classmethod
    def from_json_dict(cls, data: Any) -> TokenRatio | None:
        """Rebuild it from its storage form; None when the value is not one."""
        if not isinstance(data, Mapping):
            return None
        values: list[float] = []
        for key in _RATIO_KEYS:
            value = data.get(key)
            if not isinstance(value, int | float) or isinstance(value, bool):
                return None
            if not math.isfinite(value) or value < 0:
                return None
            values.append(float(value))
        weight, share, ratio, share2, cross, spread = values
        return cls(weight, share, ratio, share2, cross, spread)


T = TypeVar("T")
#: What carries flags: a conversation record or a turn.
Owner = TypeVar("Owner", ConversationRecord, Turn)


@frozen
class Flag(Generic[Owner, T]):
    """One entry conversa keeps in a record's or a turn's `flags`.

    Attributes:
        key: the JSON key (stored data depends on it: never rename one).
        read: the stored JSON value → the typed value.
        write: the typed value → the JSON value to store.
        default: the value when the key is absent.
    """

    key: str
    read: Callable[[Any], T] = field(repr=False)
    write: Callable[[T], Any] = field(repr=False)
    default: T = field(repr=False)

    def of(self, owner: Owner) -> T:
        """Read this flag of *owner* (the default when it is not set)."""
        flags = owner.flags
        return self.read(flags[self.key]) if self.key in flags else self.default

    def stored(self, owner: Owner) -> Any:
        """The JSON value *owner* keeps under this key, as it is (None if absent)."""
        return owner.flags.get(self.key)

    def entry(self, value: T) -> dict[str, Any]:
        """The one-key flags that set this flag to *value*."""
        return {self.key: self.write(value)}

    def set(self, owner: Owner, value: T) -> dict[str, Any]:
        """*owner*'s flags with this flag set to *value* (the others kept)."""
        return {**owner.flags, **self.entry(value)}


RecordFlag: TypeAlias = Flag[ConversationRecord, T]
TurnFlag: TypeAlias = Flag[Turn, T]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _budget(value: Any) -> BudgetConfig:
    return BudgetConfig.from_json_dict(value or {})


def _cache(value: Any) -> CacheConfig:
    return CacheConfig.from_json_dict(value or {})


def _ranges(value: Any) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in value or ())


def _write_ranges(value: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    return list(value)


def _indices(value: Any) -> frozenset[int]:
    return frozenset(value or ())


def _write_indices(value: frozenset[int]) -> list[int]:
    return sorted(value)


def _write_seqs(value: tuple[int, ...] | None) -> list[int]:
    return sorted(set(value or ()))


def _span(value: Any) -> tuple[int, int] | None:
    """A summary's (first, last) seqs; None unless they are 1 <= first <= last."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        return None
    first, last = value
    return (first, last) if 0 < first <= last else None


def _write_span(value: tuple[int, int] | None) -> list[int] | None:
    return None if value is None else list(value)


def _write_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _ratios(value: Any) -> Mapping[str, TokenRatio]:
    """Each tokenizer's ratio; entries that do not read back are left out."""
    out = {}
    for tokenizer, entry in _mapping(value).items():
        ratio = TokenRatio.from_json_dict(entry)
        if ratio is not None:
            out[str(tokenizer)] = ratio
    return out


def _write_ratios(value: Mapping[str, TokenRatio]) -> dict[str, Any]:
    return {k: v.to_json_dict() for k, v in value.items()}


BUDGET: RecordFlag[BudgetConfig] = Flag(
    "budget", _budget, BudgetConfig.to_json_dict, BudgetConfig()
)
CACHE: RecordFlag[CacheConfig] = Flag(
    "cache", _cache, CacheConfig.to_json_dict, CacheConfig()
)
FIXED_TOKENS: RecordFlag[Mapping[str, Any]] = Flag(
    "fixed_tokens", _mapping, _write_mapping, {}
)
PINNED: RecordFlag[tuple[tuple[int, int], ...]] = Flag(
    "pinned", _ranges, _write_ranges, ()
)
BATCH: RecordFlag[Mapping[str, Any]] = Flag("batch", _mapping, _write_mapping, {})

TOKENS: TurnFlag[Mapping[str, Any]] = Flag("tokens", _mapping, _write_mapping, {})
VOUCHED: TurnFlag[frozenset[int]] = Flag(
    "vouched", _indices, _write_indices, frozenset()
)
RETRACTS: TurnFlag[tuple[int, ...] | None] = Flag(
    RETRACTS_KEY, seqs_of, _write_seqs, ()
)
COVERS: TurnFlag[tuple[int, int] | None] = Flag("covers", _span, _write_span, None)
CONTINUATION: TurnFlag[bool] = Flag("continuation", bool, bool, default=False)
TOKEN_RATIO: TurnFlag[Mapping[str, TokenRatio]] = Flag(
    "token_ratio", _ratios, _write_ratios, {}
)

#: conversa's entries in `ConversationRecord.flags`.
RECORD_FLAGS: tuple[RecordFlag[Any], ...] = (BUDGET, CACHE, FIXED_TOKENS, PINNED, BATCH)
#: conversa's entries in `Turn.flags`.
TURN_FLAGS: tuple[TurnFlag[Any], ...] = (
    TOKENS,
    VOUCHED,
    RETRACTS,
    COVERS,
    CONTINUATION,
    TOKEN_RATIO,
)
