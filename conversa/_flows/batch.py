"""Message Batches, the pure part: custom ids, splitting, and the store-side flows.

A batch request is exactly the request `conv.retry()` would send: `prepare` plans
it with no new content, so it answers the conversation's pending user turn(s) and
its reply gets the id a live send would give (`Plan.reply_id`). Planning every
conversation happens before anything is sent, so a conversation with nothing
pending (or a history the API would refuse) fails the whole submit with an error
that names it, and no batch exists.

What ties a result back to its conversation is written in two places: the
`BatchJob` the submit returns, and the conversation record's `BATCH` flag
(batch id, custom id, reply id, the seq the reply must follow), so
another process can collect with only the batch id. Collecting records the
result's outcome in the same flags; that record, plus appends that are
idempotent by reply id, is why collecting twice writes nothing twice.

custom_id: the API allows 1-64 characters of ``[A-Za-z0-9_-]`` (Message Batches,
https://platform.claude.com/docs/en/build-with-claude/batch-processing), and two ids joined do not fit, so it is ``cv_`` and 40 hex digits of
sha256(conversation id, reply id): readable, stable across processes, and unique
within a batch because a conversation appears at most once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypeVar, cast

from attrs import evolve, field, frozen

from .._core import Plan, SendSpec, fold_reply, sized_reply
from .._drive import Flow
from .._exceptions import InvalidInputError, SeqConflictError
from .._values.capabilities import capabilities_for
from .._values.doors import FIRST_PARTY, DoorCapabilities
from .._values.params import NOT_IN_BATCH
from .._values.settings import BATCH
from .._values.turns import ConversationRecord, Turn
from .send import (
    Append,
    GetRecord,
    GetTurns,
    UpdateRecord,
    prepare,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "BatchEntry",
    "BatchJob",
    "BatchOutcome",
    "BatchStatus",
    "CollectReport",
    "Planned",
    "collect_flow",
    "custom_id_for",
    "mark_flow",
    "plan_flow",
    "split",
]

T = TypeVar("T")

#: The API's limits for one batch (Message Batches docs): whichever comes first.
MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
#: What a batch body adds around its requests: ``{"requests":[...]}`` and commas.
_ENVELOPE_BYTES = 16

ResultKind: TypeAlias = Literal["succeeded", "errored", "canceled", "expired"]
Action: TypeAlias = Literal[
    "appended", "conflict", "recorded", "already_collected", "superseded"
]


def custom_id_for(conversation_id: str, reply_id: str) -> str:
    """Return the batch custom_id of the request answered by *reply_id*."""
    digest = hashlib.sha256(f"{conversation_id}\0{reply_id}".encode()).hexdigest()
    return f"cv_{digest[:40]}"


@frozen
class BatchEntry:
    """Where one batch result goes.

    Attributes:
        conversation_id: the conversation the request was planned for.
        reply_id: the id its reply is stored under (the one a live send gives).
        expected_last_seq: the conversation's last seq at submit; the reply is
            appended only if it still is.
        batch_id: the batch that carries the request.
    """

    conversation_id: str
    reply_id: str
    expected_last_seq: int
    batch_id: str = ""

    def to_flag(self, custom_id: str) -> dict[str, Any]:
        """Return the record flag that lets any process collect this request."""
        return {
            "id": self.batch_id,
            "custom_id": custom_id,
            "reply_id": self.reply_id,
            "expected_last_seq": self.expected_last_seq,
        }


@frozen
class BatchJob:
    """What a submit sent: its batch ids and where each result goes.

    Attributes:
        batch_ids: the batches created, in order (more than one when split).
        requests: custom_id → `BatchEntry`.
    """

    batch_ids: tuple[str, ...]
    requests: Mapping[str, BatchEntry] = field(hash=False)


@frozen
class BatchStatus:
    """A batch's progress, from ``GET /v1/messages/batches/{id}``.

    Attributes:
        id: the batch id.
        processing_status: ``in_progress``, ``canceling`` or ``ended``.
        request_counts: processing, succeeded, errored, canceled, expired.
        raw: the MessageBatch JSON as the API sent it.
    """

    id: str
    processing_status: str
    request_counts: Mapping[str, int] = field(hash=False)
    raw: Mapping[str, Any] = field(hash=False, repr=False)

    @property
    def ended(self) -> bool:
        """Whether processing has ended (results can be collected)."""
        return self.processing_status == "ended"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> BatchStatus:
        """Read a MessageBatch object."""
        counts = {k: int(v) for k, v in (data.get("request_counts") or {}).items()}
        return cls(data["id"], data["processing_status"], counts, data)


@frozen
class BatchOutcome:
    """What collecting did with one result.

    Attributes:
        custom_id: the request's custom_id.
        conversation_id: its conversation.
        result: ``succeeded``, ``errored``, ``canceled`` or ``expired``.
        action: ``appended`` (the reply is stored), ``conflict`` (the conversation
            moved on: recorded, not appended), ``recorded`` (a failed request:
            recorded, the turn stays pending), ``already_collected``, or
            ``superseded`` (a later batch was submitted for the conversation:
            nothing written).
        turn: the stored reply, when appended.
        error: the API's error object, for an errored request.
    """

    custom_id: str
    conversation_id: str
    result: ResultKind
    action: Action
    turn: Turn | None = None
    error: Mapping[str, Any] | None = field(default=None, hash=False)


@frozen
class CollectReport:
    """Every result of a collect, and the custom ids no conversation claimed."""

    outcomes: tuple[BatchOutcome, ...]
    unknown: tuple[str, ...] = ()

    def _with(self, action: str) -> tuple[BatchOutcome, ...]:
        return tuple(o for o in self.outcomes if o.action == action)

    @property
    def appended(self) -> tuple[BatchOutcome, ...]:
        """The results stored as replies."""
        return self._with("appended")

    @property
    def conflicts(self) -> tuple[BatchOutcome, ...]:
        """The replies not appended because their conversation moved on."""
        return self._with("conflict")

    @property
    def failed(self) -> tuple[BatchOutcome, ...]:
        """The errored, canceled and expired requests (their turns stay pending)."""
        return self._with("recorded")


@frozen
class Planned:
    """One conversation's batch request, planned and ready to send."""

    custom_id: str
    entry: BatchEntry
    params: dict[str, Any] = field(hash=False)
    betas: tuple[str, ...]
    size: int


def plan_flow(
    conversation_ids: Iterable[str],
    overrides: Mapping[str, Any],
    api_version: str,
    door: DoorCapabilities = FIRST_PARTY,
) -> Flow[tuple[Planned, ...]]:
    """Plan each conversation's pending request, as `retry()` would; write nothing.

    Raises:
        InvalidInputError: a conversation has nothing pending, appears twice, or
            asks for what a batch refuses; the message names it.
    """
    planned: list[Planned] = []
    seen: set[str] = set()
    for cid in conversation_ids:
        if cid in seen:
            msg = f"conversation {cid!r} is listed twice: a batch sends it once"
            raise InvalidInputError(msg)
        seen.add(cid)
        spec = SendSpec(
            cid,
            None,
            overrides=overrides,
            api_version=api_version,
            entry="batch submit",
            door=door,
            batch=True,
        )
        try:
            record, prepared, _ = yield from prepare(spec)
        except InvalidInputError as exc:
            msg = f"conversation {cid!r}: {exc}"
            raise InvalidInputError(msg) from exc
        plan = cast(Plan, prepared)  # with no turn_id, never an answered Turn
        refused = [k for k in NOT_IN_BATCH if k in plan.body]
        if refused:
            msg = f"conversation {cid!r}: {refused[0]!r} is not allowed in a batch"
            raise InvalidInputError(msg)
        custom_id = custom_id_for(cid, plan.reply_id)
        entry = BatchEntry(cid, plan.reply_id, record.last_seq)
        item = {"custom_id": custom_id, "params": plan.body}
        size = len(json.dumps(item, ensure_ascii=False).encode()) + 1
        planned.append(Planned(custom_id, entry, plan.body, plan.betas, size))
    if not planned:
        msg = "no conversations to submit"
        raise InvalidInputError(msg)
    return tuple(planned)


def split(
    planned: Sequence[Planned], *, max_requests: int, max_bytes: int
) -> tuple[tuple[Planned, ...], ...]:
    """Group requests into batches within the limits; requests needing other betas go apart.

    A batch's ``anthropic-beta`` header covers all its requests, so each beta set
    gets batches of its own.

    Raises:
        InvalidInputError: one request alone is over *max_bytes*.
    """
    by_betas: dict[tuple[str, ...], list[Planned]] = {}
    for p in planned:
        by_betas.setdefault(p.betas, []).append(p)
    chunks: list[tuple[Planned, ...]] = []
    for group in by_betas.values():
        chunk: list[Planned] = []
        size = _ENVELOPE_BYTES
        for p in group:
            if p.size + _ENVELOPE_BYTES > max_bytes:
                msg = f"conversation {p.entry.conversation_id!r}: its request ({p.size} bytes) is over the batch limit of {max_bytes} bytes"
                raise InvalidInputError(msg)
            if chunk and (len(chunk) >= max_requests or size + p.size > max_bytes):
                chunks.append(tuple(chunk))
                chunk, size = [], _ENVELOPE_BYTES
            chunk.append(p)
            size += p.size
        chunks.append(tuple(chunk))
    return tuple(chunks)


def _with_flag(record: ConversationRecord, value: Mapping[str, Any]) -> UpdateRecord:
    return UpdateRecord(record.id, {"flags": BATCH.set(record, value)})


def mark_flow(custom_id: str, entry: BatchEntry) -> Flow[None]:
    """Record on the conversation that *custom_id* of batch *entry.batch_id* answers it."""
    record: ConversationRecord = yield GetRecord(entry.conversation_id)
    yield _with_flag(record, entry.to_flag(custom_id))


def entry_from_flag(record: ConversationRecord) -> tuple[str, BatchEntry] | None:
    """Read the (custom_id, entry) a submit recorded on *record*, if any."""
    flag = BATCH.of(record)
    if "custom_id" not in flag:
        return None
    entry = BatchEntry(
        record.id, flag["reply_id"], int(flag["expected_last_seq"]), flag["id"]
    )
    return str(flag["custom_id"]), entry


def collect_flow(
    custom_id: str, entry: BatchEntry, result: Mapping[str, Any]
) -> Flow[BatchOutcome]:
    """Fold one result into its conversation (the shell holds its lock).

    A success is appended as the reply only if the conversation's last seq is
    still the one planned for; otherwise it is recorded in the flags (message
    included) and reported as a conflict. A failure is recorded; the pending turn
    stays pending, so `retry()` resends it.
    """
    cid = entry.conversation_id
    kind: ResultKind = result["type"]
    record: ConversationRecord = yield GetRecord(cid)
    flag = BATCH.of(record)
    done = flag.get("custom_id") == custom_id and "result" in flag
    stored = yield GetTurns(cid, (entry.reply_id,))
    if flag.get("id", entry.batch_id) != entry.batch_id and not stored:
        return BatchOutcome(custom_id, cid, kind, "superseded")
    if done or stored:
        turn = stored[0] if stored else None
        return BatchOutcome(custom_id, cid, kind, "already_collected", turn)
    note: dict[str, Any] = {**entry.to_flag(custom_id), "result": kind}
    error = result.get("error")
    if error is not None:
        note["error"] = error
    outcome = BatchOutcome(custom_id, cid, kind, "recorded", error=error)
    if kind == "succeeded":
        reply = fold_reply(result["message"], reply_id=entry.reply_id)
        appended = yield from _append_reply(record, entry, reply)
        if appended is None:
            note.update(conflict=True, message=result["message"])
            outcome = evolve(outcome, action="conflict")
        else:
            outcome = evolve(outcome, action="appended", turn=appended)
    latest: ConversationRecord = yield GetRecord(cid)
    yield _with_flag(latest, note)
    return outcome


def _append_reply(
    record: ConversationRecord, entry: BatchEntry, reply: Turn
) -> Flow[Turn | None]:
    """Append *reply* after *entry.expected_last_seq*; None if the history moved on."""
    if record.last_seq != entry.expected_last_seq:
        return None
    tokenizer = capabilities_for(record.model, record.capabilities).tokenizer
    try:
        stored = yield Append(
            record.id, (sized_reply(reply, tokenizer),), entry.expected_last_seq
        )
    except SeqConflictError:
        return None
    turn: Turn = stored[0]
    return turn
