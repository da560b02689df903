"""The `reply` builders: scripted model turns for `FakeMessagesAPI.script`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, final

from ._replies import Reply

__all__ = ["ReplyBuilders", "reply"]

ToolCall = tuple[str, Mapping[str, Any]]


@final
class ReplyBuilders:
    """Builders for scripted replies; use the `reply` instance."""

    @staticmethod
    def text(text: str) -> Reply:
        """Reply with one text block; the stop reason is ``end_turn``."""
        return Reply((("text", text),))

    @staticmethod
    def empty() -> Reply:
        """Reply with no content at all (the API's empty ``end_turn``)."""
        return Reply()

    @staticmethod
    def tool_use(
        name: str,
        input: Mapping[str, Any],
        *,
        id: str | None = None,
        text: str | None = None,
    ) -> Reply:
        """Reply with a call of tool *name*; the stop reason is ``tool_use``.

        Args:
            name: the tool to call.
            input: the call's arguments.
            id: the ``tool_use`` id; by default a fresh deterministic ``toolu_`` id.
            text: text the model says before the call.
        """
        lead = (("text", text),) if text is not None else ()
        return Reply((*lead, ("tool_use", (name, dict(input), id))))

    @staticmethod
    def tool_uses(calls: Iterable[ToolCall], *, text: str | None = None) -> Reply:
        """Reply with parallel tool calls, one ``(name, input)`` pair each."""
        lead = (("text", text),) if text is not None else ()
        uses = tuple(("tool_use", (name, dict(args), None)) for name, args in calls)
        return Reply((*lead, *uses))

    @staticmethod
    def max_tokens(text: str) -> Reply:
        """Reply with *text* as if the model ran out of tokens there."""
        return Reply((("text", text),), stop_reason="max_tokens")

    @staticmethod
    def refusal(
        text: str = "",
        *,
        category: str | None = None,
        explanation: str | None = None,
    ) -> Reply:
        """Reply with a refusal: stop reason ``refusal`` plus its ``stop_details``.

        Args:
            text: partial text produced before the refusal; none by default.
            category: the refusal category (``cyber``, ``bio``, ...), or None.
            explanation: the human-readable explanation, or None.
        """
        details = {"type": "refusal", "category": category, "explanation": explanation}
        parts = (("text", text),) if text else ()
        return Reply(parts, stop_reason="refusal", stop_details=details)

    @staticmethod
    def thinking(text: str, *, then: Reply) -> Reply:
        """Reply with a signed thinking block before *then*'s content.

        The block appears only when the request has thinking on (or the model
        thinks by default); otherwise the reply is *then* alone, as the API never
        thinks unasked. With ``display: "omitted"`` the text is left out and only
        the signature comes back.
        """
        return Reply(
            (("thinking", text), *then.parts),
            stop_reason=then.stop_reason,
            stop_details=then.stop_details,
        )

    @staticmethod
    def pause_turn(
        query: str = "fake query",
        *,
        name: str = "web_search",
        text: str | None = None,
    ) -> Reply:
        """Reply with a server tool call left running; the stop reason is ``pause_turn``.

        Args:
            query: the ``query`` input of the server tool call.
            name: the server tool (``web_search``, ``web_fetch``, ...).
            text: text the model says before the call.
        """
        lead = (("text", text),) if text is not None else ()
        call = ("server_tool_use", (name, {"query": query}, None))
        return Reply((*lead, call), stop_reason="pause_turn")

    @staticmethod
    def raw(message: Mapping[str, Any]) -> Reply:
        """Reply with *message*'s fields as given, blocks byte for byte.

        *message* must have ``content``; its other keys (``stop_reason``,
        ``usage``, ...) replace the fake's. No cut, limit or signing applies, so
        unknown block kinds such as ``compaction`` come back unchanged. The stop
        reason defaults to ``end_turn``.
        """
        if "content" not in message:
            msg = "reply.raw() needs a message with 'content'"
            raise ValueError(msg)
        if not isinstance(message.get("usage", {}), Mapping):
            msg = "reply.raw() needs 'usage' to be an object when given"
            raise TypeError(msg)
        return Reply(raw=json.loads(json.dumps(message)))


reply: Final = ReplyBuilders()
