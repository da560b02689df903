"""`AsyncConversation`: the async twin of `Conversation`, over the same stores."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._client.tracing import tool_hook
from .._core.pricing import Ledger, ledger_of
from .._drive import AsyncPump, adrive
from .._exceptions import SeqConflictError
from .._flows.edit import (
    cancel_flow,
    edit_flow,
    pending_flow,
    pin_flow,
    regenerate_flow,
    retract_flow,
    set_flag_flow,
    set_params_flow,
    update_flow,
)
from .._flows.effects import AsyncHandlers, astore_handlers
from .._flows.run import DEFAULT_MAX_STEPS, run_flow
from .._flows.send import (
    Append,
    Call,
    CountTokens,
    Flow,
    RunTools,
    Saw,
    Summarize,
    count_flow,
    request_flow,
    send_flow,
)
from .._stores.protocol import AsyncStore
from .._values.blocks import ToolUseBlock
from .._values.settings import BUDGET, CACHE, BudgetConfig, CacheConfig
from .._values.tools import ToolSet, arun_tools
from .._values.turns import ConversationRecord, Turn, UsageTotals
from .base import CANCELLED, _Base
from .streams import AsyncReplyFeed, AsyncReplyStream

if TYPE_CHECKING:
    from .._client.client import AsyncClient

__all__ = ["AsyncConversation"]

T = TypeVar("T")


class AsyncConversation(_Base[AsyncStore, "AsyncClient"]):
    """The async twin of `Conversation`: the same methods, awaited."""

    @classmethod
    async def create(
        cls,
        store: AsyncStore,
        *,
        client: AsyncClient | None = None,
        model: str,
        system: str | Iterable[Any] | None = None,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        capabilities: Mapping[str, Any] | None = None,
        budget: BudgetConfig | None = None,
        cache: CacheConfig | None = None,
        summarizer: Any = None,
        id: str | None = None,
        **params: Any,
    ) -> AsyncConversation:
        """See `Conversation.create`."""
        record = cls._new_record(
            model=model,
            system=system,
            owner=owner,
            metadata=metadata,
            capabilities=capabilities,
            conversation_id=id,
            budget=budget,
            cache=cache,
            params=params,
        )
        stored = await store.acreate(record)
        return cls(store, stored.id, client=client, summarizer=summarizer)

    @classmethod
    async def load(
        cls,
        store: AsyncStore,
        conversation_id: str,
        *,
        client: AsyncClient | None = None,
        summarizer: Any = None,
    ) -> AsyncConversation:
        """See `Conversation.load`."""
        await store.aget(conversation_id)
        return cls(store, conversation_id, client=client, summarizer=summarizer)

    async def record(self) -> ConversationRecord:
        """See `Conversation.record`."""
        return await self.store.aget(self.id)

    async def turns(
        self, *, start: int = 1, stop: int | None = None
    ) -> tuple[Turn, ...]:
        """See `Conversation.turns`."""
        return await self.store.aread(self.id, start=start, stop=stop)

    async def usage(self) -> UsageTotals:
        """See `Conversation.usage`."""
        return await self.store.ausage(self.id)

    async def send(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> Turn:
        """See `Conversation.send`."""
        spec = self._spec(
            "send",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=False,
        )
        return await self._locked(send_flow(spec, ends_section=True))

    async def run(
        self,
        content: Any = None,
        *,
        tools: Any = (),
        max_steps: int = DEFAULT_MAX_STEPS,
        continue_cut: bool = True,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> Turn:
        """See `Conversation.run`; async tools run concurrently."""
        toolset = ToolSet(tools)
        if toolset.tools:
            overrides.setdefault("tools", toolset.to_api())
        spec = self._spec(
            "run",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=False,
        )
        flow = run_flow(
            spec, tools=toolset, max_steps=max_steps, continue_cut=continue_cut
        )
        return await self._locked(flow)

    async def retract(self, *seqs: int) -> Turn:
        """See `Conversation.retract`."""
        return await self._locked(
            retract_flow(self.id, seqs, api_version=self._api_version())
        )

    async def edit(self, seq: int, content: Any, **overrides: Any) -> Turn:
        """See `Conversation.edit`."""
        spec = self._spec(
            "edit",
            content,
            prefill=None,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return await self._locked(edit_flow(spec, seq))

    async def regenerate(self, **overrides: Any) -> Turn:
        """See `Conversation.regenerate`."""
        spec = self._spec(
            "regenerate",
            None,
            prefill=None,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return await self._locked(regenerate_flow(spec))

    async def retry(self, **overrides: Any) -> Turn:
        """See `Conversation.retry`."""
        spec = self._spec(
            "retry", None, prefill=None, turn_id=None, overrides=overrides, stream=False
        )
        return await self._locked(send_flow(spec, ends_section=True))

    def stream(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> AsyncReplyStream:
        """See `Conversation.stream`: `async with aconv.stream(...) as s: async for text in s`."""
        spec = self._spec(
            "stream",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=True,
        )
        self._seen = None
        lock = self.store.alock(self.id, timeout=self.lock_timeout)
        return AsyncReplyStream(
            AsyncPump(send_flow(spec, ends_section=True), self._do), lock
        )

    async def request(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """See `Conversation.request`."""
        spec = self._spec(
            "request",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=False,
        )
        return await self._run(request_flow(spec))

    async def count_tokens(
        self, content: Any, *, prefill: str | None = None, **overrides: Any
    ) -> int:
        """See `Conversation.count_tokens`."""
        spec = self._spec(
            "count_tokens",
            content,
            prefill=prefill,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return await self._locked(count_flow(spec))

    async def add(
        self,
        role: Literal["user", "assistant"],
        content: Any,
        *,
        turn_id: str | None = None,
    ) -> Turn:
        """See `Conversation.add`."""
        return (await self._add((self._turn(role, content, turn_id),)))[0]

    async def add_turns(self, turns: Iterable[Any]) -> tuple[Turn, ...]:
        """See `Conversation.add_turns`."""
        return await self._add(self._turns_in(turns, entry="add_turns"))

    async def add_tool_results(
        self, results: Mapping[str, Any], *, is_error: bool = False
    ) -> Turn:
        """See `Conversation.add_tool_results`."""
        return (await self._add((self._results_turn(results, is_error=is_error),)))[0]

    async def pending_tool_uses(self) -> tuple[ToolUseBlock, ...]:
        """See `Conversation.pending_tool_uses`."""
        return await self._run(pending_flow(self.id))

    async def cancel_tool_uses(self, reason: str = CANCELLED) -> tuple[Turn, ...]:
        """See `Conversation.cancel_tool_uses`."""
        flow = cancel_flow(
            self.id,
            api_version=self._api_version(),
            reason=reason,
            lease_wait=self.lock_timeout,
        )
        return await self._run(flow)

    async def update(self, **changes: Any) -> ConversationRecord:
        """See `Conversation.update`."""
        return await self._locked(
            update_flow(self.id, changes, api_version=self._api_version())
        )

    async def set_model(self, model: str) -> ConversationRecord:
        """See `Conversation.set_model`."""
        return await self.update(model=model)

    async def set_system(
        self, system: str | Iterable[Any] | None
    ) -> ConversationRecord:
        """See `Conversation.set_system`."""
        return await self.update(system=system)

    async def set_params(self, **params: Any) -> ConversationRecord:
        """See `Conversation.set_params`."""
        flow = set_params_flow(self.id, params, api_version=self._api_version())
        return await self._locked(flow)

    async def fork(self, at_seq: int) -> AsyncConversation:
        """See `Conversation.fork`."""
        record = await self.store.afork(self.id, at_seq)
        return AsyncConversation(
            self.store,
            record.id,
            client=self.client,
            lock_timeout=self.lock_timeout,
            summarizer=self.summarizer,
        )

    async def pin(self, seq: int) -> tuple[int, int]:
        """See `Conversation.pin`."""
        return await self._locked(pin_flow(self.id, seq))

    async def set_budget(self, budget: BudgetConfig) -> ConversationRecord:
        """See `Conversation.set_budget`."""
        flow = set_flag_flow(self.id, BUDGET, budget)
        return await self._locked(flow)

    async def set_cache(self, cache: CacheConfig) -> ConversationRecord:
        """See `Conversation.set_cache`."""
        flow = set_flag_flow(self.id, CACHE, cache)
        return await self._locked(flow)

    async def ledger(self, *, prices: Mapping[str, Any] | None = None) -> Ledger:
        """See `Conversation.ledger`."""
        return ledger_of(await self.store.aread(self.id), prices=prices)

    async def delete(self) -> None:
        """See `Conversation.delete`."""
        await self.store.adelete(self.id)

    async def _locked(self, flow: Flow[T]) -> T:
        self._seen = None
        async with self.store.alock(self.id, timeout=self.lock_timeout):
            return await adrive(flow, self._do)

    async def _add(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        """See `Conversation._add`."""
        seen, write = self._adding(turns)
        if write is not None and seen is not None:
            try:
                stored: tuple[Turn, ...] = await self._handlers[Append](write)
            except SeqConflictError:
                seen = None  # appended elsewhere since: the flow reads and checks
            else:
                self._seen = seen.after(stored)
                return stored
        return await self._run(self._add_seen(seen, turns))

    async def _run(self, flow: Flow[T]) -> T:
        self._seen = None  # `_adding` took it already
        return await adrive(flow, self._do)

    @functools.cached_property
    def _handlers(self) -> AsyncHandlers:
        return {
            **astore_handlers(self.store),
            Summarize: self._summarize,
            Saw: self._asaw,
            RunTools: lambda e: arun_tools(
                e.tools,
                e.uses,
                hook=tool_hook(self.client, self.id),
                conversation_id=self.id,
            ),
            CountTokens: lambda e: self._client().count_tokens(e.body, betas=e.betas),
            Call: self._call,
        }

    async def _summarize(self, effect: Summarize) -> Any:
        text = self.summarizer(effect.request.turns)
        return await text if inspect.isawaitable(text) else text

    async def _call(self, effect: Call) -> Any:
        client = self._client()
        if effect.stream:
            events = client.stream_message(
                effect.body, betas=effect.betas, conversation_id=self.id
            )
            return AsyncReplyFeed(events)
        return await client.create_message(
            effect.body, betas=effect.betas, conversation_id=self.id
        )

    async def _do(self, effect: Any) -> Any:
        return await self._handlers[type(effect)](effect)
