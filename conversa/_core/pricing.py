"""Prices and the cost ledger (pure).

`PRICES` holds Anthropic's list prices in USD per million tokens for each model:
input, output, and the cache multipliers of input (a 5-minute write, a 1-hour write,
a read or refresh). The Batch API halves everything, caching included. Money is
`Decimal`, so sums of many small calls are exact.

Sources, read on 2026-12-05 (each row's values are the page's, not derived):

- https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing"): Fable
  5.1 and Mythos 5.1 ($10/$50, reads $0.25: 0.025x), Fable 5 and Mythos 5 ($10/$50,
  reads $1), Opus 5, 4.8, 4.7, 4.6, 4.5 ($5/$25), Opus 4.1 and 4 ($15/$75), with
  5m/1h writes at 1.25x/2x; earlier versions of the page for Sonnet 4.5, Sonnet 4,
  Haiku 4.5 and Haiku 3.5.
- https://platform.claude.com/docs/en/models/overview and each model's page
  (https://platform.claude.com/docs/en/models/<model>/overview, "Pricing"): Opus 5.5
  ($4/$20, writes $5/$8, reads $0.20: 0.05x), Sonnet 5 ($2/$10, writes $2.50/$4,
  reads $0.20), Sonnet 5.5 ($2/$10), Haiku 5.5 ("from $0.10/$0.50"), Fable 5.2
  ($8/$40).
- Sonnet 5.5's reads at $0.10 (0.05x) since 2026-10-07, Haiku 5.5's two bands (a
  prompt over 100,000 tokens, cache reads and writes counted, pays $0.50/$2.50 on
  every token of the request; reads 0.1x in both) and Fable 5.2 / Mythos 5.2's
  writes and reads ($10/$16, $0.20: 0.025x): the pricing page as quoted by the
  genai-prices 0.2.5 data (which cites it) and by release notes that re-checked it.

Claude Mythos Preview has no published price there and is left out: pass its price.
Sonnet 4.6's $3/$15 with the standard multipliers comes from the same page's earlier
versions. Not modelled: server tool fees (web search per request), fast mode,
regional (`inference_geo`) surcharges, and the retired long-context premium.

Where prices come from, first to last: the *prices* a call passes (by exact or
canonical id), the `genai-prices` package when it is installed (the `prices` extra;
it is updated apart from conversa's releases, and its own `UpdatePrices` can refresh
it at run time), then `PRICES`. `Price` takes the multipliers, so a new model is one
line: `prices={"claude-new": Price(3, 15, read_multiplier="0.05")}`.

A model with no price: `cost` raises `InvalidInputError` (a wrong total is worse
than none when a caller asked for one), while `Ledger.add` still counts the call's
tokens and counts it in `unpriced_calls`, so bookkeeping never breaks a send.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import evolve, field, frozen

from .._exceptions import InvalidInputError
from .._values.capabilities import canonical_model
from .._values.turns import Turn, Usage

__all__ = [
    "PRICES",
    "PRICES_DATE",
    "Cost",
    "Ledger",
    "Price",
    "cost",
    "ledger_of",
    "price_for",
]

_MILLION = Decimal(1_000_000)

#: The day `PRICES` was checked against the sources in this module's docstring.
PRICES_DATE = "2026-12-05"


def _dec(value: Decimal | float | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_dec(value: Decimal | float | str | None) -> Decimal | None:
    return None if value is None else _dec(value)


@frozen
class Price:
    """A model's prices in USD per million tokens.

    Cache prices are multipliers of *input*: by default 1.25x for a 5-minute write,
    2x for a 1-hour write and 0.1x for a read, the API's standard ones; some models
    read for less (Fable 5.1: `read_multiplier=0.025`). An absolute
    *cache_write_5m*, *cache_write_1h* or *cache_read* wins over its multiplier.

    *long_prompt* prices, every token of it output included, a request whose prompt
    (input, cache writes and cache reads) is over *long_prompt_tokens* (Haiku 5.5:
    100,000). *estimate* marks a price that is not a published one.
    """

    input: Decimal = field(converter=_dec)
    output: Decimal = field(converter=_dec)
    cache_write_5m: Decimal | None = field(
        default=None, kw_only=True, converter=_opt_dec
    )
    cache_write_1h: Decimal | None = field(
        default=None, kw_only=True, converter=_opt_dec
    )
    cache_read: Decimal | None = field(default=None, kw_only=True, converter=_opt_dec)
    estimate: bool = field(default=False, kw_only=True)
    write_5m_multiplier: Decimal = field(
        default=Decimal("1.25"), kw_only=True, converter=_dec
    )
    write_1h_multiplier: Decimal = field(
        default=Decimal(2), kw_only=True, converter=_dec
    )
    read_multiplier: Decimal = field(
        default=Decimal("0.1"), kw_only=True, converter=_dec
    )
    long_prompt_tokens: int | None = field(default=None, kw_only=True)
    long_prompt: Price | None = field(default=None, kw_only=True)

    @property
    def write_5m(self) -> Decimal:
        """The price of a 5-minute cache write."""
        given = self.cache_write_5m
        return self.input * self.write_5m_multiplier if given is None else given

    @property
    def write_1h(self) -> Decimal:
        """The price of a 1-hour cache write."""
        given = self.cache_write_1h
        return self.input * self.write_1h_multiplier if given is None else given

    @property
    def read(self) -> Decimal:
        """The price of a cache read (or refresh)."""
        given = self.cache_read
        return self.input * self.read_multiplier if given is None else given

    def for_prompt(self, prompt_tokens: int) -> Price:
        """Return the price a request of *prompt_tokens* prompt tokens pays."""
        over = self.long_prompt_tokens
        if self.long_prompt is not None and over is not None and prompt_tokens > over:
            return self.long_prompt
        return self


def _table() -> dict[str, Price]:
    def read(multiplier: str) -> dict[str, Any]:
        return {"read_multiplier": multiplier}

    opus_4, opus_45 = Price(15, 75), Price(5, 25)
    fable_51 = Price(10, 50, **read("0.025"))
    fable_52 = Price(8, 40, **read("0.025"))
    haiku_55 = Price(
        "0.10",
        "0.50",
        long_prompt_tokens=100_000,
        long_prompt=Price("0.50", "2.50"),
    )
    return {
        "claude-opus-4": opus_4,
        "claude-opus-4-1": opus_4,
        **dict.fromkeys(
            (
                "claude-opus-4-5",
                "claude-opus-4-6",
                "claude-opus-4-7",
                "claude-opus-4-8",
                "claude-opus-5",
            ),
            opus_45,
        ),
        "claude-opus-5-5": Price(4, 20, **read("0.05")),
        **dict.fromkeys(
            ("claude-sonnet-4", "claude-sonnet-4-5", "claude-sonnet-4-6"),
            Price(3, 15),
        ),
        "claude-sonnet-5": Price(2, 10),
        "claude-sonnet-5-5": Price(2, 10, **read("0.05")),
        "claude-3-5-haiku": Price("0.80", 4),
        "claude-haiku-4-5": Price(1, 5),
        "claude-haiku-5-5": haiku_55,
        "claude-fable-5": Price(10, 50),
        "claude-mythos-5": Price(10, 50),
        "claude-fable-5-1": fable_51,
        "claude-mythos-5-1": fable_51,
        "claude-fable-5-2": fable_52,
        "claude-mythos-5-2": fable_52,
    }


#: List prices by canonical model id (`conversa._values.capabilities.canonical_model`),
#: as of `PRICES_DATE`.
PRICES: Mapping[str, Price] = _table()


def _tiered(value: Any) -> tuple[Decimal | None, int | None, Decimal | None]:
    """Read one of genai-prices' prices: (base, threshold, price over it)."""
    if value is None or isinstance(value, Decimal):
        return value, None, None
    tiers = getattr(value, "tiers", None) or []
    if len(tiers) != 1:  # a shape Price cannot hold: no price rather than a wrong one
        raise ValueError(value)
    return value.base, tiers[0].start, tiers[0].price


class _GenaiCache:
    """genai-prices' module, and its prices as `Price`s for the snapshot read."""

    module: Any = None  # genai_prices.data_snapshot; False: not installed
    snapshot: object = None
    prices: dict[str, Price | None] = {}  # noqa: RUF012 - one per process, by design


def _genai_snapshot() -> Any:
    """Return genai-prices' current data snapshot, or None when it is not installed."""
    if _GenaiCache.module is None:  # imported once: a failed import is slow
        try:
            # An optional extra (Python 3.11+), imported when a price is looked up.
            from genai_prices import data_snapshot  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            _GenaiCache.module = False
        else:
            _GenaiCache.module = data_snapshot
    return _GenaiCache.module.get_snapshot() if _GenaiCache.module else None


def _from_genai_prices(model: str) -> Price | None:
    """Return genai-prices' Anthropic price of *model*; None if it has none or is absent.

    Read once per model and snapshot (`UpdatePrices` swapping the snapshot in is seen).
    """
    snapshot = _genai_snapshot()
    if snapshot is None:
        return None
    if _GenaiCache.snapshot is not snapshot:
        _GenaiCache.snapshot, _GenaiCache.prices = snapshot, {}
    if model not in _GenaiCache.prices:
        _GenaiCache.prices[model] = _read_genai(snapshot, model)
    return _GenaiCache.prices[model]


def _read_genai(snapshot: Any, model: str) -> Price | None:
    anthropic = next((p for p in snapshot.providers if p.id == "anthropic"), None)
    found = anthropic.find_model(model) if anthropic is not None else None
    if found is None:
        return None
    keys = (
        "input_mtok",
        "output_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",
        "cache_read_mtok",
    )
    values = found.get_prices(_now()).__dict__
    base: dict[str, Decimal | None] = {}
    over: dict[str, Decimal | None] = {}
    threshold = None
    try:
        for key in keys:
            base[key], start, over[key] = _tiered(values.get(key))
            threshold = start if start is not None else threshold
    except ValueError:
        return None
    if base["input_mtok"] is None or base["output_mtok"] is None:
        return None
    long_prompt = _genai_price(over) if threshold is not None else None
    return evolve(
        _genai_price(base), long_prompt_tokens=threshold, long_prompt=long_prompt
    )


def _genai_price(values: Mapping[str, Decimal | None]) -> Price:
    return Price(
        values["input_mtok"] or 0,
        values["output_mtok"] or 0,
        cache_write_5m=values["cache_write_mtok"],
        cache_write_1h=values["cache_write_1h_mtok"],
        cache_read=values["cache_read_mtok"],
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """Return *model*'s price: *prices*, then genai-prices if installed, then `PRICES`.

    *prices* and `PRICES` are looked up by exact, then canonical id.
    """
    name = canonical_model(model)
    given = prices or {}
    found = given.get(model) or given.get(name)
    if found is None:
        found = _from_genai_prices(name)
    return found or PRICES.get(model) or PRICES.get(name)


@frozen
class Cost:
    """What calls cost, in USD, by kind of token."""

    input: Decimal = Decimal(0)
    output: Decimal = Decimal(0)
    cache_write: Decimal = Decimal(0)
    cache_read: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        """The sum of all four."""
        return self.input + self.output + self.cache_write + self.cache_read

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.input + other.input,
            self.output + other.output,
            self.cache_write + other.cache_write,
            self.cache_read + other.cache_read,
        )


def _split_writes(usage: Usage) -> tuple[int, int]:
    """Return (5m, 1h) cache-write tokens; all of them 5m when the split is absent."""
    detail = usage.raw.get("cache_creation")
    if not isinstance(detail, Mapping):
        return usage.cache_creation_input_tokens, 0
    hour = detail.get("ephemeral_1h_input_tokens")
    five = detail.get("ephemeral_5m_input_tokens")
    hour = hour if isinstance(hour, int) and not isinstance(hour, bool) else 0
    five = five if isinstance(five, int) and not isinstance(five, bool) else 0
    # Trust the split; whatever the total says beyond it is counted as 5m.
    return max(five, usage.cache_creation_input_tokens - hour), hour


def _is_batch(usage: Usage, *, batch: bool | None) -> bool:
    return usage.raw.get("service_tier") == "batch" if batch is None else batch


def cost(
    usage: Usage,
    model: str,
    *,
    batch: bool | None = None,
    prices: Mapping[str, Price] | None = None,
) -> Cost:
    """Return what one call cost.

    Args:
        usage: the call's usage (its `raw["cache_creation"]` splits 5m and 1h writes).
        model: the model that answered.
        batch: whether the Batch API's 50% applies; None reads the usage's
            `service_tier` ("batch").
        prices: prices that win over genai-prices' and `PRICES` (`prices=PRICES`
            uses conversa's table alone).

    Raises:
        InvalidInputError: no price is known for *model*.
    """
    found = price_for(model, prices)
    if found is None:
        msg = f"no price known for model {model!r}; pass prices={{{model!r}: Price(input, output)}}"
        raise InvalidInputError(msg)
    five, hour = _split_writes(usage)
    prompt = (
        usage.input_tokens
        + usage.cache_creation_input_tokens
        + usage.cache_read_input_tokens
    )
    price = found.for_prompt(prompt)
    scale = (Decimal("0.5") if _is_batch(usage, batch=batch) else Decimal(1)) / _MILLION
    return Cost(
        usage.input_tokens * price.input * scale,
        usage.output_tokens * price.output * scale,
        (five * price.write_5m + hour * price.write_1h) * scale,
        usage.cache_read_input_tokens * price.read * scale,
    )


@frozen
class Ledger:
    """Tokens and cost summed over the calls of a conversation.

    `add` returns a new ledger; a call whose model has no price adds its tokens
    and one to `unpriced_calls`, but no cost.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    cost: Cost = field(factory=Cost)
    unpriced_calls: int = 0

    @property
    def total_input_tokens(self) -> int:
        """Everything sent: uncached input, cache writes and cache reads."""
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    @property
    def cache_read_share(self) -> float:
        """Cache reads as a share of all input tokens (0.0 before any input)."""
        total = self.total_input_tokens
        return self.cache_read_tokens / total if total else 0.0

    def add(
        self,
        usage: Usage,
        model: str,
        *,
        batch: bool | None = None,
        prices: Mapping[str, Price] | None = None,
    ) -> Ledger:
        """Return this ledger with one more call (see `cost` for the arguments)."""
        five, hour = _split_writes(usage)
        changes: dict[str, Any] = {
            "calls": self.calls + 1,
            "input_tokens": self.input_tokens + usage.input_tokens,
            "output_tokens": self.output_tokens + usage.output_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens + five,
            "cache_write_1h_tokens": self.cache_write_1h_tokens + hour,
            "cache_read_tokens": self.cache_read_tokens + usage.cache_read_input_tokens,
        }
        if price_for(model, prices) is None:
            changes["unpriced_calls"] = self.unpriced_calls + 1
        else:
            changes["cost"] = self.cost + cost(usage, model, batch=batch, prices=prices)
        return evolve(self, **changes)


def ledger_of(
    turns: Iterable[Turn], *, prices: Mapping[str, Price] | None = None
) -> Ledger:
    """Sum the usage of the assistant turns among *turns*, each priced by its model."""
    ledger = Ledger()
    for turn in turns:
        if turn.role == "assistant" and turn.usage is not None:
            ledger = ledger.add(turn.usage, turn.model or "", prices=prices)
    return ledger
