"""Planning a send (pure): budget, window, normalization, body, cache breakpoints.

`plan_send` is everything between reading the store and calling the API. It takes
the conversation record, the stored turns from the window start, the pinned turns
and what the caller asked for, and returns the exact body to POST plus what the
flow must write. It raises before any write when something is refused.

A conversation's own settings (budget, cache, learned system+tools counts, pinned
exchanges) live in its record's `flags`, read through `conversa._values.settings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import evolve, field, frozen

from .._exceptions import InvalidContentError, InvalidInputError
from .._values.blocks import TextBlock
from .._values.capabilities import capabilities_for, thinking_enabled
from .._values.doors import FIRST_PARTY, DoorCapabilities, rule_version
from .._values.settings import BUDGET, CACHE, FIXED_TOKENS, PINNED, TOKENS
from .._values.turns import (
    ConversationRecord,
    Turn,
    new_id,
    replaced,
    reply_id_for,
)
from .api_rules import check_request, vouched_flags
from .cache import last_write_point, place_breakpoints, stable_prefix_index
from .calibrate import Part, estimate_fixed, fixed_exact, fixed_key, latest_ratio
from .doors import check_door, check_max_tokens
from .estimate import BLOCK_OVERHEAD, MESSAGE_OVERHEAD, estimate_blocks
from .normalize import Normalized, normalize, replayed
from .request import DEFAULT_API_VERSION, build_body, check_params, check_prefill
from .summaries import SUMMARY_INSTRUCTIONS, SummaryRequest, transcript
from .window import WindowPlan, plan_window

__all__ = [
    # Re-exported while the conversations still take them from here; their home
    # is `conversa._values.settings`.
    "ModelSummarizer",
    "Plan",
    "SendSpec",
    "check_content",
    "estimated",
    "plan_send",
    "sized_reply",
    "summary_body",
]


@frozen
class ModelSummarizer:
    """Summarize dropped turns with a model call through the conversation's client.

    Attributes:
        model: the model to summarize with; None for the conversation's own.
        max_tokens: the summary's output cap.
        instructions: the system prompt of the summary call.
    """

    model: str | None = None
    max_tokens: int = 1024
    instructions: str = SUMMARY_INSTRUCTIONS


@frozen
class SendSpec:
    """What a caller asked a send (or `request()`) to do.

    Attributes:
        content: the new user turn's blocks; None to resend the pending turns.
        turn_id: the caller's id for the new turn (idempotency key), if any.
        prefill: text the reply must continue from, if any.
        overrides: per-call request parameters.
        api_version: the API version the client speaks.
        stream: whether the call streams.
        summarizer: None; "callable" for the shell's summarizer; or a
            `ModelSummarizer` to summarize through the API.
        resume: continue the last assistant turn (a max_tokens cut or a pause_turn):
            it goes back as the final message and the reply continues it.
        entry: the public method the send came through, for error messages.
        door: what the client's door takes and lacks (first party by default).
        batch: the request goes into a Message Batch (no long-request rule;
            the 300k output beta where the door has it).
        timeout_set: the client's timeout is the caller's, not the default: a
            long non-streamed call is then the caller's choice.
    """

    conversation_id: str
    content: tuple[Any, ...] | None
    turn_id: str | None = None
    prefill: str | None = None
    overrides: Mapping[str, Any] = field(factory=dict, hash=False)
    api_version: str = DEFAULT_API_VERSION
    stream: bool = False
    summarizer: Literal["callable"] | ModelSummarizer | None = None
    resume: bool = False
    entry: str = "send"
    door: DoorCapabilities = FIRST_PARTY
    batch: bool = False
    timeout_set: bool = False


@frozen
class Plan:
    """A validated request, ready to send, and what the flow must write.

    Attributes:
        body: the exact JSON body to POST.
        betas: beta names for the `anthropic-beta` header.
        new_turns: the turns to append before the call (the new user turn).
        reply_id: the id the reply will be stored under.
        prefill: the prefill as sent (trailing whitespace stripped), if any.
        model: the request's model.
        window: the window plan (its start is stored when it moved).
        tokenizer: the model's tokenizer family, for exact counts.
        fixed: system+tools as one calibration part; *fixed_key* names its content.
        normalized: the messages and the turn each block came from (to map an
            API error's `messages.N.content.M` back to a stored turn).
    """

    body: dict[str, Any] = field(hash=False)
    betas: tuple[str, ...]
    new_turns: tuple[Turn, ...]
    reply_id: str
    prefill: str | None
    model: str
    window: WindowPlan = field(hash=False)
    tokenizer: str
    fixed: Part
    fixed_key: str
    normalized: Normalized = field(hash=False)

    def turn_at(self, path: str) -> Turn | None:
        """Return the turn an API error's *path* (`messages.3.content.1`) points at."""
        positions = self.normalized.locate(path)
        return self.window.turns[positions[0]] if positions else None


def estimated(turn: Turn) -> Turn:
    """Return *turn* with its estimated token count (exact counts come later)."""
    tokens = estimate_blocks(turn.blocks)
    if turn.tokens == tokens and not turn.tokens_exact:
        return turn  # made with it (`Conversation.add`): the same value
    return replaced(turn, tokens=tokens, tokens_exact=False)


def sized_reply(reply: Turn, tokenizer: str) -> Turn:
    """The reply with its count taken from the API's own `output_tokens`.

    A reply replayed as input costs what it cost as output, plus message framing,
    so its count is known the moment it arrives (for the model's tokenizer). Each
    later call then has one unknown part, the new user turn, which gets exactly
    what the call's input total leaves: a window move misplaces at most a reply's
    framing, where a proportional split of two unknowns misplaced a third of a turn.
    Thinking counts in output_tokens, so the count errs high where older models
    drop earlier thinking from the input.
    """
    usage = reply.usage
    if usage is None or usage.output_tokens <= 0:
        return estimated(reply)
    tokens = usage.output_tokens + MESSAGE_OVERHEAD + BLOCK_OVERHEAD * len(reply.blocks)
    return evolve(
        reply,
        tokens=tokens,
        tokens_exact=True,
        flags=TOKENS.entry({tokenizer: tokens}),
    )


def _visible(window: Sequence[Turn]) -> list[Turn]:
    """The turns a request replays (retractions and retracted turns left out)."""
    return [t for _, t in replayed(window)]


def _trailing_user_turns(window: Sequence[Turn]) -> tuple[Turn, ...]:
    """The user turns after the last assistant turn: sent before, not yet answered."""
    visible = _visible(window)
    i = len(visible)
    while i > 0 and visible[i - 1].role == "user" and visible[i - 1].kind == "message":
        i -= 1
    return tuple(visible[i:])


def check_content(blocks: Sequence[Any]) -> None:
    # The API refuses empty messages and empty or whitespace-only text blocks; a
    # user turn that is nothing but those is bad input, not something to repair.
    if not any(not isinstance(b, TextBlock) or b.text.strip() for b in blocks):
        msg = (
            "a user turn needs non-empty content (text with non-whitespace "
            "characters, or other blocks)"
        )
        raise InvalidInputError(msg)


def _previous_message_id(window: Sequence[Turn]) -> str | None:
    return next(
        (
            t.message_id
            for t in reversed(window)
            if t.role == "assistant" and t.message_id
        ),
        None,
    )


def _free_reply_id(answering: str, window: Sequence[Turn]) -> str:
    """The reply's id: derived from the turn it answers, so a retry reuses it.

    A regenerated reply answers the same turn as the one it replaces (which is
    retracted but still stored), so it takes the next free suffix: `.reply.2`, ...
    """
    base = reply_id_for(answering)
    taken = {t.id for t in window}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}.{n}"
    return candidate


def plan_send(
    record: ConversationRecord,
    window: Sequence[Turn],
    spec: SendSpec,
    *,
    pinned: Sequence[Turn] = (),
) -> Plan:
    """Plan and validate a send with the new turn held in memory (pure).

    Args:
        record: the conversation record.
        window: the stored turns from the record's window start, oldest first.
        spec: what the caller asked for.
        pinned: the pinned turns before the window start.

    Raises:
        InvalidInputError: bad parameters or content, or nothing to retry.
        UnrepairableHistoryError: a stored history the API would reject.
        PendingToolUseError: tool calls are waiting for results.
        PrefillNotSupportedError: a prefill the model or the parameters refuse.
        ContextBudgetError: the newest exchange does not fit the budget.
    """
    model = record.model
    caps = capabilities_for(model, record.capabilities)
    params = record.params.merged(spec.overrides)
    # The rules of the version the door speaks for this model (the version table).
    rules = rule_version(spec.door.name, model, spec.api_version)
    check_params(params, model=model, caps=caps, api_version=rules)
    check_max_tokens(
        params.max_tokens,
        model=model,
        caps=caps,
        door=spec.door,
        betas=params.betas,
        batch=spec.batch,
        stream=spec.stream,
        timeout_set=spec.timeout_set,
    )
    new: tuple[Turn, ...] = ()
    if spec.content is not None:
        check_content(spec.content)
        turn = Turn(
            "user",
            spec.content,
            id=spec.turn_id or new_id(),
            flags=vouched_flags(spec.content),
        )
        new = (estimated(turn),)
        answering = new[0]
    elif spec.resume:
        last = next(
            (t for t in reversed(_visible(window)) if t.kind == "message"), None
        )
        if last is None or last.role != "assistant":
            msg = "nothing to continue: the conversation does not end with a reply"
            raise InvalidInputError(msg)
        answering = last
    else:
        pending = _trailing_user_turns(window)
        if not pending:
            msg = "nothing to retry: the conversation does not end with an unanswered user turn"
            raise InvalidInputError(msg)
        answering = pending[-1]
    prefill = None
    tail: tuple[Turn, ...] = ()
    if spec.prefill is not None:
        prefill = check_prefill(spec.prefill, model=model, caps=caps, params=params)
        tail = (estimated(Turn("assistant", (TextBlock(prefill),), id="prefill")),)

    config = BUDGET.of(record)
    system = record.system_to_api()
    key = fixed_key(system, params.tools, params.tool_choice)
    exact = fixed_exact(FIXED_TOKENS.of(record), tokenizer=caps.tokenizer, key=key)
    fixed = Part(estimate_fixed(system, params.tools), exact=exact)
    replays = pinned if config.pin_first_exchange or PINNED.of(record) else ()
    plan = plan_window(
        (*window, *new, *tail),
        pinned=replays,
        fixed_tokens=exact if exact is not None else fixed.estimate,
        budget=config.budget(caps, params),
        current_start=record.window_start,
        config=config,
        max_images=caps.max_images,
        max_request_bytes=spec.door.max_request_bytes,
        fixed_bytes=len(json.dumps([system, params.tools], ensure_ascii=False)),
        tokenizer=caps.tokenizer,
        # The ratio learned from this conversation's usage: stored on the turns
        # whose counts its calls made exact (`conversa._core.calibrate`).
        ratio=latest_ratio((*replays, *window), caps.tokenizer),
    )
    normalized = normalize(
        plan.turns,
        model=model,
        caps=caps,
        api_version=rules,
        thinking=thinking_enabled(caps, params.thinking),
        new_turn_ids=frozenset(t.id for t in new),
    )
    body = build_body(
        record, list(normalized.messages), params, model=model, stream=spec.stream
    )
    cache = CACHE.of(record)
    body = place_breakpoints(
        body,
        ttl=cache.ttl,
        stable_prefix=stable_prefix_index(normalized, plan.stable_turns),
        previous_end=None if plan.moved else last_write_point(body["messages"]),
        enabled=cache.enabled,
    )
    try:
        check_request(body, entry=spec.entry)
    except InvalidContentError as exc:
        raise _at_turn(exc, normalized, plan.turns) from None
    check_door(
        body, door=spec.door, betas=params.betas, batch=spec.batch, entry=spec.entry
    )
    # Cache diagnostics exist on the first-party door only.
    if cache.diagnostics and spec.door.diagnostics and "diagnostics" not in body:
        body["diagnostics"] = {"previous_message_id": _previous_message_id(window)}
    return Plan(
        body,
        params.betas,
        new,
        _free_reply_id(answering.id, window),
        prefill,
        model,
        plan,
        caps.tokenizer,
        fixed,
        key,
        normalized,
    )


def _at_turn(
    exc: InvalidContentError, normalized: Normalized, turns: Sequence[Turn]
) -> InvalidContentError:
    """Name the turn a request-wide refusal points at, and the way out."""
    positions = normalized.locate(exc.path)
    if not positions:
        return exc
    turn = turns[positions[0]]
    if turn.seq is None:
        where = f"{exc.path} (the new turn)"
    else:
        where = (
            f"{exc.path} (turn seq {turn.seq}, id {turn.id!r}: take it out of "
            f"the replay with conv.retract({turn.seq}), or edit it)"
        )
    return InvalidContentError(exc.rule, entry=exc.entry, path=where)


def summary_body(
    request: SummaryRequest, summarizer: ModelSummarizer, record: ConversationRecord
) -> dict[str, Any]:
    """The body of a summary call: the dropped span as a transcript to condense."""
    return {
        "model": summarizer.model or record.model,
        "max_tokens": summarizer.max_tokens,
        "system": summarizer.instructions,
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": transcript(request.turns)}],
            }
        ],
    }
