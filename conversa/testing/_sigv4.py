"""Checking AWS Signature Version 4 on a request, with botocore's own signer.

The fake recomputes the signature the way the client must have: botocore's
`SigV4Auth` over the signed headers only, the exact body bytes and the request's
``X-Amz-Date``, for the door's test credentials, service and region. Any byte of
the body or of a signed header changed after signing gives another signature.
botocore is imported only here, when a door that verifies SigV4 is opened.
"""

from __future__ import annotations

import hmac
import importlib
import re
from types import ModuleType
from typing import Final

import httpx
from attrs import field, frozen

__all__ = [
    "UNRECOGNIZED",
    "AWSCredentials",
    "SigV4Refusal",
    "require_botocore",
    "verify_sigv4",
]

_AUTHORIZATION: Final = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;_.-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_INCOMPLETE: Final = "IncompleteSignatureException"
_INVALID: Final = "InvalidSignatureException"
UNRECOGNIZED: Final = "UnrecognizedClientException"
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your AWS Secret Access Key and signing method. Consult the "
    "service documentation for details."
)


@frozen
class AWSCredentials:
    """The AWS test credentials a door accepts (the session token is optional)."""

    access_key: str
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class SigV4Refusal(Exception):  # noqa: N818 (a refusal, answered not raised to the user)
    """A request whose SigV4 authentication the door refuses: AWS's error name and text."""

    def __init__(self, code: str, message: str) -> None:
        """Keep AWS's error *code* (``InvalidSignatureException``...) and *message*."""
        super().__init__(message)
        self.code = code
        self.message = message


def require_botocore(door: str) -> ModuleType:
    """Return ``botocore.auth``, or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module("botocore.auth")
    except ImportError as exc:
        msg = (
            f"conversa.testing's {door} door checks SigV4 signatures with botocore; "
            "install it with: pip install 'conversa-state[aws]'"
        )
        raise ImportError(msg) from exc


def verify_sigv4(
    request: httpx.Request,
    content: bytes,
    credentials: AWSCredentials,
    *,
    service: str,
    region: str,
    must_sign: tuple[str, ...] = (),
) -> None:
    """Check *request*'s SigV4 ``Authorization`` for *credentials*, *service*, *region*.

    *must_sign* names headers that must be present and signed on top of ``host``,
    ``x-amz-date`` and, when the credentials carry a session token,
    ``x-amz-security-token``.

    Raises:
        SigV4Refusal: naming what is wrong, with AWS's error code.
    """
    auth = importlib.import_module("botocore.auth")
    botocore_credentials = importlib.import_module("botocore.credentials")
    awsrequest = importlib.import_module("botocore.awsrequest")
    match = _AUTHORIZATION.match(request.headers.get("authorization", ""))
    if match is None:
        msg = "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
        raise SigV4Refusal(_INCOMPLETE, msg)
    if match["key"] != credentials.access_key:
        msg = "The security token included in the request is invalid."
        raise SigV4Refusal(UNRECOGNIZED, msg)
    if (match["region"], match["service"]) != (region, service):
        msg = (
            f"Credential should be scoped to a valid region and service: "
            f"'{region}' and '{service}', not '{match['region']}' and "
            f"'{match['service']}'."
        )
        raise SigV4Refusal(_INVALID, msg)
    signed = match["signed"].split(";")
    token = credentials.session_token
    required = ("host", "x-amz-date", *must_sign)
    required += ("x-amz-security-token",) if token else ()
    for name in required:
        if name not in signed or name not in request.headers:
            msg = f"'{name}' must be a signed header."
            raise SigV4Refusal(_INCOMPLETE, msg)
    if token and request.headers["x-amz-security-token"] != token:
        msg = "The security token included in the request is invalid."
        raise SigV4Refusal(UNRECOGNIZED, msg)
    stamp = request.headers["x-amz-date"]
    if stamp[:8] != match["date"]:
        msg = "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
        raise SigV4Refusal(_INVALID, msg)
    headers = {
        name: request.headers[name] for name in signed if name in request.headers
    }
    signable = awsrequest.AWSRequest(
        method=request.method, url=str(request.url), headers=headers, data=content
    )
    signable.context["timestamp"] = stamp
    signer = auth.SigV4Auth(
        botocore_credentials.Credentials(
            credentials.access_key, credentials.secret_key, token
        ),
        service,
        region,
    )
    canonical = signer.canonical_request(signable)
    expected = signer.signature(signer.string_to_sign(signable, canonical), signable)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SigV4Refusal(_INVALID, _MISMATCH)
