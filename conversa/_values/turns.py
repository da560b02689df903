"""Turns, usage and the conversation record.

A `Turn` is what a store keeps: one user or assistant message, its blocks (content,
never changed once stored) and its bookkeeping (token count, status, flags: these may
change). Turns of one conversation are numbered by a gapless `seq` starting at 1.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypeAlias, TypeVar

from attrs import evolve, field, fields, frozen, validators

from .blocks import PLAIN_TEXT_KEYS, Block, TextBlock, blocks_from_api, to_blocks
from .jsontext import compact_json
from .params import RequestParams

__all__ = [
    "RETRACTS_KEY",
    "ConversationRecord",
    # Re-exported while the stores and the CLI still take it from here; its home
    # is `conversa._values.params`.
    "RequestParams",
    "Role",
    "Turn",
    "TurnKind",
    "TurnStatus",
    "TurnUpdate",
    "Usage",
    "UsageTotals",
    "blocks_to_json",
    "copied",
    "new_id",
    "remembered",
    "replaced",
    "reply_id_for",
    "seqs_of",
    "utcnow",
    "with_json",
]

Role: TypeAlias = Literal["user", "assistant"]
TurnKind: TypeAlias = Literal["message", "summary", "retraction"]
TurnStatus: TypeAlias = Literal["complete", "interrupted"]


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """Return a fresh id: 32 hex digits, in the layout of a version 7 UUID.

    The first 48 bits are the Unix time in milliseconds and 74 of the rest are
    random (`os.urandom`, as `secrets` draws them), so ids sort by creation time
    (to the millisecond) and still cannot be guessed. Time order keeps a store's
    indexes on ids appended at one end, as a sequence would, rather than written
    at random pages across them: PostgreSQL's unique index on (turn_id,
    conversation_id) and the records' key.

    The random part is drawn for `_DRAWN` ids at once (one system call, not one
    an id) and each is used once: a forked child drops its parent's.
    """
    try:
        rand = _RANDOM.popleft()
    except IndexError:
        rand = _draw()
    return f"{(time.time_ns() // 1_000_000 & _MILLIS) << 80 | rand:032x}"


def _draw() -> int:
    """Fill `_RANDOM` with the random bits of `_DRAWN` ids; return one more."""
    drawn = os.urandom(10 * (_DRAWN + 1))
    # The version, 7, over 4 of the 80 bits; the variant, 0b10, over 2 more.
    bits = [
        int.from_bytes(drawn[i : i + 10], "big") & _RANDOM_BITS | _VERSION_VARIANT
        for i in range(0, len(drawn), 10)
    ]
    _RANDOM.extend(bits[1:])
    return bits[0]


_MILLIS = (1 << 48) - 1
_RANDOM_BITS = ~(0xF << 76 | 0xC << 60) & (1 << 80) - 1
_VERSION_VARIANT = 0x7 << 76 | 0x8 << 60
_DRAWN = 64
#: Random bits not used yet (`new_id`): popped, so two threads never share any.
_RANDOM: deque[int] = deque()
if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_RANDOM.clear)


def with_json(turn: Turn) -> Turn:
    """*turn*, its content's JSON text made now (`Turn.content_json`).

    For a turn just built (an add's), whose text a store needs next: made here,
    it is kept without the miss `content_json` first meets (an AttributeError
    raised and caught, several times the cost of a hit).
    """
    _keep_json(turn)
    return turn


def _keep_json(turn: Turn) -> str:
    """Make *turn*'s content JSON text and keep it in its slot (`_KeepsJSON`)."""
    text = blocks_to_json(turn.blocks)
    object.__setattr__(turn, "_json", text)
    return text


def reply_id_for(user_turn_id: str) -> str:
    """Return the id of the assistant turn that answers *user_turn_id*.

    Deriving it makes a double-submitted send idempotent end to end: the second
    submission finds the reply already stored and returns it instead of calling the API.
    """
    return f"{user_turn_id}.reply"


#: What was worked out of each turn value (`remembered`), by `id`, each dropped
#: with its turn.
_REMEMBERED: dict[int, dict[str, Any]] = {}


def remembered(turn: Turn) -> dict[str, Any]:
    """What the core worked out of *turn*, kept as long as the value lives.

    A turn never changes, and the stores hand back the same value for a row read
    again, so a send's window is worked out once, not on every send: each user
    keeps its results under a key of its own (`calibrate`, `body_json`).
    """
    key = id(turn)
    found = _REMEMBERED.get(key)
    if found is None:
        found = _REMEMBERED[key] = {}
        weakref.finalize(turn, _REMEMBERED.pop, key, None)
    return found


#: The fields a store sets on a turn it places (`replaced` copies the rest as is).
_PLACED = frozenset(("seq", "created_at", "tokens", "tokens_exact", "status"))


def replaced(turn: Turn, **changes: Any) -> Turn:
    """`attrs.evolve`, keeping the content's JSON text when the blocks stay.

    The text is computed once per turn value (`Turn.content_json`); a copy given a
    seq, a count or a time has the same blocks, so it takes the text along rather
    than encoding them again. Such a copy (only `_PLACED` fields changed, to values
    of their types) is made slot by slot (`copied`): every other field is the
    checked value of *turn*, and evolve would run the checks and converters of
    all of them again (an append places each turn it stores).
    """
    if changes.keys() <= _PLACED and type(turn) is Turn:
        new = copied(turn, changes)
    else:
        new = evolve(turn, **changes)
    if "blocks" not in changes:
        try:
            text = object.__getattribute__(turn, "_json")
        except AttributeError:  # not computed yet
            return new
        object.__setattr__(new, "_json", text)
    return new


def copied(value: _Frozen, changes: Mapping[str, Any]) -> _Frozen:
    """A copy of *value* (a slotted attrs class's) with *changes*, unchecked.

    For changes the caller knows are of the fields' types (a seq, a time, a
    count): the other fields are *value*'s, checked when it was made, and attrs'
    `evolve` would check and convert them all again. The copy is made by a
    function written once per class, one line per field (`_copier`), as attrs
    writes its own methods.
    """
    cls = type(value)
    copy = _COPIERS.get(cls)
    if copy is None:
        copy = _COPIERS[cls] = _copier(cls)
    new: _Frozen = copy(value)
    for name, change in changes.items():
        object.__setattr__(new, name, change)
    return new


_Frozen = TypeVar("_Frozen")
_COPIERS: dict[type, Callable[[Any], Any]] = {}


def _copier(cls: type) -> Callable[[Any], Any]:
    """The function copying an instance of *cls* field by field (`copied`)."""
    lines = [f"    set_(new, {a.name!r}, old.{a.name})" for a in fields(cls)]
    source = "def copy(old):\n    new = new_(cls)\n" + "\n".join(lines)
    scope: dict[str, Any] = {
        "new_": object.__new__,
        "set_": object.__setattr__,
        "cls": cls,
    }
    exec(source + "\n    return new\n", scope)  # noqa: S102 - the class's own field names
    copy: Callable[[Any], Any] = scope["copy"]
    return copy


def blocks_to_json(blocks: Iterable[Block]) -> str:
    """Serialize blocks as the JSON text a store keeps (key order preserved)."""
    if isinstance(blocks, tuple) and len(blocks) == 1:
        block = blocks[0]
        if (
            type(block) is TextBlock
            and not block.extra
            and block.keys in PLAIN_TEXT_KEYS
        ):
            # The usual turn, one plain text block: the same text, built around
            # the encoded string rather than from a list holding a dict.
            return _TEXT_JSON % _json_string(block.text)
    return compact_json([b.to_api() for b in blocks])


_TEXT_JSON = '[{"type":"text","text":%s}]'
#: `json.dumps(text, ensure_ascii=False)` without the encoder it makes each call.
_encode_string: Callable[[str], str] = json.encoder.encode_basestring


def _json_string(text: str) -> str:
    """`json.dumps(text, ensure_ascii=False)`, sooner for ASCII text with nothing to escape.

    JSON escapes only quotes, backslashes and control characters. For ASCII text
    (a flag the string carries: no scan), deleting those bytes from its encoding
    and finding the length unchanged is one pass in C, under half the encoder's
    work; `str.isprintable` cost more than the encoder itself.
    """
    if text.isascii():
        raw = text.encode("ascii")
        if len(raw.translate(None, _ESCAPED)) == len(raw):
            return f'"{text}"'
    return _encode_string(text)


#: The ASCII bytes JSON escapes: control characters, the quote and the backslash.
_ESCAPED = bytes(range(0x20)) + b'"\\'


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@frozen
class Usage:
    """Token usage the API reported for one call.

    `input_tokens` counts only what came after the last cache breakpoint; the whole
    prompt is `total_input_tokens` (input + cache reads + cache writes).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    raw: Mapping[str, Any] = field(factory=dict, eq=False, hash=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Usage:
        """Read usage from the API's `usage` object, keeping all of it in `raw`."""
        return cls(
            _int(data.get("input_tokens")),
            _int(data.get("output_tokens")),
            _int(data.get("cache_creation_input_tokens")),
            _int(data.get("cache_read_input_tokens")),
            raw=dict(data),
        )

    def to_api(self) -> dict[str, Any]:
        """Return the API form (the raw object when there is one)."""
        if self.raw:
            return dict(self.raw)
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

    @property
    def total_input_tokens(self) -> int:
        """The size of the whole prompt: input plus cache reads and writes."""
        return (
            self.input_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


@frozen
class UsageTotals:
    """Usage summed over the calls of a conversation."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def add(self, usage: Usage) -> UsageTotals:
        """Return these totals with one more call's *usage*."""
        return UsageTotals(
            self.calls + 1,
            self.input_tokens + usage.input_tokens,
            self.output_tokens + usage.output_tokens,
            self.cache_creation_input_tokens + usage.cache_creation_input_tokens,
            self.cache_read_input_tokens + usage.cache_read_input_tokens,
        )


#: The flag a retraction keeps the seqs it hides under (`settings.RETRACTS`).
RETRACTS_KEY = "retracts"


def seqs_of(value: Any) -> tuple[int, ...] | None:
    """A retraction's stored seqs as a tuple; None unless a list of seqs."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(seq, int) for seq in value
    ):
        return None
    return tuple(value)


def _to_blocks(content: Any) -> tuple[Block, ...]:
    return to_blocks(content)


class _KeepsJSON:
    """The slot `Turn.content_json` keeps its text in, once computed.

    Not a field: never stored, compared, copied by `evolve`, shown or pickled.
    A plain slot of a base class, not a `functools.cached_property`: for one,
    attrs gives the class a `__getattr__`, and every attribute read of every
    turn then takes Python's slow way (about three times the cost).
    """

    __slots__ = ("_json",)
    _json: str


@frozen
class Turn(_KeepsJSON):
    """One stored message of a conversation.

    Attributes:
        role: "user" or "assistant".
        blocks: the content; never changes once stored.
        id: the client-made id, unique within the conversation (the idempotency key).
        seq: the position the store gave it (1, 2, ...); None before it is stored.
        created_at: when it was made (UTC).
        kind: "message"; "summary", a summary of turns the window dropped; or
            "retraction", a marker that hides the turns `retracts` names from
            every later replay (stored with role "user" and no blocks; never sent).
        message_id, model, stop_reason, stop_sequence, usage, request_id: for an
            assistant turn folded from an API reply.
        response_extra: the reply's other top-level fields (stop_details, container,
            diagnostics), kept verbatim.
        tokens, tokens_exact, status, flags: bookkeeping a store may update later.
    """

    role: Role = field(validator=validators.in_(("user", "assistant")))
    blocks: tuple[Block, ...] = field(converter=_to_blocks)
    id: str = field(factory=new_id, kw_only=True)
    seq: int | None = field(default=None, kw_only=True)
    created_at: datetime = field(factory=utcnow, kw_only=True, eq=False)
    kind: TurnKind = field(default="message", kw_only=True)
    message_id: str | None = field(default=None, kw_only=True)
    model: str | None = field(default=None, kw_only=True)
    stop_reason: str | None = field(default=None, kw_only=True)
    stop_sequence: str | None = field(default=None, kw_only=True)
    usage: Usage | None = field(default=None, kw_only=True)
    request_id: str | None = field(default=None, kw_only=True)
    response_extra: Mapping[str, Any] = field(
        factory=dict, kw_only=True, hash=False, repr=False
    )
    tokens: int | None = field(default=None, kw_only=True, eq=False)
    tokens_exact: bool = field(default=False, kw_only=True, eq=False)
    status: TurnStatus = field(default="complete", kw_only=True, eq=False)
    flags: Mapping[str, Any] = field(
        factory=dict, kw_only=True, hash=False, eq=False, repr=False
    )

    @property
    def text(self) -> str:
        """The turn's text blocks joined together (thinking and tool calls left out)."""
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    @property
    def retracts(self) -> tuple[int, ...]:
        """The seqs a retraction hides from replay (empty for other kinds)."""
        if self.kind != "retraction":
            return ()
        return seqs_of(self.flags.get(RETRACTS_KEY, ())) or ()

    def content_json(self) -> str:
        """The content as the JSON text a store keeps."""
        # Computed once per value (blocks never change): the stores hand back the
        # same value for a row read again, and a send re-reads its window every
        # time (`_KeepsJSON`).
        try:
            return self._json
        except AttributeError:  # not yet
            return _keep_json(self)

    def same_content(self, other: Turn) -> bool:
        """Tell whether *other* is the same turn by content (for idempotent appends)."""
        return (
            self.id == other.id
            and self.role == other.role
            and self.kind == other.kind
            and self.content_json() == other.content_json()
        )

    def with_seq(self, seq: int) -> Turn:
        """Return this turn as stored at *seq*."""
        return replaced(self, seq=seq)

    @classmethod
    def from_content_json(cls, role: Role, content: str, **fields: Any) -> Turn:
        """Rebuild a turn from the JSON text a store kept."""
        return cls(role, blocks_from_api(json.loads(content)), **fields)


def _system(value: Any) -> str | tuple[Block, ...] | None:
    if value is None or isinstance(value, str):
        return value
    return to_blocks(value)


@frozen
class ConversationRecord:
    """What a store keeps about a conversation, apart from its turns.

    Attributes:
        id: the conversation id.
        model: the model replies come from (can change; the change is stored).
        system: the system prompt: a string, text blocks, or None.
        params: default request parameters.
        owner: the owning user or tenant, for listing and tenancy.
        metadata: the application's own metadata; never sent to the API.
        capabilities: per-conversation overrides of the model capability table.
        window_start: the first seq replayed (0: from the start); see the context budget.
        last_seq: the seq of the newest turn (0: no turns yet).
        parent_id, forked_at: the conversation this was forked from, and the seq.
        flags: conversa's own per-conversation settings and bookkeeping (the
            budget and cache configuration, exact system+tools token counts,
            pinned exchanges), one JSON object so later features need no migration.
    """

    id: str = field(factory=new_id)
    model: str = field(default="", kw_only=True)
    system: str | tuple[Block, ...] | None = field(
        default=None, converter=_system, kw_only=True
    )
    params: RequestParams = field(factory=RequestParams, kw_only=True)
    owner: str | None = field(default=None, kw_only=True)
    metadata: Mapping[str, Any] = field(factory=dict, kw_only=True, hash=False)
    capabilities: Mapping[str, Any] = field(factory=dict, kw_only=True, hash=False)
    window_start: int = field(default=0, kw_only=True)
    last_seq: int = field(default=0, kw_only=True)
    parent_id: str | None = field(default=None, kw_only=True)
    forked_at: int | None = field(default=None, kw_only=True)
    flags: Mapping[str, Any] = field(factory=dict, kw_only=True, hash=False)
    created_at: datetime = field(factory=utcnow, kw_only=True, eq=False)
    updated_at: datetime = field(factory=utcnow, kw_only=True, eq=False)

    def system_to_api(self) -> str | list[dict[str, Any]] | None:
        """The system prompt in the API's form."""
        if self.system is None or isinstance(self.system, str):
            return self.system
        return [b.to_api() for b in self.system]

    def system_json(self) -> str | None:
        """The system prompt as JSON text for storage (None when unset)."""
        value = self.system_to_api()
        return None if value is None else compact_json(value)


@frozen
class TurnUpdate:
    """A change to a stored turn's bookkeeping (never its content).

    Fields left as None are not changed; *flags* are merged into the stored flags.
    """

    seq: int
    tokens: int | None = None
    tokens_exact: bool | None = None
    status: TurnStatus | None = None
    flags: Mapping[str, Any] | None = None
