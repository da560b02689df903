"""The transport: routing, headers, count_tokens, recording, reset, threads."""

from __future__ import annotations

import textwrap
import threading
from typing import Any

import httpx
import pytest

import conversa.testing
from conversa.testing import FakeMessagesAPI, RecordedRequest, fault, reply
from tests.sdk_check import check_message
from tests.testing.cases import PNG, image
from tests.testing.support import HEADERS, body, message, post, user

pytestmark = pytest.mark.anyio


def test_public_all_is_sorted_and_complete() -> None:
    """conversa.testing exports a sorted __all__ naming every public name."""
    exported = conversa.testing.__all__
    assert exported == sorted(exported)
    assert all(hasattr(conversa.testing, name) for name in exported)


def test_module_docstring_example_runs() -> None:
    """The usage example in conversa.testing's docstring runs as written."""
    doc = conversa.testing.__doc__ or ""
    example = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    exec(textwrap.dedent(example), {})  # noqa: S102


@pytest.mark.parametrize(
    ("headers", "status", "error_type", "message"),
    [
        (
            {"anthropic-version": "2023-06-01"},
            401,
            "authentication_error",
            "x-api-key header is required",
        ),
        (
            {"authorization": "Basic abc", "anthropic-version": "2023-06-01"},
            401,
            "authentication_error",
            "x-api-key header is required",
        ),
        (
            {"x-api-key": "k"},
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ),
        (
            {"x-api-key": "k", "anthropic-version": "2024-01-01"},
            400,
            "invalid_request_error",
            "anthropic-version: invalid version '2024-01-01'; supported versions: 2023-06-01, 2026-10-21",
        ),
    ],
)
def test_header_rules(
    headers: dict[str, str], status: int, error_type: str, message: str
) -> None:
    """Auth and version headers are required, with the API's statuses and texts."""
    response = post(FakeMessagesAPI(), body(), headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == {"type": error_type, "message": message}


def _raw_post(
    fake: FakeMessagesAPI, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        return http.post(
            "/v1/messages",
            headers={**HEADERS, "content-type": content_type},
            content=content,
        )


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (
            b"{}",
            "text/plain",
            "content-type: the request body must be application/json",
        ),
        (
            b"{nope",
            "application/json",
            "There was an error parsing the body of your request: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (
            b"[1]",
            "application/json; charset=utf-8",
            "body: Input should be a valid dictionary",
        ),
    ],
)
def test_body_must_be_a_json_object(
    content: bytes, content_type: str, message: str
) -> None:
    """The body must be sent as JSON and be a JSON object."""
    fake = FakeMessagesAPI()
    response = _raw_post(fake, content, content_type)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
    assert fake.last_request.body == (
        None if content == b"{nope" else ([1] if content == b"[1]" else {})
    )


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_number_json_has_no_text_for_is_a_parse_error(constant: bytes) -> None:
    """JSON has no NaN or Infinity (Python's parser takes them); the API refuses the
    body as it refuses any that is not JSON."""
    fake = FakeMessagesAPI()
    content = (
        b'{"model":"claude-sonnet-4-5","max_tokens":1,"temperature":'
        + constant
        + b',"messages":[{"role":"user","content":"hi"}]}'
    )
    response = _raw_post(fake, content, "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith(
        "There was an error parsing the body of your request"
    )


def test_oversized_body_is_413() -> None:
    """A body over the size limit gets 413 request_too_large before anything else."""
    fake = FakeMessagesAPI(max_request_bytes=1000)
    response = post(fake, body(user("x" * 1000)), headers={})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_unknown_path_is_404() -> None:
    """Unknown paths and methods get the API's not_found_error."""
    fake = FakeMessagesAPI()
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        for response in (
            http.get("/v1/messages", headers=HEADERS),
            http.get("/v1/models", headers=HEADERS),
            http.put("/v1/messages/batches", headers=HEADERS, json={}),
            http.post("/v1/messages/batches/msgbatch_1", headers=HEADERS, json={}),
            http.get("/v1/messages/batches/msgbatch_1/cancel", headers=HEADERS),
            http.get("/v1/messages/batches/a/b/c", headers=HEADERS),
        ):
            assert response.status_code == 404
            assert response.json()["error"] == {
                "type": "not_found_error",
                "message": "The requested resource could not be found.",
            }


def test_success_headers() -> None:
    """Replies carry request-id, an organization id and rate-limit headers."""
    fake = FakeMessagesAPI()
    response = post(fake, body())
    assert response.headers["request-id"].startswith("req_")
    assert response.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert (
        response.headers["anthropic-ratelimit-tokens-reset"] == "2026-01-01T00:00:00Z"
    )
    assert "anthropic-organization-id" in response.headers


def test_count_tokens_matches_usage() -> None:
    """count_tokens answers the same input_tokens a reply reports for the same request."""
    fake = FakeMessagesAPI()
    payload = body(
        user([{"type": "text", "text": "Describe"}, image(PNG)]),
        system="Be brief.",
        tools=[{"name": "t", "input_schema": {"type": "object"}}],
    )
    usage = message(fake, payload)["usage"]
    counted = post(
        fake,
        {k: v for k, v in payload.items() if k != "max_tokens"},
        path="/v1/messages/count_tokens",
    )
    assert counted.status_code == 200
    assert counted.json() == {"input_tokens": usage["input_tokens"]}
    assert fake.count_tokens(payload) == usage["input_tokens"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_tokens": 5}, "max_tokens: Extra inputs are not permitted"),
        ({"stream": True}, "stream: Extra inputs are not permitted"),
        ({"metadata": {}}, "metadata: Extra inputs are not permitted"),
        ({"stop_sequences": ["x"]}, "stop_sequences: Extra inputs are not permitted"),
        (
            {
                "messages": [
                    user(
                        [
                            {
                                "type": "image",
                                "source": {"type": "url", "url": "https://x/y.png"},
                            }
                        ]
                    )
                ]
            },
            "messages.0.content.0.source: count_tokens does not support images or documents with `url` or `file` sources; send them as base64",
        ),
        (
            {
                "messages": [
                    user(
                        [
                            {
                                "type": "document",
                                "source": {"type": "file", "file_id": "f"},
                            }
                        ]
                    )
                ]
            },
            "messages.0.content.0.source: count_tokens does not support images or documents with `url` or `file` sources; send them as base64",
        ),
        (
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools.0: count_tokens does not support server tools",
        ),
    ],
)
def test_count_tokens_validates_its_own_body(
    extra: dict[str, Any], message: str
) -> None:
    """count_tokens rejects create-only fields and url/file sources."""
    payload = {"model": "claude-sonnet-4-5", "messages": [user("hi")], **extra}
    response = post(FakeMessagesAPI(), payload, path="/v1/messages/count_tokens")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message


def test_count_tokens_consumes_no_step() -> None:
    """count_tokens neither consumes scripted steps nor fires faults."""
    fake = FakeMessagesAPI()
    fake.script(fault.status(529))
    payload = {"model": "claude-sonnet-4-5", "messages": [user("hi")]}
    assert post(fake, payload, path="/v1/messages/count_tokens").status_code == 200
    assert len(fake.pending) == 1


def test_recording() -> None:
    """Each request is recorded with its headers, body, status and answer."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("Hi"))
    payload = body(user("Hello"), metadata={"user_id": "u"})
    response = post(fake, payload)
    recorded = fake.last_request
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path, recorded.status_code) == (
        "POST",
        "/v1/messages",
        200,
    )
    assert recorded.url == "https://api.anthropic.com/v1/messages"
    assert recorded.body == payload
    assert list(recorded.body) == list(payload)
    assert recorded.headers["x-api-key"] == "sk-test"
    assert "sk-test" not in repr(recorded)
    assert recorded.response_json == response.json()
    assert recorded.response_headers is not None
    assert recorded.response_headers["request-id"] == response.headers["request-id"]
    assert recorded.step == reply.text("Hi")
    assert not recorded.stream
    assert fake.requests == [recorded]


def test_last_request_before_any_request() -> None:
    """last_request raises LookupError before the first request."""
    with pytest.raises(LookupError):
        _ = FakeMessagesAPI().last_request


def test_reset_forgets_everything() -> None:
    """reset clears the script, the log and the id counters."""
    fake = FakeMessagesAPI()
    first = message(fake, body())
    fake.script(reply.text("x"))
    fake.reset()
    assert (fake.requests, fake.pending) == ([], ())
    assert message(fake, body()) == first


def test_ids_are_distinct_and_deterministic() -> None:
    """Message and request ids never repeat within a fake and repeat across equal seeds."""
    fake, twin = FakeMessagesAPI(seed=9), FakeMessagesAPI(seed=9)
    ids = [post(fake, body()).json()["id"] for _ in range(20)]
    assert len(set(ids)) == 20
    assert ids == [post(twin, body()).json()["id"] for _ in range(20)]


def test_thread_safety() -> None:
    """Concurrent callers each consume exactly one scripted step."""
    fake = FakeMessagesAPI()
    fake.script(*(reply.text(f"reply {n}") for n in range(40)))
    texts: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
            for _ in range(10):
                text = http.post("/v1/messages", headers=HEADERS, json=body()).json()[
                    "content"
                ][0]["text"]
                with lock:
                    texts.append(text)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(texts) == sorted(f"reply {n}" for n in range(40))
    assert len(fake.requests) == 40


async def test_async_client_works_on_the_same_object() -> None:
    """One fake serves an AsyncClient with the same script and log."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("async"))
    async with httpx.AsyncClient(
        transport=fake, base_url="https://api.anthropic.com"
    ) as http:
        response = await http.post("/v1/messages", headers=HEADERS, json=body())
    check_message(response.json())
    assert response.json()["content"][0]["text"] == "async"
    assert post(fake, body()).status_code == 200
    assert len(fake.requests) == 2


def test_beta_field_accepted_with_its_beta_header() -> None:
    """Beta-only fields are accepted when the anthropic-beta header names the beta."""
    headers = {**HEADERS, "anthropic-beta": "foo, context-management-2025-06-27"}
    assert (
        post(
            FakeMessagesAPI(), body(context_management={"edits": []}), headers=headers
        ).status_code
        == 200
    )
