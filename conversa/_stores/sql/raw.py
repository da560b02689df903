"""The hot path's statements as driver SQL, and the rows they read as values.

A send and an `add` spend their store time in a handful of statements: read the
record, read the window, append turns and move the last seq, take and give back the
lease. Those run as SQL text on the pooled connection's driver cursor (see
`runners.py`), with no statement compilation and no result processing; the
engine's cursor listeners still see them. Everything else goes through
SQLAlchemy Core on the SQLModel schema (`schema.py`, `statements.py`), which stays
the one definition of the tables and their migrations. A test checks that the two
paths read and write the same values.

A statement is written once with ``{name}`` placeholders and rendered for each
dialect's parameter style (``:name`` for sqlite3, ``%(name)s`` for psycopg).

Turns read back are built once per distinct row: the rows of a conversation's
window come back on every send, and a turn is an immutable value, so
`turn_from_tuple` keeps the most recently read rows (small ones only) and returns
the turn it built before, as MemoryStore returns the turns it keeps. A row an
append just wrote is not built at all: `turn_row` leaves the turn it was made from
with the row it reads back as (`Seeds`), and the first read of that row takes it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from attrs import frozen

from ..._values.blocks import RedactedThinkingBlock, TextBlock, ThinkingBlock
from ..._values.jsontext import compact_json
from ..._values.params import RequestParams
from ..._values.turns import ConversationRecord, Role, Turn, Usage, replaced
from ..rules import as_utc

__all__ = [
    "INSERT_COLUMNS",
    "KEPT_RANGE",
    "RECORD_COLUMNS",
    "SEEDS",
    "TURN_COLUMNS",
    "Batch",
    "Raw",
    "Seeds",
    "db_time",
    "record_columns",
    "record_from_tuple",
    "sql",
    "sqlite_insert_sql",
    "turn_from_tuple",
    "turn_params",
    "turn_row",
    "unreplied",
]

#: The longest range read whose turns `turn_from_tuple` keeps: a whole history
#: read (`turns()`, an export's pages) would push every conversation's window out.
KEPT_RANGE = 64
#: How many turn rows `turn_from_tuple` remembers, and the longest content it keeps.
CACHED_TURNS = 8192
CACHED_CONTENT = 4096

#: The columns the hot path reads, in order.
TURN_COLUMNS = (
    "seq",
    "turn_id",
    "role",
    "kind",
    "content",
    "tokens",
    "tokens_exact",
    "status",
    "flags",
    "message_id",
    "model",
    "stop_reason",
    "stop_sequence",
    "usage",
    "request_id",
    "response_extra",
    "created_at",
)
#: The columns an insert of a turn writes, in order (`turn_params`' keys).
INSERT_COLUMNS = (
    "conversation_id",
    "seq",
    "turn_id",
    "role",
    "kind",
    "content",
    "tokens",
    "tokens_exact",
    "status",
    "flags",
    "message_id",
    "model",
    "stop_reason",
    "stop_sequence",
    "usage",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "request_id",
    "response_extra",
    "created_at",
)
#: The columns of a reply's own values in an `INSERT_COLUMNS` row (one after
#: another): every one None on a turn that is not a reply (`unreplied`).
_REPLY = slice(
    INSERT_COLUMNS.index("message_id"), INSERT_COLUMNS.index("response_extra") + 1
)
_NO_REPLY = (None,) * (_REPLY.stop - _REPLY.start)
_EXACT = INSERT_COLUMNS.index("tokens_exact")


def sqlite_insert_sql(
    columns: Sequence[str], *, replied: bool = True
) -> dict[str, str]:
    """SQLite's positional insert of new turns (*columns*, `INSERT_COLUMNS` and
    maybe more after them), which skips a turn id already stored; not *replied*:
    with the reply's columns NULL in its text, for `unreplied` values."""
    nulls = () if replied else INSERT_COLUMNS[_REPLY]
    values = ", ".join("NULL" if c in nulls else "?" for c in columns)
    return {
        "sqlite": f"INSERT INTO conversa_turns ({', '.join(columns)})"  # noqa: S608
        f" VALUES ({values}) ON CONFLICT DO NOTHING"
    }


def unreplied(row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The values of *row* (`turn_row`'s, or a longer one) to bind to
    `sqlite_insert_sql(..., replied=False)`, if it holds no reply's values.

    sqlite3 binds a str or an int as it is, but looks for an adapter for None
    or a bool (about 2,000 instructions each, an exception raised and dropped
    inside): a user turn's row has eleven Nones and a bool. NULL in the text
    and the flag as an int store the same values.
    """
    if row[_REPLY] != _NO_REPLY:
        return None
    return (
        *row[:_EXACT],
        int(row[_EXACT]),
        *row[_EXACT + 1 : _REPLY.start],
        *row[_REPLY.stop :],
    )


#: The `TURN_COLUMNS` values of an `INSERT_COLUMNS` row: the row a read finds.
_READ_BACK: Callable[[Sequence[Any]], tuple[Any, ...]] = operator.itemgetter(
    *[INSERT_COLUMNS.index(c) for c in TURN_COLUMNS]
)
#: Where each column sits in an `INSERT_COLUMNS` row.
_INSERTED = {column: i for i, column in enumerate(INSERT_COLUMNS)}
#: The columns a turn's bookkeeping changes (`Seeds.changed`).
_BOOKKEEPING_COLUMNS = ("tokens", "tokens_exact", "status", "flags")
#: How many written turns `Seeds` holds until their rows are read.
SEEDED_TURNS = 128
RECORD_COLUMNS = (
    "id",
    "owner",
    "metadata",
    "model",
    "system",
    "params",
    "capabilities",
    "window_start",
    "last_seq",
    "parent_id",
    "forked_at",
    "flags",
    "created_at",
    "updated_at",
)


@frozen
class Raw:
    """A flow step: SQL text by dialect, run with `exec_driver_sql`.

    *params* is a mapping (named placeholders) or a tuple (positional ones, for
    a text of one dialect: SQLite's fast insert, `turn_row`), or a list of either
    for an executemany.
    """

    text: Mapping[str, str]
    params: (
        Mapping[str, Any]
        | tuple[Any, ...]
        | Sequence[Mapping[str, Any]]
        | Sequence[tuple[Any, ...]]
    ) = ()


@frozen
class Batch:
    """A flow step: `Raw` statements sent together; their results, in order.

    On PostgreSQL they go in one round trip (psycopg's pipeline mode: the server
    runs them one after another, each with its own snapshot, and a failure skips
    the rest); on SQLite, in-process, one after another.

    *commit*: the flow's transaction may end with this batch. A runner that sends
    the COMMIT itself (PostgreSQL's) puts it in the same round trip, and a step
    the flow yields after it runs in a new transaction; another runner commits at
    the flow's end as always. A flow sets it only where either is right: after a
    committing batch, it writes nothing that needed the batch's transaction.
    """

    steps: tuple[Raw, ...]
    commit: bool = False


def sql(template: str) -> dict[str, str]:
    """Render *template*'s ``{name}`` placeholders for each dialect's parameter style."""
    names = _placeholders(template)
    return {
        "sqlite": template.format(**{n: f":{n}" for n in names}),
        "postgresql": template.replace("%", "%%").format(
            **{n: f"%({n})s" for n in names}
        ),
    }


def _placeholders(template: str) -> list[str]:
    return [
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    ]


def db_time(value: datetime, dialect: str) -> Any:
    """A time as the column stores it: naive UTC text on SQLite (as `UTCDateTime`)."""
    if dialect == "sqlite":
        return sqlite_time(value)
    return as_utc(value)


def sqlite_time(value: datetime) -> str:
    """*value* as SQLAlchemy's SQLite DATETIME writes it, in UTC:
    2026-01-02 03:04:05.000006 (an aware time's ISO form, less its "+00:00").

    The text up to the second is kept from the last call: the times an add
    writes (its turn's, its record's) mostly fall in the second before, and
    formatting the microseconds alone costs half of `datetime.isoformat`.
    """
    if value.tzinfo is not timezone.utc:
        value = as_utc(value)
    second = (
        value.second,
        value.minute,
        value.hour,
        value.day,
        value.month,
        value.year,
    )
    last, text = _LAST_SECOND[0]
    if last != second:
        text = value.replace(microsecond=0, tzinfo=None).isoformat(" ") + "."
        _LAST_SECOND[0] = (second, text)  # one store: threads see a matching pair
    return f"{text}{value.microsecond:06d}"


#: The last second `sqlite_time` wrote, and its text.
_LAST_SECOND: list[tuple[tuple[int, ...], str]] = [((), "")]


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return as_utc(value)


def turn_params(
    conversation_id: str, turn: Turn, dialect: str, *, seed: bool = False
) -> dict[str, Any]:
    """The parameters that insert *turn* (its seq and tokens already set)."""
    row = turn_row(conversation_id, turn, dialect, seed=seed)
    return dict(zip(INSERT_COLUMNS, row, strict=True))


def turn_row(
    conversation_id: str, turn: Turn, dialect: str, *, seed: bool = False
) -> tuple[Any, ...]:
    """`turn_params`' values, in `INSERT_COLUMNS` order (a positional insert).

    *seed*: leave *turn* as the value its row reads back as (`Seeds`), so the
    first read of the row takes it rather than building it; an encrypted store's
    rows are sealed after this, and it seeds its own (`Codec.turn_rows`). The
    appends that seed are the ones no lease guards: a send's, whose turns its next
    send reads. An `add()`'s turn is not read back soon enough to pay for it.
    """
    usage = turn.usage
    extra = turn.response_extra
    flags = turn.flags
    row = (
        conversation_id,
        turn.seq,
        turn.id,
        turn.role,
        turn.kind,
        turn.content_json(),
        turn.tokens,
        bool(turn.tokens_exact),
        turn.status,
        compact_json(dict(flags)) if flags else "{}",
        turn.message_id,
        turn.model,
        turn.stop_reason,
        turn.stop_sequence,
        None if usage is None else compact_json(usage.to_api()),
        None if usage is None else usage.input_tokens,
        None if usage is None else usage.output_tokens,
        None if usage is None else usage.cache_creation_input_tokens,
        None if usage is None else usage.cache_read_input_tokens,
        turn.request_id,
        compact_json(dict(extra)) if extra else None,
        db_time(turn.created_at, dialect),
    )
    if seed and len(row[5]) <= CACHED_CONTENT and seedable(turn):
        SEEDS.put(row, turn)
    return row


def seedable(turn: Turn) -> bool:
    """Whether *turn* is the very value its `INSERT_COLUMNS` row decodes to
    (`_build_turn`), so a read of the row may return it (`Seeds`).

    Equal is not enough: every value must be of the very type decoding gives
    (`str`, not a subclass; `dict`, not a read-only mapping; `int`, not a bool or
    an enum), and come back from its JSON as it is (`_json_exact`: a tuple would
    come back a list, a number key a string). So only turns of string blocks (text
    with no other fields, thinking) whose usage, flags and reply fields pass;
    anything else is built from its row, as ever.
    """
    typed: tuple[tuple[object, type], ...] = (
        (turn.tokens, int),
        (turn.tokens_exact, bool),
        (turn.id, str),
        (turn.role, str),
        (turn.kind, str),
        (turn.status, str),
    )
    for value, kind in typed:
        if type(value) is not kind:
            return False
    optional: tuple[object, ...] = (
        turn.message_id,
        turn.model,
        turn.stop_reason,
        turn.stop_sequence,
        turn.request_id,
    )
    for value in optional:
        if value is not None and type(value) is not str:
            return False
    created = turn.created_at
    if type(created) is not datetime or created.fold:
        return False
    for block in turn.blocks:
        names = _BLOCK_STRINGS.get(type(block))
        if names is None or getattr(block, "extra", None):
            return False
        for name in names:
            if type(getattr(block, name)) is not str:
                return False
    usage = turn.usage
    if usage is not None and not _exact_usage(usage):
        return False
    flags, extra = turn.flags, turn.response_extra
    return (
        type(flags) is dict
        and _json_exact(flags)
        and type(extra) is dict
        and _json_exact(extra)
    )


#: The string fields of the blocks `seedable` passes.
_BLOCK_STRINGS: Mapping[type, tuple[str, ...]] = {
    TextBlock: ("text",),
    ThinkingBlock: ("thinking", "signature"),
    RedactedThinkingBlock: ("data",),
}
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def _exact_usage(usage: Usage) -> bool:
    """Whether *usage* is what `Usage.from_api` makes of its JSON: the raw
    object as the API gave it, and the counts read from it."""
    raw = usage.raw
    return (
        type(usage) is Usage
        and type(raw) is dict
        and bool(raw)
        and _json_exact(raw)
        and all(type(getattr(usage, name)) is int for name in _COUNTS)
        and Usage.from_api(raw) == usage
    )


def _json_exact(value: Any) -> bool:
    """Whether *value* comes back from its JSON text as it is, of the same types."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return bool(value == value)  # NaN equals nothing, its decoding neither
    if kind is list:
        return all(_json_exact(item) for item in value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _json_exact(item):
                return False
        return True
    return False


class Seeds:
    """The turns inserts just wrote, with their rows, until each row is first read.

    A read that finds a row equal to the one written (every stored value of the
    turn: `_READ_BACK` of the insert's row) takes the turn the append returned,
    instead of decoding its content again. Kept by (turn id, seq), which is cheap
    to key on, and the whole row compared when read: a row that was not written
    after all (a rolled-back insert) is never found equal but by a row with the
    same values, which is the same turn. The bookkeeping an append writes over
    such a turn (a send's reply counting its user turn) moves the kept turn to
    its new values (`changed`). Bounded: full, the oldest goes.
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[tuple[str, int | None], tuple[Sequence[Any], Turn]] = {}

    def put(self, inserted: Sequence[Any], turn: Turn) -> None:
        """Keep *turn*, written as the `INSERT_COLUMNS` row *inserted* (or a row
        whose first `INSERT_COLUMNS` values are in that order)."""
        kept = self._kept
        kept[turn.id, turn.seq] = (inserted, turn)
        if len(kept) > SEEDED_TURNS:  # the oldest goes: dicts keep their order
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                del kept[next(iter(kept))]  # (another thread took it, or changed it)

    def clear(self) -> None:
        """Forget every kept turn."""
        self._kept.clear()

    def changed(self, turn_id: str, seq: int, bookkeeping: Mapping[str, Any]) -> None:
        """The turn written as (*turn_id*, *seq*) now has the *bookkeeping*
        column values written (tokens, tokens_exact, status, flags as text)."""
        found = self._kept.pop((turn_id, seq), None)
        if found is None:
            return
        inserted, turn = found
        tokens, status = bookkeeping["tokens"], bookkeeping["status"]
        if type(tokens) is not int or type(status) is not str:
            return  # not the types a read gives back: the row is built
        row = list(inserted)
        for column in _BOOKKEEPING_COLUMNS:
            row[_INSERTED[column]] = bookkeeping[column]
        flags = bookkeeping["flags"]
        turn = replaced(
            turn,
            tokens=tokens,
            tokens_exact=bool(bookkeeping["tokens_exact"]),
            status=status,
            flags={} if flags == "{}" else json.loads(flags),
        )
        self.put(row, turn)

    def take(
        self, row: tuple[Any, ...], conversation_id: str | None = None
    ) -> Turn | None:
        """The turn written as the `TURN_COLUMNS` *row*, once (None: none here);
        with *conversation_id*, only one written to that conversation."""
        key = (row[1], row[0])
        found = self._kept.get(key)
        if found is None or _READ_BACK(found[0]) != row:
            return None
        if conversation_id is not None and found[0][0] != conversation_id:
            return None
        self._kept.pop(key, None)
        return found[1]


#: The plaintext rows' seeds (`turn_row`, `turn_from_tuple`).
SEEDS = Seeds()


def _build_turn(row: tuple[Any, ...]) -> Turn:
    (
        seq,
        turn_id,
        role,
        kind,
        content,
        tokens,
        tokens_exact,
        status,
        flags,
        message_id,
        model,
        stop_reason,
        stop_sequence,
        usage,
        request_id,
        extra,
        created_at,
    ) = row
    checked: Role = "assistant" if role == "assistant" else "user"
    return Turn.from_content_json(
        checked,
        content,
        id=turn_id,
        seq=seq,
        created_at=_time(created_at),
        kind=kind,
        message_id=message_id,
        model=model,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        usage=None if usage is None else Usage.from_api(json.loads(usage)),
        request_id=request_id,
        response_extra={} if extra is None else json.loads(extra),
        tokens=tokens,
        tokens_exact=bool(tokens_exact),
        status=status,
        flags={} if flags == "{}" else json.loads(flags),
    )


def _seeded_or_built(row: tuple[Any, ...]) -> Turn:
    seeded = SEEDS.take(row)
    return _build_turn(row) if seeded is None else seeded


_cached_turn: Callable[[tuple[Any, ...]], Turn] = functools.lru_cache(
    maxsize=CACHED_TURNS
)(_seeded_or_built)


def turn_from_tuple(row: Sequence[Any], *, keep: bool = True) -> Turn:
    """Build the turn a `TURN_COLUMNS` row stores (the same value for the same row).

    *keep* False: build it without keeping it (a long range read, `KEPT_RANGE`).
    """
    values = tuple(row)
    if keep and len(values[4]) <= CACHED_CONTENT:
        return _cached_turn(values)
    return _build_turn(values)


def record_columns(row: Sequence[Any]) -> dict[str, Any]:
    """A `RECORD_COLUMNS` row as `schema.record_from_row` takes it (decoded metadata, aware times)."""
    out = dict(zip(RECORD_COLUMNS, row, strict=True))
    metadata = out["metadata"]
    if isinstance(metadata, str):
        out["metadata"] = json.loads(metadata)
    out["created_at"] = _time(out["created_at"])
    out["updated_at"] = _time(out["updated_at"])
    return out


def record_from_tuple(row: Sequence[Any]) -> ConversationRecord:
    """Build the record a `RECORD_COLUMNS` row stores."""
    (
        ident,
        owner,
        metadata,
        model,
        system,
        params,
        capabilities,
        window_start,
        last_seq,
        parent_id,
        forked_at,
        flags,
        created_at,
        updated_at,
    ) = row
    return ConversationRecord(
        ident,
        model=model,
        system=None if system is None else json.loads(system),
        params=RequestParams.from_json_dict(json.loads(params)),
        owner=owner,
        metadata=json.loads(metadata) if isinstance(metadata, str) else metadata,
        capabilities=json.loads(capabilities),
        window_start=window_start,
        last_seq=last_seq,
        parent_id=parent_id,
        forked_at=forked_at,
        flags=json.loads(flags),
        created_at=_time(created_at),
        updated_at=_time(updated_at),
    )
