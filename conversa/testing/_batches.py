"""Message Batches: the request envelope and the batch lifecycle.

The fake computes every request's result when the batch is created, then lets
the batch *look* busy for a while, deterministically:

* A new batch is ``in_progress``. Each retrieval (``GET …/batches/{id}``) counts
  as a poll; the first ``batch_polls`` polls answer ``in_progress`` and the next
  one ends the batch. `FakeMessagesAPI.advance_batches` ends every batch at once.
* The requests are worked through in order: after *k* of those polls, the first
  ⌊k·n/(batch_polls+1)⌋ are done. A cancel (``canceling``) ends the batch at its
  next retrieval: requests already done keep their results, the rest are
  ``canceled``.
* A batch still running 24 hours after creation (on the fake's clock) ends then;
  its unfinished requests are ``expired``.
* Request counts stay ``processing`` until the batch ends, as the API's do.
* Results (``GET …/results``, JSON Lines) come in reverse request order: the API
  promises no order, so code must match on ``custom_id``.

Batches belong to the API key and workspace that created them; any other one
gets 404, as does a deleted batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from attrs import define, field

from ._answers import NOT_FOUND
from ._faults import Fault, error_body, message_for
from ._validate_base import RejectedError, check_keys, reject

__all__ = [
    "DAY",
    "Batch",
    "BatchBook",
    "check_batch_params",
    "check_envelope",
    "fault_result",
]

DAY = 24 * 3600.0
MAX_REQUESTS = 100_000
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_KINDS = ("succeeded", "errored", "canceled", "expired")


def check_envelope(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Check a batch body's envelope; return its ``(custom_id, params)`` pairs.

    Only the envelope is checked here: the API validates each request's
    ``params`` asynchronously and reports a bad one as an ``errored`` result.
    """
    for key in body:
        if key != "requests":
            reject(f"{key}: Extra inputs are not permitted")
    if "requests" not in body:
        reject("requests: Field required")
    requests = body["requests"]
    if not isinstance(requests, list):
        reject("requests: Input should be a valid list")
    if not requests:
        reject("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > MAX_REQUESTS:
        reject(
            f"requests: List should have at most {MAX_REQUESTS} items after "
            f"validation, not {len(requests)}"
        )
    pairs: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for n, item in enumerate(requests):
        path = f"requests.{n}"
        if not isinstance(item, dict):
            reject(f"{path}: Input should be a valid dictionary")
        check_keys(item, path, ("custom_id", "params"), ())
        custom_id, params = item["custom_id"], item["params"]
        _custom_id(custom_id, f"{path}.custom_id")
        if custom_id in seen:
            reject(
                f"{path}.custom_id: custom_id must be unique within a batch; "
                f"'{custom_id}' is used more than once"
            )
        seen.add(custom_id)
        if not isinstance(params, dict):
            reject(f"{path}.params: Input should be a valid dictionary")
        pairs.append((custom_id, params))
    return pairs


def _custom_id(value: Any, path: str) -> None:
    if not isinstance(value, str):
        reject(f"{path}: Input should be a valid string")
    if not value:
        reject(f"{path}: String should have at least 1 character")
    if len(value) > 64:
        reject(f"{path}: String should have at most 64 characters")
    if not _CUSTOM_ID.match(value):
        reject(f"{path}: String should match pattern '{_CUSTOM_ID.pattern}'")


def check_batch_params(params: Mapping[str, Any]) -> None:
    """Refuse what a batch request may not ask for, after normal validation."""
    if params.get("stream") is True:
        reject("stream: streaming is not supported in Message Batches")
    if "speed" in params:
        reject("speed: is not supported in Message Batches")
    if params["max_tokens"] < 1:
        reject("max_tokens: Input should be greater than or equal to 1")


def fault_result(step: Fault, request_id: str) -> dict[str, Any]:
    """Return the result a batch request gets from a scripted fault.

    `fault.expired` expires the request; any other fault makes it ``errored``
    with the fault's error (``api_error`` for transport faults).
    """
    if step.kind == "expired":
        return {"type": "expired"}
    error_type = step.error_type or "api_error"
    message = step.message or message_for(error_type)
    return {"type": "errored", "error": error_body(error_type, message, request_id)}


@define
class Batch:
    """One batch: its requests' results, computed at creation, and its progress."""

    id: str
    partition: tuple[str, str]
    created: float
    custom_ids: tuple[str, ...]
    outcomes: tuple[dict[str, Any], ...] = field(repr=False)
    polls: int = 0
    done: int = 0
    cancel_at: float | None = None
    ended_at: float | None = None
    final: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def status(self) -> str:
        """``in_progress``, ``canceling`` or ``ended``."""
        if self.ended_at is not None:
            return "ended"
        return "in_progress" if self.cancel_at is None else "canceling"

    def end(self, when: float) -> None:
        """End the batch at *when*; unfinished requests are canceled or expired."""
        expired = when >= self.created + DAY
        if self.cancel_at is None and not expired:
            self.done = len(self.outcomes)
        rest = {"type": "canceled" if self.cancel_at is not None else "expired"}
        unfinished = len(self.outcomes) - self.done
        self.final = self.outcomes[: self.done] + (rest,) * unfinished
        self.ended_at = when


def _stamp(origin: float, when: float | None) -> str | None:
    if when is None:
        return None
    moment = _EPOCH + timedelta(seconds=when - origin)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@define
class BatchBook:
    """Every batch the fake holds, oldest first, and what happens to them.

    Attributes:
        polls_to_end: retrievals that answer ``in_progress`` before a batch ends.
        origin: the clock reading the fake's timestamps count from (2026-01-01).
    """

    polls_to_end: int
    origin: float
    _batches: dict[str, Batch] = field(factory=dict, repr=False)

    def add(self, batch: Batch) -> None:
        """Keep a newly created *batch*."""
        self._batches[batch.id] = batch

    def find(self, batch_id: str, partition: tuple[str, str], now: float) -> Batch:
        """Return the batch, ended first if it is past its 24 hours.

        Raises:
            RejectedError: 404 if there is no such batch for *partition*.
        """
        batch = self._batches.get(batch_id)
        if batch is None or batch.partition != partition:
            raise RejectedError(404, "not_found_error", NOT_FOUND)
        self._expire(batch, now)
        return batch

    def _expire(self, batch: Batch, now: float) -> None:
        if batch.ended_at is None and now >= batch.created + DAY:
            batch.end(batch.created + DAY)

    def retrieve(self, batch_id: str, partition: tuple[str, str], now: float) -> Batch:
        """Return the batch after one more poll, which may end it."""
        batch = self.find(batch_id, partition, now)
        if batch.ended_at is None:
            batch.polls += 1
            if batch.cancel_at is not None or batch.polls > self.polls_to_end:
                batch.end(now)
            else:
                total = len(batch.outcomes)
                batch.done = batch.polls * total // (self.polls_to_end + 1)
        return batch

    def cancel(self, batch_id: str, partition: tuple[str, str], now: float) -> Batch:
        """Start canceling the batch (again is a no-op).

        Raises:
            RejectedError: 400 if the batch has already ended.
        """
        batch = self.find(batch_id, partition, now)
        if batch.ended_at is not None:
            reject(
                f"Message Batch {batch_id} has already ended and cannot be canceled."
            )
        if batch.cancel_at is None:
            batch.cancel_at = now
        return batch

    def delete(self, batch_id: str, partition: tuple[str, str], now: float) -> str:
        """Forget an ended batch and return its id.

        Raises:
            RejectedError: 400 while the batch is still processing.
        """
        batch = self.find(batch_id, partition, now)
        if batch.ended_at is None:
            reject(
                f"Message Batch {batch_id} cannot be deleted while it is "
                f"{batch.status}; cancel it and wait for processing to end first."
            )
        del self._batches[batch_id]
        return batch_id

    def results(
        self, batch_id: str, partition: tuple[str, str], now: float
    ) -> list[dict[str, Any]]:
        """Return the batch's JSON Lines records, in reverse request order.

        Raises:
            RejectedError: 400 while the batch is still processing.
        """
        batch = self.find(batch_id, partition, now)
        if batch.ended_at is None:
            reject(
                f"Message Batch {batch_id} has not finished processing; its "
                "results are available once processing_status is 'ended'."
            )
        pairs = zip(batch.custom_ids, batch.final, strict=True)
        return [{"custom_id": c, "result": r} for c, r in reversed(list(pairs))]

    def advance(self, now: float) -> None:
        """End every batch still running."""
        for batch in self._batches.values():
            self._expire(batch, now)
            if batch.ended_at is None:
                batch.end(now)

    def page(
        self,
        partition: tuple[str, str],
        now: float,
        query: Mapping[str, str],
        base_url: str,
    ) -> dict[str, Any]:
        """Return one page of the partition's batches, newest first.

        *query* holds ``limit`` (1 to 1000, default 20) and at most one cursor:
        ``after_id`` pages towards older batches, ``before_id`` towards newer.
        An unknown cursor gives an empty page.
        """
        limit = _limit(query.get("limit", "20"))
        if "after_id" in query and "before_id" in query:
            reject("before_id and after_id cannot both be set")
        mine = [b for b in reversed(self._batches.values()) if b.partition == partition]
        ids = [b.id for b in mine]
        if "before_id" in query:
            cursor = query["before_id"]
            stop = ids.index(cursor) if cursor in ids else 0
            start = max(stop - limit, 0)
            more = start > 0
        else:
            cursor = query.get("after_id", "")
            start = ids.index(cursor) + 1 if cursor in ids else 0
            start = len(ids) if cursor and cursor not in ids else start
            stop = start + limit
            more = stop < len(ids)
        data = []
        for batch in mine[start:stop]:
            self._expire(batch, now)
            data.append(self.render(batch, base_url))
        return {
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def render(self, batch: Batch, base_url: str) -> dict[str, Any]:
        """Return the MessageBatch JSON for *batch*; *base_url* prefixes results_url."""
        counts = dict.fromkeys(("processing", *_KINDS), 0)
        if batch.ended_at is None:
            counts["processing"] = len(batch.outcomes)
        for result in batch.final:
            counts[result["type"]] += 1
        results_url = None
        if batch.ended_at is not None:
            results_url = f"{base_url}/v1/messages/batches/{batch.id}/results"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "ended_at": _stamp(self.origin, batch.ended_at),
            "created_at": _stamp(self.origin, batch.created),
            "expires_at": _stamp(self.origin, batch.created + DAY),
            "archived_at": None,
            "cancel_initiated_at": _stamp(self.origin, batch.cancel_at),
            "results_url": results_url,
        }

    def clear(self) -> None:
        """Forget every batch."""
        self._batches.clear()


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        reject(
            "limit: Input should be a valid integer, unable to parse string as an integer"
        )
    if limit < 1:
        reject("limit: Input should be greater than or equal to 1")
    if limit > 1000:
        reject("limit: Input should be less than or equal to 1000")
    return limit
