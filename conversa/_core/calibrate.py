"""Token calibration: exact token counts from the API's own usage numbers.

Every call tells the exact size of what was sent: `input_tokens +
cache_read_input_tokens + cache_creation_input_tokens` (the reply's `usage`). The
request is made of *parts* (system and tools together, then each replayed turn);
some already have an exact count from earlier calls, the others only the offline
estimate (`conversa._core.estimate`, which leans high). `calibrate` gives the unknown
parts the rest of the total, `total - sum(exact)`, shared in proportion to their
estimates: when only the new turns are unknown (the usual case after the first
call) that is their exact size; when several are unknown the sum is exact and the
split is as good as the estimates' proportions.

Choices, and why:

- **Never negative, never learned from nonsense.** Counts are not perfectly
  additive (message framing; older models drop earlier turns' thinking, which was
  counted when the turn was the newest). When the remainder is less than one token
  per unknown part, the known counts already over-explain the total, and any split
  would be a guess smaller than the truth; `calibrate` then returns None and
  nothing is learned from that call: the estimates, which lean high, stay. Each
  unknown part gets at least one token, and the integers always sum exactly to the
  total.
- **Counts belong to a tokenizer** (`ModelCapabilities.tokenizer`): Opus 4.7 and
  later count about 30% more tokens for the same text than earlier models. A
  turn keeps its exact counts per tokenizer in its `TOKENS` flag, e.g.
  `{"claude-4.7": 812, "claude": 640}`, so a model change never plans with another
  tokenizer's numbers. `Turn.tokens` / `tokens_exact` hold the count for the model
  used last; `token_count` reads the right one for any tokenizer.
- **System and tools are one part.** The API adds a hidden tool-use system prompt
  of a few hundred tokens when tools are present (`TOOL_PROMPT_TOKENS` in the
  estimate), which only this part can absorb. Its exact count is kept per
  tokenizer and per content (`fixed_key`), since the system prompt and tools can
  change during a conversation.

**The learned ratio.** Until a call makes it exact, a turn has only the estimate,
and the estimate leans high on purpose (about 30% on English prose, less on code
or JSON, more on ids and dates; against another tokenizer it may lean low). For a
large new user turn (a pasted log) that error moved windows that would have fitted
and cut them deeper than the low watermark. So every call that makes turns' counts
exact is also a sample of how this conversation's text counts: the pair (estimate,
exact) of the turns that were unknown, all together. A sample is taken only when
the system+tools count is already exact (otherwise the split is a guess) and when
the turns' text is estimated at `MIN_SAMPLE` tokens or more. Each conversation keeps
a running record of its samples per tokenizer (`TokenRatio`), and a turn still on
an estimate is sized with what it has learned:

- **A ratio that depends on the mix.** A sample is a point (share, ratio): the
  share of its estimate that is marks (punctuation and characters outside ASCII,
  `estimate_parts`), and its exact count over its estimate. The record keeps the
  running means of share, ratio, share², share x ratio, and `scaling` fits the
  least-squares line ratio = intercept + slope x share to them, together with two
  pseudo-samples of weight 1/2, at share 0 and at share 1, both at ratio 1
  (`PRIOR`: the plain estimate, where the conversation has shown nothing else; a
  conversation of Japanese, say, then does not extrapolate its ratio to a pasted
  English log). Prose (few marks) and a
  pasted JSON or log (many) then count at their own ratios: on the fake API's
  tokenizer prose counts about 0.7 of its estimate and JSON about 0.86, and one
  ratio for both would size a pasted JSON about 20% low. Images, PDFs and redacted
  thinking keep their formula; the ratio covers words, marks and framing.
- **Running and bounded.** The means are weighted running means: a sample weighs
  its estimate over `FULL_SAMPLE` (at most 1) and the total weight is capped at
  `MEMORY`, so the record follows about the last twenty full samples and forgets
  older text. Sample ratios and predictions stay within `RATIO_BOUNDS`. Beside the
  means it keeps `spread`, the running mean absolute error of the line's
  prediction for each sample before it was learned.
- **Leaning high by a bounded margin.** A turn on an estimate is sized at its
  likely count (the line's ratio times the estimate) plus a margin of twice the
  line's relative error, plus `UNLIKE` (0.4) times how far the turn's share of
  marks is from the samples' mean share, kept within 5% and 25% (`MARGIN`). A
  conversation whose turns count alike gets 5%; the first pasted JSON in a
  conversation of prose gets about 20%, because there the line rests on the prior,
  not on data. Never less than 5%, because the new turn is the one part of a
  request the planner cannot know, and a request over the budget is worse than a
  window a few hundred tokens short. The decision to move the window uses this
  high size; where a cut lands uses the likely size (`TurnSize.mid`), so a cut
  aims at the low watermark rather than a margin below it
  (`conversa._core.window`).
- **Per tokenizer, per conversation.** The record is stored on the turn whose
  count the sample made exact (the `TOKEN_RATIO` turn flag), in the update that
  call writes anyway, so learning costs no extra write; a send reads the newest
  record among the turns it replays (`latest_ratio`). Another tokenizer (a model
  change to Opus 4.7, say) has no record yet and falls back to the plain estimate
  until its own calls teach it one; a model with the same tokenizer counts the
  same, so it keeps the record, as it keeps the exact counts.

`turn_size` measures a turn against every limit a request has, tokens and the
others (images, large images, JSON bytes), for window planning.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from attrs import evolve, field, frozen, validators

from .._values.blocks import Block, DocumentBlock, ImageBlock, ToolResultBlock
from .._values.jsontext import compact_json
from .._values.settings import TOKEN_RATIO, TOKENS, TokenRatio
from .._values.turns import Turn, TurnUpdate, remembered
from .estimate import (
    MESSAGE_OVERHEAD,
    Estimate,
    estimate_blocks,
    estimate_parts,
    estimate_text,
    image_size,
)

__all__ = [
    "MANY_IMAGES_SIDE",
    "TOOL_PROMPT_TOKENS",
    "Learned",
    "Part",
    "Scaling",
    "TurnSize",
    "calibrate",
    "estimate_fixed",
    "exact_count",
    "fixed_exact",
    "fixed_key",
    "latest_ratio",
    "learn",
    "learn_ratio",
    "scaling",
    "token_count",
    "turn_size",
    "with_counts",
    "with_fixed_exact",
]

#: `{"role":"assistant","content":` and the rest around one message.
MESSAGE_BYTES = 40
#: An image over this many px a side is "large": see `conversa._core.window`.
MANY_IMAGES_SIDE = 2000
#: The hidden system prompt the API adds when tools are given: 313-346 tokens on
#: the Claude 4 models by the tool-use docs; rounded up, as estimates lean high.
TOOL_PROMPT_TOKENS = 400
#: Where a sample's ratio and a predicted one are kept (exact / estimate).
RATIO_BOUNDS = (0.25, 4.0)
#: A sample estimated under this many tokens teaches nothing: framing dominates it.
MIN_SAMPLE = 32
#: A sample estimated at this many tokens counts fully; smaller ones less.
FULL_SAMPLE = 256
#: The most weight the running means keep: about the last twenty full samples.
MEMORY = 20.0
#: Pseudo-samples (share, ratio, weight) the line is fitted with besides the
#: samples: the plain estimate, for all-words text and for all-marks text.
PRIOR = ((0.0, 1.0, 0.5), (1.0, 1.0, 0.5))
#: The margin over the expected count a turn on an estimate is sized with: twice
#: the line's relative error plus `UNLIKE` times how far the turn's share of marks
#: is from the samples' mean share, kept within these bounds.
MARGIN = (0.05, 0.25)
UNLIKE = 0.4


def _count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


@frozen
class Part:
    """One part of a request for calibration: its estimate, and its exact count if known."""

    estimate: int = field(validator=validators.ge(0))
    exact: int | None = field(default=None, kw_only=True)


def calibrate(parts: Sequence[Part], total: int) -> tuple[int, ...] | None:
    """Return the count of each part, given the exact *total* of the request.

    Exact parts keep their count. The unknown parts share `total - sum(exact)` in
    proportion to their estimates (largest remainder, ties to the earlier part);
    a part left with 0 gets 1, taken from the largest share. The counts sum
    exactly to *total*.

    Returns:
        The counts, in the order of *parts*; or None when the remainder is smaller
        than one token per unknown part (see the module docstring). With no
        unknown part the exact counts come back as they are.
    """
    return _split([p.estimate for p in parts], [p.exact for p in parts], total)


def _split(
    estimates: Sequence[int], exacts: Sequence[int | None], total: int
) -> tuple[int, ...] | None:
    """`calibrate`, on the parts' estimates and exact counts side by side."""
    known = sum(exact for exact in exacts if exact is not None)
    unknown = [i for i, exact in enumerate(exacts) if exact is None]
    counts = [exact or 0 for exact in exacts]
    rest = total - known
    if not unknown:
        return tuple(counts)
    if rest < len(unknown):
        return None
    weights = [max(estimates[i], 1) for i in unknown]
    whole = sum(weights)
    shares = [rest * w // whole for w in weights]
    # Largest remainder: the parts whose share lost most to rounding get one more.
    order = sorted(range(len(weights)), key=lambda k: (-(rest * weights[k] % whole), k))
    for k in order[: rest - sum(shares)]:
        shares[k] += 1
    for k, share in enumerate(shares):
        if share == 0:
            # Every message costs some framing: no part is sized at nothing.
            shares[shares.index(max(shares))] -= 1
            shares[k] = 1
    for k, i in enumerate(unknown):
        counts[i] = shares[k]
    return tuple(counts)


def exact_count(turn: Turn, tokenizer: str) -> int | None:
    """Return *turn*'s exact count for *tokenizer*, if one was learned."""
    return _count(TOKENS.of(turn).get(tokenizer))


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def _text(parts: Estimate) -> int:
    """The part of an estimate the ratio covers: words, marks and framing."""
    return parts.words + parts.marks + parts.framing


def _share(parts: Estimate) -> float:
    text = _text(parts)
    return parts.marks / text if text else 0.0


@frozen
class Scaling:
    """The ratio line fitted to a conversation's samples: how estimates are sized.

    Attributes:
        intercept: the ratio of an estimate that is all words and framing.
        slope: how the ratio changes with the share of marks.
        spread: the line's running mean absolute error (`TokenRatio.spread`).
        share: the samples' mean share of marks.
    """

    intercept: float
    slope: float
    spread: float
    share: float

    def ratio(self, parts: Estimate) -> float:
        """The expected exact / estimate for an estimate in these *parts*."""
        return _clamp(self.intercept + self.slope * _share(parts), RATIO_BOUNDS)

    def sizes(self, parts: Estimate) -> tuple[int, int]:
        """(high, mid): the count to check the budget with, and the likely count."""
        text = _text(parts)
        ratio = self.ratio(parts)
        # Twice the line's relative error, plus more the further the turn's mix is
        # from the samples' (there the line rests on the prior more than on data).
        unlike = abs(_share(parts) - self.share)
        margin = _clamp(2 * self.spread / ratio + UNLIKE * unlike, MARGIN)
        high = math.ceil(text * ratio * (1 + margin))
        return parts.other + high, parts.other + math.ceil(text * ratio)


def scaling(ratio: TokenRatio | None) -> Scaling | None:
    """Fit the ratio line to *ratio*'s means and the prior (None: the plain estimate).

    A weighted least-squares line of ratio against share, over the samples (their
    running means) and the `PRIOR` pseudo-samples. Fitted once per value: a send
    fits its conversation's line to plan the window and again to learn from the
    reply.
    """
    if ratio is None or ratio.weight <= 0:
        return None
    return _scaling(ratio)


@functools.lru_cache(maxsize=256)
def _scaling(ratio: TokenRatio) -> Scaling:
    n = ratio.weight + sum(w for _, _, w in PRIOR)

    def mean(own: float, of_prior: Callable[[float, float], float]) -> float:
        return (ratio.weight * own + sum(w * of_prior(s, r) for s, r, w in PRIOR)) / n

    share = mean(ratio.share, lambda s, _: s)
    value = mean(ratio.ratio, lambda _, r: r)
    share2 = mean(ratio.share2, lambda s, _: s * s)
    cross = mean(ratio.cross, lambda s, r: s * r)
    # The prior's pseudo-samples at share 0 and at share 1 keep the variance above 0.
    slope = (cross - share * value) / (share2 - share * share)
    return Scaling(value - slope * share, slope, ratio.spread, ratio.share)


def learn_ratio(
    previous: TokenRatio | None, sample: Estimate, exact: int
) -> TokenRatio | None:
    """Return the running record after one sample (see the module docstring).

    A sample under `MIN_SAMPLE` estimated tokens leaves it as it was.

    Args:
        previous: the conversation's record so far for the tokenizer, if any.
        sample: the estimate of the turns the call made exact, in two parts.
        exact: their exact count, all together.
    """
    text = _text(sample)
    if text < MIN_SAMPLE:
        return previous
    state = previous or TokenRatio(0.0, 0.0, 0.0, 0.0, 0.0)
    line = scaling(state)
    expected = line.ratio(sample) if line is not None else 1.0
    share = _share(sample)
    seen = _clamp((exact - sample.other) / text, RATIO_BOUNDS)
    weight = min(1.0, text / FULL_SAMPLE)
    step = weight / (state.weight + weight)

    def move(old: float, new: float) -> float:
        return old + step * (new - old)

    return TokenRatio(
        weight=min(state.weight + weight, MEMORY),
        share=move(state.share, share),
        ratio=move(state.ratio, seen),
        share2=move(state.share2, share * share),
        cross=move(state.cross, share * seen),
        spread=move(state.spread, abs(seen - expected)),
    )


def latest_ratio(turns: Sequence[Turn], tokenizer: str) -> TokenRatio | None:
    """The newest ratio for *tokenizer* stored on one of *turns*, if any."""
    for turn in reversed(turns):
        if TOKEN_RATIO.key in turn.flags:
            found = TOKEN_RATIO.of(turn).get(tokenizer)
            if found is not None:
                return found
    return None


def token_count(turn: Turn, tokenizer: str | None = None) -> tuple[int, bool]:
    """Return *turn*'s token count and whether it is exact.

    With a *tokenizer*, only a count learned for that tokenizer is exact; an exact
    `Turn.tokens` without one belongs to another tokenizer and is replaced by the
    estimate. Without one, `Turn.tokens` is taken as it is. A turn with no count
    gets the estimate. Counted once per turn value and tokenizer (`_measured`).
    """
    counts = _measured(turn).counts
    known = counts.get(tokenizer)
    if known is None:
        known = counts[tokenizer] = _token_count(turn, tokenizer)
    return known


def _token_count(turn: Turn, tokenizer: str | None) -> tuple[int, bool]:
    if tokenizer is not None:
        exact = exact_count(turn, tokenizer)
        if exact is not None:
            return exact, True
        if turn.tokens is not None and not turn.tokens_exact:
            return turn.tokens, False
        return estimate_blocks(turn.blocks), False
    if turn.tokens is not None:
        return turn.tokens, turn.tokens_exact
    return estimate_blocks(turn.blocks), False


def with_counts(turns: Sequence[Turn], tokenizer: str) -> tuple[Turn, ...]:
    """Return *turns* with `tokens`/`tokens_exact` set for *tokenizer* (see `token_count`)."""
    out = []
    for turn in turns:
        tokens, exact = token_count(turn, tokenizer)
        if (turn.tokens, turn.tokens_exact) != (tokens, exact):
            turn = evolve(turn, tokens=tokens, tokens_exact=exact)
        out.append(turn)
    return tuple(out)


@frozen
class Learned:
    """What one call taught: turn updates to store, and the system+tools count.

    Attributes:
        updates: one `TurnUpdate` per stored turn whose count became exact: its
            tokens, `tokens_exact=True`, and the `TOKENS` flag with every
            tokenizer's count (a store merges flags one key deep, so the whole
            mapping is written). The newest of them also carries the running
            ratio in its `TOKEN_RATIO` flag, when the call was a sample.
        fixed: the exact count of system and tools together (learned now or
            known before); None when the call taught nothing.
        ratio: the conversation's running ratio for the tokenizer after this
            call, when the call was a sample.
    """

    updates: tuple[TurnUpdate, ...] = ()
    fixed: int | None = None
    ratio: TokenRatio | None = None


def learn(turns: Sequence[Turn], total: int, *, tokenizer: str, fixed: Part) -> Learned:
    """Learn exact counts from a call that sent system, tools and *turns*.

    Args:
        turns: the turns the request replayed, in order (`WindowPlan.turns`);
            turns without a seq (a prefill held in memory) take part in the
            split but get no update.
        total: the call's `Usage.total_input_tokens`.
        tokenizer: the request model's tokenizer family.
        fixed: system and tools as one part (`estimate_fixed`, `fixed_exact`).

    Returns:
        The updates for the store, the system+tools count for the record, and the
        running ratio when the call was a sample of it.
    """
    counted = [token_count(turn, tokenizer) for turn in turns]
    counts = _split(
        [fixed.estimate, *(n for n, _ in counted)],
        [fixed.exact, *(n if exact else None for n, exact in counted)],
        total,
    )
    if counts is None:
        return Learned()
    updates = []
    learned = [
        (turn, tokens)
        for turn, (_, exact), tokens in zip(turns, counted, counts[1:], strict=True)
        if not exact
    ]
    for turn, tokens in learned:
        if turn.seq is None:
            continue
        merged = {**TOKENS.of(turn), tokenizer: tokens}
        updates.append(
            TurnUpdate(
                turn.seq, tokens=tokens, tokens_exact=True, flags=TOKENS.entry(merged)
            )
        )
    ratio = None
    if learned and updates and fixed.exact is not None:
        # Only a split with system and tools known is exact for the new turns.
        estimates = [estimate_parts(turn.blocks) for turn, _ in learned]
        sample = Estimate(*(sum(column) for column in zip(*estimates, strict=True)))
        exact_sum = sum(tokens for _, tokens in learned)
        if _text(sample) >= MIN_SAMPLE:
            ratio = learn_ratio(latest_ratio(turns, tokenizer), sample, exact_sum)
    if ratio is not None:
        last = updates[-1]
        carrier = next(t for t, _ in learned if t.seq == last.seq)
        ratios = {**TOKEN_RATIO.of(carrier), tokenizer: ratio}
        flags = {**(last.flags or {}), **TOKEN_RATIO.entry(ratios)}
        updates[-1] = evolve(last, flags=flags)
    return Learned(tuple(updates), counts[0], ratio)


def estimate_fixed(
    system: str | Sequence[Mapping[str, Any]] | None,
    tools: Sequence[Mapping[str, Any]] | None,
) -> int:
    """Estimate system prompt plus tools, the hidden tool-use prompt included."""
    total = 0
    if system:
        text = system if isinstance(system, str) else compact_json(list(system))
        total += MESSAGE_OVERHEAD + estimate_text(text)
    if tools:
        total += TOOL_PROMPT_TOKENS + estimate_text(compact_json(list(tools)))
    return total


def fixed_key(
    system: str | Sequence[Mapping[str, Any]] | None,
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: Mapping[str, Any] | None = None,
) -> str:
    """Return a short hash of what makes up the system+tools part.

    `tool_choice` is part of it: the hidden tool-use prompt differs between
    auto/none and any/tool. `cache_control` markers are left out, since conversa
    places them after counting.
    """

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if k != "cache_control"}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    text = compact_json(clean([system, tools, tool_choice]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fixed_exact(
    counts: Mapping[str, Any] | None, *, tokenizer: str, key: str
) -> int | None:
    """Read the exact system+tools count for *tokenizer* and content *key*.

    *counts* is the mapping a conversation keeps in its `FIXED_TOKENS` flag
    (`with_fixed_exact` writes it): `{tokenizer: {"key": key, "tokens": n}}`.
    """
    entry = (counts or {}).get(tokenizer)
    if not isinstance(entry, Mapping) or entry.get("key") != key:
        return None
    return _count(entry.get("tokens"))


def with_fixed_exact(
    counts: Mapping[str, Any] | None, *, tokenizer: str, key: str, tokens: int
) -> dict[str, Any]:
    """Return *counts* with *tokenizer*'s system+tools count set (a new mapping)."""
    return {**(counts or {}), tokenizer: {"key": key, "tokens": tokens}}


def _images(block: Block) -> list[Mapping[str, Any]]:
    """The image sources in *block*, inside tool results and documents too."""
    if isinstance(block, ImageBlock):
        return [block.source]
    if isinstance(block, ToolResultBlock) and isinstance(block.content, tuple):
        return [s for b in block.content for s in _images(b)]
    nested = block.source.get("content") if isinstance(block, DocumentBlock) else None
    return [
        b["source"]
        for b in (nested if isinstance(nested, list) else ())
        if isinstance(b, Mapping)
        and b.get("type") == "image"
        and isinstance(b.get("source"), Mapping)
    ]


@frozen
class TurnSize:
    """What a turn costs against each limit of a request.

    Attributes:
        tokens: its token count (`token_count`); for a turn on an estimate and
            a conversation with a learned ratio, the high size (`Scaling.sizes`).
        images: the images in it, those in tool results and documents included.
        large: how many of those are over 2000 px a side.
        bytes: its content as compact UTF-8 JSON, plus the message around it.
        mid: its token count for aiming a cut: *tokens*, except that a turn on an
            estimate is sized by the learned ratio without the margin.
    """

    tokens: int = 0
    images: int = 0
    large: int = 0
    bytes: int = 0
    mid: int = 0

    def __add__(self, other: TurnSize) -> TurnSize:
        return TurnSize(
            self.tokens + other.tokens,
            self.images + other.images,
            self.large + other.large,
            self.bytes + other.bytes,
            self.mid + other.mid,
        )


class _Measured:
    """What was measured of one turn value, per tokenizer.

    *sizes*: `turn_size`'s (scale, size), the scale `_ANY_SCALE` when the size does
    not depend on it (an exact count). *counts*: `token_count`'s (count, exact).
    """

    __slots__ = ("counts", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[str | None, tuple[object, TurnSize]] = {}
        self.counts: dict[str | None, tuple[int, bool]] = {}


_ANY_SCALE = object()


def _measured(turn: Turn) -> _Measured:
    """What was measured of *turn* (`remembered`: once per turn value)."""
    memo = remembered(turn)
    measured = memo.get("calibrate")
    if not isinstance(measured, _Measured):
        measured = memo["calibrate"] = _Measured()
    return measured


def turn_size(
    turn: Turn, tokenizer: str | None = None, scale: Scaling | None = None
) -> TurnSize:
    """Measure *turn* against the request limits (see `TurnSize`).

    With a *scale* (the conversation's learned ratio, `scaling`), a turn whose
    count is not exact is sized from its estimate's parts by it. Measured once per
    turn value and tokenizer (again when the scale moves, for a turn on an estimate).
    """
    sizes = _measured(turn).sizes
    hit = sizes.get(tokenizer)
    if hit is not None and (hit[0] is _ANY_SCALE or hit[0] == scale):
        return hit[1]
    sources = [s for b in turn.blocks for s in _images(b)]
    large = 0
    for source in sources:
        dims = image_size(source)
        large += dims is not None and max(dims) > MANY_IMAGES_SIDE
    content = len(turn.content_json().encode()) + MESSAGE_BYTES
    tokens, exact = token_count(turn, tokenizer)
    mid = tokens
    if scale is not None and not exact:
        tokens, mid = scale.sizes(estimate_parts(turn.blocks))
    size = TurnSize(tokens, len(sources), large, content, mid)
    sizes[tokenizer] = (_ANY_SCALE if exact else scale, size)
    return size
