"""The `conversa encrypt` and `conversa rekey` commands: encryption at rest.

Keys come from the environment, never from the command line (where `ps` and shell
histories would show them): `CONVERSA_ENCRYPTION_KEYS` holds ``id:base64key``
entries separated by commas, the first one current, or
`CONVERSA_ENCRYPTION_KEYS_FILE` names a file holding them (one a line);
`CONVERSA_ENCRYPTION_METADATA=encrypted` encrypts metadata too. Every command
opens its store with them, so `export`, `show` and the others read an encrypted
store; without them an encrypted store refuses to open.

`encrypt` seals every plaintext row under the current key; `rekey` also moves rows
sealed with another key to the current one, then forgets the keys no row uses.
Both commit as they go and carry on where an interrupted run stopped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .._exceptions import InvalidInputError
from .._stores import PostgresStore, SQLiteStore, Store
from .._stores.sql.crypto import ENV_KEYS, ENV_KEYS_FILE, Codec, Encryption
from .._stores.sql.keyring import BATCH, Resealed, reseal
from .migrate import add_store_argument

__all__ = ["add_encrypt_parsers", "encryption_from_env"]


def encryption_from_env() -> Encryption | None:
    """The keys the command line opens stores with (None: none are set)."""
    return Encryption.from_env()


def add_encrypt_parsers(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `encrypt` and `rekey` through *add* (`_cli.main`'s subparser maker)."""
    keys = f"keys from ${ENV_KEYS} (id:base64key,..., the first current) or ${ENV_KEYS_FILE}"
    for name, help_text, run in (
        (
            "encrypt",
            "encrypt a plaintext store in place (resumable)",
            _cmd_encrypt,
        ),
        (
            "rekey",
            "re-encrypt every row under the current key, then forget unused keys",
            _cmd_rekey,
        ),
    ):
        p = add(name, help_text, f"{help_text[0].upper()}{help_text[1:]}; {keys}.")
        add_store_argument(p)
        p.add_argument(
            "--batch",
            type=int,
            default=BATCH,
            metavar="N",
            help=f"turns rewritten per transaction (default {BATCH})",
        )
        p.set_defaults(run=run)


def _sealing(
    store: Store, command: str, batch: int
) -> tuple[SQLiteStore | PostgresStore, Encryption]:
    if not isinstance(store, SQLiteStore | PostgresStore):  # pragma: no cover
        msg = f"{type(store).__name__} stores nothing at rest to encrypt"
        raise InvalidInputError(msg)
    if store.encryption is None:
        msg = f"conversa {command} needs keys: set {ENV_KEYS} (id:base64key,...) or {ENV_KEYS_FILE}"
        raise InvalidInputError(msg)
    if batch < 1:
        msg = f"--batch must be at least 1, not {batch}"
        raise InvalidInputError(msg)
    return store, store.encryption


def _run(store: Store, args: argparse.Namespace, *, rekey: bool) -> int:
    command = "rekey" if rekey else "encrypt"
    sql, encryption = _sealing(store, command, args.batch)
    done = store_reseal(sql, rekey=rekey, batch=args.batch)
    verb = "re-encrypted" if rekey else "encrypted"
    print(
        f"{verb} {done.conversations} conversations, {done.turns} turns "
        f"under key {encryption.current!r}"
    )
    return 0


def store_reseal(
    store: SQLiteStore | PostgresStore, *, rekey: bool, batch: int
) -> Resealed:
    """Run `reseal` on *store*'s database, telling progress on stderr."""
    reported = [0]

    def progress(done: Resealed) -> None:
        if done.conversations >= reported[0] + 1000:
            reported[0] = done.conversations
            print(f"... {done.conversations} conversations", file=sys.stderr)

    encryption = store.encryption
    assert encryption is not None  # noqa: S101 - checked by _sealing
    return reseal(
        store.engine, Codec(encryption), rekey=rekey, batch=batch, progress=progress
    )


def _cmd_encrypt(store: Store, args: argparse.Namespace) -> int:
    return _run(store, args, rekey=False)


def _cmd_rekey(store: Store, args: argparse.Namespace) -> int:
    return _run(store, args, rekey=True)
