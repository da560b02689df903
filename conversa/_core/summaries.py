"""Exchanges and summaries: how a window is cut, and what stands in for what it drops.

**Exchanges.** An exchange starts on a real user turn (`is_real_user_turn`: a
user message with content and no tool_result block, so it answers nothing) that
follows an assistant turn, and that no later tool_result reaches back across; it
runs through the assistant's reply and any tool loop, up to the next start
(`exchange_starts`). A window starts only there, so it never splits a tool_use from
its tool_result. A run of user turns opens one exchange, not several. The first
exchange is pinned by default (`first_exchange`); pinned turns must be closed
under tool pairing (`pair_closed`), or they could not be replayed on their own.

**Summaries.** A summary is a stored turn with `kind="summary"`, role "user", its
text, and the span it covers in its `COVERS` flag. It is appended like any turn
when it is made, and the stored history is otherwise untouched. Window planning does not walk
over summary turns: it places the newest summary that ends before the window start
after the pinned turns and before the window, where it is user text (normalization
merges it with the window's first user turn into one message). A summary that
ends inside or after the window start is not used (it would repeat what the window
replays); one that ends earlier leaves a gap, which is still better than nothing.

Summaries roll: when the window moves again, `summary_request` hands the
summarizer the summary in use followed by the turns newly dropped, and the new
summary covers both spans. A summary arrives after the move that asked for it, so
the prompt cache misses once more when it first appears; make it before sending
(and plan again) to miss only once.

Any callable that takes turns and returns text is a `Summarizer` (an
`AsyncSummarizer` for the async twin): a local model, a model call through the
same client, or a fixed text. `transcript` renders turns as plain text for one,
and `SUMMARY_INSTRUCTIONS` is a prompt to ask a model with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

from attrs import frozen

from .._exceptions import InvalidInputError
from .._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from .._values.settings import COVERS
from .._values.turns import Turn, new_id
from .estimate import estimate_blocks
from .normalize import replayed

__all__ = [
    "SUMMARY_INSTRUCTIONS",
    "AsyncSummarizer",
    "Summarizer",
    "SummaryRequest",
    "exchange_starts",
    "first_exchange",
    "is_real_user_turn",
    "pair_closed",
    "pick_summary",
    "summary_covers",
    "summary_request",
    "summary_turn",
    "transcript",
]

#: What to ask a model for when it summarizes a dropped span.
SUMMARY_INSTRUCTIONS = (
    "Summarize the earlier part of this conversation for a reader who will not see "
    "it: the user's goals and constraints, decisions made, facts and results "
    "established (tool results included), and open questions. Be concise and "
    "specific; keep names, numbers and identifiers. Begin with 'Summary of the "
    "earlier conversation:'."
)


def is_real_user_turn(turn: Turn) -> bool:
    """Tell whether *turn* can open an exchange: a user message answering no tool."""
    if turn.role != "user" or turn.kind != "message":
        return False
    said = False  # one block that is not blank text (one pass: a send asks per turn)
    for block in turn.blocks:
        if isinstance(block, ToolResultBlock):
            return False
        said = said or not isinstance(block, TextBlock) or bool(block.text.strip())
    return said


def exchange_starts(walk: Sequence[Turn]) -> list[int]:
    """Return the indexes of *walk* where an exchange may start.

    Index 0 (where the walk begins), and every real user turn that follows an
    assistant turn and that no later tool_result reaches back across.
    """
    invalid = [0] * (len(walk) + 1)
    asked: dict[str, int] = {}
    for j, turn in enumerate(walk):
        for block in turn.blocks:
            if isinstance(block, ToolUseBlock):
                asked[block.id] = j
            elif isinstance(block, ToolResultBlock) and block.tool_use_id in asked:
                # Starting anywhere in (use, result] would orphan this result.
                invalid[asked[block.tool_use_id] + 1] += 1
                invalid[j + 1] -= 1
    out = [0] if walk else []
    open_ranges = 0
    for i in range(len(walk)):
        open_ranges += invalid[i]
        if (
            i
            and open_ranges == 0
            and is_real_user_turn(walk[i])
            and walk[i - 1].role == "assistant"
        ):
            out.append(i)
    return out


def first_exchange(turns: Sequence[Turn]) -> tuple[Turn, ...] | None:
    """Return the first exchange of a history read from its start (seq 1 on).

    The first exchange runs from the first real user turn through the turn before
    the next exchange starts (tool loops included). Returns None when *turns* end
    before the next exchange starts, so the first one may not be complete yet:
    read more turns, or leave it to the window, which still holds it.
    """
    visible = [t for _, t in replayed(turns) if t.kind == "message"]
    bounds = exchange_starts(visible)
    first = next((i for i in bounds if is_real_user_turn(visible[i])), None)
    following = [i for i in bounds if first is not None and i > first]
    if first is None or not following:
        return None
    return tuple(visible[first : following[0]])


def pair_closed(pinned: list[Turn]) -> list[Turn]:
    """Return *pinned* without the turns whose tool call or result is not among them.

    Dropping one can orphan another (a result whose call went), so it repeats
    until nothing changes.
    """
    while True:
        uses = {b.id for t in pinned for b in t.blocks if isinstance(b, ToolUseBlock)}
        answers = {
            b.tool_use_id
            for t in pinned
            for b in t.blocks
            if isinstance(b, ToolResultBlock)
        }
        kept = [
            t
            for t in pinned
            if all(
                (not isinstance(b, ToolUseBlock) or b.id in answers)
                and (not isinstance(b, ToolResultBlock) or b.tool_use_id in uses)
                for b in t.blocks
            )
        ]
        if len(kept) == len(pinned):
            return kept
        pinned = kept


class Summarizer(Protocol):
    """Turns the dropped span (the summary in use first, if any) into summary text."""

    def __call__(self, turns: Sequence[Turn]) -> str:
        """Return the summary of *turns*."""
        ...


class AsyncSummarizer(Protocol):
    """The async twin of `Summarizer`."""

    async def __call__(self, turns: Sequence[Turn]) -> str:
        """Return the summary of *turns*."""
        ...


def summary_covers(turn: Turn) -> tuple[int, int] | None:
    """Return the (first, last) seq a summary turn covers; None if it is not one."""
    return COVERS.of(turn) if turn.kind == "summary" else None


def summary_turn(
    text: str, first_seq: int, last_seq: int, *, turn_id: str | None = None
) -> Turn:
    """Build the summary turn to store for the span *first_seq* to *last_seq*.

    Raises:
        InvalidInputError: empty text, or a span that is not 1 <= first <= last.
    """
    if not text.strip():
        msg = "a summary needs non-whitespace text"
        raise InvalidInputError(msg)
    if not 0 < first_seq <= last_seq:
        msg = f"a summary covers seqs 1 <= first <= last, not {first_seq} to {last_seq}"
        raise InvalidInputError(msg)
    blocks = (TextBlock(text),)
    return Turn(
        "user",
        blocks,
        id=turn_id or new_id(),
        kind="summary",
        flags=COVERS.entry((first_seq, last_seq)),
        tokens=estimate_blocks(blocks),
    )


def pick_summary(summaries: Sequence[Turn], start: int) -> Turn | None:
    """Return the summary to replay before a window starting at seq *start*.

    That is the one whose span ends nearest before *start* (the newest of them
    on a tie); summaries ending at or after *start* would repeat the window.
    """
    best: tuple[int, int] | None = None
    chosen = None
    for position, turn in enumerate(summaries):
        covers = summary_covers(turn)
        if covers is None or covers[1] >= start:
            continue
        if best is None or (covers[1], position) > best:
            best, chosen = (covers[1], position), turn
    return chosen


@frozen
class SummaryRequest:
    """What to summarize: *turns* (the summary in use first), and the span it covers."""

    turns: tuple[Turn, ...]
    first_seq: int
    last_seq: int


def summary_request(
    dropped: tuple[int, int] | None,
    turns: Sequence[Turn],
    *,
    previous: Turn | None = None,
) -> SummaryRequest | None:
    """Say what a summarizer should summarize after the window dropped a span.

    Args:
        dropped: `WindowPlan.dropped`.
        turns: the turns the plan was made from (they hold the dropped span).
        previous: the summary in use (`WindowPlan.summary`); it comes first, and
            the dropped turns it already covers are left out.

    Returns:
        The request, or None when nothing was dropped (or all of it is covered).
    """
    if dropped is None:
        return None
    low, high = dropped
    covered = summary_covers(previous) if previous is not None else None
    if covered is not None:
        low = max(low, covered[1] + 1)
    span = tuple(
        t
        for _, t in replayed(turns)
        if t.kind == "message" and t.seq is not None and low <= t.seq <= high
    )
    if not span:
        return None
    head = (previous,) if previous is not None and covered is not None else ()
    first = covered[0] if covered is not None else span[0].seq or low
    return SummaryRequest((*head, *span), first, high)


def _render(block: Block) -> str:
    match block:
        case TextBlock(text=text):
            return text
        case ToolUseBlock(name=name, input=tool_input):
            return f"[tool call {name}: {json.dumps(dict(tool_input), ensure_ascii=False)}]"
        case ToolResultBlock(content=content):
            inner = content if isinstance(content, str) else _render_all(content or ())
            return f"[tool result: {inner}]"
        case ThinkingBlock():
            return ""
        case ImageBlock():
            return "[image]"
        case DocumentBlock():
            return "[document]"
        case _:
            return f"[{block.type}]"


def _render_all(blocks: Sequence[Block]) -> str:
    return "\n".join(text for text in map(_render, blocks) if text)


def transcript(turns: Sequence[Turn]) -> str:
    """Render *turns* as plain text for a summarizer: one paragraph per turn.

    Thinking is left out; images and documents become placeholders; a summary
    turn is labelled as one.
    """
    names = {"user": "User", "assistant": "Assistant"}
    out = []
    for turn in turns:
        name = "Earlier summary" if turn.kind == "summary" else names[turn.role]
        out.append(f"{name}: {_render_all(turn.blocks)}")
    return "\n\n".join(out)
