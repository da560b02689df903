"""How a client reaches the API: credentials, base URL, version, betas, timeouts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from attrs import field, frozen

from .._exceptions import InvalidInputError
from .._values.doors import DOOR_NAMES, DOORS
from .retry import RetryPolicy

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "ClientConfig",
]

API_VERSIONS = ("2026-10-21", "2023-06-01")
"""The ``anthropic-version`` values conversa knows the rules of."""
DEFAULT_API_VERSION = "2026-10-21"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
"""The official SDK's: ten minutes for a response, five seconds to connect."""

_NO_CREDENTIALS = (
    "no API credentials: pass api_key=... (sent as x-api-key) or auth_token=... "
    "(sent as authorization: Bearer), or set ANTHROPIC_API_KEY or "
    "ANTHROPIC_AUTH_TOKEN in the environment"
)


def _check_secret(_: object, attribute: Any, value: str | None) -> None:
    # Never echo the value: it may be a real key with a stray character. A bad
    # character would also make httpx/h11 fail later with the header value in
    # the error message, so it is refused here.
    if value is None:
        return
    if not value.strip():
        msg = f"{attribute.name} is empty; pass a real one or leave it out"
        raise InvalidInputError(msg)
    if not (value.isascii() and value.isprintable()) or any(c.isspace() for c in value):
        msg = (
            f"{attribute.name} holds a space, a control or a non-ASCII character, "
            "which no key or token has; look for a stray newline or quote"
        )
        raise InvalidInputError(msg)


def _check_version(_: object, __: Any, value: str) -> None:
    if value not in API_VERSIONS:
        known = ", ".join(repr(v) for v in API_VERSIONS)
        msg = f"api_version must be one of {known}, not {value!r}"
        raise InvalidInputError(msg)


def _check_base_url(_: object, __: Any, value: str) -> None:
    if not value.startswith(("https://", "http://")):
        msg = f"base_url must start with https:// or http://, not {value!r}"
        raise InvalidInputError(msg)


def _to_base_url(value: str) -> str:
    return value.rstrip("/")


def _to_betas(value: str | Iterable[str]) -> tuple[str, ...]:
    """Turn one beta name or several into a tuple: stripped, deduplicated, in order."""
    names = (value,) if isinstance(value, str) else tuple(value)
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def _to_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, httpx.Timeout):
        return value
    return httpx.Timeout(value)


def _to_headers(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


def _header_names(value: Mapping[str, str]) -> str:
    return repr(sorted(value))


def _check_door(_: object, __: Any, value: str) -> None:
    if value not in DOORS:
        known = ", ".join(repr(v) for v in DOOR_NAMES)
        msg = f"door must be one of {known}, not {value!r}"
        raise InvalidInputError(msg)


@frozen(kw_only=True)
class ClientConfig:
    """Everything a client needs to reach the API, as one value.

    The key and token never appear in the repr. Build one with `from_env` to
    fall back on the environment; the constructor takes only what it is given.

    Attributes:
        api_key: sent as ``x-api-key``.
        auth_token: sent as ``authorization: Bearer <token>`` (gateways, Workload
            Identity Federation). When both are set both headers are sent, as the
            official SDK 0.x did.
        base_url: the API's root, without a trailing slash.
        api_version: the ``anthropic-version`` header; one of `API_VERSIONS`.
        betas: names sent in ``anthropic-beta`` on every call.
        timeout: httpx timeouts; a float sets all four.
        retry: the retry policy.
        default_headers: extra headers sent on every call.
        door: which door the client goes through (`conversa._values.doors`):
            "anthropic" (first party), "aws", "bedrock", "bedrock-messages",
            "vertex" or "google-cloud". Only the first party needs *api_key* or
            *auth_token* here; the others authenticate with the client's auth.
        region: the door's region (the location on Google Cloud).
        project_id: the Google Cloud project.
        workspace_id: the workspace (Claude Platform on AWS, Claude on Google Cloud).
        models: model ids translated on this door (the caller's → the door's);
            the stored conversation keeps the caller's.
    """

    api_key: str | None = field(default=None, repr=False, validator=_check_secret)
    auth_token: str | None = field(default=None, repr=False, validator=_check_secret)
    base_url: str = field(
        default=DEFAULT_BASE_URL, converter=_to_base_url, validator=_check_base_url
    )
    api_version: str = field(default=DEFAULT_API_VERSION, validator=_check_version)
    betas: tuple[str, ...] = field(default=(), converter=_to_betas)
    timeout: httpx.Timeout = field(
        default=DEFAULT_TIMEOUT, converter=_to_timeout, hash=False
    )
    retry: RetryPolicy = field(factory=RetryPolicy)
    # Only the names show in the repr: a custom header may carry a gateway's secret.
    default_headers: Mapping[str, str] = field(
        factory=dict, converter=_to_headers, hash=False, repr=_header_names
    )
    door: str = field(default="anthropic", validator=_check_door)
    region: str | None = None
    project_id: str | None = None
    workspace_id: str | None = None
    models: Mapping[str, str] = field(factory=dict, converter=_to_headers, hash=False)

    def __attrs_post_init__(self) -> None:
        """Refuse a first-party config that could not authenticate."""
        if (
            self.door == "anthropic"
            and self.api_key is None
            and self.auth_token is None
        ):
            raise InvalidInputError(_NO_CREDENTIALS)

    @classmethod
    def from_env(
        cls,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        betas: str | Iterable[str] = (),
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Build a config from the arguments, falling back on the environment.

        Credentials come as a pair: if *api_key* or *auth_token* is given, the
        environment's ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_AUTH_TOKEN`` are not
        read, so an explicit token is never sent alongside a key from the
        environment. *base_url* falls back on ``ANTHROPIC_BASE_URL``. Empty
        variables count as unset.

        Args:
            api_key: the API key.
            auth_token: a bearer token.
            base_url: the API's root URL.
            api_version: the ``anthropic-version``; default `DEFAULT_API_VERSION`.
            betas: beta names for every call.
            timeout: seconds, or an ``httpx.Timeout``; default `DEFAULT_TIMEOUT`.
            retry: the retry policy; default `RetryPolicy()`.
            default_headers: extra headers for every call.
            environ: the environment to read (default ``os.environ``).

        Raises:
            InvalidInputError: no key and no token anywhere, or a bad value.
        """
        env = os.environ if environ is None else environ
        if api_key is None and auth_token is None:
            api_key = env.get("ANTHROPIC_API_KEY") or None
            auth_token = env.get("ANTHROPIC_AUTH_TOKEN") or None
        return cls(
            api_key=api_key,
            auth_token=auth_token,
            base_url=base_url or env.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
            api_version=api_version or DEFAULT_API_VERSION,
            betas=betas,
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            default_headers=default_headers,
        )
