"""The Google doors: Vertex AI (``rawPredict``) and Claude on Google Cloud.

Both take ``Authorization: Bearer <OAuth access token>`` and accept only the
door's test token. Vertex puts the model in the path and ``anthropic_version``
(``vertex-2023-10-16``) in the body, keeps ``stream`` in the body and streams SSE;
its front answers in Google's error JSON. Claude on Google Cloud is the
first-party API below a per-workspace prefix.
"""

from __future__ import annotations

import hmac
import re
import urllib.parse
from typing import Any, Final

import httpx
from attrs import evolve, frozen

from ._doors import Backend, forward, google_error
from ._recorded import Answer
from ._stream import encode_json
from ._validate import EXTENDED_OUTPUT_BETA, VERSIONS, parse_body
from ._validate_base import RejectedError, reject

__all__ = [
    "TEST_ACCESS_TOKEN",
    "VERTEX_VERSION",
    "GoogleCloudDoor",
    "VertexDoor",
    "vertex_base_url",
]

TEST_ACCESS_TOKEN: Final = "ya29.conversa-fake-access-token"  # noqa: S105 (a test value)
# Vertex's own anthropic_version; the fake checks it with the first-party
# 2023-06-01 rules (inferred: Google documents only the value).
VERTEX_VERSION: Final = "vertex-2023-10-16"
_VERTEX_RULES: Final = {VERTEX_VERSION: "2023-06-01", **{v: v for v in VERSIONS}}
_UNAUTHENTICATED: Final = (
    "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential."
)
_NOT_FOUND: Final = "The requested URL was not found on this server."
_QUOTA: Final = (
    "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_"
    "base_model with base model: anthropic-claude. Please submit a quota increase "
    "request."
)
# Betas Claude on Google Cloud does not serve: the door passes them over, so what
# they allow is refused as without them (the 300k output beta is the Claude API's
# and Claude Platform on AWS's only; what the server answers is inferred).
_NOT_SERVED: Final = frozenset({EXTENDED_OUTPUT_BETA})
_PREDICT: Final = re.compile(
    r"^/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic"
    r"/models/(?P<model>[^/:]+):(?P<verb>rawPredict|streamRawPredict)$"
)


def vertex_base_url(region: str) -> str:
    """Return Vertex AI's base URL for *region* (``global``, ``us`` and ``eu`` differ)."""
    if region == "global":
        return "https://aiplatform.googleapis.com/v1"
    if region in ("us", "eu"):
        return f"https://aiplatform.{region}.rep.googleapis.com/v1"
    return f"https://{region}-aiplatform.googleapis.com/v1"


def _bearer_ok(request: httpx.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _vertex_body(content: bytes, *, count: bool, streamed: bool) -> dict[str, Any]:
    """Parse and check a rawPredict body (inferred where Google says nothing)."""
    body = parse_body(content)
    version = body.get("anthropic_version")
    if version is None:
        reject("anthropic_version: Field required")
    if version not in _VERTEX_RULES:
        reject(
            f"anthropic_version: invalid version '{version}'; supported versions: "
            + ", ".join(_VERTEX_RULES)
        )
    if not count and "model" in body:
        reject("model: Extra inputs are not permitted (the model is in the URL)")
    if not count and (body.get("stream") is True) != streamed:
        verb = "streamRawPredict" if body.get("stream") is True else "rawPredict"
        reject(f"stream: a request with this stream setting must use :{verb}")
    return body


@frozen
class VertexDoor:
    """Vertex AI: ``…/publishers/anthropic/models/{model}:rawPredict``, Google bearer.

    ``:streamRawPredict`` streams; ``models/count-tokens:rawPredict`` counts (its
    body keeps ``model``). Anthropic's batches are not served: any other path is
    Google's 404. Rate limits (429) come in Google's shape (``RESOURCE_EXHAUSTED``);
    the model's own errors in the API's.
    """

    project_id: str
    region: str
    access_token: str

    @property
    def base_url(self) -> str:
        """``https://{region}-aiplatform.googleapis.com/v1`` (see `vertex_base_url`)."""
        return vertex_base_url(self.region)

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Check the token, the path and the body, then let the fake answer."""
        if not _bearer_ok(request, self.access_token):
            return google_error(401, _UNAUTHENTICATED, backend.new_id("req_"))
        match = _PREDICT.match(path)
        if (
            match is None
            or request.method != "POST"
            or (match["project"], match["region"]) != (self.project_id, self.region)
        ):
            return google_error(404, _NOT_FOUND, backend.new_id("req_"))
        model = urllib.parse.unquote(match["model"])
        count = model == "count-tokens" and match["verb"] == "rawPredict"
        streamed = match["verb"] == "streamRawPredict"
        try:
            body = _vertex_body(content, count=count, streamed=streamed)
        except RejectedError as rejection:
            return backend.error(rejection)
        headers = {k: v for k, v in request.headers.items() if k != "authorization"} | {
            "x-api-key": "vertex",
            "content-type": "application/json",
            "anthropic-version": _VERTEX_RULES[body.pop("anthropic_version")],
        }
        first_party = body if count else {"model": model, **body}
        target = "/v1/messages/count_tokens" if count else "/v1/messages"
        data = encode_json(first_party)
        call = forward(request, target, headers, data, base_url=self.base_url)
        answer = backend.route(call, data)
        if answer.status == 429:
            kept = [(k, v) for k, v in answer.headers if k.startswith("retry-after")]
            quota = google_error(429, _QUOTA, backend.new_id("req_"), extra=kept)
            return evolve(quota, step=answer.step)
        return answer


@frozen
class GoogleCloudDoor:
    """Claude on Google Cloud: the first-party API below the workspace's ``…/invoke``.

    Batches included; the workspace in the URL partitions caches and batches as
    ``anthropic-workspace-id`` does first party. A wrong token is Google's 401; a
    path outside the door's project, location and workspace Google's 404.
    """

    project_id: str
    location: str
    workspace_id: str
    access_token: str

    @property
    def base_url(self) -> str:
        """``https://claude.googleapis.com/v1/projects/{p}/locations/{l}/workspaces/{w}/invoke``."""
        return (
            f"https://claude.googleapis.com/v1/projects/{self.project_id}/locations/"
            f"{self.location}/workspaces/{self.workspace_id}/invoke"
        )

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Check the token and the prefix, then let the fake answer."""
        if not _bearer_ok(request, self.access_token):
            return google_error(401, _UNAUTHENTICATED, backend.new_id("req_"))
        if not path:
            return google_error(404, _NOT_FOUND, backend.new_id("req_"))
        headers = {k: v for k, v in request.headers.items() if k != "authorization"} | {
            "x-api-key": "google-cloud",
            "anthropic-workspace-id": self.workspace_id,
        }
        betas = [b.strip() for b in headers.pop("anthropic-beta", "").split(",")]
        served = [b for b in betas if b and b not in _NOT_SERVED]
        if served:
            headers["anthropic-beta"] = ",".join(served)
        call = forward(request, path, headers, content, base_url=self.base_url)
        return backend.route(call, content)
