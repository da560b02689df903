"""Static checks (mypy --strict): every store shipped implements both store protocols."""

from __future__ import annotations

from conversa._stores import (
    AsyncStore,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
    SQLStore,
    Store,
)


def _memory_sync(s: MemoryStore) -> Store:
    return s


def _memory_async(s: MemoryStore) -> AsyncStore:
    return s


def _sqlite_sync(s: SQLiteStore) -> Store:
    return s


def _sqlite_async(s: SQLiteStore) -> AsyncStore:
    return s


def _postgres_sync(s: PostgresStore) -> Store:
    return s


def _postgres_async(s: PostgresStore) -> AsyncStore:
    return s


def _sql_sync(s: SQLStore) -> Store:
    return s


def _sql_async(s: SQLStore) -> AsyncStore:
    return s


def _owner_handles(
    s: SQLiteStore, m: MemoryStore
) -> tuple[Store, AsyncStore, Store, AsyncStore]:
    return s.for_owner("u"), s.for_owner("u"), m.for_owner("u"), m.for_owner("u")
