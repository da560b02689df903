"""The database side of encryption at rest: the key registry and converting rows.

`conversa_keys` (schema migration 3) holds one row per key id a store made
current, with a check value (`Codec.check_value`): `check_keys`, run when a store
opens, refuses a key that differs from the registered one under its id, a database
with registered keys opened without any, and registered ids the keyring lacks;
then registers the current key. Only the check value is stored, never a key.

`reseal` converts stored rows to the current key in place: plaintext ones
(`conversa encrypt`) or, with *rekey*, also those sealed with another key
(`conversa rekey`). It walks the conversations whose record is not yet under the
current key, by id; for each, in transactions of at most *batch* turns, it locks
the record row, rewrites the turns still to do, and in the last transaction the
record (system, params, metadata) too. Work done is committed as it goes and
found again by `key_id`, so an interrupted run, run again, carries on where it
stopped, and a finished one finds nothing to do. The record is sealed after its
turns, so a record under the current key means its conversation is done.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attrs import frozen
from sqlalchemy import Connection, Engine, bindparam, text, update

from ..._exceptions import EncryptionError
from .crypto import ENV_KEYS, Codec
from .migrations import MigrateMode, table_exists
from .raw import RECORD_COLUMNS, record_columns
from .runners import WRITE_OPTION
from .schema import CONVERSATIONS, TURNS

__all__ = ["Resealed", "check_keys", "open_keys", "reseal"]

#: Turns rewritten per transaction by default.
BATCH = 500
#: Conversations read per page while looking for work.
_PAGE = 100
_C, _T = CONVERSATIONS.c, TURNS.c


def _registered(conn: Connection) -> dict[str, str] | None:
    """The registered key ids and check values; None when the table is missing."""
    if not table_exists(conn, "conversa_keys"):
        return None
    rows = conn.execute(text("SELECT key_id, check_value FROM conversa_keys")).all()
    return {str(k): str(v) for k, v in rows}


def check_keys(conn: Connection, codec: Codec | None) -> None:
    """Verify the store's keys against the database's, registering the current one.

    Raises:
        EncryptionError: the database is encrypted and the store has no keys; a
            key differs from the one registered under its id; or the database
            registered key ids the keyring lacks (rows may use them).
    """
    registered = _registered(conn)
    if registered is None:
        if codec is not None:
            msg = (
                "the database's schema predates encryption: open it with migrate='auto'"
            )
            raise EncryptionError(msg)
        return
    if codec is None:
        if registered:
            msg = (
                f"the database is encrypted (key ids {sorted(registered)}): open "
                f"the store with encryption= (the command line reads {ENV_KEYS})"
            )
            raise EncryptionError(msg)
        return
    encryption = codec.encryption
    for key_id, value in sorted(registered.items()):
        if key_id in encryption.key_ids and codec.check_value(key_id) != value:
            msg = (
                f"key {key_id!r} is not the key the database registered under that "
                "id: a wrong key (nothing was written)"
            )
            raise EncryptionError(msg)
    missing = sorted(set(registered) - set(encryption.key_ids))
    if missing:
        msg = (
            f"the database has rows encrypted with key ids {missing}, which the "
            "keyring lacks: add those keys (after `conversa rekey` they can go)"
        )
        raise EncryptionError(msg)
    current = encryption.current
    if current not in registered:
        conn.execute(
            text(
                "INSERT INTO conversa_keys (key_id, check_value) VALUES (:k, :v)"
                " ON CONFLICT (key_id) DO NOTHING"
            ),
            {"k": current, "v": codec.check_value(current)},
        )
        if (_registered(conn) or {}).get(current) != codec.check_value(current):
            msg = f"another store registered a different key as {current!r} just now"
            raise EncryptionError(msg)


def open_keys(engine: Engine, codec: Codec | None, mode: MigrateMode) -> None:
    """`check_keys` in a transaction of its own (how a `SQLiteStore` opens).

    A store with keys checks them even with `migrate="off"` (a wrong key must not
    write); one without looks for registered keys unless the mode is "off".
    """
    if mode == "off" and codec is None:
        return
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: codec is not None})
        with conn.begin():
            check_keys(conn, codec)


@frozen
class Resealed:
    """What a `reseal` run rewrote: records and turns now under the current key."""

    conversations: int = 0
    turns: int = 0


def _todo(*, rekey: bool) -> str:
    """The rows still to do: plaintext, or (rekey) not under the current key."""
    return "(key_id IS NULL OR key_id <> :current)" if rekey else "key_id IS NULL"


def reseal(
    engine: Engine,
    codec: Codec,
    *,
    rekey: bool = False,
    batch: int = BATCH,
    progress: Callable[[Resealed], None] | None = None,
) -> Resealed:
    """Bring every stored row under the current key, resumably (see the module).

    *progress* is called after each committed transaction with the totals so far.
    With *rekey*, registrations of keys no row uses any more are dropped at the
    end, so the keyring can let them go.
    """
    current = codec.encryption.current
    done = Resealed()
    after = ""
    while True:
        with engine.connect() as conn:
            ids = (
                conn.execute(
                    text(
                        "SELECT id FROM conversa_conversations WHERE id > :after AND "  # noqa: S608 - constant SQL
                        f"{_todo(rekey=rekey)} ORDER BY id LIMIT {_PAGE}"
                    ),
                    {"after": after, "current": current},
                )
                .scalars()
                .all()
            )
        if not ids:
            break
        for conversation_id in ids:
            finished = False
            while not finished:
                turns, finished = _step(
                    engine, codec, conversation_id, rekey=rekey, batch=batch
                )
                done = Resealed(done.conversations + finished, done.turns + turns)
                if progress is not None:
                    progress(done)
        after = ids[-1]
    if rekey:
        _retire(engine, current)
    return done


def _step(
    engine: Engine,
    codec: Codec,
    conversation_id: str,
    *,
    rekey: bool,
    batch: int,
) -> tuple[int, bool]:
    """One transaction: up to *batch* turns, and the record once they are done."""
    current = codec.encryption.current
    dialect = engine.dialect.name
    lock = " FOR UPDATE" if dialect == "postgresql" else ""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            row = conn.execute(
                text(
                    f"SELECT {', '.join(RECORD_COLUMNS)}, key_id FROM "  # noqa: S608
                    f"conversa_conversations WHERE id = :cid{lock}"
                ),
                {"cid": conversation_id},
            ).first()
            if row is None:  # erased meanwhile
                return 0, True
            turns = conn.execute(
                text(
                    "SELECT seq, turn_id, role, kind, content, key_id FROM conversa_turns "  # noqa: S608
                    f"WHERE conversation_id = :cid AND {_todo(rekey=rekey)} "
                    f"ORDER BY seq LIMIT {int(batch)}"
                ),
                {"cid": conversation_id, "current": current},
            ).all()
            if turns:
                conn.execute(
                    update(TURNS)
                    .where(
                        _T.conversation_id == bindparam("cid"), _T.seq == bindparam("s")
                    )
                    .values(content=bindparam("sealed"), key_id=current),
                    [_resealed_turn(codec, conversation_id, t) for t in turns],
                )
            if len(turns) == batch:
                return len(turns), False
            _reseal_record(conn, codec, row)
    return len(turns), True


def _resealed_turn(codec: Codec, conversation_id: str, row: Any) -> dict[str, Any]:
    """A turn row's content sealed under the current key: the exact text it held."""
    seq, turn_id, role, kind, content, key_id = row
    place = (seq, turn_id, role, kind)
    if key_id is not None:
        content = codec.open_content(conversation_id, place, content)
    sealed = codec.seal_content(conversation_id, place, content)
    return {"cid": conversation_id, "s": seq, "sealed": sealed}


def _reseal_record(conn: Connection, codec: Codec, row: Any) -> None:
    """Seal the record's system, params (and metadata): the exact text they held."""
    columns = record_columns(row[:-1])
    if row[-1] is not None:
        columns = codec.open_record(columns)
    values = codec.seal_record(columns)
    conn.execute(
        update(CONVERSATIONS)
        .where(_C.id == values["id"])
        .values({k: values[k] for k in ("system", "params", "metadata", "key_id")})
    )


def _retire(engine: Engine, current: str) -> None:
    """Drop the registrations of keys no row uses any more.

    One key at a time, each a look for one row (no statement joins the registry
    to the sharded tables, which a distributed PostgreSQL would refuse).
    """
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            for key_id in sorted(set(_registered(conn) or {}) - {current}):
                used = any(
                    conn.execute(
                        text(f"SELECT 1 FROM {table} WHERE key_id = :k LIMIT 1"),  # noqa: S608 - our table names
                        {"k": key_id},
                    ).first()
                    for table in ("conversa_turns", "conversa_conversations")
                )
                if not used:
                    conn.execute(
                        text("DELETE FROM conversa_keys WHERE key_id = :k"),
                        {"k": key_id},
                    )
