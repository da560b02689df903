"""Property tests: any history and budget give a window the API takes, or a clear error.

Histories mix tool loops, parallel tool calls, thinking, same-role runs, images
(some over 2000 px), summaries, retractions and pinned turns; budgets and image
limits are random. A plan must normalize without error, fit the budget and the
image rules, end with the newest turn, open its window on a real user turn
whenever it moved, and never leave a tool_use without its tool_result. Fed back
with one more exchange, the start holds exactly while the window still fits.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from attrs import frozen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversa._core.calibrate import token_count
from conversa._core.estimate import image_size
from conversa._core.normalize import replayed, to_messages
from conversa._core.summaries import (
    first_exchange,
    is_real_user_turn,
    summary_covers,
    summary_turn,
)
from conversa._core.window import WindowPlan, plan_window
from conversa._exceptions import (
    ContextBudgetError,
    InvalidInputError,
    UnrepairableHistoryError,
)
from conversa._values.blocks import (
    Block,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from conversa._values.capabilities import capabilities_for
from conversa._values.settings import BudgetConfig
from conversa._values.turns import Turn
from conversa.testing import png_base64
from conversa.testing._signing import Signer

MODEL = "claude-sonnet-4-5"
SMALL = png_base64(8, 8)
LARGE = png_base64(2100, 1)
#: A signature the strict fake (seed 0) accepts, so bodies can be sent to it.
SIGNATURE = Signer(0).sign("let me see", nonce="n", omitted=False)


@frozen
class Case:
    """A stored history, the new turn, pinned turns and the limits to plan with."""

    stored: tuple[Turn, ...]
    new: Turn
    pinned: tuple[Turn, ...]
    budget: int
    fixed: int
    max_images: int
    watermark: float


def _image(draw: Any) -> ImageBlock:
    data = LARGE if draw(st.integers(0, 9)) == 0 else SMALL
    return ImageBlock({"type": "base64", "media_type": "image/png", "data": data})


def _user_blocks(draw: Any) -> list[Block]:
    blocks: list[Block] = [
        TextBlock(draw(st.sampled_from(["hi", "what now?", "x" * 40])))
    ]
    if draw(st.integers(0, 3)) == 0:
        blocks.append(_image(draw))
    return blocks


@st.composite
def cases(draw: Any) -> Case:
    """Draw a history of whole exchanges, then a new turn that continues it."""
    turns: list[Turn] = []
    seq = itertools.count(1)
    ids = itertools.count()

    def add(role: str, blocks: Sequence[Block], **kw: Any) -> Turn:
        tokens = draw(st.one_of(st.none(), st.integers(1, 400)))
        turn = Turn(role, blocks, seq=next(seq), tokens=tokens, **kw)  # type: ignore[arg-type]
        turns.append(turn)
        return turn

    def thinking() -> list[Block]:
        return [ThinkingBlock("let me see", SIGNATURE)] if draw(st.booleans()) else []

    def tool_round() -> list[Block]:
        calls = [f"toolu_{next(ids)}" for _ in range(draw(st.integers(1, 3)))]
        add(
            "assistant", [*thinking(), *(ToolUseBlock(c, "f", {"c": c}) for c in calls)]
        )
        results: list[Block] = [
            ToolResultBlock(c, (TextBlock("ok"), _image(draw)))
            if draw(st.integers(0, 4)) == 0
            else ToolResultBlock(c, "ok")
            for c in calls
        ]
        return results + ([TextBlock("note")] if draw(st.booleans()) else [])

    exchanges = draw(st.integers(1, 9))
    for _ in range(exchanges):
        for _ in range(draw(st.integers(1, 2))):
            add("user", _user_blocks(draw))
        for _ in range(draw(st.integers(0, 2))):
            add("user", tool_round())
        reply = add("assistant", [*thinking(), TextBlock("answer")])
        if draw(st.integers(0, 5)) == 0:
            retraction = add(
                "user",
                [TextBlock("r")],
                kind="retraction",
                flags={"retracts": [reply.seq]},
            )
            add("assistant", [TextBlock("better answer")], id=f"{retraction.id}.again")
        if draw(st.booleans()):
            add("assistant", [TextBlock("and more")])
        if draw(st.integers(0, 3)) == 0:
            last = next(seq) - 1
            first = draw(st.integers(1, last))
            text = summary_turn(
                "earlier: things", first, draw(st.integers(first, last))
            )
            add("user", text.blocks, kind="summary", flags=dict(text.flags))
    if draw(st.booleans()):
        new = Turn("user", _user_blocks(draw), tokens=draw(st.integers(1, 400)))
    else:
        new = Turn("user", tool_round(), tokens=draw(st.integers(1, 400)))
    pinned: list[Turn] = []
    if draw(st.booleans()):
        pinned += first_exchange(turns) or ()
    plain = [t for t in turns if t.kind == "message" and t not in pinned]
    plain = [
        t
        for t in plain
        if not any(isinstance(b, ToolUseBlock | ToolResultBlock) for b in t.blocks)
    ]
    if plain and draw(st.booleans()):
        pinned.append(draw(st.sampled_from(plain)))
    pinned.sort(key=lambda t: t.seq or 0)
    return Case(
        tuple(turns),
        new,
        tuple(pinned),
        draw(st.one_of(st.integers(0, 2000), st.integers(2000, 15000))),
        draw(st.integers(0, 300)),
        draw(st.sampled_from([0, 1, 3, 25, 100])),
        draw(st.sampled_from([0.5, 0.75, 1.0])),
    )


def _plan(case: Case, turns: Sequence[Turn], start: int) -> WindowPlan:
    return plan_window(
        turns,
        pinned=case.pinned,
        fixed_tokens=case.fixed,
        budget=case.budget,
        current_start=start,
        config=BudgetConfig(low_watermark=case.watermark),
        max_images=case.max_images,
    )


def _images(blocks: Sequence[Block]) -> list[ImageBlock]:
    out = [b for b in blocks if isinstance(b, ImageBlock)]
    for b in blocks:
        if isinstance(b, ToolResultBlock) and isinstance(b.content, tuple):
            out += _images(b.content)
    return out


def _image_rules_ok(turns: Sequence[Turn], max_images: int) -> bool:
    images = [i for t in turns for i in _images(t.blocks)]
    large = [i for i in images if max(image_size(i.source) or (0, 0)) > 2000]
    return len(images) <= max_images and not (len(images) > 20 and large)


def _tokens(turns: Sequence[Turn]) -> int:
    return sum(token_count(t)[0] for t in turns)


def _check(case: Case, plan: WindowPlan, newest: Turn) -> None:
    """The five promises of a plan."""
    caps = capabilities_for(MODEL, {"max_images": case.max_images})
    to_messages(plan.turns, model=MODEL, caps=caps, new_turn_ids={newest.id})
    assert plan.total_tokens == case.fixed + _tokens(plan.turns) <= case.budget
    assert _image_rules_ok(plan.turns, case.max_images)
    assert plan.turns[-1] is newest
    if plan.moved:
        # Pinned turns before the window have lower seqs; the summary is no message.
        window = [
            t
            for t in plan.turns
            if t.kind == "message" and (t.seq or 10**9) >= plan.start
        ]
        assert is_real_user_turn(window[0])
    uses = {b.id for t in plan.turns for b in t.blocks if isinstance(b, ToolUseBlock)}
    answers = {
        b.tool_use_id
        for t in plan.turns
        for b in t.blocks
        if isinstance(b, ToolResultBlock)
    }
    assert uses == answers


def _attempt(case: Case, turns: Sequence[Turn], start: int) -> WindowPlan | None:
    """Plan, or check that the refusal is the planner's own and return None."""
    try:
        return _plan(case, turns, start)
    except (ContextBudgetError, InvalidInputError) as caught:
        err: Exception = caught
    if isinstance(err, ContextBudgetError):
        assert err.needed > err.budget == case.budget
    else:
        assert not isinstance(err, UnrepairableHistoryError)
        assert str(err).startswith("the newest exchange, with the pinned turns, has")
    return None


def _fits_from_start(case: Case, turns: Sequence[Turn], *, summary: bool) -> bool:
    """Whether the window from the current start fits, computed independently."""
    visible = [t for _, t in replayed([*case.pinned, *turns])][len(case.pinned) :]
    walk = [t for t in visible if t.kind != "summary"]
    first = walk[0].seq or 10**9
    pins = [t for t in case.pinned if (t.seq or 0) < first]
    candidates = [
        (c[1], i, t)
        for i, t in enumerate(visible)
        if t.kind == "summary" and (c := summary_covers(t)) is not None and c[1] < first
    ]
    chosen = [max(candidates)[2]] if candidates and summary else []
    everything = [*pins, *chosen, *walk]
    return case.fixed + _tokens(everything) <= case.budget and _image_rules_ok(
        everything, case.max_images
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_any_history_plans_a_valid_window_or_a_clear_error(case: Case) -> None:
    """A plan normalizes, fits, ends with the newest turn and keeps tool pairs whole."""
    plan = _attempt(case, [*case.stored, case.new], 0)
    if plan is not None:
        _check(case, plan, case.new)
        assert plan == _plan(case, [*case.stored, case.new], 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.data())
def test_start_holds_until_the_window_overflows(
    case: Case, data: st.DataObject
) -> None:
    """With one more exchange, the start moves exactly when the window stops fitting."""
    plan = _attempt(case, [*case.stored, case.new], 0)
    if plan is None:
        return
    last = case.stored[-1].seq or 0
    stored = [*case.stored, case.new.with_seq(last + 1)]
    stored.append(
        Turn(
            "assistant",
            [TextBlock("reply")],
            seq=last + 2,
            tokens=data.draw(st.integers(1, 1500)),
        )
    )
    newest = Turn("user", "again", tokens=data.draw(st.integers(1, 1500)))
    turns = [t for t in stored if (t.seq or 0) >= plan.start] + [newest]
    again = _attempt(case, turns, plan.start)
    fits = _fits_from_start(case, turns, summary=True)
    if again is None:
        assert not fits
        return
    _check(case, again, newest)
    if fits:
        assert (again.start, again.moved) == (plan.start, False)
    elif not again.moved:
        # Only dropping the optional summary made the same start fit.
        assert again.summary is None
        assert _fits_from_start(case, turns, summary=False)
    else:
        assert again.start > plan.start
