"""AWS doors: SigV4 signing as an httpx ``Auth``, and the credential chain.

Signing uses botocore's own signer and credentials (the ``aws`` extra:
``pip install "conversa-state[aws]"``). The signature covers the final body bytes and
every header but botocore's unsigned ones, so it is made in the auth flow, after
httpx has the request in its final form; nothing touches the headers after it.
Credentials are resolved the way the official SDK resolves them:
an API key, else the access key pair, else a named profile, else the key in the
environment, else botocore's default chain (environment, shared files, SSO, web
identity, container, instance metadata). Refreshable credentials (an assumed
role, SSO) are frozen per request; the async twin does that in a worker thread,
since a refresh may call AWS.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx

from ..._exceptions import InvalidInputError

if TYPE_CHECKING:
    from botocore.credentials import Credentials, ReadOnlyCredentials

__all__ = ["SigV4", "aws_credentials", "aws_region", "env_value", "require_botocore"]

_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
# The SDK leaves `connection` out: a proxy may drop it on the way.
_UNSIGNED = frozenset({"connection"})


def require_botocore() -> None:
    """Refuse an AWS door without botocore, naming the extra to install."""
    try:
        import botocore  # noqa: F401
    except ImportError:  # pragma: no cover - the extra is installed in CI
        msg = 'the AWS doors need botocore: pip install "conversa-state[aws]"'
        raise InvalidInputError(msg) from None


def aws_region(region: str | None, env: Mapping[str, str], *, what: str) -> str:
    """Return the region: *region*, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``.

    Raises:
        InvalidInputError: none of them is set.
    """
    found = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not found:
        msg = f"{what} needs a region: pass region=... or set AWS_REGION"
        raise InvalidInputError(msg)
    return found


def aws_credentials(
    *,
    aws_access_key: str | None,
    aws_secret_key: str | None,
    aws_session_token: str | None,
    aws_profile: str | None,
) -> Credentials:
    """Return botocore credentials: the given pair, a profile, or the default chain.

    Raises:
        InvalidInputError: only one of the pair, or no credentials anywhere.
    """
    require_botocore()
    from botocore.credentials import Credentials
    from botocore.exceptions import BotoCoreError
    from botocore.session import Session

    if (aws_access_key is None) != (aws_secret_key is None):
        msg = "pass both aws_access_key=... and aws_secret_key=..., or neither"
        raise InvalidInputError(msg)
    if aws_access_key is not None and aws_secret_key is not None:
        return Credentials(aws_access_key, aws_secret_key, aws_session_token)
    try:
        found = Session(profile=aws_profile).get_credentials()
    except BotoCoreError as exc:
        # The message names the profile or file at fault, never a secret.
        msg = f"could not load AWS credentials ({type(exc).__name__}: {exc})"
        raise InvalidInputError(msg) from None
    if found is None:
        msg = (
            "no AWS credentials: pass aws_access_key=... and aws_secret_key=..., "
            "aws_profile=... or api_key=..., or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment"
        )
        raise InvalidInputError(msg)
    return found


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SigV4(httpx.Auth):
    """Sign each request with AWS Signature Version 4 (botocore's signer).

    Args:
        credentials: botocore credentials (refreshable ones are frozen per request).
        service: the signing name (``aws-external-anthropic``, ``bedrock``,
            ``bedrock-mantle``).
        region: the signing region, which must be the URL's.
        clock: the signing time (tests freeze it); default the UTC clock.
    """

    requires_request_body = True

    def __init__(
        self,
        credentials: Credentials,
        service: str,
        region: str,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._credentials = credentials
        self.service = service
        self.region = region
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SigV4(service={self.service!r}, region={self.region!r})"

    def frozen(self) -> ReadOnlyCredentials:
        """Return the credentials as of now (a refreshable set may refresh: blocking)."""
        with self._lock:
            return self._credentials.get_frozen_credentials()

    def sign(self, request: httpx.Request, credentials: ReadOnlyCredentials) -> None:
        """Add ``x-amz-date``, ``x-amz-security-token`` and ``authorization`` to *request*."""
        from botocore.awsrequest import AWSRequest

        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in _UNSIGNED
        }
        for name in ("authorization", "x-amz-date", "x-amz-security-token"):
            headers.pop(name, None)
        aws = AWSRequest(
            method=request.method,
            url=str(request.url),
            headers=headers,
            data=request.content,
        )
        signer = _signer_type()(credentials, self.service, self.region)
        now = self._clock() if self._clock is not None else _utcnow()
        signer.sign_at(aws, now.strftime(_SIGV4_TIMESTAMP))
        for name in ("authorization", "x-amz-date", "x-amz-security-token"):
            value = aws.headers.get(name)
            if value is None:
                request.headers.pop(name, None)
            else:
                request.headers[name] = value

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign *request* and send it."""
        self.sign(request, self.frozen())
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Sign *request* and send it; a due refresh runs in a worker thread."""
        due = getattr(self._credentials, "refresh_needed", None)
        credentials = (
            await anyio.to_thread.run_sync(self.frozen)
            if due is not None and due()
            else self.frozen()
        )
        self.sign(request, credentials)
        yield request


@functools.cache
def _signer_type() -> Any:
    """botocore's SigV4 signer at a given time, without its debug logs of the request."""
    from botocore.auth import SigV4Auth

    class Signer(SigV4Auth):  # type: ignore[misc]
        def sign_at(self, request: Any, timestamp: str) -> None:
            # What `SigV4Auth.add_auth` does, with the time given: botocore's own
            # `add_auth` reads the clock and logs the canonical request (and in it
            # a session token) at DEBUG.
            request.context["timestamp"] = timestamp
            self._modify_request_before_signing(request)
            canonical = self.canonical_request(request)
            signature = self.signature(self.string_to_sign(request, canonical), request)
            self._inject_signature_to_request(request, signature)

    return Signer


def env_value(env: Mapping[str, str], *names: str) -> str | None:
    """Return the first of *names* set (non-empty) in *env*."""
    return next((env[n] for n in names if env.get(n)), None)
