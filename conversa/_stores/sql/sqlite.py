"""SQLiteStore: the embedded default, one file (or `":memory:"`), many processes.

Settings, applied to every connection:

- `journal_mode=WAL`: readers never block the writer nor the writer readers.
- `synchronous=NORMAL` by default: in WAL mode a commit survives a crash of the
  process or the application, and the database stays consistent on power loss,
  where the last commits may be lost; pass `synchronous="FULL"` to fsync every
  commit.
- a busy timeout (`busy_timeout`, 30 s by default): a writer waits for another
  process's write transaction instead of failing at once.
- `foreign_keys=ON`.

Transactions: the driver runs in autocommit mode and conversa issues BEGIN
itself, `BEGIN IMMEDIATE` for anything that writes. So a write transaction takes
the database's write lock when it starts, and two appends cannot both read
`last_seq` before either writes it: seqs stay gapless without retry loops. Reads
use a deferred BEGIN and run alongside writers (WAL).

Async: SQLite's driver is blocking, so the `a`-methods run the same sync code in a
worker thread (`anyio.to_thread`), as openai-agents' SQLiteSession does, rather than
adding aiosqlite as a dependency; aiosqlite runs a thread per connection anyway.

`":memory:"` keeps one connection (`StaticPool`) for the store's lifetime, guarded
by a lock, since each new connection would see an empty database.

The exclusive section is a lease on the conversation's row (see `lease.py`): no
write transaction stays open while a send waits for the API.

Errors: a store is bound to the file it opened (`FileBinding`). A file that is
not a database, a directory that does not exist, a file locked past the busy
timeout, or deleted or replaced under the open store, raise `StoreError`
subclasses naming the path (see `_stores/errors.py`), at open or at the failing call.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from ..._exceptions import InvalidInputError
from ..errors import FileBinding, Where, store_errors
from ..protocol import DEFAULT_LEASE_SECONDS
from .crypto import Encryption, codec_of
from .keyring import open_keys
from .migrations import MigrateMode, open_schema
from .runners import (
    BEGUN,
    OWN_LISTENER,
    SQLITE_BEGIN,
    WRITE_OPTION,
    SyncRunner,
    ThreadRunner,
)
from .store import SQLStore, check_lease_seconds

__all__ = ["SQLiteStore"]

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


def sqlite_engine(
    path: str | os.PathLike[str],
    *,
    busy_timeout: float = 30.0,
    synchronous: Synchronous = "NORMAL",
    binding: FileBinding | None = None,
) -> Engine:
    """Create an engine for the SQLite database at *path* with conversa's settings.

    *binding*, if given, ties the engine's connections to the file once it is bound.
    """
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        msg = f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
        raise InvalidInputError(msg)
    memory = str(path) == ":memory:"
    options: dict[str, Any] = {
        "connect_args": {"timeout": busy_timeout, "check_same_thread": False}
    }
    if memory:
        options["poolclass"] = StaticPool
    url = URL.create("sqlite", database=None if memory else str(path))
    engine = create_engine(url, **options)

    if binding is not None:

        @event.listens_for(engine, "do_connect")
        def _do_connect(
            dialect: object,
            record: ConnectionPoolEntry,
            cargs: list[Any],
            cparams: dict[str, Any],
        ) -> None:
            binding.connect_args(cargs, cparams)

        @event.listens_for(engine, "checkout")
        def _checkout(
            dbapi_connection: sqlite3.Connection,
            record: ConnectionPoolEntry,
            proxy: object,
        ) -> None:
            binding.check()

        setattr(_checkout, OWN_LISTENER, True)  # the runner calls it itself (`_Kept`)

    @event.listens_for(engine, "connect")
    def _connect(
        dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry
    ) -> None:
        # Autocommit at the driver level; `_begin` below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        to_wal(dbapi_connection, busy_timeout)
        for pragma in (
            f"PRAGMA synchronous={synchronous}",
            f"PRAGMA busy_timeout={int(busy_timeout * 1000)}",
            "PRAGMA foreign_keys=ON",
        ):
            dbapi_connection.execute(pragma).close()

    event.listen(engine, "begin", sqlite_begin)
    return engine


def to_wal(dbapi_connection: sqlite3.Connection, busy_timeout: float) -> None:
    """Put the database in WAL mode, waiting up to *busy_timeout* seconds.

    Connections switching a new file to WAL at once each hold a read lock and
    want the exclusive one: SQLite answers all but one "database is locked" at
    once, without waiting the busy timeout (it would be a deadlock). Processes
    opening a fresh store together hit that, so the switch is tried again, with
    a short backoff, until the timeout: by then one of them has switched it.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while (refused := _wal_refused(dbapi_connection)) is not None:
        if "locked" not in str(refused) or time.monotonic() + delay > deadline:
            raise refused
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _wal_refused(
    dbapi_connection: sqlite3.Connection,
) -> sqlite3.OperationalError | None:
    """Switch to WAL once; the error SQLite answered, if any."""
    try:
        dbapi_connection.execute("PRAGMA journal_mode=WAL").close()
    except sqlite3.OperationalError as exc:
        return exc
    return None


def sqlite_begin(conn: Connection) -> None:
    """The `begin` listener of conversa's SQLite engines: BEGIN, or BEGIN IMMEDIATE
    for a writing call (`WRITE_OPTION`); nothing for a Connection made inside a
    transaction the runner began on the driver (`BEGUN`, `runners._Lean`)."""
    options = conn.get_execution_options()
    if options.get(BEGUN, False):
        return
    # Straight to the driver: BEGIN needs none of SQLAlchemy's statement handling.
    driver = cast(sqlite3.Connection, conn.connection.driver_connection)
    driver.execute(SQLITE_BEGIN[bool(options.get(WRITE_OPTION, False))]).close()


def migrate_engine(engine: Engine, mode: MigrateMode = "auto") -> None:
    """Check or migrate the schema by *mode* (a write transaction for `"auto"`)."""
    if mode == "off":
        return
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: mode == "auto"})
        with conn.begin():
            open_schema(conn, mode)


class SQLiteStore(SQLStore):
    """Store conversations in a SQLite file; implements `Store` and `AsyncStore`.

    Example::

        store = SQLiteStore("chats.db")
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")

    Args:
        path: the database file (created if missing), or `":memory:"`.
        lease_seconds: how long a lock outlives a process that died holding it.
        busy_timeout: seconds a writer waits for another's write transaction.
        synchronous: SQLite's `synchronous` pragma; NORMAL (default) or FULL.
        migrate: `"auto"` applies missing migrations; `"check"` writes nothing and
            raises `SchemaVersionError` when the schema is behind (migrate with
            `conversa migrate PATH` at deploy time); `"off"` does not look.
        encryption: encrypt turn content, system prompts and request parameters
            (and metadata, if it says so) with these keys (AES-256-GCM; the
            ``encrypt`` extra). Opening checks them against the database's.

    Raises:
        SchemaVersionError: the file was written by a newer conversa, or, with
            `migrate="check"`, it lacks migrations.
        EncryptionError: a key differs from the one the database registered under
            its id, or the database is encrypted and *encryption* is None.
        StoreUnavailableError: the file cannot be opened (its directory does not
            exist, it is locked past *busy_timeout*, ...); later, also from a call
            on a file deleted or replaced under the open store.
        StoreCorruptError: the file is not a SQLite database, or a damaged one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        busy_timeout: float = 30.0,
        synchronous: Synchronous = "NORMAL",
        migrate: MigrateMode = "auto",
        encryption: Encryption | None = None,
    ) -> None:
        check_lease_seconds(lease_seconds)
        codec = codec_of(encryption)
        memory = str(path) == ":memory:"
        self.path = path if memory else Path(path)
        where = Where.for_path(path)
        binding = None if memory else FileBinding(str(path))
        self.engine = sqlite_engine(
            path, busy_timeout=busy_timeout, synchronous=synchronous, binding=binding
        )
        try:
            with store_errors(where, "open"):
                migrate_engine(self.engine, migrate)
                open_keys(self.engine, codec, migrate)
        except BaseException:
            self.engine.dispose()
            raise
        if binding is not None:
            binding.bind()
        mutex = threading.RLock() if memory else None
        runner = SyncRunner(self.engine, mutex=mutex, where=where, begin=sqlite_begin)
        super().__init__(
            runner,
            ThreadRunner(runner),
            dialect="sqlite",
            lease_seconds=lease_seconds,
            codec=codec,
        )

    def __repr__(self) -> str:
        owner = f", owner={self._owner!r}" if self._owner is not None else ""
        return f"SQLiteStore({str(self.path)!r}{owner})"
