"""Request validation: headers, then the body's top-level fields, then messages.

The fake is an oracle for conversa's own request building, so none of this shares
code with conversa: it is written from the API's documentation (https://docs.claude.com/en/api/messages), the
official SDK's request types (which keys each block, source and tool may hold), and
the API's own 400 texts as public issue threads quote them (each such text names its
source where it is raised). Every rule is a small function that raises
`RejectedError`; the tables at the end list them in the order they run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from ._validate_base import (
    Ctx,
    RejectedError,
    check_cache_control,
    check_keys,
    is_int,
    reject,
)
from ._validate_params import (
    THINKING_DOCS,
    check_output_config,
    check_system,
    check_thinking,
    check_tool_choice,
    check_tools,
)
from ._validate_turns import MESSAGE_RULES

__all__ = [
    "EXTENDED_OUTPUT_BETA",
    "MAX_BODY_BYTES",
    "MESSAGES_ONLY",
    "VERSIONS",
    "check_headers",
    "parse_body",
    "validate",
]

VERSIONS = ("2023-06-01", "2026-10-21")
#: The beta that lets a Message Batch item ask for more output
#: (`ModelRules.extended_output_tokens`).
EXTENDED_OUTPUT_BETA = "output-300k-2026-03-24"
MAX_BODY_BYTES = 32 * 1024 * 1024
_COMMON = (
    "model",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "cache_control",
    "output_config",
    "speed",
)
_MESSAGES_ONLY = (
    "max_tokens",
    "stop_sequences",
    "stream",
    "metadata",
    "service_tier",
    "container",
    "diagnostics",
    "inference_geo",
)
_SAMPLING = ("temperature", "top_p", "top_k")
# The fields a create call takes and count_tokens does not.
MESSAGES_ONLY = (*_MESSAGES_ONLY, *_SAMPLING)
_BETA_FIELDS = {
    "context_management": ("context-management-2025-06-27",),
    "mcp_servers": ("mcp-client-2025-11-20", "mcp-client-2025-04-04"),
}


def check_headers(
    headers: httpx.Headers, size: int, limit: int, *, has_body: bool = True
) -> tuple[str, frozenset[str]]:
    """Check size, auth and version headers; return the version and the betas.

    *has_body* is False for GET and DELETE calls, which send no JSON body.
    """
    if size > limit:
        raise RejectedError(
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        )
    bearer = headers.get("authorization", "")
    if not headers.get("x-api-key") and not bearer.lower().startswith("bearer "):
        raise RejectedError(401, "authentication_error", "x-api-key header is required")
    version = headers.get("anthropic-version")
    if version is None:
        reject("anthropic-version: header is required")
    if version not in VERSIONS:
        reject(
            f"anthropic-version: invalid version '{version}'; supported versions: "
            + ", ".join(VERSIONS)
        )
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if has_body and content_type != "application/json":
        reject("content-type: the request body must be application/json")
    betas = frozenset(
        b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()
    )
    return version, betas


def _not_json(constant: str) -> Any:
    msg = f"Expecting value: {constant} is not JSON"
    raise ValueError(msg)


def parse_body(content: bytes) -> dict[str, Any]:
    """Parse the JSON body, keeping key order; it must be an object."""
    try:
        # JSON has no NaN or Infinity, which Python's parser takes by default.
        body = json.loads(content, parse_constant=_not_json)
    except ValueError as exc:
        msg = f"There was an error parsing the body of your request: {exc}"
        raise RejectedError(400, "invalid_request_error", msg) from None
    if not isinstance(body, dict):
        reject("body: Input should be a valid dictionary")
    return body


def _fields(ctx: Ctx) -> None:
    known = _COMMON + (_MESSAGES_ONLY if ctx.endpoint == "messages" else ())
    if ctx.endpoint == "messages" and not ctx.new_api:
        known += _SAMPLING
    for key in ctx.body:
        beta = _BETA_FIELDS.get(key, ())
        if key not in known and not ctx.betas.intersection(beta):
            reject(f"{key}: Extra inputs are not permitted")
    required = (
        ("model", "max_tokens", "messages")
        if ctx.endpoint == "messages"
        else ("model", "messages")
    )
    for key in required:
        if key not in ctx.body:
            reject(f"{key}: Field required")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalars(ctx: Ctx) -> None:
    body = ctx.body
    if not isinstance(body["model"], str):
        reject("model: Input should be a valid string")
    if not body["model"]:
        reject("model: String should have at least 1 character")
    if "max_tokens" in body and not is_int(body["max_tokens"]):
        reject("max_tokens: Input should be a valid integer")
    if "stream" in body and not isinstance(body["stream"], bool):
        reject("stream: Input should be a valid boolean")
    sequences = body.get("stop_sequences", [])
    if not isinstance(sequences, list):
        reject("stop_sequences: Input should be a valid list")
    for n, sequence in enumerate(sequences):
        if not isinstance(sequence, str):
            reject(f"stop_sequences.{n}: Input should be a valid string")
        if not sequence.strip():
            reject("stop_sequences: each stop sequence must contain non-whitespace")
    if "metadata" in body:
        _metadata(body["metadata"])
    for key, values in (
        ("service_tier", ("auto", "standard_only")),
        ("speed", ("standard", "fast")),
    ):
        if body.get(key) is not None and body[key] not in values:
            reject(f"{key}: Input should be " + " or ".join(f"'{v}'" for v in values))
    for key in ("inference_geo",):
        if body.get(key) is not None and not isinstance(body[key], str):
            reject(f"{key}: Input should be a valid string")
    if body.get("container") is not None and not isinstance(
        body["container"], (str, dict)
    ):
        reject("container: Input should be a valid string or dictionary")
    if "diagnostics" in body:
        _diagnostics(body["diagnostics"])
    check_cache_control(body.get("cache_control"), "cache_control")


def _metadata(value: Any) -> None:
    if not isinstance(value, dict):
        reject("metadata: Input should be a valid dictionary")
    check_keys(value, "metadata", (), ("user_id",))
    if value.get("user_id") is not None and not isinstance(value["user_id"], str):
        reject("metadata.user_id: Input should be a valid string")


def _diagnostics(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        reject("diagnostics: Input should be a valid dictionary")
    check_keys(value, "diagnostics", (), ("previous_message_id",))
    previous = value.get("previous_message_id")
    if previous is not None and not isinstance(previous, str):
        reject("diagnostics.previous_message_id: Input should be a valid string")


def _max_tokens(ctx: Ctx) -> None:
    if ctx.endpoint != "messages":
        return
    body, value = ctx.body, ctx.body["max_tokens"]
    if value < 0:
        reject("max_tokens: Input should be greater than or equal to 0")
    limit = ctx.rules.max_output_tokens
    extended = ctx.rules.extended_output_tokens
    if ctx.batch and extended is not None and EXTENDED_OUTPUT_BETA in ctx.betas:
        limit = max(limit, extended)
    if value > limit:
        reject(
            f"max_tokens: {value} > {limit}, which is the maximum "
            f"allowed number of output tokens for {body['model']}"
        )
    if value:
        return
    # max_tokens 0 is a cache pre-warm: no output, so nothing may need output.
    choice = body.get("tool_choice")
    clashes = (
        ("`stream: true`", body.get("stream") is True),
        ('`thinking.type: "enabled"`', ctx.thinking_type == "enabled"),
        (
            "`output_config.format`",
            isinstance(body.get("output_config"), dict)
            and body["output_config"].get("format") is not None,
        ),
        (
            "a `tool_choice` that forces tool use",
            isinstance(choice, dict) and choice.get("type") in ("any", "tool"),
        ),
    )
    for what, clash in clashes:
        if clash:
            reject(
                f"max_tokens: 0 is only allowed for cache pre-warming; it cannot be combined with {what}"
            )


def _sampling(ctx: Ctx) -> None:
    body = ctx.body
    for key, low, high in (("temperature", 0, 1), ("top_p", 0, 1)):
        if key in body:
            if not _number(body[key]):
                reject(f"{key}: Input should be a valid number")
            if body[key] < low:
                reject(f"{key}: Input should be greater than or equal to {low}")
            if body[key] > high:
                reject(f"{key}: Input should be less than or equal to {high}")
    if "top_k" in body and not (is_int(body["top_k"]) and body["top_k"] >= 0):
        reject("top_k: Input should be a valid integer greater than or equal to 0")
    if ctx.rules.default_sampling_only:
        for key, default in (("temperature", 1), ("top_p", 1), ("top_k", None)):
            if key in body and body[key] != default:
                reject(
                    f"{key}: {body['model']} only supports the default value; remove "
                    "the parameter"
                )
    if ctx.thinking_on:
        if body.get("temperature", 1) != 1:
            reject(
                "temperature may only be set to 1 when thinking is enabled."
                + THINKING_DOCS
            )
        if not 0.95 <= body.get("top_p", 1) <= 1:
            reject(
                "top_p must be greater than or equal to 0.95 or unset when thinking "
                "is enabled." + THINKING_DOCS
            )
        if "top_k" in body:
            reject("top_k must be unset when thinking is enabled." + THINKING_DOCS)


Rule = Callable[[Ctx], None]
BODY_RULES: tuple[Rule, ...] = (
    _fields,
    _scalars,
    check_output_config,
    check_thinking,
    _max_tokens,
    _sampling,
    check_system,
    check_tools,
    check_tool_choice,
    *MESSAGE_RULES,
)


def validate(ctx: Ctx) -> None:
    """Run every rule on *ctx*'s body; the first broken one raises `RejectedError`."""
    for rule in BODY_RULES:
        rule(ctx)
