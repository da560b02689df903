"""The fake's own table of per-model rules (the models overview, prompt caching docs).

Model ids are read by family and version (``claude-opus-4-6``, ``claude-sonnet-5-5``,
``claude-haiku-4-5-20251001``), so later versions of a family inherit the rules of
the newest one listed. An id the table cannot read (``claude-test-1``) gets the
permissive `ModelRules()` defaults: it accepts prefill, every thinking type and 128k
output tokens, unless the fake was told otherwise.
"""

from __future__ import annotations

import re

from attrs import evolve, field, frozen

__all__ = ["ModelRules", "rules_for"]

_THINKING_ALL = frozenset({"enabled", "adaptive", "disabled", "between_tools"})
# First-party ids, and the doors' spellings of them: Bedrock's ``anthropic.`` with
# an inference-profile prefix (``us.``...), an ARN, a ``-v1:0`` suffix; Vertex's
# ``@date``.
_ID = re.compile(
    r"^(?:arn:aws:bedrock:[^/]*/)?(?:(?:global|us|eu|jp|apac|au)\.)?(?:anthropic\.)?"
    r"claude-(?P<family>opus|sonnet|haiku|fable|mythos)-(?P<major>\d+)"
    r"(?:-(?P<minor>\d{1,2}))?(?:-\d{8})?(?:-v\d+(?::\d+)?)?(?:@\d{8})?$"
)


@frozen
class ModelRules:
    """The rules the fake enforces for one model.

    Attributes:
        accepts_prefill: whether a final assistant message (a prefill) is allowed.
        max_output_tokens: the largest ``max_tokens`` the model takes.
        context_window: input tokens (by the fake tokenizer) beyond which a request
            is "prompt is too long"; input plus output beyond it stops the reply
            with ``model_context_window_exceeded``.
        thinking_types: the ``thinking.type`` values the model accepts.
        thinking_by_default: whether thinking is on when the request has no
            ``thinking`` field.
        omit_thinking_by_default: whether ``thinking.display`` defaults to
            ``"omitted"`` (thinking text empty, signature only).
        system_messages: whether ``role: "system"`` messages are accepted.
        default_sampling_only: whether non-default ``temperature``/``top_p``/
            ``top_k`` are rejected (API version 2023-06-01).
        max_images: images allowed in one request.
        disabled_needs_low_effort: whether ``thinking.type: "disabled"`` is only
            accepted at ``output_config.effort`` high or lower.
        min_cacheable_tokens: the shortest prefix (by the fake tokenizer) the
            prompt cache stores; shorter ones are silently not cached.
        extended_output_tokens: the largest ``max_tokens`` a Message Batch item
            may ask for with the ``output-300k-2026-03-24`` beta; None where the
            beta does not serve the model (it never raises a synchronous call's).
    """

    accepts_prefill: bool = field(default=True, kw_only=True)
    max_output_tokens: int = field(default=128_000, kw_only=True)
    context_window: int = field(default=200_000, kw_only=True)
    thinking_types: frozenset[str] = field(default=_THINKING_ALL, kw_only=True)
    thinking_by_default: bool = field(default=False, kw_only=True)
    omit_thinking_by_default: bool = field(default=False, kw_only=True)
    system_messages: bool = field(default=False, kw_only=True)
    default_sampling_only: bool = field(default=False, kw_only=True)
    max_images: int = field(default=600, kw_only=True)
    disabled_needs_low_effort: bool = field(default=False, kw_only=True)
    min_cacheable_tokens: int = field(default=1024, kw_only=True)
    extended_output_tokens: int | None = field(default=None, kw_only=True)


def _min_cacheable(family: str, version: tuple[int, int]) -> int:
    # The prompt caching docs' minimums; later versions inherit the newest listed.
    if version >= (5, 0) and family in ("opus", "fable", "mythos"):
        return 512
    if family == "mythos" or (family, version) == ("opus", (4, 7)):
        return 2048
    if family == "haiku":
        return 4096 if version >= (4, 5) else 2048
    if family == "opus" and (4, 5) <= version <= (4, 6):
        return 4096
    return 1024


def _known(family: str, version: tuple[int, int]) -> ModelRules:
    if version < (4, 6) and family in ("opus", "sonnet", "haiku"):
        # Claude 4.5 and older: extended thinking only, 200k context, prefill ok.
        return ModelRules(
            max_output_tokens=64_000 if version >= (4, 5) else 32_000,
            thinking_types=frozenset({"enabled", "disabled"}),
            max_images=100,
            min_cacheable_tokens=_min_cacheable(family, version),
        )
    always_thinking = family in ("fable", "mythos")
    gen5 = version >= (5, 0) or always_thinking
    if always_thinking:
        types = frozenset({"adaptive", "between_tools"})
    elif version >= (4, 7):
        types = frozenset({"adaptive", "between_tools", "disabled"})
    else:
        types = _THINKING_ALL
    return ModelRules(
        accepts_prefill=False,
        context_window=1_000_000,
        thinking_types=types,
        thinking_by_default=gen5,
        omit_thinking_by_default=gen5,
        system_messages=(family == "opus" and version >= (4, 8))
        or (always_thinking and version >= (5, 0)),
        default_sampling_only=always_thinking
        or (family == "opus" and version >= (4, 7))
        or version >= (5, 0),
        disabled_needs_low_effort=family == "opus" and version >= (5, 0),
        min_cacheable_tokens=_min_cacheable(family, version),
        # The 300k output beta: Opus and Sonnet from 4.6 on (the batch
        # processing docs, as of 2026-08); not Fable, Mythos or Haiku.
        extended_output_tokens=300_000 if family in ("opus", "sonnet") else None,
    )


def rules_for(
    model: str,
    *,
    overrides: dict[str, ModelRules],
    prefill_rejecting: frozenset[str],
) -> ModelRules:
    """Return the rules for *model*: an override, the table, or the defaults."""
    if model in overrides:
        return overrides[model]
    if model == "claude-mythos-preview":
        rules = _known("mythos", (0, 0))
    elif match := _ID.match(model):
        minor = int(match["minor"]) if match["minor"] else 0
        rules = _known(match["family"], (int(match["major"]), minor))
    else:
        rules = ModelRules()
    if model in prefill_rejecting:
        rules = evolve(rules, accepts_prefill=False)
    return rules
