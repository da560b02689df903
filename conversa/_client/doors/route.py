"""Where a call goes on each door, and what its body and headers become (pure).

conversa builds every call as a first-party one (``POST /v1/messages`` and the
rest); `route` turns it into the door's own (docs: how-to/doors.md):

- **anthropic**, **aws**, **google-cloud**: the same paths under the door's base
  URL; Claude Platform on AWS adds ``anthropic-workspace-id``.
- **bedrock** (InvokeModel): ``/model/{id}/invoke`` or
  ``/invoke-with-response-stream``; ``model`` and ``stream`` leave the body,
  ``anthropic_version`` and the betas (``anthropic_beta``) go into it, and neither
  goes in a header. count_tokens is Bedrock's own CountTokens operation.
- **bedrock-messages**: the first-party paths under ``.../anthropic``; no betas.
- **vertex**: ``.../models/{id}:rawPredict`` or ``:streamRawPredict``; ``model``
  leaves the body (``stream`` stays), ``anthropic_version`` goes into it;
  count_tokens is ``count-tokens:rawPredict``.

What a door lacks (batches on Bedrock and Vertex) is refused here too, before any
byte is sent, in case a caller reaches it through `Client.request`.
"""

from __future__ import annotations

import base64
import json as jsonlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ..._exceptions import InvalidInputError
from ..._values.doors import DOORS, wire_version

__all__ = ["COUNT_TOKENS", "MESSAGES", "route", "tokens_from"]

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
_BATCHES = "/v1/messages/batches"
# Bedrock's CountTokens wraps an InvokeModel body, which needs max_tokens; a
# count_tokens body has none (inferred: any value does, nothing is generated).
_COUNT_MAX_TOKENS = 1
# RFC 3986 segment characters Vertex's path keeps as they are (`;` is escaped:
# a server dropping ";params" would drop the verb).
_VERTEX_SAFE = "!$&'()*+,=:@"


def _plain(path: str) -> str:
    """The path without ``?beta=true``: both forms name one operation."""
    return path.removesuffix("?beta=true")


def route(
    door: str,
    method: str,
    path: str,
    *,
    body: Mapping[str, Any] | None,
    betas: Sequence[str],
    api_version: str,
    project_id: str | None = None,
    region: str | None = None,
    models: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any] | None, dict[str, str | None]]:
    """Return the door's path, body and header changes for a first-party call.

    Args:
        door: the door's name (`conversa._values.doors.DOORS`).
        method: the HTTP method.
        path: the first-party path (``/v1/messages``, ...).
        body: the first-party JSON body, if any; it is not changed.
        betas: the beta names of the call.
        api_version: the client's ``anthropic-version``.
        project_id: the Google Cloud project (Vertex).
        region: the region (Vertex's path names it).
        models: model ids to translate on this door (caller's id → door's id).

    Returns:
        The path under the base URL, the body to send, and headers to set (a
        None value removes the header).

    Raises:
        InvalidInputError: the door does not serve the call, or betas on a door
            that takes none.
    """
    caps = DOORS[door]
    plain = _plain(path)
    sent = None if body is None else dict(body)
    if sent is not None and models and sent.get("model") in models:
        sent["model"] = models[sent["model"]]
    model = str(sent.get("model") or "") if sent is not None else ""
    headers: dict[str, str | None] = {}
    if plain.startswith(_BATCHES) and not caps.batches:
        msg = (
            f"the {door} door has no Message Batches API; send each request on its "
            "own, or use the first-party, aws or google-cloud door for batches"
        )
        raise InvalidInputError(msg)
    if betas and not caps.betas:
        msg = (
            f"the {door} door takes no betas (got {', '.join(betas)}); drop them, "
            "or use Bedrock's InvokeModel (api='invoke')"
        )
        raise InvalidInputError(msg)
    if door == "bedrock":
        return _bedrock(method, plain, path, sent, model, betas, api_version)
    if door == "vertex":
        return _vertex(
            method, plain, path, sent, model, api_version, project_id, region
        )
    if door == "bedrock-messages":
        headers["anthropic-version"] = wire_version(door, model, api_version)
    return path, sent, headers


def _bedrock(
    method: str,
    plain: str,
    path: str,
    body: dict[str, Any] | None,
    model: str,
    betas: Sequence[str],
    api_version: str,
) -> tuple[str, dict[str, Any] | None, dict[str, str | None]]:
    # Bedrock reads the version and the betas from the body, never from headers.
    headers: dict[str, str | None] = {"anthropic-version": None, "anthropic-beta": None}
    if method != "POST" or plain not in (MESSAGES, COUNT_TOKENS) or body is None:
        return path, body, headers
    if not model:
        msg = "a Bedrock call needs a model in its body"
        raise InvalidInputError(msg)
    body.pop("model")
    stream = bool(body.pop("stream", False))
    body["anthropic_version"] = wire_version("bedrock", model, api_version)
    if betas:
        body["anthropic_beta"] = list(betas)
    segment = quote(model, safe=":;")
    if plain == COUNT_TOKENS:
        body.setdefault("max_tokens", _COUNT_MAX_TOKENS)
        blob = base64.b64encode(jsonlib.dumps(body, ensure_ascii=False).encode())
        wrapped = {"input": {"invokeModel": {"body": blob.decode("ascii")}}}
        return f"/model/{segment}/count-tokens", wrapped, headers
    verb = "invoke-with-response-stream" if stream else "invoke"
    return f"/model/{segment}/{verb}", body, headers


def _vertex(
    method: str,
    plain: str,
    path: str,
    body: dict[str, Any] | None,
    model: str,
    api_version: str,
    project_id: str | None,
    region: str | None,
) -> tuple[str, dict[str, Any] | None, dict[str, str | None]]:
    # Vertex reads the version from the body; betas stay in their header.
    headers: dict[str, str | None] = {"anthropic-version": None}
    if method != "POST" or plain not in (MESSAGES, COUNT_TOKENS) or body is None:
        return path, body, headers
    if not model:
        msg = "a Vertex AI call needs a model in its body"
        raise InvalidInputError(msg)
    base = f"/projects/{project_id}/locations/{region}/publishers/anthropic/models"
    body["anthropic_version"] = wire_version("vertex", model, api_version)
    if plain == COUNT_TOKENS:
        return f"{base}/count-tokens:rawPredict", body, headers
    body.pop("model")
    verb = "streamRawPredict" if body.get("stream") else "rawPredict"
    return f"{base}/{quote(model, safe=_VERTEX_SAFE)}:{verb}", body, headers


def tokens_from(body: Mapping[str, Any]) -> int:
    """Return a count_tokens answer's count (Bedrock's CountTokens says ``inputTokens``)."""
    value = body["input_tokens"] if "input_tokens" in body else body["inputTokens"]
    return int(value)
