"""Scripted replies: what the fake model says, and how it becomes a Message.

A `Reply` is a template. The fake renders it against the request it answers
(thinking on or off, the prefill, fresh ids), then applies what the real API
applies to generated text: stop sequences, ``max_tokens`` and the context window.
`reply.raw` skips all of that and returns the given blocks unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import field, frozen

from ._tokens import output_tokens, scaled, text_pieces

__all__ = [
    "Limits",
    "Rendering",
    "Reply",
    "build_message",
    "default_reply",
    "prefill_of",
    "skeleton",
    "topic_of",
]


@frozen
class Rendering:
    """What a reply needs to know about the request it answers.

    Attributes:
        thinking: whether thinking is on for the request.
        prefill: the text of a final assistant message, or "".
        number: this reply's 1-based number within the fake.
        topic: a short text derived from the last user message.
        new_id: makes a fresh id with the given prefix (``toolu_``).
    """

    thinking: bool
    prefill: str
    number: int
    topic: str
    new_id: Callable[[str], str]


@frozen
class Reply:
    """A scripted model turn; build one with the `reply` helpers.

    Attributes:
        parts: the content, as ``(kind, payload)`` pairs rendered in order.
        stop_reason: the stop reason, or None to derive it (``tool_use`` when a
            tool call survives the limits, else ``end_turn``).
        stop_details: the ``stop_details`` object, if any.
        raw: a message mapping returned as given, for `reply.raw`.
    """

    parts: tuple[tuple[str, Any], ...] = ()
    stop_reason: str | None = field(default=None, kw_only=True)
    stop_details: Mapping[str, Any] | None = field(default=None, kw_only=True)
    raw: Mapping[str, Any] | None = field(default=None, kw_only=True, repr=False)


def _render(part: tuple[str, Any], ctx: Rendering) -> dict[str, Any]:
    kind, payload = part
    if kind == "text":
        return {"type": "text", "text": payload}
    if kind == "thinking":
        return {"type": "thinking", "thinking": payload, "signature": ""}
    name, tool_input, tool_id = payload
    prefix = "toolu_" if kind == "tool_use" else "srvtoolu_"
    return {
        "type": kind,
        "id": tool_id or ctx.new_id(prefix),
        "name": name,
        "input": json.loads(json.dumps(tool_input)),
    }


def default_reply(ctx: Rendering) -> Reply:
    """Return the deterministic reply the fake gives when nothing is scripted."""
    text = f"(fake reply #{ctx.number} to: {ctx.topic})"
    if ctx.prefill.lstrip().startswith("{"):
        # A JSON prefill gets a continuation that closes the object, so prefill
        # demos parse.
        value = json.dumps(text)
        for candidate in (
            f'"reply": {value}}}',
            f" {value}}}",
            f', "reply": {value}}}',
        ):
            try:
                json.loads(ctx.prefill + candidate)
            except ValueError:
                continue
            text = candidate
            break
    parts: list[tuple[str, Any]] = [("text", text)]
    if ctx.thinking:
        parts.insert(0, ("thinking", f"(fake thinking #{ctx.number})"))
    return Reply(tuple(parts))


def topic_of(messages: list[Any]) -> str:
    """Return the first 60 characters of the last user text, for default replies."""
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            text = content
        else:
            text = " ".join(b["text"] for b in content if b["type"] == "text")
            if not text and any(b["type"] == "tool_result" for b in content):
                text = "tool results"
        return " ".join(text.split())[:60]
    return ""


def prefill_of(messages: list[Any]) -> str:
    """Return the text a final assistant message ends with, or ""."""
    final = messages[-1]
    if final["role"] != "assistant":
        return ""
    content = final["content"]
    if isinstance(content, str):
        return content
    last = content[-1] if content else {}
    return str(last["text"]) if last.get("type") == "text" else ""


def _continuation(text: str, prefill: str) -> str:
    # The API returns only the continuation of a prefill; a script may give the
    # whole text, so a leading copy of the prefill is dropped.
    return text[len(prefill) :] if prefill and text.startswith(prefill) else text


def render(step: Reply, ctx: Rendering) -> list[dict[str, Any]]:
    """Render *step*'s parts into content blocks for the request in *ctx*."""
    blocks: list[dict[str, Any]] = []
    for part in step.parts:
        if part[0] == "thinking" and not ctx.thinking:
            continue
        block = _render(part, ctx)
        if block["type"] == "text" and not any(b["type"] == "text" for b in blocks):
            block["text"] = _continuation(block["text"], ctx.prefill)
        blocks.append(block)
    return blocks


def _cut_stop_sequence(
    blocks: list[dict[str, Any]], stop_sequences: Iterable[str]
) -> tuple[list[dict[str, Any]], str | None]:
    sequences = list(stop_sequences)
    for index, block in enumerate(blocks):
        if block["type"] != "text" or not sequences:
            continue
        hits = [(block["text"].find(s), n, s) for n, s in enumerate(sequences)]
        found = [hit for hit in hits if hit[0] >= 0]
        if found:
            at, _, sequence = min(found)
            kept = blocks[:index]
            if at:
                kept.append({**block, "text": block["text"][:at]})
            return kept, sequence
    return blocks, None


def _cut_tokens(
    blocks: list[dict[str, Any]], limit: int, scale: float
) -> tuple[list[dict[str, Any]], bool]:
    kept: list[dict[str, Any]] = []
    left = limit
    for block in blocks:
        cost = output_tokens([block], scale=scale)
        if cost <= left:
            kept.append(block)
            left -= cost
            continue
        key = {"text": "text", "thinking": "thinking"}.get(block["type"])
        if key is not None:
            end, spent = 0, 0
            for piece_end, tokens in text_pieces(block[key]):
                spent += tokens
                if scaled(spent, scale) <= left:
                    end = piece_end
            if end:
                kept.append({**block, key: block[key][:end]})
        return kept, True
    return kept, False


@frozen
class Limits:
    """The request's limits on generated output.

    Attributes:
        max_tokens: the request's ``max_tokens``.
        window_left: context window minus input tokens.
        stop_sequences: the request's ``stop_sequences``.
        token_scale: the fake's ``token_scale`` (`conversa.testing._tokens.scaled`).
    """

    max_tokens: int
    window_left: int
    stop_sequences: tuple[str, ...] = ()
    token_scale: float = field(default=1.0, kw_only=True)


def build_message(
    step: Reply,
    ctx: Rendering,
    limits: Limits,
    *,
    skeleton: dict[str, Any],
    finish: Callable[[list[dict[str, Any]]], None],
) -> dict[str, Any]:
    """Return the full Message JSON for *step*, with usage filled in.

    Args:
        step: the reply to render.
        ctx: what the reply needs from the request.
        limits: the limits that cut generated output.
        skeleton: a Message with every key in API order and usage prefilled
            with the input side; its content and stop fields are replaced.
        finish: signs (and, if display is omitted, empties) thinking blocks in
            place, after the cuts.
    """
    message = skeleton
    if step.raw is not None:
        for key, value in step.raw.items():
            message[key] = value
        if "usage" not in step.raw:
            message["usage"]["output_tokens"] = max(
                1, output_tokens(message["content"], scale=limits.token_scale)
            )
        return message
    blocks = render(step, ctx)
    blocks, sequence = _cut_stop_sequence(blocks, limits.stop_sequences)
    limit = min(limits.max_tokens, max(limits.window_left, 0))
    blocks, cut = _cut_tokens(blocks, limit, limits.token_scale)
    if cut:
        reason = (
            "max_tokens"
            if limits.max_tokens <= limits.window_left
            else "model_context_window_exceeded"
        )
    elif sequence is not None:
        reason = "stop_sequence"
    elif step.stop_reason is not None:
        reason = step.stop_reason
    else:
        reason = (
            "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
        )
    scale = limits.token_scale
    thinking = output_tokens(
        (b for b in blocks if b["type"] == "thinking"), scale=scale
    )
    produced = output_tokens(blocks, scale=scale)
    finish(blocks)
    message["content"] = blocks
    message["stop_reason"] = reason
    message["stop_sequence"] = sequence if reason == "stop_sequence" else None
    message["stop_details"] = dict(step.stop_details) if step.stop_details else None
    usage = message["usage"]
    usage["output_tokens"] = max(1, produced) if limits.max_tokens else 0
    usage["output_tokens_details"] = {"thinking_tokens": thinking}
    return message


def skeleton(body: Mapping[str, Any], msg_id: str, input_tokens: int) -> dict[str, Any]:
    """Return a Message for *body* with every key in API order, content empty."""
    usage = {
        "input_tokens": input_tokens,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 0,
        },
        "server_tool_use": None,
        "service_tier": "standard",
        "inference_geo": body.get("inference_geo") or "global",
        "speed": body.get("speed") or "standard",
        "output_tokens_details": {"thinking_tokens": 0},
    }
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        # Only present when the request opted in to cache diagnostics.
        **({"diagnostics": None} if "diagnostics" in body else {}),
        "usage": usage,
    }
