"""The shipped store contract, run against conversa's own stores.

`conversa.testing.store_contract.StoreContract` is the suite a third-party store
runs; here it runs against MemoryStore, SQLiteStore and PostgresStore, each through
both twins, plus a store that has only the core `Store` protocol (the optional
capabilities' tests skip for it, the rest pass).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from conversa import ConversationRecord, MemoryStore, PostgresStore, SQLiteStore, Turn
from conversa._core.estimate import estimate_blocks
from conversa._stores import NewestFirstReads, OwnerScoped, Store
from conversa.testing.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    """MemoryStore keeps the contract."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        """A fresh MemoryStore."""
        store = MemoryStore()
        yield store
        await store.aclose()


class TestSQLiteStore(StoreContract):
    """SQLiteStore keeps the contract."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SQLiteStore]:
        """A SQLiteStore on a new file."""
        store = SQLiteStore(tmp_path / "conversa.db")
        yield store
        await store.aclose()


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    """PostgresStore keeps the contract (on the session's schema; CI never skips it)."""

    @pytest.fixture
    async def store(self, pg_url: str) -> AsyncIterator[PostgresStore]:
        """A PostgresStore on the session's schema."""
        store = PostgresStore(pg_url)
        yield store
        await store.aclose()


#: The methods of the core `Store` protocol.
CORE = frozenset(n for n in vars(Store) if not n.startswith("_"))


class CoreOnly:
    """A sync store with the core `Store` methods of a MemoryStore and nothing else."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name not in CORE:
            raise AttributeError(name)
        return getattr(self._store, name)


class TestCoreOnlyStore(StoreContract):
    """A store with only the core sync protocol passes; the rest skips, naming why."""

    @pytest.fixture
    def store(self) -> Iterator[CoreOnly]:
        """MemoryStore's sync core, without read_newest and for_owner."""
        with MemoryStore() as store:
            core = CoreOnly(store)
            assert not isinstance(core, NewestFirstReads | OwnerScoped)
            yield core

    @pytest.fixture(params=["sync"])
    def twin(self, request: pytest.FixtureRequest) -> str:
        """Only the sync twin (the async one would skip)."""
        return str(request.param)


def test_the_reference_estimate_is_conversas_estimate() -> None:
    """The contract's expected estimate (MemoryStore's) is estimate_blocks of the blocks."""
    with MemoryStore() as store:
        record = store.create(ConversationRecord(model="m"))
        turn = Turn("user", "count me, with a few more words than before")
        [stored] = store.append(record.id, [turn])
    assert (stored.tokens, stored.tokens_exact) == (estimate_blocks(turn.blocks), False)
