"""The AWS doors: Claude Platform on AWS, Bedrock InvokeModel, Bedrock's Messages endpoint.

Each accepts SigV4 (checked with botocore's signer for the door's test
credentials, signing name and region) or the door's test API key. Values the
platforms' documentation leaves open are named constants here: the Bedrock
version that stands for the first-party ``2023-06-01`` rules, the error names and
statuses, the stream's extra ``amazon-bedrock-invocationMetrics``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final, NoReturn

import httpx
from attrs import evolve, frozen

from ._doors import Backend, aws_error, forward
from ._eventstream import CONTENT_TYPE, chunk_frame, exception_frame
from ._recorded import Answer
from ._sigv4 import UNRECOGNIZED, AWSCredentials, SigV4Refusal, verify_sigv4
from ._stream import encode_json
from ._validate import MESSAGES_ONLY, VERSIONS
from ._validate_base import RejectedError

__all__ = [
    "BEDROCK_VERSION",
    "TEST_CREDENTIALS",
    "AWSAuth",
    "AWSDoor",
    "BedrockDoor",
    "BedrockMessagesDoor",
]

TEST_CREDENTIALS: Final = AWSCredentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "conversa-fake-session"
)
# Bedrock InvokeModel's own anthropic_version; the fake checks it with the
# first-party 2023-06-01 rules (inferred: AWS documents only the value).
BEDROCK_VERSION: Final = "bedrock-2023-05-31"
_BEDROCK_RULES: Final = {BEDROCK_VERSION: "2023-06-01", **{v: v for v in VERSIONS}}
# Every AWS authentication refusal is a 403 (inferred: AWS's usual answer).
_AUTH_STATUS: Final = 403
# Bedrock's error names and HTTP statuses (botocore's bedrock-runtime model).
_BEDROCK_STATUS: Final[Mapping[str, int]] = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
# The API's error types as Bedrock names them (inferred: no mapping is published).
_BEDROCK_NAME: Final[Mapping[str, str]] = {
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
    "authentication_error": "AccessDeniedException",
    "permission_error": "AccessDeniedException",
    "not_found_error": "ResourceNotFoundException",
    "rate_limit_error": "ThrottlingException",
    "timeout_error": "ModelTimeoutException",
    "api_error": "InternalServerException",
    "overloaded_error": "ServiceUnavailableException",
}
_STREAM_EXCEPTIONS: Final = frozenset(
    {
        "internalServerException",
        "modelStreamErrorException",
        "validationException",
        "throttlingException",
        "modelTimeoutException",
        "serviceUnavailableException",
    }
)
_INVOKE_PATH: Final = re.compile(
    r"^/model/(?P<model>[^/]+)/(?P<op>invoke|invoke-with-response-stream|count-tokens)$"
)
_MISSING_AUTH: Final = "MissingAuthenticationTokenException"
_UNKNOWN_OPERATION: Final = ("UnknownOperationException", "Unknown operation")


@frozen
class AWSAuth:
    """How an AWS door authenticates: SigV4 for its signing name, or its API key."""

    credentials: AWSCredentials
    api_key: str
    service: str
    region: str

    def check(
        self, request: httpx.Request, content: bytes, *, must_sign: tuple[str, ...] = ()
    ) -> None:
        """Accept the door's API key (``x-api-key`` or bearer) or a valid SigV4 signature.

        Raises:
            SigV4Refusal: with AWS's error code and text.
        """
        authorization = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key")
        if key is None and authorization.lower().startswith("bearer "):
            key = authorization[len("bearer ") :].strip()
        if key is not None:
            if not hmac.compare_digest(key.encode(), self.api_key.encode()):
                msg = "The API key included in the request is invalid."
                raise SigV4Refusal(UNRECOGNIZED, msg)
            return
        if not authorization:
            msg = "Missing Authentication Token"
            raise SigV4Refusal(_MISSING_AUTH, msg)
        verify_sigv4(
            request,
            content,
            self.credentials,
            service=self.service,
            region=self.region,
            must_sign=must_sign,
        )


def _refused(refusal: SigV4Refusal, backend: Backend) -> Answer:
    return aws_error(
        _AUTH_STATUS, refusal.code, refusal.message, backend.new_id("req_")
    )


def _first_party_headers(request: httpx.Request, identity: str) -> dict[str, str]:
    # The fake behind the door partitions caches and batches by this key.
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    headers["x-api-key"] = identity
    return headers


@frozen
class AWSDoor:
    """Claude Platform on AWS: first-party paths, SigV4 ``aws-external-anthropic``.

    Every request needs ``anthropic-workspace-id`` naming the door's workspace
    (signed, under SigV4). Errors of the API behind it keep the API's shape.
    """

    region: str
    workspace_id: str
    auth: AWSAuth

    @property
    def base_url(self) -> str:
        """``https://aws-external-anthropic.{region}.api.aws``."""
        return f"https://aws-external-anthropic.{self.region}.api.aws"

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Check the workspace and the authentication, then let the fake answer."""
        workspace = request.headers.get("anthropic-workspace-id")
        if not workspace:
            message = "anthropic-workspace-id: header is required"
            return backend.error(RejectedError(400, "invalid_request_error", message))
        try:
            self.auth.check(request, content, must_sign=("anthropic-workspace-id",))
        except SigV4Refusal as refusal:
            return _refused(refusal, backend)
        if workspace != self.workspace_id:
            message = f"workspace {workspace!r} is not reachable with these credentials in {self.region}"
            return backend.error(RejectedError(403, "permission_error", message))
        headers = _first_party_headers(request, "aws")
        first_party = forward(request, path, headers, content, base_url=self.base_url)
        return backend.route(first_party, content)


@frozen
class BedrockMessagesDoor:
    """Bedrock's Messages endpoint: ``/anthropic/v1/messages``, SigV4 ``bedrock-mantle``.

    Serves messages and count_tokens (inferred: not listed as unsupported); no
    batches, and no ``anthropic-beta`` header (refused with a 400, inferred).
    """

    region: str
    auth: AWSAuth

    @property
    def base_url(self) -> str:
        """``https://bedrock-mantle.{region}.api.aws/anthropic``."""
        return f"https://bedrock-mantle.{self.region}.api.aws/anthropic"

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Check the authentication and the header, then let the fake answer."""
        try:
            self.auth.check(request, content)
        except SigV4Refusal as refusal:
            return _refused(refusal, backend)
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            message = "The requested resource could not be found."
            return backend.error(RejectedError(404, "not_found_error", message))
        if "anthropic-beta" in request.headers:
            message = "anthropic-beta: header is not supported on Amazon Bedrock"
            return backend.error(RejectedError(400, "invalid_request_error", message))
        headers = _first_party_headers(request, "bedrock-messages")
        first_party = forward(request, path, headers, content, base_url=self.base_url)
        return backend.route(first_party, content)


def _malformed(message: str) -> NoReturn:
    text = f"Malformed input request: #: {message}, please reformat your input and try again."
    raise RejectedError(400, "ValidationException", text)


def _invoke_body(content: bytes) -> dict[str, Any]:
    """Parse and check an InvokeModel body: no model, no stream, a known version."""
    try:
        body = json.loads(content)
    except ValueError:
        _malformed("the request body is not valid JSON")
    if not isinstance(body, dict):
        _malformed("expected type: JSONObject")
    for key in ("model", "stream"):
        if key in body:
            _malformed(f"extraneous key [{key}] is not permitted")
    version = body.get("anthropic_version")
    if version is None:
        _malformed("required key [anthropic_version] not found")
    if version not in _BEDROCK_RULES:
        _malformed(f"anthropic_version: {version!r} is not supported")
    betas = body.get("anthropic_beta", [])
    if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
        _malformed("anthropic_beta: expected type: JSONArray of strings")
    return body


def _count_envelope(content: bytes) -> bytes:
    """Return the InvokeModel body a CountTokens request wraps (base64 in JSON)."""
    try:
        envelope = json.loads(content)
        blob = envelope["input"]["invokeModel"]["body"]
        return base64.b64decode(blob, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        message = "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null"
        raise RejectedError(400, "ValidationException", message) from None


@frozen
class BedrockDoor:
    """Bedrock InvokeModel: ``/model/{modelId}/invoke``, SigV4 ``bedrock`` or a bearer key.

    The body has no ``model`` (it is in the path) and no ``stream`` (the path
    picks it), carries ``anthropic_version`` and its betas as ``anthropic_beta``;
    the ``anthropic-beta`` header is ignored. Streams are AWS event-stream
    frames; errors are Bedrock's (``x-amzn-ErrorType``); CountTokens is
    ``/model/{modelId}/count-tokens``. Other paths (batches...) are unknown
    operations.
    """

    region: str
    auth: AWSAuth

    @property
    def base_url(self) -> str:
        """``https://bedrock-runtime.{region}.amazonaws.com``."""
        return f"https://bedrock-runtime.{self.region}.amazonaws.com"

    def answer(
        self, request: httpx.Request, content: bytes, path: str, backend: Backend
    ) -> Answer:
        """Check, translate to a first-party call, and answer in Bedrock's shape."""
        request_id = backend.new_id("req_")
        try:
            self.auth.check(request, content)
        except SigV4Refusal as refusal:
            return aws_error(_AUTH_STATUS, refusal.code, refusal.message, request_id)
        match = _INVOKE_PATH.match(path)
        if match is None or request.method != "POST":
            return aws_error(404, *_UNKNOWN_OPERATION, request_id)
        operation = match["op"]
        try:
            inner = _count_envelope(content) if operation == "count-tokens" else content
            body = _invoke_body(inner)
        except RejectedError as rejection:
            return aws_error(400, rejection.error_type, rejection.message, request_id)
        model = urllib.parse.unquote(match["model"])
        first_party = _first_party_body(model, body, operation)
        headers = {
            "x-api-key": "bedrock",
            "content-type": "application/json",
            "anthropic-version": _BEDROCK_RULES[body["anthropic_version"]],
        }
        if body.get("anthropic_beta"):
            headers["anthropic-beta"] = ",".join(body["anthropic_beta"])
        target = (
            "/v1/messages/count_tokens"
            if operation == "count-tokens"
            else "/v1/messages"
        )
        data = encode_json(first_party)
        call = forward(request, target, headers, data, base_url=self.base_url)
        answer = backend.route(call, data)
        extra = (("x-amzn-requestid", request_id),)
        streamed = operation == "invoke-with-response-stream"
        if answer.status is None or answer.status >= 400:
            return evolve(_bedrock_error(answer, request_id), stream=streamed)
        if operation == "count-tokens":
            count = {"inputTokens": answer.json["input_tokens"]}
            return Answer(200, answer.headers + extra, count, (encode_json(count),))
        if streamed:
            return _framed(answer, extra)
        return evolve(answer, headers=answer.headers + extra)


def _first_party_body(
    model: str, body: dict[str, Any], operation: str
) -> dict[str, Any]:
    rest = {
        k: v
        for k, v in body.items()
        if k not in ("anthropic_version", "anthropic_beta")
    }
    if operation == "count-tokens":
        # CountTokens counts an InvokeModel body: its generation settings don't count.
        rest = {k: v for k, v in rest.items() if k not in MESSAGES_ONLY}
    elif operation == "invoke-with-response-stream":
        rest["stream"] = True
    return {"model": model, **rest}


def _bedrock_name(error_type: str) -> str:
    if error_type in _BEDROCK_STATUS:
        return error_type
    return _BEDROCK_NAME.get(error_type, "InternalServerException")


def _bedrock_error(answer: Answer, request_id: str) -> Answer:
    """Return the fake's error *answer* as Bedrock sends it."""
    if answer.status is None:
        return answer
    error = answer.json["error"]
    name = _bedrock_name(error["type"])
    kept = tuple(
        (k, v) for k, v in answer.headers if k not in ("content-type", "request-id")
    )
    status = _BEDROCK_STATUS[name]
    reshaped = aws_error(status, name, error["message"], request_id, extra=kept)
    return evolve(reshaped, step=answer.step)


def _metrics(message: Any) -> dict[str, Any]:
    # Bedrock adds invocation metrics to message_stop (inferred: third-party
    # clients read it; no official page shows it).
    usage = message.get("usage", {}) if isinstance(message, dict) else {}
    return {
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": usage.get("input_tokens", 0),
            "outputTokenCount": usage.get("output_tokens", 0),
            "invocationLatency": 0,
            "firstByteLatency": 0,
        }
    }


def _framed(answer: Answer, extra: tuple[tuple[str, str], ...]) -> Answer:
    """Return a streamed *answer* as event-stream frames instead of SSE."""
    frames = []
    for name, data in answer.events:
        if name == "error":
            error = data["error"]
            kind = _bedrock_name(error["type"])
            kind = kind[0].lower() + kind[1:]
            if kind not in _STREAM_EXCEPTIONS:
                kind = "modelStreamErrorException"
            frames.append(exception_frame(kind, error["message"]))
        elif name == "message_stop":
            frames.append(chunk_frame({**data, **_metrics(answer.json)}))
        else:
            frames.append(chunk_frame(data))
    headers = tuple(
        (k, v) for k, v in answer.headers if k not in ("content-type", "cache-control")
    )
    headers = (("content-type", CONTENT_TYPE), *headers, *extra)
    return evolve(answer, headers=headers, chunks=tuple(frames), stream=True)
