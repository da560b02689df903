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
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from ..._exceptions import SchemaVersionError
from ..._values.turns import utcnow

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "migration"]

Migration = Callable[[Connection], None]

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
        )"""
    )
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


#: The newest schema version this conversa knows.
SCHEMA_VERSION = max(MIGRATIONS)


def migrate(conn: Connection) -> int:
    """Bring the database up to `SCHEMA_VERSION` inside the caller's transaction.

    On SQLite the caller must have begun the transaction with `BEGIN IMMEDIATE`.

    Returns:
        The number of migrations applied (0 when the schema was current).

    Raises:
        SchemaVersionError: the database has a version newer than `SCHEMA_VERSION`.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key || current_schema()))"),
            {"key": "conversa.migrations:"},
        )
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS conversa_migrations ("
        "version INTEGER NOT NULL PRIMARY KEY, name VARCHAR NOT NULL, "
        f"applied_at {_types(conn)['time']} NOT NULL)"
    )
    applied = {
        row[0] for row in conn.execute(text("SELECT version FROM conversa_migrations"))
    }
    found = max(applied, default=0)
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(found=found, known=SCHEMA_VERSION)
    missing = [v for v in sorted(MIGRATIONS) if v not in applied]
    for version in missing:
        MIGRATIONS[version](conn)
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
    return len(missing)
