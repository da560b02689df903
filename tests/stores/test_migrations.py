"""Schema versioning: the migrated schema, refusing newer ones, and racing openers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import SQLModel

from conversa._exceptions import ConversationBusyError, SchemaVersionError
from conversa._stores.sql.migrations import MIGRATIONS, SCHEMA_VERSION
from conversa._stores.sql.postgres import psycopg_url
from conversa._stores.sql.schema import ConversationRow, KeyRow, TurnRow
from conversa._values.turns import ConversationRecord, Turn
from tests.stores.workers import open_store

ROOT = Path(__file__).resolve().parents[2]
TABLES = [
    ConversationRow.__table__,
    TurnRow.__table__,
    KeyRow.__table__,
]  # type: ignore[attr-defined]


def _engine(backend: str, target: str) -> Engine:
    if backend == "sqlite":
        return create_engine(f"sqlite:///{target}")
    return create_engine(psycopg_url(target))


def _rows(backend: str, target: str, query: str) -> list[Any]:
    """What *query* reads from the database at *target*."""
    engine = _engine(backend, target)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(query)).all())
    finally:
        engine.dispose()


def describe(engine: Engine) -> dict[str, Any]:
    """The conversa tables as the database reports them: columns, keys, indexes."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if not table.startswith("conversa_") or table == "conversa_migrations":
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"])
                for c in insp.get_columns(table)
            ],
            "primary_key": insp.get_pk_constraint(table)["constrained_columns"],
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in insp.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(table)
            ),
        }
    return out


def test_migrated_schema_equals_the_models(
    sql_backend: str, fresh_target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The DDL the migrations run builds exactly the tables SQLModel describes."""
    open_store(sql_backend, fresh_target).close()
    if sql_backend == "sqlite":
        models = str(tmp_path / "models.db")
    else:
        from tests.stores.helpers import fresh_pg_schema

        schema_cm = fresh_pg_schema(request.getfixturevalue("pg_server"))
        models = schema_cm.__enter__()
        request.addfinalizer(lambda: schema_cm.__exit__(None, None, None))
    migrated_engine, models_engine = (
        _engine(sql_backend, fresh_target),
        _engine(sql_backend, models),
    )
    try:
        SQLModel.metadata.create_all(models_engine, tables=TABLES)
        migrated, expected = describe(migrated_engine), describe(models_engine)
    finally:
        migrated_engine.dispose()
        models_engine.dispose()
    assert set(expected) == {
        "conversa_conversations",
        "conversa_turns",
        "conversa_keys",
    }
    assert migrated == expected


def test_reopening_applies_nothing_twice(sql_backend: str, fresh_target: str) -> None:
    """A second open finds the schema current and records each version once."""
    open_store(sql_backend, fresh_target).close()
    open_store(sql_backend, fresh_target).close()
    rows = _rows(
        sql_backend, fresh_target, "SELECT version, name FROM conversa_migrations"
    )
    assert sorted(rows) == [(v, MIGRATIONS[v].__name__) for v in sorted(MIGRATIONS)]
    assert max(v for v, _ in rows) == SCHEMA_VERSION


def test_newer_schema_is_refused(sql_backend: str, fresh_target: str) -> None:
    """A database written by a newer conversa raises SchemaVersionError on open."""
    open_store(sql_backend, fresh_target).close()
    engine = _engine(sql_backend, fresh_target)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO conversa_migrations (version, name, applied_at) "
                    "VALUES (:v, 'm999_future', '2030-01-01 00:00:00')"
                ),
                {"v": SCHEMA_VERSION + 1},
            )
    finally:
        engine.dispose()
    with pytest.raises(SchemaVersionError) as info:
        open_store(sql_backend, fresh_target)
    assert (info.value.found, info.value.known) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    assert "upgrade conversa" in str(info.value)


def test_processes_opening_at_once_do_not_race(
    sql_backend: str, fresh_target: str
) -> None:
    """Six processes opening an empty database together all succeed, migrating it once."""
    procs = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "tests.stores.workers",
                "migrate",
                sql_backend,
                fresh_target,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in results]
    engine = _engine(sql_backend, fresh_target)
    try:
        with engine.connect() as conn:
            versions = conn.execute(
                text("SELECT version FROM conversa_migrations")
            ).scalars()
            assert sorted(versions) == sorted(MIGRATIONS)
    finally:
        engine.dispose()


def test_leases_held_at_migration_5_move_to_the_record(
    sql_backend: str, fresh_target: str
) -> None:
    """Migration 5 moves each lease from `conversa_locks` onto its conversation's
    row and drops the table: a section held when it ran stays held (a lock and a
    lease-waiting append are refused), a run-out lease stays run out, and a
    conversation that had none has none."""
    with open_store(sql_backend, fresh_target) as store:
        held, ran_out, free = (
            store.create(ConversationRecord(model="m")).id for _ in range(3)
        )
    engine = _engine(sql_backend, fresh_target)
    try:
        with engine.begin() as conn:  # back to version 4, with two leases
            for column in ("lease_holder", "lease_expires"):
                conn.exec_driver_sql(
                    f"ALTER TABLE conversa_conversations DROP COLUMN {column}"
                )
            conn.exec_driver_sql(
                "CREATE TABLE conversa_locks (conversation_id VARCHAR NOT NULL,"
                " holder VARCHAR NOT NULL, expires_at FLOAT NOT NULL,"
                " PRIMARY KEY (conversation_id))"
            )
            conn.execute(
                text(
                    "INSERT INTO conversa_locks VALUES (:held, 'a send', 4102444800),"
                    " (:ran_out, 'a dead send', 1)"
                ),
                {"held": held, "ran_out": ran_out},
            )
            conn.exec_driver_sql("DELETE FROM conversa_migrations WHERE version = 5")
    finally:
        engine.dispose()
    with open_store(sql_backend, fresh_target) as store:
        with pytest.raises(ConversationBusyError), store.lock(held, timeout=0):
            pytest.fail("entered a section held before the migration")
        with pytest.raises(ConversationBusyError):
            store.append(held, [Turn("user", "q")], lease_wait=0)
        for cid in (ran_out, free):
            with store.lock(cid, timeout=0):
                store.append(cid, [Turn("user", "q")])
    rows = _rows(
        sql_backend, fresh_target, "SELECT id, lease_holder FROM conversa_conversations"
    )
    engine = _engine(sql_backend, fresh_target)
    try:
        assert "conversa_locks" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert dict(rows) == {held: "a send", ran_out: None, free: None}
