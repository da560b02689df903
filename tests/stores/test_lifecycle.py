"""Opening and closing stores, and the lease renewer's own failure handling."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from conversa._exceptions import InvalidInputError
from conversa._stores import MemoryStore, PostgresStore, SQLiteStore
from conversa._stores.sql.lease import LeaseRenewer
from conversa._values.turns import ConversationRecord

pytestmark = pytest.mark.anyio


def test_stores_are_context_managers(tmp_path: Path) -> None:
    """`with` closes a store; repr names its place and owner."""
    with MemoryStore() as memory:
        assert repr(memory.for_owner("u")) == "MemoryStore(owner='u')"
        assert repr(memory) == "MemoryStore()"
    with SQLiteStore(tmp_path / "c.db") as store:
        store.create(ConversationRecord(model="m"))
        assert repr(store).startswith("SQLiteStore(")


async def test_stores_are_async_context_managers(tmp_path: Path) -> None:
    """`async with` closes a store."""
    async with MemoryStore() as memory:
        await memory.acreate(ConversationRecord(model="m"))
    async with SQLiteStore(tmp_path / "c.db") as store:
        await store.acreate(ConversationRecord(model="m"))


def test_lease_length_must_be_positive(tmp_path: Path) -> None:
    """A lease of zero seconds is refused before the store opens (or creates) anything."""
    with pytest.raises(InvalidInputError, match="lease_seconds"):
        SQLiteStore(tmp_path / "c.db", lease_seconds=0)
    assert list(tmp_path.iterdir()) == []
    # Refused before connecting: no server listens on port 1.
    with pytest.raises(InvalidInputError, match="lease_seconds"):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", lease_seconds=-1)


def test_renewer_survives_a_failing_renewal(caplog: pytest.LogCaptureFixture) -> None:
    """A renewal that raises is logged, and the renewer keeps going."""
    calls: list[int] = []
    twice = threading.Event()

    def renew(leases: list[tuple[str, str]]) -> list[tuple[str, str]]:
        calls.append(len(leases))
        if len(calls) >= 2:
            twice.set()
        msg = "database down"
        raise RuntimeError(msg)

    renewer = LeaseRenewer(renew, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="conversa"):
        renewer.add("c", "h")
        assert twice.wait(60)
        renewer.close()
    assert "could not renew store leases" in caplog.text


def test_renewer_closed_before_use_never_starts() -> None:
    """Closing a renewer that never held a lease is immediate, and it stays stopped."""
    renewer = LeaseRenewer(lambda leases: [], interval=0.01)
    renewer.close()
    renewer.add("c", "h")
    renewer.discard("c", "h")
    renewer.close()
