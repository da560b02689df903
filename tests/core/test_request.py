"""Request parameter checks, the prefill gate, and reply folding."""

from __future__ import annotations

from typing import Any

import pytest

from conversa import (
    BadRequestError,
    InvalidInputError,
    PrefillNotSupportedError,
    RequestParams,
    TextBlock,
    ToolUseBlock,
    capabilities_for,
)
from conversa._core.request import (
    check_params,
    check_prefill,
    fold_partial,
    fold_reply,
    map_api_error,
)

SONNET = "claude-sonnet-4-5"


def _check(model: str = SONNET, api_version: str = "2026-10-21", **params: Any) -> None:
    check_params(
        RequestParams(**params),
        model=model,
        caps=capabilities_for(model),
        api_version=api_version,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_version": "2025-01-01"}, "api_version must be one of"),
        ({"model": ""}, "needs a model"),
        ({"extra": {"messages": []}}, "'messages' is set by conversa"),
        ({"extra": {"top_k": 5}}, "top_k was removed in API version 2026-10-21"),
        ({"max_tokens": 1_000_000}, "maximum output"),
        (
            {
                "model": "claude-opus-4-8",
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            },
            "not supported",
        ),
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "at least 1024"),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 5000},
                "max_tokens": 4096,
            },
            "less than max_tokens",
        ),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "tool_choice": {"type": "any"},
            },
            "cannot be used with extended thinking",
        ),
    ],
)
def test_parameters_the_api_would_reject_are_refused(
    kwargs: dict[str, Any], message: str
) -> None:
    """Each rule raises InvalidInputError naming the parameter, before any I/O."""
    with pytest.raises(InvalidInputError, match=message):
        _check(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_version": "2023-06-01", "extra": {"temperature": 0.3}},
        {"model": "claude-unknown-9", "max_tokens": 500_000},
        {"thinking": {"type": "disabled"}},
        {
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tool_choice": {"type": "auto"},
        },
    ],
)
def test_valid_parameters_pass(kwargs: dict[str, Any]) -> None:
    """Sampling on 2023-06-01, unknown models' limits and valid thinking are left to the API."""
    _check(**kwargs)


def test_a_whitespace_prefill_is_refused() -> None:
    """A prefill must have non-whitespace text once trailing whitespace is stripped."""
    with pytest.raises(InvalidInputError, match="non-whitespace"):
        check_prefill(
            "  \n", model=SONNET, caps=capabilities_for(SONNET), params=RequestParams()
        )


def test_adaptive_thinking_on_by_default_blocks_prefill() -> None:
    """A model that thinks by default cannot take a prefill either."""
    with pytest.raises(PrefillNotSupportedError):
        check_prefill(
            "{",
            model="claude-opus-5",
            caps=capabilities_for("claude-opus-5"),
            params=RequestParams(),
        )


def test_a_prefill_before_a_non_text_block_becomes_its_own_text_block() -> None:
    """When the continuation starts with a tool call, the prefill stays a text block before it."""
    message = {
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "x", "input": {}}]
    }
    turn = fold_reply(message, reply_id="r", prefill="Let me check.")
    assert isinstance(turn.blocks[0], TextBlock)
    assert isinstance(turn.blocks[1], ToolUseBlock)
    assert turn.usage is None


def test_a_partial_stream_without_text_folds_to_nothing() -> None:
    """An interrupted stream that delivered no text stores no turn."""
    assert fold_partial(None, reply_id="r") is None
    snapshot = {"content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]}
    assert fold_partial(snapshot, reply_id="r") is None
    prefilled = fold_partial(None, reply_id="r", prefill="{")
    assert prefilled is not None
    assert (prefilled.text, prefilled.status) == ("{", "interrupted")


def test_other_400s_pass_through_unmapped() -> None:
    """Only the prefill refusal is mapped; any other 400 is returned as it is."""
    exc = BadRequestError(status_code=400, error_message="something else")
    assert map_api_error(exc, model=SONNET, prefilled=True) is exc
