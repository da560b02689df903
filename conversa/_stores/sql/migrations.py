"""Schema versions: forward migrations applied when a SQL store opens.

Following llm, each migration is a function `mNNN_name(conn)` that spells out its
own DDL (never the live SQLModel tables, which describe only the newest schema),
registered with `@migration` and recorded in `conversa_migrations` (version, name,
applied_at) once applied. `migrate` runs the missing ones, in order, in one
transaction, and refuses a database whose newest version is unknown here
(`SchemaVersionError`): it was written by a newer conversa.

Two processes opening a database at once must not race, so `migrate` runs under
the database's own write lock: on PostgreSQL a transaction-level advisory lock
keyed by the schema name (released at commit), on SQLite `BEGIN IMMEDIATE` (the
caller's transaction). DDL is transactional on both, so a failed migration leaves
the previous version intact.

A store opens with `migrate="auto"` (apply what is missing, the default),
`"check"` (`check`: read `conversa_migrations` and refuse a schema that is behind
with `SchemaVersionError`, running no DDL, so a role with only SELECT, INSERT,
UPDATE and DELETE can open it) or `"off"` (trust the deploy). Deploy pipelines
apply them with `conversa migrate URL`, or print them with `--sql` (`render`,
which records the statements the migrations would run instead of running them).

Options chosen at migration time travel in `MigrationOptions`: on PostgreSQL,
`turn_partitions=N` makes `conversa_turns` a table hash-partitioned by
conversation id into N partitions when migration 1 creates it (see
`_turns_partitioning`); a database made without it keeps its plain table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

from attrs import frozen
from sqlalchemy import Connection, text

from ..._exceptions import InvalidInputError, SchemaVersionError
from ..._values.turns import utcnow

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "MigrateMode",
    "MigrationOptions",
    "applied_versions",
    "check",
    "migrate",
    "migration",
    "open_schema",
    "render",
    "table_exists",
]

Migration = Callable[[Connection], None]

#: How a store treats the schema when it opens: see the module docstring.
MigrateMode = Literal["auto", "check", "off"]
MIGRATE_MODES = ("auto", "check", "off")

#: `Connection.info` key under which `migrate` hands its options to the migrations.
_OPTIONS_KEY = "conversa.migration_options"


@frozen
class MigrationOptions:
    """Choices made once, when the migrations create the tables.

    Attributes:
        turn_partitions: PostgreSQL only: hash-partition `conversa_turns` by
            conversation id into this many partitions (None: a plain table).
    """

    turn_partitions: int | None = None

    def __attrs_post_init__(self) -> None:
        n = self.turn_partitions
        if n is not None and not 2 <= n <= 1024:
            msg = f"turn_partitions must be an integer from 2 to 1024, not {n!r}"
            raise InvalidInputError(msg)


def _options(conn: Connection) -> MigrationOptions:
    found = conn.info.get(_OPTIONS_KEY)
    return found if isinstance(found, MigrationOptions) else MigrationOptions()


#: version -> migration, filled by `@migration`.
MIGRATIONS: dict[int, Migration] = {}


def migration(fn: Migration) -> Migration:
    """Register *fn*, named `mNNN_what`, as the migration to version NNN."""
    version = int(fn.__name__[1:4])
    if version in MIGRATIONS:  # pragma: no cover - a programming error caught at import
        msg = f"two migrations for version {version}"
        raise RuntimeError(msg)
    MIGRATIONS[version] = fn
    return fn


def _types(conn: Connection) -> dict[str, str]:
    """The column types that differ between the two backends."""
    if conn.dialect.name == "postgresql":
        return {"json": "JSONB", "time": "TIMESTAMP WITH TIME ZONE"}
    return {"json": "JSON", "time": "DATETIME"}


def _turns_partitioning(conn: Connection) -> str:
    """The PARTITION BY clause of `conversa_turns`, when partitions were asked for.

    Hash partitioning by conversation id keeps each conversation's turns in one
    partition, so every hot-path statement (all of them name one conversation)
    touches one partition, and each partition's indexes stay a fraction of the
    whole. Both unique keys include the partition key, as PostgreSQL requires.
    """
    n = _options(conn).turn_partitions
    if n is None:
        return ""
    if conn.dialect.name != "postgresql":
        msg = "turn_partitions needs PostgreSQL (SQLite has no partitioned tables)"
        raise InvalidInputError(msg)
    return " PARTITION BY HASH (conversation_id)"


def _create_turn_partitions(conn: Connection) -> None:
    n = _options(conn).turn_partitions
    for i in range(n or 0):
        conn.exec_driver_sql(
            f"CREATE TABLE conversa_turns_p{i:03d} PARTITION OF conversa_turns "
            f"FOR VALUES WITH (MODULUS {n}, REMAINDER {i})"
        )


@migration
def m001_initial(conn: Connection) -> None:
    """Create conversations, turns and lock leases."""
    t = _types(conn)
    # Every table leads with the conversation id: the shard key on a distributed
    # PostgreSQL. The record's app metadata is JSONB on PostgreSQL because listings
    # filter on it; every other JSON column is TEXT, kept byte for byte.
    conn.exec_driver_sql(
        f"""CREATE TABLE conversa_conversations (
            id VARCHAR NOT NULL,
            owner VARCHAR,
            metadata {t["json"]} NOT NULL,
            model VARCHAR NOT NULL,
            system TEXT,
            params TEXT NOT NULL,
            capabilities TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            parent_id VARCHAR,
            forked_at INTEGER,
            flags TEXT NOT NULL,
            created_at {t["time"]} NOT NULL,
            updated_at {t["time"]} NOT NULL,
            PRIMARY KEY (id)
        )"""
    )
    # Listing pages newest first by (created_at, id), by owner or across owners.
    conn.exec_driver_sql(
        "CREATE INDEX ix_conversa_conversations_owner "
        "ON conversa_conversations (owner, created_at, id)"
    )
    conn.exec_driver_sql(
        "CREATE INDEX ix_conversa_conversations_created "
        "ON conversa_conversations (created_at, id)"
    )
    # Turn content is the JSON text blocks_to_json made, never re-encoded (JSONB
    # would reorder keys, and the prompt cache hashes bytes). tokens is never NULL:
    # the estimate is stored when no exact count is known, with tokens_exact false.
    conn.exec_driver_sql(
        f"""CREATE TABLE conversa_turns (
            conversation_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            turn_id VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            content TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            tokens_exact BOOLEAN NOT NULL,
            status VARCHAR NOT NULL,
            flags TEXT NOT NULL,
            message_id VARCHAR,
            model VARCHAR,
            stop_reason VARCHAR,
            stop_sequence TEXT,
            usage TEXT,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_creation_input_tokens INTEGER,
            cache_read_input_tokens INTEGER,
            request_id VARCHAR,
            response_extra TEXT,
            created_at {t["time"]} NOT NULL,
            CONSTRAINT pk_conversa_turns PRIMARY KEY (conversation_id, seq),
            CONSTRAINT uq_conversa_turns_turn_id UNIQUE (conversation_id, turn_id),
            CONSTRAINT fk_conversa_turns_conversation FOREIGN KEY (conversation_id)
                REFERENCES conversa_conversations (id)
        ){_turns_partitioning(conn)}"""
    )
    _create_turn_partitions(conn)
    # One lease row per held exclusive section; expires_at is epoch seconds by the
    # database clock.
    conn.exec_driver_sql(
        """CREATE TABLE conversa_locks (
            conversation_id VARCHAR NOT NULL,
            holder VARCHAR NOT NULL,
            expires_at FLOAT NOT NULL,
            PRIMARY KEY (conversation_id)
        )"""
    )


@migration
def m002_erased_at(conn: Connection) -> None:
    """Add the erasure tombstone: `conversa_conversations.erased_at`."""
    # Set when an erase or a purge hides a conversation (one transaction), before
    # its turns are deleted in batches; every read and write treats a row that
    # has it as missing. Nullable with no default: PostgreSQL adds it without
    # rewriting the table, and the rows of existing conversations read NULL.
    # Not indexed: purge scans the table, and an index on the updated time would
    # cost every append (which moves it) its HOT update on PostgreSQL.
    conn.exec_driver_sql(
        f"ALTER TABLE conversa_conversations ADD COLUMN erased_at {_types(conn)['time']}"
    )


@migration
def m003_encryption(conn: Connection) -> None:
    """Add encryption at rest: the rows' `key_id` and the `conversa_keys` registry."""
    # key_id names the key that sealed a row's encrypted columns (NULL: plaintext),
    # so `conversa encrypt` and `conversa rekey` find what is left to do and resume
    # where they stopped. Nullable with no default: added without a table rewrite,
    # and every existing row reads NULL (plaintext, as it is).
    for table in ("conversa_conversations", "conversa_turns"):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN key_id VARCHAR")
    # One row per key id a store made current: an HMAC of a fixed label under the
    # key, so a store given another key under that id refuses to open (see
    # `crypto.py`). The key itself is never stored.
    conn.exec_driver_sql(
        """CREATE TABLE conversa_keys (
            key_id VARCHAR NOT NULL,
            check_value VARCHAR NOT NULL,
            PRIMARY KEY (key_id)
        )"""
    )


@migration
def m004_turn_id_index(conn: Connection) -> None:
    """On PostgreSQL, lead the turn id's unique index with the turn id."""
    # Turns are read by conversation and seq, down the primary key. With the turn
    # id's index also leading with the conversation id, PostgreSQL's planner took
    # it for a conversation its statistics did not know yet (a fork, a bulk
    # import, a new one: estimated at one row) and filtered every turn of it. Led
    # by the turn id, the index still serves lookups by (conversation, turn ids)
    # and still includes the shard and partition key. SQLite's planner keeps to
    # the key that matches more terms, and would need the table rebuilt to change
    # an inline constraint, so SQLite keeps its index. The index is rebuilt under
    # the table's lock: on a large table, run `conversa migrate` in a quiet hour.
    # Two statements (one transaction): Citus refuses an ALTER TABLE that adds a
    # constraint beside another subcommand. New ids are time-ordered (`new_id`),
    # so appends write at the index's end, not at random pages of it.
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(
        "ALTER TABLE conversa_turns DROP CONSTRAINT uq_conversa_turns_turn_id"
    )
    conn.exec_driver_sql(
        "ALTER TABLE conversa_turns ADD CONSTRAINT uq_conversa_turns_turn_id"
        " UNIQUE (turn_id, conversation_id)"
    )


@migration
def m005_lease_on_record(conn: Connection) -> None:
    """Keep a conversation's lease on its own row; drop `conversa_locks`."""
    # A lease on the record's row is checked by the very UPDATE that moves the
    # record: on PostgreSQL a writer that waited for the row re-checks its WHERE
    # on the row as committed (READ COMMITTED's recheck), lease included, so an
    # add needs no row lock and no second statement to see a lease taken while it
    # waited, and the append is one statement. Nullable, no default: added without
    # a table rewrite. Leases held while this runs move over; a process of an
    # older conversa still running fails its next lease call (the table is gone)
    # rather than miss a lease, so deploy it with the old workers stopped.
    # lease_expires is epoch seconds by the database clock, as expires_at was.
    for column, kind in (("lease_holder", "VARCHAR"), ("lease_expires", "FLOAT")):
        conn.exec_driver_sql(
            f"ALTER TABLE conversa_conversations ADD COLUMN {column} {kind}"
        )
    conn.exec_driver_sql(
        "UPDATE conversa_conversations SET"
        " lease_holder = (SELECT holder FROM conversa_locks"
        " WHERE conversa_locks.conversation_id = conversa_conversations.id),"
        " lease_expires = (SELECT expires_at FROM conversa_locks"
        " WHERE conversa_locks.conversation_id = conversa_conversations.id)"
        " WHERE id IN (SELECT conversation_id FROM conversa_locks)"
    )
    conn.exec_driver_sql("DROP TABLE conversa_locks")


@migration
def m006_no_turn_foreign_key(conn: Connection) -> None:
    """On PostgreSQL, drop the turns' foreign key to their conversation."""
    # Every statement that writes turns holds the conversation's row first, in the
    # same transaction: an append's UPDATE moves the record and inserts only if it
    # moved (`_fast_append_sql`), the careful append reads it FOR UPDATE, a fork
    # or an import inserts the record before its turns, and an erase sets the
    # tombstone (which every write checks) before it deletes a turn. So no turn
    # can name a missing conversation, and the key's trigger only re-checked, on
    # every inserted turn, the row the append had just updated: a second lock on
    # it (FOR KEY SHARE) and its WAL record, about a tenth of an append's time on
    # the server. SQLite's check is one lookup in the record's index and would
    # need the table rebuilt to drop: it stays.
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(
        "ALTER TABLE conversa_turns DROP CONSTRAINT fk_conversa_turns_conversation"
    )


#: The newest schema version this conversa knows.
SCHEMA_VERSION = max(MIGRATIONS)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
            {"key": "conversa.migrations:"},
        )


def _create_bookkeeping(conn: Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS conversa_migrations ("
        "version INTEGER NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, "
        f"applied_at {_types(conn)['time']} NOT NULL)"
    )


def _record(conn: Connection, version: int) -> None:
    conn.execute(
        text(
            "INSERT INTO conversa_migrations (version, name, applied_at) "
            "VALUES (:version, :name, :applied_at)"
        ),
        {
            "version": version,
            "name": MIGRATIONS[version].__name__,
            "applied_at": utcnow().isoformat(),
        },
    )


def table_exists(conn: Connection, name: str) -> bool:
    """Tell whether the table *name* exists (in the current schema), reading only."""
    if conn.dialect.name == "postgresql":
        found = conn.execute(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}
        ).scalar()
    else:
        found = conn.execute(
            text(
                "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'table' AND name = :name"
            ),
            {"name": name},
        ).scalar()
    return bool(found)


def applied_versions(conn: Connection) -> set[int] | None:
    """Return the versions `conversa_migrations` records; None when it does not exist.

    Reads only: no DDL, no lock.
    """
    if not table_exists(conn, "conversa_migrations"):
        return None
    return {
        row[0] for row in conn.execute(text("SELECT version FROM conversa_migrations"))
    }


def _pending(applied: set[int]) -> list[int]:
    found = max(applied, default=0)
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(found=found, known=SCHEMA_VERSION)
    return [v for v in sorted(MIGRATIONS) if v not in applied]


def check(conn: Connection) -> None:
    """Refuse a schema this conversa cannot use as it stands, running no DDL.

    Raises:
        SchemaVersionError: migrations are missing (`found < known`: run
            `conversa migrate`), or the database is newer than this conversa.
    """
    applied = applied_versions(conn) or set()
    missing = _pending(applied)
    if missing:
        raise SchemaVersionError(found=max(applied, default=0), known=SCHEMA_VERSION)


def migrate(conn: Connection, options: MigrationOptions | None = None) -> int:
    """Bring the database up to `SCHEMA_VERSION` inside the caller's transaction.

    On SQLite the caller must have begun the transaction with `BEGIN IMMEDIATE`.
    A current schema costs one read and no DDL (so a role without DDL rights can
    open a database someone else migrated); otherwise, under the migration lock,
    the missing migrations run in order, *options* applying to the tables they
    create.

    Returns:
        The number of migrations applied (0 when the schema was current).

    Raises:
        SchemaVersionError: the database has a version newer than `SCHEMA_VERSION`.
    """
    applied = applied_versions(conn)
    if applied is not None and not _pending(applied):
        return 0
    _lock(conn)
    _create_bookkeeping(conn)
    applied = applied_versions(conn) or set()
    missing = _pending(applied)
    conn.info[_OPTIONS_KEY] = options or MigrationOptions()
    try:
        for version in missing:
            MIGRATIONS[version](conn)
            _record(conn, version)
    finally:
        conn.info.pop(_OPTIONS_KEY, None)
    return len(missing)


def open_schema(
    conn: Connection, mode: MigrateMode, options: MigrationOptions | None = None
) -> None:
    """What a store does to the schema when it opens, by *mode* (see the module)."""
    if mode not in MIGRATE_MODES:
        msg = f"migrate must be 'auto', 'check' or 'off', not {mode!r}"
        raise InvalidInputError(msg)
    if mode == "auto":
        migrate(conn, options)
    elif mode == "check":
        check(conn)


class _Recorder:
    """Stands in for a `Connection`: keeps the DDL migrations would run."""

    def __init__(self, dialect: Any, options: MigrationOptions) -> None:
        self.dialect = dialect
        self.info: dict[str, Any] = {_OPTIONS_KEY: options}
        self.statements: list[str] = []

    def exec_driver_sql(self, statement: str) -> None:
        self.statements.append(
            " ".join(line.strip() for line in statement.splitlines())
        )


def render(
    conn: Connection, options: MigrationOptions | None = None
) -> tuple[int, str]:
    """Return how many migrations are missing and the SQL script that applies them.

    Reads `conversa_migrations` through *conn* and runs nothing else: the script
    (one transaction, ending with COMMIT) is for a DBA or a deploy tool to run.
    """
    applied = applied_versions(conn)
    missing = _pending(applied or set())
    recorder = _Recorder(conn.dialect, options or MigrationOptions())
    lines = ["BEGIN;"]
    if conn.dialect.name == "postgresql":
        lines.append(
            "SELECT pg_advisory_xact_lock(hashtext("
            "'conversa.migrations:' || current_schema()));"
        )
    fake = cast(Connection, recorder)
    _create_bookkeeping(fake)
    for version in missing:
        MIGRATIONS[version](fake)
        name = MIGRATIONS[version].__name__
        recorder.statements.append(  # our own int and function name: no injection
            "INSERT INTO conversa_migrations (version, name, applied_at) "  # noqa: S608
            f"VALUES ({version}, '{name}', CURRENT_TIMESTAMP)"
        )
    lines += [f"{statement};" for statement in recorder.statements]
    lines.append("COMMIT;")
    return len(missing), "\n".join(lines) + "\n"
