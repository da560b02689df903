"""Server-sent events folded into a Message. Pure: no I/O.

`StreamFold` folds the Messages API's events into the message body a
non-streamed call returns, and tells the caller what it may show as it goes.
The events come from httpx-sse, whose decoder splits lines only on CR, LF and
CRLF, as the event-stream spec says (``str.splitlines``, which httpx's
``iter_lines`` uses, also splits on U+2028, U+0085 and others, which a JSON
string may hold raw). The shells in ``client.py`` only pump events through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

from attrs import field, frozen
from httpx_sse import ServerSentEvent

from .._exceptions import StreamError

__all__ = [
    "CitationDelta",
    "Delta",
    "InputJSONDelta",
    "StreamFold",
    "TextDelta",
    "ThinkingDelta",
]


@frozen
class TextDelta:
    """Text arrived for the text block at *index*."""

    index: int
    text: str


@frozen
class ThinkingDelta:
    """Thinking arrived for the thinking block at *index*."""

    index: int
    thinking: str


@frozen
class InputJSONDelta:
    """A piece of a tool call's JSON input arrived for the block at *index*.

    The pieces only make JSON together; the block's ``input`` is parsed at its
    ``content_block_stop``.
    """

    index: int
    partial_json: str


@frozen
class CitationDelta:
    """A citation was added to the text block at *index*."""

    index: int
    citation: Mapping[str, Any] = field(hash=False)


Delta: TypeAlias = TextDelta | ThinkingDelta | InputJSONDelta | CitationDelta
"""What a stream hands its caller as content arrives."""

_MESSAGE_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "error",
    }
)


class StreamFold:
    """Fold the Messages API's stream events into the message they describe.

    The result, `message`, is the body a non-streamed call returns: the keys of
    ``message_start``'s message in their order, the content blocks in order, a
    tool call's ``input`` parsed from its JSON pieces, and the stop reason and
    usage from ``message_delta``. ``ping`` and event types this version does not
    know are ignored, as the API asks; an ``error`` event raises `StreamError`.

    Attributes:
        done: True once ``message_stop`` arrived.
        has_content: True once `add` returned a delta, that is once anything
            showable (text, thinking, tool input, a citation) arrived.
    """

    def __init__(self, *, request_id: str | None = None) -> None:
        """Start an empty fold.

        Args:
            request_id: the response's request id, for the errors raised.
        """
        self._request_id = request_id
        self._message: dict[str, Any] | None = None
        self._json: dict[int, list[str]] = {}
        self.done = False
        self.has_content = False

    @property
    def started(self) -> bool:
        """Tell whether ``message_start`` arrived (so `message` can be read)."""
        return self._message is not None

    @property
    def message(self) -> dict[str, Any]:
        """The message folded so far: complete once `done`.

        This is the fold's own dict, not a copy. A tool call whose block has not
        stopped yet still has the ``input`` of its ``content_block_start``.

        Raises:
            StreamError: no ``message_start`` arrived yet.
        """
        if self._message is None:
            msg = "the stream has not sent message_start yet"
            raise self._error(msg)
        return self._message

    def add(self, event: ServerSentEvent) -> Delta | None:
        """Fold *event* in; return what the caller may show, if anything.

        Raises:
            StreamError: an ``error`` event, or events that break the protocol
                (bad JSON, a block that does not exist, nothing before
                ``message_start``).
        """
        kind: str | None = event.event
        if kind == "message":
            # The spec's default type: the stream sent no ``event:`` field.
            kind = self._type_of(event)
        if kind not in _MESSAGE_EVENTS or self.done:
            return None
        data = self._decode(event, kind)
        if kind == "error":
            raise self._error_event(data)
        try:
            return self._apply(kind, data)
        except (KeyError, TypeError, AttributeError) as exc:
            # A field missing or of the wrong type: the event breaks the protocol.
            msg = f"malformed {kind} event ({type(exc).__name__}: {exc})"
            raise self._error(msg) from exc

    def _apply(self, kind: str, data: dict[str, Any]) -> Delta | None:
        if kind == "message_start":
            self._message = dict(data["message"])
            self._message["content"] = list(self._message.get("content") or [])
            return None
        message = self.message
        if kind == "content_block_start":
            message["content"].append(data["content_block"])
            return None
        if kind == "content_block_delta":
            delta = self._apply_delta(data["index"], data["delta"])
            self.has_content = self.has_content or delta is not None
            return delta
        if kind == "content_block_stop":
            self._stop_block(data["index"])
        elif kind == "message_delta":
            self._apply_message_delta(data)
        else:  # message_stop
            self.done = True
        return None

    def _type_of(self, event: ServerSentEvent) -> str | None:
        """Read the type from the data, for a stream that sends no ``event:``."""
        try:
            data = event.json()
        except ValueError:
            return None
        kind = data.get("type") if isinstance(data, dict) else None
        return kind if isinstance(kind, str) else None

    def _decode(self, event: ServerSentEvent, kind: str) -> dict[str, Any]:
        try:
            data = event.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            msg = f"the {kind} event's data is not a JSON object"
            raise self._error(msg)
        return data

    def _block(self, index: int) -> dict[str, Any]:
        content: list[dict[str, Any]] = self.message["content"]
        if not 0 <= index < len(content):
            msg = f"an event names content block {index}, which never started"
            raise self._error(msg)
        return content[index]

    def _apply_delta(self, index: int, delta: Mapping[str, Any]) -> Delta | None:
        block = self._block(index)
        kind = delta.get("type")
        if kind == "text_delta":
            text: str = delta["text"]
            block["text"] = block.get("text", "") + text
            return TextDelta(index, text) if text else None
        if kind == "thinking_delta":
            thinking: str = delta["thinking"]
            block["thinking"] = block.get("thinking", "") + thinking
            return ThinkingDelta(index, thinking) if thinking else None
        if kind == "input_json_delta":
            piece: str = delta["partial_json"]
            self._json.setdefault(index, []).append(piece)
            return InputJSONDelta(index, piece) if piece else None
        if kind == "citations_delta":
            citation: Mapping[str, Any] = delta["citation"]
            if block.get("citations") is None:
                block["citations"] = [citation]
            else:
                block["citations"].append(citation)
            return CitationDelta(index, citation)
        if kind == "signature_delta":
            # Not shown to the caller: it only seals the thinking block.
            block["signature"] = delta["signature"]
        return None

    def _stop_block(self, index: int) -> None:
        block = self._block(index)
        pieces = self._json.pop(index, None)
        raw = "".join(pieces or ())
        if not raw:
            # No pieces, or only empty ones: the start's `input` ({}) stands.
            return
        try:
            block["input"] = json.loads(raw)
        except ValueError:
            msg = f"content block {index}'s input is not valid JSON when it stops"
            raise self._error(msg) from None

    def _apply_message_delta(self, data: Mapping[str, Any]) -> None:
        message = self.message
        # stop_reason, stop_sequence, stop_details, container (and any newer keys).
        message.update(data.get("delta") or {})
        usage = data.get("usage") or {}
        # Usage in message_delta is cumulative: overwrite, never add; a null
        # means "unchanged", so it keeps message_start's value.
        folded = message.setdefault("usage", {})
        folded.update({k: v for k, v in usage.items() if v is not None})

    def _error_event(self, data: Mapping[str, Any]) -> StreamError:
        error = data.get("error")
        error = error if isinstance(error, Mapping) else {}
        error_type = error.get("type")
        text = error.get("message") or "the stream sent an error event"
        return StreamError(
            f"stream error event: {error_type}: {text}",
            error_type=error_type if isinstance(error_type, str) else None,
            request_id=data.get("request_id") or self._request_id,
            partial=self.has_content,
        )

    def _error(self, text: str) -> StreamError:
        return StreamError(text, request_id=self._request_id, partial=self.has_content)
