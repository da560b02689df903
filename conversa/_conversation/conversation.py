"""`Conversation`: a conversation kept in a store, replayed to the Messages API."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._client.tracing import tool_hook
from .._core.pricing import Ledger, ledger_of
from .._drive import Pump, drive
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
from .._flows.effects import Handlers, store_handlers
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
from .._stores.protocol import Store
from .._values.blocks import ToolUseBlock
from .._values.settings import BUDGET, CACHE, BudgetConfig, CacheConfig
from .._values.tools import ToolSet, run_tools
from .._values.turns import ConversationRecord, Turn, UsageTotals
from .base import CANCELLED, _Base
from .streams import ReplyFeed, ReplyStream

if TYPE_CHECKING:
    from .._client.client import Client

__all__ = ["Conversation"]

T = TypeVar("T")


class Conversation(_Base[Store, "Client"]):
    """A conversation kept in a store and replayed to the Messages API.

    Create one with `Conversation.create(store, client=..., model=...)`, or load a
    stored one with `Conversation.load(store, id, client=...)`. Every method reads
    the store afresh, so many `Conversation` objects (in many processes) can share
    one conversation; sends to it are serialized by the store's lock.
    """

    @classmethod
    def create(
        cls,
        store: Store,
        *,
        client: Client | None = None,
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
    ) -> Conversation:
        """Create and store a new conversation.

        Args:
            store: where the conversation lives.
            client: the API client sends go through.
            model: the model to talk to (can be changed later with `set_model`).
            system: the system prompt: a string or text blocks.
            owner: the owning user or tenant.
            metadata: the application's own metadata (never sent to the API).
            capabilities: overrides of the model capability table for this conversation.
            budget: how the replayed window is sized (`BudgetConfig`); stored.
            cache: prompt caching settings (`CacheConfig`); stored.
            summarizer: a callable `(turns) -> str` (async too, for the async twin),
                or a `ModelSummarizer`, that summarizes what the window drops; None
                to drop without a summary. Not stored: pass it to `load` as well.
            id: the conversation id (a random one by default).
            **params: default request parameters: max_tokens (default 4096), tools,
                tool_choice, thinking, output_config, stop_sequences, api_metadata
                (the API's `metadata`), betas, extra, and known body fields.
        """
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
        stored = store.create(record)
        return cls(store, stored.id, client=client, summarizer=summarizer)

    @classmethod
    def load(
        cls,
        store: Store,
        conversation_id: str,
        *,
        client: Client | None = None,
        summarizer: Any = None,
    ) -> Conversation:
        """Open a stored conversation (raises `ConversationNotFoundError`)."""
        store.get(conversation_id)
        return cls(store, conversation_id, client=client, summarizer=summarizer)

    def record(self) -> ConversationRecord:
        """Return the stored conversation record."""
        return self.store.get(self.id)

    def turns(self, *, start: int = 1, stop: int | None = None) -> tuple[Turn, ...]:
        """Return the stored turns (seq in [start, stop)), oldest first."""
        return self.store.read(self.id, start=start, stop=stop)

    def usage(self) -> UsageTotals:
        """Return the usage summed over the conversation's calls."""
        return self.store.usage(self.id)

    def send(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> Turn:
        """Send *content* as a user turn and return the stored assistant reply.

        Args:
            content: text, a block, an API-form mapping, or a list of those.
            prefill: text the reply continues from; stored as part of the reply.
            turn_id: an id for the user turn; a repeated send with the same id stores
                one turn and returns the same reply (a double-submitted request).
            **overrides: request parameters for this call only.
        """
        spec = self._spec(
            "send",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=False,
        )
        return self._locked(send_flow(spec, ends_section=True))

    def run(
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
        """Send *content* and keep going until the model is done: the tool loop.

        Runs the tools the model asks for (plain callables, `Tool`s or a `ToolSet`;
        raw API tool dicts are sent but not run here), feeds their results back,
        continues replies cut at max_tokens (*continue_cut*) and paused server-tool
        loops, and returns the final reply. Every step is stored as it happens: with
        no *content*, `run()` resumes a stored conversation where it stopped (so a
        tool may run again after a crash: tools run at least once).

        Raises:
            ToolLoopLimitError: after *max_steps* model calls without a final answer.
            ContextWindowExceededError: the model stopped at its context window.
        """
        toolset = ToolSet(tools)
        toolset.require_sync()
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
        return self._locked(flow)

    def retract(self, *seqs: int) -> Turn:
        """Hide turns from every later replay, without deleting them; return the retraction."""
        return self._locked(
            retract_flow(self.id, seqs, api_version=self._api_version())
        )

    def edit(self, seq: int, content: Any, **overrides: Any) -> Turn:
        """Replace user turn *seq* (retracting it and what followed) and send anew."""
        spec = self._spec(
            "edit",
            content,
            prefill=None,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return self._locked(edit_flow(spec, seq))

    def regenerate(self, **overrides: Any) -> Turn:
        """Retract the last reply and send again for a new one."""
        spec = self._spec(
            "regenerate",
            None,
            prefill=None,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return self._locked(regenerate_flow(spec))

    def retry(self, **overrides: Any) -> Turn:
        """Resend the pending user turn(s) of a send that failed, alone."""
        spec = self._spec(
            "retry", None, prefill=None, turn_id=None, overrides=overrides, stream=False
        )
        return self._locked(send_flow(spec, ends_section=True))

    def stream(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> ReplyStream:
        """Send *content* and stream the reply: `with conv.stream(...) as s: for text in s`.

        After the loop, `s.turn` is the stored reply, exactly what `send` stores.
        """
        spec = self._spec(
            "stream",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=True,
        )
        self._seen = None
        lock = self.store.lock(self.id, timeout=self.lock_timeout)
        return ReplyStream(Pump(send_flow(spec, ends_section=True), self._do), lock)

    def request(
        self,
        content: Any,
        *,
        prefill: str | None = None,
        turn_id: str | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Return the exact JSON body `send` would POST for the same arguments; write nothing."""
        spec = self._spec(
            "request",
            content,
            prefill=prefill,
            turn_id=turn_id,
            overrides=overrides,
            stream=False,
        )
        return self._run(request_flow(spec))

    def count_tokens(
        self, content: Any, *, prefill: str | None = None, **overrides: Any
    ) -> int:
        """Return the exact input tokens `send(content)` would use, from the API.

        Calls POST /v1/messages/count_tokens (free, rate-limited separately) only
        when the window holds counts that are not exact yet, and makes them exact;
        writes no turn.
        """
        spec = self._spec(
            "count_tokens",
            content,
            prefill=prefill,
            turn_id=None,
            overrides=overrides,
            stream=False,
        )
        return self._locked(count_flow(spec))

    def add(
        self,
        role: Literal["user", "assistant"],
        content: Any,
        *,
        turn_id: str | None = None,
    ) -> Turn:
        """Store a turn without calling the API (after checking the history stays valid).

        Takes no lock: it is one append, checked against the stored tail and
        conditional on it (re-checked if another append got there first). While a
        send to this conversation is in flight, it waits for the reply, up to
        `lock_timeout`, then raises `ConversationBusyError`.
        """
        return self._add((self._turn(role, content, turn_id),))[0]

    def add_turns(self, turns: Iterable[Any]) -> tuple[Turn, ...]:
        """Store a sequence of turns in one transaction, without calling the API.

        Each item is a `(role, content)` pair, an API-form message
        (`{"role": ..., "content": ...}`) or a `Turn`. The whole sequence is
        checked first (every block, then roles and tool pairs with the stored
        history before it), so a history with tool calls can be built or imported:
        an assistant turn with `tool_use` blocks, then the user turn with their
        `tool_result`s, and so on. It may end with unanswered tool calls. Nothing is
        stored unless all of it is valid.
        """
        return self._add(self._turns_in(turns, entry="add_turns"))

    def add_tool_results(
        self, results: Mapping[str, Any], *, is_error: bool = False
    ) -> Turn:
        """Answer pending tool calls: `{tool_use_id: result content}`."""
        return self._add((self._results_turn(results, is_error=is_error),))[0]

    def pending_tool_uses(self) -> tuple[ToolUseBlock, ...]:
        """Return the tool calls of the last reply that still await results."""
        return self._run(pending_flow(self.id))

    def cancel_tool_uses(self, reason: str = CANCELLED) -> tuple[Turn, ...]:
        """Answer every pending tool call with an is_error result; return what was stored."""
        flow = cancel_flow(
            self.id,
            api_version=self._api_version(),
            reason=reason,
            lease_wait=self.lock_timeout,
        )
        return self._run(flow)

    def update(self, **changes: Any) -> ConversationRecord:
        """Change model, system, metadata or capabilities; the change is stored.

        Request parameters change through `params=`, or more simply `set_params`.
        """
        return self._locked(
            update_flow(self.id, changes, api_version=self._api_version())
        )

    def set_model(self, model: str) -> ConversationRecord:
        """Switch the model for the following sends."""
        return self.update(model=model)

    def set_system(self, system: str | Iterable[Any] | None) -> ConversationRecord:
        """Replace the system prompt for the following sends."""
        return self.update(system=system)

    def set_params(self, **params: Any) -> ConversationRecord:
        """Change default request parameters (max_tokens, tools, thinking, ...).

        Atomic (read and written under the conversation's lock). None leaves a
        field as it is; an empty value (`tools=[]`) clears it; `extra={...}`
        replaces the extra body fields as a whole, and `extra={}` clears them.
        """
        flow = set_params_flow(self.id, params, api_version=self._api_version())
        return self._locked(flow)

    def fork(self, at_seq: int) -> Conversation:
        """Copy turns 1..*at_seq* into a new conversation and return it."""
        record = self.store.fork(self.id, at_seq)
        return Conversation(
            self.store,
            record.id,
            client=self.client,
            lock_timeout=self.lock_timeout,
            summarizer=self.summarizer,
        )

    def pin(self, seq: int) -> tuple[int, int]:
        """Pin the exchange holding turn *seq*: it is replayed however far the window moves.

        Returns:
            The (first, last) seq of the pinned exchange.
        """
        return self._locked(pin_flow(self.id, seq))

    def set_budget(self, budget: BudgetConfig) -> ConversationRecord:
        """Change how the replayed window is sized; the setting is stored."""
        return self._locked(set_flag_flow(self.id, BUDGET, budget))

    def set_cache(self, cache: CacheConfig) -> ConversationRecord:
        """Change prompt caching (on/off, TTL, diagnostics); the setting is stored."""
        return self._locked(set_flag_flow(self.id, CACHE, cache))

    def ledger(self, *, prices: Mapping[str, Any] | None = None) -> Ledger:
        """Tokens, cache reads and writes, and cost of every call, from the price table.

        Reads the whole history (it is a report, not part of a send).
        """
        return ledger_of(self.store.read(self.id), prices=prices)

    def delete(self) -> None:
        """Delete the conversation and all its turns."""
        self.store.delete(self.id)

    def _locked(self, flow: Flow[T]) -> T:
        self._seen = None
        with self.store.lock(self.id, timeout=self.lock_timeout):
            return drive(flow, self._do)

    def _add(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        """Append *turns* (`add_seen_flow`); straight to the store when what the
        last add left seen decides it (`_adding`)."""
        seen, write = self._adding(turns)
        if write is not None and seen is not None:
            try:
                stored: tuple[Turn, ...] = self._handlers[Append](write)
            except SeqConflictError:
                seen = None  # appended elsewhere since: the flow reads and checks
            else:
                self._seen = seen.after(stored)
                return stored
        return self._run(self._add_seen(seen, turns))

    def _run(self, flow: Flow[T]) -> T:
        self._seen = None  # `_adding` took it already
        return drive(flow, self._do)

    @functools.cached_property
    def _handlers(self) -> Handlers:
        return {
            **store_handlers(self.store),
            Summarize: lambda e: self.summarizer(e.request.turns),
            RunTools: lambda e: run_tools(
                e.tools,
                e.uses,
                hook=tool_hook(self.client, self.id),
                conversation_id=self.id,
            ),
            CountTokens: lambda e: self._client().count_tokens(e.body, betas=e.betas),
            Saw: self._saw,
            Call: self._call,
        }

    def _call(self, effect: Call) -> Any:
        client = self._client()
        if effect.stream:
            stream = client.stream_message(
                effect.body, betas=effect.betas, conversation_id=self.id
            )
            return ReplyFeed(stream)
        return client.create_message(
            effect.body, betas=effect.betas, conversation_id=self.id
        )

    def _do(self, effect: Any) -> Any:
        return self._handlers[type(effect)](effect)
