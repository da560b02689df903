"""The cut-depth rule: a window moves only when the request would not fit, and then
to the earliest exchange that brings it to the low watermark, not below it, unless
whole exchanges force it. Turns still on an estimate are sized with the learned
ratio: leaning high to decide whether to move, likely-sized to aim the cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from conversa._core.calibrate import learn_ratio, scaling
from conversa._core.estimate import Estimate, estimate_blocks, estimate_parts
from conversa._core.window import plan_window
from conversa._values.blocks import TextBlock
from conversa._values.settings import BudgetConfig, TokenRatio
from conversa._values.turns import Turn

FIXED = 200


def exchanges(sizes: Sequence[tuple[int, int]]) -> list[Turn]:
    """Stored exchanges with exact counts: (user tokens, assistant tokens) each."""
    out = []
    for k, (q, r) in enumerate(sizes):
        seq = 2 * k + 1
        out.append(Turn("user", f"q{seq}", seq=seq, tokens=q, tokens_exact=True))
        out.append(
            Turn("assistant", f"a{seq}", seq=seq + 1, tokens=r, tokens_exact=True)
        )
    return out


def size_from(turns: Sequence[Turn], index: int, new: int) -> int:
    """The request from walk index *index* (no pins), with a new turn of *new* tokens."""
    return FIXED + sum(t.tokens or 0 for t in turns[index:]) + new


EXCHANGE = st.tuples(st.integers(20, 900), st.integers(20, 900))


@given(
    sizes=st.lists(EXCHANGE, min_size=1, max_size=30),
    new=st.integers(10, 2000),
    budget=st.integers(3000, 9000),
    watermark=st.sampled_from([0.5, 0.8, 0.9, 1.0]),
    start_at=st.integers(0, 29),
)
def test_moves_only_on_overflow_and_cuts_no_deeper_than_needed(
    sizes: list[tuple[int, int]],
    new: int,
    budget: int,
    watermark: float,
    start_at: int,
) -> None:
    """Exact counts: the start holds while it fits; a move lands on the shallowest
    exchange at or under the watermark, or on the newest exchange when none is."""
    stored = exchanges(sizes)
    first = min(start_at, len(sizes) - 1)
    window = stored[2 * first :]
    current = window[0].seq or 0
    turn = Turn("user", "new", tokens=new, tokens_exact=True)
    if FIXED + new > budget:
        return  # refused (ContextBudgetError): tested elsewhere
    result = plan_window(
        [*window, turn],
        fixed_tokens=FIXED,
        budget=budget,
        current_start=current,
        config=BudgetConfig(low_watermark=watermark),
        max_images=100,
    )
    if size_from(window, 0, new) <= budget:
        assert not result.moved
        assert result.start == current
        return
    assert result.moved
    starts = list(
        range(2, len(window) + 1, 2)
    )  # each later exchange, then the new turn
    # The new turn gets the next seq: a start there keeps only the newest exchange.
    seqs = [t.seq for t in window] + [(window[-1].seq or 0) + 1]
    chosen = seqs.index(result.start)
    aim = watermark * budget
    fitting = [i for i in starts if size_from(window, i, new) <= aim]
    if fitting:
        assert chosen == fitting[0]
        assert result.total_tokens <= aim
    else:  # nothing reaches the watermark: whole exchanges force the newest alone
        assert chosen == len(window)
    assert result.total_tokens == size_from(window, chosen, new)


def paste(n: int) -> str:
    """A prose paste estimated at about *n* tokens."""
    line = "the parcel arrived late and the courier said nothing about it. "
    text = line
    while estimate_blocks([TextBlock(text)]) < n:
        text += line
    return text


def prose_ratio(ratio: float) -> TokenRatio:
    """A conversation that has learned that its prose counts *ratio* times the estimate."""
    state = None
    parts = Estimate(words=180, marks=12, framing=8)
    for _ in range(40):
        state = learn_ratio(state, parts, round(sum(parts) * ratio))
    assert state is not None
    return state


def plan_with(
    window: list[Turn], new: Turn, budget: int, ratio: TokenRatio | None
) -> tuple[int, bool, int]:
    """Plan from seq 1 with watermark 0.8: (start, moved, total tokens)."""
    result = plan_window(
        [*window, new],
        fixed_tokens=FIXED,
        budget=budget,
        current_start=1,
        config=BudgetConfig(low_watermark=0.8),
        max_images=100,
        tokenizer=None,
        ratio=ratio,
    )
    return result.start, result.moved, result.total_tokens


def test_a_large_new_turn_no_longer_moves_a_window_that_fits() -> None:
    """The plain estimate (about 1/0.7 of the count) says overflow; the learned ratio says fits."""
    text = paste(3000)
    new = Turn("user", text)
    estimate = estimate_blocks(new.blocks)
    likely = round(estimate * 0.7)
    window = exchanges([(300, 300)] * 12)  # 7,200 tokens
    budget = (
        FIXED + 7200 + int(likely * 1.1) + 20
    )  # room for the likely size and a margin
    assert FIXED + 7200 + estimate > budget
    _, moved, _ = plan_with(window, new, budget, None)
    assert moved
    start, moved, total = plan_with(window, new, budget, prose_ratio(0.7))
    assert (start, moved) == (1, False)
    assert total <= budget


def test_the_move_decision_leans_high() -> None:
    """When the likely size fits but the margin does not, the window moves: no gamble."""
    new = Turn("user", paste(3000))
    line = scaling(prose_ratio(0.7))
    assert line is not None
    high, mid = line.sizes(estimate_parts(new.blocks))
    window = exchanges([(300, 300)] * 12)
    budget = FIXED + 7200 + (high + mid) // 2
    _, moved, total = plan_with(window, new, budget, prose_ratio(0.7))
    assert moved
    assert total <= budget


def test_the_cut_aims_with_the_likely_size() -> None:
    """With the learned ratio the cut lands at the watermark; the plain estimate cut deeper."""
    new = Turn("user", paste(3000))
    window = exchanges([(250, 250)] * 30)  # 15,000 tokens: over any budget below
    budget = 12_000
    plain_start, _, plain_total = plan_with(window, new, budget, None)
    start, moved, total = plan_with(window, new, budget, prose_ratio(0.7))
    assert moved
    assert start < plain_start  # a shallower cut: more context kept
    line = scaling(prose_ratio(0.7))
    assert line is not None
    high, mid = line.sizes(estimate_parts(new.blocks))
    sent = total - high + mid  # the request's likely size
    assert sent <= 0.8 * budget < sent + 500  # one exchange more would pass the mark
    assert plain_total > 0


def test_whole_exchanges_force_a_deeper_cut() -> None:
    """When the exchange at the watermark is large, the cut goes past it, below the mark."""
    sizes = [(200, 200)] * 2 + [(3000, 200)] + [(200, 200)] * 10
    window = exchanges(sizes)
    new = Turn("user", "next", tokens=100, tokens_exact=True)
    budget = FIXED + sum(q + r for q, r in sizes) + 100 - 1  # just over
    result = plan_window(
        [*window, new],
        fixed_tokens=FIXED,
        budget=budget,
        current_start=1,
        config=BudgetConfig(low_watermark=0.9),
        max_images=100,
    )
    # Dropping the first two exchanges leaves the big one in, 31 tokens over
    # the mark; the earliest start at or under it is just after the big exchange.
    assert result.start == 7
    assert result.total_tokens < 0.9 * budget - 2000
