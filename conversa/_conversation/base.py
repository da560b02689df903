"""What `Conversation` and `AsyncConversation` share: identity, records, specs.

A shell method locks the conversation, builds a flow (`_flows`), drives it and
returns. Each twin has one driver, `_pump`, an (async) generator that runs a flow's
effects against the store and the client and yields text as a streamed reply
arrives; a non-streamed call is the same loop with nothing to yield. That loop and
`_do` are the only code the twins repeat; everything here is free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from attrs import evolve

from .._client.config import DEFAULT_TIMEOUT
from .._core.api_rules import (
    check_blocks,
    check_caller_content,
    check_system,
    check_tools,
    vouched_flags,
)
from .._core.estimate import estimate_blocks
from .._core.plan import ModelSummarizer, SendSpec
from .._core.request import DEFAULT_API_VERSION
from .._drive import Flow
from .._exceptions import InvalidContentError, InvalidInputError
from .._flows.edit import (
    Seen,
    add_seen_flow,
    quick_add,
    refuse_stored_secrets,
    tool_results_turn,
)
from .._flows.send import Append, Saw
from .._stores.protocol import DEFAULT_LOCK_TIMEOUT
from .._values.doors import DOORS, FIRST_PARTY, DoorCapabilities
from .._values.params import RequestParams, params_from_kwargs
from .._values.settings import BUDGET, CACHE, BudgetConfig, CacheConfig
from .._values.turns import ConversationRecord, Turn, new_id, with_json

__all__ = ["CANCELLED", "door_of", "timeout_set"]

S = TypeVar("S")
C = TypeVar("C")

#: The entries whose content is a message to send (None is a caller's mistake there).
_NEEDS_CONTENT = frozenset({"send", "stream", "edit"})

#: The message a cancelled tool call answers with.
CANCELLED = "The user cancelled this tool call."


class _Base(Generic[S, C]):
    """What the twins share: identity, record building, specs. No I/O."""

    def __init__(
        self,
        store: S,
        conversation_id: str,
        *,
        client: C | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        summarizer: Any = None,
    ) -> None:
        self.store = store
        self.id = conversation_id
        self.client = client
        self.lock_timeout = lock_timeout
        self.summarizer = summarizer
        # What this object's last add left seen (`Seen`): its next add checks
        # against it and writes in one transaction. Any other call forgets it.
        self._seen: Seen | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"

    @staticmethod
    def _new_record(
        *,
        model: str,
        system: str | Iterable[Any] | None,
        owner: str | None,
        metadata: Mapping[str, Any] | None,
        capabilities: Mapping[str, Any] | None,
        conversation_id: str | None,
        budget: BudgetConfig | None,
        cache: CacheConfig | None,
        params: Mapping[str, Any],
    ) -> ConversationRecord:
        if not model:
            msg = "a conversation needs a model"
            raise InvalidInputError(msg)
        request_params = RequestParams().merged(params_from_kwargs(params))
        refuse_stored_secrets(request_params)
        fields: dict[str, Any] = (
            {} if conversation_id is None else {"id": conversation_id}
        )
        flags: dict[str, Any] = {}
        if budget is not None:
            flags.update(BUDGET.entry(budget))
        if cache is not None:
            flags.update(CACHE.entry(cache))
        record = ConversationRecord(
            model=model,
            system=system,
            params=request_params,
            owner=owner,
            metadata=dict(metadata or {}),
            capabilities=dict(capabilities or {}),
            flags=flags,
            **fields,
        )
        check_system(record.system_to_api(), entry="create")
        check_tools(request_params.tools, entry="create")
        return record

    def _adding(self, turns: Sequence[Turn]) -> tuple[Seen | None, Append | None]:
        """Take what the last add left seen (`Seen`); return it, and the write when
        it decides the add of *turns* alone (`quick_add`: the twins perform that
        write without the flow, and run `_add_seen` if it conflicts or there is
        none)."""
        seen, self._seen = self._seen, None
        return seen, quick_add(seen, turns, lease_wait=self.lock_timeout)

    def _add_seen(
        self, seen: Seen | None, turns: Sequence[Turn]
    ) -> Flow[tuple[Turn, ...]]:
        stored, self._seen = yield from add_seen_flow(
            self.id,
            turns,
            api_version=self._api_version(),
            lease_wait=self.lock_timeout,
            seen=seen,
        )
        return stored

    def _saw(self, effect: Saw) -> None:
        """Keep what a send's last write left, for the next add (`Seen`)."""
        self._seen = effect.seen

    async def _asaw(self, effect: Saw) -> None:
        self._saw(effect)

    def _api_version(self) -> str:
        config = getattr(self.client, "config", None)
        return getattr(config, "api_version", DEFAULT_API_VERSION)

    def _door(self) -> DoorCapabilities:
        return door_of(self.client)

    def _client(self) -> C:
        if self.client is None:
            msg = "this conversation has no client: pass client= to create() or load()"
            raise InvalidInputError(msg)
        return self.client

    def _spec(
        self,
        entry: str,
        content: Any,
        *,
        prefill: str | None,
        turn_id: str | None,
        overrides: Mapping[str, Any],
        stream: bool,
    ) -> SendSpec:
        if content is None and entry in _NEEDS_CONTENT:
            msg = (
                f"{entry}() got None, which is not a message: pass text, blocks or "
                "a mapping (to send a pending user turn again, call retry())"
            )
            raise InvalidInputError(msg)
        return SendSpec(
            self.id,
            None
            if content is None
            else check_caller_content(content, role="user", entry=entry),
            turn_id=turn_id,
            prefill=prefill,
            overrides=params_from_kwargs(overrides),
            api_version=self._api_version(),
            stream=stream,
            summarizer=self._summarizer_kind(),
            entry=entry,
            door=self._door(),
            timeout_set=timeout_set(self.client),
        )

    def _summarizer_kind(self) -> Literal["callable"] | ModelSummarizer | None:
        if self.summarizer is None or isinstance(self.summarizer, ModelSummarizer):
            return self.summarizer
        return "callable"

    def _turn(
        self, role: Literal["user", "assistant"], content: Any, turn_id: str | None
    ) -> Turn:
        blocks = check_caller_content(content, role=_role(role, "add"), entry="add")
        turn = Turn(
            role,
            blocks,
            id=turn_id or new_id(),
            flags=vouched_flags(blocks),
            tokens=estimate_blocks(blocks),  # as `estimated` would: one value, not two
        )
        return with_json(turn)  # the store's text, needed next

    @staticmethod
    def _turns_in(turns: Iterable[Any], *, entry: str) -> tuple[Turn, ...]:
        """Check a caller's sequence of turns, block by block, and build them."""
        out: list[Turn] = []
        for index, item in enumerate(turns):
            path = f"turns.{index}"
            if isinstance(item, Turn):
                out.append(_checked_turn(item, entry=entry, path=path))
                continue
            if isinstance(item, Mapping):
                extra = sorted(set(item) - {"role", "content"})
                if extra:
                    rule = "Extra inputs are not permitted"
                    raise InvalidContentError(
                        rule, entry=entry, path=f"{path}.{extra[0]}"
                    )
                if "role" not in item or "content" not in item:
                    missing = "role" if "role" not in item else "content"
                    msg = "Field required"
                    raise InvalidContentError(
                        msg, entry=entry, path=f"{path}.{missing}"
                    )
                role, content = item["role"], item["content"]
            elif isinstance(item, tuple | list) and len(item) == 2:
                role, content = item
            else:
                msg = f"{entry}: {path}: a turn is a (role, content) pair, an API-form message or a Turn, not {type(item).__name__}"
                raise InvalidInputError(msg)
            blocks = check_caller_content(
                content,
                role=_role(role, entry, f"{path}.role"),
                entry=entry,
                path=f"{path}.content",
            )
            out.append(Turn(role, blocks, flags=vouched_flags(blocks)))
        if not out:
            msg = f"{entry}: no turns to add"
            raise InvalidInputError(msg)
        ids = [t.id for t in out]
        if len(set(ids)) != len(ids):
            msg = f"{entry}: two turns share one id"
            raise InvalidInputError(msg)
        return tuple(out)

    @staticmethod
    def _results_turn(results: Mapping[str, Any], *, is_error: bool) -> Turn:
        """The user turn answering tool calls, each result checked at the door."""
        turn = tool_results_turn(results, is_error=is_error)
        check_blocks(turn.blocks, role="user", entry="add_tool_results")
        return turn


def door_of(client: Any) -> DoorCapabilities:
    """What the client's door takes and lacks (first party without a client)."""
    config = getattr(client, "config", None)
    return DOORS.get(getattr(config, "door", ""), FIRST_PARTY)


def timeout_set(client: Any) -> bool:
    """Tell whether the client's timeout is the caller's rather than the default."""
    config = getattr(client, "config", None)
    timeout = getattr(config, "timeout", None)
    return timeout is not None and timeout != DEFAULT_TIMEOUT


def _role(role: Any, entry: str, path: str = "role") -> str:
    if role not in ("user", "assistant"):
        rule = f"Input should be 'user' or 'assistant', not {role!r}"
        raise InvalidContentError(rule, entry=entry, path=path)
    return str(role)


def _checked_turn(turn: Turn, *, entry: str, path: str) -> Turn:
    """A caller's `Turn`: a reply from the API (message id and model) is kept verbatim."""
    if turn.kind != "message":
        msg = f"{entry}: {path}: only message turns can be added, not {turn.kind!r}"
        raise InvalidInputError(msg)
    if not (turn.role == "assistant" and turn.message_id and turn.model):
        check_blocks(turn.blocks, role=turn.role, entry=entry, path=f"{path}.content")
    return evolve(turn, seq=None)
