"""The fake rejects what the API rejects, with the API's status, type and text."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from conversa.testing import FakeMessagesAPI
from tests.sdk_check import check_message, check_request_body
from tests.testing.cases import INVALID, VALID, image, text
from tests.testing.support import HEADERS, NEW_HEADERS, assistant, body, post, user


def _headers(version: str) -> dict[str, str]:
    return HEADERS if version == "2023-06-01" else NEW_HEADERS


def _sdk_rejects(payload: dict[str, Any]) -> bool:
    try:
        check_request_body(payload)
    except (pydantic.ValidationError, KeyError, TypeError):
        return True
    return False


@pytest.mark.parametrize(("payload", "message", "version"), INVALID)
def test_invalid_body_gets_the_api_error(
    payload: dict[str, Any], message: str, version: str
) -> None:
    """Each broken rule gets a 400 invalid_request_error with the API's text."""
    fake = FakeMessagesAPI()
    response = post(fake, payload, headers=_headers(version))
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": message,
    }
    assert response.json()["request_id"] == response.headers["request-id"]


@pytest.mark.parametrize(("payload", "version"), VALID)
def test_valid_body_is_accepted(payload: dict[str, Any], version: str) -> None:
    """Each valid edge case gets a 200 Message."""
    fake = FakeMessagesAPI()
    response = post(fake, payload, headers=_headers(version))
    assert response.status_code == 200, response.text
    check_message(response.json())


@pytest.mark.parametrize(("payload", "version"), VALID)
def test_valid_bodies_pass_the_sdk_types(payload: dict[str, Any], version: str) -> None:
    """Every body the fake accepts in the valid table also passes the SDK's types."""
    check_request_body(payload)


@pytest.mark.parametrize(("payload", "message", "version"), INVALID)
def test_fake_never_accepts_what_the_sdk_rejects(
    payload: dict[str, Any], message: str, version: str
) -> None:
    """Whenever the SDK's types reject a body, the fake rejects it too."""
    if _sdk_rejects(payload):
        response = post(FakeMessagesAPI(), payload, headers=_headers(version))
        assert response.status_code == 400


SDK_REJECTED = [
    pytest.param(body({"role": "bot", "content": "hi"}), id="bad-role"),
    pytest.param(
        body(user([{"type": "tool_result", "content": "x"}])), id="no-tool-use-id"
    ),
    pytest.param(body(user([{"type": "nope"}])), id="unknown-block"),
    pytest.param(body(user([{"type": "text"}])), id="text-without-text"),
    pytest.param(body(user([image(media_type="image/bmp")])), id="bad-media-type"),
    pytest.param(
        body(
            user("a"),
            assistant([{"type": "tool_use", "id": "t", "name": "n", "input": {}}]),
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "x"}],
                    }
                ]
            ),
        ),
        id="nested-unknown-block",
    ),
    pytest.param({**body(), "model": 5}, id="model-type"),
    pytest.param({"model": "m", "messages": [user("hi")]}, id="no-max-tokens"),
    pytest.param(
        body(user([text("a")]), system=[{"type": "image"}]), id="system-block"
    ),
]


@pytest.mark.parametrize("payload", SDK_REJECTED)
def test_sdk_rejected_bodies_are_rejected_by_the_fake(payload: dict[str, Any]) -> None:
    """Bodies the SDK types reject (§12's examples and more) get a 400 from the fake."""
    assert _sdk_rejects(payload)
    assert post(FakeMessagesAPI(), payload).status_code == 400


def test_unknown_model_rejects_prefill_when_configured() -> None:
    """An unknown model accepts prefill unless listed in prefill_rejecting_models."""
    payload = body(user("a"), assistant("{"), model="claude-test-1")
    assert post(FakeMessagesAPI(), payload).status_code == 200
    strict = FakeMessagesAPI(prefill_rejecting_models={"claude-test-1"})
    response = post(strict, payload)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("This model does not support")


def test_rejected_request_is_recorded_and_consumes_no_step() -> None:
    """A rejected request is recorded but leaves the scripted reply for the next call."""
    from conversa.testing import reply

    fake = FakeMessagesAPI()
    fake.script(reply.text("scripted"))
    assert post(fake, body(user(""))).status_code == 400
    assert fake.last_request.status_code == 400
    assert fake.last_request.step is None
    assert len(fake.pending) == 1
    response = post(fake, body())
    assert response.json()["content"][0]["text"] == "scripted"
