"""Stores: where conversations and their turns live."""

from .memory import MemoryStore
from .protocol import (
    DEFAULT_LEASE_SECONDS,
    DEFAULT_LOCK_TIMEOUT,
    UPDATABLE_FIELDS,
    AsyncErasure,
    AsyncNewestFirstReads,
    AsyncOwnerScoped,
    AsyncStore,
    Erased,
    Erasure,
    NewestFirstReads,
    OwnerScoped,
    Page,
    Store,
    TurnUpdate,
)
from .sql.postgres import PostgresStore
from .sql.sqlite import SQLiteStore
from .sql.store import SQLStore

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LOCK_TIMEOUT",
    "UPDATABLE_FIELDS",
    "AsyncErasure",
    "AsyncNewestFirstReads",
    "AsyncOwnerScoped",
    "AsyncStore",
    "Erased",
    "Erasure",
    "MemoryStore",
    "NewestFirstReads",
    "OwnerScoped",
    "Page",
    "PostgresStore",
    "SQLStore",
    "SQLiteStore",
    "Store",
    "TurnUpdate",
]
