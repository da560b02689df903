"""Prices and the cost ledger (pure).

`PRICES` holds list prices in USD per million tokens by model family, as of 2026:
input and output; a cache write costs 1.25x input (5-minute TTL) or 2x (1 hour), a
cache read 0.1x, and the Batch API halves everything, caching included
(MESSAGES_API.md §2.3, §8). Money is `Decimal`, so sums of many small calls are
exact. Entries marked `estimate` (Fable, Mythos) come from third-party reports,
not Anthropic's pricing page; every entry must be checked against the pricing
page, and any can be replaced by passing `prices={model: Price(...)}`, which also
adds models the table does not know.

Not modelled: server tool fees (web search per request), fast mode, regional
(`inference_geo`) surcharges, and the retired long-context premium.

A model with no price: `cost` raises `InvalidInputError` (a wrong total is worse
than none when a caller asked for one), while `Ledger.add` still counts the call's
tokens and counts it in `unpriced_calls`, so bookkeeping never breaks a send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from attrs import evolve, field, frozen

from .._exceptions import InvalidInputError
from .._values.capabilities import canonical_model
from .._values.turns import Turn, Usage

__all__ = [
    "PRICES",
    "Cost",
    "Ledger",
    "Price",
    "cost",
    "ledger_of",
    "price_for",
]

_MILLION = Decimal(1_000_000)


def _dec(value: Decimal | float | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opt_dec(value: Decimal | float | str | None) -> Decimal | None:
    return None if value is None else _dec(value)


@frozen
class Price:
    """A model's prices in USD per million tokens.

    The cache prices default to the API's multipliers of *input*: 1.25x for a
    5-minute write, 2x for a 1-hour write, 0.1x for a read.
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

    @property
    def write_5m(self) -> Decimal:
        """The price of a 5-minute cache write."""
        return (
            self.cache_write_5m
            if self.cache_write_5m is not None
            else self.input * Decimal("1.25")
        )

    @property
    def write_1h(self) -> Decimal:
        """The price of a 1-hour cache write."""
        return (
            self.cache_write_1h if self.cache_write_1h is not None else self.input * 2
        )

    @property
    def read(self) -> Decimal:
        """The price of a cache read (or refresh)."""
        return (
            self.cache_read
            if self.cache_read is not None
            else self.input * Decimal("0.1")
        )


def _table() -> dict[str, Price]:
    opus_4, opus_45, opus_5 = Price(15, 75), Price(5, 25), Price(4, 20)
    sonnet, haiku = Price(3, 15), Price(1, 5)
    mythos_class = Price(10, 50, estimate=True)
    return {
        "claude-opus-4": opus_4,
        "claude-opus-4-1": opus_4,
        **dict.fromkeys(
            (
                "claude-opus-4-5",
                "claude-opus-4-6",
                "claude-opus-4-7",
                "claude-opus-4-8",
            ),
            opus_45,
        ),
        "claude-opus-5": opus_5,
        "claude-opus-5-5": opus_5,
        **dict.fromkeys(
            (
                "claude-sonnet-4",
                "claude-sonnet-4-5",
                "claude-sonnet-4-6",
                "claude-sonnet-5",
                "claude-sonnet-5-5",
            ),
            sonnet,
        ),
        "claude-haiku-4-5": haiku,
        "claude-haiku-5-5": haiku,
        "claude-3-5-haiku": Price("0.8", 4),
        **dict.fromkeys(
            (
                "claude-fable-5",
                "claude-fable-5-1",
                "claude-fable-5-2",
                "claude-mythos-5",
                "claude-mythos-5-1",
                "claude-mythos-5-2",
            ),
            mythos_class,
        ),
        "claude-mythos-preview": Price(25, 125, estimate=True),
    }


#: List prices by canonical model id (`conversa._values.capabilities.canonical_model`).
PRICES: Mapping[str, Price] = _table()


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """Return *model*'s price: from *prices* first (by exact or canonical id), then `PRICES`."""
    name = canonical_model(model)
    for table in (prices or {}, PRICES):
        found = table.get(model) or table.get(name)
        if found is not None:
            return found
    return None


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
        prices: overrides and additions to `PRICES`.

    Raises:
        InvalidInputError: no price is known for *model*.
    """
    price = price_for(model, prices)
    if price is None:
        msg = f"no price known for model {model!r}; pass prices={{{model!r}: Price(input, output)}}"
        raise InvalidInputError(msg)
    five, hour = _split_writes(usage)
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
