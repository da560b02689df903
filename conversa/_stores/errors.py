"""Driver errors become conversa's store errors, in one place.

Every SQL store call runs through a runner (`sql/runners.py`), and a store opens in
its constructor; both wrap their work in `store_errors`, which turns whatever the
driver raised (SQLAlchemy's wrappers, a raw `sqlite3` or psycopg error, a pool
timeout) into a `StoreError` subclass naming the store:

- `StoreUnavailableError`: the database cannot be reached or stopped answering
  (connection refused or lost, login refused, a SQLite file that cannot be opened,
  is locked past the busy timeout, or was deleted or replaced under the store);
- `StoreCorruptError`: not a database, a damaged one, or one whose conversa
  tables are gone;
- `StoreError`: anything else the driver refused.

Conversa's own errors raised inside a flow (`ConversationNotFoundError`, ...) are
not driver errors and pass through untouched. The runner decides about its one
retry on the driver's error first; only what it gives up on is translated.

A store is named by its SQLite path or by its URL with the password masked, and
the driver's text is scrubbed of the password before it becomes part of a
message. The driver's error stays chained as `__cause__` for debugging, unless
its own text contains the password, in which case the chain is cut.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from sqlalchemy import URL, Engine, make_url
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from .._exceptions import (
    StoreConfigError,
    StoreCorruptError,
    StoreDriverMissingError,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "FileBinding",
    "FileChangedError",
    "Where",
    "config_errors",
    "mask_url",
    "operation_of",
    "raise_store_error",
    "store_errors",
]

_MASK = "***"
_QUOTED_MASK = quote(_MASK, safe="")
#: Query parameters that libpq (and so psycopg) reads as a password.
_SECRET_KEYS = frozenset({"password", "sslpassword"})

#: SQLite's primary result codes (`sqlite_errorname` without its extension).
_SQLITE_UNAVAILABLE = frozenset(
    {
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_IOERR",
        "SQLITE_CANTOPEN",
        "SQLITE_FULL",
        "SQLITE_READONLY",
        "SQLITE_PROTOCOL",
        "SQLITE_PERM",
        "SQLITE_NOMEM",
        "SQLITE_NOLFS",
    }
)
_SQLITE_CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
#: The same by message, for Pythons whose sqlite3 errors carry no code (3.10).
_SQLITE_UNAVAILABLE_TEXT = (
    "unable to open database file",
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "attempt to write a readonly database",
)
_SQLITE_CORRUPT_TEXT = ("file is not a database", "database disk image is malformed")
#: PostgreSQL SQLSTATEs of a database whose conversa tables are gone.
_PG_CORRUPT_STATES = frozenset({"42P01", "3F000"})  # undefined_table, invalid_schema

#: Flow names that are not the store method's own.
_OPERATIONS = {
    "acquire": "lock",
    "release": "unlock",
    "renew": "lease renewal",
    "update_record": "update",
}


class FileChangedError(Exception):
    """The SQLite file an open store is bound to was deleted or replaced."""


def mask_url(url: str | URL) -> str:
    """*url* as text with its password (in the userinfo or the query) masked."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError, TypeError):
        text = str(url)
        return f"{_MASK}@{text.rsplit('@', 1)[-1]}" if "@" in text else text
    hidden = {key: _MASK for key in parsed.query if key.lower() in _SECRET_KEYS}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    return parsed.render_as_string(hide_password=True).replace(_QUOTED_MASK, _MASK)


def _secrets_of(url: str | URL) -> tuple[str, ...]:
    """The password(s) in *url*, plain and percent-encoded, to scrub from text."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError, TypeError):
        text = str(url)
        userinfo = text.rpartition("@")[0].split("://", 1)[-1]
        found = [userinfo.partition(":")[2]] if ":" in userinfo else []
    else:
        found = [str(parsed.password)] if parsed.password else []
        for key, value in parsed.query.items():
            if key.lower() in _SECRET_KEYS:
                found.extend([value] if isinstance(value, str) else value)
    out: list[str] = []
    for secret in found:
        out.extend(s for s in (secret, quote(secret, safe="")) if s and s not in out)
    return tuple(out)


class Where:
    """Where a store's data lives, as its errors name it.

    Attributes:
        target: the SQLite path, or the URL with its password masked.
        path: the SQLite file (None for PostgreSQL and `":memory:"`).
    """

    __slots__ = ("_secrets", "path", "target")

    def __init__(
        self, target: str, *, path: str | None = None, secrets: tuple[str, ...] = ()
    ) -> None:
        self.target = target
        self.path = path
        self._secrets = secrets

    @classmethod
    def for_path(cls, path: str | os.PathLike[str]) -> Where:
        """A SQLite file (or `":memory:"`)."""
        text = os.fspath(path)
        return cls(text, path=None if text == ":memory:" else text)

    @classmethod
    def for_url(cls, url: str | URL) -> Where:
        """A database URL; its password never appears in a message."""
        return cls(mask_url(url), secrets=_secrets_of(url))

    @classmethod
    def for_engine(cls, engine: Engine) -> Where:
        """The database of *engine*."""
        if engine.url.get_backend_name() == "sqlite":
            return cls.for_path(engine.url.database or ":memory:")
        return cls.for_url(engine.url)

    def scrub(self, text: str) -> str:
        """*text* with the password masked."""
        for secret in self._secrets:
            text = text.replace(secret, _MASK)
        return text

    def leaks(self, exc: BaseException) -> bool:
        """Whether the text of *exc* or of any error chained to it holds the password."""
        seen: set[int] = set()
        pending: list[BaseException | None] = [exc]
        while pending:
            error = pending.pop()
            if error is None or id(error) in seen:
                continue
            seen.add(id(error))
            text = f"{error} {error.args!r}"
            if any(secret in text for secret in self._secrets):
                return True
            pending += [error.__cause__, error.__context__]
        return False


def operation_of(flow: object) -> str:
    """The store call a flow serves (`append_flow` -> `"append"`)."""
    name = str(getattr(flow, "__name__", "call")).removesuffix("_flow")
    return _OPERATIONS.get(name, name)


def _reason(exc: BaseException, where: Where) -> str:
    """The first line of the driver's own message, password masked."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    if isinstance(orig, SQLAlchemyError) and first.startswith("(Background on"):
        first = type(orig).__name__
    return where.scrub(first)


def _sqlite_kind(error: sqlite3.Error) -> type[StoreError]:
    name = getattr(error, "sqlite_errorname", "") or ""
    primary = "_".join(name.split("_")[:2])
    text = str(error).lower()
    if primary in _SQLITE_CORRUPT or text.startswith(_SQLITE_CORRUPT_TEXT):
        return StoreCorruptError
    if text.startswith("no such table: conversa_"):
        return StoreCorruptError
    if primary in _SQLITE_UNAVAILABLE or text.startswith(_SQLITE_UNAVAILABLE_TEXT):
        return StoreUnavailableError
    return StoreError


def _kind(exc: BaseException) -> type[StoreError]:
    if isinstance(exc, FileChangedError | PoolTimeoutError):
        return StoreUnavailableError
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        return _sqlite_kind(orig)
    if getattr(orig, "sqlstate", None) in _PG_CORRUPT_STATES:
        return StoreCorruptError
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return StoreUnavailableError
    if isinstance(exc, OperationalError | InterfaceError):
        return StoreUnavailableError
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(
        orig, psycopg.OperationalError | psycopg.InterfaceError
    ):
        return StoreUnavailableError
    return StoreError


def _file_hint(where: Where) -> str:
    """Why a SQLite file could not be opened, when the file system tells."""
    if where.path is None:
        return ""
    path = Path(where.path)
    parent = path.parent
    if not parent.is_dir():
        return f" (the directory {str(parent)!r} does not exist)"
    if path.is_dir():
        return " (it is a directory)"
    if not path.exists():
        return " (the file does not exist)"
    return ""


def _is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, SQLAlchemyError | sqlite3.Error | FileChangedError):
        return True
    psycopg = sys.modules.get("psycopg")  # only raised if it was imported
    return psycopg is not None and isinstance(exc, psycopg.Error)


#: psycopg's prepared statements lost or doubled by a transaction-mode pooler:
#: invalid_sql_statement_name, duplicate_prepared_statement.
_PG_PREPARED_STATES = ("26000", "42P05")


def _pooler_hint(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if getattr(orig, "sqlstate", None) in _PG_PREPARED_STATES and "_pg3_" in str(orig):
        return (
            " (behind PgBouncer in transaction mode? open the store with "
            "pgbouncer=True, or add ?pgbouncer=true to the URL)"
        )
    return ""


def translate(exc: BaseException, where: Where, operation: str) -> StoreError:
    """The `StoreError` subclass that tells what driver error *exc* means."""
    kind = _kind(exc)
    reason = _reason(exc, where) + _pooler_hint(exc)
    if kind is StoreUnavailableError:
        if "unable to open database file" in reason:
            reason += _file_hint(where)
        return StoreUnavailableError(reason, target=where.target, operation=operation)
    if kind is StoreCorruptError:
        return StoreCorruptError(reason, target=where.target, operation=operation)
    return StoreError(f"store {where.target!r}: {operation} failed: {reason}")


class store_errors:  # noqa: N801 - a context manager, named as one
    """Raise the driver errors of the block as conversa `StoreError`s.

    A class, not `contextmanager`: every store call enters one, and a generator
    costs a few µs more to make, enter and leave.
    """

    __slots__ = ("operation", "where")

    def __init__(self, where: Where, operation: str) -> None:
        self.where = where
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        raise_store_error(exc, self.where, self.operation)


def raise_store_error(exc: BaseException | None, where: Where, operation: str) -> None:
    """Raise *exc* as a conversa `StoreError` if the driver raised it (`store_errors`;
    a caller on the hot path calls it from its own ``except``, which costs nothing
    until something is raised)."""
    if not isinstance(exc, Exception) or not _is_driver_error(exc):
        return
    error = translate(exc, where, operation)
    if where.leaks(exc):
        raise error from None
    raise error from exc


@contextmanager
def config_errors(where: Where) -> Iterator[None]:
    """Raise errors of building engines as `StoreConfigError`s."""
    try:
        yield
    except (ImportError, SQLAlchemyError, TypeError, ValueError) as exc:
        if isinstance(exc, StoreError):
            raise
        error: StoreConfigError
        if isinstance(exc, ImportError):
            reason = where.scrub(f"its database driver is not installed ({exc})")
            error = StoreDriverMissingError(reason, target=where.target)
        else:
            error = StoreConfigError(_reason(exc, where), target=where.target)
        if where.leaks(exc):
            raise error from None
        raise error from exc


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)  # noqa: PTH116 - on every call: a Path would cost more
    except FileNotFoundError:
        return None
    return (stat.st_dev, stat.st_ino)


class FileBinding:
    """Binds a SQLite engine's connections to the file its store opened.

    Until `bind`, connections open (and create) the file at the path. After it,
    new connections open the file read-write without creating it, and each
    checkout checks that the path still names the same file: a file deleted or
    replaced under an open store fails the next call with `StoreUnavailableError`
    instead of writing on, unseen, into the old file (or a new empty one).
    """

    __slots__ = ("_identity", "path")

    def __init__(self, path: str) -> None:
        self.path = str(Path(path).absolute())
        self._identity: tuple[int, int] | None = None

    def bind(self) -> None:
        """Remember the file now at the path as the store's."""
        self._identity = _identity(self.path)

    def connect_args(self, cargs: list[Any], cparams: dict[str, Any]) -> None:
        """Once bound, open only the bound file, and never create one (`mode=rw`)."""
        if self._identity is not None:
            self.check()
            cargs[:1] = [f"{Path(self.path).as_uri()}?mode=rw"]
            cparams["uri"] = True

    def check(self) -> None:
        """Raise `FileChangedError` if the path no longer names the bound file."""
        if self._identity is None:
            return
        now = _identity(self.path)
        if now is None:
            msg = "the database file was deleted while the store was open"
            raise FileChangedError(msg)
        if now != self._identity:
            msg = "the database file was replaced while the store was open"
            raise FileChangedError(msg)
