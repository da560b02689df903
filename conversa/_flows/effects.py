"""The store effects, as handler tables: one per twin.

Every shell that drives flows (conversations, batches) performs the store effects
the same way; it adds its own handlers for the API and tool effects and looks an
effect's handler up by its type: one dispatch, no fall-through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._stores.protocol import AsyncStore, Store
from .send import (
    Append,
    GetRecord,
    GetTurns,
    ReadTurns,
    UpdateRecord,
    UpdateTurns,
)

__all__ = ["AsyncHandlers", "Handlers", "astore_handlers", "store_handlers"]

#: Effect type → the function that performs it.
Handlers = dict[type, Callable[[Any], Any]]
#: Effect type → the coroutine function that performs it.
AsyncHandlers = dict[type, Callable[[Any], Awaitable[Any]]]


def store_handlers(store: Store) -> Handlers:
    """The store effects, performed on *store*."""
    return {
        GetRecord: lambda e: store.get(e.conversation_id),
        ReadTurns: lambda e: store.read(e.conversation_id, start=e.start, stop=e.stop),
        GetTurns: lambda e: store.get_turns(e.conversation_id, e.turn_ids),
        Append: lambda e: store.append(
            e.conversation_id,
            e.turns,
            expected_last_seq=e.expected_last_seq,
            updates=e.updates,
        ),
        UpdateRecord: lambda e: store.update(e.conversation_id, e.changes),
        UpdateTurns: lambda e: store.update_turns(e.conversation_id, e.updates),
    }


def astore_handlers(store: AsyncStore) -> AsyncHandlers:
    """The async twin of `store_handlers`."""
    return {
        GetRecord: lambda e: store.aget(e.conversation_id),
        ReadTurns: lambda e: store.aread(e.conversation_id, start=e.start, stop=e.stop),
        GetTurns: lambda e: store.aget_turns(e.conversation_id, e.turn_ids),
        Append: lambda e: store.aappend(
            e.conversation_id,
            e.turns,
            expected_last_seq=e.expected_last_seq,
            updates=e.updates,
        ),
        UpdateRecord: lambda e: store.aupdate(e.conversation_id, e.changes),
        UpdateTurns: lambda e: store.aupdate_turns(e.conversation_id, e.updates),
    }
