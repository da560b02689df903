"""The learned ratio: exact counts against the estimate, learned from usage and applied.

`conversa._core.calibrate` keeps, per conversation and tokenizer, running means of
(share of marks, exact / estimate) samples, fits a line to them and sizes turns
still on an estimate with it, leaning high by a bounded margin.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversa._core.calibrate import (
    MARGIN,
    MEMORY,
    MIN_SAMPLE,
    RATIO_BOUNDS,
    Part,
    latest_ratio,
    learn,
    learn_ratio,
    scaling,
    turn_size,
)
from conversa._core.estimate import Estimate, estimate_blocks, estimate_parts
from conversa._values.blocks import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from conversa._values.settings import TOKEN_RATIO, TokenRatio
from conversa._values.turns import Turn
from conversa.testing import png_base64

PROSE = Estimate(words=180, marks=12, framing=8)  # a prose turn: few marks
BIG = Estimate(words=1800, marks=120, framing=8)  # a prose paste (rounding is small)
DATA = Estimate(words=400, marks=600, framing=8)  # a JSON paste: mostly marks


def taught(ratio: float, n: int = 40, parts: Estimate = PROSE) -> TokenRatio:
    """The record after *n* samples of *parts* that counted *ratio* times the estimate."""
    state = None
    for _ in range(n):
        state = learn_ratio(state, parts, round(sum(parts) * ratio))
    assert state is not None
    return state


def margin_of(state: TokenRatio, parts: Estimate) -> float:
    """The relative margin `sizes` puts on *parts*' likely count."""
    line = scaling(state)
    assert line is not None
    high, mid = line.sizes(parts)
    return (high - parts.other) / (mid - parts.other) - 1


# --- learning -----------------------------------------------------------------


def test_no_sample_no_ratio() -> None:
    """Without a sample there is nothing to fit: the plain estimate stands."""
    assert scaling(None) is None
    assert scaling(TokenRatio(0.0, 0.0, 0.0, 0.0, 0.0)) is None


def test_the_ratio_converges_to_what_the_samples_say() -> None:
    """Samples of prose at 0.7 of the estimate teach 0.7 for prose."""
    line = scaling(taught(0.7))
    assert line is not None
    assert line.ratio(PROSE) == pytest.approx(0.7, abs=0.01)


def test_one_sample_only_pulls_part_of_the_way_with_a_wide_margin() -> None:
    """The first sample moves the ratio, and its error against 1.0 widens the margin."""
    state = learn_ratio(None, PROSE, round(sum(PROSE) * 0.6))
    assert state is not None
    assert state.spread == pytest.approx(0.4, abs=0.01)
    assert margin_of(state, PROSE) == pytest.approx(MARGIN[1], abs=0.01)


def test_small_samples_teach_nothing() -> None:
    """A turn estimated under MIN_SAMPLE tokens (framing dominates it) is skipped."""
    tiny = Estimate(words=10, marks=2, framing=8)
    assert sum(tiny) < MIN_SAMPLE
    assert learn_ratio(None, tiny, 5) is None
    before = taught(0.7)
    assert learn_ratio(before, tiny, 100) is before


def test_a_small_sample_weighs_less_than_a_full_one() -> None:
    """Weight grows with a sample's size, up to one full sample."""
    small = learn_ratio(None, Estimate(40, 2, 8), 35)
    full = learn_ratio(None, Estimate(400, 20, 8), 300)
    assert small is not None
    assert full is not None
    assert small.weight < full.weight == 1.0


@given(st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=80))
def test_the_record_stays_bounded(ratios: list[float]) -> None:
    """Whatever the samples, means stay in bounds and the weight is capped."""
    state = None
    for r in ratios:
        state = learn_ratio(state, PROSE, round(sum(PROSE) * r))
    assert state is not None
    assert 0 < state.weight <= MEMORY
    assert RATIO_BOUNDS[0] <= state.ratio <= RATIO_BOUNDS[1]
    assert 0 <= state.share <= 1
    line = scaling(state)
    assert line is not None
    for parts in (BIG, Estimate(4000, 6000, 8), Estimate(0, 0, 800)):
        assert RATIO_BOUNDS[0] <= line.ratio(parts) <= RATIO_BOUNDS[1]
        # (sizes round up to whole tokens)
        assert MARGIN[0] - 0.01 <= margin_of(state, parts) <= MARGIN[1] + 0.01


def test_it_follows_a_change_of_content() -> None:
    """After the text changes, the newest samples win: a running, forgetting mean."""
    line = scaling(taught(0.95, n=100, parts=PROSE))
    assert line is not None
    assert line.ratio(PROSE) == pytest.approx(0.95, abs=0.01)
    state = taught(0.95, n=100)
    for _ in range(100):
        state = learn_ratio(state, PROSE, round(sum(PROSE) * 0.6)) or state
    line = scaling(state)
    assert line is not None
    # A little above: the prior (the plain estimate) keeps some weight.
    assert 0.6 <= line.ratio(PROSE) <= 0.63


def test_prose_and_data_are_told_apart() -> None:
    """Samples of prose at 0.7 and of JSON at 0.9 give each its own ratio."""
    state = None
    for k in range(60):
        parts, ratio = (DATA, 0.9) if k % 4 == 0 else (PROSE, 0.7)
        state = learn_ratio(state, parts, round(sum(parts) * ratio))
    line = scaling(state)
    assert line is not None
    assert line.ratio(PROSE) == pytest.approx(0.7, abs=0.03)
    assert line.ratio(DATA) == pytest.approx(0.9, abs=0.03)


# --- applying -----------------------------------------------------------------


@pytest.mark.parametrize("ratio", [0.5, 0.7, 1.0, 1.3, 2.0])
def test_an_estimate_leans_high_by_a_bounded_margin(ratio: float) -> None:
    """A turn like the samples is sized 5-25% over its likely count, never under it."""
    state = None
    rng = random.Random(7)
    for _ in range(60):
        noisy = ratio * rng.uniform(0.97, 1.03)
        state = learn_ratio(state, PROSE, round(sum(PROSE) * noisy))
    assert state is not None
    line = scaling(state)
    assert line is not None
    high, mid = line.sizes(BIG)
    assert mid == pytest.approx(sum(BIG) * ratio, rel=0.03)
    assert MARGIN[0] - 0.001 <= high / mid - 1 <= MARGIN[1] + 0.001
    assert high >= math.ceil(sum(BIG) * ratio * 1.03)


def test_far_from_the_samples_the_line_leans_to_the_plain_estimate() -> None:
    """A conversation of all-marks text (CJK) does not size an English turn by it."""
    cjk = Estimate(words=0, marks=900, framing=8)
    line = scaling(taught(0.5, parts=cjk))
    assert line is not None
    assert line.ratio(cjk) == pytest.approx(0.5, abs=0.02)
    english = Estimate(words=900, marks=40, framing=8)
    assert line.ratio(english) > 0.9
    high, _ = line.sizes(english)
    assert high > sum(english)


def test_a_turn_unlike_the_samples_gets_a_wider_margin() -> None:
    """A mostly-marks paste in a prose conversation is sized with more room."""
    state = taught(0.7)
    assert margin_of(state, DATA) > margin_of(state, PROSE) + 0.1


def test_images_and_pdfs_keep_their_formula() -> None:
    """The ratio covers text and framing; an image's tokens are not scaled."""
    line = scaling(taught(0.5))
    assert line is not None
    with_image = Estimate(words=100, marks=5, framing=11, other=1600)
    high, mid = line.sizes(with_image)
    assert mid == 1600 + math.ceil(116 * line.ratio(with_image))
    assert high > mid > 1600


def test_turn_size_scales_only_estimates() -> None:
    """An exact count stands; a turn on an estimate is sized by the line."""
    line = scaling(taught(0.5))
    text = "plenty of words to count here, " * 20
    exact = Turn("user", text, tokens=77, flags={"tokens": {"tk": 77}})
    assert turn_size(exact, "tk", line).tokens == 77
    assert turn_size(exact, "tk", line).mid == 77
    estimated = Turn("user", text, tokens=estimate_blocks([TextBlock(text)]))
    size = turn_size(estimated, "tk", line)
    assert line is not None
    assert (size.tokens, size.mid) == line.sizes(estimate_parts([TextBlock(text)]))
    assert size.mid < size.tokens < estimated.tokens
    plain = turn_size(estimated, "tk")
    assert plain.tokens == plain.mid == estimated.tokens


@given(
    st.lists(
        st.one_of(
            st.text(max_size=200).map(TextBlock),
            st.builds(
                ToolUseBlock, st.just("toolu_1"), st.just("f"), st.just({"q": "x"})
            ),
            st.text(max_size=50).map(lambda t: ToolResultBlock("toolu_1", t)),
            st.just(
                ImageBlock(
                    {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": png_base64(60, 30),
                    }
                )
            ),
        ),
        max_size=5,
    )
)
def test_the_parts_add_up_to_the_estimate(blocks: list[Any]) -> None:
    """estimate_parts splits exactly what estimate_blocks counts."""
    assert sum(estimate_parts(blocks)) == estimate_blocks(blocks)


# --- storing and reading -----------------------------------------------------


def user(text: str, seq: int, **kw: Any) -> Turn:
    """A stored user turn on an estimate."""
    return Turn("user", text, seq=seq, tokens=estimate_blocks([TextBlock(text)]), **kw)


LONG = "a plain question about the parcel that never arrived at my door " * 8


def test_learn_stores_the_ratio_on_the_newest_turn_it_made_exact() -> None:
    """With system+tools known, the call is a sample; the newest update carries it."""
    older = Turn(
        "assistant",
        "ok",
        seq=1,
        tokens=9,
        tokens_exact=True,
        flags={"tokens": {"tk": 9}},
    )
    new = user(
        LONG,
        2,
        flags={"token_ratio": {"other": TokenRatio(1, 0, 0.9, 0, 0).to_json_dict()}},
    )
    total = 100 + 9 + 120
    learned = learn([older, new], total, tokenizer="tk", fixed=Part(90, exact=100))
    assert learned.ratio is not None
    (update,) = learned.updates
    assert update.seq == 2
    assert update.tokens == 120
    assert update.flags is not None
    assert update.flags["tokens"] == {"tk": 120}
    stored = update.flags["token_ratio"]
    assert set(stored) == {"other", "tk"}  # the other tokenizer's ratio is kept
    as_stored = TokenRatio.from_json_dict(learned.ratio.to_json_dict())
    assert TokenRatio.from_json_dict(stored["tk"]) == as_stored
    assert learned.ratio.ratio == pytest.approx(
        120 / estimate_blocks([TextBlock(LONG)]), abs=1e-5
    )


def test_a_call_with_system_and_tools_unknown_is_no_sample() -> None:
    """On the first call the split between system+tools and the turn is a guess."""
    learned = learn([user(LONG, 1)], 300, tokenizer="tk", fixed=Part(90))
    assert learned.updates
    assert learned.ratio is None
    assert "token_ratio" not in (learned.updates[0].flags or {})


def test_the_running_ratio_continues_from_the_newest_stored_one() -> None:
    """learn starts from the newest ratio among the turns the request replayed."""
    first = learn([user(LONG, 1)], 200, tokenizer="tk", fixed=Part(90, exact=90))
    assert first.ratio is not None
    flags = first.updates[0].flags or {}
    stored = Turn("user", LONG, seq=1, tokens=110, tokens_exact=True, flags=flags)
    answer = Turn(
        "assistant",
        "fine",
        seq=2,
        tokens=8,
        tokens_exact=True,
        flags={"tokens": {"tk": 8}},
    )
    second = learn(
        [stored, answer, user(LONG, 3)],
        90 + 110 + 8 + 110,
        tokenizer="tk",
        fixed=Part(90, exact=90),
    )
    assert second.ratio is not None
    assert second.ratio.weight == pytest.approx(2 * first.ratio.weight)
    assert latest_ratio([stored, answer], "tk") == TokenRatio.from_json_dict(
        first.ratio.to_json_dict()
    )


def test_another_tokenizer_has_no_ratio() -> None:
    """A model change to another tokenizer falls back to the plain estimate."""
    turn = user(
        LONG,
        1,
        flags=TOKEN_RATIO.entry({"claude": TokenRatio(1, 0.1, 0.7, 0.01, 0.07)}),
    )
    assert latest_ratio([turn], "claude") is not None
    assert latest_ratio([turn], "claude-4.7") is None


def test_latest_ratio_takes_the_newest() -> None:
    """Of several stored ratios, the newest turn's is the one in force."""
    old = user(
        LONG, 1, flags=TOKEN_RATIO.entry({"tk": TokenRatio(1, 0.1, 0.9, 0.01, 0.09)})
    )
    new = user(
        LONG, 3, flags=TOKEN_RATIO.entry({"tk": TokenRatio(2, 0.1, 0.6, 0.01, 0.06)})
    )
    plain = user(LONG, 5)
    found = latest_ratio([old, new, plain], "tk")
    assert found is not None
    assert found.ratio == 0.6


@pytest.mark.parametrize(
    "stored",
    [
        "junk",
        {"weight": 1},
        {"weight": -1, "share": 0, "ratio": 1, "share2": 0, "cross": 0, "spread": 0},
        {"weight": True, "share": 0, "ratio": 1, "share2": 0, "cross": 0, "spread": 0},
        {
            "weight": 1,
            "share": 0,
            "ratio": float("nan"),
            "share2": 0,
            "cross": 0,
            "spread": 0,
        },
    ],
)
def test_a_foreign_or_broken_ratio_is_ignored(stored: Any) -> None:
    """A stored value that does not read back is left out, not trusted."""
    turn = Turn(
        "user",
        "x",
        flags={
            "token_ratio": {
                "tk": stored,
                "ok": TokenRatio(1, 0, 1, 0, 0).to_json_dict(),
            }
        },
    )
    assert set(TOKEN_RATIO.of(turn)) == {"ok"}


def test_the_storage_form_round_trips() -> None:
    """TokenRatio is stored as a small JSON object and reads back equal."""
    value = TokenRatio(3.5, 0.08, 0.71, 0.0072, 0.0571, 0.02)
    assert TokenRatio.from_json_dict(value.to_json_dict()) == value
    assert set(value.to_json_dict()) == {
        "weight",
        "share",
        "ratio",
        "share2",
        "cross",
        "spread",
    }
