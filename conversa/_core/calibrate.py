"""Token calibration: exact token counts from the API's own usage numbers.

Every call tells the exact size of what was sent: `input_tokens +
cache_read_input_tokens + cache_creation_input_tokens` (MESSAGES_API.md §4). The
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

`turn_size` measures a turn against every limit a request has, tokens and the
others (images, large images, JSON bytes), for window planning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import astuple, evolve, field, frozen, validators

from .._values.blocks import Block, DocumentBlock, ImageBlock, ToolResultBlock
from .._values.settings import TOKENS
from .._values.turns import Turn, TurnUpdate
from .estimate import MESSAGE_OVERHEAD, estimate_blocks, estimate_text, image_size

__all__ = [
    "MANY_IMAGES_SIDE",
    "TOOL_PROMPT_TOKENS",
    "Learned",
    "Part",
    "TurnSize",
    "calibrate",
    "estimate_fixed",
    "exact_count",
    "fixed_exact",
    "fixed_key",
    "learn",
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
    known = sum(p.exact for p in parts if p.exact is not None)
    unknown = [i for i, p in enumerate(parts) if p.exact is None]
    counts = [p.exact or 0 for p in parts]
    rest = total - known
    if not unknown:
        return tuple(counts)
    if rest < len(unknown):
        return None
    weights = [max(parts[i].estimate, 1) for i in unknown]
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


def token_count(turn: Turn, tokenizer: str | None = None) -> tuple[int, bool]:
    """Return *turn*'s token count and whether it is exact.

    With a *tokenizer*, only a count learned for that tokenizer is exact; an exact
    `Turn.tokens` without one belongs to another tokenizer and is replaced by the
    estimate. Without one, `Turn.tokens` is taken as it is. A turn with no count
    gets the estimate.
    """
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
            mapping is written).
        fixed: the exact count of system and tools together (learned now or
            known before); None when the call taught nothing.
    """

    updates: tuple[TurnUpdate, ...] = ()
    fixed: int | None = None


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
        The updates for the store and the system+tools count for the record.
    """
    counted = [token_count(turn, tokenizer) for turn in turns]
    parts = [fixed, *(Part(n, exact=n if exact else None) for n, exact in counted)]
    counts = calibrate(parts, total)
    if counts is None:
        return Learned()
    updates = []
    for turn, (_, exact), tokens in zip(turns, counted, counts[1:], strict=True):
        if exact or turn.seq is None:
            continue
        merged = {**TOKENS.of(turn), tokenizer: tokens}
        updates.append(
            TurnUpdate(
                turn.seq, tokens=tokens, tokens_exact=True, flags=TOKENS.entry(merged)
            )
        )
    return Learned(tuple(updates), counts[0])


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def estimate_fixed(
    system: str | Sequence[Mapping[str, Any]] | None,
    tools: Sequence[Mapping[str, Any]] | None,
) -> int:
    """Estimate system prompt plus tools, the hidden tool-use prompt included."""
    total = 0
    if system:
        text = system if isinstance(system, str) else _json(list(system))
        total += MESSAGE_OVERHEAD + estimate_text(text)
    if tools:
        total += TOOL_PROMPT_TOKENS + estimate_text(_json(list(tools)))
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

    text = _json(clean([system, tools, tool_choice]))
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
        tokens: its token count (`token_count`).
        images: the images in it, those in tool results and documents included.
        large: how many of those are over 2000 px a side.
        bytes: its content as compact UTF-8 JSON, plus the message around it.
    """

    tokens: int = 0
    images: int = 0
    large: int = 0
    bytes: int = 0

    def __add__(self, other: TurnSize) -> TurnSize:
        return TurnSize(
            *(x + y for x, y in zip(astuple(self), astuple(other), strict=True))
        )


def turn_size(turn: Turn, tokenizer: str | None = None) -> TurnSize:
    """Measure *turn* against the request limits (see `TurnSize`)."""
    sources = [s for b in turn.blocks for s in _images(b)]
    large = 0
    for source in sources:
        dims = image_size(source)
        large += dims is not None and max(dims) > MANY_IMAGES_SIDE
    content = len(turn.content_json().encode()) + MESSAGE_BYTES
    return TurnSize(token_count(turn, tokenizer)[0], len(sources), large, content)
