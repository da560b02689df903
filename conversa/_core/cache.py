"""Prompt-cache breakpoints: where conversa puts `cache_control` (pure).

The cache keys a prefix of the request (tools, then system, then messages) up to a
block marked `cache_control`; a later request reads it when its own breakpoint, or
one of the 19 blocks before it, ends the same prefix
(https://platform.claude.com/docs/en/build-with-claude/prompt-caching).
`place_breakpoints` marks up to four places, in this order of value:

1. **The moving end**: the last cacheable block of the last message. Each call
   writes the whole conversation so far and the next call reads it, since a
   history is only appended to. Worth the most: it is nearly all the input.
2. **After tools and system**: the last system block (a string system prompt
   becomes one text block), or the last tool. It survives everything but a change
   of tools or system, so it still reads after the window moves.
3. **Near the previous write**: when one call adds 20 blocks or more (a tool loop
   with many parallel results), the moving end's 20-block lookback cannot reach
   the previous call's write, and the whole history would miss; a breakpoint on
   the previous end reads it. Needed seldom, but then it saves the most.
4. **The stable prefix**: the end of the pinned turns, which stay the same when
   the window moves: after a move, the pinned part still reads. The smallest
   saving, so it goes first when slots run out.

Never more than 4 breakpoints, counting those the caller put on its own blocks and
a top-level `cache_control` (automatic caching, which is a moving end of its own:
then conversa places none there, which also avoids a TTL conflict). A block
already marked costs no slot. Never on thinking, redacted_thinking, empty text or
kinds not known to take one: the mark walks back to the nearest block that can.
A breakpoint whose prefix is shorter than the model's minimum is silently not
cached by the API, which costs nothing. Longer TTLs must come first, so a mark
before a caller's 1h one takes 1h and a mark after a caller's 5m one takes 5m.
The result is a new body (only the dicts that change are copied) and the same
inputs always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias

from .._exceptions import InvalidInputError
from .normalize import Normalized

__all__ = [
    "LOOKBACK_BLOCKS",
    "MAX_BREAKPOINTS",
    "Ttl",
    "breakpoint_count",
    "cache_controls",
    "last_write_point",
    "place_breakpoints",
    "stable_prefix_index",
]

Ttl: TypeAlias = Literal["5m", "1h"]
MAX_BREAKPOINTS = 4
#: How many blocks the cache checks back from a breakpoint, the breakpoint included.
LOOKBACK_BLOCKS = 20
# Block kinds that take cache_control (besides server tool calls and results).
_CACHEABLE = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "container_upload",
    }
)
# A position: (0, tool) · (1, system block) · (2, message, block, nested...) · (3,).
_Key: TypeAlias = tuple[int, ...]


def _eligible(block: Any) -> bool:
    if not isinstance(block, Mapping):
        return False
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return isinstance(text, str) and bool(text.strip())
    return isinstance(kind, str) and (
        kind in _CACHEABLE or kind.endswith(("_tool_use", "_tool_result"))
    )


def _blocks(content: Any) -> list[Any]:
    """A message's or system's content as a list (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def _ttl(control: Any) -> str:
    ttl = control.get("ttl", "5m") if isinstance(control, Mapping) else "5m"
    return str(ttl)


def cache_controls(body: Mapping[str, Any]) -> list[tuple[_Key, Any]]:
    """Every block's `cache_control` in *body*, in the API's prefix order.

    (key, the control as given), for each block whose control is not null: tools,
    then system blocks, then message blocks, each before the blocks nested in it
    (a tool result's content, a document's). The top-level `cache_control` is
    not a block's and is left out. One pass, building a key only for a mark: it
    runs on every request (`place_breakpoints`, `api_rules.check_request`).
    """
    found: list[tuple[_Key, Any]] = []
    for part, name in ((0, "tools"), (1, "system")):
        items = body.get(name)
        if isinstance(items, list | tuple):
            _controls((part,), enumerate(items), found)
    for m, message in enumerate(body.get("messages") or ()):
        content = message.get("content")
        if isinstance(content, list):
            for index, block in enumerate(content):
                # Most message blocks hold no mark and nothing nested (text): they
                # are passed over here, without a call and a key each.
                if (
                    type(block) is dict
                    and "cache_control" not in block
                    and "content" not in block
                    and block.get("type") != "document"
                ):
                    continue
                _controls((2, m), ((index, block),), found)
    return found


def _controls(
    key: _Key, blocks: Iterable[tuple[int, Any]], found: list[tuple[_Key, Any]]
) -> None:
    for index, block in blocks:
        # A dict first: isinstance against the Mapping ABC costs more.
        if type(block) is not dict and not isinstance(block, Mapping):
            continue
        control = block.get("cache_control")
        if control is not None:
            found.append(((*key, index), control))
        inner = block.get("content")
        if block.get("type") == "document":
            source = block.get("source")
            if isinstance(source, Mapping):
                inner = source.get("content")
        if isinstance(inner, list):
            _controls((*key, index), enumerate(inner), found)


def _existing(body: Mapping[str, Any]) -> list[tuple[_Key, str]]:
    """The caller's breakpoints, in prefix order, with their TTLs."""
    found = [(key, _ttl(control)) for key, control in cache_controls(body)]
    if body.get("cache_control") is not None:
        found.append(((3,), _ttl(body["cache_control"])))
    return found


def breakpoint_count(body: Mapping[str, Any]) -> int:
    """Count the `cache_control` markers of a body, a top-level one included."""
    return len(_existing(body))


def _walk_back(messages: Sequence[Any], m: int, b: int) -> tuple[int, int] | None:
    """The nearest block at or before (m, b) that can take a breakpoint."""
    while m >= 0:
        content = _blocks(messages[m].get("content"))
        for index in range(min(b, len(content) - 1), -1, -1):
            if _eligible(content[index]):
                return m, index
        m, b = m - 1, 1 << 62
    return None


def _between(messages: Sequence[Any], a: tuple[int, int], z: tuple[int, int]) -> int:
    """The number of message blocks after *a* up to and including *z*."""
    between = sum(_size(m.get("content")) for m in messages[a[0] : z[0]])
    return between - a[1] - 1 + z[1] + 1


def _size(content: Any) -> int:
    """How many blocks `_blocks` makes of *content*, without making them."""
    if isinstance(content, list):
        return len(content)
    return 1 if isinstance(content, str) else 0


def _targets(
    body: Mapping[str, Any],
    stable_prefix: int | None,
    previous_end: tuple[int, int] | None,
) -> list[_Key]:
    """Where conversa's marks would go, most valuable first."""
    messages = list(body.get("messages") or ())
    last = len(messages) - 1
    end = _walk_back(messages, last, 1 << 62) if messages else None
    out: list[_Key] = []
    if end is not None and body.get("cache_control") is None:
        out.append((2, *end))
    system = _blocks(body.get("system"))
    tools = _blocks(body.get("tools"))
    fixed = [(1, i) for i, block in enumerate(system) if _eligible(block)]
    fixed += (
        [] if fixed else [(0, i) for i, t in enumerate(tools) if isinstance(t, Mapping)]
    )
    out += fixed[-1:]
    if previous_end is not None and end is not None and 0 <= previous_end[0] <= last:
        before = _walk_back(messages, *previous_end)
        if before is not None and _between(messages, before, end) >= LOOKBACK_BLOCKS:
            out.append((2, *before))
    if stable_prefix is not None and 0 <= stable_prefix <= last:
        stable = _walk_back(messages, stable_prefix, 1 << 62)
        out += [] if stable is None else [(2, *stable)]
    if body.get("cache_control") is not None and end is not None:
        # The automatic breakpoint lands on the end: a mark there with another
        # TTL would be a 400, and one with the same TTL adds nothing.
        out = [key for key in out if key != (2, *end)]
    return out


def place_breakpoints(
    body: Mapping[str, Any],
    *,
    ttl: Ttl = "5m",
    stable_prefix: int | None = None,
    previous_end: tuple[int, int] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """Return *body* with conversa's cache breakpoints (see the module docstring).

    Args:
        body: a /v1/messages body (`build_body`); it is not changed.
        ttl: "5m" (the default; writes cost 1.25x input) or "1h" (2x).
        stable_prefix: the index of the last message of the pinned turns
            (`stable_prefix_index`), or None.
        previous_end: (message, block) of the previous call's last block in this
            body's terms (`last_write_point`), or None.
        enabled: False returns a copy of *body* unchanged.

    Raises:
        InvalidInputError: a *ttl* other than "5m" or "1h".
    """
    if ttl not in ("5m", "1h"):
        msg = f"cache ttl must be '5m' or '1h', not {ttl!r}"
        raise InvalidInputError(msg)
    out = dict(body)
    if not enabled:
        return out
    existing = _existing(body)
    taken = {key for key, _ in existing}
    chosen: list[_Key] = []
    for key in _targets(body, stable_prefix, previous_end):
        if len(chosen) + len(existing) >= MAX_BREAKPOINTS:
            break
        if key not in taken:
            taken.add(key)
            chosen.append(key)
    for key in chosen:
        mark = ttl
        if any(k > key and t == "1h" for k, t in existing):
            mark = "1h"
        elif any(k < key and t == "5m" for k, t in existing):
            mark = "5m"
        _mark(
            out, key, {"type": "ephemeral", **({"ttl": "1h"} if mark == "1h" else {})}
        )
    return out


def _mark(body: dict[str, Any], key: _Key, control: dict[str, Any]) -> None:
    """Put *control* on the block at *key*, copying what it changes."""
    if key[0] == 2:
        messages = list(body["messages"])
        message = dict(messages[key[1]])
        message["content"] = content = _blocks(message["content"])
        content[key[2]] = {**content[key[2]], "cache_control": control}
        messages[key[1]] = message
        body["messages"] = messages
        return
    name = "tools" if key[0] == 0 else "system"
    items = _blocks(body[name])
    items[key[1]] = {**items[key[1]], "cache_control": control}
    body[name] = items


def last_write_point(messages: Sequence[Mapping[str, Any]]) -> tuple[int, int] | None:
    """Return where the previous call of a send ended: the message before the last reply.

    A send replays what the previous call sent, then its reply, then the new turn;
    the previous call's moving end was the last block of the message before the
    last assistant message. None when there is no such message.
    """
    replies = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if not replies or replies[-1] == 0:
        return None
    index = replies[-1] - 1
    return index, max(len(_blocks(messages[index].get("content"))) - 1, 0)


def stable_prefix_index(normalized: Normalized, stable_turns: int) -> int | None:
    """Return the index of the last message made only of the first *stable_turns* turns.

    With `WindowPlan.stable_turns`, that is where the pinned turns end. A message
    that merges a pinned turn with a later one (a summary, the window's first
    user turn) is not stable, so the breakpoint goes on the message before it.
    """
    index = None
    for m, origins in enumerate(normalized.origins):
        if any(position >= stable_turns for position in origins):
            break
        index = m
    return index
