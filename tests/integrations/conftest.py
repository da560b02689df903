"""Fixtures of the integration tests: the SQL stores they persist in.

Each adapter is tested against the real framework, installed by the ``dev`` extra
(through the ``pydantic-ai`` and ``langchain`` extras), on SQLite and PostgreSQL; the
PostgreSQL fixtures are the store tests' own (a fresh schema for the session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conversa import PostgresStore, SQLiteStore
from tests.stores.conftest import (  # fixtures, registered by being imported here
    _pg_server,  # noqa: F401
    _pg_url,  # noqa: F401
    _sql_backend,  # noqa: F401
    _target,  # noqa: F401
)

OpenStore = Callable[[], Any]


@pytest.fixture(name="open_store")
def _open_store(sql_backend: str, target: str) -> Iterator[OpenStore]:
    """Open a new store object on the test's database (another process would)."""
    opened: list[Any] = []

    def open_store() -> Any:
        store = (
            SQLiteStore(target) if sql_backend == "sqlite" else PostgresStore(target)
        )
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()
