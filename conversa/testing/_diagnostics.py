"""Cache diagnostics: why a request could not reuse the previous one's prefix.

A request that sends ``diagnostics: {"previous_message_id": ...}`` opts in; the
fake then keeps its `Prompt` as the fingerprint of the reply it answers, and a
later request naming that reply is compared with it. The earliest divergence wins,
in prefix order: the model (or ``speed``), then the tools, then the system prompt;
then the other prompt-affecting parameters (``tool_choice``, ``thinking``,
``output_config``, betas, ``context_management``), which the API reports as
``unavailable``; then the messages. A request that only appends messages (or
drops some from the end) does not diverge. ``cache_missed_input_tokens`` is the
previous prompt's token count from the divergence on: what it could have read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._prompt import Prompt

__all__ = ["asked", "diagnose"]


def asked(body: Mapping[str, Any]) -> tuple[bool, str | None]:
    """Return whether *body* opted in to diagnostics, and the id it names."""
    value = body.get("diagnostics")
    if not isinstance(value, Mapping):
        return False, None
    previous = value.get("previous_message_id")
    return True, previous if isinstance(previous, str) else None


def _divergence(previous: Prompt, current: Prompt) -> int | None:
    for position, (old, new) in enumerate(
        zip(previous.keys, current.keys, strict=False)
    ):
        if old != new:
            return position
    return None


def diagnose(previous: Prompt | None, current: Prompt) -> dict[str, Any] | None:
    """Return the ``diagnostics`` object comparing *current* with *previous*.

    Args:
        previous: the fingerprint of the reply named by ``previous_message_id``,
            or None when the fake has none (unknown id, another API key or
            workspace, or a request that did not opt in).
        current: the request being answered.

    Returns:
        None when nothing diverged, else ``{"cache_miss_reason": {...}}``.
    """
    if previous is None:
        return {"cache_miss_reason": {"type": "previous_message_not_found"}}
    position = 0
    if (previous.model, previous.speed) != (current.model, current.speed):
        kind = "model_changed"
    else:
        found = _divergence(previous, current)
        section = "messages" if found is None else _section(previous, current, found)
        if section == "messages" and previous.params != current.params:
            return {"cache_miss_reason": {"type": "unavailable"}}
        if found is None:
            return None
        position, kind = found, f"{section}_changed"
    missed = previous.total - previous.tokens_through(position - 1)
    return {"cache_miss_reason": {"type": kind, "cache_missed_input_tokens": missed}}


def _section(previous: Prompt, current: Prompt, position: int) -> str:
    # A block count that changed shows up as a divergence where one prompt still
    # has tools (or system blocks) and the other has moved on.
    sections = {previous.section_of(position), current.section_of(position)}
    for name in ("tools", "system"):
        if name in sections:
            return name
    return "messages"
