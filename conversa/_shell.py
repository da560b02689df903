"""What `Conversation` and `AsyncConversation` share: identity, records, specs.

A shell method locks the conversation, builds a flow (`_flows`), drives it and
returns. Each twin has one driver, `_pump`, an (async) generator that runs a flow's
effects against the store and the client and yields text as a streamed reply
arrives; a non-streamed call is the same loop with nothing to yield. That loop and
`_do` are the only code the twins repeat; everything here is free of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

from ._blocks import Block, to_blocks
from ._edit_flows import refuse_stored_secrets
from ._exceptions import InvalidInputError
from ._plan import (
    BUDGET_FLAG,
    CACHE_FLAG,
    CacheConfig,
    ModelSummarizer,
    SendSpec,
)
from ._request import DEFAULT_API_VERSION, params_from_kwargs
from ._stores._protocol import DEFAULT_LOCK_TIMEOUT
from ._turns import ConversationRecord, RequestParams, Turn, new_id
from ._window import BudgetConfig

__all__ = ["CANCELLED"]

S = TypeVar("S")
C = TypeVar("C")

#: The message a cancelled tool call answers with.
CANCELLED = "The user cancelled this tool call."


def _content(
    content: str | Block | Mapping[str, Any] | Iterable[Any],
) -> tuple[Block, ...]:
    return to_blocks(content)


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
            flags[BUDGET_FLAG] = budget.to_json_dict()
        if cache is not None:
            flags[CACHE_FLAG] = cache.to_json_dict()
        return ConversationRecord(
            model=model,
            system=system,
            params=request_params,
            owner=owner,
            metadata=dict(metadata or {}),
            capabilities=dict(capabilities or {}),
            flags=flags,
            **fields,
        )

    def _api_version(self) -> str:
        config = getattr(self.client, "config", None)
        return getattr(config, "api_version", DEFAULT_API_VERSION)

    def _client(self) -> C:
        if self.client is None:
            msg = "this conversation has no client: pass client= to create() or load()"
            raise InvalidInputError(msg)
        return self.client

    def _spec(
        self,
        content: Any,
        *,
        prefill: str | None,
        turn_id: str | None,
        overrides: Mapping[str, Any],
        stream: bool,
    ) -> SendSpec:
        return SendSpec(
            self.id,
            None if content is None else _content(content),
            turn_id=turn_id,
            prefill=prefill,
            overrides=params_from_kwargs(overrides),
            api_version=self._api_version(),
            stream=stream,
            summarizer=self._summarizer_kind(),
        )

    def _summarizer_kind(self) -> Literal["callable"] | ModelSummarizer | None:
        if self.summarizer is None or isinstance(self.summarizer, ModelSummarizer):
            return self.summarizer
        return "callable"

    def _turn(
        self, role: Literal["user", "assistant"], content: Any, turn_id: str | None
    ) -> Turn:
        return Turn(role, _content(content), id=turn_id or new_id())
