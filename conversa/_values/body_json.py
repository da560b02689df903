"""A request body's JSON text, with stored turns' content spliced in (pure).

A body goes out as compact UTF-8 JSON, keys in order, no NaN: ``json.dumps(body,
ensure_ascii=False, separators=(",", ":"), allow_nan=False)``, what httpx 0.28
and later send for ``json=``. That encodes every block of every message on every
call, though a conversation's history does not change between calls. A message
whose content is one turn's blocks exactly as stored has the JSON text of that
turn's content already (`Turn.content_json`, computed once per turn value, and a
store hands back the same value for a row read again), so `body_json` puts that
text in place of encoding the blocks again. The bytes are the same.

Only a `SplicedBody` is spliced, and only a message that is still the very dict
`normalize` made for it (`Normalized.sources`), holding the very content list, of
the turn's length, with string keys: a message the cache breakpoints marked is a
copy, and is encoded as usual. A `SplicedBody` is made for one call, just before
it goes out (`conversa._core.normalize.spliced`), and nothing in conversa changes
a body's dicts in place; a block changed in place inside that list would not be
seen (copy a message to change it). A copy of a `SplicedBody` is a plain dict,
and a body handed to callers (`request()`) is a plain dict.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any, TypeAlias

from .turns import Turn, remembered

__all__ = ["Source", "SplicedBody", "body_json"]

#: The encoding of a body (httpx's for ``json=``, from 0.28 on).
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode

#: (the message, its content list, the turn whose blocks that list is).
Source: TypeAlias = tuple[Mapping[str, Any], list[Any], Turn]


class SplicedBody(dict[str, Any]):
    """A request body that knows which of its messages are stored turns verbatim.

    *sources*: a `Source` for each message index that is one turn's blocks as
    they are, else None. A copy of it is a plain dict.
    """

    __slots__ = ("sources",)

    def __init__(
        self,
        body: Mapping[str, Any] | None = None,
        sources: tuple[Source | None, ...] = (),
    ) -> None:
        super().__init__(body or {})
        self.sources = sources

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def body_json(body: Any) -> bytes:
    """*body* as compact UTF-8 JSON, each verbatim stored turn spliced in.

    Raises:
        ValueError, TypeError: as `json.dumps` does (a NaN, a value JSON cannot
            hold).
    """
    if not isinstance(body, SplicedBody) or not any(body.sources):
        return _ENCODE(body).encode()
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(type(k) is str for k in body):
        return _ENCODE(body).encode()  # json.dumps has its own way with other keys
    parts = []
    for key, value in body.items():
        text = _messages(messages, body.sources) if key == "messages" else None
        parts.append(f"{encode_basestring(key)}:{text or _ENCODE(value)}")
    return ("{" + ",".join(parts) + "}").encode()


def _messages(messages: list[Any], sources: tuple[Source | None, ...]) -> str:
    out = []
    for index, message in enumerate(messages):
        source = sources[index] if index < len(sources) else None
        # A NaN is not JSON: the encoder refuses it, as httpx's does.
        if source is None or not _still(message, source) or not _standard(source[2]):
            out.append(_ENCODE(message))
            continue
        content = source[2].content_json()
        if tuple(message) == _ROLE_CONTENT and message["role"] in _HEADS:
            # {"role": "user", "content": ...}, as normalize made it.
            out.append(f"{_HEADS[message['role']]}{content}}}")
            continue
        items = [
            f"{encode_basestring(key)}:{content if key == 'content' else _value(value)}"
            for key, value in message.items()
        ]
        out.append("{" + ",".join(items) + "}")
    return "[" + ",".join(out) + "]"


def _still(message: Any, source: Source) -> bool:
    """Whether *message* is still the one `normalize` made: its content list not
    replaced or resized, its keys strings."""
    made, content, turn = source
    return (
        message is made
        and type(message) is dict
        and message.get("content") is content
        and len(content) == len(turn.blocks)
        and all(type(key) is str for key in message)
    )


#: The keys of a message as normalize makes it, and its JSON up to the content.
_ROLE_CONTENT = ("role", "content")
_HEADS = {role: f'{{"role":"{role}","content":' for role in ("user", "assistant")}


def _standard(turn: Turn) -> bool:
    """Whether *turn*'s content JSON is standard JSON (no NaN or Infinity); looked
    at once per turn value (`remembered`)."""
    memo = remembered(turn)
    known = memo.get("standard_json")
    if known is None:
        text = turn.content_json()
        known = memo["standard_json"] = "NaN" not in text and "Infinity" not in text
    return bool(known)


def _value(value: Any) -> str:
    # A string straight to the C escaper: `JSONEncoder.encode` builds an encoder
    # for anything else, each time.
    return encode_basestring(value) if type(value) is str else _ENCODE(value)
