"""The store effects, run against a store: one dispatcher per twin.

Every shell that drives flows (conversations, batches) runs the store effects the
same way; only the API and tool effects differ between shells.
"""

from __future__ import annotations

from typing import Any

from .._stores.protocol import AsyncStore, Store
from .send import (
    Append,
    Effect,
    GetRecord,
    GetTurns,
    ReadTurns,
    UpdateRecord,
    UpdateTurns,
)

__all__ = ["NOT_A_STORE_EFFECT", "arun_store_effect", "run_store_effect"]

#: Returned for an effect that is not a store effect (the shell handles it).
NOT_A_STORE_EFFECT: Any = object()


def run_store_effect(store: Store, effect: Effect) -> Any:
    """Run a store effect; `NOT_A_STORE_EFFECT` for any other effect."""
    match effect:
        case GetRecord(cid):
            return store.get(cid)
        case ReadTurns(cid, start, stop):
            return store.read(cid, start=start, stop=stop)
        case GetTurns(cid, ids):
            return store.get_turns(cid, ids)
        case Append(cid, turns, expected, updates):
            return store.append(cid, turns, expected_last_seq=expected, updates=updates)
        case UpdateRecord(cid, changes):
            return store.update(cid, changes)
        case UpdateTurns(cid, updates):
            return store.update_turns(cid, updates)
    return NOT_A_STORE_EFFECT


async def arun_store_effect(store: AsyncStore, effect: Effect) -> Any:
    """The async twin of `run_store_effect`."""
    match effect:
        case GetRecord(cid):
            return await store.aget(cid)
        case ReadTurns(cid, start, stop):
            return await store.aread(cid, start=start, stop=stop)
        case GetTurns(cid, ids):
            return await store.aget_turns(cid, ids)
        case Append(cid, turns, expected, updates):
            return await store.aappend(
                cid, turns, expected_last_seq=expected, updates=updates
            )
        case UpdateRecord(cid, changes):
            return await store.aupdate(cid, changes)
        case UpdateTurns(cid, updates):
            return await store.aupdate_turns(cid, updates)
    return NOT_A_STORE_EFFECT
