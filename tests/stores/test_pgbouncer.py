"""PostgresStore behind a real PgBouncer in transaction mode.

PgBouncer comes from CONVERSA_TEST_PGBOUNCER_URL / _DIR, which `.ci/pgbouncer.sh
start` prints (`.ci/run` starts it; locally: `eval "$(bash .ci/pgbouncer.sh
start)"`). Without it a local run skips these tests loudly; under CI=true it fails.
Each session gets a fresh database (PgBouncer passes no `search_path` startup
option, so the schema-per-session trick of the other tests does not apply),
reached through PgBouncer with `?pgbouncer=true`.

The store contract and the multi-process tests run through it; the restart tests
stop or restart the real PgBouncer in the middle of a send.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import event

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    Conversation,
    ConversationRecord,
    PostgresStore,
    StoreError,
    StoreUnavailableError,
)
from conversa._stores.sql.postgres import pgbouncer_of, psycopg_url
from conversa._values.turns import reply_id_for
from conversa.testing import FakeMessagesAPI
from conversa.testing.store_contract import StoreContract
from tests.stores.helpers import plain_url
from tests.stores.test_processes import (
    test_a_process_killed_holding_the_lock_frees_it,
    test_adds_and_sends_from_four_processes,
    test_different_conversations_hold_their_sections_at_once,
    test_locked_appends_from_four_processes,
    test_sends_from_four_processes,
)

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "pgbouncer.sh"
MODEL = "claude-sonnet-4-5"

__all__ = [  # the process tests, run here through PgBouncer
    "test_a_process_killed_holding_the_lock_frees_it",
    "test_adds_and_sends_from_four_processes",
    "test_different_conversations_hold_their_sections_at_once",
    "test_locked_appends_from_four_processes",
    "test_sends_from_four_processes",
]


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        msg = f"CI=true but {reason}: .ci/run starts PgBouncer (.ci/pgbouncer.sh)"
        raise RuntimeError(msg)
    pytest.skip(
        f"!!! PgBouncer tests SKIPPED: {reason}. Start one with "
        '`eval "$(bash .ci/pgbouncer.sh start)"`; CI never skips these.'
    )


@pytest.fixture(name="bouncer", scope="session")
def _bouncer(pg_server: str) -> str:
    """PgBouncer's URL (its default database); skips locally, fails under CI, without it."""
    url = os.environ.get("CONVERSA_TEST_PGBOUNCER_URL")
    if not url or not os.environ.get("CONVERSA_TEST_PGBOUNCER_DIR"):
        _missing("CONVERSA_TEST_PGBOUNCER_URL/_DIR are not set")
        raise AssertionError  # pragma: no cover - _missing raised or skipped
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        _missing(f"PgBouncer at {url} is unreachable ({exc})")
    return url


def pgbouncer(command: str) -> None:
    """Run `.ci/pgbouncer.sh COMMAND` on the test session's PgBouncer."""
    subprocess.run(  # noqa: S603 - our own script
        ["bash", str(SCRIPT), command],  # noqa: S607 - bash from PATH
        check=True,
        timeout=60,
    )


@pytest.fixture(name="pgb_url", scope="session")
def _pgb_url(bouncer: str, pg_server: str) -> Iterator[str]:
    """A fresh database reached through PgBouncer (`?pgbouncer=true`), dropped after."""
    name = f"conversa_pgb_{uuid.uuid4().hex[:12]}"
    server = plain_url(pg_server).split("?")[0]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = bouncer.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}?pgbouncer=true"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- the contract and the processes, through PgBouncer ----------------------------


class TestPgBouncerStore(StoreContract):
    """PostgresStore keeps the contract behind PgBouncer in transaction mode."""

    @pytest.fixture
    async def store(self, pgb_url: str) -> AsyncIterator[PostgresStore]:
        """A PostgresStore through PgBouncer."""
        store = PostgresStore(pgb_url)
        assert store.pgbouncer
        yield store
        await store.aclose()


@pytest.fixture(name="sql_backend")
def _sql_backend() -> str:
    """The process tests' backend: PostgreSQL (here, behind PgBouncer)."""
    return "postgres"


@pytest.fixture(name="target")
def _target(pgb_url: str) -> str:
    """The process tests' database: the PgBouncer URL (`?pgbouncer=true` in it)."""
    return pgb_url


# -- the option -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", None),
        ("?pgbouncer=true", True),
        ("?pgbouncer=1", True),
        ("?pgbouncer=off", False),
    ],
)
def test_the_url_says_pgbouncer(query: str, expected: bool | None) -> None:
    """`?pgbouncer=` in the URL is read, and removed from what psycopg gets."""
    url = f"postgresql://u@h:6432/db{query}"
    assert pgbouncer_of(url) is expected
    assert "pgbouncer" not in str(psycopg_url(url))


def test_a_bad_pgbouncer_word_is_refused() -> None:
    """`?pgbouncer=maybe` is a configuration error, before any connection."""
    from conversa import StoreConfigError

    with pytest.raises(StoreConfigError, match="pgbouncer= in the URL"):
        PostgresStore("postgresql://u@127.0.0.1:1/db?pgbouncer=maybe")


def _prepare_threshold(store: PostgresStore) -> Any:
    with store.engine.connect() as conn:
        return conn.connection.driver_connection.prepare_threshold  # type: ignore[union-attr]


def test_prepared_statements_are_off_only_when_asked(pg_url: str, pgb_url: str) -> None:
    """pgbouncer=True (or ?pgbouncer=true) turns psycopg's prepared statements off."""
    with PostgresStore(pg_url) as direct:
        assert not direct.pgbouncer
        assert _prepare_threshold(direct) == 5
    with PostgresStore(pgb_url) as bounced:
        assert _prepare_threshold(bounced) is None
    explicit = pgb_url.replace("?pgbouncer=true", "")
    with PostgresStore(explicit, pgbouncer=True) as bounced:
        assert _prepare_threshold(bounced) is None


def _switch_server_connection(store: PostgresStore, pgb_url: str) -> None:
    """Make the store's next transaction run on a server connection it never used.

    The store's one client connection runs `get` often enough for psycopg to
    prepare its statements (5 runs) on the server connection PgBouncer handed it;
    then another client holds that server connection in an open transaction
    (PgBouncer reuses the most recently used one), so the next `get` gets another.
    """
    record = store.create(ConversationRecord(model="m"))
    for _ in range(8):
        store.get(record.id)
    with psycopg.connect(
        psycopg_url(pgb_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    ) as other:
        other.execute(
            "SELECT 1"
        )  # its transaction stays open: the server conn is taken
        store.get(record.id)


@pytest.mark.parametrize("bounced", [False, True])
def test_prepared_statements_break_behind_pgbouncer_unless_off(
    pgb_url: str, bounced: bool
) -> None:
    """Without the option the failure is real, and its error names the option; with it, none."""
    url = pgb_url if bounced else pgb_url.replace("?pgbouncer=true", "")
    with PostgresStore(url, pool_size=1, max_overflow=0) as store:
        if bounced:
            _switch_server_connection(store, pgb_url)
            return
        with pytest.raises(StoreError, match="pgbouncer=True") as caught:
            _switch_server_connection(store, pgb_url)
    assert "prepared statement" in str(caught.value)


def test_no_session_state_survives_a_transaction(pgb_url: str) -> None:
    """Every store call is one transaction: nothing conversa runs sets session state.

    Each statement the store sends is checked against what transaction pooling
    breaks: SET (other than SET LOCAL), advisory locks held past the transaction,
    LISTEN, temporary tables, held cursors, PREPARE.
    """
    seen: list[str] = []
    with PostgresStore(pgb_url) as store:
        event.listen(
            store.engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *args: seen.append(statement),
        )
        client = Client(api_key="k", transport=FakeMessagesAPI())
        conv = Conversation.create(store, client=client, model=MODEL)
        conv.send("hello")
        conv.add("user", "more")
        store.list(limit=5)
        fork = store.fork(conv.id, 1)
        store.delete(fork.id)
    assert seen
    session_state = re.compile(
        r"^\s*(SET\s+(?!LOCAL)|RESET|LISTEN|PREPARE|DECLARE|DISCARD|LOAD)"
        r"|CREATE\s+(TEMP|TEMPORARY)\s"
        r"|pg_(try_)?advisory_lock(_shared)?\s*\("
        r"|WITH\s+HOLD",
        re.IGNORECASE,
    )
    assert [s for s in seen if session_state.search(s)] == []


# -- PgBouncer restarted mid-send -------------------------------------------------


class Hooked(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The fake API, running *before* (once) when the first request arrives."""

    def __init__(self, before: Callable[[], None]) -> None:
        self.fake = FakeMessagesAPI()
        self._before: Callable[[], None] | None = before

    def _fire(self) -> None:
        before, self._before = self._before, None
        if before is not None:
            before()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Fire the hook, then answer as the fake."""
        self._fire()
        return self.fake.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Fire the hook (in a thread), then answer as the fake."""
        await anyio.to_thread.run_sync(self._fire)
        return await self.fake.handle_async_request(request)


@pytest.fixture(name="relaunch")
def _relaunch(bouncer: str) -> Iterator[None]:
    """Whatever a test does to PgBouncer, it is running again afterwards."""
    yield
    try:
        psycopg.connect(bouncer, connect_timeout=2).close()
    except psycopg.OperationalError:
        pgbouncer("relaunch")


async def _send(twin: str, store: PostgresStore, transport: Any, **kw: Any) -> Any:
    """Create a conversation and send "hello" through *twin*; return (id, reply)."""
    if twin == "sync":
        conv = Conversation.create(
            store, client=Client(api_key="k", transport=transport), model=MODEL
        )
        return conv.id, await anyio.to_thread.run_sync(lambda: conv.send("hello", **kw))
    aconv = await AsyncConversation.create(
        store, client=AsyncClient(api_key="k", transport=transport), model=MODEL
    )
    return aconv.id, await aconv.send("hello", **kw)


@pytest.mark.anyio
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_restarted_during_the_api_call_the_send_completes(
    pgb_url: str, relaunch: None, twin: str
) -> None:
    """PgBouncer restarts while the API answers: the dead connection is met, the call rerun on a fresh one, both turns stored once."""
    store = PostgresStore(pgb_url)
    try:
        cid, reply = await _send(twin, store, Hooked(lambda: pgbouncer("restart")))
        turns = store.read(cid)
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[1] == reply
    finally:
        await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_restarted_inside_the_reply_write_it_is_retried(
    pgb_url: str, relaunch: None, twin: str
) -> None:
    """PgBouncer dies inside the reply's transaction: the retry on a new connection stores it once."""
    store = PostgresStore(pgb_url)
    fired: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not fired and "INSERT INTO conversa_turns" in statement and args[0]:
            params = args[0] if isinstance(args[0], dict) else args[0][0]
            # The reply's turn: a plain insert's role, or the fast append's first row's.
            role = (
                params.get("role", params.get("t0_role"))
                if isinstance(params, dict)
                else None
            )
            if role == "assistant":
                fired.append(statement)
                pgbouncer("restart")

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        cid, reply = await _send(twin, store, FakeMessagesAPI())
        turns = store.read(cid)
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[1] == reply
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
        await store.aclose()
    assert fired, "the hook never saw the reply's INSERT"


@pytest.mark.anyio
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_down_when_the_reply_is_written_the_reply_is_on_the_error(
    pgb_url: str, relaunch: None, twin: str
) -> None:
    """PgBouncer stopped during the API call: a StoreError carrying the billed reply.

    Once PgBouncer is back, the same store reconnects and the caller stores the
    reply; the user turn was stored once.
    """
    store = PostgresStore(pgb_url, lease_seconds=1)
    try:
        with pytest.raises(StoreUnavailableError) as caught:
            await _send(twin, store, Hooked(lambda: pgbouncer("stop")), turn_id="t-1")
        reply = caught.value.reply
        assert reply is not None
        assert reply.role == "assistant"
        assert reply.id == reply_id_for("t-1")
        pgbouncer("relaunch")
        [record] = store.list(limit=1).items
        [stored] = store.append(record.id, [reply])
        turns = store.read(record.id)
        assert [(t.id, t.role) for t in turns] == [
            ("t-1", "user"),
            (reply.id, "assistant"),
        ]
        assert stored.seq == 2
    finally:
        await store.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("twin", ["sync", "async"])
async def test_a_retry_with_the_same_turn_id_stores_the_turn_once(
    pgb_url: str, relaunch: None, twin: str
) -> None:
    """After a send failed with PgBouncer down, resending the same turn_id stores one user turn."""
    store = PostgresStore(pgb_url, lease_seconds=1)
    client_kw: dict[str, Any] = {"api_key": "k"}
    try:
        if twin == "sync":
            conv = Conversation.create(
                store,
                client=Client(transport=Hooked(lambda: pgbouncer("stop")), **client_kw),
                model=MODEL,
            )
            with pytest.raises(StoreError):
                await anyio.to_thread.run_sync(
                    lambda: conv.send("hello", turn_id="t-2")
                )
            pgbouncer("relaunch")
            again = Conversation.load(
                store, conv.id, client=Client(transport=FakeMessagesAPI(), **client_kw)
            )
            reply = await anyio.to_thread.run_sync(
                lambda: again.send("hello", turn_id="t-2")
            )
            cid = conv.id
        else:
            aconv = await AsyncConversation.create(
                store,
                client=AsyncClient(
                    transport=Hooked(lambda: pgbouncer("stop")), **client_kw
                ),
                model=MODEL,
            )
            with pytest.raises(StoreError):
                await aconv.send("hello", turn_id="t-2")
            pgbouncer("relaunch")
            aagain = await AsyncConversation.load(
                store,
                aconv.id,
                client=AsyncClient(transport=FakeMessagesAPI(), **client_kw),
            )
            reply = await aagain.send("hello", turn_id="t-2")
            cid = aconv.id
        turns = store.read(cid)
        assert [(t.id, t.role) for t in turns] == [
            ("t-2", "user"),
            (reply.id, "assistant"),
        ]
        assert reply.id == reply_id_for("t-2")
    finally:
        await store.aclose()


def test_a_store_opened_while_pgbouncer_is_down_says_unavailable(
    pgb_url: str, relaunch: None
) -> None:
    """Opening through a stopped PgBouncer raises StoreUnavailableError, naming no password."""
    pgbouncer("stop")
    with pytest.raises(StoreUnavailableError):
        PostgresStore(pgb_url)
