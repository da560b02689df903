"""The budget, window planning and summaries: one table row per rule.

Turns carry round token counts so every expected total can be checked by hand;
every planned window is also normalized, to show the API would take it.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import pytest

from conversa._core.normalize import to_messages
from conversa._core.summaries import (
    SUMMARY_INSTRUCTIONS,
    AsyncSummarizer,
    Summarizer,
    first_exchange,
    is_real_user_turn,
    summary_covers,
    summary_request,
    summary_turn,
    transcript,
)
from conversa._core.window import WindowPlan, plan_window
from conversa._exceptions import (
    ContextBudgetError,
    InvalidInputError,
    UnrepairableHistoryError,
)
from conversa._values.blocks import (
    DocumentBlock,
    ImageBlock,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from conversa._values.capabilities import capabilities_for
from conversa._values.params import RequestParams
from conversa._values.settings import (
    DEFAULT_LOW_WATERMARK,
    BudgetConfig,
    budget_for,
    default_margin,
)
from conversa._values.turns import Turn
from conversa.testing import png_base64
from tests.sdk_check import check_request_body

MODEL = "claude-sonnet-4-5"
CAPS = capabilities_for(MODEL)


def u(content: Any = "q", seq: int | None = None, tokens: int = 50, **kw: Any) -> Turn:
    """A user turn with a round token count."""
    return Turn("user", content, seq=seq, tokens=tokens, **kw)


def a(content: Any = "a", seq: int | None = None, tokens: int = 50, **kw: Any) -> Turn:
    """An assistant turn with a round token count."""
    return Turn("assistant", content, seq=seq, tokens=tokens, **kw)


def use(*ids: str) -> list[ToolUseBlock]:
    """Tool calls with these ids."""
    return [ToolUseBlock(i, "lookup", {"q": i}) for i in ids]


def res(*ids: str) -> list[ToolResultBlock]:
    """Tool results for these ids."""
    return [ToolResultBlock(i, "done") for i in ids]


def history(exchanges: int, *, start: int = 1) -> list[Turn]:
    """*exchanges* plain exchanges of 100 tokens each, seqs from *start*."""
    out = []
    for k in range(exchanges):
        seq = start + 2 * k
        out += [u(f"q{seq}", seq), a(f"a{seq + 1}", seq + 1)]
    return out


def seqs(plan: WindowPlan) -> list[int | None]:
    """The seqs a plan replays."""
    return [t.seq for t in plan.turns]


def plan(turns: Sequence[Turn], **kw: Any) -> WindowPlan:
    """Plan with the test defaults (100 images, no fixed part, watermark 0.8).

    The numbers below were worked out at a low watermark of 0.8 (the default
    until issue 10); the rules do not depend on it.
    """
    kw.setdefault("max_images", 100)
    kw.setdefault("config", BudgetConfig(low_watermark=0.8))
    return plan_window(turns, **kw)


def messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Normalize the planned turns, checked against the SDK's types."""
    out = to_messages(turns, model=MODEL, caps=CAPS)
    check_request_body({"model": MODEL, "max_tokens": 10, "messages": out})
    return out


# --- budget -------------------------------------------------------------------

BUDGETS = [
    # (window, max_tokens, margin, fixed) -> budget
    pytest.param(200_000, 4096, None, None, 200_000 - 4096 - 4000, id="2pct-of-200k"),
    pytest.param(
        1_000_000, 4096, None, None, 1_000_000 - 4096 - 20_000, id="2pct-of-1m"
    ),
    pytest.param(20_000, 1000, None, None, 20_000 - 1000 - 1024, id="floor-1024"),
    pytest.param(200_000, 4096, 0, None, 200_000 - 4096, id="margin-override"),
    pytest.param(200_000, 4096, None, 50_000, 50_000, id="fixed"),
    pytest.param(200_000, 64_000, None, 500_000, 136_000, id="fixed-capped"),
    pytest.param(10_000, 9_000, None, None, 0, id="never-negative"),
]


@pytest.mark.parametrize(
    ("window", "max_tokens", "margin", "fixed", "expected"), BUDGETS
)
def test_budget_for(
    window: int, max_tokens: int, margin: int | None, fixed: int | None, expected: int
) -> None:
    """Budget = window - max_tokens - margin, or a fixed number under the window."""
    caps = capabilities_for(MODEL, {"context_window": window})
    params = RequestParams(max_tokens=max_tokens)
    assert budget_for(caps, params, margin=margin, fixed=fixed) == expected


def test_default_margin() -> None:
    """The default margin is max(1024, 2% of the window), rounded up."""
    assert [default_margin(w) for w in (10_000, 51_200, 200_000, 200_001)] == [
        1024,
        1024,
        4000,
        4001,
    ]


def test_budget_config_defaults_and_budget() -> None:
    """BudgetConfig defaults, its budget() and its storage form round-trip."""
    config = BudgetConfig()
    assert (config.fixed, config.margin, config.low_watermark) == (None, None, 0.9)
    assert config.pin_first_exchange is True
    assert DEFAULT_LOW_WATERMARK == 0.9
    params = RequestParams(max_tokens=4096)
    assert BudgetConfig(margin=0).budget(CAPS, params) == 200_000 - 4096
    assert BudgetConfig(fixed=1000).budget(CAPS, params) == 1000
    custom = BudgetConfig(fixed=9, low_watermark=0.5, pin_first_exchange=False)
    assert BudgetConfig.from_json_dict(custom.to_json_dict()) == custom
    assert BudgetConfig.from_json_dict({"margin": 7}) == BudgetConfig(margin=7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fixed": 0},
        {"fixed": True},
        {"margin": -1},
        {"margin": 1.5},
        {"low_watermark": 0},
        {"low_watermark": 1.5},
    ],
)
def test_budget_config_refuses_bad_values(kwargs: dict[str, Any]) -> None:
    """A zero fixed budget, a negative margin or a watermark outside (0, 1] is refused."""
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        BudgetConfig(**kwargs)


# --- exchanges ----------------------------------------------------------------

REAL = [
    pytest.param(u("hi"), True, id="text"),
    pytest.param(u([ImageBlock({"type": "url", "url": "x"})]), True, id="image"),
    pytest.param(u(res("t1")), False, id="tool-result"),
    pytest.param(u([*res("t1"), TextBlock("and")]), False, id="result-and-text"),
    pytest.param(u("  "), False, id="whitespace"),
    pytest.param(a("hi"), False, id="assistant"),
    pytest.param(u("s", kind="summary"), False, id="summary"),
]


@pytest.mark.parametrize(("turn", "expected"), REAL)
def test_is_real_user_turn(turn: Turn, expected: bool) -> None:
    """Only a user message that answers no tool and has content opens an exchange."""
    assert is_real_user_turn(turn) is expected


FIRST = [
    pytest.param(history(2), [1, 2], id="plain"),
    pytest.param(
        [u("q", 1), a(use("t1"), 2), u(res("t1"), 3), a("done", 4), u("next", 5)],
        [1, 2, 3, 4],
        id="tool-loop",
    ),
    pytest.param(
        [a("hello", 1), u("q", 2), a("r", 3), u("n", 4)],
        [2, 3],
        id="opens-on-assistant",
    ),
    pytest.param(
        [u("q", 1), u("more", 2), a("r", 3), u("n", 4)], [1, 2, 3], id="user-run"
    ),
    pytest.param(
        [
            u("q", 1),
            a("bad", 2),
            Turn("user", "x", seq=3, kind="retraction", flags={"retracts": [2]}),
            a("good", 4),
            u("n", 5),
        ],
        [1, 4],
        id="retracted-reply",
    ),
    pytest.param([u("q", 1), a("r", 2)], None, id="incomplete"),
    pytest.param([a("r", 1)], None, id="no-user-turn"),
]


@pytest.mark.parametrize(("turns", "expected"), FIRST)
def test_first_exchange(turns: list[Turn], expected: list[int] | None) -> None:
    """The first exchange runs to the next real user turn; None until that is seen."""
    found = first_exchange(turns)
    assert (None if found is None else [t.seq for t in found]) == expected


# --- planning -----------------------------------------------------------------


def test_everything_fits_so_nothing_moves() -> None:
    """A window that fits from the current start stays there, every turn replayed."""
    turns = [*history(3), u("new")]
    result = plan(turns, budget=1000, fixed_tokens=30)
    assert (result.start, result.moved, result.dropped) == (0, False, None)
    assert seqs(result) == [1, 2, 3, 4, 5, 6, None]
    assert result.total_tokens == 30 + 350
    assert result.summary is None


def test_overflow_moves_once_to_the_low_watermark() -> None:
    """On overflow the start moves to the earliest exchange at or under 75% of the budget."""
    turns = [*history(10), u("new")]  # 1050 tokens
    result = plan(turns, budget=1000, fixed_tokens=100)
    # 100 fixed + 50 new + 100 per exchange <= 750: six exchanges, from seq 9.
    assert (result.start, result.moved, result.dropped) == (9, True, (1, 8))
    assert seqs(result) == [*range(9, 21), None]
    assert result.total_tokens == 750
    messages(result.turns)


def test_low_watermark_is_configurable() -> None:
    """A watermark of 0.5 cuts the window down to half the budget."""
    turns = [*history(10), u("new")]
    result = plan(turns, budget=1000, config=BudgetConfig(low_watermark=0.5))
    assert (result.start, result.total_tokens) == (13, 450)


def test_hysteresis_keeps_the_start_until_overflow() -> None:
    """Fed back, the start holds while the window fits, then moves again in one step."""
    stored = history(10)
    first = plan([*stored, u("new")], budget=1000)
    assert first.start == 7
    stored += [u("new", 21), a("r", 22)]
    second = plan(
        [t for t in stored if (t.seq or 0) >= first.start] + [u("n2")],
        budget=1000,
        current_start=first.start,
    )
    assert (second.start, second.moved, second.total_tokens) == (7, False, 850)
    stored += [u("n2", 23), a("r", 24)]
    third = plan(
        [t for t in stored if (t.seq or 0) >= 7] + [u("n3")],
        budget=1000,
        current_start=7,
    )
    assert (third.start, third.moved, third.total_tokens) == (7, False, 950)
    big = plan(
        [t for t in stored if (t.seq or 0) >= 7] + [u("n3", tokens=200)],
        budget=1000,
        current_start=7,
    )
    assert (big.moved, big.start, big.dropped) == (True, 13, (7, 12))


def test_pinned_first_exchange_is_replayed_before_the_window() -> None:
    """Pinned turns come first, are counted once, and are not part of what is dropped."""
    stored = history(10)
    pinned = first_exchange(stored)
    assert pinned is not None
    result = plan([*stored, u("new")], pinned=pinned, budget=1000)
    assert seqs(result) == [1, 2, *range(9, 21), None]
    assert (result.start, result.dropped, result.stable_turns) == (9, (3, 8), 2)
    assert result.total_tokens == 750
    messages(result.turns)


def test_pinned_turns_inside_the_window_are_not_repeated() -> None:
    """While the window still holds the pinned turns they appear once, and are stable."""
    stored = history(3)
    pinned = first_exchange(stored)
    assert pinned is not None
    result = plan([*stored, u("new")], pinned=pinned, budget=1000)
    assert seqs(result) == [1, 2, 3, 4, 5, 6, None]
    assert result.stable_turns == 2


def test_flagged_pinned_turn_is_kept_and_unpaired_pins_are_left_out() -> None:
    """A pinned plain turn is replayed; a pinned tool call without its result is not."""
    stored = history(10)
    keep = stored[4]  # seq 5, a user question
    lonely = a(use("t9"), 99)
    result = plan([*stored, u("new")], pinned=[keep, lonely], budget=1000)
    assert seqs(result)[0] == 5
    assert 99 not in seqs(result)
    assert result.stable_turns == 1
    messages(result.turns)


def test_pinned_tool_pair_is_kept_whole() -> None:
    """A pinned tool call and its pinned result are replayed together."""
    stored = [
        u("q", 1),
        a(use("t1"), 2),
        u(res("t1"), 3),
        a("done", 4),
        *history(10, start=5),
    ]
    result = plan([*stored, u("new")], pinned=stored[:4], budget=1000)
    assert seqs(result)[:4] == [1, 2, 3, 4]
    messages(result.turns)


def test_pinned_turns_need_a_seq() -> None:
    """A pinned turn that was never stored is refused."""
    with pytest.raises(InvalidInputError, match="pinned turns must be stored"):
        plan([u("new")], pinned=[u("x")], budget=1000)


def test_tool_loop_is_never_split() -> None:
    """The start skips over a tool loop's tool_result turns to the next real user turn."""
    stored = [
        u("q", 1),
        a(use("t1", "t2"), 2, tokens=200),
        u(res("t1", "t2"), 3, tokens=200),
        a(use("t3"), 4, tokens=200),
        u([*res("t3"), TextBlock("also")], 5, tokens=200),
        a("done", 6),
        u("q2", 7),
        a("r2", 8),
    ]
    result = plan([*stored, u("new")], budget=1000)
    assert (result.start, seqs(result)) == (7, [7, 8, None])
    messages(result.turns)


def test_same_role_user_run_stays_together() -> None:
    """A run of user turns opens one exchange: the start never falls inside it."""
    stored = [*history(4), u("first", 9), u("second", 10), a("r", 11)]
    result = plan([*stored, u("new")], budget=300)
    assert seqs(result) == [9, 10, 11, None]


def test_newest_exchange_is_used_when_nothing_reaches_the_watermark() -> None:
    """When no start gets under the watermark, the newest exchange alone is kept."""
    stored = [
        *history(2),
        u("big", 5, tokens=400),
        a(use("t1"), 6, tokens=200),
        u(res("t1"), 7, tokens=200),
    ]
    result = plan(stored, budget=900)
    assert (result.start, result.total_tokens, seqs(result)) == (5, 800, [5, 6, 7])
    messages(result.turns)


def test_newest_exchange_over_budget_names_the_sizes() -> None:
    """Even the newest exchange not fitting raises ContextBudgetError with the sizes."""
    stored = history(5)
    pinned = first_exchange(stored)
    assert pinned is not None
    with pytest.raises(ContextBudgetError) as caught:
        plan(
            [*stored, u("huge", tokens=5000)],
            pinned=pinned,
            budget=1000,
            fixed_tokens=300,
        )
    err = caught.value
    assert (err.needed, err.budget) == (5400, 1000)
    assert (
        "system and tools 300, pinned turns 100, newest exchange 5000 (seq 11 to 11)"
        in str(err)
    )


def test_new_turns_get_the_seqs_the_store_will_give() -> None:
    """A start on the in-memory turn is the seq it will be stored at."""
    stored = history(3)
    result = plan([*stored, u("new", tokens=600)], budget=700)
    assert (result.start, result.moved, seqs(result)) == (7, True, [None])
    empty = plan([u("first")], budget=700)
    assert (empty.start, empty.moved) == (0, False)


def test_nothing_to_send() -> None:
    """A window with every turn retracted is refused before planning."""
    retraction = Turn("user", "x", seq=2, kind="retraction", flags={"retracts": [1]})
    with pytest.raises(InvalidInputError, match="nothing to send"):
        plan([u("q", 1), retraction], budget=100)


def test_retracted_turns_are_left_out() -> None:
    """Retractions and the turns they hide are not replayed, pinned ones included."""
    stored = [
        *history(3),
        Turn("user", "x", seq=7, kind="retraction", flags={"retracts": [1, 4]}),
    ]
    result = plan([*stored, u("new")], pinned=stored[:2], budget=1000)
    assert seqs(result) == [2, 3, 5, 6, None]


def test_bad_retraction_is_reported() -> None:
    """A malformed retraction raises the normalizer's error."""
    bad = Turn("user", "x", seq=2, kind="retraction", flags={"retracts": "1"})
    with pytest.raises(UnrepairableHistoryError):
        plan([u("q", 1), bad, u("n")], budget=100)


def test_tokenizer_counts_are_read_from_flags() -> None:
    """With a tokenizer, exact counts come from flags; other counts from the estimate."""
    exact = u("q", 1, tokens=999, tokens_exact=True, flags={"tokens": {"tk": 10}})
    foreign = a("r", 2, tokens=999, tokens_exact=True, flags={"tokens": {"other": 5}})
    result = plan([exact, foreign, u("n", tokens=20)], budget=1000, tokenizer="tk")
    estimate = result.total_tokens - 10 - 20
    assert 0 < estimate < 999


# --- non-token limits ----------------------------------------------------------


def image(width: int = 10, height: int = 10) -> ImageBlock:
    """A real PNG of the given size."""
    return ImageBlock(
        {"type": "base64", "media_type": "image/png", "data": png_base64(width, height)}
    )


def test_image_count_moves_the_start() -> None:
    """Too many images for the model moves the start like an overflow does."""
    stored = [
        u([image(), TextBlock("look")], 1),
        a("ok", 2),
        u([image()], 3),
        a("ok", 4),
    ]
    result = plan([*stored, u([image()])], budget=10_000, max_images=2)
    assert result.start == 3
    messages(result.turns)


def test_images_inside_tool_results_and_documents_count() -> None:
    """Images nested in tool results and custom documents count too."""
    nested = ToolResultBlock("t1", (image(),))
    doc = DocumentBlock(
        {
            "type": "content",
            "content": [{"type": "image", "source": image().source}, "junk"],
        }
    )
    stored = [
        u("q", 1),
        a(use("t1"), 2),
        u([nested], 3),
        a("ok", 4),
        u([doc, TextBlock("see")], 5),
        a("ok", 6),
    ]
    assert plan([*stored, u("new")], budget=10_000, max_images=1).start == 5
    assert plan([*stored, u("new")], budget=10_000, max_images=0).start == 7


def test_many_images_with_a_large_one_moves_the_start() -> None:
    """Over 20 images, one over 2000 px forces the start past it."""
    stored = [u([image(2100, 10), TextBlock("big")], 1), a("ok", 2)]
    stored += [u([image() for _ in range(20)], 3), a("ok", 4)]
    result = plan([*stored, u("new")], budget=100_000)
    assert result.start == 3
    small = plan([*stored[2:], u("new")], budget=100_000)
    assert small.moved is False


def test_newest_exchange_with_too_many_images_is_refused() -> None:
    """The newest exchange alone over the image limits raises InvalidInputError."""
    with pytest.raises(InvalidInputError, match="3 images, more than the 2"):
        plan([u([image(), image(), image()])], budget=10_000, max_images=2)
    many = [image(2100, 10), *(image() for _ in range(20))]
    with pytest.raises(InvalidInputError, match="1 of them over 2000 px"):
        plan([u(many)], budget=100_000)


def test_request_size_moves_the_start_and_refuses_the_impossible() -> None:
    """Turn JSON over the byte limit moves the start; the newest alone over it is refused."""
    room = 256 * 1024 + 2000
    stored = [u("x" * 1900, 1), a("ok", 2)]
    result = plan([*stored, u("new")], budget=10_000, max_request_bytes=room)
    assert result.start == 3
    with pytest.raises(InvalidInputError, match="bytes of JSON"):
        plan([u("x" * 5000)], budget=10_000, max_request_bytes=room)
    with pytest.raises(InvalidInputError, match="bytes of JSON"):
        plan([u("new")], budget=10_000, fixed_bytes=32 * 1024 * 1024)


# --- summaries ------------------------------------------------------------------


def summary(
    first: int, last: int, seq: int | None = None, text: str = "earlier"
) -> Turn:
    """A stored summary turn covering *first* to *last*."""
    turn = summary_turn(text, first, last)
    return Turn(
        "user", turn.blocks, seq=seq, kind="summary", flags=dict(turn.flags), tokens=20
    )


def test_summary_is_placed_after_the_pinned_turns() -> None:
    """The newest summary ending before the start follows the pinned turns."""
    stored = [*history(10), summary(3, 8, 21)]
    window = [t for t in stored if (t.seq or 0) >= 9]
    pinned = stored[:2]
    result = plan([*window, u("new")], pinned=pinned, budget=1000, current_start=9)
    assert seqs(result) == [1, 2, 21, *range(9, 21), None]
    assert result.summary is not None
    assert result.summary.seq == 21
    assert result.stable_turns == 2
    out = messages(result.turns)
    # The summary merges with the window's first user turn into one message.
    assert [b["text"] for b in out[2]["content"]] == ["earlier", "q9"]


SUMMARY_CHOICE = [
    pytest.param([(3, 8), (1, 4)], 0, id="ends-nearest-the-start"),
    pytest.param([(1, 8), (3, 8)], 1, id="newest-on-a-tie"),
    pytest.param([(3, 9)], None, id="ends-at-the-start"),
    pytest.param([(3, 15)], None, id="ends-inside-the-window"),
]


@pytest.mark.parametrize(("covers", "expected"), SUMMARY_CHOICE)
def test_which_summary_is_used(
    covers: list[tuple[int, int]], expected: int | None
) -> None:
    """Only summaries ending before the start are used: the nearest, then the newest."""
    summaries = [
        summary(f, l_, 21 + k, text=f"s{k}") for k, (f, l_) in enumerate(covers)
    ]
    window = [t for t in history(10) if (t.seq or 0) >= 9]
    result = plan([*window, *summaries, u("new")], budget=10_000, current_start=9)
    chosen = None if expected is None else summaries[expected]
    assert result.summary == chosen


def test_summary_is_dropped_when_only_that_makes_it_fit() -> None:
    """If the newest exchange fits only without the summary, the summary goes."""
    stored = [summary(1, 4, 5), u("q", 6, tokens=100), a("r", 7, tokens=100)]
    result = plan([*stored, u("new", tokens=940)], budget=950, current_start=5)
    assert result.summary is None
    assert seqs(result) == [None]


def test_summary_covers() -> None:
    """Covers are read only from well-formed summary turns."""
    good = summary(2, 5)
    assert summary_covers(good) == (2, 5)
    assert summary_covers(u("x", flags={"covers": [2, 5]})) is None
    bad: list[dict[str, Any]] = [
        {"covers": [5, 2]},
        {"covers": [1]},
        {"covers": [True, 2]},
        {"covers": "1-2"},
        {},
    ]
    for flags in bad:
        assert summary_covers(Turn("user", "s", kind="summary", flags=flags)) is None


def test_summary_turn() -> None:
    """A summary turn is stored user text marked with the span it covers."""
    turn = summary_turn("It went well.", 3, 9, turn_id="s1")
    assert (turn.role, turn.kind, turn.id, turn.text) == (
        "user",
        "summary",
        "s1",
        "It went well.",
    )
    assert dict(turn.flags) == {"covers": [3, 9]}
    assert turn.tokens is not None
    assert turn.tokens > 0
    with pytest.raises(InvalidInputError, match="non-whitespace"):
        summary_turn("  ", 1, 2)
    with pytest.raises(InvalidInputError, match="1 <= first <= last"):
        summary_turn("x", 4, 2)


def test_summary_request_after_a_move() -> None:
    """The summarizer gets the dropped turns, after the summary in use if there is one."""
    stored = [*history(10), u("new", 21)]
    result = plan(stored, budget=1000, pinned=stored[:2])
    assert result.dropped == (3, 8)
    req = summary_request(result.dropped, stored)
    assert req is not None
    assert ([t.seq for t in req.turns], req.first_seq, req.last_seq) == (
        list(range(3, 9)),
        3,
        8,
    )
    previous = summary(3, 6, 22)
    rolled = summary_request((3, 10), stored, previous=previous)
    assert rolled is not None
    assert ([t.seq for t in rolled.turns], rolled.first_seq, rolled.last_seq) == (
        [22, 7, 8, 9, 10],
        3,
        10,
    )
    assert summary_request(None, stored) is None
    assert summary_request((3, 6), stored, previous=previous) is None


def test_transcript() -> None:
    """Turns render as plain text; thinking is left out."""
    turns = [
        summary(1, 2),
        u([TextBlock("Weather?"), ImageBlock({"type": "url", "url": "u"})]),
        a([ThinkingBlock("hmm", "sig"), *use("t1")]),
        u(
            [
                ToolResultBlock("t1", "sunny"),
                ToolResultBlock("t2", (TextBlock("warm"),)),
            ]
        ),
        a(
            [
                DocumentBlock({"type": "text", "data": "d"}),
                RawBlock({"type": "compaction"}),
            ]
        ),
    ]
    assert transcript(turns) == (
        "Earlier summary: earlier\n\n"
        "User: Weather?\n[image]\n\n"
        'Assistant: [tool call lookup: {"q": "t1"}]\n\n'
        "User: [tool result: sunny]\n[tool result: warm]\n\n"
        "Assistant: [document]\n[compaction]"
    )
    assert "Summarize" in SUMMARY_INSTRUCTIONS


@pytest.mark.anyio
async def test_summarizer_protocols() -> None:
    """Plain and async callables of turns are summarizers."""

    def plain(turns: Sequence[Turn]) -> str:
        return f"{len(turns)} turns"

    async def coroutine(turns: Sequence[Turn]) -> str:
        return f"{len(turns)} turns"

    sync_one: Summarizer = plain
    async_one: AsyncSummarizer = coroutine
    assert sync_one([u()]) == "1 turns"
    assert await async_one([u()]) == "1 turns"
    assert inspect.iscoroutinefunction(AsyncSummarizer.__call__)
