"""`run()`: the tool loop and continuations, as one flow over the send flow.

After each stored reply, the flow decides what comes next:

- `tool_use`: run the requested tools (the shell executes them: `RunTools`), store
  their results as a user turn, and send again;
- `pause_turn`: the server paused a server-tool loop; send the reply back as it is
  (the API asks for the assistant turn back, so the prefill gate lets it through);
- `max_tokens` (when `continue_cut` is on), or a reply whose stream was interrupted
  (stored with its partial text, status "interrupted"): continue it, by prefill on
  models that take one (the continuation is a new assistant turn that normalization
  merges with the first), else by a stored user instruction to continue
  (Claude 4.6+ rejects prefill, so it needs a user message);
- anything else: done. `model_context_window_exceeded` raises
  `ContextWindowExceededError` (continuing would overflow again).

Every step is stored as it happens, so `run()` called again without content resumes
from the store: pending tool calls run again (tools run at least once, not exactly
once: make them idempotent or check for their own effects), a pending user turn is
resent, a paused or cut reply is continued. A forced `tool_choice` (`any`, `tool`)
is switched to `auto` after the first step, or every reply would call a tool again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import evolve

from .._core import SendSpec, check_blocks, pending_tool_use_ids, replayed
from .._exceptions import (
    ContextWindowExceededError,
    InvalidInputError,
    ToolLoopLimitError,
)
from .._values.blocks import TextBlock, ToolUseBlock
from .._values.capabilities import capabilities_for, thinking_enabled
from .._values.settings import CONTINUATION
from .._values.turns import ConversationRecord, Turn
from .edit import add_flow
from .send import Flow, GetRecord, RunTools, send_flow, tail_flow

__all__ = ["CONTINUE_PROMPT", "DEFAULT_MAX_STEPS", "run_flow"]

#: The model calls `run()` makes at most before `ToolLoopLimitError`.
DEFAULT_MAX_STEPS = 16

#: The user turn that asks a model without prefill to continue a cut reply.
CONTINUE_PROMPT = (
    "Your previous reply was cut off by the output limit. Continue exactly where it "
    "stopped, without repeating anything."
)

_FORCED = ("any", "tool")


def _next_spec(spec: SendSpec, record: ConversationRecord, *, resume: bool) -> SendSpec:
    """The spec of a follow-up call: no new content, and no forced tool choice."""
    overrides: Mapping[str, Any] = spec.overrides
    choice = overrides.get("tool_choice") or record.params.tool_choice or {}
    if choice.get("type") in _FORCED:
        overrides = {**overrides, "tool_choice": {"type": "auto"}}
    return evolve(
        spec,
        content=None,
        turn_id=None,
        prefill=None,
        overrides=overrides,
        resume=resume,
    )


def _follow_up(
    spec: SendSpec, reply: Turn, *, tools: Any, continue_cut: bool
) -> Flow[SendSpec | None]:
    """Store what the reply calls for and return the next call's spec; None when done."""
    record: ConversationRecord = yield GetRecord(spec.conversation_id)
    if reply.stop_reason == "tool_use":
        window = yield from tail_flow(record)
        pending = set(pending_tool_use_ids(window))
        uses = tuple(
            b for b in reply.blocks if isinstance(b, ToolUseBlock) and b.id in pending
        )
        if uses:
            results = yield RunTools(uses, tools)
            # What a tool returns reaches the API: check it as any caller's block.
            check_blocks(results, role="user", entry=spec.entry)
            turn = Turn("user", tuple(results))
            yield from add_flow(record.id, (turn,), api_version=spec.api_version)
        return _next_spec(spec, record, resume=False)
    if reply.stop_reason == "pause_turn":
        return _next_spec(spec, record, resume=True)
    cut = reply.stop_reason == "max_tokens" and continue_cut
    if cut or reply.status == "interrupted":
        caps = capabilities_for(record.model, record.capabilities)
        params = record.params.merged(spec.overrides)
        if caps.prefill and not thinking_enabled(caps, params.thinking):
            return _next_spec(spec, record, resume=True)
        ask = Turn(
            "user", (TextBlock(CONTINUE_PROMPT),), flags=CONTINUATION.entry(value=True)
        )
        yield from add_flow(record.id, (ask,), api_version=spec.api_version)
        return _next_spec(spec, record, resume=False)
    return None


def _resume(spec: SendSpec, *, tools: Any, continue_cut: bool) -> Flow[SendSpec | Turn]:
    """Work out where a stored conversation stands: the next call, or the final reply."""
    record: ConversationRecord = yield GetRecord(spec.conversation_id)
    window = yield from tail_flow(record)
    visible = [t for _, t in replayed(window) if t.kind == "message"]
    if not visible:
        msg = "nothing to run: the conversation is empty; pass content to run()"
        raise InvalidInputError(msg)
    last = visible[-1]
    if last.role == "user":
        return _next_spec(spec, record, resume=False)
    follow = yield from _follow_up(spec, last, tools=tools, continue_cut=continue_cut)
    return last if follow is None else follow


def run_flow(
    spec: SendSpec, *, tools: Any, max_steps: int, continue_cut: bool
) -> Flow[Turn]:
    """Send *spec* (or resume) and keep going until the model is done.

    Raises:
        ToolLoopLimitError: *max_steps* model calls were made and it is not done.
        ContextWindowExceededError: the model stopped at its context window.
    """
    step: SendSpec | Turn = spec
    if spec.content is None and not spec.resume:
        step = yield from _resume(spec, tools=tools, continue_cut=continue_cut)
        if isinstance(step, Turn):
            return step
    for _ in range(max_steps):
        assert isinstance(step, SendSpec)  # noqa: S101 - narrowing for mypy
        reply = yield from send_flow(step)
        if reply.stop_reason == "model_context_window_exceeded":
            raise ContextWindowExceededError(turn_seq=reply.seq, model=reply.model)
        follow = yield from _follow_up(
            spec, reply, tools=tools, continue_cut=continue_cut
        )
        if follow is None:
            return reply
        step = follow
    raise ToolLoopLimitError(steps=max_steps)
