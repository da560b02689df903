"""The model capability table: what each Claude model accepts and how large it is.

Every model-dependent choice conversa makes reads a `ModelCapabilities`: whether a
prefill may be sent, which thinking modes exist and whether thinking is on by
default, how large the context window and the output are, how long a prompt must be
before the cache takes it, and which tokenizer its exact token counts belong to.

`capabilities_for` finds a model by its exact id, its alias, a dated id
(`claude-sonnet-4-5-20250929`), or a cloud platform's spelling of them
(`us.anthropic.claude-sonnet-4-5-20250929-v1:0`, an inference profile's ARN,
`claude-sonnet-4-5@20250929`).
A conversation may override any field (`ConversationRecord.capabilities`).

A model the table does not know gets `UNKNOWN_MODEL` values, chosen by one
principle: never refuse what the API might accept, never plan beyond what the
smallest current model allows. So an unknown model may take a prefill and either
thinking mode (if it does not, the API's own 400 says so and conversa maps it to
the same error class), while its window (200k), output (8,192), image count (100)
and minimum cacheable prompt (4,096, the highest) are those of the smallest models,
and its exact token counts are kept to itself (its tokenizer is its own id).

Sources: the models overview (https://platform.claude.com/docs/en/about-claude/models/overview) for windows and
outputs, the prompt caching docs for cache minimums, the Messages API docs for
prefill, thinking and system messages; the late-2026 models' overview
pages for Opus 5.5, Sonnet 5.5, Haiku 5.5, Fable 5.1/5.2 and Mythos 5.x. Where a
page leaves a field open (a 5.5 model's cache minimum, say), the value is the one
its family had before, and the field can be overridden.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import Attribute, evolve, field, fields, frozen

from .._exceptions import InvalidInputError

__all__ = [
    "THINKING_MODES",
    "TOKENIZER_2026",
    "TOKENIZER_CLASSIC",
    "UNKNOWN_MODEL",
    "ModelCapabilities",
    "canonical_model",
    "capabilities_for",
    "known_model",
    "known_models",
    "same_model",
    "thinking_enabled",
]

#: The two thinking modes a request can ask for (`thinking.type`).
THINKING_MODES = frozenset({"enabled", "adaptive"})

#: The tokenizer of every model up to Opus 4.6, Sonnet 4.6 and Haiku 4.5.
TOKENIZER_CLASSIC = "claude"
#: The tokenizer introduced with Opus 4.7 (about 30% more tokens for the same
#: text), used by every later model.
TOKENIZER_2026 = "claude-4.7"


def _check_int(minimum: int) -> Any:
    def check(_: Any, attribute: Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            msg = f"capability {attribute.name!r} must be an integer >= {minimum}, not {value!r}"
            raise InvalidInputError(msg)

    return check


def _check_bool(_: Any, attribute: Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        msg = f"capability {attribute.name!r} must be true or false, not {value!r}"
        raise InvalidInputError(msg)


def _check_tokenizer(_: Any, attribute: Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        msg = f"capability {attribute.name!r} must be a non-empty string, not {value!r}"
        raise InvalidInputError(msg)


def _to_modes(value: Iterable[str]) -> frozenset[str]:
    """Accept any iterable of mode names (JSON gives a list) and check each one."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"capability 'thinking_modes' must be a list of modes, not {value!r}"
        raise InvalidInputError(msg)
    modes = frozenset(value)
    unknown = sorted(str(m) for m in modes - THINKING_MODES)
    if unknown:
        msg = f"unknown thinking mode {unknown[0]!r}; the modes are 'adaptive' and 'enabled'"
        raise InvalidInputError(msg)
    return modes


@frozen(kw_only=True)
class ModelCapabilities:
    """What one model accepts, and how large it is.

    Attributes:
        context_window: input plus output tokens the model can hold.
        max_output: the largest `max_tokens` a synchronous call may ask for.
        prefill: whether a final assistant message (a prefill) is accepted;
            Claude 4.6 and later, and Mythos Preview, reject it.
        thinking_modes: the `thinking.type` values the model takes: "enabled"
            (a manual budget) and/or "adaptive".
        thinking_default_on: whether the model thinks when the request has no
            `thinking` field.
        min_cacheable_tokens: the shortest prompt prefix the cache takes; a
            shorter one is silently not cached.
        system_messages: whether `role: "system"` messages mid-conversation are
            accepted (Fable 5, Mythos 5, Opus 4.8, Opus 5).
        max_images: images (and PDF pages) per request: 600, or 100 on
            200k-context models.
        keeps_prior_thinking: whether thinking from earlier assistant turns stays in
            the context (and is billed); older models drop it themselves.
        tokenizer: the family name of the model's tokenizer; exact token counts
            are comparable only between models with the same tokenizer.
    """

    context_window: int = field(validator=_check_int(1))
    max_output: int = field(validator=_check_int(1))
    prefill: bool = field(validator=_check_bool)
    thinking_modes: frozenset[str] = field(converter=_to_modes)
    thinking_default_on: bool = field(validator=_check_bool)
    min_cacheable_tokens: int = field(validator=_check_int(0))
    system_messages: bool = field(validator=_check_bool)
    max_images: int = field(validator=_check_int(0))
    keeps_prior_thinking: bool = field(validator=_check_bool)
    tokenizer: str = field(validator=_check_tokenizer)


_FIELD_NAMES = tuple(a.name for a in fields(ModelCapabilities))

#: The values a model conversa does not know gets (see the module docstring).
UNKNOWN_MODEL = ModelCapabilities(
    context_window=200_000,
    max_output=8192,
    prefill=True,
    thinking_modes=THINKING_MODES,
    thinking_default_on=False,
    min_cacheable_tokens=4096,
    system_messages=False,
    max_images=100,
    keeps_prior_thinking=True,
    tokenizer="unknown",
)

# The 5.x generation: 1M window, 128k output, adaptive thinking on by default,
# prefill rejected (Claude 4.6 and later), the Opus 4.7 tokenizer.
_GEN5 = ModelCapabilities(
    context_window=1_000_000,
    max_output=128_000,
    prefill=False,
    thinking_modes=frozenset({"adaptive"}),
    thinking_default_on=True,
    min_cacheable_tokens=512,
    system_messages=True,
    max_images=600,
    keeps_prior_thinking=True,
    tokenizer=TOKENIZER_2026,
)
# The 200k generation up to Opus 4.5 / Sonnet 4.5 / Haiku 4.5: prefill accepted,
# manual ("enabled") thinking only, 100 images.
_GEN4 = ModelCapabilities(
    context_window=200_000,
    max_output=64_000,
    prefill=True,
    thinking_modes=frozenset({"enabled"}),
    thinking_default_on=False,
    min_cacheable_tokens=1024,
    system_messages=False,
    max_images=100,
    keeps_prior_thinking=False,
    tokenizer=TOKENIZER_CLASSIC,
)
# Opus 4.6 / Sonnet 4.6: 1M window; adaptive thinking (manual still accepted,
# deprecated); the first models that reject prefill.
_GEN46 = evolve(
    _GEN4,
    context_window=1_000_000,
    max_output=128_000,
    prefill=False,
    thinking_modes=THINKING_MODES,
    max_images=600,
    keeps_prior_thinking=True,
)

_TABLE: dict[str, ModelCapabilities] = {
    # Late 2026. Fable 5.x and Mythos 5.x share specifications (Mythos 5.2 is the
    # same model as Fable 5.2); thinking is always on for Fable, Mythos, Opus 5.5.
    "claude-opus-5-5": _GEN5,
    "claude-sonnet-5-5": evolve(
        _GEN5, min_cacheable_tokens=1024, system_messages=False
    ),
    "claude-haiku-5-5": evolve(_GEN5, min_cacheable_tokens=4096, system_messages=False),
    "claude-fable-5-2": _GEN5,
    "claude-fable-5-1": _GEN5,
    "claude-fable-5": _GEN5,
    "claude-mythos-5-2": _GEN5,
    "claude-mythos-5-1": _GEN5,
    "claude-mythos-5": _GEN5,
    "claude-opus-5": _GEN5,
    # Sonnet 5 takes no mid-conversation system messages.
    "claude-sonnet-5": evolve(_GEN5, min_cacheable_tokens=1024, system_messages=False),
    "claude-mythos-preview": evolve(
        _GEN5, min_cacheable_tokens=2048, system_messages=False
    ),
    # Opus 4.7 and 4.8: adaptive only and off by default; the new tokenizer.
    "claude-opus-4-8": evolve(
        _GEN5, thinking_default_on=False, min_cacheable_tokens=1024
    ),
    "claude-opus-4-7": evolve(
        _GEN5,
        thinking_default_on=False,
        min_cacheable_tokens=2048,
        system_messages=False,
    ),
    "claude-opus-4-6": evolve(_GEN46, min_cacheable_tokens=4096),
    "claude-sonnet-4-6": _GEN46,
    # Opus 4.5 keeps prior thinking; earlier Opus/Sonnet and every Haiku <= 4.5 do not.
    "claude-opus-4-5": evolve(
        _GEN4, min_cacheable_tokens=4096, keeps_prior_thinking=True
    ),
    "claude-sonnet-4-5": _GEN4,
    "claude-haiku-4-5": evolve(_GEN4, min_cacheable_tokens=4096),
    "claude-opus-4-1": evolve(_GEN4, max_output=32_000),
    "claude-opus-4": evolve(_GEN4, max_output=32_000),
    "claude-sonnet-4": _GEN4,
    "claude-3-5-haiku": evolve(
        _GEN4, max_output=8192, thinking_modes=frozenset(), min_cacheable_tokens=2048
    ),
}

# Aliases that are not a dated id with its date removed.
_ALIASES = {"claude-opus-4-0": "claude-opus-4", "claude-sonnet-4-0": "claude-sonnet-4"}

# Bedrock spells ids `[region.]anthropic.<id>-v1:0`, inside an ARN for an
# inference profile or a foundation model; Vertex AI `<id>@<date>`.
_ARN = re.compile(
    r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:"
    r"(?:inference-profile|foundation-model|system-defined-inference-profile)/"
)
_PLATFORM_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?anthropic\.")
_SUFFIXES = (
    re.compile(r"-v\d+(?::\d+)?$"),  # Bedrock's version suffix
    re.compile(r"[-@]\d{8}$"),  # a snapshot date
    re.compile(r"-latest$"),  # the old floating aliases
)


@functools.lru_cache(maxsize=1024)
def canonical_model(model: str) -> str:
    """Return the table's name for *model*: aliases, dates and platform spellings removed.

    A model the table does not know comes back lower-cased and without a date
    suffix, so two spellings of one unknown model still compare equal.
    """
    name = _PLATFORM_PREFIX.sub("", _ARN.sub("", model.strip().lower()))
    for suffix in _SUFFIXES:
        name = suffix.sub("", name)
    return _ALIASES.get(name, name)


def same_model(a: str, b: str) -> bool:
    """Tell whether *a* and *b* name the same model (an alias and its dated id do)."""
    return canonical_model(a) == canonical_model(b)


def known_model(model: str) -> bool:
    """Tell whether the capability table has an entry for *model*."""
    return canonical_model(model) in _TABLE


def known_models() -> tuple[str, ...]:
    """Return the canonical ids of every model in the table, newest families first."""
    return tuple(_TABLE)


def capabilities_for(
    model: str, overrides: Mapping[str, Any] | None = None
) -> ModelCapabilities:
    """Return the capabilities of *model*, with a conversation's *overrides* applied.

    Args:
        model: an API model id, alias, dated id, or a cloud platform's spelling.
        overrides: capability fields by name (`{"prefill": False}`), as a
            conversation stores them; JSON lists are accepted for `thinking_modes`.

    Returns:
        The table's entry, or `UNKNOWN_MODEL` (with the model's own id as its
        tokenizer) for a model the table does not know.

    Raises:
        InvalidInputError: an override names no capability, or has a bad value.
    """
    name = canonical_model(model)
    caps = _TABLE.get(name) or evolve(UNKNOWN_MODEL, tokenizer=f"unknown:{name}")
    if not overrides:
        return caps
    unknown = sorted(k for k in overrides if k not in _FIELD_NAMES)
    if unknown:
        msg = (
            f"unknown model capability {unknown[0]!r}; the capabilities are "
            f"{', '.join(_FIELD_NAMES)}"
        )
        raise InvalidInputError(msg)
    return evolve(caps, **overrides)


def thinking_enabled(
    caps: ModelCapabilities, thinking: Mapping[str, Any] | None
) -> bool:
    """Tell whether a request with this `thinking` field makes the model think.

    No field means the model's default; `{"type": "disabled"}` turns thinking off;
    any other type ("enabled", "adaptive", "between_tools", ...) counts as on, which
    is the side on which the API's thinking rules are stricter.
    """
    if thinking is None:
        return caps.thinking_default_on
    return thinking.get("type") != "disabled"
