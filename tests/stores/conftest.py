"""Fixtures of the store tests: the backends, and PostgreSQL schemas to run them on.

The contract itself (`test_contract.py`) is `conversa.testing.store_contract`, run
against each backend through each twin; these fixtures serve it and the
backend-specific tests.

PostgreSQL comes from CONVERSA_TEST_POSTGRES_URL (default: the local server). Each
test session gets a fresh schema, `conversa_test_<random>`, selected with the
connection's `search_path` option and dropped at the end. When the server is not
reachable a local run skips the PostgreSQL tests with a loud reason; under CI
(`CI=true`) the run fails instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conversa._stores import MemoryStore
from tests.stores.helpers import fresh_pg_schema, plain_url

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(name="pg_server", scope="session")
def _pg_server() -> str:
    """The PostgreSQL server URL; skips (locally) or fails (CI) when it is unreachable."""
    url = os.environ.get("CONVERSA_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the dev install has it
        if os.environ.get("CI") == "true":
            msg = "CI=true but psycopg is not installed: pip install 'conversa-state[postgres]'"
            raise RuntimeError(msg) from exc
        pytest.skip("!!! PostgreSQL tests SKIPPED: psycopg is not installed")
    try:
        psycopg.connect(plain_url(url), connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            msg = f"CI=true but PostgreSQL at {url} is unreachable: {exc}"
            raise RuntimeError(msg) from exc
        pytest.skip(
            f"!!! PostgreSQL tests SKIPPED: no server at {url} ({exc}). "
            "Start it or set CONVERSA_TEST_POSTGRES_URL; CI never skips these."
        )
    return url


@pytest.fixture(name="pg_url", scope="session")
def _pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema, dropped after the session."""
    with fresh_pg_schema(pg_server) as url:
        yield url


@pytest.fixture(name="fresh_pg_url")
def _fresh_pg_url(pg_server: str) -> Iterator[str]:
    """A URL on a schema of its own, for tests that need an empty database."""
    with fresh_pg_schema(pg_server) as url:
        yield url


@pytest.fixture(
    name="backend",
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def _backend(request: pytest.FixtureRequest) -> str:
    """The name of a store backend."""
    return str(request.param)


def open_sync_store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, **options: Any
) -> Any:
    """Open a store of *backend* for one test (SQLite in *tmp_path*)."""
    if backend == "memory":
        return MemoryStore()
    if backend == "sqlite":
        from conversa._stores.sql.sqlite import SQLiteStore

        return SQLiteStore(tmp_path / "conversa.db", **options)
    from conversa._stores.sql.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_url"), **options)


@pytest.fixture(
    name="sql_backend",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def _sql_backend(request: pytest.FixtureRequest) -> str:
    """The name of a SQL store backend."""
    return str(request.param)


@pytest.fixture(name="target")
def _target(request: pytest.FixtureRequest, sql_backend: str, tmp_path: Path) -> str:
    """Where the SQL backend's data lives: a SQLite file, or the session's PostgreSQL schema."""
    if sql_backend == "sqlite":
        return str(tmp_path / "conversa.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(name="fresh_target")
def _fresh_target(
    request: pytest.FixtureRequest, sql_backend: str, tmp_path: Path
) -> str:
    """An empty database of the SQL backend: a new SQLite file or PostgreSQL schema."""
    if sql_backend == "sqlite":
        return str(tmp_path / "fresh.db")
    return str(request.getfixturevalue("fresh_pg_url"))
