"""The store rules: the semantics every store shares, as pure functions over values.

They are written for store implementers. conversa's MemoryStore runs them over
dicts and its SQL stores over rows they just read inside a transaction, so the
rules exist once; a third-party store runs them the same way, over what it read
inside its own transaction, and so behaves as `conversa.testing.store_contract`
expects without reimplementing it. Each store method maps to a few of them
(`MemoryStore` is the shortest reference implementation):

- ``create``: `record_for_create`, then refuse an existing id (`StoreError`);
- ``get``: `check_owner` on the record read;
- ``update``: `apply_changes` to `check_owner`'s record;
- ``append``: `check_updates`, `plan_append` over the stored turns among the
  call's ids, `apply_turn_update` for *updates*; then insert `AppendPlan.new` and
  set the record's ``last_seq`` to `AppendPlan.last_seq`, in one transaction;
- ``update_turns``: `check_updates`, then `apply_turn_update` (or
  `bookkeeping_after` over a row's `BOOKKEEPING` columns);
- ``list``: `check_metadata_filter`, `check_limit`, `decode_cursor`,
  `metadata_matches`, `encode_cursor`;
- ``fork``: `fork_record`, then copy turns 1..at_seq; ``usage``: `sum_usage`;
- ``read_newest``: `newest_within` over the turns read newest first;
- ``read_window``: `window_floor` and `resolve_budget` on the record read, then
  `covering` over the turns read newest first down to the floor, and
  `head_stop` for the head;
- ``append`` with ``lease_wait``: the same, after checking in the same
  transaction that no other holder's lease is live (else nothing is written and
  the call waits and tries again, up to ``lease_wait``, then raises
  `ConversationBusyError`);
- ``lock``: `DEFAULT_LOCK_TIMEOUT` is the default wait;
- ``erase`` / ``erase_owner`` / ``purge`` (`Erasure`): `erase_scope` for the
  owner a handle may erase, `is_stale` for what a purge takes; hide them (a
  tombstone every other method treats as not found) in one transaction, then
  delete turns a batch at a time, then leases and records; report `Erased`.

The rules themselves:

- `plan_append` decides what an append stores. Turns whose id is already stored
  with the same content come back as stored (idempotency); another content under a
  stored id is a `TurnIdConflictError`. The other turns get the next seqs, in call
  order. A call may mix stored and new turns (a retried batch that grew): the stored
  ones come back as they are, the new ones go after the current last seq, and the
  result is in call order. `expected_last_seq` is checked only when something new
  would be written, so replaying an append that already succeeded returns the
  stored turns instead of a `SeqConflictError`.
- A stored turn always has a token count: the caller's, or conversa's estimate of
  its blocks (`tokens_exact=False`, `with_tokens`). That keeps `read_newest` a
  running sum over rows.
- Listing is newest created first, ties broken by id, and pages with a keyset
  cursor over (created_at, id); the cursor is opaque (URL-safe base64 of JSON).
  Creation time, not update time, keeps paging stable while conversations grow.
- Metadata filters are equality on top-level keys with JSON scalar values (str,
  int, float, bool, None): the three backends agree on those exactly (True is not 1).
- Records are stored JSON-shaped, with no secrets in their params and UTC times
  (`normalize_record`); an owner-bound handle sees only its owner's records
  (`check_owner`) and creates only for its owner (`record_for_create`).

Every function raises conversa's own errors (`InvalidInputError`, `StoreError`
and its subclasses), so a store that lets them through raises what the contract
expects.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from attrs import evolve, frozen

from .._core.estimate import estimate_blocks
from .._exceptions import (
    ConversationNotFoundError,
    InvalidInputError,
    SeqConflictError,
    StoreError,
    TurnIdConflictError,
)
from .._values.turns import (
    ConversationRecord,
    RequestParams,
    Turn,
    Usage,
    UsageTotals,
    new_id,
    replaced,
    utcnow,
)
from .protocol import (
    DEFAULT_LOCK_TIMEOUT,
    UPDATABLE_FIELDS,
    TurnUpdate,
    covering,
    head_stop,
    resolve_budget,
    window_floor,
)

__all__ = [
    "BOOKKEEPING",
    "DEFAULT_LOCK_TIMEOUT",
    "UPDATABLE_FIELDS",
    "AppendPlan",
    "apply_changes",
    "apply_turn_update",
    "as_utc",
    "bookkeeping_after",
    "check_limit",
    "check_metadata_filter",
    "check_owner",
    "check_updates",
    "covering",
    "decode_cursor",
    "encode_cursor",
    "erase_scope",
    "fork_record",
    "head_stop",
    "is_stale",
    "metadata_matches",
    "newest_within",
    "normalize_record",
    "plan_append",
    "record_for_create",
    "resolve_budget",
    "sum_usage",
    "window_floor",
    "with_tokens",
]

_SCALARS = (str, int, float, bool, type(None))


def as_utc(value: datetime) -> datetime:
    """Return *value* as an aware UTC datetime (a naive one is taken as UTC)."""
    tz = value.tzinfo
    if tz is timezone.utc:
        return value
    if tz is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _json_copy(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Copy *value* through JSON, as a SQL store would store and read it."""
    try:
        return dict(_plain_copy(dict(value)))  # the same copy, a tenth of the time
    except (_NotPlainError, RecursionError):  # (a cycle: JSON says what is wrong)
        pass
    try:
        copied = json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as exc:
        msg = f"{what} must be JSON-serializable: {exc}"
        raise InvalidInputError(msg) from exc
    return dict(copied)


class _NotPlainError(Exception):
    """A value `_plain_copy` leaves to the JSON round trip."""


#: Bits of the longest int copied as it is (Python's limit on an int's decimal
#: text, `sys.get_int_max_str_digits`, is 4,300 digits by default).
_LONGEST_INT = 1024


def _plain_copy(value: Any) -> Any:
    """*value* as a JSON round trip gives it back, for plain data only.

    Dicts with string keys, lists and tuples (as lists), and the exact scalar
    types; anything else (a subclass, a key JSON would change) raises `_NotPlainError`.
    """
    kind = type(value)
    if kind is int and value.bit_length() > _LONGEST_INT:
        raise _NotPlainError  # JSON's text of it may be past Python's digit limit
    if kind in _SCALARS:  # the exact types: a subclass is not plain
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlainError
            out[key] = _plain_copy(item)
        return out
    if kind is list or kind is tuple:
        return [_plain_copy(item) for item in value]
    raise _NotPlainError


def normalize_record(record: ConversationRecord) -> ConversationRecord:
    """Return *record* as a store keeps it: JSON-shaped mappings, secrets gone, UTC times."""
    return evolve(
        record,
        params=RequestParams.from_json_dict(record.params.to_json_dict()),
        metadata=_json_copy(record.metadata, "metadata"),
        capabilities=_json_copy(record.capabilities, "capabilities"),
        flags=_json_copy(record.flags, "flags"),
        created_at=as_utc(record.created_at),
        updated_at=as_utc(record.updated_at),
    )


def check_owner(record: ConversationRecord, owner: str | None) -> ConversationRecord:
    """Return *record* if a handle bound to *owner* may see it, else raise not-found."""
    if owner is not None and record.owner != owner:
        raise ConversationNotFoundError(record.id)
    return record


def record_for_create(
    record: ConversationRecord, owner: str | None
) -> ConversationRecord:
    """Return the record `create` stores: owned by the handle's owner, with no turns.

    Raises:
        InvalidInputError: *record* names another owner than the handle is bound to.
    """
    if owner is not None:
        if record.owner is not None and record.owner != owner:
            msg = f"this store handle is bound to owner {owner!r}; it cannot create for {record.owner!r}"
            raise InvalidInputError(msg)
        record = evolve(record, owner=owner)
    return normalize_record(evolve(record, last_seq=0))


def apply_changes(
    record: ConversationRecord, changes: Mapping[str, Any]
) -> ConversationRecord:
    """Return *record* with *changes* (`UPDATABLE_FIELDS` only) and a new updated_at.

    *changes* may also hold ``updated_at`` (a datetime; naive is UTC): the record
    then keeps that time instead of now, as an import restores an exported one.

    Raises:
        InvalidInputError: an unknown field, or a value of the wrong kind.
    """
    unknown = sorted(set(changes) - UPDATABLE_FIELDS - {"updated_at"})
    if unknown:
        msg = (
            f"cannot update {unknown}; updatable fields are {sorted(UPDATABLE_FIELDS)}"
        )
        raise InvalidInputError(msg)
    fields = dict(changes)
    updated_at = fields.pop("updated_at", None)
    if updated_at is not None and not isinstance(updated_at, datetime):
        msg = f"updated_at must be a datetime, not {updated_at!r}"
        raise InvalidInputError(msg)
    params = fields.get("params")
    if isinstance(params, Mapping):
        fields["params"] = RequestParams.from_json_dict(params)
    elif params is not None and not isinstance(params, RequestParams):
        msg = f"params must be RequestParams or a mapping, not {type(params).__name__}"
        raise InvalidInputError(msg)
    window = fields.get("window_start", 0)
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        msg = f"window_start must be a non-negative integer, not {window!r}"
        raise InvalidInputError(msg)
    if "model" in fields and not isinstance(fields["model"], str):
        msg = f"model must be a string, not {fields['model']!r}"
        raise InvalidInputError(msg)
    return normalize_record(evolve(record, **fields, updated_at=updated_at or utcnow()))


def with_tokens(turn: Turn) -> Turn:
    """Return *turn* with a token count: its own, or the estimate of its blocks."""
    if turn.tokens is not None:
        return turn
    return replaced(turn, tokens=estimate_blocks(turn.blocks), tokens_exact=False)


@frozen
class AppendPlan:
    """What an append does: the turns to insert, and what the call returns.

    Attributes:
        result: the turns as stored, in call order.
        new: the turns to insert, with their seqs, oldest first.
        last_seq: the conversation's last seq after the append.
    """

    result: tuple[Turn, ...]
    new: tuple[Turn, ...]
    last_seq: int


def plan_append(
    conversation_id: str,
    turns: Sequence[Turn],
    stored: Mapping[str, Turn],
    *,
    last_seq: int,
    expected_last_seq: int | None,
) -> AppendPlan:
    """Decide what appending *turns* stores, given the already *stored* turns by id.

    Args:
        conversation_id: for error messages.
        turns: the turns to append, in order.
        stored: the stored turns among *turns*' ids (others may be missing).
        last_seq: the conversation's last seq, read under the write lock.
        expected_last_seq: the caller's optimistic-concurrency check, if any.

    Raises:
        TurnIdConflictError: an id is stored, or repeated in the call, with other content.
        SeqConflictError: something new would be written and *expected_last_seq*
            is not the last seq.
    """
    seen: dict[str, Turn] = dict(stored)
    result: list[Turn] = []
    new: list[Turn] = []
    seq = last_seq
    for turn in turns:
        previous = seen.get(turn.id)
        if previous is not None:
            if not previous.same_content(turn):
                raise TurnIdConflictError(
                    conversation_id=conversation_id, turn_id=turn.id
                )
            result.append(previous)
            continue
        seq += 1
        turn.content_json()  # made once, here: the placed copy takes it along
        placed = with_tokens(
            replaced(turn, seq=seq, created_at=as_utc(turn.created_at))
        )
        seen[turn.id] = placed
        new.append(placed)
        result.append(placed)
    if new and expected_last_seq is not None and expected_last_seq != last_seq:
        raise SeqConflictError(
            conversation_id=conversation_id, expected=expected_last_seq, actual=last_seq
        )
    return AppendPlan(tuple(result), tuple(new), seq)


def newest_within(turns_newest_first: Iterable[Turn], budget: int) -> tuple[Turn, ...]:
    """Take turns newest first while their token counts fit *budget*; oldest first out."""
    taken: list[Turn] = []
    total = 0
    for turn in turns_newest_first:
        tokens = (
            turn.tokens if turn.tokens is not None else estimate_blocks(turn.blocks)
        )
        if total + tokens > budget:
            break
        total += tokens
        taken.append(turn)
    taken.reverse()
    return tuple(taken)


def check_updates(
    conversation_id: str, updates: Sequence[TurnUpdate], seqs: Iterable[int]
) -> None:
    """Raise `StoreError` if an update names a seq that is not stored."""
    known = set(seqs)
    for update in updates:
        if update.seq not in known:
            msg = f"conversation {conversation_id!r} has no turn at seq {update.seq}"
            raise StoreError(msg)


#: The bookkeeping fields of a turn, the only ones `update_turns` may change.
BOOKKEEPING = ("tokens", "tokens_exact", "status", "flags")


def bookkeeping_after(current: Mapping[str, Any], update: TurnUpdate) -> dict[str, Any]:
    """Return a turn's bookkeeping (`BOOKKEEPING` keys) after *update*; flags are merged."""
    out = {key: current[key] for key in BOOKKEEPING}
    if update.tokens is not None:
        out["tokens"] = update.tokens
    if update.tokens_exact is not None:
        out["tokens_exact"] = update.tokens_exact
    if update.status is not None:
        out["status"] = update.status
    if update.flags is not None:
        out["flags"] = {**out["flags"], **_json_copy(update.flags, "flags")}
    return out


def apply_turn_update(turn: Turn, update: TurnUpdate) -> Turn:
    """Return *turn* with *update*'s bookkeeping (flags are merged)."""
    current = {key: getattr(turn, key) for key in BOOKKEEPING}
    return evolve(turn, **bookkeeping_after(current, update))


def fork_record(
    parent: ConversationRecord, at_seq: int, new_conversation_id: str | None
) -> ConversationRecord:
    """Return the record of a fork of *parent* at *at_seq* (turns 1..at_seq).

    Raises:
        InvalidInputError: *at_seq* is negative or past the parent's last seq.
    """
    if isinstance(at_seq, bool) or not 0 <= at_seq <= parent.last_seq:
        msg = f"cannot fork conversation {parent.id!r} at seq {at_seq!r}: it has seqs 1..{parent.last_seq}"
        raise InvalidInputError(msg)
    now = utcnow()
    return evolve(
        parent,
        id=new_conversation_id or new_id(),
        last_seq=at_seq,
        window_start=parent.window_start if parent.window_start <= at_seq else 0,
        parent_id=parent.id,
        forked_at=at_seq,
        created_at=now,
        updated_at=now,
    )


def sum_usage(usages: Iterable[Usage]) -> UsageTotals:
    """Add up the usage of a conversation's calls."""
    totals = UsageTotals()
    for usage in usages:
        totals = totals.add(usage)
    return totals


def check_metadata_filter(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the metadata filter as a dict, refusing non-scalar values.

    Raises:
        InvalidInputError: a value is not a JSON scalar.
    """
    if not metadata:
        return {}
    for key, value in metadata.items():
        if not isinstance(value, _SCALARS):
            msg = (
                "metadata filters compare top-level keys with str, int, float, bool "
                f"or None values; got {key!r}: {value!r}"
            )
            raise InvalidInputError(msg)
    return dict(metadata)


def _json_equal(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return (
            isinstance(wanted, bool) and isinstance(stored, bool) and stored is wanted
        )
    if wanted is None:
        return stored is None
    if isinstance(wanted, int | float):
        return isinstance(stored, int | float) and stored == wanted
    return isinstance(stored, str) and stored == wanted


def metadata_matches(metadata: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Tell whether *metadata* has every key of *filters* with an equal JSON value."""
    return all(
        k in metadata and _json_equal(metadata[k], v) for k, v in filters.items()
    )


def encode_cursor(created_at: datetime, conversation_id: str) -> str:
    """Return the opaque cursor that continues a listing after this conversation."""
    raw = json.dumps(
        [as_utc(created_at).isoformat(), conversation_id], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a cursor made by `encode_cursor`.

    Raises:
        InvalidInputError: the cursor was not made by a conversa store.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, conversation_id = json.loads(raw)
        when = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, binascii.Error) as exc:
        msg = f"not a listing cursor: {cursor!r}"
        raise InvalidInputError(msg) from exc
    if not isinstance(conversation_id, str):
        msg = f"not a listing cursor: {cursor!r}"
        raise InvalidInputError(msg)
    return as_utc(when), conversation_id


def check_limit(limit: int) -> int:
    """Return *limit* if it is a positive integer, else raise `InvalidInputError`."""
    if isinstance(limit, bool) or limit < 1:
        msg = f"limit must be a positive integer, not {limit!r}"
        raise InvalidInputError(msg)
    return limit


def erase_scope(owner: str, handle_owner: str | None) -> str | None:
    """The owner `erase_owner(owner)` erases through a handle bound to *handle_owner*.

    None means nothing: a handle bound to another owner may not see *owner*'s
    conversations, so it erases none of them (as `list` shows it none).
    """
    if handle_owner is not None and owner != handle_owner:
        return None
    return owner


def is_stale(record: ConversationRecord, before: datetime) -> bool:
    """Whether `purge(before=...)` takes *record*: not updated since *before*."""
    return as_utc(record.updated_at) < as_utc(before)
