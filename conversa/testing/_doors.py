"""`FakeDoor`: the fake Messages API seen through one cloud door.

A door is a transport in front of one `FakeMessagesAPI`: it checks what the
platform checks (its URL, its authentication, its headers and body shape), turns
the request into a first-party one, lets the fake answer it (script, faults,
validation, prompt cache, batches), and turns the answer back into the door's own
shape (Bedrock's event-stream frames and error names, Google's error JSON). The
fake records the request as the door received it.

The doors themselves (`_doors_aws`, `_doors_google`) implement `Door`; this
module holds what they share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

import httpx
from attrs import field, frozen

from ._answers import BASE_URL_EXTENSION, JSON
from ._recorded import Answer
from ._stream import encode_json
from ._validate_base import RejectedError

if TYPE_CHECKING:
    from .. import AsyncClient, Client

__all__ = [
    "Backend",
    "Door",
    "FakeDoor",
    "aws_error",
    "forward",
    "google_error",
    "serve_door",
]

# Google's canonical status names for the HTTP statuses its front answers with.
_GOOGLE_STATUS: Final[Mapping[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@frozen
class Backend:
    """What a door needs from the fake behind it.

    Attributes:
        route: answers a first-party request (``route(request, content)``).
        error: the first-party error answer for a `RejectedError`.
        new_id: a fresh id with the given prefix.
    """

    route: Callable[[httpx.Request, bytes], Answer]
    error: Callable[[RejectedError], Answer]
    new_id: Callable[[str], str]


class Door(Protocol):
    """One platform's front: its URL, its checks, its translation."""

    @property
    def base_url(self) -> str:
        """The door's base URL, as the official SDK's ``base_url`` means it."""
        ...

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Answer *request*, whose raw path below `base_url` is *path* (or ``""``)."""
        ...


def serve_door(
    door: Door, request: httpx.Request, content: bytes, backend: Backend
) -> Answer:
    """Answer *request* at *door*: a host the door does not serve cannot be reached."""
    base = httpx.URL(door.base_url)
    url = request.url
    if (url.scheme, url.netloc) != (base.scheme, base.netloc):
        error = httpx.ConnectError(
            f"the fake door serves {door.base_url}, not {url.scheme}://"
            f"{url.netloc.decode()}",
            request=request,
        )
        return Answer(None, raised=error)
    raw = url.raw_path.decode().partition("?")[0]
    prefix = base.raw_path.decode().rstrip("/")
    path = raw[len(prefix) :] if raw.startswith(prefix + "/") else ""
    return door.answer(request, content, path, backend)


def forward(
    request: httpx.Request,
    path: str,
    headers: Mapping[str, str],
    content: bytes,
    *,
    base_url: str,
) -> httpx.Request:
    """Return the first-party request for *path* that a door hands the fake.

    *base_url* is where the door serves the first-party paths (batch results
    URLs point there); the query string is kept.
    """
    url = httpx.URL(base_url).copy_with(
        raw_path=path.encode()
        + (b"?" + request.url.query if request.url.query else b"")
    )
    return httpx.Request(
        request.method,
        url,
        headers=dict(headers),
        content=content,
        extensions={BASE_URL_EXTENSION: base_url},
    )


def aws_error(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    extra: Iterable[tuple[str, str]] = (),
) -> Answer:
    """Return an AWS error answer: ``x-amzn-ErrorType`` and ``{"message": ...}``."""
    body = {"message": message}
    headers = (
        ("content-type", JSON),
        ("x-amzn-requestid", request_id),
        ("x-amzn-errortype", code),
        *extra,
    )
    return Answer(status, headers, body, (encode_json(body),))


def google_error(
    status: int,
    message: str,
    request_id: str,
    *,
    extra: Iterable[tuple[str, str]] = (),
) -> Answer:
    """Return a Google API error answer: ``{"error": {code, message, status}}``."""
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
        }
    }
    headers = (
        ("content-type", f"{JSON}; charset=UTF-8"),
        ("x-request-id", request_id),
        *extra,
    )
    return Answer(status, headers, body, (encode_json(body),))


def _no_serve(request: httpx.Request, content: bytes) -> httpx.Response:
    raise NotImplementedError


def _door_client(kind: Any, door: FakeDoor, options: dict[str, Any]) -> Any:
    """Build *kind* (`Client` or `AsyncClient`) through *door* with its test credentials."""
    options = {**options, "transport": door}
    if door.kind in ("aws", "bedrock", "bedrock-messages"):
        options.update(
            region=door.region,
            aws_access_key=door.aws_access_key,
            aws_secret_key=door.aws_secret_key,
            aws_session_token=door.aws_session_token,
        )
        if door.kind == "aws":
            return kind.aws(workspace_id=door.workspace_id, **options)
        api = "messages" if door.kind == "bedrock-messages" else "invoke"
        return kind.bedrock(api=api, **options)
    options.update(project_id=door.project_id, access_token=door.access_token)
    if door.kind == "vertex":
        return kind.vertex(region=door.region, **options)
    return kind.google_cloud(
        workspace_id=door.workspace_id, region=door.region, **options
    )


@frozen(eq=False)
class FakeDoor(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The fake Messages API behind one cloud door, as an httpx transport.

    Get one from `FakeMessagesAPI.aws`, `~FakeMessagesAPI.bedrock`,
    `~FakeMessagesAPI.vertex` or `~FakeMessagesAPI.google_cloud`; the fake behind
    it scripts, validates and records as usual. Its attributes are what a client
    needs to reach it: the base URL and the fixed test credentials the door
    accepts (those the door does not use are None). `client` and `async_client`
    build conversa's client for the door with them.

    Attributes:
        kind: ``aws``, ``bedrock``, ``bedrock-messages``, ``vertex`` or
            ``google-cloud``.
        base_url: what the official SDK's ``base_url`` means for this door.
        region: the region (the location, for ``google-cloud``).
        workspace_id: the workspace (``aws``, ``google-cloud``).
        project_id: the Google Cloud project (``vertex``, ``google-cloud``).
        aws_access_key: the AWS access key id SigV4 must be signed with.
        aws_secret_key: its secret.
        aws_session_token: its session token: it must be sent and signed.
        api_key: the API key (``aws``, ``bedrock-messages``) or Bedrock bearer
            token (``bedrock``) accepted instead of SigV4.
        access_token: the Google OAuth access token the door accepts.
    """

    kind: str
    base_url: str
    region: str
    workspace_id: str | None = field(default=None, kw_only=True)
    project_id: str | None = field(default=None, kw_only=True)
    aws_access_key: str | None = field(default=None, kw_only=True)
    aws_secret_key: str | None = field(default=None, kw_only=True, repr=False)
    aws_session_token: str | None = field(default=None, kw_only=True, repr=False)
    api_key: str | None = field(default=None, kw_only=True, repr=False)
    access_token: str | None = field(default=None, kw_only=True, repr=False)
    _serve: Callable[[httpx.Request, bytes], httpx.Response] = field(
        default=_no_serve, kw_only=True, repr=False, alias="serve"
    )

    def client(self, **options: Any) -> Client:
        """Return a `Client` through this door, with the door's test credentials.

        The client is the door's classmethod (`Client.aws`, `Client.bedrock`,
        `Client.vertex`, `Client.google_cloud`): SigV4 with the door's AWS keys on
        the AWS doors, its access token on the Google ones. *options* go to that
        classmethod (``retry=``, ``betas=``, ``timeout=``, ``models=``...).
        """
        from .. import Client

        client: Client = _door_client(Client, self, options)
        return client

    def async_client(self, **options: Any) -> AsyncClient:
        """Return an `AsyncClient` through this door (see `client`)."""
        from .. import AsyncClient

        client: AsyncClient = _door_client(AsyncClient, self, options)
        return client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.BaseTransport` entry point)."""
        return self._serve(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.AsyncBaseTransport` entry point)."""
        return self._serve(request, await request.aread())
