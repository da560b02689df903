"""Running SQL flows in transactions, sync and async.

Every store call builds a flow (`statements.py`) and runs it in one transaction on
one pooled connection (a SQLAlchemy `Connection`; no ORM session: the flows run
Core statements and driver SQL): the sync twin directly, the async twin on an
`AsyncConnection` (PostgreSQL) or through the sync runner in a worker thread
(SQLite). If the connection turns out dead (a
restarted server, a backend killed mid-transaction), the transaction was rolled
back, and the call is retried once on a fresh connection; every flow retried this
way is idempotent (appends by turn id, updates by value, leases by holder), while
create, delete and fork, which are not, are never retried. What still fails
becomes a conversa `StoreError` here, once for every call (see `_stores/errors.py`).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..._drive import Flow, adrive, drive
from ..errors import Where, operation_of, store_errors
from .raw import Raw

__all__ = [
    "WRITE_OPTION",
    "AsyncRunner",
    "AsyncRunnerLike",
    "SyncRunner",
    "ThreadRunner",
]

T = TypeVar("T")
logger = logging.getLogger("conversa")

#: Execution option telling the SQLite `begin` hook to use BEGIN IMMEDIATE.
WRITE_OPTION = "conversa_write"


def _executor(connection: Connection) -> Callable[[Any], Any]:
    """Run a flow's step: a statement, (statement, parameters), or `Raw` driver SQL."""
    dialect = connection.dialect.name

    def execute(step: Any) -> Any:
        if isinstance(step, Raw):
            return connection.exec_driver_sql(step.text[dialect], step.params)
        statement, params = step if isinstance(step, tuple) else (step, None)
        return connection.execute(statement, params)

    return execute


def _aexecutor(connection: AsyncConnection) -> Callable[[Any], Awaitable[Any]]:
    """The async twin of `_executor`."""
    dialect = connection.dialect.name

    async def execute(step: Any) -> Any:
        if isinstance(step, Raw):
            return await connection.exec_driver_sql(step.text[dialect], step.params)
        statement, params = step if isinstance(step, tuple) else (step, None)
        return await connection.execute(statement, params)

    return execute


class SyncRunner:
    """Run flows on a sync engine, one transaction per flow.

    *mutex*, if given, serializes every run (SQLite `":memory:"` has one connection).
    *where* names the store in errors (default: the engine's URL, password masked).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        mutex: threading.RLock | None = None,
        where: Where | None = None,
    ) -> None:
        self.engine = engine
        self._mutex = mutex
        self.where = where or Where.for_engine(engine)

    def _once(self, flow: Flow[T], *, write: bool) -> T:
        guard: AbstractContextManager[Any] = (
            self._mutex if self._mutex else nullcontext()
        )
        with guard, self.engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: write})
            with connection.begin():
                return drive(flow, _executor(connection))

    def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds; retry once if the connection was dead.

        Raises:
            StoreError: a subclass naming the store for what the driver raised.
        """
        flow = make()
        with store_errors(self.where, operation_of(flow)):
            try:
                return self._once(flow, write=write)
            except DBAPIError as exc:
                if not (retry and exc.connection_invalidated):
                    raise
            logger.warning("conversa: retrying a store call on a fresh connection")
            return self._once(make(), write=write)


class AsyncRunnerLike(Protocol):
    """Runs flows for the async twin."""

    async def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds."""
        ...

    async def aclose(self) -> None:
        """Release the runner's resources."""
        ...


class AsyncRunner:
    """Run flows on an async engine (PostgreSQL with psycopg's async driver)."""

    def __init__(self, engine: AsyncEngine, *, where: Where | None = None) -> None:
        self.engine = engine
        self.where = where or Where.for_engine(engine.sync_engine)

    async def _once(self, flow: Flow[T]) -> T:
        async with self.engine.connect() as connection, connection.begin():
            return await adrive(flow, _aexecutor(connection))

    async def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds; retry once if the connection was dead.

        Raises:
            StoreError: a subclass naming the store for what the driver raised.
        """
        del write  # PostgreSQL needs no special BEGIN
        flow = make()
        with store_errors(self.where, operation_of(flow)):
            try:
                return await self._once(flow)
            except DBAPIError as exc:
                if not (retry and exc.connection_invalidated):
                    raise
            logger.warning("conversa: retrying a store call on a fresh connection")
            return await self._once(make())

    async def aclose(self) -> None:
        """Dispose of the async engine's pool."""
        await self.engine.dispose()


class ThreadRunner:
    """Run flows for the async twin on a sync runner in a worker thread (SQLite).

    SQLite's driver is synchronous; a worker thread keeps the event loop free, as
    openai-agents' SQLiteSession does, without another dependency (aiosqlite).
    """

    def __init__(self, runner: SyncRunner) -> None:
        self._runner = runner

    async def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds in a worker thread."""
        call = functools.partial(self._runner.run, make, write=write, retry=retry)
        return await anyio.to_thread.run_sync(call)

    async def aclose(self) -> None:
        """Nothing of its own to release: the sync engine is closed with the store."""
