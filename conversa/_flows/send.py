"""Generator flows: every multi-step procedure, written once, driven by both twins.

A flow yields *effects* (read the record, read turns, append, call the API) and gets
their results sent back in; an effect that failed is thrown back in, so a flow can
map or handle the error. `Conversation` and `AsyncConversation` each drive flows with
a ~25-line loop; everything that decides anything lives here or in the pure modules
(`_core.plan`, `_core.normalize`, `_core.window`, `_core.request`), so the twins cannot drift apart.

A send, end to end (the shell holds the conversation's lock around it)::

    record + window (from record.window_start) + first turns, in one read
           ─► [turn_id already stored? answered → return the stored reply]
           ─► pinned turns
           ─► plan: window, normalize, validate, body, cache breakpoints
           ─► [the window dropped a span and there is a summarizer → store a
               summary and plan again]
           ─► store the new window start ─► append the user turn
           ─► call the API ─► fold the reply ─► append it
           ─► learn exact token counts from the call's usage ─► return the reply

Anything refused while planning raises before the first write; a failed call leaves
the user turn stored once and no reply, so the next send replays it. Without a
summary, a window move or a turn id to look up, that is three store transactions
inside the lease: the read, the user turn, the reply with its counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

from attrs import evolve, field, frozen

from .._core import (
    Learned,
    ModelSummarizer,
    Plan,
    SendSpec,
    SummaryRequest,
    estimated,
    first_exchange,
    fold_partial,
    fold_reply,
    learn,
    map_api_error,
    plain_user_run,
    plan_send,
    replayed,
    sized_reply,
    spliced,
    summary_body,
    summary_request,
    summary_turn,
    with_fixed_exact,
)
from .._drive import Flow
from .._exceptions import (
    BadRequestError,
    ConversationDeletedError,
    ConversationNotFoundError,
    InvalidInputError,
    StoreError,
    StreamError,
    TurnIdConflictError,
)
from .._stores.protocol import ReadBudget, WindowRead
from .._values.blocks import ToolUseBlock
from .._values.capabilities import capabilities_for
from .._values.params import NOT_COUNTED
from .._values.settings import BUDGET, FIXED_TOKENS, PINNED
from .._values.turns import ConversationRecord, Turn, TurnUpdate

__all__ = [
    "Append",
    "Call",
    "CountTokens",
    "Effect",
    "Flow",
    "GetRecord",
    "GetTurns",
    "Interrupted",
    "Pause",
    "ReadNewest",
    "ReadTurns",
    "ReadWindow",
    "RunTools",
    "Saw",
    "Seen",
    "Summarize",
    "UpdateRecord",
    "UpdateTurns",
    "check_plan_flow",
    "known_tail",
    "partial_tail",
    "record_and_tail",
    "request_flow",
    "send_flow",
    "tail_flow",
]

T = TypeVar("T")

#: How far past an already-stored turn id a send looks for the reply that answered it.
_ANSWER_LOOKAHEAD = 64
#: How many turns a first read takes when looking for the first exchange.
_FIRST_EXCHANGE_READ = 8
#: A send reads the newest turns up to this many times its token budget (when
#: the window start is far behind; see `_read_budget`).
_READ_BUDGETS = 2


#: The longest tail a `Seen` keeps when it cannot tell where the last reply starts
#: (a run of user turns): past it, the next append reads the tail again.
_SEEN_TURNS = 64


@frozen
class Seen:
    """The record and stored tail an append was checked against, as it left them.

    A conversation object keeps the one its last append left, so its next append
    checks against it and writes in one transaction, reading nothing first. The
    append is conditional on `record.last_seq`, so an append made elsewhere since
    is found (`SeqConflictError`) and the tail read again; a check the tail seen
    fails is made again on a fresh read before it is believed.
    """

    record: ConversationRecord
    tail: tuple[Turn, ...]
    #: The conversation's last seq: the record's, or past it (the record is the
    #: one read; an append moves this, not a copy of the record).
    last_seq: int
    #: The tail is the newest turns of a longer run of plain user turns
    #: (`tail_flow`, bounded): enough to check plain turns against, and only them
    #: (`add_seen_flow` reads the whole tail for any other).
    partial: bool = False

    def after(self, stored: Sequence[Turn]) -> Seen | None:
        """What the append of *stored* leaves (None: read again next time)."""
        last = self.last_seq
        if not stored or any((t.seq or 0) <= last for t in stored):
            return None  # a replay of stored turns: nothing learned
        turns = (*self.tail, *stored)
        seq = stored[-1].seq or last
        tail = known_tail(turns)
        if tail is not None:
            return Seen(self.record, tail, seq)
        if len(turns) > _TAIL_READ and plain_user_run(turns):
            # A run of user text: its newest turns are all a plain append needs.
            return Seen(self.record, turns[-_TAIL_READ:], seq, partial=True)
        if len(turns) <= _SEEN_TURNS:
            return Seen(self.record, turns, seq, self.partial)
        return None


@frozen
class Saw:
    """What a send's last write left (`Seen`), for the caller's next append."""

    seen: Seen


@frozen
class GetRecord:
    """Read the conversation record."""

    conversation_id: str


@frozen
class ReadTurns:
    """Read turns with `start <= seq < stop`."""

    conversation_id: str
    start: int = 1
    stop: int | None = None


@frozen
class GetTurns:
    """Read the stored turns among *turn_ids*."""

    conversation_id: str
    turn_ids: tuple[str, ...]


@frozen
class ReadWindow:
    """Read the record and its newest turns from the window start, in one read.

    The store's `read_window` where it has one, else the same reads made with
    `get` and `read` (see `_flows.effects`). *budget* is a number or a function
    of the record.
    """

    conversation_id: str
    budget: ReadBudget = field(default=None, eq=False, hash=False)
    limit: int | None = None
    head: int = 0


@frozen
class ReadNewest:
    """The newest turns from *start* that fit *budget* (`read_newest`)."""

    conversation_id: str
    budget: int
    start: int = 1


@frozen
class Pause:
    """Wait a little before trying again (after losing a race for a seq)."""

    attempt: int


@frozen
class Append:
    """Append turns, only if the conversation's last seq is *expected_last_seq*.

    *updates* change stored turns' bookkeeping in the same transaction. With
    *lease_wait*, the append holds no lease: it waits while another holder is in
    the conversation's section (`Store.append`). Inside a section, *window_start*
    moves the record's window start with the turns, and *release* says the
    section writes nothing after this (`SectionAppends`).
    """

    conversation_id: str
    turns: tuple[Turn, ...]
    expected_last_seq: int | None = None
    updates: tuple[TurnUpdate, ...] = ()
    lease_wait: float | None = None
    window_start: int | None = None
    release: bool = False


@frozen
class UpdateRecord:
    """Change record fields."""

    conversation_id: str
    changes: Mapping[str, Any] = field(hash=False)


@frozen
class UpdateTurns:
    """Change stored turns' bookkeeping (token counts, flags)."""

    conversation_id: str
    updates: tuple[TurnUpdate, ...]


@frozen
class Call:
    """POST /v1/messages with *body*; the result is the client's response."""

    body: Mapping[str, Any] = field(hash=False)
    betas: tuple[str, ...] = ()
    stream: bool = False


@frozen
class CountTokens:
    """POST /v1/messages/count_tokens with *body*; the result is the count."""

    body: Mapping[str, Any] = field(hash=False)
    betas: tuple[str, ...] = ()


@frozen
class RunTools:
    """Run the model's tool calls with *tools*; the result is their tool_result blocks."""

    uses: tuple[ToolUseBlock, ...]
    tools: Any = field(eq=False, hash=False)


@frozen
class Interrupted:
    """Sent into a flow in place of a Call's result when a stream was cut short.

    Attributes:
        snapshot: the message as folded so far (None before message_start).
        error: the stream's error, or None when the caller stopped reading (or
            was cancelled): then the flow stores the partial turn and returns.
    """

    snapshot: Mapping[str, Any] | None = field(hash=False)
    error: Exception | None = None


@frozen
class Summarize:
    """Ask the shell's summarizer for a summary of *request*; the result is text."""

    request: SummaryRequest


Effect: TypeAlias = (
    GetRecord
    | ReadWindow
    | ReadNewest
    | Pause
    | ReadTurns
    | GetTurns
    | Append
    | UpdateRecord
    | UpdateTurns
    | Call
    | CountTokens
    | RunTools
    | Summarize
)


#: How many of the newest turns a tail read takes first (it widens when needed).
_TAIL_READ = 8


def tail_flow(
    record: ConversationRecord,
    newest: tuple[Turn, ...] | None = None,
    *,
    bounded: bool = False,
) -> Flow[tuple[Turn, ...]]:
    """Read the stored tail: from the start of the last reply to the newest turn.

    The last assistant run (one message to the API) and the user turns after it
    are all that an append is checked against (tool calls still open, their
    results, the trailing role), so this reads the newest few turns, widening
    until the tail is whole or the window start is reached: O(tail), not
    O(history). A retraction only hides earlier turns, so the turns it returns
    replay exactly as they would in the whole history. *newest*, if given, is
    the first read already made (the newest `_TAIL_READ` turns).

    *bounded* (for an append of plain turns, `plainly_valid`): when the turns
    read are all user turns of plain text (`plain_user_run`), the run goes no
    further back for such an append, and they are returned (`partial_tail`
    tells). Without it, a conversation of user turns alone, imported or never
    answered, was read whole by every append.
    """
    floor = max(record.window_start, 1)
    size = _TAIL_READ
    while True:
        first = max(record.last_seq - size + 1, floor)
        if newest is not None:
            turns, newest = newest, None
        else:
            turns = yield ReadTurns(record.id, first, record.last_seq + 1)
        cut = _last_reply_start(turns)
        if cut is not None:
            return turns[cut:]
        if first <= floor:
            return turns
        if bounded and plain_user_run(turns):
            return turns
        size *= 4


def partial_tail(record: ConversationRecord, tail: Sequence[Turn]) -> bool:
    """Whether *tail*, from `tail_flow`, is a bounded read: turns before it were not read.

    A whole tail starts at a reply or at the window start; a bounded one is a run
    of user text that starts past the window start.
    """
    return (
        bool(tail)
        and (tail[0].seq or 0) > max(record.window_start, 1)
        and plain_user_run(tail)
    )


def record_and_tail(
    conversation_id: str, *, bounded: bool = False
) -> Flow[tuple[ConversationRecord, tuple[Turn, ...]]]:
    """The record and the stored tail (`tail_flow`), usually in one read."""
    read: WindowRead = yield ReadWindow(conversation_id, limit=_TAIL_READ)
    tail = yield from tail_flow(read.record, read.turns, bounded=bounded)
    return read.record, tail


def known_tail(turns: Sequence[Turn]) -> tuple[Turn, ...] | None:
    """*turns* from the start of the last reply, if they show it whole (`tail_flow`)."""
    cut = _last_reply_start(turns)
    return None if cut is None else tuple(turns[cut:])


#: The kinds of turn a tail is read for (a retraction hides, and is not shown).
_SHOWN = ("message", "summary")


def _last_reply_start(turns: Sequence[Turn]) -> int | None:
    """Where the last visible run of assistant turns starts, if *turns* show it whole.

    None when there is no assistant turn, or when the run reaches back to the
    first visible turn (it may begin before what was read).
    """
    shown: Sequence[int] = range(len(turns))  # the usual tail: every turn shows
    if not all(t.kind in _SHOWN for t in turns):
        shown = [p for p, t in replayed(turns) if t.kind in _SHOWN]
    index = len(shown) - 1
    while index >= 0 and not _is_reply(turns[shown[index]]):
        index -= 1
    if index < 0:
        return None
    while index > 0 and _is_reply(turns[shown[index - 1]]):
        index -= 1
    return None if index == 0 else shown[index]


def _is_reply(turn: Turn) -> bool:
    # A summary replays as user text.
    return turn.role == "assistant" and turn.kind == "message"


def _answered(
    record: ConversationRecord, spec: SendSpec
) -> Flow[tuple[Turn | None, bool]]:
    """Look up a caller-given turn id: (the reply that answered it, whether it is stored)."""
    if spec.turn_id is None:
        return None, False
    found = yield GetTurns(record.id, (spec.turn_id,))
    if not found:
        return None, False
    stored: Turn = found[0]
    if spec.content is not None and (
        stored.role != "user"
        or stored.content_json() != Turn("user", spec.content).content_json()
    ):
        raise TurnIdConflictError(conversation_id=record.id, turn_id=spec.turn_id)
    seq = stored.seq or 0
    after = yield ReadTurns(record.id, seq + 1, seq + 1 + _ANSWER_LOOKAHEAD)
    visible = [
        t for _, t in replayed(after)
    ]  # a regenerated reply replaces a retracted one
    reply = next((t for t in visible if t.role == "assistant"), None)
    return reply, True


def _start(record: ConversationRecord, window: Sequence[Turn]) -> int:
    """Where the stored turns of *window* start: the window start, or later for a cut read."""
    start = max(record.window_start, 1)
    first = window[0].seq if window else None
    return first if first is not None and first > start else start


def _pinned(
    record: ConversationRecord,
    window: Sequence[Turn],
    head: Sequence[Turn] = (),
) -> Flow[tuple[Turn, ...]]:
    """The pinned turns: the first exchange (by default) and exchanges pinned with `pin`.

    While the window still starts at seq 1 the first exchange is in *window*; after
    a move (or when the read stopped short of the window start) it is in *head*
    (the first turns, read with the window), or read from the store, a few turns
    at a time until it is complete.
    """
    start = _start(record, window)
    pins: list[Turn] = []
    if BUDGET.of(record).pin_first_exchange:
        if start == 1:
            pins.extend(first_exchange(window) or ())
        else:
            stop = min(start, 1 + _FIRST_EXCHANGE_READ)
            first: Sequence[Turn] = head if len(head) == stop - 1 else ()
            while True:
                first = first or (yield ReadTurns(record.id, 1, stop))
                found = first_exchange(first)
                if found is not None or stop >= start:
                    pins.extend(found or ())
                    break
                stop = min(start, 1 + 2 * (stop - 1))
                first = ()
    for first_seq, last in PINNED.of(record):
        if first_seq < start:
            pins.extend((yield ReadTurns(record.id, first_seq, min(last + 1, start))))
    unique = {
        t.seq or 0: t for t in pins
    }  # a pinned range may overlap the first exchange
    return tuple(unique[seq] for seq in sorted(unique))


def _read_budget(spec: SendSpec) -> Callable[[ConversationRecord], int | None]:
    """How many tokens of turns a send reads: `_READ_BUDGETS` times its budget.

    A window the stored start says fits is read whole anyway (the read stops at
    the window start); the bound matters for a conversation whose start is far
    behind (built with `add`, imported, never sent): its newest turns are read
    until they hold more than the budget, never the whole history. None (read it
    all, then refuse in planning) when the budget cannot be worked out.
    """

    def budget(record: ConversationRecord) -> int | None:
        try:
            caps = capabilities_for(record.model, record.capabilities)
            tokens = BUDGET.of(record).budget(
                caps, record.params.merged(spec.overrides)
            )
        except Exception:
            return None
        return _READ_BUDGETS * tokens

    return budget


def _window(
    spec: SendSpec,
) -> Flow[tuple[ConversationRecord, tuple[Turn, ...], tuple[Turn, ...]]]:
    """The record, its newest turns from the window start and its first turns: one read."""
    read: WindowRead = yield ReadWindow(
        spec.conversation_id, budget=_read_budget(spec), head=_FIRST_EXCHANGE_READ
    )
    return read.record, read.turns, read.head


def _plan(
    record: ConversationRecord,
    window: tuple[Turn, ...],
    head: tuple[Turn, ...],
    spec: SendSpec,
    staged: tuple[Turn, ...] = (),
) -> Flow[tuple[Plan, tuple[Turn, ...]]]:
    """Plan *spec* over the turns read (then *staged*); return the plan and its window.

    When the read stopped short of the window start (it holds more than the
    budget, so everything from the start cannot fit), the plan moves the start
    to an exchange inside what was read, as it would over the whole history, and
    the send stores it. Should the planner keep the first turn read, which may
    open mid-exchange, the window is read whole from the start and planned again.
    *staged* turns are planned as if stored after the others (`check_plan_flow`).
    """
    if staged:
        last = record.last_seq
        staged = tuple(evolve(t, seq=last + i) for i, t in enumerate(staged, 1))
        record = evolve(record, last_seq=last + len(staged))
    turns = (*window, *staged)
    plan = plan_send(
        record, turns, spec, pinned=(yield from _pinned(record, turns, head))
    )
    if _start(record, window) > max(record.window_start, 1) and not plan.window.moved:
        first = max(record.window_start, 1)
        window = yield ReadTurns(record.id, first, record.last_seq + 1 - len(staged))
        turns = (*window, *staged)
        plan = plan_send(
            record, turns, spec, pinned=(yield from _pinned(record, turns))
        )
    return plan, turns


def prepare(
    spec: SendSpec,
) -> Flow[tuple[ConversationRecord, Plan | Turn, tuple[Turn, ...]]]:
    """Read what a send needs and plan it; or find the reply that already answered it."""
    record, window, head = yield from _window(spec)
    reply, stored = yield from _answered(record, spec)
    if reply is not None:
        return record, reply, ()
    if stored:  # A resubmission of a stored, unanswered turn: resend, don't re-store.
        spec = evolve(spec, content=None)
    plan, window = yield from _plan(record, window, head, spec)
    return record, plan, window


def check_plan_flow(spec: SendSpec, staged: tuple[Turn, ...]) -> Flow[None]:
    """Plan *spec* as if *staged* turns were stored first; write nothing.

    A procedure that writes before it sends (edit and regenerate store a
    retraction first) runs this before its first write, so anything the send would
    refuse is refused while the store is still as it was.
    """
    record, window, head = yield from _window(spec)
    yield from _plan(record, window, head, spec, staged)


def _summarize(
    record: ConversationRecord, plan: Plan, window: tuple[Turn, ...], spec: SendSpec
) -> Flow[Turn | None]:
    """Store a summary of the span the window just dropped, if there is a summarizer."""
    request = summary_request(plan.window.dropped, window, previous=plan.window.summary)
    if request is None or spec.summarizer is None:
        return None
    if isinstance(spec.summarizer, ModelSummarizer):
        response = yield Call(summary_body(request, spec.summarizer, record))
        text = "".join(
            b.get("text", "")
            for b in response.body.get("content", ())
            if b.get("type") == "text"
        )
    else:
        text = yield Summarize(request)
    if not str(text).strip():
        return None
    turn = estimated(summary_turn(str(text), request.first_seq, request.last_seq))
    stored: tuple[Turn, ...] = yield Append(record.id, (turn,), record.last_seq)
    return stored[0]


def _learned(plan: Plan, stored_new: tuple[Turn, ...], total: int) -> Learned:
    """What a call's input total (= the size of what was sent) makes exact."""
    by_id = {t.id: t for t in stored_new}
    sent = tuple(by_id.get(t.id, t) for t in plan.window.turns)
    return learn(sent, total, tokenizer=plan.tokenizer, fixed=plan.fixed)


def _fixed_to_store(plan: Plan, learned: Learned) -> bool:
    """Whether the call taught a system+tools count not stored yet."""
    return learned.fixed is not None and plan.fixed.exact is None


def _store_fixed(
    record: ConversationRecord, plan: Plan, learned: Learned
) -> Flow[None]:
    """Keep the system+tools count the first call taught (once per content)."""
    if learned.fixed is None or not _fixed_to_store(plan, learned):
        return
    counts = with_fixed_exact(
        FIXED_TOKENS.of(record),
        tokenizer=plan.tokenizer,
        key=plan.fixed_key,
        tokens=learned.fixed,
    )
    latest: ConversationRecord = yield GetRecord(record.id)
    yield UpdateRecord(record.id, {"flags": FIXED_TOKENS.set(latest, counts)})


def _store_partial(
    record: ConversationRecord, plan: Plan, cut: Interrupted
) -> Flow[Turn | None]:
    """Keep the text an interrupted stream delivered, marked "interrupted"."""
    partial = fold_partial(cut.snapshot, reply_id=plan.reply_id, prefill=plan.prefill)
    if partial is None:
        return None
    expected = record.last_seq + len(plan.new_turns)
    stored: tuple[Turn, ...] = yield Append(record.id, (estimated(partial),), expected)
    return stored[0] if stored else None


def send_flow(spec: SendSpec, *, ends_section: bool = False) -> Flow[Turn]:
    """Send: store the user turn, call the API, store and return the reply.

    *ends_section*: the caller's locked section writes nothing after this send,
    so the store may release the lease with the reply (`SectionAppends`).
    """
    record, plan, window = yield from prepare(spec)
    if isinstance(plan, Turn):
        return plan
    summary = yield from _summarize(record, plan, window, spec)
    if summary is not None:  # Plan again: the summary now stands for the dropped span.
        record = evolve(record, last_seq=summary.seq or record.last_seq + 1)
        window = (*window, summary)
        plan = plan_send(
            record, window, spec, pinned=(yield from _pinned(record, window))
        )
    moved = plan.window.start if plan.window.moved else None
    if moved is not None and not plan.new_turns:
        yield UpdateRecord(record.id, {"window_start": moved})
    stored_new: tuple[Turn, ...] = ()
    if plan.new_turns:  # The window start moves in the same transaction.
        stored_new = yield Append(
            record.id, plan.new_turns, record.last_seq, window_start=moved
        )
    try:
        response = yield Call(
            spliced(plan.body, plan.normalized), plan.betas, spec.stream
        )
    except BadRequestError as exc:
        stored_ids = {t.id: t for t in stored_new}

        def locate(path: str) -> Turn | None:
            turn = plan.turn_at(path)
            return None if turn is None else stored_ids.get(turn.id, turn)

        mapped = map_api_error(
            exc, model=plan.model, prefilled=plan.prefill is not None, locate=locate
        )
        if mapped is exc:
            raise
        raise mapped from exc
    if isinstance(response, Interrupted):
        partial = yield from _store_partial(record, plan, response)
        if response.error is not None:
            raise response.error
        if partial is not None:  # the reader left: what arrived, as stored
            return partial
        msg = "the stream was closed before the reply was complete"
        raise StreamError(msg, partial=True)
    reply = fold_reply(
        response.body,
        reply_id=plan.reply_id,
        prefill=plan.prefill,
        request_id=response.request_id,
    )
    expected = record.last_seq + len(plan.new_turns)
    learned = (
        _learned(plan, stored_new, reply.usage.total_input_tokens)
        if reply.usage is not None
        else Learned()
    )
    # One transaction stores the reply and the exact counts its usage taught, and
    # ends the section when nothing follows.
    sized = sized_reply(reply, plan.tokenizer)
    last = ends_section and not _fixed_to_store(plan, learned)
    try:
        stored = yield Append(
            record.id, (sized,), expected, learned.updates, release=last
        )
    except ConversationNotFoundError as exc:  # erased since the read: not re-created
        raise ConversationDeletedError(record.id, reply=sized) from exc
    except StoreError as exc:  # The API billed this reply: the caller may store it.
        exc.reply = sized
        raise
    yield from _store_fixed(record, plan, learned)
    result: Turn = stored[0]
    tail = known_tail((*stored_new, result))
    if tail is not None and result.seq is not None:
        yield Saw(Seen(record, tail, result.seq))
    return result


def count_flow(spec: SendSpec) -> Flow[int]:
    """Count the exact input tokens of the request `send` would make; write no turn.

    Called only when something in the window is not exact yet: otherwise the sum
    is already known. What it learns makes the stored turns' counts exact, as a
    real call's usage would.
    """
    record, plan, _ = yield from prepare(spec)
    if isinstance(plan, Turn):
        msg = f"turn {spec.turn_id!r} is already answered: there is no request to count"
        raise InvalidInputError(msg)
    turns = plan.window.turns
    if plan.fixed.exact is not None and all(t.tokens_exact for t in turns if t.seq):
        new = [t for t in turns if not t.seq]
        if not new:
            return plan.window.total_tokens
    body = {k: v for k, v in plan.body.items() if k not in NOT_COUNTED}
    total: int = yield CountTokens(body, plan.betas)
    learned = _learned(plan, (), total)
    if learned.updates:
        yield UpdateTurns(record.id, learned.updates)
    yield from _store_fixed(record, plan, learned)
    return total


def request_flow(spec: SendSpec) -> Flow[dict[str, Any]]:
    """Return the exact body the same send would POST; write nothing."""
    _, plan, _ = yield from prepare(spec)
    if isinstance(plan, Turn):
        msg = (
            f"turn {spec.turn_id!r} is already answered: send() would not call the API"
        )
        raise InvalidInputError(msg)
    return plan.body
