"""Prices, the cost of a call and the ledger over a conversation."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from typing import Any

import pytest

from conversa._core import pricing
from conversa._core.pricing import (
    PRICES,
    Cost,
    Ledger,
    Price,
    cost,
    ledger_of,
    price_for,
)
from conversa._exceptions import InvalidInputError
from conversa._values.capabilities import canonical_model, known_models
from conversa._values.turns import Turn, Usage

D = Decimal
M = 1_000_000

# model: input, output, 5m write, 1h write, read, in USD per million tokens, as the
# pricing pages publish them (see conversa/_core/pricing.py's sources).
LIST = [
    ("claude-opus-4", 15, 75, "18.75", 30, "1.50"),
    ("claude-opus-4-1", 15, 75, "18.75", 30, "1.50"),
    ("claude-opus-4-5-20251101", 5, 25, "6.25", 10, "0.50"),
    ("claude-opus-4-6", 5, 25, "6.25", 10, "0.50"),
    ("claude-opus-4-7", 5, 25, "6.25", 10, "0.50"),
    ("claude-opus-4-8", 5, 25, "6.25", 10, "0.50"),
    ("claude-opus-5", 5, 25, "6.25", 10, "0.50"),
    ("claude-opus-5-5", 4, 20, 5, 8, "0.20"),
    ("claude-sonnet-4-0", 3, 15, "3.75", 6, "0.30"),
    ("claude-sonnet-4-6", 3, 15, "3.75", 6, "0.30"),
    ("claude-sonnet-4-6", 3, 15, "3.75", 6, "0.30"),
    ("claude-sonnet-5", 2, 10, "2.50", 4, "0.20"),
    ("claude-sonnet-5-5", 2, 10, "2.50", 4, "0.10"),
    ("claude-haiku-4-5", 1, 5, "1.25", 2, "0.10"),
    ("claude-haiku-5-5", "0.10", "0.50", "0.125", "0.20", "0.01"),
    ("claude-3-5-haiku-latest", "0.80", 4, 1, "1.60", "0.08"),
    ("claude-fable-5", 10, 50, "12.50", 20, 1),
    ("claude-mythos-5", 10, 50, "12.50", 20, 1),
    ("claude-fable-5-1", 10, 50, "12.50", 20, "0.25"),
    ("claude-mythos-5-1", 10, 50, "12.50", 20, "0.25"),
    ("claude-fable-5-2", 8, 40, 10, 16, "0.20"),
    ("claude-mythos-5-2", 8, 40, 10, 16, "0.20"),
]


def _row(price: Price | None) -> tuple[Decimal, ...]:
    assert price is not None
    return (price.input, price.output, price.write_5m, price.write_1h, price.read)


@pytest.mark.parametrize("row", LIST, ids=[r[0] for r in LIST])
def test_published_prices(row: tuple[Any, ...]) -> None:
    """Each model's table row gives the published prices, cache writes and reads too."""
    model, *values = row
    assert _row(price_for(model, PRICES)) == tuple(D(str(v)) for v in values)
    assert not PRICES[canonical_model(model)].estimate


def test_every_known_model_has_a_price() -> None:
    """The price table covers the capability table, but for Mythos Preview (no price)."""
    assert [m for m in known_models() if m not in PRICES] == ["claude-mythos-preview"]
    with pytest.raises(InvalidInputError, match="no price known"):
        cost(usage(input_tokens=1), "claude-mythos-preview", prices=PRICES)


def test_cache_prices_follow_the_multipliers_unless_given() -> None:
    """Writes cost 1.25x (5m) and 2x (1h) input, reads 0.1x; explicit values win."""
    price = Price(3, 15)
    assert (price.write_5m, price.write_1h, price.read) == (D("3.75"), D(6), D("0.3"))
    custom = Price("2", "8", cache_write_5m=1, cache_write_1h="3", cache_read=D("0.5"))
    assert (custom.write_5m, custom.write_1h, custom.read) == (D(1), D(3), D("0.5"))
    cheap = Price(
        4, 20, read_multiplier="0.05", write_5m_multiplier=1, write_1h_multiplier=3
    )
    assert (cheap.write_5m, cheap.write_1h, cheap.read) == (D(4), D(12), D("0.2"))


def test_a_cheap_cache_read_is_priced_as_published() -> None:
    """Fable 5.1 reads the cache at 0.025x input: a million read tokens cost $0.25."""
    read = usage(cache_read_input_tokens=M)
    assert cost(read, "claude-fable-5-1", prices=PRICES) == Cost(cache_read=D("0.25"))
    assert cost(read, "claude-fable-5", prices=PRICES) == Cost(cache_read=D(1))


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (100_000, Cost(D("0.0099"), D("0.0005"), cache_read=D("0.00001"))),
        (100_001, Cost(D("0.0495005"), D("0.0025"), cache_read=D("0.00005"))),
    ],
)
def test_long_prompt_band(prompt: int, expected: Cost) -> None:
    """Haiku 5.5: a prompt over 100,000 tokens (reads counted) pays the higher band."""
    given = usage(
        input_tokens=prompt - 1000, cache_read_input_tokens=1000, output_tokens=1000
    )
    assert cost(given, "claude-haiku-5-5", prices=PRICES) == expected


def usage(**kw: Any) -> Usage:
    """Usage from the API's form."""
    return Usage.from_api(kw)


COSTS = [
    pytest.param(
        usage(input_tokens=M, output_tokens=M),
        {},
        Cost(D(3), D(15)),
        id="input-and-output",
    ),
    pytest.param(
        usage(cache_creation_input_tokens=M, cache_read_input_tokens=M),
        {},
        Cost(cache_write=D("3.75"), cache_read=D("0.3")),
        id="writes-default-to-5m",
    ),
    pytest.param(
        usage(
            cache_creation_input_tokens=2 * M,
            cache_creation={
                "ephemeral_5m_input_tokens": M,
                "ephemeral_1h_input_tokens": M,
            },
        ),
        {},
        Cost(cache_write=D("9.75")),
        id="5m-and-1h-split",
    ),
    pytest.param(
        usage(
            cache_creation_input_tokens=2 * M,
            cache_creation={
                "ephemeral_1h_input_tokens": M,
                "ephemeral_5m_input_tokens": None,
            },
        ),
        {},
        Cost(cache_write=D("9.75")),
        id="split-remainder-is-5m",
    ),
    pytest.param(
        usage(input_tokens=M, output_tokens=M, cache_read_input_tokens=M),
        {"batch": True},
        Cost(D("1.5"), D("7.5"), cache_read=D("0.15")),
        id="batch-halves-everything",
    ),
    pytest.param(
        usage(input_tokens=M, service_tier="batch"),
        {},
        Cost(D("1.5")),
        id="batch-from-service-tier",
    ),
    pytest.param(
        usage(input_tokens=M, service_tier="batch"),
        {"batch": False},
        Cost(D(3)),
        id="batch-overridden",
    ),
    pytest.param(
        usage(input_tokens=M),
        {"prices": {"claude-sonnet-4-6": Price(1, 2)}},
        Cost(D(1)),
        id="override",
    ),
]


@pytest.mark.parametrize(("given_usage", "kwargs", "expected"), COSTS)
def test_cost(given_usage: Usage, kwargs: dict[str, Any], expected: Cost) -> None:
    """A call's cost by kind of token, on Sonnet 4.6 ($3/$15)."""
    assert cost(given_usage, "claude-sonnet-4-6", **kwargs) == expected


def test_cost_is_exact_for_small_calls() -> None:
    """Decimal money adds up exactly over many small calls."""
    one = cost(usage(input_tokens=1, output_tokens=1), "claude-haiku-4-5")
    assert one.total == D("0.000006")
    assert sum((one for _ in range(1000)), Cost()).total == D("0.006")


def test_unknown_model() -> None:
    """No price: cost raises, naming the way to add one; an override adds it."""
    with pytest.raises(InvalidInputError, match="no price known for model 'my-model'"):
        cost(usage(input_tokens=1), "my-model")
    assert price_for("my-model") is None
    assert price_for("my-model", {"my-model": Price(1, 1)}) == Price(1, 1)


def test_ledger_sums_calls_and_cache_share() -> None:
    """The ledger sums tokens and cost; unpriced calls count tokens only."""
    ledger = Ledger()
    assert ledger.cache_read_share == 0.0
    ledger = ledger.add(
        usage(input_tokens=100, cache_read_input_tokens=700, output_tokens=50),
        "claude-sonnet-4-6",
    )
    ledger = ledger.add(
        usage(
            cache_creation_input_tokens=200,
            cache_creation={"ephemeral_1h_input_tokens": 200},
        ),
        "claude-sonnet-4-6",
    )
    ledger = ledger.add(usage(input_tokens=1000), "my-model")
    assert (ledger.calls, ledger.unpriced_calls) == (3, 1)
    assert (ledger.input_tokens, ledger.output_tokens) == (1100, 50)
    assert (
        ledger.cache_write_5m_tokens,
        ledger.cache_write_1h_tokens,
        ledger.cache_read_tokens,
    ) == (0, 200, 700)
    assert ledger.total_input_tokens == 2000
    assert ledger.cache_read_share == 0.35
    assert ledger.cost.total == D("0.0003") + D("0.00075") + D("0.00021") + D("0.0012")


def test_ledger_of_turns() -> None:
    """ledger_of prices each assistant turn by its own model."""
    turns = [
        Turn("user", "q"),
        Turn("assistant", "a", model="claude-opus-4-1", usage=usage(output_tokens=M)),
        Turn("assistant", "b", model="claude-haiku-4-5", usage=usage(input_tokens=M)),
        Turn("assistant", "c"),
    ]
    ledger = ledger_of(turns)
    assert (ledger.calls, ledger.cost.total) == (2, D(76))
    assert ledger_of(turns, prices={"claude-opus-4-1": Price(0, 0)}).cost.total == D(1)


# --- genai-prices (the `prices` extra): read first when installed --------------------


def test_without_genai_prices_the_table_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """genai-prices absent: prices come from PRICES; given prices still win."""
    monkeypatch.setitem(sys.modules, "genai_prices", None)  # import raises ImportError
    monkeypatch.setattr(pricing._GenaiCache, "module", None)  # so it is tried again
    assert price_for("claude-opus-5-5") is PRICES["claude-opus-5-5"]
    assert price_for("claude-3-haiku") is None
    assert price_for("claude-opus-5-5", {"claude-opus-5-5": Price(1, 1)}) == Price(1, 1)


needs_genai = pytest.mark.skipif(
    importlib.util.find_spec("genai_prices") is None,
    reason="genai-prices needs Python 3.11+ (the `prices` extra)",
)


@needs_genai
@pytest.mark.parametrize("model", sorted(PRICES))
def test_genai_prices_agrees_with_the_table(model: str) -> None:
    """The real package and PRICES agree wherever both price a model (drift shows here).

    Only below a long-prompt band: genai-prices keeps Sonnet 4.5's retired one.
    """
    found = price_for(model)
    assert found is not None
    assert _row(found) == _row(PRICES[model])
    ours = PRICES[model]
    if ours.long_prompt is not None:
        assert found.long_prompt_tokens == ours.long_prompt_tokens
        assert _row(found.long_prompt) == _row(ours.long_prompt)


@needs_genai
def test_genai_prices_comes_before_the_table() -> None:
    """A model only genai-prices knows is priced; the caller's prices still win."""
    haiku_3 = price_for("claude-3-haiku-20240307")
    assert haiku_3 is not None
    assert (haiku_3.input, haiku_3.output) == (D("0.25"), D("1.25"))
    assert cost(usage(output_tokens=M), "claude-3-haiku") == Cost(output=D("1.25"))
    mine = {"claude-3-haiku": Price(1, 1)}
    assert price_for("claude-3-haiku", mine) == Price(1, 1)
    assert price_for("claude-mythos-5") is PRICES["claude-mythos-5"]  # not in genai's
