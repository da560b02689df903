"""Static checks (mypy --strict): every store shipped implements every store protocol.

The core protocols (`Store`, `AsyncStore`) and each optional capability, both
twins, for MemoryStore, SQLiteStore, PostgresStore and their base SQLStore; and
the owner-bound handles they return.
"""

from __future__ import annotations

from conversa import (
    AsyncErasure,
    AsyncStore,
    Erased,
    Erasure,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
    Store,
)
from conversa._stores import (
    AsyncNewestFirstReads,
    AsyncOwnerScoped,
    NewestFirstReads,
    OwnerScoped,
    SQLStore,
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


def _memory_capabilities(
    s: MemoryStore,
) -> tuple[NewestFirstReads, AsyncNewestFirstReads, OwnerScoped, AsyncOwnerScoped]:
    return s, s, s, s


def _sqlite_capabilities(
    s: SQLiteStore,
) -> tuple[NewestFirstReads, AsyncNewestFirstReads, OwnerScoped, AsyncOwnerScoped]:
    return s, s, s, s


def _postgres_capabilities(
    s: PostgresStore,
) -> tuple[NewestFirstReads, AsyncNewestFirstReads, OwnerScoped, AsyncOwnerScoped]:
    return s, s, s, s


def _sql_capabilities(
    s: SQLStore,
) -> tuple[NewestFirstReads, AsyncNewestFirstReads, OwnerScoped, AsyncOwnerScoped]:
    return s, s, s, s


def _owner_handles(
    s: SQLiteStore, m: MemoryStore
) -> tuple[Store, AsyncStore, Store, AsyncStore]:
    return s.for_owner("u"), s.for_owner("u"), m.for_owner("u"), m.for_owner("u")


def _owner_handles_are_owner_scoped(
    s: SQLiteStore, m: MemoryStore
) -> tuple[OwnerScoped, AsyncOwnerScoped, NewestFirstReads, AsyncNewestFirstReads]:
    return s.for_owner("u"), s.for_owner("u"), m.for_owner("u"), m.for_owner("u")


def _scoped_handle(s: OwnerScoped, a: AsyncOwnerScoped) -> tuple[Store, AsyncStore]:
    return s.for_owner("u"), a.for_owner("u")


def _not_a_capability(s: Store) -> NewestFirstReads:
    return s  # type: ignore[return-value]  # the core has no read_newest


def _erasure(
    m: MemoryStore, s: SQLiteStore, p: PostgresStore
) -> tuple[Erasure, AsyncErasure, Erasure, AsyncErasure, Erasure, AsyncErasure]:
    return m, m, s, s, p, p


def _erased_counts(s: Erasure) -> int:
    erased: Erased = s.erase("c") + s.erase_owner("u", dry_run=True)
    return erased.conversations + erased.turns
