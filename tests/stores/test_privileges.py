"""Least privilege: migrate at deploy time, run as a role that may only read and write rows.

A role with SELECT, INSERT, UPDATE and DELETE on conversa's tables (and nothing
else: no CREATE on the schema) opens a store that `conversa migrate` migrated,
sends, lists and deletes; `migrate="check"` refuses a schema that is behind
without running any DDL; `conversa migrate --sql` prints a script that builds the
same schema.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, event, inspect

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    Conversation,
    InvalidInputError,
    PostgresStore,
    SchemaVersionError,
    SQLiteStore,
    StoreError,
)
from conversa._cli.main import main
from conversa._stores.sql.migrations import MIGRATIONS, SCHEMA_VERSION
from conversa.testing import FakeMessagesAPI
from tests.stores.helpers import pg_url_with_schema, plain_url

MODEL = "claude-sonnet-4-5"
DDL = ("CREATE", "ALTER", "DROP", "GRANT", "COMMENT")


def _schema_of(url: str) -> str:
    return url.split("search_path%3D", 1)[1].split("&", 1)[0]


@pytest.fixture(name="dml_role")
def _dml_role(pg_server: str) -> Iterator[Any]:
    """Make roles with only DML on a schema's tables; drop them after the test."""
    server = plain_url(pg_server).split("?")[0]
    made: list[str] = []

    def make(schema: str) -> str:
        role = f"conversa_app_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as admin:
            ident, where = sql.Identifier(role), sql.Identifier(schema)
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
            admin.execute(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(where, ident)
            )
            admin.execute(
                sql.SQL(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}"
                ).format(where, ident)
            )
        made.append(role)
        base = pg_server.split("?")[0].replace("postgres@", f"{role}@", 1)
        return pg_url_with_schema(base, schema)

    yield make
    with psycopg.connect(server, autocommit=True) as admin:
        for role in made:
            ident = sql.Identifier(role)
            admin.execute(sql.SQL("DROP OWNED BY {}").format(ident))
            admin.execute(sql.SQL("DROP ROLE {}").format(ident))


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["check", "auto", "off"])
@pytest.mark.anyio
async def test_a_dml_only_role_opens_sends_lists_and_deletes(
    fresh_pg_url: str, dml_role: Any, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `conversa migrate`, a role with only DML rights does everything, sync and async."""
    assert main(["migrate", fresh_pg_url]) == 0
    assert f"schema version {SCHEMA_VERSION}" in capsys.readouterr().out
    app_url = dml_role(_schema_of(fresh_pg_url))
    store = PostgresStore(app_url, migrate=mode)  # type: ignore[arg-type]
    try:
        conv = Conversation.create(
            store, client=Client(api_key="k", transport=FakeMessagesAPI()), model=MODEL
        )
        conv.send("hello")
        aconv = await AsyncConversation.create(
            store,
            client=AsyncClient(api_key="k", transport=FakeMessagesAPI()),
            model=MODEL,
            owner="o",
        )
        await aconv.send("hello too")
        assert {r.id for r in store.list().items} == {conv.id, aconv.id}
        assert [r.id for r in (await store.alist(owner="o")).items] == [aconv.id]
        assert len(store.read(conv.id)) == 2
        store.delete(conv.id)
        await store.adelete(aconv.id)
        assert store.list().items == ()
    finally:
        await store.aclose()


@pytest.mark.postgres
def test_a_dml_only_role_cannot_migrate_and_says_so(
    fresh_pg_url: str, dml_role: Any
) -> None:
    """On an empty schema, "auto" as a DML-only role fails with the server's reason; nothing is made."""
    app_url = dml_role(_schema_of(fresh_pg_url))
    with pytest.raises(StoreError, match="permission denied"):
        PostgresStore(app_url)
    with PostgresStore(fresh_pg_url, migrate="off") as admin:
        assert inspect(admin.engine).get_table_names() == []


def _behind(store_url: str, backend: str, version: int) -> None:
    """Leave the database at schema *version* (0: empty), as an older conversa would."""
    if version == 0:
        return
    from sqlalchemy import create_engine, text

    from conversa._stores.sql.postgres import psycopg_url

    engine = create_engine(
        psycopg_url(store_url) if backend == "postgres" else f"sqlite:///{store_url}"
    )
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE conversa_migrations (version INTEGER NOT NULL PRIMARY KEY, "
            "name VARCHAR NOT NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
        for v in range(1, version + 1):
            MIGRATIONS[v](conn)
            conn.execute(
                text("INSERT INTO conversa_migrations VALUES (:v, :n, :t)"),
                {"v": v, "n": MIGRATIONS[v].__name__, "t": "2026-01-01T00:00:00+00:00"},
            )
    engine.dispose()


@pytest.mark.parametrize("version", sorted({0, SCHEMA_VERSION - 1}))
def test_check_refuses_a_schema_that_is_behind_and_runs_no_ddl(
    sql_backend: str, fresh_target: str, version: int
) -> None:
    """migrate="check" on a schema at an older version: SchemaVersionError, no DDL at all."""
    _behind(fresh_target, sql_backend, version)
    opener = PostgresStore if sql_backend == "postgres" else SQLiteStore
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with pytest.raises(SchemaVersionError, match="conversa migrate") as caught:
            opener(fresh_target, migrate="check")
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert (caught.value.found, caught.value.known) == (version, SCHEMA_VERSION)
    assert seen
    assert [s for s in seen if s.lstrip().upper().startswith(DDL)] == []


def test_an_unknown_migrate_mode_is_refused(tmp_path: Path) -> None:
    """migrate= takes auto, check or off."""
    with pytest.raises(InvalidInputError, match="migrate must be"):
        SQLiteStore(tmp_path / "c.db", migrate="sometimes")  # type: ignore[arg-type]


def test_off_trusts_the_deploy(tmp_path: Path) -> None:
    """migrate="off" looks at nothing: an empty file opens, and the first call fails clearly."""
    path = tmp_path / "c.db"
    with SQLiteStore(path, migrate="off") as store:
        assert inspect(store.engine).get_table_names() == []
        with pytest.raises(StoreError, match="conversa_conversations"):
            store.get("nope")


def _run_script(backend: str, target: str, script: str) -> None:
    if backend == "sqlite":
        # sqlite3's `with` ends a transaction; `closing` closes the connection.
        with closing(sqlite3.connect(target, isolation_level=None)) as conn:
            conn.executescript(script)
        return
    with psycopg.connect(plain_url(target)) as conn:
        conn.execute(script)  # type: ignore[call-overload]


def test_migrate_sql_prints_a_script_that_builds_the_schema(
    sql_backend: str,
    fresh_target: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`conversa migrate --sql` changes nothing; its script, run by hand, gives a current schema."""
    url = fresh_target if sql_backend == "postgres" else f"sqlite:///{fresh_target}"
    assert main(["migrate", url, "--sql"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("BEGIN;")
    assert script.rstrip().endswith("COMMIT;")
    assert "CREATE TABLE conversa_turns" in script
    opened = (
        PostgresStore(fresh_target, migrate="off")
        if sql_backend == "postgres"
        else SQLiteStore(fresh_target, migrate="off")
    )
    with opened as store:
        assert "conversa_migrations" not in inspect(store.engine).get_table_names()
    _run_script(sql_backend, fresh_target, script)
    assert main(["migrate", url, "--sql"]) == 0
    assert "is current" in capsys.readouterr().out
    assert main(["migrate", url]) == 0
    assert "is current" in capsys.readouterr().out
    checked = (
        PostgresStore(fresh_target, migrate="check")
        if sql_backend == "postgres"
        else SQLiteStore(fresh_target, migrate="check")
    )
    with checked as store:
        assert store.list().items == ()


def test_migrate_reports_what_it_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`conversa migrate` applies the missing migrations once, then says the schema is current."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["--store", url, "migrate"]) == 0
    assert f"applied {SCHEMA_VERSION} migrations" in capsys.readouterr().out
    assert main(["migrate", url]) == 0
    assert "is current" in capsys.readouterr().out
