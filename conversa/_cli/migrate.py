"""The `conversa migrate` command: apply the schema migrations, or print their SQL.

For deploy pipelines: migrate once, as a role that may change the schema, then
run the application as a role that may only read and write rows, opening its
stores with `migrate="check"` (or `"off"`). The store is opened without
migrating (`migrate="off"`); `--sql` reads which migrations the database has
and prints the script that would apply the rest, running nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._stores import PostgresStore, SQLiteStore, Store
from .._stores.errors import Where, store_errors
from .._stores.sql.migrations import SCHEMA_VERSION, MigrationOptions, migrate, render
from .._stores.sql.runners import WRITE_OPTION

__all__ = ["add_migrate_parser", "add_store_argument"]


def add_migrate_parser(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `migrate` through *add* (`_cli.main`'s subparser maker)."""
    p = add(
        "migrate",
        "apply conversa's schema migrations (or print their SQL with --sql)",
        description=(
            "Bring the store's schema up to this conversa's version, in one "
            "transaction, under the migration lock; with --sql, print the SQL "
            "instead, for a DBA or a deploy tool to run. Run it as a role that "
            "may create tables; the application can then open its stores with "
            "migrate='check' as a role that may only read and write rows."
        ),
    )
    add_store_argument(p)
    p.add_argument("--sql", action="store_true", help="print the SQL; change nothing")
    p.add_argument(
        "--turn-partitions",
        type=int,
        metavar="N",
        help=(
            "PostgreSQL: make conversa_turns hash-partitioned by conversation id "
            "into N partitions (only when this creates it, on an empty database)"
        ),
    )
    p.set_defaults(run=_cmd_migrate, store_migrate="off")


def add_store_argument(p: argparse.ArgumentParser) -> None:
    """The optional positional URL of the maintenance commands (`--store` otherwise)."""
    p.add_argument(
        "store",
        nargs="?",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="the store (default: --store)",
    )


def _cmd_migrate(store: Store, args: argparse.Namespace) -> int:
    if not isinstance(store, PostgresStore | SQLiteStore):  # pragma: no cover
        print(f"{type(store).__name__} has no schema to migrate")
        return 0
    engine = store.engine
    options = MigrationOptions(turn_partitions=args.turn_partitions)
    with store_errors(Where.for_engine(engine), "migrate"):
        if args.sql:
            with engine.connect() as conn, conn.begin():
                missing, script = render(conn, options)
            if missing:
                sys.stdout.write(script)
            else:
                print(f"-- the conversa schema is current (version {SCHEMA_VERSION})")
            return 0
        with engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                applied = migrate(conn, options)
    if applied:
        print(f"applied {applied} migrations: schema version {SCHEMA_VERSION}")
    else:
        print(f"the conversa schema is current (version {SCHEMA_VERSION})")
    return 0
