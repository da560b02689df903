"""The context budget and the window: which turns a request replays (pure).

**Budget.** `BudgetConfig.budget` (`conversa._values.settings`, where a
conversation's budget setting lives) is the model's context window minus
`max_tokens` minus a margin, or a fixed number.

**Window.** `plan_window` keeps the system prompt, tools and pinned turns (the
first exchange by default, and any turn flagged `pinned`), then the newest whole
exchanges that fit (`conversa._core.summaries` defines an exchange). So a window never
splits a tool_use from its tool_result, always opens on a real user turn, and never
trims inside the newest exchange (the last assistant turn's thinking stays). The
newest summary that ends before the window goes between the pinned turns and the
window; retracted turns are not replayed.

**Hysteresis.** The start is stored on the conversation (`window_start`), so every
worker replays the same prefix. While everything from the current start fits, it
does not move, and the replayed prefix stays byte-identical call after call: the
prompt cache keeps hitting. It moves only when the request would not fit the
budget, and then forward in one step, to the earliest exchange from which the
request is at most `low_watermark` of the budget: not below the watermark, unless
whole exchanges force it (the exchange that straddles it goes too), or to the
newest exchange if nothing smaller fits. Counts are exact for every turn a call
has already counted; a turn still on an estimate (the new user turn, above all) is
sized with the ratio the conversation learned from usage (`conversa._core.calibrate`):
whether to move is decided with its high size (the ratio plus a margin of 5-25%),
where to cut with its likely size, so a large paste neither moves a window that
fits nor cuts it a margin deeper than the watermark.

The default watermark is 0.9: between moves the window grows from 90% to 100% of
the budget; a move rewrites the cached messages once (at 1.25x the input price).
Measured with benchmarks/context.py, mean fill and share of input read from cache
in the long conversation with pastes (judged by the fake API's tokenizer / by it
scaled 1.2x), then in the 300-turn one: 0.8 gives 84.4% / 83.3% fill and 87.7% /
87.3% cache reads (300 turns: 86.0% fill, 85.6% cache); 0.85 gives 85.2% / 86.4%
and 87.6% / 86.3% (87.5%, 83.6%); 0.88 gives 85.8% / 88.3% and 87.6% / 83.4%
(89.0%, 80.9%); 0.9 gives 89.2% / 88.5% and 85.4% / 82.6% (90.4%, 76.9%). 0.9 is
the lowest that keeps the long conversation at least 88% full under both judges.
The rule, not the counts, is what limits a lower one: replayed with exact counts
for every turn, 0.8 reaches only 85.2% / 84.4% there, because a pasted exchange
that straddles the watermark is dropped whole. A higher fill costs more moves, each
a cache write: at 0.9 the long conversation's input costs 12% / 19% more than at
0.8, the 300-turn one 33% more. A lower watermark moves less often and costs less;
a higher one keeps more context. The start only moves forward: to widen the window
again (after switching to a larger model), set `window_start` back to 0.

**Other limits.** Images count against the model's `max_images` (those inside
tool results too); a request with more than 20 images may not hold one over 2000
px a side (sizes read from base64 PNG/GIF/JPEG headers; others are assumed
small), and the request body must stay under 32 MB (turn content measured as
compact UTF-8 JSON, as httpx 0.28 sends it, plus *fixed_bytes* and a 256 KiB
headroom). These move the start like the token budget does. PDF pages are not
counted.

**Errors.** When even the newest exchange with the pinned turns and system and
tools exceeds the budget, `ContextBudgetError` names the sizes; when it breaks one
of the other limits, `InvalidInputError` says which. Either way, before anything
is sent. Trimming is a view: the stored history never changes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from attrs import frozen

from .._exceptions import ContextBudgetError, InvalidInputError
from .._values.settings import BudgetConfig, TokenRatio
from .._values.turns import Turn
from .calibrate import MANY_IMAGES_SIDE, TurnSize, scaling, turn_size
from .normalize import replayed
from .summaries import exchange_starts, pair_closed, pick_summary

__all__ = [
    "MAX_REQUEST_BYTES",
    # Re-exported while the conversations still take it from here; its home is
    # `conversa._values.settings`.
    "WindowPlan",
    "plan_window",
]

#: The Messages API's request body limit (32 MB on the first-party API).
MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: Room left under the body limit for the JSON around the turns.
REQUEST_BYTES_HEADROOM = 256 * 1024
#: Over this many images in a request, every image must be at most 2000 px a side.
MANY_IMAGES = 20


@frozen
class WindowPlan:
    """The turns a request replays, and where the window starts.

    Attributes:
        start: the seq the window starts at; store it as `window_start` when
            `moved`.
        turns: what to replay, in order: pinned turns before the window, the
            summary, then the window (retractions and retracted turns left out).
        moved: whether `start` differs from the current start.
        total_tokens: system and tools plus every turn in `turns`.
        dropped: the (first, last) seq of the turns this plan newly leaves out,
            for a summarizer; None when nothing was dropped.
        summary: the summary turn replayed, if any.
        stable_turns: how many leading `turns` are pinned and so stay the same
            when the window moves (the cache keeps a breakpoint after them).
    """

    start: int
    turns: tuple[Turn, ...]
    moved: bool
    total_tokens: int
    dropped: tuple[int, int] | None = None
    summary: Turn | None = None
    stable_turns: int = 0


def _seqs(turns: Sequence[Turn], current_start: int) -> list[int]:
    """Each turn's seq; turns held in memory get the seqs the store will give them."""
    out = [max(current_start, 1) - 1]
    for turn in turns:
        out.append(turn.seq if turn.seq is not None else out[-1] + 1)
    return out[1:]


@frozen
class _Candidate:
    """A possible window: it starts at walk index *index*."""

    index: int
    pinned: tuple[Turn, ...]
    summary: Turn | None
    size: TurnSize


class _Planner:
    """One request's turns, sized once, and the limits they must keep."""

    def __init__(
        self,
        turns: Sequence[Turn],
        pinned: Sequence[Turn],
        *,
        current_start: int,
        fixed_tokens: int,
        fixed_bytes: int,
        max_images: int,
        max_bytes: int,
        tokenizer: str | None,
        ratio: TokenRatio | None,
    ) -> None:
        self.fixed, self.tokenizer = fixed_tokens, tokenizer
        self.scale = scaling(ratio)
        self.max_images, self.max_bytes = max_images, max_bytes
        self.room = max_bytes - fixed_bytes - REQUEST_BYTES_HEADROOM
        seqs, n = _seqs(turns, current_start), len(pinned)
        visible = replayed([*pinned, *turns])
        pins: dict[int, Turn] = {}
        for p, t in visible:
            if p < n and t.kind == "message":
                if t.seq is None:
                    msg = "pinned turns must be stored turns (with a seq)"
                    raise InvalidInputError(msg)
                pins[t.seq] = t
        closed = pair_closed([pins[s] for s in sorted(pins)])
        self.pins = [(t.seq or 0, t, self.size(t)) for t in closed]
        self.pin_seqs = {seq for seq, _, _ in self.pins}
        later = [(p, t) for p, t in visible if p >= n]
        self.walk = [(seqs[p - n], t) for p, t in later if t.kind != "summary"]
        self.summaries = [t for _, t in later if t.kind == "summary"]
        if not self.walk:
            msg = "there is nothing to send: every turn is retracted or empty"
            raise InvalidInputError(msg)
        # Pinned turns inside the window count as part of it, once.
        sizes = [self.size(t) for _, t in self.walk]
        self._sizes = sizes
        # The whole walk's size, summed as numbers: most sends keep the window,
        # and then nothing else is summed (`suffix`, `bounds`: on a cut alone).
        self.total = TurnSize(
            self.fixed + sum([s.tokens for s in sizes]),
            sum([s.images for s in sizes]),
            sum([s.large for s in sizes]),
            sum([s.bytes for s in sizes]),
            self.fixed + sum([s.mid for s in sizes]),
        )

    @functools.cached_property
    def suffix(self) -> list[TurnSize]:
        """The size of the walk from each index on (system and tools included)."""
        suffix = [TurnSize(tokens=self.fixed, mid=self.fixed)] * (len(self.walk) + 1)
        for i in range(len(self.walk) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + self._sizes[i]
        return suffix

    @functools.cached_property
    def bounds(self) -> list[int]:
        """The walk indexes where an exchange may start (`exchange_starts`)."""
        return exchange_starts([t for _, t in self.walk])

    def size(self, turn: Turn) -> TurnSize:
        """*turn* against the limits, estimates sized by the learned ratio."""
        return turn_size(turn, self.tokenizer, self.scale)

    def candidate(self, index: int, *, with_summary: bool = True) -> _Candidate:
        """The window from walk index *index*, with pinned turns, summary, system and tools."""
        first = self.walk[index][0]
        before = [(t, size) for seq, t, size in self.pins if seq < first]
        summary = pick_summary(self.summaries, first) if with_summary else None
        rest = self.total if index == 0 else self.suffix[index]
        size = sum((size for _, size in before), rest)
        if summary is not None:
            size += self.size(summary)
        return _Candidate(index, tuple(t for t, _ in before), summary, size)

    def problem(self, c: _Candidate, limit: float) -> str | None:
        """Why *c* does not fit under *limit* tokens and the other limits, or None."""
        size = c.size
        if size.tokens > limit:
            return "tokens"
        if size.images > self.max_images:
            return f"{size.images} images, more than the {self.max_images} the model takes in one request"
        if size.images > MANY_IMAGES and size.large:
            return (
                f"{size.images} images, {size.large} of them over {MANY_IMAGES_SIDE} px "
                f"a side: a request with more than {MANY_IMAGES} images may not hold "
                f"any image over {MANY_IMAGES_SIDE} px"
            )
        if size.bytes > self.room:
            return (
                f"{size.bytes} bytes of JSON, more than the {self.room} left of the "
                f"{self.max_bytes}-byte request limit after system, tools and headroom"
            )
        return None

    def refusal(self, c: _Candidate, why: str, budget: int) -> Exception:
        """The error for a newest exchange that does not fit."""
        if why != "tokens":
            msg = f"the newest exchange, with the pinned turns, has {why}"
            return InvalidInputError(msg)
        first, last = self.walk[c.index][0], self.walk[-1][0]
        pinned = sum(size.tokens for seq, _, size in self.pins if seq < first)
        exchange = self.suffix[c.index].tokens - self.fixed
        detail = (
            f"system and tools {self.fixed}, pinned turns {pinned}, newest exchange "
            f"{exchange} (seq {first} to {last})"
        )
        return ContextBudgetError(needed=c.size.tokens, budget=budget, detail=detail)

    def result(self, c: _Candidate, current_start: int) -> WindowPlan:
        """The plan for the chosen candidate."""
        window = [t for _, t in self.walk[c.index :]]
        out = (*c.pinned, *((c.summary,) if c.summary else ()), *window)
        stable = next(
            (
                i
                for i, t in enumerate(out)
                if t.seq not in self.pin_seqs or t.kind != "message"
            ),
            len(out),
        )
        dropped = [s for s, _ in self.walk[: c.index] if s not in self.pin_seqs]
        start = self.walk[c.index][0] if c.index else current_start
        return WindowPlan(
            start,
            out,
            start != current_start,
            c.size.tokens,
            (dropped[0], dropped[-1]) if dropped else None,
            c.summary,
            stable,
        )


def plan_window(
    turns: Sequence[Turn],
    *,
    pinned: Sequence[Turn] = (),
    fixed_tokens: int = 0,
    budget: int,
    current_start: int = 0,
    config: BudgetConfig | None = None,
    max_images: int,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    fixed_bytes: int = 0,
    tokenizer: str | None = None,
    ratio: TokenRatio | None = None,
) -> WindowPlan:
    """Plan which turns a request replays (see the module docstring for the rules).

    Args:
        turns: the stored turns from *current_start* on, oldest first, then the
            new turns held in memory (seq None; they get the seqs the store will
            give them).
        pinned: stored turns replayed before the window whatever it holds (the
            `first_exchange`, turns flagged pinned); those inside the window are
            not repeated. A pinned turn whose tool call or result is not pinned
            with it is left out, so the prefix stays valid.
        fixed_tokens: system prompt plus tools.
        budget: the input token budget (`BudgetConfig.budget`).
        current_start: the conversation's `window_start`.
        config: where the low watermark comes from.
        max_images: the model's image limit (`ModelCapabilities.max_images`).
        max_request_bytes: the API's body limit.
        fixed_bytes: the JSON size of system, tools and the other parameters.
        tokenizer: read exact counts for this tokenizer (`token_count`); None to
            take `Turn.tokens` as it is.
        ratio: the conversation's learned ratio for *tokenizer*
            (`conversa._core.calibrate.latest_ratio`): turns still on an
            estimate are sized by it; None for the plain estimate.

    Raises:
        ContextBudgetError: the newest exchange, with the pinned turns, system
            and tools, exceeds the budget.
        InvalidInputError: it breaks the image or request-size limits.
        UnrepairableHistoryError: a retraction's flags are malformed.
    """
    watermark = (config or BudgetConfig()).low_watermark
    plan = _Planner(
        turns,
        pinned,
        fixed_tokens=fixed_tokens,
        tokenizer=tokenizer,
        max_images=max_images,
        max_bytes=max_request_bytes,
        fixed_bytes=fixed_bytes,
        current_start=current_start,
        ratio=ratio,
    )
    chosen = plan.candidate(0)
    if plan.problem(chosen, budget) is None:
        return plan.result(chosen, current_start)
    # The earliest exchange that brings the request to the watermark: aimed with
    # the estimates' likely size (`TurnSize.mid`), checked against the budget with
    # their high one, so a cut does not land a margin below the watermark.
    aim = watermark * budget
    later = (plan.candidate(i) for i in plan.bounds[1:])
    found = next(
        (c for c in later if c.size.mid <= aim and plan.problem(c, budget) is None),
        None,
    )
    if found is None:
        found = plan.candidate(plan.bounds[-1])
        if plan.problem(found, budget) is not None:
            # The summary is optional context: without it the newest may fit.
            found = plan.candidate(plan.bounds[-1], with_summary=False)
        why = plan.problem(found, budget)
        if why is not None:
            raise plan.refusal(found, why, budget)
    return plan.result(found, current_start)
