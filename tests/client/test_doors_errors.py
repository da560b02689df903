"""Every Bedrock HTTP error botocore's service model lists: conversa's class, type and retry.

The status and ``x-amzn-ErrorType`` are botocore's ``bedrock-runtime`` model's (read
from botocore itself here, so a new error there shows up in this test); the body is
``{"message": ...}``. Each becomes the `APIStatusError` subclass of its status,
with the Anthropic error type of the same meaning, retried as the official SDK
retries (408, 429 and 5xx; not 400, 403, 404 or 424).
"""

from __future__ import annotations

import httpx
import pytest
from botocore.loaders import Loader

from conversa import (
    APIStatusError,
    BadRequestError,
    Client,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
)

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
BODY = {
    "model": MODEL,
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Hi"}],
}
_SERVICE = Loader().load_service_model("bedrock-runtime", "service-2")
_NAMES = {
    error["shape"]
    for operation in ("InvokeModel", "InvokeModelWithResponseStream")
    for error in _SERVICE["operations"][operation]["errors"]
}
ERRORS = sorted(
    (name, _SERVICE["shapes"][name]["error"]["httpStatusCode"]) for name in _NAMES
)
EXPECTED = {
    400: (BadRequestError, "invalid_request_error"),
    403: (PermissionDeniedError, "permission_error"),
    404: (NotFoundError, "not_found_error"),
    408: (APIStatusError, "timeout_error"),
    424: (APIStatusError, "api_error"),
    429: (RateLimitError, "rate_limit_error"),
    500: (InternalServerError, "api_error"),
    503: (InternalServerError, "overloaded_error"),
}


def test_the_service_model_lists_the_known_errors() -> None:
    """botocore's InvokeModel errors: eleven, over these statuses."""
    assert {status for _, status in ERRORS} == set(EXPECTED)
    assert len(ERRORS) == 11


@pytest.mark.parametrize(("name", "status"), ERRORS)
def test_each_bedrock_error_is_typed_and_retried_as_the_sdk(
    name: str, status: int
) -> None:
    """Its class by status, its Anthropic type by name, one retry exactly when the SDK retries."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"x-amzn-ErrorType": name, "x-amzn-RequestId": "req-aws-1"}
        return httpx.Response(status, headers=headers, json={"message": f"{name}!"})

    client = Client.bedrock(
        region="us-east-1",
        api_key="bedrock-key",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.no_wait(max_retries=1),
    )
    with client, pytest.raises(APIStatusError) as info:
        client.create_message(BODY)
    kind, error_type = EXPECTED[status]
    error = info.value
    assert isinstance(error, kind)
    assert error.status_code == status
    assert error.request_id == "req-aws-1"
    assert error.error_type == error_type
    assert f"{name}!" in str(error)
    retried = status in (408, 429) or status >= 500
    assert len(seen) == (2 if retried else 1)
