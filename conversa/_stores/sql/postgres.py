"""PostgresStore: many workers, one PostgreSQL database, psycopg 3 underneath.

A plain `postgresql://` (or `postgres://`) URL is rewritten to
`postgresql+psycopg://`, since SQLAlchemy would otherwise pick psycopg2.
Connections come from SQLAlchemy's pool (psycopg's own pool, installed by the
extra, is not needed on top of it). A call whose connection turns out dead (a
restarted server or PgBouncer, a killed backend) is run again on a fresh
connection (each dead one met is dropped), so a restart costs reconnects, not an
error (see `runners.py`);
there is no ping at checkout (`pool_pre_ping`), which cost three round trips per
transaction (BEGIN, SELECT 1, ROLLBACK) on the hot path.

Seqs: an append holds the conversation's row locked while it numbers its turns
(the UPDATE that moves the last seq, or `SELECT ... FOR UPDATE` first), so appends
to one conversation serialize while appends to different conversations run in
parallel, and each commits in seq order.

The exclusive section is a lease kept on the conversation's row (two columns,
migration 5), taken and released by one UPDATE each: no pooled connection is held
while a send waits for the API, and a worker that dies holding it frees it when the
lease runs out. (A session
advisory lock would need a dedicated connection per held section, and would pin
that connection for minutes.) Migrations run under a transaction-level advisory
lock, so workers starting together do not race.

PgBouncer: in transaction mode (the usual setting) each transaction may run on a
different server connection, so nothing may outlive a transaction. conversa keeps
no session state: a call's transactions end before it returns (conversa's own
BEGIN and COMMIT statements, which PgBouncer follows as it does psycopg's; a
reading call's statements run on their own), the migration lock is
transaction-level (`pg_advisory_xact_lock`), the lease is two columns, and no `SET`,
`LISTEN`, temporary table or held cursor is used. The one thing to switch off is
psycopg's prepared statements (it prepares a statement run 5 times on the server
connection it happened to use; PgBouncer 1.18 does not track them): open with
`pgbouncer=True`, or put `?pgbouncer=true` in the URL (the convention Prisma
uses; it is removed before connecting), and conversa passes
`prepare_threshold=None` to psycopg. A statement that fails because its prepared
statement is missing names PgBouncer in its error.

Pools: one per store. The async twin runs the same sync code in worker threads
(`anyio.to_thread`) on the sync engine's pool, as SQLiteStore does: measured
against psycopg's async driver (through SQLAlchemy's greenlet bridge) on one
machine, an append plus a window read took 4.0 ms against 7.1 ms (medians of 10
rounds) and 8 concurrent tasks did 470 against 233 of them a second. So a store
holds at most `pool_size + max_overflow` connections (5 + 5 by default), whichever
twins it serves; *read_url* adds a pool of the same size for listing.

Errors name the URL with its password masked: a URL that is not PostgreSQL's or
psycopg missing raise `StoreConfigError` (`StoreDriverMissingError`) before any
connection; a server that is down or refuses the login, `StoreUnavailableError` at
open; a server that goes away later, `StoreUnavailableError` from the failing call
(after its one retry, see `runners.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ..._exceptions import InvalidInputError, StoreConfigError, StoreDriverMissingError
from ..errors import Where, config_errors, mask_url, store_errors
from ..protocol import DEFAULT_LEASE_SECONDS, Page
from .crypto import Encryption, codec_of
from .keyring import check_keys
from .migrations import MigrateMode, MigrationOptions, open_schema
from .runners import SyncRunner, ThreadRunner
from .statements import list_flow
from .store import SQLStore, check_lease_seconds

__all__ = ["PostgresStore", "pgbouncer_of", "psycopg_url"]

_INSTALL = "PostgresStore needs psycopg 3: pip install 'conversa-state[postgres]'"
_SCHEMES = ("postgresql", "postgres")
T = TypeVar("T")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

#: SQLAlchemy's QueuePool defaults are 5 + 10 per engine; conversa's calls are
#: one short transaction each, so 5 + 5 serve a process's threads (see README).
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 5


def _require_psycopg(where: Where) -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise StoreDriverMissingError(_INSTALL, target=where.target) from exc


def _check_url(url: str | URL, where: Where) -> None:
    """Refuse a URL that does not parse or is not PostgreSQL's, before any I/O."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError) as exc:
        msg = "not a database URL: use postgresql://user:password@host:port/db"
        raise StoreConfigError(msg, target=where.target) from exc
    scheme = parsed.drivername.partition("+")[0]
    if scheme not in _SCHEMES:
        msg = (
            f"PostgresStore takes postgresql://user@host/db URLs, not {scheme}:// "
            "(for SQLite use SQLiteStore)"
        )
        raise StoreConfigError(msg, target=where.target)


def psycopg_url(url: str | URL) -> URL:
    """Return *url* with a plain `postgresql://` scheme rewritten to psycopg 3's.

    A `pgbouncer` query parameter (see `pgbouncer_of`) is removed: it is
    conversa's, not libpq's.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if "pgbouncer" in parsed.query:
        parsed = parsed.difference_update_query(["pgbouncer"])
    return parsed


def pgbouncer_of(url: str | URL) -> bool | None:
    """Return what *url*'s `?pgbouncer=` says (None when it says nothing).

    Raises:
        StoreConfigError: the value is not a boolean word.
    """
    value = make_url(url).query.get("pgbouncer")
    if value is None:
        return None
    word = (value if isinstance(value, str) else value[-1]).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    msg = f"pgbouncer= in the URL must be true or false, not {word!r}"
    raise StoreConfigError(msg, target=mask_url(url))


def _url_of(engines: Engine | AsyncEngine | tuple[Engine, AsyncEngine]) -> URL:
    return engines[0].url if isinstance(engines, tuple) else engines.url


def _engine_options(
    given: Mapping[str, Any] | None,
    *,
    pgbouncer: bool,
    pool_size: int | None,
    max_overflow: int | None,
) -> dict[str, Any]:
    """The keyword arguments conversa passes to `create_engine` for PostgreSQL."""
    for name, value in (("pool_size", pool_size), ("max_overflow", max_overflow)):
        if value is not None and value < 0:
            msg = f"{name} must be a non-negative integer, not {value!r}"
            raise InvalidInputError(msg)
    if pool_size == 0:
        msg = "pool_size must be at least 1"
        raise InvalidInputError(msg)
    options: dict[str, Any] = {
        "pool_size": DEFAULT_POOL_SIZE,
        "max_overflow": DEFAULT_MAX_OVERFLOW,
        **(given or {}),
    }
    if pool_size is not None:
        options["pool_size"] = pool_size
    if max_overflow is not None:
        options["max_overflow"] = max_overflow
    if "poolclass" in options:  # a NullPool or StaticPool takes no sizes
        options.pop("pool_size", None)
        options.pop("max_overflow", None)
    if pgbouncer:
        # PgBouncer in transaction mode runs each transaction on any server
        # connection: a statement psycopg prepared on one is missing on the next.
        options["connect_args"] = {
            **options.get("connect_args", {}),
            "prepare_threshold": None,
        }
    return options


class PostgresStore(SQLStore):
    """Store conversations in PostgreSQL; implements `Store` and `AsyncStore`.

    Example::

        store = PostgresStore("postgresql://localhost/app")
        store = PostgresStore("postgresql://app@pgbouncer:6432/app", pgbouncer=True)

    Args:
        url: a database URL (`postgresql://...`), or a sync `Engine` to use as
            it is. (An `AsyncEngine`, or an `(Engine, AsyncEngine)` pair, is still
            accepted: both twins run on one sync engine, built from the async
            engine's URL when no sync one is given.)
        lease_seconds: how long a lock outlives a worker that died holding it.
        engine_options: extra keyword arguments for `create_engine`
            (connect_args, pool_recycle, pool_timeout, ...).
        pgbouncer: connect through PgBouncer in transaction mode: psycopg's
            prepared statements off. None (the default) reads `?pgbouncer=true`
            from the URL, else False.
        migrate: `"auto"` applies missing migrations; `"check"` runs no DDL and
            raises `SchemaVersionError` when the schema is behind (for a role
            without DDL rights; migrate at deploy time with `conversa migrate`);
            `"off"` does not look.
        turn_partitions: when the migrations create `conversa_turns`, make it
            hash-partitioned by conversation id into this many partitions
            (ignored for a database that has the table already).
        pool_size: connections the store's one pool keeps open (default 5); the
            sync and async twins share it.
        max_overflow: connections the pool may open beyond *pool_size* under
            load, closed when returned (default 5).
        read_url: a server to list conversations from (a read replica: listing
            may then lag writes by the replica's delay), with a pool of its own
            sized as the main one; `?pgbouncer=` in it is read separately.
        encryption: encrypt turn content, system prompts and request parameters
            (and metadata, if it says so) with these keys (AES-256-GCM; the
            ``encrypt`` extra). Opening checks them against the database's.

    Opening connects once, synchronously, to check the schema (and, with
    `migrate="auto"`, apply missing migrations).

    Raises:
        StoreDriverMissingError: psycopg is not installed (`pip install
            'conversa-state[postgres]'`); also an `ImportError`.
        StoreConfigError: the URL does not parse or is not a PostgreSQL URL.
        StoreUnavailableError: the server cannot be reached or refuses the login.
        SchemaVersionError: the database was written by a newer conversa, or,
            with `migrate="check"`, it lacks migrations.
        EncryptionError: a key differs from the one the database registered under
            its id, or the database is encrypted and *encryption* is None.
    """

    def __init__(
        self,
        url: str | URL | Engine | AsyncEngine | tuple[Engine, AsyncEngine],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        engine_options: Mapping[str, Any] | None = None,
        pgbouncer: bool | None = None,
        migrate: MigrateMode = "auto",
        turn_partitions: int | None = None,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        read_url: str | URL | None = None,
        encryption: Encryption | None = None,
    ) -> None:
        check_lease_seconds(lease_seconds)
        codec = codec_of(encryption)
        given = url if isinstance(url, str | URL) else _url_of(url)
        where = Where.for_url(given)
        _check_url(given, where)
        _require_psycopg(where)
        if pgbouncer is None:
            pgbouncer = bool(pgbouncer_of(given))
        self.pgbouncer = pgbouncer
        self._options = _engine_options(
            engine_options,
            pgbouncer=pgbouncer,
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        schema_options = MigrationOptions(turn_partitions=turn_partitions)
        with config_errors(where):
            if isinstance(url, Engine):
                self.engine = url
            elif isinstance(url, str | URL | AsyncEngine):
                self.engine = create_engine(psycopg_url(given), **self._options)
            else:  # an (Engine, AsyncEngine) pair
                self.engine = url[0]
        self._read: SyncRunner | None = None
        try:
            with (
                store_errors(where, "open"),
                self.engine.connect() as conn,
                conn.begin(),
            ):
                open_schema(conn, migrate, schema_options)
                if migrate != "off" or codec is not None:
                    check_keys(conn, codec)  # given keys: checked in every mode
            if read_url is not None:
                read_where = Where.for_url(read_url)
                _check_url(read_url, read_where)
                read_bouncer = pgbouncer_of(read_url)
                read_options = _engine_options(
                    engine_options,
                    pgbouncer=pgbouncer if read_bouncer is None else read_bouncer,
                    pool_size=pool_size,
                    max_overflow=max_overflow,
                )
                with config_errors(read_where):
                    read_engine = create_engine(psycopg_url(read_url), **read_options)
                self._read = SyncRunner(read_engine, where=read_where)
        except BaseException:
            self.engine.dispose()
            raise
        runner = SyncRunner(self.engine, where=where)
        # The async twin runs the sync code in worker threads on the same pool (as
        # SQLiteStore does): measured faster than psycopg's async driver through
        # SQLAlchemy's greenlet bridge, and one pool to size (see the README).
        super().__init__(
            runner,
            ThreadRunner(runner),
            dialect="postgresql",
            lease_seconds=lease_seconds,
            codec=codec,
        )

    def list(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """List conversations, newest created first (from *read_url* if given)."""
        if self._read is None:
            return super().list(
                owner=owner, metadata=metadata, limit=limit, cursor=cursor
            )
        self._check_filter(metadata)
        return self._read.run(
            lambda: list_flow(
                self._dialect, owner, metadata, limit, cursor, self._owner, self._codec
            )
        )

    async def alist(
        self,
        *,
        owner: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """See `list` (from *read_url*, in a worker thread, if given)."""
        if self._read is None:
            return await super().alist(
                owner=owner, metadata=metadata, limit=limit, cursor=cursor
            )
        self._check_filter(metadata)
        return await ThreadRunner(self._read).run(
            lambda: list_flow(
                self._dialect, owner, metadata, limit, cursor, self._owner, self._codec
            )
        )

    def close(self) -> None:
        """Stop renewing leases and close the sync twin's (and the replica's) connections.

        After using the async twin, call `aclose` instead: it closes both.
        """
        super().close()
        if self._read is not None:
            self._read.dispose()

    async def aclose(self) -> None:
        """Stop renewing leases and close every connection of the store."""
        await super().aclose()
        if self._read is not None:
            await anyio.to_thread.run_sync(self._read.dispose)

    def __repr__(self) -> str:
        owner = f", owner={self._owner!r}" if self._owner is not None else ""
        return f"PostgresStore({mask_url(self.engine.url)}{owner})"
