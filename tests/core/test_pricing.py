"""Prices, the cost of a call and the ledger over a conversation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

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
from conversa._values.capabilities import known_models
from conversa._values.turns import Turn, Usage

D = Decimal
M = 1_000_000

LIST = [
    # model: (input, output, estimate) in USD per million tokens
    ("claude-opus-4", 15, 75, False),
    ("claude-opus-4-1", 15, 75, False),
    ("claude-opus-4-5-20251101", 5, 25, False),
    ("claude-opus-4-6", 5, 25, False),
    ("claude-opus-4-7", 5, 25, False),
    ("claude-opus-4-8", 5, 25, False),
    ("claude-opus-5", 4, 20, False),
    ("claude-opus-5-5", 4, 20, False),
    ("claude-sonnet-4-0", 3, 15, False),
    ("claude-sonnet-4-5", 3, 15, False),
    ("claude-sonnet-4-6", 3, 15, False),
    ("claude-sonnet-5", 3, 15, False),
    ("claude-sonnet-5-5", 3, 15, False),
    ("claude-haiku-4-5", 1, 5, False),
    ("claude-haiku-5-5", 1, 5, False),
    ("claude-3-5-haiku-latest", D("0.8"), 4, False),
    ("claude-fable-5", 10, 50, True),
    ("claude-mythos-5-2", 10, 50, True),
    ("claude-mythos-preview", 25, 125, True),
]


@pytest.mark.parametrize(("model", "input_", "output", "estimate"), LIST)
def test_list_prices(model: str, input_: Any, output: Any, estimate: bool) -> None:
    """Each family has its list price; Fable and Mythos are marked as estimates."""
    price = price_for(model)
    assert price is not None
    assert (price.input, price.output, price.estimate) == (
        D(input_),
        D(output),
        estimate,
    )


def test_every_known_model_has_a_price() -> None:
    """The price table covers the capability table."""
    assert [m for m in known_models() if m not in PRICES] == []


def test_cache_prices_follow_the_multipliers_unless_given() -> None:
    """Writes cost 1.25x (5m) and 2x (1h) input, reads 0.1x; explicit values win."""
    price = Price(3, 15)
    assert (price.write_5m, price.write_1h, price.read) == (D("3.75"), D(6), D("0.3"))
    custom = Price("2", "8", cache_write_5m=1, cache_write_1h="3", cache_read=D("0.5"))
    assert (custom.write_5m, custom.write_1h, custom.read) == (D(1), D(3), D("0.5"))


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
        {"prices": {"claude-sonnet-4-5": Price(1, 2)}},
        Cost(D(1)),
        id="override",
    ),
]


@pytest.mark.parametrize(("given_usage", "kwargs", "expected"), COSTS)
def test_cost(given_usage: Usage, kwargs: dict[str, Any], expected: Cost) -> None:
    """A call's cost by kind of token, on Sonnet 4.5 ($3/$15)."""
    assert cost(given_usage, "claude-sonnet-4-5", **kwargs) == expected


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
        "claude-sonnet-4-5",
    )
    ledger = ledger.add(
        usage(
            cache_creation_input_tokens=200,
            cache_creation={"ephemeral_1h_input_tokens": 200},
        ),
        "claude-sonnet-4-5",
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
