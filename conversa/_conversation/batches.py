"""`Batches` and `AsyncBatches`: send many conversations' pending turns as Message Batches.

The twins are thin shells, as `Conversation` is: the planning, splitting and
folding live in `_flows.batch` (pure functions and generator flows), and each
twin only drives flows against its store (`_run`/`_do`), makes the HTTP calls and
takes each conversation's lock while it writes to it. Polling sleeps through an
injectable *sleep*, so tests never wait.

Lifecycle::

    job = batches.submit(["c1", "c2"])     # plan all (raises before any call), create,
                                           # record the batch on each conversation
    batches.wait(job, on_progress=print)   # poll until processing ends
    report = batches.collect(job)          # fold results back: replies, conflicts, failures
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import evolve, field, frozen

from .._client.wire import APIResponse
from .._core.request import DEFAULT_API_VERSION
from .._drive import drive
from .._flows.batch import (
    MAX_BATCH_BYTES,
    MAX_BATCH_REQUESTS,
    BatchEntry,
    BatchJob,
    BatchOutcome,
    BatchStatus,
    CollectReport,
    Planned,
    collect_flow,
    entry_from_flag,
    mark_flow,
    plan_flow,
    split,
)
from .._flows.effects import Handlers, store_handlers
from .._flows.send import Flow
from .._stores.protocol import DEFAULT_LOCK_TIMEOUT, Store
from .._values.params import params_from_kwargs
from .base import door_of

if TYPE_CHECKING:
    from .._client.client import Client

__all__ = ["DEFAULT_POLL_INTERVAL", "BatchPage", "Batches"]

T = TypeVar("T")
_BATCHES = "/v1/messages/batches"
#: The default time between two polls of `wait`, in seconds.
DEFAULT_POLL_INTERVAL = 30.0


@frozen
class BatchPage:
    """One page of `list`, newest batch first; pass *last_id* as `after_id` for more."""

    items: tuple[BatchStatus, ...]
    has_more: bool
    first_id: str | None
    last_id: str | None


def _page(body: Mapping[str, Any]) -> BatchPage:
    items = tuple(BatchStatus.from_api(b) for b in body.get("data", ()))
    return BatchPage(
        items, bool(body.get("has_more")), body.get("first_id"), body.get("last_id")
    )


def _list_params(
    limit: int, after_id: str | None, before_id: str | None
) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": limit}
    if after_id is not None:
        params["after_id"] = after_id
    if before_id is not None:
        params["before_id"] = before_id
    return params


def _batch_body(chunk: Iterable[Planned]) -> dict[str, Any]:
    return {"requests": [{"custom_id": p.custom_id, "params": p.params} for p in chunk]}


def _ids(job_or_id: BatchJob | str) -> tuple[str, ...]:
    return (job_or_id,) if isinstance(job_or_id, str) else job_or_id.batch_ids


@frozen
class _Collector:
    """The results still to fold, and the outcomes so far (one collect)."""

    entries: Mapping[str, BatchEntry] = field(hash=False)
    outcomes: list[BatchOutcome] = field(factory=list, hash=False)
    unknown: list[str] = field(factory=list, hash=False)

    def report(self) -> CollectReport:
        return CollectReport(tuple(self.outcomes), tuple(self.unknown))


class _Base:
    """What the twins share: configuration and the API version. No I/O."""

    def __init__(
        self, client: Any, store: Any, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.client = client
        self.store = store
        self.lock_timeout = lock_timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _api_version(self) -> str:
        config = getattr(self.client, "config", None)
        return getattr(config, "api_version", DEFAULT_API_VERSION)

    def _plan(
        self, conversation_ids: Iterable[str], overrides: Mapping[str, Any]
    ) -> Flow[tuple[Planned, ...]]:
        return plan_flow(
            tuple(conversation_ids),
            params_from_kwargs(overrides),
            self._api_version(),
            door_of(self.client),
        )


class Batches(_Base):
    """Message Batches for conversations in a `Store`, through a `Client`.

    Args:
        client: the client the batch calls go through.
        store: where the conversations live.
        lock_timeout: how long to wait for a conversation's lock when writing to it.
    """

    client: Client
    store: Store

    def __init__(
        self,
        client: Client,
        store: Store,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        super().__init__(client, store, lock_timeout=lock_timeout)

    def submit(
        self,
        conversation_ids: Iterable[str],
        *,
        max_requests: int = MAX_BATCH_REQUESTS,
        max_bytes: int = MAX_BATCH_BYTES,
        **overrides: Any,
    ) -> BatchJob:
        """Send each conversation's pending user turn(s) as a batch request.

        Each request is the one `conv.retry()` would send. Everything is planned
        before the first call; a set over *max_requests* or *max_bytes* is split
        into several batches.

        Args:
            conversation_ids: the conversations to answer; each must end with an
                unanswered user turn.
            max_requests: requests per batch at most (the API's limit by default).
            max_bytes: body bytes per batch at most (the API's limit by default).
            **overrides: request parameters for these requests only.

        Raises:
            InvalidInputError: a conversation has nothing pending (named), or a
                request alone is over *max_bytes*; nothing was sent.
        """
        planned = self._run(self._plan(conversation_ids, overrides))
        chunks = split(planned, max_requests=max_requests, max_bytes=max_bytes)
        batch_ids: list[str] = []
        requests: dict[str, BatchEntry] = {}
        for chunk in chunks:
            created = self._api(
                "POST", _BATCHES, json=_batch_body(chunk), betas=chunk[0].betas
            )
            batch_ids.append(created.body["id"])
            for p in chunk:
                entry = evolve(p.entry, batch_id=created.body["id"])
                with self.store.lock(entry.conversation_id, timeout=self.lock_timeout):
                    self._run(mark_flow(p.custom_id, entry))
                requests[p.custom_id] = entry
        return BatchJob(tuple(batch_ids), requests)

    def status(self, batch_id: str) -> BatchStatus:
        """Return the batch's processing status and request counts."""
        return BatchStatus.from_api(self._api("GET", f"{_BATCHES}/{batch_id}").body)

    def wait(
        self,
        job_or_id: BatchJob | str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[BatchStatus], object] | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> tuple[BatchStatus, ...]:
        """Poll each batch until its processing ends; return their final statuses.

        Args:
            job_or_id: a `BatchJob` or one batch id.
            poll_interval: seconds between two polls of a batch.
            on_progress: called with every status polled.
            sleep: how to wait between polls (tests pass a recorder).
        """
        final: list[BatchStatus] = []
        for batch_id in _ids(job_or_id):
            while True:
                status = self.status(batch_id)
                if on_progress is not None:
                    on_progress(status)
                if status.ended:
                    break
                sleep(poll_interval)
            final.append(status)
        return tuple(final)

    def cancel(self, batch_id: str) -> BatchStatus:
        """Start canceling a batch; requests not yet done end ``canceled``."""
        return BatchStatus.from_api(
            self._api("POST", f"{_BATCHES}/{batch_id}/cancel").body
        )

    def list(
        self,
        *,
        limit: int = 20,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> BatchPage:
        """Return a page of the workspace's batches, newest first."""
        params = _list_params(limit, after_id, before_id)
        return _page(self._api("GET", _BATCHES, params=params).body)

    def delete(self, batch_id: str) -> None:
        """Delete an ended batch (cancel it and wait first if it is running)."""
        self._api("DELETE", f"{_BATCHES}/{batch_id}")

    def collect(self, job_or_id: BatchJob | str) -> CollectReport:
        """Fold an ended batch's results into their conversations.

        Succeeded: the reply is appended (under the id a live send gives) if the
        conversation has not moved on, else recorded and reported as a conflict.
        Errored, canceled, expired: recorded; the turn stays pending for `retry()`.
        Collecting again writes nothing again.

        Args:
            job_or_id: the `BatchJob`, or a batch id (then the conversations are
                found by the batch recorded on them: the store is scanned).
        """
        collector = _Collector(
            job_or_id.requests
            if isinstance(job_or_id, BatchJob)
            else self._recorded(job_or_id)
        )
        for batch_id in _ids(job_or_id):
            for line in self._api(
                "GET", f"{_BATCHES}/{batch_id}/results", jsonl=True
            ).lines:
                custom_id = line["custom_id"]
                entry = collector.entries.get(custom_id)
                if entry is None:
                    collector.unknown.append(custom_id)
                    continue
                with self.store.lock(entry.conversation_id, timeout=self.lock_timeout):
                    collector.outcomes.append(
                        self._run(collect_flow(custom_id, entry, line["result"]))
                    )
        return collector.report()

    def _recorded(self, batch_id: str) -> dict[str, BatchEntry]:
        found: dict[str, BatchEntry] = {}
        cursor: str | None = None
        while True:
            page = self.store.list(cursor=cursor)
            for record in page.items:
                pair = entry_from_flag(record)
                if pair is not None and pair[1].batch_id == batch_id:
                    found[pair[0]] = pair[1]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def _api(self, method: str, path: str, **kwargs: Any) -> APIResponse:
        return self.client.request(method, path, **kwargs)

    def _run(self, flow: Flow[T]) -> T:
        return drive(flow, self._do)

    @functools.cached_property
    def _handlers(self) -> Handlers:
        return store_handlers(self.store)

    def _do(self, effect: Any) -> Any:
        # Batch flows yield only store effects.
        return self._handlers[type(effect)](effect)
