"""The SQL schema, one SQLModel metadata for SQLite and PostgreSQL, and row <-> value mapping.

Every table leads with the conversation id, the key a distributed PostgreSQL would
shard on. Turn content is TEXT holding exactly the JSON `blocks_to_json` produced:
JSONB would reorder keys and break the byte-exact replay the prompt cache needs. The
same goes for the system prompt, params, usage and the other JSON the API reads
back. Only the record's app `metadata`, which listings filter on, is JSONB on
PostgreSQL (plain JSON text on SQLite).

A turn's content never changes once stored; its bookkeeping (tokens, tokens_exact,
status, flags) lives in columns of its own, and `flags` is a JSON object that later
features extend without a migration. `tokens` is never NULL: a turn without a count
is stored with its estimate and `tokens_exact = false`, so a newest-first window is
a running sum over an index. The four usage counts are also kept in integer columns
so usage totals are one SQL aggregate. The record's own `flags` (conversa's
per-conversation settings and bookkeeping) are a JSON text column for the same
reason as the turns' flags.

The DDL the stores actually run is spelled out in `migrations.py`; a test checks it
builds exactly this metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..._values.jsontext import compact_json
from ..._values.params import RequestParams
from ..._values.turns import ConversationRecord, Role, Turn, Usage
from ..rules import as_utc

__all__ = [
    "CONVERSATIONS",
    "TURNS",
    "ConversationRow",
    "KeyRow",
    "TurnRow",
    "UTCDateTime",
    "record_from_row",
    "record_values",
    "turn_from_row",
    "turn_values",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both backends.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so the value is stored
    as naive UTC text (which also sorts correctly) and made aware again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Store UTC (naive on SQLite)."""
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        """Return an aware UTC datetime."""
        return None if value is None else as_utc(value)


_JSON_METADATA = JSON().with_variant(JSONB(), "postgresql")


class ConversationRow(SQLModel, table=True):
    """A conversation record: `conversa_conversations`."""

    __tablename__ = "conversa_conversations"
    __table_args__ = (
        Index("ix_conversa_conversations_owner", "owner", "created_at", "id"),
        Index("ix_conversa_conversations_created", "created_at", "id"),
    )

    id: str = Field(sa_column=Column("id", String, primary_key=True))
    owner: str | None = Field(
        default=None, sa_column=Column("owner", String, nullable=True)
    )
    meta: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("metadata", _JSON_METADATA, nullable=False),
    )
    model: str = Field(sa_column=Column("model", String, nullable=False))
    system: str | None = Field(
        default=None, sa_column=Column("system", Text, nullable=True)
    )
    params: str = Field(sa_column=Column("params", Text, nullable=False))
    capabilities: str = Field(sa_column=Column("capabilities", Text, nullable=False))
    window_start: int = Field(sa_column=Column("window_start", Integer, nullable=False))
    last_seq: int = Field(sa_column=Column("last_seq", Integer, nullable=False))
    parent_id: str | None = Field(
        default=None, sa_column=Column("parent_id", String, nullable=True)
    )
    forked_at: int | None = Field(
        default=None, sa_column=Column("forked_at", Integer, nullable=True)
    )
    flags: str = Field(sa_column=Column("flags", Text, nullable=False))
    created_at: datetime = Field(
        sa_column=Column("created_at", UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        sa_column=Column("updated_at", UTCDateTime, nullable=False)
    )
    # The erasure tombstone (migration 2): set, the conversation is hidden from
    # every read and write while an erase deletes it.
    erased_at: datetime | None = Field(
        default=None, sa_column=Column("erased_at", UTCDateTime, nullable=True)
    )
    # The key that sealed system, params (and metadata): NULL when plaintext
    # (migration 3; see `crypto.py`).
    key_id: str | None = Field(
        default=None, sa_column=Column("key_id", String, nullable=True)
    )
    # The exclusive section's lease (migration 5; see `lease.py`): who holds it,
    # and until when, in epoch seconds by the database's clock, so holders on
    # different hosts agree on when it ran out. NULL: never taken, or released.
    # Not part of the record value: only the lease's statements read them.
    lease_holder: str | None = Field(
        default=None, sa_column=Column("lease_holder", String, nullable=True)
    )
    lease_expires: float | None = Field(
        default=None, sa_column=Column("lease_expires", Float, nullable=True)
    )


class TurnRow(SQLModel, table=True):
    """A stored turn: `conversa_turns`, keyed (conversation_id, seq)."""

    __tablename__ = "conversa_turns"
    __table_args__ = (
        PrimaryKeyConstraint("conversation_id", "seq", name="pk_conversa_turns"),
        # Led by the turn id on PostgreSQL (migration 4), so that only the primary
        # key serves reads by conversation and seq; as migration 1 made it on SQLite.
        UniqueConstraint(
            "conversation_id", "turn_id", name="uq_conversa_turns_turn_id"
        ).ddl_if(dialect="sqlite"),
        UniqueConstraint(
            "turn_id", "conversation_id", name="uq_conversa_turns_turn_id"
        ).ddl_if(dialect="postgresql"),
        # SQLite only: on PostgreSQL every write of turns holds the record's row
        # already, and the key's check cost each append a second lock on it
        # (migration 6).
        ForeignKeyConstraint(
            ["conversation_id"],
            ["conversa_conversations.id"],
            name="fk_conversa_turns_conversation",
        ).ddl_if(dialect="sqlite"),
    )

    conversation_id: str = Field(
        sa_column=Column(
            "conversation_id",
            String,
            nullable=False,
        )
    )
    seq: int = Field(sa_column=Column("seq", Integer, nullable=False))
    turn_id: str = Field(sa_column=Column("turn_id", String, nullable=False))
    role: str = Field(sa_column=Column("role", String, nullable=False))
    kind: str = Field(sa_column=Column("kind", String, nullable=False))
    content: str = Field(sa_column=Column("content", Text, nullable=False))
    tokens: int = Field(sa_column=Column("tokens", Integer, nullable=False))
    tokens_exact: bool = Field(
        sa_column=Column("tokens_exact", Boolean, nullable=False)
    )
    status: str = Field(sa_column=Column("status", String, nullable=False))
    flags: str = Field(sa_column=Column("flags", Text, nullable=False))
    message_id: str | None = Field(
        default=None, sa_column=Column("message_id", String, nullable=True)
    )
    model: str | None = Field(
        default=None, sa_column=Column("model", String, nullable=True)
    )
    stop_reason: str | None = Field(
        default=None, sa_column=Column("stop_reason", String, nullable=True)
    )
    stop_sequence: str | None = Field(
        default=None, sa_column=Column("stop_sequence", Text, nullable=True)
    )
    usage: str | None = Field(
        default=None, sa_column=Column("usage", Text, nullable=True)
    )
    input_tokens: int | None = Field(
        default=None, sa_column=Column("input_tokens", Integer, nullable=True)
    )
    output_tokens: int | None = Field(
        default=None, sa_column=Column("output_tokens", Integer, nullable=True)
    )
    cache_creation_input_tokens: int | None = Field(
        default=None,
        sa_column=Column("cache_creation_input_tokens", Integer, nullable=True),
    )
    cache_read_input_tokens: int | None = Field(
        default=None,
        sa_column=Column("cache_read_input_tokens", Integer, nullable=True),
    )
    request_id: str | None = Field(
        default=None, sa_column=Column("request_id", String, nullable=True)
    )
    response_extra: str | None = Field(
        default=None, sa_column=Column("response_extra", Text, nullable=True)
    )
    created_at: datetime = Field(
        sa_column=Column("created_at", UTCDateTime, nullable=False)
    )
    # The key that sealed the content: NULL when plaintext (migration 3).
    key_id: str | None = Field(
        default=None, sa_column=Column("key_id", String, nullable=True)
    )


class KeyRow(SQLModel, table=True):
    """A key id an encrypted store made current: `conversa_keys` (migration 3).

    `check_value` is an HMAC of a fixed label under the key: a store given another
    key under the same id refuses to open. The key itself is never stored.
    """

    __tablename__ = "conversa_keys"

    key_id: str = Field(sa_column=Column("key_id", String, primary_key=True))
    check_value: str = Field(sa_column=Column("check_value", String, nullable=False))


#: The tables, as SQLAlchemy Core sees them (the stores run Core statements on them).
CONVERSATIONS: Table = SQLModel.metadata.tables["conversa_conversations"]
TURNS: Table = SQLModel.metadata.tables["conversa_turns"]


def record_values(record: ConversationRecord) -> dict[str, Any]:
    """Return the column values that store *record*."""
    return {
        "id": record.id,
        "owner": record.owner,
        "metadata": dict(record.metadata),
        "model": record.model,
        "system": record.system_json(),
        "params": compact_json(record.params.to_json_dict()),
        "capabilities": compact_json(dict(record.capabilities)),
        "window_start": record.window_start,
        "last_seq": record.last_seq,
        "parent_id": record.parent_id,
        "forked_at": record.forked_at,
        "flags": compact_json(dict(record.flags)),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def record_from_row(row: Mapping[str, Any]) -> ConversationRecord:
    """Rebuild a record from its row (a mapping of column names)."""
    system = row["system"]
    return ConversationRecord(
        row["id"],
        model=row["model"],
        system=None if system is None else json.loads(system),
        params=RequestParams.from_json_dict(json.loads(row["params"])),
        owner=row["owner"],
        metadata=row["metadata"],
        capabilities=json.loads(row["capabilities"]),
        window_start=row["window_start"],
        last_seq=row["last_seq"],
        parent_id=row["parent_id"],
        forked_at=row["forked_at"],
        flags=json.loads(row["flags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def turn_values(conversation_id: str, turn: Turn) -> dict[str, Any]:
    """Return the column values that store *turn* (its seq and tokens already set)."""
    usage = turn.usage
    extra = turn.response_extra
    return {
        "conversation_id": conversation_id,
        "seq": turn.seq,
        "turn_id": turn.id,
        "role": turn.role,
        "kind": turn.kind,
        "content": turn.content_json(),
        "tokens": turn.tokens,
        "tokens_exact": turn.tokens_exact,
        "status": turn.status,
        "flags": compact_json(dict(turn.flags)),
        "message_id": turn.message_id,
        "model": turn.model,
        "stop_reason": turn.stop_reason,
        "stop_sequence": turn.stop_sequence,
        "usage": None if usage is None else compact_json(usage.to_api()),
        "input_tokens": None if usage is None else usage.input_tokens,
        "output_tokens": None if usage is None else usage.output_tokens,
        "cache_creation_input_tokens": (
            None if usage is None else usage.cache_creation_input_tokens
        ),
        "cache_read_input_tokens": None
        if usage is None
        else usage.cache_read_input_tokens,
        "request_id": turn.request_id,
        "response_extra": compact_json(dict(extra)) if extra else None,
        "created_at": turn.created_at,
    }


def turn_from_row(row: Mapping[str, Any]) -> Turn:
    """Rebuild a turn from its row (a mapping of column names)."""
    role: Role = "assistant" if row["role"] == "assistant" else "user"
    usage = row["usage"]
    extra = row["response_extra"]
    flags = row["flags"]
    return Turn.from_content_json(
        role,
        row["content"],
        id=row["turn_id"],
        seq=row["seq"],
        created_at=row["created_at"],
        kind=row["kind"],
        message_id=row["message_id"],
        model=row["model"],
        stop_reason=row["stop_reason"],
        stop_sequence=row["stop_sequence"],
        usage=None if usage is None else Usage.from_api(json.loads(usage)),
        request_id=row["request_id"],
        response_extra={} if extra is None else json.loads(extra),
        tokens=row["tokens"],
        tokens_exact=bool(row["tokens_exact"]),
        status=row["status"],
        flags={} if flags == "{}" else json.loads(flags),
    )
