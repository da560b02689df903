"""`AsyncBatches`: the async twin of `Batches` (see `_conversation.batches` for the design).

The same methods, awaited, over an `AsyncStore` and an `AsyncClient`; only the
driver (`_run`/`_do`) and the calls differ, as with `Conversation`'s twin.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from attrs import evolve

from .._client.wire import APIResponse
from .._drive import adrive
from .._flows.batch import (
    MAX_BATCH_BYTES,
    MAX_BATCH_REQUESTS,
    BatchEntry,
    BatchJob,
    BatchStatus,
    CollectReport,
    collect_flow,
    entry_from_flag,
    mark_flow,
    split,
)
from .._flows.effects import AsyncHandlers, astore_handlers
from .._flows.send import Flow
from .._stores.protocol import DEFAULT_LOCK_TIMEOUT, AsyncStore
from .batches import (
    _BATCHES,
    DEFAULT_POLL_INTERVAL,
    BatchPage,
    _Base,
    _batch_body,
    _Collector,
    _ids,
    _list_params,
    _page,
)

if TYPE_CHECKING:
    from .._client.async_client import AsyncClient

__all__ = ["AsyncBatches"]

T = TypeVar("T")


class AsyncBatches(_Base):
    """The async twin of `Batches`: the same methods, awaited, over an `AsyncStore`."""

    client: AsyncClient
    store: AsyncStore

    def __init__(
        self,
        client: AsyncClient,
        store: AsyncStore,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        super().__init__(client, store, lock_timeout=lock_timeout)

    async def submit(
        self,
        conversation_ids: Iterable[str],
        *,
        max_requests: int = MAX_BATCH_REQUESTS,
        max_bytes: int = MAX_BATCH_BYTES,
        **overrides: Any,
    ) -> BatchJob:
        """See `Batches.submit`."""
        planned = await self._run(self._plan(conversation_ids, overrides))
        chunks = split(planned, max_requests=max_requests, max_bytes=max_bytes)
        batch_ids: list[str] = []
        requests: dict[str, BatchEntry] = {}
        for chunk in chunks:
            created = await self._api(
                "POST", _BATCHES, json=_batch_body(chunk), betas=chunk[0].betas
            )
            batch_ids.append(created.body["id"])
            for p in chunk:
                entry = evolve(p.entry, batch_id=created.body["id"])
                async with self.store.alock(
                    entry.conversation_id, timeout=self.lock_timeout
                ):
                    await self._run(mark_flow(p.custom_id, entry))
                requests[p.custom_id] = entry
        return BatchJob(tuple(batch_ids), requests)

    async def status(self, batch_id: str) -> BatchStatus:
        """See `Batches.status`."""
        return BatchStatus.from_api(
            (await self._api("GET", f"{_BATCHES}/{batch_id}")).body
        )

    async def wait(
        self,
        job_or_id: BatchJob | str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        on_progress: Callable[[BatchStatus], object] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> tuple[BatchStatus, ...]:
        """See `Batches.wait`; *sleep* is awaited (`anyio.sleep` by default)."""
        sleep = anyio.sleep if sleep is None else sleep
        final: list[BatchStatus] = []
        for batch_id in _ids(job_or_id):
            while True:
                status = await self.status(batch_id)
                if on_progress is not None:
                    on_progress(status)
                if status.ended:
                    break
                await sleep(poll_interval)
            final.append(status)
        return tuple(final)

    async def cancel(self, batch_id: str) -> BatchStatus:
        """See `Batches.cancel`."""
        return BatchStatus.from_api(
            (await self._api("POST", f"{_BATCHES}/{batch_id}/cancel")).body
        )

    async def list(
        self,
        *,
        limit: int = 20,
        after_id: str | None = None,
        before_id: str | None = None,
    ) -> BatchPage:
        """See `Batches.list`."""
        params = _list_params(limit, after_id, before_id)
        return _page((await self._api("GET", _BATCHES, params=params)).body)

    async def delete(self, batch_id: str) -> None:
        """See `Batches.delete`."""
        await self._api("DELETE", f"{_BATCHES}/{batch_id}")

    async def collect(self, job_or_id: BatchJob | str) -> CollectReport:
        """See `Batches.collect`."""
        collector = _Collector(
            job_or_id.requests
            if isinstance(job_or_id, BatchJob)
            else await self._recorded(job_or_id)
        )
        for batch_id in _ids(job_or_id):
            for line in (
                await self._api("GET", f"{_BATCHES}/{batch_id}/results", jsonl=True)
            ).lines:
                custom_id = line["custom_id"]
                entry = collector.entries.get(custom_id)
                if entry is None:
                    collector.unknown.append(custom_id)
                    continue
                async with self.store.alock(
                    entry.conversation_id, timeout=self.lock_timeout
                ):
                    collector.outcomes.append(
                        await self._run(collect_flow(custom_id, entry, line["result"]))
                    )
        return collector.report()

    async def _recorded(self, batch_id: str) -> dict[str, BatchEntry]:
        found: dict[str, BatchEntry] = {}
        cursor: str | None = None
        while True:
            page = await self.store.alist(cursor=cursor)
            for record in page.items:
                pair = entry_from_flag(record)
                if pair is not None and pair[1].batch_id == batch_id:
                    found[pair[0]] = pair[1]
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    async def _api(self, method: str, path: str, **kwargs: Any) -> APIResponse:
        return await self.client.request(method, path, **kwargs)

    async def _run(self, flow: Flow[T]) -> T:
        return await adrive(flow, self._do)

    @functools.cached_property
    def _handlers(self) -> AsyncHandlers:
        return astore_handlers(self.store)

    async def _do(self, effect: Any) -> Any:
        # Batch flows yield only store effects.
        return await self._handlers[type(effect)](effect)
