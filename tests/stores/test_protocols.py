"""The store protocols: twins match, and conversa's stores implement all of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conversa._stores import (
    AsyncNewestFirstReads,
    AsyncOwnerScoped,
    AsyncStore,
    MemoryStore,
    NewestFirstReads,
    OwnerScoped,
    SQLiteStore,
    Store,
)

#: Each protocol and its async twin.
TWINS = [
    (Store, AsyncStore),
    (NewestFirstReads, AsyncNewestFirstReads),
    (OwnerScoped, AsyncOwnerScoped),
]


def _methods(protocol: type) -> set[str]:
    return {
        n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v)
    }


@pytest.mark.parametrize("pair", TWINS, ids=lambda p: p[0].__name__)
def test_async_twins_have_the_same_methods(pair: tuple[type, type]) -> None:
    """Every method of a protocol has an `a`-prefixed twin (for_owner keeps its name)."""
    sync, asynchronous = pair
    expected = {n if n == "for_owner" else f"a{n}" for n in _methods(sync)}
    assert _methods(asynchronous) == expected


def test_the_core_is_what_conversa_calls() -> None:
    """The core protocol has the methods conversations, batches and the CLI call."""
    assert _methods(Store) == {
        "create",
        "get",
        "update",
        "append",
        "read",
        "get_turns",
        "update_turns",
        "list",
        "delete",
        "fork",
        "usage",
        "lock",
        "close",
    }


STORES: dict[str, Callable[[Path], Any]] = {
    "memory": lambda _: MemoryStore(),
    "sqlite": lambda path: SQLiteStore(path / "conversa.db"),
}


@pytest.mark.parametrize("name", sorted(STORES))
def test_shipped_stores_implement_every_protocol(name: str, tmp_path: Path) -> None:
    """conversa's stores have every method of the core and of each capability, both twins."""
    store = STORES[name](tmp_path)
    try:
        for sync, asynchronous in TWINS:
            for protocol in (sync, asynchronous):
                missing = [
                    m
                    for m in _methods(protocol)
                    if not callable(getattr(store, m, None))
                ]
                assert missing == [], protocol.__name__
        capabilities = (NewestFirstReads, AsyncNewestFirstReads, OwnerScoped)
        assert all(isinstance(store, c) for c in capabilities)
        assert isinstance(store.for_owner("someone"), OwnerScoped)
    finally:
        store.close()
