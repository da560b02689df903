"""The model capability table: lookup, values, unknown models and overrides."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from anthropic.types import ModelParam

from conversa._exceptions import InvalidInputError
from conversa._values.capabilities import (
    THINKING_MODES,
    TOKENIZER_2026,
    TOKENIZER_CLASSIC,
    UNKNOWN_MODEL,
    ModelCapabilities,
    canonical_model,
    capabilities_for,
    known_model,
    known_models,
    same_model,
    thinking_enabled,
)

K = 1000

# model: (context_window, max_output, prefill, thinking_modes, thinking_default_on,
#         min_cacheable_tokens, system_messages, max_images, keeps_prior_thinking,
#         tokenizer) -- MESSAGES_API.md §2.3, §3.1, §3.4, §3.6, §10.
TABLE: dict[str, tuple[Any, ...]] = {
    "claude-opus-5-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-sonnet-5-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        1024,
        False,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-haiku-5-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        4096,
        False,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-fable-5-2": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-fable-5-1": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-fable-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-mythos-5-2": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-mythos-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-opus-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        512,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-sonnet-5": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        1024,
        False,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-mythos-preview": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        True,
        2048,
        False,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-opus-4-8": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        False,
        1024,
        True,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-opus-4-7": (
        1000 * K,
        128 * K,
        False,
        {"adaptive"},
        False,
        2048,
        False,
        600,
        True,
        TOKENIZER_2026,
    ),
    "claude-opus-4-6": (
        1000 * K,
        128 * K,
        False,
        {"adaptive", "enabled"},
        False,
        4096,
        False,
        600,
        True,
        TOKENIZER_CLASSIC,
    ),
    "claude-sonnet-4-6": (
        1000 * K,
        128 * K,
        False,
        {"adaptive", "enabled"},
        False,
        1024,
        False,
        600,
        True,
        TOKENIZER_CLASSIC,
    ),
    "claude-opus-4-5": (
        200 * K,
        64 * K,
        True,
        {"enabled"},
        False,
        4096,
        False,
        100,
        True,
        TOKENIZER_CLASSIC,
    ),
    "claude-sonnet-4-5": (
        200 * K,
        64 * K,
        True,
        {"enabled"},
        False,
        1024,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
    "claude-haiku-4-5": (
        200 * K,
        64 * K,
        True,
        {"enabled"},
        False,
        4096,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
    "claude-opus-4-1": (
        200 * K,
        32 * K,
        True,
        {"enabled"},
        False,
        1024,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
    "claude-opus-4": (
        200 * K,
        32 * K,
        True,
        {"enabled"},
        False,
        1024,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
    "claude-sonnet-4": (
        200 * K,
        64 * K,
        True,
        {"enabled"},
        False,
        1024,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
    "claude-3-5-haiku": (
        200 * K,
        8192,
        True,
        set(),
        False,
        2048,
        False,
        100,
        False,
        TOKENIZER_CLASSIC,
    ),
}
FIELDS = (
    "context_window",
    "max_output",
    "prefill",
    "thinking_modes",
    "thinking_default_on",
    "min_cacheable_tokens",
    "system_messages",
    "max_images",
    "keeps_prior_thinking",
    "tokenizer",
)


def _values(caps: ModelCapabilities) -> tuple[Any, ...]:
    return tuple(
        set(v) if isinstance(v, frozenset) else v
        for v in (getattr(caps, name) for name in FIELDS)
    )


@pytest.mark.parametrize(("model", "expected"), TABLE.items(), ids=list(TABLE))
def test_table_values(model: str, expected: tuple[Any, ...]) -> None:
    """Each model's capabilities are the ones MESSAGES_API.md and its overview give."""
    assert _values(capabilities_for(model)) == expected


def test_every_sdk_model_is_known() -> None:
    """Every model id the official SDK lists has an entry in the table."""
    literal = get_args(ModelParam)[0]
    missing = [m for m in get_args(literal) if not known_model(m)]
    assert missing == []


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-sonnet-4-0", "claude-sonnet-4"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("  Claude-Opus-5-5 ", "claude-opus-5-5"),
        ("claude-fable-5-1", "claude-fable-5-1"),
        ("claude-future-9-20300101", "claude-future-9"),
    ],
)
def test_canonical_model(spelling: str, canonical: str) -> None:
    """Dated ids, aliases and cloud spellings all come down to the table's name."""
    assert canonical_model(spelling) == canonical


def test_dated_id_has_the_alias_capabilities() -> None:
    """A dated id gets exactly its alias's entry."""
    assert capabilities_for("claude-sonnet-4-5-20250929") == capabilities_for(
        "claude-sonnet-4-5"
    )


@pytest.mark.parametrize(
    ("model", "prefill"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-opus-4-5-20251101", True),
        ("claude-haiku-4-5", True),
        ("claude-opus-4-6", False),
        ("claude-sonnet-4-6", False),
        ("claude-opus-4-7", False),
        ("claude-mythos-preview", False),
        ("claude-opus-5-5", False),
        ("claude-fable-5-2", False),
    ],
)
def test_prefill_rejected_on_claude_4_6_and_later(model: str, prefill: bool) -> None:
    """Prefill is refused on Claude 4.6 and later and on Mythos Preview (§3.1)."""
    assert capabilities_for(model).prefill is prefill


def test_unknown_model_defaults() -> None:
    """An unknown model gets the permissive gates and the smallest budgets."""
    caps = capabilities_for("claude-next-7")
    assert not known_model("claude-next-7")
    assert caps.prefill is True
    assert caps.thinking_modes == THINKING_MODES
    assert caps.context_window == 200_000
    assert caps.max_output == 8192
    assert caps.min_cacheable_tokens == 4096
    assert caps.max_images == 100
    assert caps.system_messages is False
    assert caps.tokenizer == "unknown:claude-next-7"
    assert UNKNOWN_MODEL.tokenizer == "unknown"


def test_unknown_models_do_not_share_a_tokenizer() -> None:
    """Exact counts of one unknown model are never taken for another's."""
    assert capabilities_for("x-1").tokenizer != capabilities_for("x-2").tokenizer
    assert (
        capabilities_for("x-1-20300101").tokenizer == capabilities_for("x-1").tokenizer
    )


def test_known_models_lists_the_table() -> None:
    """known_models() returns every canonical id, each one known."""
    models = known_models()
    assert set(TABLE) <= set(models)
    assert all(known_model(m) for m in models)


def test_same_model() -> None:
    """An alias and its dated id are the same model; two versions are not."""
    assert same_model("claude-sonnet-4-5", "claude-sonnet-4-5-20250929")
    assert not same_model("claude-sonnet-4-5", "claude-sonnet-4-6")


def test_overrides_by_field_name() -> None:
    """A conversation's overrides replace the named fields and keep the rest."""
    caps = capabilities_for(
        "claude-opus-4-6",
        {"prefill": True, "context_window": 500_000, "thinking_modes": ["adaptive"]},
    )
    assert caps.prefill is True
    assert caps.context_window == 500_000
    assert caps.thinking_modes == frozenset({"adaptive"})
    assert caps.max_output == 128_000


def test_empty_overrides_return_the_entry() -> None:
    """No overrides (None or {}) give the table's entry unchanged."""
    assert capabilities_for("claude-opus-5", {}) is capabilities_for("claude-opus-5")


def test_override_of_unknown_field_is_refused() -> None:
    """An override naming no capability raises InvalidInputError, naming it."""
    with pytest.raises(InvalidInputError, match="'prefil'"):
        capabilities_for("claude-opus-5", {"prefil": True})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"context_window": 0}, "'context_window' must be an integer >= 1"),
        ({"max_output": "big"}, "'max_output' must be an integer >= 1"),
        ({"max_images": True}, "'max_images' must be an integer >= 0"),
        (
            {"min_cacheable_tokens": -1},
            "'min_cacheable_tokens' must be an integer >= 0",
        ),
        ({"prefill": "yes"}, "'prefill' must be true or false"),
        ({"tokenizer": ""}, "'tokenizer' must be a non-empty string"),
        ({"thinking_modes": "adaptive"}, "'thinking_modes' must be a list"),
        ({"thinking_modes": 3}, "'thinking_modes' must be a list"),
        ({"thinking_modes": ["adaptive", "fast"]}, "unknown thinking mode 'fast'"),
    ],
)
def test_bad_override_values_are_refused(
    overrides: dict[str, Any], message: str
) -> None:
    """Override values are checked as the table's own are."""
    with pytest.raises(InvalidInputError, match=message):
        capabilities_for("claude-sonnet-4-5", overrides)


@pytest.mark.parametrize(
    ("model", "thinking", "on"),
    [
        ("claude-opus-5", None, True),
        ("claude-opus-4-8", None, False),
        ("claude-opus-4-8", {"type": "adaptive"}, True),
        ("claude-sonnet-4-5", {"type": "enabled", "budget_tokens": 2048}, True),
        ("claude-opus-5", {"type": "disabled"}, False),
        ("claude-sonnet-5-5", {"type": "between_tools"}, True),
    ],
)
def test_thinking_enabled(
    model: str, thinking: dict[str, Any] | None, on: bool
) -> None:
    """Thinking is on by the request's type, or the model's default when absent."""
    assert thinking_enabled(capabilities_for(model), thinking) is on
