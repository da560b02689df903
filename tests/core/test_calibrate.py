"""Token calibration: sharing an exact total, counts per tokenizer, turn updates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversa._core.calibrate import (
    TOOL_PROMPT_TOKENS,
    Learned,
    Part,
    calibrate,
    estimate_fixed,
    exact_count,
    fixed_exact,
    fixed_key,
    learn,
    token_count,
    with_counts,
    with_fixed_exact,
)
from conversa._core.estimate import estimate_blocks
from conversa._stores.protocol import TurnUpdate
from conversa._values.turns import Turn

TOOL = {"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}

ROWS = [
    pytest.param([Part(10), Part(30)], 100, (25, 75), id="proportional"),
    pytest.param(
        [Part(10, exact=40), Part(99)], 100, (40, 60), id="one-unknown-gets-the-rest"
    ),
    pytest.param(
        [Part(1), Part(1), Part(1)], 10, (4, 3, 3), id="remainder-to-the-earliest"
    ),
    pytest.param([Part(1), Part(2)], 4, (1, 3), id="largest-remainder"),
    pytest.param([Part(1), Part(1000)], 3, (1, 2), id="zero-share-gets-one"),
    pytest.param([Part(0), Part(0)], 6, (3, 3), id="zero-estimates"),
    pytest.param([Part(5, exact=5), Part(7, exact=9)], 1, (5, 9), id="all-known"),
    pytest.param(
        [Part(10, exact=95), Part(10), Part(10)], 97, (95, 1, 1), id="one-token-floor"
    ),
    pytest.param(
        [Part(10, exact=95), Part(10), Part(10)], 96, None, id="over-explained"
    ),
    pytest.param([Part(10, exact=120), Part(10)], 100, None, id="negative-remainder"),
]


@pytest.mark.parametrize(("parts", "total", "expected"), ROWS)
def test_calibrate(
    parts: list[Part], total: int, expected: tuple[int, ...] | None
) -> None:
    """Unknown parts share the rest by estimate; nothing is learned from nonsense."""
    assert calibrate(parts, total) == expected


@given(
    st.lists(
        st.builds(
            Part,
            st.integers(0, 10_000),
            exact=st.one_of(st.none(), st.integers(0, 10_000)),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 200_000),
)
def test_calibrate_sums_exactly(parts: list[Part], total: int) -> None:
    """Counts sum to the total, exact parts are kept, and no unknown part gets under 1."""
    counts = calibrate(parts, total)
    unknown = [p for p in parts if p.exact is None]
    if counts is None:
        assert total - sum(p.exact or 0 for p in parts) < len(unknown)
        return
    assert all(
        c == p.exact for c, p in zip(counts, parts, strict=True) if p.exact is not None
    )
    if unknown:
        assert sum(counts) == total
        assert all(
            c >= 1 for c, p in zip(counts, parts, strict=True) if p.exact is None
        )


def test_part_refuses_a_negative_estimate() -> None:
    """An estimate is never negative."""
    with pytest.raises(ValueError, match="estimate"):
        Part(-1)


def turn(**kw: Any) -> Turn:
    """A user turn with bookkeeping."""
    return Turn("user", "hello there", **kw)


COUNTS = [
    pytest.param(
        turn(flags={"tokens": {"tk": 7}}), "tk", (7, True), id="exact-for-tokenizer"
    ),
    pytest.param(
        turn(tokens=9, tokens_exact=True, flags={"tokens": {"other": 7}}),
        "tk",
        (None, False),
        id="other-tokenizer-gives-estimate",
    ),
    pytest.param(turn(tokens=9), "tk", (9, False), id="stored-estimate"),
    pytest.param(
        turn(flags={"tokens": {"tk": -1}}), "tk", (None, False), id="bad-count-ignored"
    ),
    pytest.param(
        turn(flags={"tokens": {"tk": True}}),
        "tk",
        (None, False),
        id="bool-is-not-a-count",
    ),
    pytest.param(
        turn(flags={"tokens": [1]}), "tk", (None, False), id="bad-flag-ignored"
    ),
    pytest.param(
        turn(tokens=9, tokens_exact=True),
        None,
        (9, True),
        id="no-tokenizer-takes-tokens",
    ),
    pytest.param(turn(), None, (None, False), id="no-count-gives-estimate"),
]


@pytest.mark.parametrize(("given_turn", "tokenizer", "expected"), COUNTS)
def test_token_count(
    given_turn: Turn, tokenizer: str | None, expected: tuple[int | None, bool]
) -> None:
    """A count is exact only for its own tokenizer; otherwise the estimate stands in."""
    count, exact = expected
    estimate = estimate_blocks(given_turn.blocks)
    assert token_count(given_turn, tokenizer) == (
        estimate if count is None else count,
        exact,
    )


def test_exact_count() -> None:
    """exact_count reads flags['tokens'][tokenizer]."""
    assert exact_count(turn(flags={"tokens": {"tk": 3}}), "tk") == 3
    assert exact_count(turn(), "tk") is None


def test_with_counts() -> None:
    """with_counts sets tokens for a tokenizer and leaves turns already right alone."""
    right = turn(tokens=3, tokens_exact=True, flags={"tokens": {"tk": 3}})
    wrong = turn(tokens=3, tokens_exact=True, flags={"tokens": {"other": 3}})
    out = with_counts([right, wrong], "tk")
    assert out[0] is right
    assert (out[1].tokens, out[1].tokens_exact) == (
        estimate_blocks(wrong.blocks),
        False,
    )


def test_learn_makes_the_new_turns_exact() -> None:
    """The unknown turns get the rest of the total, with every tokenizer's count kept."""
    known = turn(seq=1, tokens=40, tokens_exact=True, flags={"tokens": {"tk": 40}})
    new = turn(seq=2, tokens=30, flags={"tokens": {"other": 11}, "x": 1})
    prefill = Turn("assistant", "Sure", tokens=5)
    learned = learn(
        [known, new, prefill], 200, tokenizer="tk", fixed=Part(100, exact=100)
    )
    assert learned == Learned(
        (
            TurnUpdate(
                2,
                tokens=51,
                tokens_exact=True,
                flags={"tokens": {"other": 11, "tk": 51}},
            ),
        ),
        100,
    )


def test_learn_the_fixed_part_and_nothing_from_nonsense() -> None:
    """System+tools are learned like a turn; an over-explained total teaches nothing."""
    new = turn(seq=1, tokens=10)
    assert learn([new], 100, tokenizer="tk", fixed=Part(90)).fixed == 90
    assert learn([new], 5, tokenizer="tk", fixed=Part(90, exact=90)) == Learned()


def test_estimate_fixed() -> None:
    """System and tools are estimated with the hidden tool prompt included."""
    assert estimate_fixed(None, None) == 0
    text = estimate_fixed("Be brief.", None)
    blocks = estimate_fixed([{"type": "text", "text": "Be brief."}], None)
    assert 0 < text < blocks
    assert estimate_fixed(None, [TOOL]) > TOOL_PROMPT_TOKENS


def test_fixed_key() -> None:
    """The key changes with system, tools and tool_choice, not with cache marks."""
    base = fixed_key("s", [TOOL])
    assert base == fixed_key("s", [{**TOOL, "cache_control": {"type": "ephemeral"}}])
    assert (
        len(
            {
                base,
                fixed_key("t", [TOOL]),
                fixed_key("s", None),
                fixed_key("s", [TOOL], {"type": "any"}),
            }
        )
        == 4
    )


def test_fixed_counts_per_tokenizer_and_content() -> None:
    """A stored system+tools count is read back only for its tokenizer and content."""
    counts = with_fixed_exact(None, tokenizer="tk", key="k1", tokens=120)
    counts = with_fixed_exact(counts, tokenizer="other", key="k1", tokens=90)
    assert counts == {
        "tk": {"key": "k1", "tokens": 120},
        "other": {"key": "k1", "tokens": 90},
    }
    assert fixed_exact(counts, tokenizer="tk", key="k1") == 120
    assert fixed_exact(counts, tokenizer="tk", key="k2") is None
    assert fixed_exact(counts, tokenizer="new", key="k1") is None
    assert fixed_exact(None, tokenizer="tk", key="k1") is None
