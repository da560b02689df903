"""Google Cloud doors: an OAuth bearer token as an httpx ``Auth``, refreshed.

Tokens come from google-auth (the ``vertex`` extra: ``pip install
"conversa-state[vertex]"``), in the official SDK's order: a static
``access_token`` (never refreshed), else a ``token_provider`` callable (called for
each request), else a google-auth ``credentials`` object, else Application Default
Credentials with the cloud-platform scope. A credentials object is refreshed when
it has no token or google-auth counts it expired (3 min 45 s early); a refresh
blocks on HTTP, so the async twin runs it in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx

from ..._exceptions import InvalidInputError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = ["CLOUD_PLATFORM_SCOPE", "GoogleBearer", "default_credentials"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def _refresh_request() -> Any:
    try:
        from google.auth.transport.requests import Request
    except ImportError:  # pragma: no cover - the extra is installed in CI
        msg = 'the Google Cloud doors need google-auth: pip install "conversa-state[vertex]"'
        raise InvalidInputError(msg) from None
    return Request()


def default_credentials() -> tuple[Credentials, str | None]:
    """Load Application Default Credentials and the project they name (blocking).

    Raises:
        InvalidInputError: google-auth is missing, or no credentials are found.
    """
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:  # pragma: no cover - the extra is installed in CI
        msg = 'the Google Cloud doors need google-auth: pip install "conversa-state[vertex]"'
        raise InvalidInputError(msg) from None
    try:
        credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except DefaultCredentialsError:
        msg = (
            "no Google Cloud credentials: pass access_token=..., credentials=... or "
            "token_provider=..., or set up Application Default Credentials "
            "(gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS)"
        )
        raise InvalidInputError(msg) from None
    return credentials, project


class GoogleBearer(httpx.Auth):
    """Send ``authorization: Bearer <token>``, the token refreshed when due.

    Exactly one source: *access_token*, *token_provider* or *credentials*.
    """

    def __init__(
        self,
        *,
        access_token: str | None = None,
        token_provider: Callable[[], str] | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self._access_token = access_token
        self._provider = token_provider
        self._credentials = credentials
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        source = (
            "access_token"
            if self._access_token is not None
            else "token_provider"
            if self._provider is not None
            else "credentials"
        )
        return f"GoogleBearer(source={source!r})"

    @property
    def needs_io(self) -> bool:
        """Whether getting a token may block (a provider call or a refresh)."""
        if self._access_token is not None:
            return False
        if self._provider is not None:
            return True
        credentials = self._credentials
        return credentials is None or credentials.expired or not credentials.token

    def token(self) -> str:
        """Return a valid token, refreshing the credentials first if due (blocking)."""
        if self._access_token is not None:
            return self._access_token
        if self._provider is not None:
            return self._provider()
        with self._lock:
            credentials = self._credentials
            if credentials is None:  # pragma: no cover - the doors always pass one
                msg = "no Google Cloud credentials"
                raise InvalidInputError(msg)
            if credentials.expired or not credentials.token:
                credentials.refresh(_refresh_request())  # type: ignore[no-untyped-call]
            token = credentials.token
        if not token:
            msg = "the Google Cloud credentials gave no access token after a refresh"
            raise InvalidInputError(msg)
        return str(token)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the bearer token (refreshed here if due) and send."""
        if _ours(request):
            _set(request, self.token())
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Add the bearer token; a refresh runs in a worker thread, off the event loop."""
        if _ours(request):
            token = (
                await anyio.to_thread.run_sync(self.token)
                if self.needs_io
                else self.token()
            )
            _set(request, token)
        yield request


_MARK = "conversa.bearer"


def _ours(request: httpx.Request) -> bool:
    """Whether the token is ours to set: none yet, or ours from an earlier attempt.

    A caller's own ``authorization`` header (a gateway's) is left alone, as the
    SDK does; ours is set again on a retry, so a refreshed token goes out.
    """
    return "authorization" not in request.headers or bool(request.extensions.get(_MARK))


def _set(request: httpx.Request, token: str) -> None:
    request.headers["authorization"] = f"Bearer {token}"
    request.extensions[_MARK] = True
