"""Store errors are conversa errors: at open and at the failing call, never a driver's.

Every case checks the exception's type, that it is a `ConversaError`, that its
message names the SQLite path or the URL, and, for URLs carrying a password, that
the password appears nowhere: not in the message, the repr, nor the formatted
traceback with its chained causes.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import event, make_url

from conversa import (
    ConversaError,
    StoreConfigError,
    StoreCorruptError,
    StoreDriverMissingError,
    StoreError,
    StoreUnavailableError,
)
from conversa._cli.main import main
from conversa._stores import AsyncStore, PostgresStore, SQLiteStore, TurnUpdate
from conversa._stores.errors import mask_url
from conversa._values.turns import ConversationRecord
from tests.stores.helpers import SyncAsAsync, plain_url, user

pytestmark = pytest.mark.anyio

SECRET = "s3cret"  # noqa: S105 - a test password, masked everywhere
DOWN_URL = f"postgresql://u:{SECRET}@127.0.0.1:1/db"

# -- helpers -------------------------------------------------------------------


def check_error(
    exc: BaseException, cls: type[StoreError], *, names: str, operation: str | None
) -> None:
    """*exc* is exactly a *cls*, a ConversaError, names *names*, and leaks no password."""
    assert type(exc) is cls, repr(exc)
    assert isinstance(exc, ConversaError)
    assert names in str(exc)
    if operation is not None:
        assert getattr(exc, "operation", None) == operation
    everything = "".join(traceback.format_exception(exc))
    for text in (str(exc), repr(exc), everything):
        assert SECRET not in text
    assert "Traceback" not in str(exc)
    assert "\n" not in str(exc)  # one line, fit for the CLI


def with_secret(url: str, *, host: str | None = None, port: int | None = None) -> str:
    """*url* with the test password (which trust auth ignores), and maybe another address."""
    parsed = make_url(url).set(password=SECRET)
    if host is not None:
        parsed = parsed.set(host=host, port=port)
    return parsed.render_as_string(hide_password=False)


Call = Callable[[AsyncStore, str], Awaitable[object]]


async def _enter_lock(store: AsyncStore, cid: str) -> None:
    async with store.alock(cid, timeout=5):
        pass


#: Every public store call, through the async interface (SyncAsAsync for the sync twin).
CALLS: dict[str, Call] = {
    "create": lambda s, cid: s.acreate(ConversationRecord(model="m")),
    "get": lambda s, cid: s.aget(cid),
    "update": lambda s, cid: s.aupdate(cid, {"model": "m2"}),
    "append": lambda s, cid: s.aappend(cid, [user("more")]),
    "read": lambda s, cid: s.aread(cid),
    # read_newest is a capability (AsyncNewestFirstReads), not in the core protocol.
    "read_newest": lambda s, cid: cast(Any, s).aread_newest(cid, budget=10_000),
    "get_turns": lambda s, cid: s.aget_turns(cid, ["t-1"]),
    "update_turns": lambda s, cid: s.aupdate_turns(cid, [TurnUpdate(seq=1, tokens=3)]),
    "list": lambda s, cid: s.alist(),
    "delete": lambda s, cid: s.adelete(cid),
    "fork": lambda s, cid: s.afork(cid, 1),
    "usage": lambda s, cid: s.ausage(cid),
    "lock": _enter_lock,
}
WRITES = ["create", "update", "append", "update_turns", "delete", "fork", "lock"]
#: The calls that are one round trip on PostgreSQL (each of lock's two halves).
ONE_ROUND_TRIP = {"get", "list", "lock"}


def seed(store: Any) -> str:
    """A conversation with one turn (id "t-1"), so every call has something to act on."""
    record = store.create(ConversationRecord(model="m"))
    store.append(record.id, [user("q", id="t-1")])
    return str(record.id)


def view(store: Any, twin: str) -> AsyncStore:
    """The store seen through the async interface: itself, or its sync twin in threads."""
    return cast(AsyncStore, store if twin == "async" else SyncAsAsync(store))


@pytest.fixture(name="twin", params=["sync", "async"])
def _twin(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- opening -------------------------------------------------------------------


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite is StoreCorruptError at open, naming the path."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(StoreCorruptError) as info:
        SQLiteStore(path)
    check_error(info.value, StoreCorruptError, names=str(path), operation="open")
    assert info.value.target == str(path)
    assert "file is not a database" in str(info.value)


def test_sqlite_missing_directory(tmp_path: Path) -> None:
    """A file in a directory that does not exist is StoreUnavailableError, saying so."""
    path = tmp_path / "nope" / "x.db"
    with pytest.raises(StoreUnavailableError) as info:
        SQLiteStore(path)
    check_error(info.value, StoreUnavailableError, names=str(path), operation="open")
    assert f"the directory {str(path.parent)!r} does not exist" in str(info.value)
    assert not path.parent.exists()


def test_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    """A directory where the file should be is StoreUnavailableError, saying so."""
    with pytest.raises(StoreUnavailableError) as info:
        SQLiteStore(tmp_path)
    check_error(
        info.value, StoreUnavailableError, names=str(tmp_path), operation="open"
    )
    assert "it is a directory" in str(info.value)


def test_sqlite_locked_at_open(tmp_path: Path) -> None:
    """A file another writer holds past the busy timeout is StoreUnavailableError."""
    path = tmp_path / "c.db"
    SQLiteStore(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError) as info:
            SQLiteStore(path, busy_timeout=0.05)
        check_error(
            info.value, StoreUnavailableError, names=str(path), operation="open"
        )
        assert "database is locked" in str(info.value)
    finally:
        blocker.close()


def test_postgres_server_down() -> None:
    """A closed port is StoreUnavailableError at open, naming the URL, password masked."""
    with pytest.raises(StoreUnavailableError) as info:
        PostgresStore(DOWN_URL)
    masked = "postgresql://u:***@127.0.0.1:1/db"
    check_error(info.value, StoreUnavailableError, names=masked, operation="open")
    assert info.value.target == masked
    assert "Connection refused" in str(info.value)


def test_postgres_password_in_the_query_is_masked() -> None:
    """A password passed as a query parameter is masked too."""
    url = f"postgresql://u@127.0.0.1:1/db?password={SECRET}&connect_timeout=5"
    assert SECRET not in mask_url(url)
    with pytest.raises(StoreUnavailableError) as info:
        PostgresStore(url)
    check_error(
        info.value, StoreUnavailableError, names="127.0.0.1:1", operation="open"
    )


@pytest.mark.parametrize(
    "url",
    [f"mysql://u:{SECRET}@localhost/db", "sqlite:///x.db", "mysql://x/y"],
)
def test_postgres_wrong_scheme(url: str) -> None:
    """A URL that is not PostgreSQL's is StoreConfigError (a ValueError), before any I/O."""
    with pytest.raises(StoreConfigError) as info:
        PostgresStore(url)
    shown = mask_url(url) if "mysql" in url else "sqlite:///"
    check_error(info.value, StoreConfigError, names=shown, operation=None)
    assert isinstance(info.value, ValueError)
    assert "PostgresStore takes postgresql://" in str(info.value)


def test_postgres_url_that_does_not_parse() -> None:
    """Text that is no URL at all is StoreConfigError; a password in it stays hidden."""
    with pytest.raises(StoreConfigError) as info:
        PostgresStore(f"u:{SECRET}@not a url")
    check_error(info.value, StoreConfigError, names="not a url", operation=None)
    assert "not a database URL" in str(info.value)


def test_postgres_unknown_driver() -> None:
    """A driver SQLAlchemy does not know is StoreConfigError naming the URL."""
    url = f"postgresql+nosuchdriver://u:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(StoreConfigError) as info:
        PostgresStore(url)
    check_error(
        info.value,
        StoreConfigError,
        names="postgresql+nosuchdriver://u:***@127.0.0.1:1/db",
        operation=None,
    )


def _hide_psycopg_in_sys_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)


def _hide_psycopg_from_import(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            msg = f"No module named {name!r}"
            raise ModuleNotFoundError(msg, name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize(
    "hide", [_hide_psycopg_in_sys_modules, _hide_psycopg_from_import]
)
def test_postgres_missing_driver(
    monkeypatch: pytest.MonkeyPatch, hide: Callable[[pytest.MonkeyPatch], None]
) -> None:
    """Without psycopg, opening names the extra to install (and is still an ImportError)."""
    hide(monkeypatch)
    with pytest.raises(StoreDriverMissingError) as info:
        PostgresStore(DOWN_URL)
    check_error(
        info.value,
        StoreDriverMissingError,
        names="postgresql://u:***@127.0.0.1:1/db",
        operation=None,
    )
    assert "pip install 'conversa-state[postgres]'" in str(info.value)
    assert isinstance(info.value, ImportError | StoreConfigError)


def test_postgres_missing_explicit_driver() -> None:
    """An explicit driver that is not installed (psycopg2 here) is StoreDriverMissingError."""
    pytest.importorskip("sqlalchemy.dialects.postgresql.psycopg2")
    try:
        import psycopg2  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - not in the dev install
        pytest.skip("psycopg2 is installed")
    url = f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db"
    with pytest.raises(StoreDriverMissingError) as info:
        PostgresStore(url)
    check_error(
        info.value, StoreDriverMissingError, names="u:***@127.0.0.1:1", operation=None
    )


# -- the command line ----------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("url", "code", "names"),
    [
        ("mysql://x/y", 2, "mysql://x/y"),
        (f"mysql://u:{SECRET}@x/y", 2, "mysql://u:***@x/y"),
        ("sqlite:////nonexistent/dir/x.db", 1, "/nonexistent/dir/x.db"),
        (DOWN_URL, 1, "postgresql://u:***@127.0.0.1:1/db"),
    ],
)
def test_cli_prints_one_line(
    capsys: pytest.CaptureFixture[str], url: str, code: int, names: str
) -> None:
    """A store the CLI cannot open: one line on stderr, exit 2 for the URL, else 1."""
    got, out, err = run_cli(capsys, "ls", "--store", url)
    assert got == code
    assert out == ""
    assert err.startswith("conversa: error: ")
    assert err.count("\n") == 1
    assert names in err
    assert SECRET not in err
    assert "Traceback" not in err


def test_cli_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a database: one line naming it, exit 1."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"junk" * 1000)
    code, _, err = run_cli(capsys, "ls", "--store", f"sqlite:///{path}")
    assert code == 1
    assert err == (
        f"conversa: error: store {str(path)!r} is not a usable conversa database "
        "(open): file is not a database\n"
    )


def test_cli_missing_driver(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL URL without psycopg installed is a usage error naming the extra."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    code, _, err = run_cli(capsys, "ls", "--store", DOWN_URL)
    assert code == 2
    assert "pip install 'conversa-state[postgres]'" in err
    assert SECRET not in err


# -- SQLite under an open store ------------------------------------------------


def _wal_files(path: Path) -> list[Path]:
    return [
        path,
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
    ]


@pytest.fixture(name="sqlite_store")
async def _sqlite_store(tmp_path: Path) -> Any:
    store = SQLiteStore(tmp_path / "c.db", busy_timeout=0.05)
    try:
        yield store
    finally:
        await store.aclose()


@pytest.mark.skipif(sys.platform == "win32", reason="open files cannot be deleted")
@pytest.mark.parametrize("connection", ["pooled", "new"])
@pytest.mark.parametrize("call", list(CALLS))
async def test_sqlite_file_deleted_under_the_store(
    sqlite_store: SQLiteStore, twin: str, call: str, connection: str
) -> None:
    """Every call on a store whose file was deleted fails; nothing recreates the file."""
    cid = seed(sqlite_store)
    path = Path(sqlite_store.path)
    if connection == "new":
        sqlite_store.engine.dispose()  # the next call opens a new connection
    for file in _wal_files(path):
        file.unlink(missing_ok=True)
    with pytest.raises(StoreUnavailableError) as info:
        await CALLS[call](view(sqlite_store, twin), cid)
    check_error(info.value, StoreUnavailableError, names=str(path), operation=call)
    assert "deleted while the store was open" in str(info.value)
    assert not os.path.exists(path)  # noqa: PTH110, ASYNC240 - nothing recreated it


@pytest.mark.skipif(sys.platform == "win32", reason="open files cannot be replaced")
@pytest.mark.parametrize("call", list(CALLS))
async def test_sqlite_file_replaced_under_the_store(
    sqlite_store: SQLiteStore, twin: str, call: str, tmp_path: Path
) -> None:
    """A file swapped under an open store fails every call instead of mixing the two."""
    cid = seed(sqlite_store)
    path = Path(sqlite_store.path)
    other = tmp_path / "other.db"
    SQLiteStore(other).close()
    other.replace(path)
    with pytest.raises(StoreUnavailableError) as info:
        await CALLS[call](view(sqlite_store, twin), cid)
    check_error(info.value, StoreUnavailableError, names=str(path), operation=call)
    assert "replaced while the store was open" in str(info.value)


@pytest.mark.parametrize("call", list(CALLS))
async def test_sqlite_file_corrupted_under_the_store(
    sqlite_store: SQLiteStore, twin: str, call: str
) -> None:
    """A file overwritten with garbage under an open store is StoreCorruptError."""
    cid = seed(sqlite_store)
    path = Path(sqlite_store.path)
    for file in _wal_files(path):
        if file.exists():
            size = max(file.stat().st_size, 4096)
            with file.open("r+b") as handle:
                handle.write(b"garbage!" * (size // 8))
    with pytest.raises(StoreCorruptError) as info:
        await CALLS[call](view(sqlite_store, twin), cid)
    check_error(info.value, StoreCorruptError, names=str(path), operation=call)


@pytest.mark.parametrize("call", WRITES)
async def test_sqlite_file_locked_under_the_store(
    sqlite_store: SQLiteStore, twin: str, call: str
) -> None:
    """A write blocked past the busy timeout by another writer is StoreUnavailableError."""
    cid = seed(sqlite_store)
    path = Path(sqlite_store.path)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailableError) as info:
            await CALLS[call](view(sqlite_store, twin), cid)
        check_error(info.value, StoreUnavailableError, names=str(path), operation=call)
        assert "database is locked" in str(info.value)
        # Readers are not blocked (WAL), and the store works once the writer is done.
        assert len(await view(sqlite_store, twin).aread(cid)) == 1
    finally:
        blocker.close()
    assert len(await view(sqlite_store, twin).aread(cid)) == 1
    await CALLS[call](view(sqlite_store, twin), cid)


# -- PostgreSQL going away -----------------------------------------------------


def _wait_until_gone(admin: Any, pid: int) -> None:
    deadline = time.monotonic() + 30
    while admin.execute(
        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone():
        assert time.monotonic() < deadline, "the backend did not terminate"
        time.sleep(0.01)


@pytest.fixture(name="pg_store")
async def _pg_store(pg_url: str) -> Any:
    store = PostgresStore(with_secret(pg_url))
    try:
        yield store
    finally:
        await store.aclose()


@pytest.mark.postgres
@pytest.mark.parametrize("call", list(CALLS))
async def test_postgres_backend_killed_at_every_statement(
    pg_url: str, pg_store: PostgresStore, twin: str, call: str
) -> None:
    """pg_terminate_backend after every statement: each call fails, after its one retry.

    Except a call that is one round trip on PostgreSQL, done when the backend
    dies (the listener hears a round trip's statements once all of it is back):
    a read of one statement (`get`, `list`; a reading call runs its statements
    without a transaction, READ COMMITTED giving each its own snapshot anyway)
    returns its answer; `lock` takes the lease with its COMMIT in one round trip
    and gives it back the same way.
    """
    import psycopg

    cid = seed(pg_store)
    admin = psycopg.connect(plain_url(pg_url).split("?")[0], autocommit=True)

    def kill(conn: Any, *args: Any) -> None:
        pid = conn.connection.driver_connection.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        _wait_until_gone(admin, pid)

    engines = [pg_store.engine]  # both twins run on its pool
    for engine in engines:
        event.listen(engine, "after_cursor_execute", kill)
    try:
        if call in ONE_ROUND_TRIP:
            answer = await CALLS[call](view(pg_store, twin), cid)
        else:
            with pytest.raises(StoreUnavailableError) as info:
                await CALLS[call](view(pg_store, twin), cid)
    finally:
        for engine in engines:
            event.remove(engine, "after_cursor_execute", kill)
        admin.close()
    if call in ONE_ROUND_TRIP:
        if call == "lock":  # the lease was given back: free at once
            async with view(pg_store, twin).alock(cid, timeout=0):
                pass
        else:
            ids = [answer.id] if call == "get" else [r.id for r in answer.items]
            assert cid in ids
        assert [t.text for t in await view(pg_store, twin).aread(cid)] == ["q"]
        return
    check_error(
        info.value,
        StoreUnavailableError,
        names="postgres:***@127.0.0.1",
        operation=call,
    )
    assert info.value.target == mask_url(with_secret(pg_url))
    # Nothing of the failed call is committed, and the store works again.
    assert [t.text for t in await view(pg_store, twin).aread(cid)] == ["q"]


def _shutdown(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _Proxy:
    """A TCP proxy in front of PostgreSQL, so a test can take the "server" down."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._mutex = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(self._target)
            with self._mutex:
                self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), daemon=True
                ).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        _shutdown(src, dst)

    def stop(self) -> None:
        """Refuse new connections and cut every open one, like a server going down."""
        self._stopped.set()
        self._thread.join()
        self._listener.close()
        with self._mutex:
            _shutdown(*self._sockets)
            for sock in self._sockets:
                sock.close()


@pytest.fixture(name="proxy")
def _proxy(pg_url: str) -> Iterator[_Proxy]:
    parsed = make_url(pg_url)
    proxy = _Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    yield proxy
    proxy.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("call", list(CALLS))
async def test_postgres_server_down_under_the_store(
    pg_url: str, proxy: _Proxy, twin: str, call: str
) -> None:
    """A server that goes down under an open store fails every call, naming the URL."""
    url = with_secret(pg_url, host="127.0.0.1", port=proxy.port)
    store = PostgresStore(url)
    try:
        cid = seed(store)
        await store.aget(cid)  # the async pool has a connection too
        proxy.stop()
        with pytest.raises(StoreUnavailableError) as info:
            await CALLS[call](view(store, twin), cid)
        check_error(
            info.value,
            StoreUnavailableError,
            names=f"postgres:***@127.0.0.1:{proxy.port}",
            operation=call,
        )
        assert "Connection refused" in str(info.value)
    finally:
        await store.aclose()


@pytest.mark.postgres
async def test_other_driver_errors_are_store_errors(pg_store: PostgresStore) -> None:
    """A value the database refuses (a NUL in text) is a plain StoreError, not a driver's."""
    with pytest.raises(StoreError) as info:
        pg_store.create(ConversationRecord(model="m", owner="a\x00b"))
    check_error(info.value, StoreError, names="postgres:***@127.0.0.1", operation=None)
    assert "create failed" in str(info.value)
    with pytest.raises(StoreError) as again:
        await pg_store.acreate(ConversationRecord(model="m", owner="a\x00b"))
    check_error(again.value, StoreError, names="postgres:***@127.0.0.1", operation=None)


@pytest.mark.parametrize("twin_name", ["sync", "async"])
async def test_a_lock_release_that_fails_is_logged_not_raised(
    sqlite_store: SQLiteStore, twin_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A release the database refuses leaves the lease to expire, as before."""
    cid = seed(sqlite_store)
    blocker = sqlite3.connect(Path(sqlite_store.path), isolation_level=None)
    try:
        async with view(sqlite_store, twin_name).alock(cid, timeout=5):
            blocker.execute("BEGIN IMMEDIATE")
        assert "could not release the lock" in caplog.text
    finally:
        blocker.close()
