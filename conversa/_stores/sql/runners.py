"""Running SQL flows in transactions, sync and async.

Every store call builds a flow (`statements.py`) and runs it in one transaction on
one pooled connection (a SQLAlchemy `Connection`; no ORM session: the flows run
Core statements and driver SQL): the sync twin directly, the async twin on an
`AsyncConnection` (PostgreSQL) or through the sync runner in a worker thread
(SQLite). If the connection turns out dead (a
restarted server, a backend killed mid-transaction), the transaction was rolled
back, and the call is run again on a fresh connection (`SyncRunner._again`: each
dead connection met is dropped; the async runner retries once); every flow retried this
way is idempotent (appends by turn id, updates by value, leases by holder), while
create, delete and fork, which are not, are never retried. What still fails
becomes a conversa `StoreError` here, once for every call (see `_stores/errors.py`).

On PostgreSQL (at READ COMMITTED, the default) the sync runner sends BEGIN and
COMMIT itself, on a driver connection switched to autocommit for the flow: psycopg
would send its BEGIN alone and wait for it, even in pipeline mode, and its COMMIT
is another round trip. Here a writing flow's BEGIN goes in one round trip with the
flow's first statements, and its COMMIT with a batch that may end the transaction
(`Batch.commit`), or after the flow (a batch of one statement that ends the
transaction it begins is sent alone, a transaction of its own in autocommit mode:
an `add`, a lease taken or given back); a flow that only reads runs each statement
on its own, as READ COMMITTED gives each statement of a transaction its own snapshot
anyway. The engine's cursor listeners see the BEGIN and COMMIT statements too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import nullcontext
from typing import Any, Literal, Protocol, TypeVar, cast

import anyio.to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from ..._drive import Flow, adrive, drive
from ..errors import Where, operation_of, raise_store_error, store_errors
from .raw import Batch, Raw

__all__ = [
    "BEGUN",
    "OWN_LISTENER",
    "SQLITE_BEGIN",
    "WRITE_OPTION",
    "AsyncRunner",
    "AsyncRunnerLike",
    "Rows",
    "SyncRunner",
    "ThreadRunner",
]

T = TypeVar("T")
logger = logging.getLogger("conversa")

#: Execution option telling the SQLite `begin` hook to use BEGIN IMMEDIATE.
WRITE_OPTION = "conversa_write"
#: Execution option telling it the BEGIN was sent already (`_Lean`).
BEGUN = "conversa_begun"
#: The attribute marking a pool listener as conversa's own (`_Kept` keeps
#: connections only while no one else listens to checkouts).
OWN_LISTENER = "_conversa_own"
#: SQLite's BEGIN, by whether the call writes (IMMEDIATE: the write lock at once).
SQLITE_BEGIN = {True: "BEGIN IMMEDIATE", False: "BEGIN"}


class Guarded(Protocol):
    """Two statements for `SyncRunner.write_if`: *guard*, then *write* if the guard
    changed one row; the write must change *rows* rows."""

    @property
    def guard(self) -> Raw:
        """The statement that decides whether *write* runs."""
        ...

    @property
    def write(self) -> Raw:
        """The statement that runs if *guard* changed one row."""
        ...

    @property
    def rows(self) -> int:
        """How many rows *write* must change for the transaction to commit."""
        ...


G = TypeVar("G", bound=Guarded)


class OneWrite(Protocol):
    """One statement for `SyncRunner.write_one`, a transaction of its own: it
    wrote what it must when its one row is *expect*."""

    @property
    def statement(self) -> Raw:
        """The statement (PostgreSQL's text)."""
        ...

    @property
    def expect(self) -> tuple[Any, ...]:
        """The row it returns when it wrote what it must."""
        ...


W = TypeVar("W", bound=OneWrite)


class Rows:
    """What a `Raw` step returns: the rows it read (if any) and the rows it changed."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        """Every row read."""
        return self.rows

    def first(self) -> Any:
        """The first row read, or None."""
        return self.rows[0] if self.rows else None


def _driver_error(
    connection: Connection | AsyncConnection, step: Raw, text: str, exc: Exception
) -> tuple[StatementError, bool]:
    """The driver's *exc* as SQLAlchemy would raise it, and whether the connection died."""
    dialect = connection.dialect
    sync = (
        connection.sync_connection
        if isinstance(connection, AsyncConnection)
        else connection
    )
    pooled = sync.connection if sync is not None and not sync.closed else None
    dbapi_connection = None if pooled is None else pooled.dbapi_connection
    return _as_sqlalchemy(dialect, dbapi_connection, text, step.params, exc)


def _as_sqlalchemy(
    dialect: Any, dbapi_connection: Any, text: str, params: Any, exc: Exception
) -> tuple[StatementError, bool]:
    """The driver's *exc* as SQLAlchemy would raise it, and whether the connection died."""
    disconnect = dialect.is_disconnect(cast(Any, exc), dbapi_connection, None)
    error = DBAPIError.instance(
        text,
        cast(Any, params),
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnect,
        dialect=dialect,
    )
    return error, disconnect


def _send_driver_sql(
    connection: Connection | None, cursor: Any, text: str, params: Any
) -> None:
    """Run *text* on a driver cursor, telling the engine's cursor listeners first
    (there are none when there is no *connection*: the driver path)."""
    many = isinstance(params, list)
    if connection is not None and connection.dispatch.before_cursor_execute:
        dispatch = connection.dispatch
        dispatch.before_cursor_execute(connection, cursor, text, params, None, many)
    if many:
        cursor.executemany(text, params)
    else:
        cursor.execute(text, params)


def _driver_result(
    connection: Connection | None, cursor: Any, text: str, params: Any
) -> Rows:
    """What *cursor* read and changed, telling the engine's cursor listeners after."""
    rows = cursor.fetchall() if cursor.description is not None else []
    if connection is not None and connection.dispatch.after_cursor_execute:
        dispatch = connection.dispatch
        many = isinstance(params, list)
        dispatch.after_cursor_execute(connection, cursor, text, params, None, many)
    return Rows(rows, cursor.rowcount)


#: `_pipelines`' answers, by driver connection class.
_PIPELINES: dict[type, bool] = {}


def _pipelines(driver: type) -> bool:
    """Whether connections of the *driver* class can send a batch as one pipeline.

    psycopg 3 with libpq 14 or newer can. Any other driver (psycopg2 under a
    ``postgresql+psycopg2://`` URL) runs a batch's statements one by one, which
    means the same, in more round trips.
    """
    known = _PIPELINES.get(driver)
    if known is None:
        known = getattr(driver, "pipeline", None) is not None and _psycopg_pipelines()
        _PIPELINES[driver] = known
    return known


def _psycopg_pipelines() -> bool:
    """Whether psycopg is importable and its libpq has pipeline mode (14+)."""
    try:
        from psycopg import Pipeline
    except ImportError:
        return False
    return bool(Pipeline.is_supported())


def _blamed(steps: tuple[Raw, ...], step: Raw, dialect: str, *, pipelined: bool) -> Raw:
    """The statement an error is reported with: *step*, or the whole pipeline.

    A pipeline's error surfaces when the batch is read back, not at the statement
    that failed, so the error names every statement of the batch.
    """
    if not pipelined or len(steps) == 1:
        return step
    text = "; ".join(s.text[dialect] for s in steps)
    params: list[Any] = []  # PostgreSQL's: named, mappings
    for each in steps:
        if isinstance(each.params, Mapping):
            params.append(each.params)
        else:
            params.extend(each.params)
    return Raw({dialect: text}, params)


#: The statements of a transaction the runner frames itself (`_OwnTransaction`).
_BEGIN = Raw({"postgresql": "BEGIN"})
_COMMIT = Raw({"postgresql": "COMMIT"})
_ROLLBACK = Raw({"postgresql": "ROLLBACK"})
#: psycopg's `TransactionStatus.IDLE`: no transaction open on the connection.
_IDLE = 0

#: What conversa leaves on a pooled PostgreSQL connection between its calls, in
#: the pool record's `info` (cleared by SQLAlchemy whenever the record opens a
#: new driver connection): the driver's own autocommit setting, while conversa
#: has it on (`_autocommit_on`), and the cursors it runs statements on (`_cursors`).
_AUTOCOMMIT = "conversa_autocommit"
_CURSORS = "conversa_cursors"
#: A kept cursor holds its last result and parameters until it runs again: one
#: that read more rows than this (a history read whole), or was given a text or
#: bytes value longer than `_KEPT_VALUE` (a turn with a large image or document),
#: is closed after its call, not kept. (A window's rows are held no longer than
#: the turns read from them are, `raw.turn_from_tuple`.)
_KEPT_ROWS = 64
_KEPT_VALUE = 1 << 16


def _autocommit_on(info: dict[str, Any], driver: Any) -> None:
    """Switch *driver* to autocommit for the runner's own transactions, and leave
    it so while the runner keeps the connection (`_Kept`).

    Each switch costs psycopg a lock and a wait (16,000 instructions a call, both
    ways). The driver's own setting goes in *info*, the pool record's, until
    `_autocommit_back` puts it back, before the connection goes back to the pool.
    """
    if _AUTOCOMMIT not in info:
        found = driver.autocommit  # False, unless the engine made it AUTOCOMMIT
        driver.autocommit = True  # raises in a transaction: nothing noted then
        info[_AUTOCOMMIT] = found


def _autocommit_back(info: dict[str, Any], driver: Any) -> bool:
    """Put back the autocommit setting `_autocommit_on` found; False if it cannot
    be (a transaction is open on the driver: the caller invalidates it)."""
    if _AUTOCOMMIT not in info:
        return True
    found = info.pop(_AUTOCOMMIT)
    if driver.info.transaction_status != _IDLE:
        return False
    if found is not True:
        driver.autocommit = found
    return True


def _to_pool(fairy: Any) -> None:
    """Give *fairy* back to its pool, its driver's autocommit as conversa found it."""
    _as_found(fairy)
    fairy.close()


def _as_found(fairy: Any) -> None:
    """Put back *fairy*'s driver's autocommit as conversa found it; a connection
    that cannot have it back (in a transaction) is invalidated."""
    if fairy.is_valid and not _autocommit_back(fairy.info, fairy.driver_connection):
        fairy.invalidate()


def _cursors(info: dict[str, Any], driver: Any, n: int) -> list[Any]:
    """*n* cursors of *driver* for a call's statements, kept in *info* for the
    next call: psycopg makes a cursor in about 47,000 instructions, a third of
    a one-statement call."""
    kept: list[Any] | None = info.get(_CURSORS)
    if kept is None or kept[0] is not driver:
        kept = info[_CURSORS] = [driver]
    while len(kept) <= n:
        kept.append(driver.cursor())
    return kept[1 : n + 1]


def _unkept(
    info: dict[str, Any],
    cursors: list[Any],
    results: list[Rows],
    steps: tuple[Raw, ...],
) -> list[Any]:
    """The *cursors* not to keep (`_KEPT_ROWS`, `_KEPT_VALUE`; their *results*,
    their *steps*), forgotten by `_cursors`: the caller closes them."""
    big = [
        cursor
        for cursor, result, step in zip(cursors, results, steps, strict=True)
        if len(result.rows) > _KEPT_ROWS or _large(step.params)
    ]
    for cursor in big:
        _forget(info, cursor)
    return big


def _forget(info: dict[str, Any], cursor: Any) -> None:
    """Take *cursor* out of those `_cursors` keeps (a fresh one takes its place)."""
    kept: list[Any] | None = info.get(_CURSORS)
    if kept is not None and cursor in kept:
        kept.remove(cursor)


def _large(params: Any) -> bool:
    """Whether *params* (a mapping, a sequence, or a list of either) hold a text or
    bytes value longer than `_KEPT_VALUE`. (A loop, not `any` over a generator:
    it runs on every statement.)"""
    if params is None:
        return False
    if isinstance(params, list):  # executemany's rows
        return any(_large(row) for row in params)
    for value in params.values() if isinstance(params, Mapping) else params:
        if type(value) in _TEXTS and len(value) > _KEPT_VALUE:
            return True
    return False


_TEXTS = frozenset((str, bytes, bytearray))


class _OwnTransaction:
    """A flow's transaction, framed by the runner on a driver in autocommit mode.

    A writing flow's BEGIN goes out with its first statements; its COMMIT with a
    batch that may end the transaction (`Batch.commit`), or after the flow. A
    reading flow's statements run on their own. The decisions are the same for
    both twins: `frame` says what to send, `sent` records that it went.
    """

    __slots__ = ("committing", "open", "write")

    def __init__(self, *, write: bool) -> None:
        self.write = write
        self.open = False
        #: A COMMIT went out: from here on a dead connection may have committed.
        self.committing = False

    def frame(
        self, steps: tuple[Raw, ...], *, commit: bool
    ) -> tuple[tuple[Raw, ...], int]:
        """*steps* with the BEGIN before them and the COMMIT after, as due; and
        where *steps*' results start among the framed batch's."""
        if not self.write:
            return steps, 0
        if commit and not self.open and len(steps) == 1:
            # The transaction's only statement: in autocommit mode it is a
            # transaction of its own, with no BEGIN or COMMIT to send or run.
            self.committing = True
            return steps, 0
        begin = () if self.open else (_BEGIN,)
        end = (_COMMIT,) if commit else ()
        self.committing = self.committing or commit
        return (*begin, *steps, *end), len(begin)

    def sent(self, *, commit: bool) -> None:
        """Record that a framed batch went through."""
        if self.write:
            self.open = not commit

    def ending(self) -> tuple[Raw, ...]:
        """What ends the flow's transaction once the flow is done: COMMIT, if open."""
        if not self.open:
            return ()
        self.committing = True
        return (_COMMIT,)


def _own_level(dialect: Any, driver: Any, *, write: bool) -> _OwnTransaction | None:
    """A transaction the runner frames itself, or None: SQLAlchemy's, as usual.

    PostgreSQL at READ COMMITTED only (the server's default, and no other level
    set on the connection): at another level a transaction's statements share a
    snapshot, which a reading flow run statement by statement would not have.
    """
    if dialect.name != "postgresql":
        return None
    if dialect.default_isolation_level != "READ COMMITTED":
        return None
    level = getattr(driver, "isolation_level", None)
    if level is not None and getattr(level, "name", None) != "READ_COMMITTED":
        return None
    if not hasattr(driver, "autocommit"):
        return None
    return _OwnTransaction(write=write)


class _Executor:
    """Run a flow's steps: a statement, (statement, parameters), or driver SQL.

    `Raw` steps run on the pooled connection's driver cursor inside the same
    transaction, with no statement or result processing; the engine's
    ``before_cursor_execute`` / ``after_cursor_execute`` listeners still see them
    (their return values are ignored), and a driver error is raised as
    SQLAlchemy raises it, the connection invalidated if it is dead. A `Batch`
    runs its steps in psycopg's pipeline mode (one round trip) on PostgreSQL.
    With *own* (`_OwnTransaction`), the BEGIN and COMMIT go in the same round trips.

    Without a *connection* (the driver path, `SyncRunner._driver_path`), the steps
    run on the pooled connection *fairy* alone; a Core statement wraps it in a
    SQLAlchemy Connection then, inside the transaction already begun, and `close`
    ends that Connection, or gives the pooled connection back.
    """

    __slots__ = (
        "_engine",
        "connection",
        "dialect",
        "driver",
        "errors",
        "fairy",
        "info",
        "own",
    )

    def __init__(
        self,
        connection: Connection | None,
        driver: Any,
        own: _OwnTransaction | None,
        *,
        engine: Engine | None = None,
        fairy: Any = None,
    ) -> None:
        self.connection = connection
        self.driver = driver
        self.own = own
        self.fairy = fairy
        self._engine = engine
        #: The pool record's info (`_autocommit_on`, `_cursors`).
        self.info: dict[str, Any] = (
            fairy if connection is None else connection.connection
        ).info
        dialect = (
            connection if connection is not None else cast(Engine, engine)
        ).dialect
        self.dialect = dialect.name
        self.errors = dialect.loaded_dbapi.Error

    def __call__(self, step: Any) -> Any:
        if isinstance(step, Raw):
            return self._framed((step,), commit=False)[0]
        if isinstance(step, Batch):
            return self._framed(step.steps, commit=step.commit)
        statement, params = step if isinstance(step, tuple) else (step, None)
        own = self.own
        if own is not None and own.write and not own.open:
            self._framed((), commit=False)  # the BEGIN, alone
        return self._core().execute(statement, params)

    @property
    def invalidated(self) -> bool:
        """Whether the connection was found dead (and invalidated)."""
        if self.connection is not None:
            return self.connection.invalidated
        return not self.fairy.is_valid

    def invalidate(self) -> None:
        """Take the connection out of the pool: no one gets it again."""
        if self.connection is not None:
            self.connection.invalidate()
        else:
            self.fairy.invalidate()

    def _core(self) -> Connection:
        """The SQLAlchemy Connection a Core statement runs on (made on the driver path)."""
        if self.connection is None:
            self.connection = Connection(
                cast(Engine, self._engine), connection=self.fairy
            )
            self.connection.begin()  # SQLAlchemy's: psycopg sends nothing for it
        return self.connection

    def close(self, *, failed: bool) -> bool:
        """On the driver path: end the Connection a Core statement made (the
        driver's transaction is over: it sends nothing; True if no Connection
        was made: the caller gives the pooled connection back)."""
        connection = self.connection
        if connection is None:
            return True
        try:
            if not failed:
                connection.commit()
            else:
                with contextlib.suppress(Exception):  # the error that failed it wins
                    connection.rollback()
        finally:
            _as_found(self.fairy)
            connection.close()  # gives the pooled connection back
        return False

    def end(self) -> None:
        """Send the COMMIT of the runner's own transaction, if one is open."""
        if self.own is not None and (ending := self.own.ending()):
            self._run(ending, pipelined=False)

    def abort(self) -> None:
        """Roll back what is open on the driver (nothing, if a COMMIT closed it).

        A dead connection is invalidated (`_run`); the error that brought the
        rollback is the one the caller raises.
        """
        if self.driver.info.transaction_status != _IDLE:
            with contextlib.suppress(DBAPIError):
                self._run((_ROLLBACK,), pipelined=False)

    def _framed(self, steps: tuple[Raw, ...], *, commit: bool) -> list[Rows]:
        own = self.own
        if own is None:
            return self._run(steps, pipelined=len(steps) > 1)
        framed, start = own.frame(steps, commit=commit)
        results = self._run(framed, pipelined=len(framed) > 1)
        own.sent(commit=commit)
        return results[start : start + len(steps)]

    def _run(self, steps: tuple[Raw, ...], *, pipelined: bool) -> list[Rows]:
        connection, driver, dialect = self.connection, self.driver, self.dialect
        pipelined = pipelined and dialect == "postgresql" and _pipelines(type(driver))
        step = steps[0]
        try:
            cursors = _cursors(self.info, driver, len(steps))
            with driver.pipeline() if pipelined else nullcontext():
                for step, cursor in zip(steps, cursors, strict=True):
                    _send_driver_sql(
                        connection, cursor, step.text[dialect], step.params
                    )
            results = [
                _driver_result(connection, cursor, s.text[dialect], s.params)
                for cursor, s in zip(cursors, steps, strict=True)
            ]
        except self.errors as exc:
            failed = _blamed(steps, step, dialect, pipelined=pipelined)
            raise self._failed(failed, exc, pipelined=pipelined) from exc
        for cursor in _unkept(self.info, cursors, results, steps):
            cursor.close()
        return results

    def _failed(
        self, failed: Raw, exc: Exception, *, pipelined: bool
    ) -> StatementError:
        """*exc* as SQLAlchemy raises it; a dead connection is invalidated, and so
        is one a pipeline failed on (`_stale_prepared`)."""
        text = failed.text[self.dialect]
        connection = self.connection
        if connection is not None:
            error, dead = _driver_error(connection, failed, text, exc)
            if dead or (pipelined and _stale_prepared(self.driver)):
                connection.invalidate(exc)
            return error
        dialect = cast(Engine, self._engine).dialect
        error, dead = _as_sqlalchemy(dialect, self.driver, text, failed.params, exc)
        if dead or (pipelined and _stale_prepared(self.driver)):
            self.fairy.invalidate(exc)
        return error


def _stale_prepared(driver: Any) -> bool:
    """Whether a psycopg connection a pipeline failed on may think a statement
    prepared that the server never prepared.

    psycopg prepares a statement on its sixth run (`prepare_threshold`). When that
    run is in a pipeline the server aborted (a unique violation before it), the
    server skips the PREPARE, and psycopg 3.3 may still record the name: every
    later run of that statement on the connection then fails with "prepared
    statement ... does not exist" (its ROLLBACK clears the record only the first
    time the connection rolls back). So such a connection is not reused; with
    prepared statements off (PgBouncer) there is nothing to go stale.
    """
    return getattr(driver, "prepare_threshold", None) is not None


async def _asend_driver_sql(
    connection: AsyncConnection, cursor: Any, text: str, params: Any
) -> None:
    """The async twin of `_send_driver_sql`."""
    many = isinstance(params, list)
    sync = connection.sync_connection
    dispatch = None if sync is None else sync.dispatch
    if dispatch is not None and dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(sync, cursor, text, params, None, many)
    if many:
        await cursor.executemany(text, params)
    else:
        await cursor.execute(text, params)


async def _adriver_result(
    connection: AsyncConnection, cursor: Any, text: str, params: Any
) -> Rows:
    """The async twin of `_driver_result`."""
    rows = await cursor.fetchall() if cursor.description is not None else []
    sync = connection.sync_connection
    dispatch = None if sync is None else sync.dispatch
    if dispatch is not None and dispatch.after_cursor_execute:
        many = isinstance(params, list)
        dispatch.after_cursor_execute(sync, cursor, text, params, None, many)
    return Rows(rows, cursor.rowcount)


def _aexecutor(connection: AsyncConnection) -> Callable[[Any], Awaitable[Any]]:
    """The async twin of `_executor` (psycopg's async cursor)."""
    dialect = connection.dialect.name
    errors = connection.dialect.loaded_dbapi.Error

    async def run_raw(steps: tuple[Raw, ...], *, pipelined: bool) -> list[Rows]:
        pooled = await connection.get_raw_connection()
        driver: Any = pooled.driver_connection
        pipelined = pipelined and _pipelines(type(driver))
        step = steps[0]
        try:
            cursors = _cursors(pooled.info, driver, len(steps))
            async with driver.pipeline() if pipelined else nullcontext():
                for step, cursor in zip(steps, cursors, strict=True):
                    await _asend_driver_sql(
                        connection, cursor, step.text[dialect], step.params
                    )
            results = [
                await _adriver_result(connection, cursor, s.text[dialect], s.params)
                for cursor, s in zip(cursors, steps, strict=True)
            ]
        except errors as exc:
            failed = _blamed(steps, step, dialect, pipelined=pipelined)
            error, dead = _driver_error(connection, failed, failed.text[dialect], exc)
            if dead or (pipelined and _stale_prepared(driver)):
                await connection.invalidate(exc)
            raise error from exc
        for cursor in _unkept(pooled.info, cursors, results, steps):
            await cursor.close()
        return results

    async def execute(step: Any) -> Any:
        if isinstance(step, Raw):
            return (await run_raw((step,), pipelined=False))[0]
        if isinstance(step, Batch):
            pipelined = dialect == "postgresql" and len(step.steps) > 1
            return await run_raw(step.steps, pipelined=pipelined)
        statement, params = step if isinstance(step, tuple) else (step, None)
        return await connection.execute(statement, params)

    return execute


def _run_own(
    flow: Flow[T], execute: _Executor, stage: list[bool], *, keep: bool = False
) -> T:
    """Run *flow* in the runner's own transaction (`_OwnTransaction`).

    The driver is in autocommit mode for the flow: conversa's BEGIN and COMMIT
    frame the transaction, and psycopg's would cost round trips of their own. On
    an error the transaction rolls back. The driver's autocommit setting is put
    back as it was unless its connection died, or *keep*: the runner keeps the
    connection (`_Kept`), and puts it back when the connection goes back to the
    pool (`_to_pool`).
    """
    own = execute.own
    assert own is not None  # noqa: S101 - the caller made it
    driver = execute.driver
    _autocommit_on(execute.info, driver)
    try:
        result = drive(flow, execute)
        execute.end()
    except BaseException:
        if not execute.invalidated:
            execute.abort()
        raise
    else:
        return result
    finally:
        if own.committing:
            stage.append(True)  # a COMMIT went out: it may have committed
        if execute.invalidated:
            pass
        elif driver.info.transaction_status != _IDLE:
            execute.invalidate()  # a rollback failed: no one gets it again
        elif not keep:
            _autocommit_back(execute.info, driver)


class _Kept:
    """Pooled connections a runner keeps checked out between its calls.

    SQLAlchemy's checkout and checkin cost about 70,000 instructions a call, 8%
    of an `add()` on SQLite: a queue under its lock, a fairy with a weakref
    finalizer, the events, a rollback on return. A call on the driver (`_Lean`,
    `SyncRunner._run_on_driver`, `SyncRunner._one_on_driver`) ends its own transaction, so the connection it
    gives back is idle; kept here, the next call takes it with a list pop.

    At most the pool's size are kept, and never more than its overflow, so the
    pool's limits still bound how many connections there are, and whoever else
    checks out of the engine finds the pool's size free (the kept ones count as
    checked out: `pool.status()` shows them so; with `max_overflow=0` none is
    kept). Only a plain `QueuePool` keeps any: none with `pool_recycle`
    or `pool_pre_ping` (the pool checks those at checkout), none while another
    listener than conversa's own (marked `OWN_LISTENER`) listens to checkouts, checkins
    or resets. A connection a call left in a transaction or found dead goes back
    to the pool; so do all the kept ones when the engine's pool is replaced
    (`Engine.dispose`, after a fork as SQLAlchemy advises), when a dead
    connection was met (the call then tries the pool's, `SyncRunner._again`), and at `release`.
    """

    __slots__ = ("__weakref__", "_engine", "_idle", "_pid", "_pool", "_size")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pool: Any = None
        self._idle: list[Any] = []
        self._size = 0
        self._pid = os.getpid()
        # `Engine.dispose` closes the pool's connections, and these with them.
        kept = weakref.ref(self)
        event.listen(engine, "engine_disposed", lambda _: _release(kept))

    def take(self) -> tuple[Any, bool]:
        """A connection: a kept one if there is one, else the pool's; and whether
        it is a kept one (the pool's listeners were just checked, `_keeps`)."""
        pool = self._engine.pool
        if pool is not self._pool:
            self.release(replaced=True)
            self._pool = pool
            # One list a pool: runners sharing an engine keep at most its size.
            self._idle = _KEPT.setdefault(pool, [])
        if self._idle:
            if not self._keeps(pool):  # someone listens now: back to the pool
                self.release()
                return pool.connect(), False
            try:
                fairy = self._idle.pop()
            except IndexError:  # another thread took the last one
                return pool.connect(), False
            try:
                for listener in pool.dispatch.checkout:  # conversa's own (`_keeps`)
                    listener(fairy.dbapi_connection, None, fairy)
            except BaseException:
                _to_pool(fairy)
                raise
            return fairy, True
        return pool.connect(), False

    def give(self, fairy: Any, *, idle: bool, vouched: bool = False) -> None:
        """Take back *fairy*; *idle*: its call ended its transaction cleanly;
        *vouched*: `take` gave a kept one, after checking the pool's listeners.

        A listener added during the call is not looked for again here: the next
        `take` finds it and gives every kept connection back to the pool then.
        """
        pool = self._pool
        if (
            idle
            and fairy.is_valid
            and pool is self._engine.pool
            and (vouched or self._keeps(pool))
            and len(self._idle) < self._size
        ):
            self._idle.append(fairy)
        else:
            _to_pool(fairy)

    def _keeps(self, pool: Any) -> bool:
        """Whether connections of *pool* may be kept (see the class docstring)."""
        events = pool.dispatch
        if events.checkin or events.reset:
            return False
        if not all(getattr(f, OWN_LISTENER, False) for f in events.checkout):
            return False
        if not self._size and isinstance(pool, QueuePool):
            plain = getattr(pool, "_recycle", -1) < 0 and not getattr(
                pool, "_pre_ping", False
            )
            # Never more than the overflow: whoever else checks out of the
            # engine still finds at least the pool's size free.
            overflow = getattr(pool, "_max_overflow", 0)
            size = pool.size() if overflow < 0 else min(pool.size(), overflow)
            self._size = size if plain and size > 0 else -1
        return self._size > 0

    @property
    def idle(self) -> int:
        """How many connections are kept idle."""
        return len(self._idle)

    def release(self, *, replaced: bool = False) -> None:
        """Give every kept connection back to its pool; close them if the engine
        replaced that pool (*replaced*: nothing would close them but the garbage
        collector). In a forked child, forget them: they are the parent's."""
        if os.getpid() != self._pid:
            self._idle.clear()
            self._pid = os.getpid()
        while self._idle:
            try:
                fairy = self._idle.pop()
            except IndexError:
                break
            with contextlib.suppress(Exception):
                if replaced:
                    fairy.invalidate()  # closes the driver's connection
                else:
                    _to_pool(fairy)
        self._size = 0


#: The connections kept idle, by pool (`_Kept`).
_KEPT: weakref.WeakKeyDictionary[Any, list[Any]] = weakref.WeakKeyDictionary()


def _release(kept: weakref.ref[_Kept]) -> None:
    """The `engine_disposed` listener of a runner's `_Kept`."""
    found = kept()
    if found is not None:
        found.release(replaced=True)


class _Lean:
    """A call on SQLite run on the pooled driver connection, without SQLAlchemy's
    Connection: BEGIN, the flow's driver SQL on the driver's cursor, COMMIT.

    A SQLAlchemy Connection costs about 25 µs a call (its construction, events
    and transaction), five times the driver's BEGIN and COMMIT; the hot calls run
    driver SQL only (`raw.py`). A flow's first Core statement wraps the same
    pooled connection in one, inside the transaction already begun; that
    Connection then commits and gives the connection back. Driver errors are
    raised as SQLAlchemy raises them (`_driver_error`), as on the usual way.
    """

    __slots__ = ("_connection", "_driver", "_engine", "_fairy", "_kept", "_vouched")

    def __init__(self, engine: Engine, kept: _Kept) -> None:
        self._engine = engine
        self._kept = kept
        self._fairy: Any = None
        self._driver: Any = None
        self._connection: Connection | None = None
        self._vouched = False

    def run(self, flow: Flow[T], *, write: bool, stage: list[bool]) -> T:
        """Run *flow* in one transaction; *stage* marks when the COMMIT is next."""
        self._fairy, self._vouched = self._kept.take()
        try:
            # SQLite's driver connection is the pool's DB-API connection.
            self._driver = self._fairy.dbapi_connection
            self._execute(SQLITE_BEGIN[write], ()).close()
            result = drive(flow, self)
            stage.append(True)  # what fails from here on is the COMMIT
            self._commit()
        except BaseException:
            self._rollback()
            raise
        finally:
            self._close()
        return result

    def write_if(self, build: Callable[[], G]) -> G | None:
        """`SyncRunner.write_if` on the pooled driver connection (None: missed)."""
        self._fairy, self._vouched = self._kept.take()
        try:
            self._driver = self._fairy.dbapi_connection
            self._execute(SQLITE_BEGIN[True], ()).close()
            built = build()  # with the write lock held
            done = (
                self._changed(built.guard) == 1
                and self._changed(built.write) == built.rows
            )
            if done:
                self._commit()
            else:
                self._rollback()
        except BaseException:
            self._rollback()
            raise
        finally:
            self._close()
        return built if done else None

    def _changed(self, step: Raw) -> int:
        cursor = self._execute(step.text["sqlite"], step.params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def __call__(self, step: Any) -> Any:
        if isinstance(step, Raw):
            return self._raw(step)
        if isinstance(step, Batch):
            return [self._raw(each) for each in step.steps]
        statement, params = step if isinstance(step, tuple) else (step, None)
        if self._connection is None:
            self._connection = Connection(self._engine, connection=self._fairy)
            self._connection.execution_options(**{WRITE_OPTION: True, BEGUN: True})
            self._connection.begin()  # the BEGIN is open: the listener skips it
        return self._connection.execute(statement, params)

    def _raw(self, step: Raw) -> Rows:
        text, params = step.text["sqlite"], step.params
        cursor = self._execute(text, params)
        try:
            rows = cursor.fetchall() if cursor.description is not None else []
            return Rows(rows, cursor.rowcount)
        finally:
            cursor.close()

    def _execute(self, text: str, params: Any) -> Any:
        try:
            if isinstance(params, list):
                return self._driver.executemany(text, params)
            return self._driver.execute(text, params)
        except self._engine.dialect.loaded_dbapi.Error as exc:
            error, dead = _as_sqlalchemy(
                self._engine.dialect, self._driver, text, params, exc
            )
            if dead:
                self._fairy.invalidate(exc)
            raise error from exc

    def _commit(self) -> None:
        if self._connection is not None:
            self._connection.commit()
        else:
            self._execute("COMMIT", ()).close()

    def _rollback(self) -> None:
        if self._fairy is None or not self._fairy.is_valid:
            return
        with contextlib.suppress(Exception):
            if self._connection is not None:
                self._connection.rollback()
            elif self._driver is not None and self._driver.in_transaction:
                self._driver.execute("ROLLBACK").close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()  # gives the pooled connection back
        elif self._fairy is not None:
            driver = self._driver
            # A connection found dead is not asked (a closed one raises).
            idle = (
                driver is not None
                and self._fairy.is_valid
                and not driver.in_transaction
            )
            self._kept.give(self._fairy, idle=idle, vouched=self._vouched)


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
        begin: Callable[[Connection], None] | None = None,
    ) -> None:
        self.engine = engine
        self._mutex = mutex
        self._sqlite = engine.dialect.name == "sqlite"
        self._begin = begin
        self.where = where or Where.for_engine(engine)
        #: The connections are not at READ COMMITTED (`_driver_path`).
        self._other_level = False
        self._kept = _Kept(engine)

    def _lean(self) -> bool:
        """Whether a call may run on the pooled driver connection alone (`_Lean`).

        On SQLite, when the engine is plain (`_plain_engine`: the listeners
        there are handed SQLAlchemy's Connection, the echo logs BEGIN and COMMIT)
        and has no `begin` listener but conversa's own (*begin*, whose BEGIN the
        lean way sends itself). A listener on the `Connection` class itself is not
        seen (SQLAlchemy offers no public way to ask): listen on the engine.
        """
        if not self._sqlite or self._begin is None or not self._plain_engine():
            return False
        begin = self.engine.dispatch.begin  # none, or conversa's alone
        count = len(begin)
        return count == 0 or (count == 1 and self._begin in begin)

    def _plain_engine(self) -> bool:
        """Whether a call may skip SQLAlchemy's Connection: nobody else listens to
        the engine's statements, transactions or Connections (cursor, commit,
        rollback or engine_connect events, on the engine or the Engine class),
        echo is off, and the engine sets no execution options (an isolation level,
        a read-only mode, a schema map: SQLAlchemy applies them to its Connection)."""
        engine = self.engine
        if engine.echo or engine.get_execution_options():
            return False
        events = engine.dispatch
        return not (
            events.before_cursor_execute
            or events.after_cursor_execute
            or events.commit
            or events.rollback
            or events.engine_connect
        )

    def _driver_path(self) -> bool:
        """Whether a PostgreSQL call may run on the pooled driver connection alone.

        When the engine is plain (`_plain_engine`; no begin listener either) and
        its connections are at READ COMMITTED (checked at the first checkout,
        `_own_level`: at another level every call takes SQLAlchemy's way): the
        call then costs no SQLAlchemy Connection (`_run_on_driver`).
        """
        return (
            not self._sqlite
            and not self._other_level
            and self._plain_engine()
            and not self.engine.dispatch.begin
        )

    def _run_on_driver(self, flow: Flow[T], *, write: bool, stage: list[bool]) -> T:
        """Run *flow* in the runner's own transaction on a pooled psycopg connection.

        The same transaction as `_run_own` on SQLAlchemy's Connection, less the
        Connection (about 25 µs a call): a Core statement makes one, inside it.
        """
        fairy, vouched = self._kept.take()
        driver = fairy.driver_connection
        own = _own_level(self.engine.dialect, driver, write=write)
        if own is None:  # another isolation level: SQLAlchemy's transaction
            _to_pool(fairy)
            self._other_level = True  # the engine's connections all have it
            return self._once_on_connection(flow, write=write, stage=stage)
        execute = _Executor(None, driver, own, engine=self.engine, fairy=fairy)
        failed = True
        try:
            result = _run_own(flow, execute, stage, keep=True)
            failed = False
        finally:
            if execute.close(failed=failed):
                idle = driver.info.transaction_status == _IDLE
                self._kept.give(fairy, idle=idle and not failed, vouched=vouched)
        return result

    def _once(self, flow: Flow[T], *, write: bool, stage: list[bool]) -> T:
        if self._mutex is None:
            return self._unguarded(flow, write=write, stage=stage)
        with self._mutex:
            return self._unguarded(flow, write=write, stage=stage)

    def _unguarded(self, flow: Flow[T], *, write: bool, stage: list[bool]) -> T:
        if self._lean():
            return _Lean(self.engine, self._kept).run(flow, write=write, stage=stage)
        if self._driver_path():
            return self._run_on_driver(flow, write=write, stage=stage)
        # The usual way keeps nothing: a listener came (or another isolation
        # level), so what is kept goes back to the pool, heard by its listeners.
        if self._kept.idle:
            self._kept.release()
        return self._once_on_connection(flow, write=write, stage=stage)

    def _once_on_connection(
        self, flow: Flow[T], *, write: bool, stage: list[bool]
    ) -> T:
        """Run *flow* on a SQLAlchemy Connection (`_once`, the usual way)."""
        with self.engine.connect() as connection:
            if self._sqlite:
                connection.execution_options(**{WRITE_OPTION: write})
            with connection.begin():
                driver: Any = connection.connection.driver_connection
                own = _own_level(connection.dialect, driver, write=write)
                if own is not None:
                    return _run_own(flow, _Executor(connection, driver, own), stage)
                result = drive(flow, _Executor(connection, driver, None))
                stage.append(True)  # what fails from here on is the COMMIT
            return result

    def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds; again on a fresh connection if it met a
        dead one (`_again`).

        A connection found dead before the COMMIT was sent committed nothing, so
        any flow is run again on a fresh one; one that dies during the COMMIT may
        have committed, so only the idempotent flows (*retry*) are. (This is what
        lets the pool skip a ping at every checkout: a stale connection costs a
        retry when it is met, not a round trip on every call.)

        Raises:
            StoreError: a subclass naming the store for what the driver raised.
        """
        flow = make()
        flows = [flow]  # the first try's; each later one builds its own
        try:  # `store_errors`, as an except: nothing to enter on the hot path
            return self._again(
                lambda stage: self._once(
                    flows.pop() if flows else make(), write=write, stage=stage
                ),
                retry=retry,
            )
        except Exception as exc:
            raise_store_error(exc, self.where, operation_of(flow))
            raise

    def _again(self, attempt: Callable[[list[bool]], T], *, retry: bool = True) -> T:
        """Run *attempt*, and again while the connection it took was dead.

        After a server restart (or a failover, or PgBouncer's) every connection
        the pool holds may be dead: each one found dead is dropped, and the call
        runs again on the next, so it gets one more try than the pool then holds
        idle connections, and the last is a fresh one. *attempt* appends to the
        stage list it is given once its COMMIT is next; a connection that died
        after that may have committed, so the call runs again only if *retry*
        (it is idempotent). Any other error is raised at once.
        """
        stage: list[bool] = []
        tries = 0
        while True:
            try:
                return attempt(stage)
            except DBAPIError as exc:
                if not exc.connection_invalidated or (stage and not retry):
                    raise
                self._kept.release()  # kept ones may be dead too: back to the pool
                if tries == 0:
                    pool = self.engine.pool
                    idle = pool.checkedin() if isinstance(pool, QueuePool) else 0
                    tries = 1 + idle
                elif tries == 1:
                    raise
                else:
                    tries -= 1
            logger.warning("conversa: retrying a store call on a fresh connection")
            stage = []

    def write_if(
        self, build: Callable[[], G], *, operation: str
    ) -> G | Literal[False] | None:
        """Two statements in one write transaction, without a flow: *build* gives
        them (`Guarded`; called once the transaction holds the write lock, so the
        times in them are taken then): the guard, then, if it changed one row, the
        write; committed only if the write changed the rows it must.

        For SQLite's plain append (`statements.quick_append`): a flow's generators
        and steps cost about as much Python as the rest of the call. What *build*
        gave: written and committed. False: rolled back, nothing written (the guard
        changed no row, or the write not its rows): run the flow, which tells why.
        None: this runner runs flows only (not SQLite's lean way, `_lean`, or a
        `:memory:` store's, serialized by its mutex). On a connection found dead
        the two are built and run again, as `run` does (`_again`; the guard makes
        a second run after a first that committed change nothing).
        *operation* names the store call in errors.

        Raises:
            StoreError: a subclass naming the store for what the driver raised.
        """
        if self._mutex is not None or not self._lean():
            return None
        try:
            written = self._again(
                lambda _stage: _Lean(self.engine, self._kept).write_if(build)
            )
        except Exception as exc:
            raise_store_error(exc, self.where, operation)
            raise
        return False if written is None else written

    def write_one(
        self, build: Callable[[], W], *, operation: str
    ) -> W | Literal[False] | None:
        """One statement, a transaction of its own, without a flow: *build* gives
        it (`OneWrite`), on a pooled PostgreSQL connection in autocommit mode.

        For PostgreSQL's plain append (`statements.quick_append_one`), as
        `write_if` is for SQLite's. What *build* gave: its statement returned
        *expect*, written and committed. False: it returned another row or broke
        an integrity constraint (a turn id stored); either way it wrote nothing
        (one statement, committed or rolled back whole): run the flow, which tells
        why. None: this runner runs flows only (not on the driver alone,
        `_driver_path`, or not at READ COMMITTED). On a connection found dead the
        statement is built and run again, as `run` does (`_again`; a second run
        after a first that committed finds nothing to write). *operation* names
        the store call in errors.

        Raises:
            StoreError: a subclass naming the store for what the driver raised.
        """
        if self._mutex is not None or not self._driver_path():
            return None
        try:
            return self._again(lambda _stage: self._one_on_driver(build))
        except Exception as exc:
            raise_store_error(exc, self.where, operation)
            raise

    def _one_on_driver(self, build: Callable[[], W]) -> W | Literal[False] | None:
        """`write_one` on a pooled psycopg connection."""
        fairy, vouched = self._kept.take()
        driver = fairy.driver_connection
        dialect = self.engine.dialect
        idle = False
        try:
            if _own_level(dialect, driver, write=True) is None:
                self._other_level = True  # the engine's connections all have it
                return None
            info = fairy.info
            text, params = "", None
            try:
                _autocommit_on(info, driver)  # psycopg's BEGIN: a round trip
                built = build()
                text, params = (
                    built.statement.text["postgresql"],
                    built.statement.params,
                )
                cursor = _cursors(info, driver, 1)[0]
                cursor.execute(text, params)
                row = cursor.fetchone()
                if _large(params):  # a large turn: not kept holding it
                    _forget(info, cursor)
                    cursor.close()
            except dialect.loaded_dbapi.IntegrityError:
                row = None  # the statement failed whole: nothing written
            except dialect.loaded_dbapi.Error as exc:
                error, dead = _as_sqlalchemy(dialect, driver, text, params, exc)
                if dead:
                    fairy.invalidate(exc)
                raise error from exc
            idle = True
        finally:
            if fairy.is_valid and driver.info.transaction_status != _IDLE:
                fairy.invalidate()  # cannot be, in autocommit mode: no one gets it again
            self._kept.give(fairy, idle=idle and fairy.is_valid, vouched=vouched)
        return built if row == built.expect else False

    @property
    def kept(self) -> int:
        """How many connections the runner keeps checked out, idle (`_Kept`)."""
        return self._kept.idle

    def dispose(self) -> None:
        """Close the engine's connections, the kept ones (`_Kept`) too."""
        self._kept.release()
        self.engine.dispose()


class AsyncRunnerLike(Protocol):
    """Runs flows for the async twin."""

    async def run(
        self, make: Callable[[], Flow[T]], *, write: bool = False, retry: bool = True
    ) -> T:
        """Run the flow *make* builds."""
        ...

    async def write_if(
        self, build: Callable[[], G], *, operation: str
    ) -> G | Literal[False] | None:
        """`SyncRunner.write_if`, without blocking the event loop."""
        ...

    async def write_one(
        self, build: Callable[[], W], *, operation: str
    ) -> W | Literal[False] | None:
        """`SyncRunner.write_one`, without blocking the event loop."""
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
        """Run the flow *make* builds; again, once, if the connection was dead.

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

    async def write_if(
        self, build: Callable[[], G], *, operation: str
    ) -> G | Literal[False] | None:
        """None: this runner runs flows only."""
        del build, operation
        return None

    async def write_one(
        self, build: Callable[[], W], *, operation: str
    ) -> W | Literal[False] | None:
        """None: this runner runs flows only."""
        del build, operation
        return None

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

    async def write_if(
        self, build: Callable[[], G], *, operation: str
    ) -> G | Literal[False] | None:
        """`SyncRunner.write_if` in a worker thread."""
        call = functools.partial(self._runner.write_if, build, operation=operation)
        return await anyio.to_thread.run_sync(call)

    async def write_one(
        self, build: Callable[[], W], *, operation: str
    ) -> W | Literal[False] | None:
        """`SyncRunner.write_one` in a worker thread."""
        call = functools.partial(self._runner.write_one, build, operation=operation)
        return await anyio.to_thread.run_sync(call)

    async def aclose(self) -> None:
        """Nothing of its own to release: the sync engine is closed with the store."""
