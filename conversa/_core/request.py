"""Pure request building and reply folding.

`check_params` refuses what the chosen API version or model would reject;
`build_body` lays out the JSON body in one fixed key order (the prompt cache hashes
bytes, so the same inputs always give the same text); `fold_reply` turns the API's
Message into the assistant `Turn` a store keeps. What conversa knows about each
body field (its caller keyword, whether it is reserved, counted, allowed in a
batch, or removed in an API version) is in `conversa._values.params`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from attrs import evolve

from .._exceptions import (
    BadRequestError,
    HistoryRejectedError,
    InvalidInputError,
    PrefillNotSupportedError,
    PrefillRejectedError,
)
from .._values.blocks import TextBlock, blocks_from_api
from .._values.capabilities import ModelCapabilities, known_model, thinking_enabled
from .._values.doors import (
    EXTENDED_OUTPUT_BETA,
    EXTENDED_OUTPUT_MAX,
    extended_output_model,
)
from .._values.params import (
    BODY_FIELDS,
    RESERVED,
    RequestParams,
    body_fields,
)
from .._values.turns import ConversationRecord, Turn, Usage
from .api_rules import check_tools

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "build_body",
    "check_params",
    "check_prefill",
    "fold_partial",
    "fold_reply",
    "map_api_error",
    # Re-exported while the conversations still take it from here; its home is
    # `conversa._values.params`.
]

DEFAULT_API_VERSION = "2026-10-21"
API_VERSIONS = ("2026-10-21", "2023-06-01")

# The reply's top-level keys that have a `Turn` attribute of their own.
_FOLDED = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)
# The API's wording for a refused prefill (its texts may change; this one is stable
# enough to map to PrefillRejectedError, and a miss only means a plain BadRequestError).
_PREFILL_REJECTED = "does not support assistant message prefill"
# The API starts a 400 about one message or block with its path.
_MESSAGE_PATH = re.compile(r"(messages\.\d+(?:\.content\.\d+)?)\b")


def check_params(
    params: RequestParams, *, model: str, caps: ModelCapabilities, api_version: str
) -> None:
    """Refuse parameters the API would reject, before anything is written or sent.

    Raises:
        InvalidInputError: naming the parameter and the rule.
    """
    if api_version not in API_VERSIONS:
        msg = f"api_version must be one of {API_VERSIONS}, not {api_version!r}"
        raise InvalidInputError(msg)
    if not model:
        msg = "a conversation needs a model"
        raise InvalidInputError(msg)
    reserved = sorted(RESERVED & set(params.extra))
    if reserved:
        msg = f"{reserved[0]!r} is set by conversa; pass it as its own argument"
        raise InvalidInputError(msg)
    # ISO dates: a later version compares greater.
    removed = [
        (name, f.removed_in)
        for name, f in BODY_FIELDS.items()
        if f.removed_in and api_version >= f.removed_in and name in params.extra
    ]
    if removed:
        name, version = removed[0]
        msg = (
            f"{name} was removed in API version {version} (any value is "
            f"rejected); drop it, or use api_version={API_VERSIONS[-1]!r}"
        )
        raise InvalidInputError(msg)
    # The 300k output beta lets a stored setting go higher; whether a call may use
    # it (batches only, on some doors) is `_core.doors.check_max_tokens`'s.
    extended = EXTENDED_OUTPUT_BETA in params.betas and extended_output_model(model)
    limit = EXTENDED_OUTPUT_MAX if extended else caps.max_output
    if known_model(model) and params.max_tokens > limit:
        msg = (
            f"max_tokens={params.max_tokens} is over {model!r}'s maximum output "
            f"of {limit}"
        )
        raise InvalidInputError(msg)
    check_tools(params.tools, entry="params")
    _check_thinking(params, model=model, caps=caps)


def _check_thinking(
    params: RequestParams, *, model: str, caps: ModelCapabilities
) -> None:
    if not params.thinking:
        return
    kind = params.thinking.get("type")
    if (
        kind in ("enabled", "adaptive")
        and known_model(model)
        and kind not in caps.thinking_modes
    ):
        modes = ", ".join(sorted(caps.thinking_modes)) or "none"
        msg = (
            f"thinking type {kind!r} is not supported by {model!r} (supported: {modes})"
        )
        raise InvalidInputError(msg)
    if kind == "enabled":
        budget = params.thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            msg = "thinking.budget_tokens must be an integer of at least 1024"
            raise InvalidInputError(msg)
        if budget >= params.max_tokens:
            msg = (
                f"thinking.budget_tokens ({budget}) must be less than max_tokens "
                f"({params.max_tokens}): thinking is part of the output"
            )
            raise InvalidInputError(msg)
        choice = params.tool_choice.get("type") if params.tool_choice else None
        if choice in ("any", "tool"):
            msg = f"tool_choice {choice!r} cannot be used with extended thinking"
            raise InvalidInputError(msg)


def check_prefill(
    prefill: str, *, model: str, caps: ModelCapabilities, params: RequestParams
) -> str:
    """Return the prefill as it will be sent, or refuse it.

    The API rejects trailing whitespace on a final assistant turn, so it is stripped
    here, and the stored reply continues from the stripped text.

    Raises:
        PrefillNotSupportedError: on a model known to reject prefill, or with thinking on.
        InvalidInputError: for a prefill that is empty once stripped.
    """
    if not caps.prefill:
        raise PrefillNotSupportedError(model=model, reason="the model rejects prefill")
    if thinking_enabled(caps, params.thinking):
        raise PrefillNotSupportedError(model=model, reason="thinking is on")
    sent = prefill.rstrip()
    if not sent:
        msg = "a prefill must contain non-whitespace text"
        raise InvalidInputError(msg)
    return sent


def build_body(
    record: ConversationRecord,
    messages: list[dict[str, Any]],
    params: RequestParams,
    *,
    model: str,
    stream: bool = False,
) -> dict[str, Any]:
    """Lay out the request body in conversa's fixed key order.

    `model`, the parameters sent on every call (`max_tokens`), `system`,
    `messages`, the other parameters that are set (in `RequestParams` order), the
    `extra` fields, then `stream`.
    """
    body: dict[str, Any] = {"model": model, **body_fields(params, always=True)}
    system = record.system_to_api()
    if system:
        body["system"] = system
    body["messages"] = messages
    body.update(body_fields(params, always=False))
    body.update(params.extra)
    if stream:
        body["stream"] = True
    return body


def fold_reply(
    message: Mapping[str, Any],
    *,
    reply_id: str,
    prefill: str | None = None,
    request_id: str | None = None,
) -> Turn:
    """Turn the API's Message into the assistant turn to store.

    With a prefill the stored turn is the prefill plus the continuation, one turn:
    the prefill is joined to the first text block of the reply.
    """
    blocks = list(blocks_from_api(message.get("content") or ()))
    if prefill:
        if blocks and isinstance(blocks[0], TextBlock):
            first = blocks[0]
            blocks[0] = TextBlock(
                prefill + first.text, extra=first.extra, keys=first.keys
            )
        else:
            blocks.insert(0, TextBlock(prefill))
    usage = message.get("usage")
    return Turn(
        "assistant",
        tuple(blocks),
        id=reply_id,
        message_id=message.get("id"),
        model=message.get("model"),
        stop_reason=message.get("stop_reason"),
        stop_sequence=message.get("stop_sequence"),
        usage=Usage.from_api(usage) if isinstance(usage, Mapping) else None,
        request_id=request_id,
        response_extra={k: v for k, v in message.items() if k not in _FOLDED},
    )


def fold_partial(
    snapshot: Mapping[str, Any] | None,
    *,
    reply_id: str,
    prefill: str | None = None,
    request_id: str | None = None,
) -> Turn | None:
    """Turn what an interrupted stream delivered into a turn marked "interrupted".

    Only text survives: a tool call or thinking block cut in the middle cannot be
    replayed. None when no text arrived.
    """
    content = (snapshot or {}).get("content") or ()
    texts = [b for b in content if b.get("type") == "text" and b.get("text")]
    if not texts and not prefill:
        return None
    turn = fold_reply(
        {**(snapshot or {}), "content": texts, "stop_reason": None},
        reply_id=reply_id,
        prefill=prefill,
        request_id=request_id,
    )
    return evolve(turn, status="interrupted")


def map_api_error(
    exc: BadRequestError,
    *,
    model: str,
    prefilled: bool,
    locate: Callable[[str], Turn | None] = lambda _: None,
) -> BadRequestError:
    """Map a 400 to the error that says what to do; other errors pass through.

    For a model conversa does not know, the API is the one to refuse a prefill: that
    becomes `PrefillRejectedError`, a `PrefillNotSupportedError` too, so callers
    catch one thing. A 400 whose message starts with a `messages.N` path becomes
    `HistoryRejectedError` when *locate* maps the path to a stored turn.
    """
    status: dict[str, Any] = {
        "status_code": exc.status_code,
        "error_type": exc.error_type,
        "error_message": exc.error_message,
        "request_id": exc.request_id,
        "body": exc.body,
    }
    found = _MESSAGE_PATH.match(exc.error_message or "")
    if found is not None and not (
        prefilled and _PREFILL_REJECTED in (exc.error_message or "")
    ):
        turn = locate(found[1])
        if turn is not None and turn.seq is not None:
            return HistoryRejectedError(
                turn_seq=turn.seq,
                turn_id=turn.id,
                turn_role=turn.role,
                path=found[1],
                **status,
            )
    if prefilled and _PREFILL_REJECTED in (exc.error_message or ""):
        return PrefillRejectedError(model=model, **status)
    return exc
