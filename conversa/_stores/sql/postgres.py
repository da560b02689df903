"""PostgresStore: many workers, one PostgreSQL database, psycopg 3 underneath.

A plain `postgresql://` (or `postgres://`) URL is rewritten to
`postgresql+psycopg://`, since SQLAlchemy would otherwise pick psycopg2; the same
URL serves the sync engine and `create_async_engine` (psycopg 3 is sync and async).
Connections come from SQLAlchemy's pool (psycopg's own pool, installed by the
extra, is not needed on top of it), checked with a ping at checkout
(`pool_pre_ping`), so a restarted server or a killed backend costs one reconnect,
not an error; a call whose connection dies under it is retried once (see
`runners.py`).

Seqs: an append locks the conversation's row (`SELECT ... FOR UPDATE`) before it
numbers its turns, so appends to one conversation serialize while appends to
different conversations run in parallel, and each commits in seq order.

The exclusive section is a lease row (`conversa_locks`), taken and released in
short transactions: no pooled connection is held while a send waits for the API,
and a worker that dies holding it frees it when the lease runs out. (A session
advisory lock would need a dedicated connection per held section, and would pin
that connection for minutes.) Migrations run under a transaction-level advisory
lock, so workers starting together do not race.

Errors name the URL with its password masked: a URL that is not PostgreSQL's or
psycopg missing raise `StoreConfigError` (`StoreDriverMissingError`) before any
connection; a server that is down or refuses the login, `StoreUnavailableError` at
open; a server that goes away later, `StoreUnavailableError` from the failing call
(after its one retry, see `runners.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..._exceptions import StoreConfigError, StoreDriverMissingError
from ..errors import Where, config_errors, mask_url, store_errors
from ..protocol import DEFAULT_LEASE_SECONDS
from .migrations import migrate
from .runners import AsyncRunner, SyncRunner
from .store import SQLStore

__all__ = ["PostgresStore", "psycopg_url"]

_INSTALL = "PostgresStore needs psycopg 3: pip install 'conversa[postgres]'"
_SCHEMES = ("postgresql", "postgres")


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
    """Return *url* with a plain `postgresql://` scheme rewritten to psycopg 3's."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _url_of(engines: Engine | AsyncEngine | tuple[Engine, AsyncEngine]) -> URL:
    return engines[0].url if isinstance(engines, tuple) else engines.url


class PostgresStore(SQLStore):
    """Store conversations in PostgreSQL; implements `Store` and `AsyncStore`.

    Example::

        store = PostgresStore("postgresql://localhost/app")

    Args:
        url: a database URL (`postgresql://...`), or an engine: a sync `Engine`, an
            `AsyncEngine`, or both as a `(Engine, AsyncEngine)` pair. The twin that is
            not given is built from the other's URL.
        lease_seconds: how long a lock outlives a worker that died holding it.
        engine_options: extra keyword arguments for `create_engine` and
            `create_async_engine` (pool_size, max_overflow, connect_args, ...).

    Opening connects once, synchronously, to apply missing migrations.

    Raises:
        StoreDriverMissingError: psycopg is not installed (`pip install
            'conversa[postgres]'`); also an `ImportError`.
        StoreConfigError: the URL does not parse or is not a PostgreSQL URL.
        StoreUnavailableError: the server cannot be reached or refuses the login.
        SchemaVersionError: the database was written by a newer conversa.
    """

    def __init__(
        self,
        url: str | URL | Engine | AsyncEngine | tuple[Engine, AsyncEngine],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        given = url if isinstance(url, str | URL) else _url_of(url)
        where = Where.for_url(given)
        _check_url(given, where)
        _require_psycopg(where)
        options = {"pool_pre_ping": True, **(engine_options or {})}
        with config_errors(where):
            if isinstance(url, str | URL):
                self.engine = create_engine(psycopg_url(url), **options)
                self.async_engine = create_async_engine(psycopg_url(url), **options)
            elif isinstance(url, Engine):
                self.engine = url
                self.async_engine = create_async_engine(psycopg_url(url.url), **options)
            elif isinstance(url, AsyncEngine):
                self.async_engine = url
                self.engine = create_engine(psycopg_url(url.url), **options)
            else:
                self.engine, self.async_engine = url
        try:
            with (
                store_errors(where, "open"),
                self.engine.connect() as conn,
                conn.begin(),
            ):
                migrate(conn)
        except BaseException:
            self.engine.dispose()
            raise
        super().__init__(
            SyncRunner(self.engine, where=where),
            AsyncRunner(self.async_engine, where=where),
            dialect="postgresql",
            lease_seconds=lease_seconds,
        )

    def __repr__(self) -> str:
        owner = f", owner={self._owner!r}" if self._owner is not None else ""
        return f"PostgresStore({mask_url(self.engine.url)}{owner})"
