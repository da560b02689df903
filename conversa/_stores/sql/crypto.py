"""Encryption at rest for the SQL stores: AES-256-GCM on the content columns.

An encode/decode layer, and nothing else: the flows (`statements.py`) hand the
values they write and the rows they read to a `Codec` when the store has one, and
do no extra work when it has none. Encrypted are a turn's `content`, and a record's
`system` and `params` (request parameters, tools included), and its `metadata` when
the application asks; every other column (ids, roles, seqs, token counts, usage,
times, owner) stays plaintext, so windows, listings, usage sums, erasure and
retention work as before.

A sealed value is text: ``cv1:<key id>:<nonce and ciphertext, base64>``, and for
turn content ``cv1:<key id>:<HMAC, base64>:<nonce and ciphertext>``. The associated
data binds it to its conversation id, its seq (0 for the record), its column and
its key id, and a turn's content also to its turn id, role and kind, so a value
copied to another row, conversation or column, or a turn whose role was flipped,
does not decrypt. The row's `key_id` column names the key too, for `conversa
rekey` and `conversa encrypt` to find what is left to do (`keyring.reseal`).

The HMAC (keyed with a key derived from the same key, over the conversation id,
turn id and content) lets a retried append (the same turn id again) be compared
with what is stored without decrypting it: two ciphertexts of one content differ
(fresh nonces), their HMACs do not.

Each key id's key is registered in `conversa_keys` (`keyring.check_keys`) with a
check value (an HMAC of a fixed label) the first time a store makes it current: a
store given another key under that id refuses to open, and a store given no keys
refuses a database that has any. Decryption restores the exact text that was
encrypted, so replay stays byte-identical.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, cast

from ..._exceptions import EncryptionError, InvalidInputError, TurnIdConflictError
from ..._values.turns import ConversationRecord, Turn
from .raw import (
    CACHED_CONTENT,
    CACHED_TURNS,
    INSERT_COLUMNS,
    Seeds,
    seedable,
    sql,
    sqlite_insert_sql,
    turn_from_tuple,
    turn_row,
)
from .schema import record_values

__all__ = [
    "CHECK_LABEL",
    "ENV_KEYS",
    "ENV_KEYS_FILE",
    "ENV_METADATA",
    "Codec",
    "Encryption",
    "MetadataMode",
    "Slot",
    "TurnPlace",
    "codec_of",
]

#: The environment variable the command line reads keys from (see `Encryption.parse`).
ENV_KEYS = "CONVERSA_ENCRYPTION_KEYS"
#: ... or the file it names.
ENV_KEYS_FILE = "CONVERSA_ENCRYPTION_KEYS_FILE"
#: "encrypted" makes the command line's keys encrypt metadata too.
ENV_METADATA = "CONVERSA_ENCRYPTION_METADATA"

MetadataMode = Literal["plain", "encrypted"]

_INSTALL = (
    "encryption needs the cryptography package: pip install 'conversa-state[encrypt]'"
)
_PREFIX = "cv1:"
_KEY_BYTES = 32
_NONCE = 12
_ID_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
)
#: The wrapper a sealed metadata value is kept in (the column is JSON).
_META_KEY = "$encrypted"
#: What a key's check value (`conversa_keys`, see `keyring.py`) is the HMAC of.
CHECK_LABEL = b"conversa key check v1"


def _b64(data: bytes) -> str:
    # `base64.b64encode`'s own call, without its frame (on every sealed value).
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _check_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not key_id or not set(key_id) <= _ID_CHARS:
        msg = (
            f"a key id is 1 or more of the characters A-Z a-z 0-9 _ . -, not {key_id!r}"
        )
        raise InvalidInputError(msg)
    return key_id


class Encryption:
    """The keys a SQL store encrypts its content with (AES-256-GCM).

    Pass it as ``encryption=`` to `SQLiteStore` or `PostgresStore`. The keys come
    from the application (a secrets manager, a KMS-unwrapped data key, an
    environment variable): conversa never stores them, shows them or logs them.

    Example::

        keys = Encryption({"2026-12": key}, current="2026-12")
        store = PostgresStore(url, encryption=keys)

    Args:
        keys: key id -> 32 random bytes (`Encryption.generate_key()`). Keep every
            key some row may still use: rows carry the id of the key that sealed
            them, and `conversa rekey` moves them all to *current*.
        current: the id of the key new values are encrypted with.
        metadata: `"plain"` (the default) keeps the record's `metadata` in the
            clear, so listings filter on it; `"encrypted"` encrypts it too, and a
            `list(metadata=...)` filter then raises `EncryptionError`.

    Attributes:
        keys: the keys by id (read-only; left out of `repr`).
        current: the id of the key new values are encrypted with.
        metadata: `"plain"` or `"encrypted"`.

    Raises:
        InvalidInputError: a key is not 32 bytes, *current* is not among the
            keys, or a key id has characters other than A-Z a-z 0-9 _ . -.
        ImportError: the `cryptography` package is missing (install the
            ``encrypt`` extra).
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        current: str,
        metadata: MetadataMode = "plain",
    ) -> None:
        try:
            import cryptography  # noqa: F401 - fail here, not at the first write
        except ImportError as exc:  # pragma: no cover - the extra is in dev
            raise ImportError(_INSTALL) from exc
        if metadata not in ("plain", "encrypted"):
            msg = f"metadata must be 'plain' or 'encrypted', not {metadata!r}"
            raise InvalidInputError(msg)
        if _check_id(current) not in keys:
            msg = f"the current key id {current!r} is not among the keys {sorted(keys)}"
            raise InvalidInputError(msg)
        for key_id, key in keys.items():
            _check_id(key_id)
            given: object = key  # typed bytes; checked, since keys come from config
            if not isinstance(given, bytes | bytearray) or len(given) != _KEY_BYTES:
                msg = f"key {key_id!r} must be {_KEY_BYTES} bytes (AES-256)"
                raise InvalidInputError(msg)
        self.keys: Mapping[str, bytes] = MappingProxyType(
            {key_id: bytes(key) for key_id, key in keys.items()}
        )
        self.current = current
        self.metadata: MetadataMode = metadata

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys, sorted."""
        return tuple(sorted(self.keys))

    def __repr__(self) -> str:
        return (
            f"Encryption(current={self.current!r}, key_ids={list(self.key_ids)!r}, "
            f"metadata={self.metadata!r})"
        )

    @staticmethod
    def generate_key() -> bytes:
        """Return a new random key (32 bytes from the operating system's CSPRNG)."""
        return os.urandom(_KEY_BYTES)

    @classmethod
    def parse(cls, value: str, *, metadata: MetadataMode = "plain") -> Encryption:
        """Read keys from text: ``id:base64key`` entries, the first one current.

        Entries are separated by commas or whitespace (a file may hold one a line;
        lines starting with ``#`` are comments). This is the format of
        `CONVERSA_ENCRYPTION_KEYS` and of the file `CONVERSA_ENCRYPTION_KEYS_FILE`
        names.

        Raises:
            InvalidInputError: no entries, an entry without ``:``, a key that is
                not base64, or of the wrong length (the key is never quoted).
        """
        keys: dict[str, bytes] = {}
        current: str | None = None
        lines = (
            line for line in value.splitlines() if not line.lstrip().startswith("#")
        )
        for entry in " ".join(lines).replace(",", " ").split():
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                msg = "an encryption key entry is id:base64key (no ':' found)"
                raise InvalidInputError(msg)
            try:
                keys[_check_id(key_id)] = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                msg = f"encryption key {key_id!r} is not valid base64"
                raise InvalidInputError(msg) from None
            if current is None:
                current = key_id
        if current is None:
            msg = "no encryption keys given (id:base64key, the first one current)"
            raise InvalidInputError(msg)
        return cls(keys, current=current, metadata=metadata)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Encryption | None:
        """Read keys from `CONVERSA_ENCRYPTION_KEYS`, or the file `..._FILE` names.

        `CONVERSA_ENCRYPTION_METADATA=encrypted` encrypts metadata too. Returns
        None when neither variable names keys (the command line then opens stores
        without encryption).
        """
        env = os.environ if environ is None else environ
        metadata = cast(MetadataMode, env.get(ENV_METADATA) or "plain")
        if env.get(ENV_KEYS):
            return cls.parse(env[ENV_KEYS], metadata=metadata)
        path = env.get(ENV_KEYS_FILE)
        if path:
            try:
                with open(path, encoding="utf-8") as handle:  # noqa: PTH123
                    content = handle.read()
            except OSError as exc:
                msg = f"{ENV_KEYS_FILE}: cannot read {path!r} ({exc.strerror})"
                raise InvalidInputError(msg) from None
            return cls.parse(content, metadata=metadata)
        return None


def _derive(key: bytes, purpose: bytes) -> bytes:
    """A 32-byte subkey of *key* for *purpose* (HKDF-SHA256), so no key serves two."""
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    info = b"conversa " + purpose
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=info).derive(key)


class Slot(NamedTuple):
    """Where a sealed value lives: what its associated data binds it to."""

    conversation_id: str
    #: The turn's seq; 0 for the record's columns.
    seq: int
    column: str
    #: A turn's content is also bound to its turn id, role and kind, which never
    #: change (a flipped role is refused too).
    bound: tuple[str, ...] = ()

    def aad(self, key_id: str) -> bytes:
        """The associated data of a value sealed with *key_id* here."""
        parts = ("conversa", self.conversation_id, str(self.seq), self.column)
        return "\0".join((*parts, key_id, *self.bound)).encode()

    def where(self) -> str:
        """The slot in words, for error messages."""
        at = f"turn {self.seq} of " if self.seq else ""
        return f"the {self.column} of {at}conversation {self.conversation_id!r}"


#: A turn's (seq, turn id, role, kind): what its content is bound to.
TurnPlace = tuple[int, str, str, str]


def _content_slot(conversation_id: str, place: TurnPlace) -> Slot:
    seq, turn_id, role, kind = place
    return Slot(conversation_id, seq, "content", (turn_id, role, kind))


#: The turn insert of an encrypted store: the usual columns and the key id.
_KEYED_COLUMNS = (*INSERT_COLUMNS, "key_id")
INSERT_KEYED_SQL = sql(
    f"INSERT INTO conversa_turns ({', '.join(_KEYED_COLUMNS)}) VALUES ("  # noqa: S608
    + ", ".join(f"{{{c}}}" for c in _KEYED_COLUMNS)
    + ")"
)
#: SQLite's fast append of sealed turns, positional (`Codec.turn_rows`): sqlite3
#: binds a tuple in half the time of 23 names.
INSERT_KEYED_NEW_ROW_SQL = sqlite_insert_sql(_KEYED_COLUMNS)
INSERT_KEYED_UNREPLIED_ROW_SQL = sqlite_insert_sql(_KEYED_COLUMNS, replied=False)
#: Where a `raw.turn_row` holds the seq and the content.
_ROW_SEQ, _ROW_CONTENT = INSERT_COLUMNS.index("seq"), INSERT_COLUMNS.index("content")
#: The longest sealed content whose plaintext `Codec` keeps (base64 and the header
#: on top of what `raw` keeps).
_CACHED_SEALED = CACHED_CONTENT * 2
# Positions in a `raw.TURN_COLUMNS` row.
_SEQ, _TURN_ID, _ROLE, _KIND, _CONTENT = 0, 1, 2, 3, 4


class Codec:
    """Seals the values a SQL store writes and opens the rows it reads."""

    insert_sql = INSERT_KEYED_SQL
    #: SQLite's fast append of `turn_rows` (positional).
    insert_new_row_sql = INSERT_KEYED_NEW_ROW_SQL
    #: ... for a row with no reply's values (`raw.unreplied`).
    insert_unreplied_row_sql = INSERT_KEYED_UNREPLIED_ROW_SQL
    #: The columns of a `turn_rows` row, in order.
    keyed_columns: tuple[str, ...] = _KEYED_COLUMNS

    def __init__(self, encryption: Encryption) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.encryption = encryption
        # Two keys derived from each: one encrypts, one keys the HMACs.
        self._ciphers = {
            kid: AESGCM(_derive(key, b"aes-256-gcm"))
            for kid, key in encryption.keys.items()
        }
        self._macs = {
            kid: _derive(key, b"hmac-sha256") for kid, key in encryption.keys.items()
        }
        # A send re-reads its window every time: the turns' plaintext is kept for
        # the most recently read ciphertexts (authenticated, bound to their row),
        # as `raw.turn_from_tuple` keeps the turns it built.
        self._opened: Callable[[str, TurnPlace, str], str] = functools.lru_cache(
            maxsize=CACHED_TURNS
        )(self._open_content)
        # And the turn each of the most recently read rows opened to, by the row
        # as read (sealed: another ciphertext, key id or place is another row), so
        # a window read again costs one lookup a row, not a plaintext's and a turn's.
        self._rows: Callable[[str, tuple[Any, ...]], Turn] = functools.lru_cache(
            maxsize=CACHED_TURNS
        )(self._seeded_or_opened)
        # The turns this codec just sealed, by their rows (`raw.Seeds`): the first
        # read of a row an append wrote takes the turn, decrypting nothing.
        self.seeds = Seeds()

    def __repr__(self) -> str:
        return f"Codec({self.encryption!r})"

    def _cipher(self, key_id: str, where: str | Slot) -> Any:
        """The cipher of *key_id*; *where*: the value's slot, for the error."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            if isinstance(where, Slot):
                where = where.where()
            msg = (
                f"{where} is encrypted with key id {key_id!r}, which the keyring "
                f"lacks (it has {list(self.encryption.key_ids)}): add that key"
            )
            raise EncryptionError(msg)
        return cipher

    def _mac(self, key_id: str, data: bytes) -> bytes:
        return hmac.digest(self._macs[key_id], data, "sha256")  # one call, in C

    # -- values ---------------------------------------------------------------

    def seal(self, slot: Slot, value: str) -> str:
        """Encrypt *value*, bound to its *slot*."""
        kid = self.encryption.current
        cipher = self._cipher(kid, slot)  # its words only for an error
        nonce = os.urandom(_NONCE)
        sealed = cipher.encrypt(nonce, value.encode(), slot.aad(kid))
        return f"{_PREFIX}{kid}:{_b64(nonce + sealed)}"

    def open(self, slot: Slot, value: str) -> str:
        """Decrypt a sealed value; refuse a plaintext or altered one."""
        where = slot.where()
        parts = self._parts(value, where)
        kid, blob = parts[0], parts[-1]
        cipher = self._cipher(kid, where)
        try:
            raw = base64.b64decode(blob, validate=True)
            plain: bytes = cipher.decrypt(raw[:_NONCE], raw[_NONCE:], slot.aad(kid))
        except Exception:  # InvalidTag, bad base64, a short value: all one answer
            msg = (
                f"{where} does not decrypt with key {kid!r}: the key is wrong, or the "
                "row was altered or moved from another conversation, turn or column "
                "(or its turn id, role or kind changed)"
            )
            raise EncryptionError(msg) from None
        return plain.decode()

    @staticmethod
    def _parts(value: object, where: str) -> list[str]:
        if not isinstance(value, str) or not value.startswith(_PREFIX):
            msg = (
                f"{where} is not encrypted, but this store expects ciphertext: "
                "finish `conversa encrypt` on the database (or open it without "
                "encryption=)"
            )
            raise EncryptionError(msg)
        return value[len(_PREFIX) :].split(":")

    def content_mac(
        self, conversation_id: str, turn_id: str, content: str, key_id: str
    ) -> str:
        """The keyed HMAC a retried append is compared by."""
        data = "\0".join((conversation_id, turn_id, content)).encode()
        return _b64(self._mac(key_id, data))

    def check_value(self, key_id: str) -> str:
        """What `conversa_keys` keeps for *key_id*: an HMAC of a fixed label."""
        return _b64(self._mac(key_id, CHECK_LABEL))

    # -- turns ----------------------------------------------------------------

    def turn_params(
        self,
        conversation_id: str,
        turns: Iterable[Turn],
        dialect: str,
        *,
        seed: bool = False,
    ) -> list[dict[str, Any]]:
        """The parameters of `insert_sql` for *turns* (seqs set), content sealed."""
        rows = self.turn_rows(conversation_id, turns, dialect, seed=seed)
        return [dict(zip(_KEYED_COLUMNS, row, strict=True)) for row in rows]

    def turn_rows(
        self,
        conversation_id: str,
        turns: Iterable[Turn],
        dialect: str,
        *,
        seed: bool = False,
    ) -> list[tuple[Any, ...]]:
        """`turn_params` as rows, in the order of `INSERT_KEYED_NEW_ROW_SQL`;
        *seed*: keep the turns, as `raw.turn_row` does (`Seeds`)."""
        kid = self.encryption.current
        out = []
        for turn in turns:
            row = turn_row(conversation_id, turn, dialect, seed=False)
            place = (row[_ROW_SEQ], turn.id, turn.role, turn.kind)
            sealed = self.seal_content(conversation_id, place, row[_ROW_CONTENT])
            keyed = (*row[:_ROW_CONTENT], sealed, *row[_ROW_CONTENT + 1 :], kid)
            if seed and len(sealed) <= _CACHED_SEALED and seedable(turn):
                self.seeds.put(keyed, turn)  # as `open_turn` keeps
            out.append(keyed)
        return out

    def seal_content(self, conversation_id: str, place: TurnPlace, content: str) -> str:
        """Seal a turn's content text, its HMAC beside the ciphertext."""
        kid = self.encryption.current
        sealed = self.seal(_content_slot(conversation_id, place), content)
        mac = self.content_mac(conversation_id, place[1], content, kid)
        return f"{_PREFIX}{kid}:{mac}:{sealed[len(_PREFIX) + len(kid) + 1 :]}"

    def open_content(
        self,
        conversation_id: str,
        place: TurnPlace,
        content: object,
        *,
        keep: bool = True,
    ) -> str:
        """The exact text `seal_content` sealed.

        *keep* False: open it without keeping the plaintext (a long range read,
        `raw.KEPT_RANGE`: it would push every conversation's window out).
        """
        if keep and isinstance(content, str) and len(content) <= _CACHED_SEALED:
            return self._opened(conversation_id, place, content)
        return self._open_content(conversation_id, place, content)

    def _open_content(
        self, conversation_id: str, place: TurnPlace, content: object
    ) -> str:
        slot = _content_slot(conversation_id, place)
        kid, _mac, blob = self._turn_parts(content, slot.where())
        return self.open(slot, f"{_PREFIX}{kid}:{blob}")

    def open_turn(
        self, conversation_id: str, row: Sequence[Any], *, keep: bool = True
    ) -> Turn:
        """The turn a `TURN_COLUMNS` row stores, its content decrypted (*keep*:
        as `raw.turn_from_tuple`'s, for the plaintext too)."""
        if keep:
            values = tuple(row)
            content = values[_CONTENT]
            if isinstance(content, str) and len(content) <= _CACHED_SEALED:
                return self._rows(conversation_id, values)
        return self._open_row(conversation_id, row, keep=keep)

    def _seeded_or_opened(self, conversation_id: str, row: tuple[Any, ...]) -> Turn:
        # The row's ciphertext is bound to its conversation: so is its seed.
        seeded = self.seeds.take(row, conversation_id)
        return self._open_row(conversation_id, row) if seeded is None else seeded

    def _open_row(
        self, conversation_id: str, row: Sequence[Any], *, keep: bool = True
    ) -> Turn:
        values = list(row)
        place = (values[_SEQ], values[_TURN_ID], values[_ROLE], values[_KIND])
        values[_CONTENT] = self.open_content(
            conversation_id, place, values[_CONTENT], keep=keep
        )
        return turn_from_tuple(values, keep=keep)

    def _turn_parts(self, content: object, where: str) -> tuple[str, str, str]:
        parts = self._parts(content, where)
        if len(parts) != 3:  # key id, HMAC, ciphertext
            msg = f"{where} is not a sealed turn content: the row was altered"
            raise EncryptionError(msg)
        return parts[0], parts[1], parts[2]

    def open_turns(
        self,
        conversation_id: str,
        rows: Iterable[Sequence[Any]],
        incoming: Sequence[Turn] = (),
        *,
        keep: bool = True,
    ) -> list[Turn]:
        """Open *rows*; those a retried append sends again are compared by HMAC.

        *keep* False (a long range read): nothing opened is kept (`open_turn`).

        A stored row whose turn id is among *incoming*: if its role, kind and
        content HMAC equal the incoming turn's, the stored turn is rebuilt from
        the incoming content (equal, so nothing is decrypted); otherwise the
        append is a `TurnIdConflictError`, as unencrypted.
        """
        again: dict[str, list[Turn]] = {}
        for turn in incoming:
            again.setdefault(turn.id, []).append(turn)
        out = []
        for row in rows:
            sent = again.get(row[_TURN_ID])
            if not sent:
                out.append(self.open_turn(conversation_id, row, keep=keep))
                continue
            where = Slot(conversation_id, row[_SEQ], "content").where()
            kid, mac, _blob = self._turn_parts(row[_CONTENT], where)
            self._cipher(kid, where)  # a missing key is an error
            for turn in sent:
                same = (
                    turn.role == row[_ROLE]
                    and turn.kind == row[_KIND]
                    and hmac.compare_digest(
                        self.content_mac(
                            conversation_id, turn.id, turn.content_json(), kid
                        ),
                        mac,
                    )
                )
                if not same:
                    raise TurnIdConflictError(
                        conversation_id=conversation_id, turn_id=turn.id
                    )
            values = list(row)
            values[_CONTENT] = sent[0].content_json()
            out.append(turn_from_tuple(values, keep=keep))
        return out

    # -- records --------------------------------------------------------------

    def record_values(self, record: ConversationRecord) -> dict[str, Any]:
        """`schema.record_values`, with system, params (and metadata) sealed."""
        return self.seal_record(record_values(record))

    def seal_record(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Record column values (id, system, params, metadata) with those sealed."""
        out = dict(values)
        cid = out["id"]
        if out["system"] is not None:
            out["system"] = self.seal(Slot(cid, 0, "system"), out["system"])
        out["params"] = self.seal(Slot(cid, 0, "params"), out["params"])
        if self.encryption.metadata == "encrypted":
            plain = json.dumps(
                dict(out["metadata"]), ensure_ascii=False, separators=(",", ":")
            )
            out["metadata"] = {_META_KEY: self.seal(Slot(cid, 0, "metadata"), plain)}
        out["key_id"] = self.encryption.current
        return out

    def open_record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A record row (as `record_from_row` takes it) with its sealed columns opened."""
        out = dict(row)
        cid = out["id"]
        if out["system"] is not None:
            out["system"] = self.open(Slot(cid, 0, "system"), out["system"])
        out["params"] = self.open(Slot(cid, 0, "params"), out["params"])
        metadata = out["metadata"]
        if self.encryption.metadata == "encrypted" or _META_KEY in metadata:
            sealed = metadata.get(_META_KEY) if isinstance(metadata, Mapping) else None
            out["metadata"] = json.loads(
                self.open(Slot(cid, 0, "metadata"), sealed or "")
            )
        return out

    def check_filter(self, metadata: Mapping[str, Any] | None) -> None:
        """Refuse a metadata filter when metadata is encrypted."""
        if metadata and self.encryption.metadata == "encrypted":
            msg = (
                "this store encrypts conversation metadata, so listings cannot "
                "filter on it (open it with Encryption(..., metadata='plain') to "
                "keep metadata filterable)"
            )
            raise EncryptionError(msg)


def codec_of(encryption: object) -> Codec | None:
    """The codec a store runs with (None: encryption off, no work on the hot path)."""
    if encryption is None:
        return None
    if not isinstance(encryption, Encryption):
        msg = f"encryption must be an Encryption, not {type(encryption).__name__}"
        raise InvalidInputError(msg)
    return Codec(encryption)
