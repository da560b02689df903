"""Flows that change a conversation without calling the API.

Adding turns, answering or cancelling tool calls, changing the record, pinning
exchanges: each reads what it needs, checks the result would still be a history the
API accepts, and writes once. The twins drive them like the send flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from attrs import asdict, evolve

from .._core import (
    SendSpec,
    check_content,
    check_history,
    check_params,
    check_system,
    estimated,
    exchange_starts,
    is_real_user_turn,
    pending_tool_use_ids,
    plainly_valid,
    replayed,
    to_messages,
)
from .._exceptions import ConversaError, InvalidInputError, SeqConflictError
from .._stores.protocol import UPDATABLE_FIELDS
from .._values.blocks import Block, ToolResultBlock, ToolUseBlock, to_blocks
from .._values.capabilities import capabilities_for, thinking_enabled
from .._values.params import RequestParams, find_secret, updated_params
from .._values.settings import PINNED, RETRACTS, RecordFlag
from .._values.turns import ConversationRecord, Turn
from .send import (
    Append,
    Flow,
    GetRecord,
    Pause,
    ReadTurns,
    Seen,
    UpdateRecord,
    check_plan_flow,
    partial_tail,
    record_and_tail,
    send_flow,
    tail_flow,
)

T = TypeVar("T")

__all__ = [
    "ADD_ATTEMPTS",
    "Seen",
    "add_flow",
    "add_seen_flow",
    "cancel_flow",
    "edit_flow",
    "pending_flow",
    "pending_tool_uses",
    "pin_flow",
    "prepared",
    "quick_add",
    "refuse_stored_secrets",
    "regenerate_flow",
    "retract_flow",
    "set_flag_flow",
    "set_params_flow",
    "tool_results_turn",
    "update_flow",
]

#: How far around a turn `pin` reads to find the exchange that holds it.
_PIN_LOOKAROUND = 64


#: How many times an append re-reads the tail after another append won the race
#: for its seq (pausing a jittered, growing moment each time), before it gives up
#: with `SeqConflictError`. Each lost race is another writer's progress, and every
#: send in the conversation meanwhile costs an append one (it waits out the send's
#: section, then finds the seq moved by its two turns), so the bound is generous:
#: with the pause capped at 50 ms, 64 tries give up after a few seconds at most.
ADD_ATTEMPTS = 64


def add_flow(
    conversation_id: str,
    turns: Sequence[Turn],
    *,
    api_version: str,
    lease_wait: float | None = None,
) -> Flow[tuple[Turn, ...]]:
    """Append turns without calling the API, in one transaction (`add_seen_flow`)."""
    stored, _ = yield from add_seen_flow(
        conversation_id, turns, api_version=api_version, lease_wait=lease_wait
    )
    return stored


def add_seen_flow(
    conversation_id: str,
    turns: Sequence[Turn],
    *,
    api_version: str,
    lease_wait: float | None = None,
    seen: Seen | None = None,
) -> Flow[tuple[tuple[Turn, ...], Seen | None]]:
    """Append turns without calling the API, in one transaction; return them and
    what the append leaves seen.

    The turns' blocks were checked at the door; this checks that the history stays
    one the API accepts with them at its end (roles, tool pairs, duplicate ids). It
    may end with a reply whose tool calls are not answered yet, as a stored reply
    asking for tools does.

    The append is optimistic: it is conditional on the last seq the tail was read
    at. If another append took that seq first, the tail is read and checked again
    (so two answers to one tool call cannot both land: the second is refused as
    the history it would make), up to `ADD_ATTEMPTS` times. With *lease_wait* the
    append holds no lease (`Conversation.add`): it waits while a send is in the
    conversation's section, up to *lease_wait* seconds (`ConversationBusyError`).
    With *seen* (what this caller's last append left, `Seen`), the first try
    checks against it instead of reading.
    """
    new = prepared(turns)
    # Plain turns need only the newest turns of a long run of user turns (the
    # rest of the run cannot refuse them); any other turn, the whole tail. Told
    # when a read or a partial tail asks (the usual add, on a whole tail, never).
    plain: bool | None = None
    if seen is not None and seen.partial:
        plain = plainly_valid((), new)
        if not plain:
            seen = None
    attempt = 1
    while True:
        fresh = seen is None
        if seen is not None:  # the first try only: every other reads
            record, window, last_seq = seen.record, seen.tail, seen.last_seq
            partial = seen.partial
        else:
            if plain is None:
                plain = plainly_valid((), new)
            record, window = yield from record_and_tail(conversation_id, bounded=plain)
            last_seq = record.last_seq
            partial = plain and partial_tail(record, window)
        # The stored overrides are checked on every add the rules check (a seen
        # record passed them when it was read or sent; `quick_add` skips them).
        caps = capabilities_for(record.model, record.capabilities)
        try:
            if not plainly_valid(window, new):  # then no rule can refuse it
                check_history(
                    (*window, *new),
                    model=record.model,
                    caps=caps,
                    api_version=api_version,
                    new_turn_ids=frozenset(t.id for t in new),
                    open_end=True,
                )
        except ConversaError:
            if seen is None:
                raise
            seen = None  # refused by what was seen: check again on a fresh read
            continue
        checked, seen = Seen(record, window, last_seq, partial), None
        try:
            stored: tuple[Turn, ...] = yield Append(
                record.id, new, last_seq, lease_wait=lease_wait
            )
        except SeqConflictError:
            if not fresh:
                continue  # what was seen is out of date: no race lost, read it now
            if attempt >= ADD_ATTEMPTS:
                raise
            yield Pause(attempt)
            attempt += 1
            continue
        return stored, checked.after(stored)


def prepared(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """*turns* as an add stores them: estimated, and a user turn's content checked.

    Raises:
        InvalidInputError: a user turn with no content the API accepts.
    """
    new = tuple(estimated(t) for t in turns)
    for turn in new:
        if turn.role == "user":
            check_content(turn.blocks)
    return new


def quick_add(
    seen: Seen | None, turns: Sequence[Turn], *, lease_wait: float | None
) -> Append | None:
    """The add's write when what was *seen* decides it alone, or None.

    When the tail seen is whole (not a run's newest turns) and the `prepared`
    *turns* plainly follow it (`plainly_valid`: no rule can refuse them), there is
    nothing to read or check: this is the write `add_seen_flow` makes on its first
    try, conditional on the seq seen. A shell may perform it without the flow; if
    it raises `SeqConflictError` (an append made elsewhere since), the flow runs
    without *seen* and reads. None: the flow decides (with *seen*, as ever).

    Raises:
        InvalidInputError: as `prepared`.
    """
    if seen is None or seen.partial:
        return None  # the flow prepares the turns itself
    new = prepared(turns)
    if not plainly_valid(seen.tail, new):
        return None
    return Append(seen.record.id, new, seen.last_seq, lease_wait=lease_wait)


def tool_results_turn(results: Mapping[str, Any], *, is_error: bool = False) -> Turn:
    """Build the user turn answering tool calls: `{tool_use_id: content}`."""
    blocks: list[Block] = []
    flag = True if is_error else None
    for tool_use_id, content in results.items():
        if isinstance(content, ToolResultBlock):
            blocks.append(content)
        elif isinstance(content, str):
            blocks.append(ToolResultBlock(tool_use_id, content, flag))
        else:
            blocks.append(ToolResultBlock(tool_use_id, to_blocks(content), flag))
    return Turn("user", tuple(blocks))


def cancel_flow(
    conversation_id: str,
    *,
    api_version: str,
    reason: str,
    lease_wait: float | None = None,
) -> Flow[tuple[Turn, ...]]:
    """Answer every pending tool call with an is_error result saying it was cancelled."""
    # A run of user text answered every call before it: bounded, as `pending_flow`.
    _, window = yield from record_and_tail(conversation_id, bounded=True)
    ids = pending_tool_use_ids(window)
    if not ids:
        return ()
    turn = tool_results_turn(dict.fromkeys(ids, reason), is_error=True)
    return (
        yield from add_flow(
            conversation_id, (turn,), api_version=api_version, lease_wait=lease_wait
        )
    )


def pending_flow(conversation_id: str) -> Flow[tuple[ToolUseBlock, ...]]:
    """The tool calls of the last reply that still await results (a tail read).

    Bounded (`tail_flow`): a run of user text after the last reply, stored, answered
    its calls, so the run's newest turns tell as much as the whole of it: none wait.
    """
    _, window = yield from record_and_tail(conversation_id, bounded=True)
    return pending_tool_uses(window)


def pending_tool_uses(window: Sequence[Turn]) -> tuple[ToolUseBlock, ...]:
    """The tool_use blocks of the last assistant turn that await results."""
    ids = set(pending_tool_use_ids(window))
    last = next((t for t in reversed(window) if t.role == "assistant"), None)
    if last is None:
        return ()
    return tuple(b for b in last.blocks if isinstance(b, ToolUseBlock) and b.id in ids)


def _retraction(seqs: Sequence[int]) -> Turn:
    return Turn("user", (), kind="retraction", flags=RETRACTS.entry(tuple(seqs)))


def retract_flow(
    conversation_id: str, seqs: Sequence[int], *, api_version: str
) -> Flow[Turn]:
    """Store a retraction that hides *seqs* from every later replay (nothing is deleted).

    The way out of a turn the API refuses (an oversize image, a dangling tool call).
    Refused if what remains would not be a valid history (a tool call left without
    its result): retract the pair together.
    """
    record: ConversationRecord = yield GetRecord(conversation_id)
    bad = [s for s in seqs if not 1 <= s <= record.last_seq]
    if not seqs or bad:
        msg = f"cannot retract {bad or 'nothing'}: conversation {conversation_id!r} has seqs 1..{record.last_seq}"
        raise InvalidInputError(msg)
    window = yield ReadTurns(record.id, max(record.window_start, 1))
    turn = _retraction(seqs)
    if [t for _, t in replayed((*window, turn)) if t.kind == "message"]:
        caps = capabilities_for(record.model, record.capabilities)
        to_messages(
            (*window, turn),
            model=record.model,
            caps=caps,
            api_version=api_version,
            thinking=thinking_enabled(caps, record.params.thinking),
        )
    stored: tuple[Turn, ...] = yield Append(record.id, (turn,), record.last_seq)
    return stored[0]


def edit_flow(spec: SendSpec, seq: int) -> Flow[Turn]:
    """Replace user turn *seq*: retract it and everything after it, then send anew."""
    record: ConversationRecord = yield GetRecord(spec.conversation_id)
    window = yield ReadTurns(record.id, seq, seq + 1)
    if not window or window[0].role != "user" or window[0].kind != "message":
        msg = f"turn {seq} is not a user turn of conversation {record.id!r}: only user turns can be edited"
        raise InvalidInputError(msg)
    later = list(range(seq, record.last_seq + 1))
    yield from check_plan_flow(spec, (_retraction(later),))
    yield from retract_flow(record.id, later, api_version=spec.api_version)
    return (yield from send_flow(spec, ends_section=True))


def regenerate_flow(spec: SendSpec) -> Flow[Turn]:
    """Retract the last reply (the assistant turns after the last user turn); send again."""
    record: ConversationRecord = yield GetRecord(spec.conversation_id)
    window = yield from tail_flow(record)
    visible = [t for _, t in replayed(window) if t.kind == "message"]
    reply: list[int] = []
    while visible and visible[-1].role == "assistant":
        reply.append(visible.pop().seq or 0)
    if not reply:
        msg = "nothing to regenerate: the conversation does not end with a reply"
        raise InvalidInputError(msg)
    spec = evolve(spec, content=None)
    yield from check_plan_flow(spec, (_retraction(reply),))
    yield from retract_flow(record.id, reply, api_version=spec.api_version)
    return (yield from send_flow(spec, ends_section=True))


def set_flag_flow(
    conversation_id: str, flag: RecordFlag[T], value: T
) -> Flow[ConversationRecord]:
    """Set one of conversa's per-conversation settings in the record's flags."""
    record: ConversationRecord = yield GetRecord(conversation_id)
    updated: ConversationRecord = yield UpdateRecord(
        conversation_id, {"flags": flag.set(record, value)}
    )
    return updated


def pin_flow(conversation_id: str, seq: int) -> Flow[tuple[int, int]]:
    """Pin the exchange holding turn *seq*: replayed whatever the window drops."""
    record: ConversationRecord = yield GetRecord(conversation_id)
    if not 1 <= seq <= record.last_seq:
        msg = f"no turn {seq} in conversation {conversation_id!r} (last seq {record.last_seq})"
        raise InvalidInputError(msg)
    first = max(1, seq - _PIN_LOOKAROUND)
    near: tuple[Turn, ...] = yield ReadTurns(
        conversation_id, first, seq + _PIN_LOOKAROUND
    )
    starts = [i for i in exchange_starts(near) if is_real_user_turn(near[i])]
    at = next((i for i, t in enumerate(near) if t.seq == seq), 0)
    begin = max((i for i in starts if i <= at), default=None)
    end = min((i for i in starts if i > at), default=None)
    if begin is None or end is None:
        msg = (
            f"turn {seq} is not inside a complete exchange (a user turn and its reply)"
        )
        raise InvalidInputError(msg)
    span = (near[begin].seq or seq, near[end - 1].seq or seq)
    ranges = tuple(sorted({*PINNED.of(record), span}))
    yield UpdateRecord(conversation_id, {"flags": PINNED.set(record, ranges)})
    return span


def refuse_stored_secrets(params: RequestParams) -> None:
    """Refuse default parameters that carry a secret: secrets are never stored.

    Raises:
        InvalidInputError: naming where the secret is and how to pass it instead.
    """
    where = find_secret(asdict(params, recurse=False))
    if where:
        msg = (
            f"{where} is a secret and conversa never stores secrets: pass it per call, "
            "e.g. conv.send(..., mcp_servers=[...])"
        )
        raise InvalidInputError(msg)


def set_params_flow(
    conversation_id: str, kwargs: Mapping[str, Any], *, api_version: str
) -> Flow[ConversationRecord]:
    """Change default request parameters: read, change and write under the lock.

    Reading the record inside the flow (which the shell runs holding the
    conversation's lock) makes it atomic: two workers' changes never lose each other.
    """
    record: ConversationRecord = yield GetRecord(conversation_id)
    params = updated_params(record.params, kwargs)
    return (
        yield from update_flow(
            conversation_id, {"params": params}, api_version=api_version
        )
    )


def update_flow(
    conversation_id: str, changes: Mapping[str, Any], *, api_version: str
) -> Flow[ConversationRecord]:
    """Change record fields (model, system, params, metadata, capabilities, flags)."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        msg = f"cannot change {unknown[0]!r}; changeable: {sorted(UPDATABLE_FIELDS)}"
        raise InvalidInputError(msg)
    if "params" in changes:
        refuse_stored_secrets(changes["params"])
    record: ConversationRecord = yield GetRecord(conversation_id)
    candidate = evolve(record, **changes)
    check_system(candidate.system_to_api(), entry="update")
    check_params(
        candidate.params,
        model=candidate.model,
        caps=capabilities_for(candidate.model, candidate.capabilities),
        api_version=api_version,
    )
    updated: ConversationRecord = yield UpdateRecord(conversation_id, changes)
    return updated
