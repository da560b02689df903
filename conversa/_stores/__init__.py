"""Stores: where conversations and their turns live."""

from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._protocol import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_LOCK_TIMEOUT,
    UPDATABLE_FIELDS,
    AsyncStore,
    Page,
    Store,
    TurnUpdate,
)
from ._sqlite import SQLiteStore
from ._sqlstore import SQLStore

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LOCK_TIMEOUT",
    "UPDATABLE_FIELDS",
    "AsyncStore",
    "MemoryStore",
    "Page",
    "PostgresStore",
    "SQLStore",
    "SQLiteStore",
    "Store",
    "TurnUpdate",
]
