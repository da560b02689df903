"""A request body's JSON text, with stored turns' content spliced in (pure).

httpx's ``json=`` encodes a body with ``json.dumps(ensure_ascii=False,
separators=(",", ":"), allow_nan=False)``: every block of every message, on every
call, though a conversation's history does not change between calls. A message
whose content is one turn's blocks exactly as stored has the JSON text of that
turn's content already (`Turn.content_json`, computed once per turn value, and a
store hands back the same value for a row read again), so `body_json` puts that
text in place of encoding the blocks again. The bytes are the same as httpx's.

Only a `SplicedBody` is spliced, and only a message that is still the very dict
`normalize` made for it (`Normalized.sources`): a message the cache breakpoints
marked is a copy, and is encoded as usual. A `SplicedBody` is made for one call,
just before it goes out (`conversa._core.normalize.spliced`), and nothing in
conversa changes a body's dicts in place; a body handed to callers (`request()`)
is a plain dict.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from .turns import Turn

__all__ = ["SplicedBody", "body_json"]

#: httpx's encoding of a ``json=`` body.
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode


class SplicedBody(dict[str, Any]):
    """A request body that knows which of its messages are stored turns verbatim.

    *sources*: (message dict, turn) for each message index whose content is the
    turn's blocks as they are, else None.
    """

    __slots__ = ("sources",)

    def __init__(
        self,
        body: Mapping[str, Any] | None = None,
        sources: tuple[tuple[Mapping[str, Any], Turn] | None, ...] = (),
    ) -> None:
        super().__init__(body or {})
        self.sources = sources


def body_json(body: Mapping[str, Any]) -> bytes:
    """*body* as httpx sends ``json=body``, each verbatim stored turn spliced in.

    Raises:
        ValueError, TypeError: as `json.dumps` does (a NaN, a value JSON cannot
            hold).
    """
    messages = body.get("messages")
    sources = body.sources if isinstance(body, SplicedBody) else ()
    if not any(sources) or not isinstance(messages, list):
        return _ENCODE(body).encode()
    parts = []
    for key, value in body.items():
        text = _messages(messages, sources) if key == "messages" else _ENCODE(value)
        parts.append(f"{_value(key)}:{text}")
    return ("{" + ",".join(parts) + "}").encode()


def _messages(
    messages: list[Any], sources: tuple[tuple[Mapping[str, Any], Turn] | None, ...]
) -> str:
    out = []
    for index, message in enumerate(messages):
        source = sources[index] if index < len(sources) else None
        if source is None or source[0] is not message or type(message) is not dict:
            out.append(_ENCODE(message))
            continue
        turn = source[1]
        # Not JSON (a NaN): the encoder refuses it, as httpx's would.
        content = turn.content_json() if _standard(turn) else None
        if content is not None and tuple(message) == _ROLE_CONTENT:
            head = _HEADS.get(message["role"])
            if (
                head is not None
            ):  # {"role": "user", "content": ...}, as normalize made it
                out.append(f"{head}{content}}}")
                continue
        items = []
        for key, value in message.items():
            text = (
                content if key == "content" and content is not None else _value(value)
            )
            items.append(f"{_value(key)}:{text}")
        out.append("{" + ",".join(items) + "}")
    return "[" + ",".join(out) + "]"


#: The keys of a message as normalize makes it, and its JSON up to the content.
_ROLE_CONTENT = ("role", "content")
_HEADS = {role: f'{{"role":"{role}","content":' for role in ("user", "assistant")}


#: Whether a turn's content JSON is standard JSON (no NaN or Infinity), by turn
#: value (`id`), each dropped with its turn: a turn never changes, and a store
#: hands back the same value for a row read again, so each is looked at once.
_STANDARD: dict[int, bool] = {}


def _standard(turn: Turn) -> bool:
    key = id(turn)
    known = _STANDARD.get(key)
    if known is None:
        text = turn.content_json()
        known = _STANDARD[key] = "NaN" not in text and "Infinity" not in text
        weakref.finalize(turn, _STANDARD.pop, key, None)
    return known


def _value(value: Any) -> str:
    # A string straight to the C escaper: `JSONEncoder.encode` builds an encoder
    # for anything else, each time.
    return encode_basestring(value) if type(value) is str else _ENCODE(value)
