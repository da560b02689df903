"""The pieces every validation rule uses: the request context and how to refuse."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from attrs import field, frozen

from ._models import ModelRules

__all__ = [
    "Ctx",
    "RejectedError",
    "as_dict",
    "check_cache_control",
    "check_keys",
    "check_length",
    "check_pattern",
    "check_str",
    "is_int",
    "reject",
    "reject_tag",
]


class RejectedError(Exception):
    """The fake refuses a request, as the API would, with this status and text."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        """Keep the HTTP *status*, the API's *error_type* and its *message*."""
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def reject(message: str) -> NoReturn:
    """Refuse the request with a 400 ``invalid_request_error`` saying *message*."""
    raise RejectedError(400, "invalid_request_error", message)


@frozen
class Ctx:
    """One request being checked, with what the rules need to know about it.

    Attributes:
        body: the parsed JSON body.
        rules: the model's rules.
        version: the ``anthropic-version`` header.
        betas: the names in the ``anthropic-beta`` header.
        endpoint: ``messages`` or ``count_tokens``.
        verify: checks a thinking block's signature: ``verify(thinking, signature)``.
        token_scale: the fake's ``token_scale``: every token count is scaled by it.
        batch: whether the body is one request of a Message Batch.
    """

    body: dict[str, Any] = field(repr=False)
    rules: ModelRules
    version: str
    betas: frozenset[str]
    endpoint: str
    verify: Callable[[str, str], bool] = field(repr=False)
    token_scale: float = 1.0
    batch: bool = False

    @property
    def thinking_type(self) -> str | None:
        """The effective ``thinking.type``: explicit, or the model's default."""
        thinking = self.body.get("thinking")
        if isinstance(thinking, Mapping):
            kind = thinking.get("type")
            return kind if isinstance(kind, str) else None
        return "adaptive" if self.rules.thinking_by_default else None

    @property
    def thinking_on(self) -> bool:
        """Whether the model thinks for this request."""
        return self.thinking_type in ("enabled", "adaptive", "between_tools")

    @property
    def new_api(self) -> bool:
        """Whether the request uses API version 2026-10-21."""
        return self.version == "2026-10-21"


def check_keys(
    value: Mapping[str, Any], path: str, required: tuple[str, ...], allowed: Any
) -> None:
    """Reject missing *required* keys, then keys outside *allowed*."""
    for key in required:
        if key not in value:
            reject(f"{path}.{key}: Field required")
    for key in value:
        if key not in required and key not in allowed:
            reject(f"{path}.{key}: Extra inputs are not permitted")


def as_dict(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        reject(f"{path}: Input should be a valid dictionary")
    return value


def check_str(value: Any, path: str, *, nullable: bool = False) -> None:
    if not (isinstance(value, str) or (nullable and value is None)):
        reject(f"{path}: Input should be a valid string")


def check_pattern(value: Any, path: str, pattern: re.Pattern[str]) -> None:
    """Reject a string that does not match *pattern*, as pydantic words it."""
    check_str(value, path)
    if not pattern.match(value):
        reject(f"{path}: String should match pattern '{pattern.pattern}'")


def check_length(value: Any, path: str, low: int, high: int) -> None:
    """Reject a string shorter than *low* or longer than *high* characters."""
    check_str(value, path)
    if len(value) < low:
        unit = "character" if low == 1 else "characters"
        reject(f"{path}: String should have at least {low} {unit}")
    if len(value) > high:
        reject(f"{path}: String should have at most {high} characters")


def reject_tag(path: str, kind: Any, tags: Iterable[str]) -> NoReturn:
    """Refuse a value whose ``type`` names none of *tags* (pydantic's union_tag_invalid)."""
    expected = ", ".join(f"'{tag}'" for tag in tags)
    reject(
        f"{path}: Input tag '{kind}' found using 'type' does not match any of the "
        f"expected tags: {expected}"
    )


def check_cache_control(value: Any, path: str) -> None:
    """Check a ``cache_control`` object: ``{type: "ephemeral", ttl?: 5m|1h}``.

    The shape is the SDK's ``CacheControlEphemeralParam``: ``ephemeral`` is the only
    type and ``5m``/``1h`` the only TTLs (prompt caching docs); ``null`` means none.
    """
    if value is None:
        return
    control = as_dict(value, path)
    check_keys(control, path, ("type",), ("ttl",))
    if control["type"] != "ephemeral":
        reject(f"{path}.type: Input should be 'ephemeral'")
    if "ttl" in control and control["ttl"] not in ("5m", "1h"):
        reject(f"{path}.ttl: Input should be '5m' or '1h'")


def is_int(value: Any) -> bool:
    """Whether *value* is a JSON integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
