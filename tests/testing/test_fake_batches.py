"""Message Batches (MESSAGES_API.md §8): creation, lifecycle, results, listing, limits."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from anthropic.types.messages import (
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchIndividualResponse,
)

from conversa.testing import FakeMessagesAPI, fault, reply
from tests.testing.cases import CACHE, text
from tests.testing.support import (
    HEADERS,
    NEW_HEADERS,
    Clock,
    body,
    post,
    user,
    words,
)

BATCHES = "/v1/messages/batches"


def call(
    fake: FakeMessagesAPI,
    method: str,
    path: str,
    payload: Any = None,
    *,
    headers: dict[str, str] = HEADERS,
    params: dict[str, Any] | None = None,
) -> httpx.Response:
    """Call the fake's batch endpoints through a plain httpx client."""
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        return http.request(method, path, headers=headers, json=payload, params=params)


def requests_for(*custom_ids: str, **extra: Any) -> dict[str, Any]:
    """Return a batch body with one simple request per custom id."""
    return {
        "requests": [
            {"custom_id": cid, "params": body(user(f"Question {cid}"), **extra)}
            for cid in custom_ids
        ]
    }


def create(fake: FakeMessagesAPI, *custom_ids: str, **extra: Any) -> dict[str, Any]:
    """Create a batch, check it with the SDK and return its JSON."""
    response = call(fake, "POST", BATCHES, requests_for(*custom_ids, **extra))
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    MessageBatch.model_validate(batch)
    return batch


def retrieve(fake: FakeMessagesAPI, batch_id: str) -> dict[str, Any]:
    """Retrieve a batch (one poll), check it with the SDK and return its JSON."""
    response = call(fake, "GET", f"{BATCHES}/{batch_id}")
    assert response.status_code == 200, response.text
    batch: dict[str, Any] = response.json()
    MessageBatch.model_validate(batch)
    return batch


def results(fake: FakeMessagesAPI, batch_id: str) -> list[dict[str, Any]]:
    """Download a batch's results, check each line with the SDK, return them."""
    response = call(fake, "GET", f"{BATCHES}/{batch_id}/results")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-jsonl"
    lines = [json.loads(line) for line in response.text.splitlines()]
    for line in lines:
        MessageBatchIndividualResponse.model_validate(line)
    return lines


def by_id(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index result lines by custom_id."""
    return {line["custom_id"]: line["result"] for line in lines}


def counts(**nonzero: int) -> dict[str, int]:
    """Return request_counts with the given non-zero tallies."""
    return {
        key: nonzero.get(key, 0)
        for key in ("processing", "succeeded", "errored", "canceled", "expired")
    }


def test_new_batch_is_in_progress() -> None:
    """Creation answers a MessageBatch that is in progress, expiring in 24 hours."""
    fake = FakeMessagesAPI()
    batch = create(fake, "a", "b")
    assert batch["id"].startswith("msgbatch_")
    assert list(batch) == [
        "id",
        "type",
        "processing_status",
        "request_counts",
        "ended_at",
        "created_at",
        "expires_at",
        "archived_at",
        "cancel_initiated_at",
        "results_url",
    ]
    assert batch["type"] == "message_batch"
    assert batch["processing_status"] == "in_progress"
    assert batch["request_counts"] == counts(processing=2)
    assert batch["ended_at"] is None
    assert batch["results_url"] is None
    parsed = MessageBatch.model_validate(batch)
    assert parsed.expires_at - parsed.created_at == timedelta(hours=24)


def test_batch_ends_after_the_configured_polls() -> None:
    """The first batch_polls retrievals are in progress; the next one ends it."""
    fake = FakeMessagesAPI(batch_polls=2)
    batch_id = create(fake, "a", "b", "c")["id"]
    for _ in range(2):
        assert retrieve(fake, batch_id)["processing_status"] == "in_progress"
    ended = retrieve(fake, batch_id)
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"] == counts(succeeded=3)
    assert ended["ended_at"] is not None
    url = f"https://api.anthropic.com/v1/messages/batches/{batch_id}/results"
    assert ended["results_url"] == url
    assert retrieve(fake, batch_id) == ended


def test_zero_polls_ends_at_the_first_retrieval() -> None:
    """With batch_polls=0 the first retrieval already sees the batch ended."""
    fake = FakeMessagesAPI(batch_polls=0)
    batch_id = create(fake, "a")["id"]
    assert retrieve(fake, batch_id)["processing_status"] == "ended"


def test_advance_batches_ends_everything() -> None:
    """advance_batches() ends every running batch at once."""
    fake = FakeMessagesAPI(batch_polls=100)
    first, second = create(fake, "a")["id"], create(fake, "b")["id"]
    fake.advance_batches()
    for batch_id in (first, second):
        assert retrieve(fake, batch_id)["processing_status"] == "ended"


def test_results_are_messages_billed_as_batch_in_reverse_order() -> None:
    """Results follow the script in request order, come back reversed, tier batch."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("first answer"), reply.text("second answer"))
    batch_id = create(fake, "a", "b", "c")["id"]
    fake.advance_batches()
    lines = results(fake, batch_id)
    assert [line["custom_id"] for line in lines] == ["c", "b", "a"]
    found = by_id(lines)
    assert found["a"]["message"]["content"] == [
        {"type": "text", "text": "first answer"}
    ]
    assert found["b"]["message"]["content"][0]["text"] == "second answer"
    assert found["c"]["message"]["content"][0]["text"].startswith("(fake reply #3")
    for result in found.values():
        assert result["type"] == "succeeded"
        assert result["message"]["usage"]["service_tier"] == "batch"
    assert fake.pending == ()


def test_script_batch_targets_custom_ids() -> None:
    """script_batch gives named requests their own step: a reply, an error, expiry."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("from the queue"))
    fake.script_batch(
        {
            "late": fault.expired(),
            "broken": fault.status(500),
            "lost": fault.timeout(),
            "named": reply.text("just for me"),
        }
    )
    batch_id = create(fake, "named", "late", "broken", "lost", "plain")["id"]
    ended = retrieve(fake, retrieve(fake, batch_id)["id"])
    assert ended["request_counts"] == counts(succeeded=2, errored=2, expired=1)
    found = by_id(results(fake, batch_id))
    assert found["named"]["message"]["content"][0]["text"] == "just for me"
    assert found["plain"]["message"]["content"][0]["text"] == "from the queue"
    assert found["late"] == {"type": "expired"}
    assert found["broken"]["error"]["error"] == {
        "type": "api_error",
        "message": "Internal server error",
    }
    assert found["broken"]["error"]["request_id"].startswith("req_")
    assert found["lost"]["error"]["error"]["type"] == "api_error"


def test_queued_faults_make_batch_requests_error() -> None:
    """A fault taken from the queue makes its batch request errored."""
    fake = FakeMessagesAPI()
    fake.script(fault.status(529), fault.stream_error("rate_limit_error"))
    batch_id = create(fake, "a", "b", "c")["id"]
    fake.advance_batches()
    found = by_id(results(fake, batch_id))
    assert found["a"]["error"]["error"]["type"] == "overloaded_error"
    assert found["b"]["error"]["error"]["type"] == "rate_limit_error"
    assert found["c"]["type"] == "succeeded"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
        (body(stream=True), "stream: streaming is not supported in Message Batches"),
        (body(speed="fast"), "speed: is not supported in Message Batches"),
        (
            {"model": "claude-sonnet-4-5", "messages": [user("x")]},
            "max_tokens: Field required",
        ),
        (body(user([text("")])), "messages: text content blocks must be non-empty"),
    ],
)
def test_invalid_params_error_without_failing_the_batch(
    params: dict[str, Any], error: str
) -> None:
    """Params are validated per request; a bad one is an errored result, not a 400."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("kept for the good request"))
    payload = {
        "requests": [
            {"custom_id": "bad", "params": params},
            {"custom_id": "good", "params": body()},
        ]
    }
    response = call(fake, "POST", BATCHES, payload)
    assert response.status_code == 200
    fake.advance_batches()
    found = by_id(results(fake, response.json()["id"]))
    assert found["bad"]["error"]["error"] == {
        "type": "invalid_request_error",
        "message": error,
    }
    assert found["good"]["message"]["content"][0]["text"] == "kept for the good request"


def test_params_follow_the_api_version_of_the_batch_call() -> None:
    """Under 2026-10-21 a batch request with temperature is errored like a direct call."""
    fake = FakeMessagesAPI()
    payload = requests_for("a", temperature=0.5)
    response = call(fake, "POST", BATCHES, payload, headers=NEW_HEADERS)
    fake.advance_batches()
    lines = call(
        fake, "GET", f"{BATCHES}/{response.json()['id']}/results", headers=NEW_HEADERS
    )
    error = json.loads(lines.text)["result"]["error"]["error"]
    assert error["message"] == "temperature: Extra inputs are not permitted"


def test_batch_requests_share_the_prompt_cache() -> None:
    """Batch requests read and write the prompt cache like direct calls."""
    fake = FakeMessagesAPI()
    system = [text(words(1100), cache_control=CACHE)]
    batch_id = create(fake, "a", "b", system=system)["id"]
    fake.advance_batches()
    found = by_id(results(fake, batch_id))
    assert found["a"]["message"]["usage"]["cache_creation_input_tokens"] == 1105
    assert found["b"]["message"]["usage"]["cache_read_input_tokens"] == 1105
    direct = post(fake, body(system=system)).json()
    assert direct["usage"]["cache_read_input_tokens"] == 1105


def _long_ids(count: int) -> list[str]:
    return [f"id-{n}" for n in range(count)]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "requests: Field required"),
        ({"requests": [], "extra": 1}, "extra: Extra inputs are not permitted"),
        ({"requests": {}}, "requests: Input should be a valid list"),
        (
            {"requests": []},
            "requests: List should have at least 1 item after validation, not 0",
        ),
        ({"requests": ["x"]}, "requests.0: Input should be a valid dictionary"),
        (
            {"requests": [{"custom_id": "a"}]},
            "requests.0.params: Field required",
        ),
        (
            {"requests": [{"custom_id": "a", "params": {}, "x": 1}]},
            "requests.0.x: Extra inputs are not permitted",
        ),
        (
            {"requests": [{"custom_id": 7, "params": {}}]},
            "requests.0.custom_id: Input should be a valid string",
        ),
        (
            {"requests": [{"custom_id": "", "params": {}}]},
            "requests.0.custom_id: String should have at least 1 character",
        ),
        (
            {"requests": [{"custom_id": "a" * 65, "params": {}}]},
            "requests.0.custom_id: String should have at most 64 characters",
        ),
        (
            {"requests": [{"custom_id": "a b", "params": {}}]},
            "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        ),
        (
            {
                "requests": [
                    {"custom_id": "a", "params": {}},
                    {"custom_id": "a", "params": {}},
                ]
            },
            "requests.1.custom_id: custom_id must be unique within a batch; 'a' is used more than once",
        ),
        (
            {"requests": [{"custom_id": "a", "params": []}]},
            "requests.0.params: Input should be a valid dictionary",
        ),
        ("[]", "body: Input should be a valid dictionary"),
    ],
)
def test_envelope_errors_refuse_the_batch(payload: Any, error: str) -> None:
    """The envelope (requests, custom_id, params being an object) is checked at once."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("untouched"))
    content = payload if isinstance(payload, str) else json.dumps(payload)
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        response = http.post(
            BATCHES,
            headers={**HEADERS, "content-type": "application/json"},
            content=content,
        )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": error,
    }
    assert len(fake.pending) == 1


def test_more_than_100000_requests_are_refused() -> None:
    """A batch holds at most 100,000 requests."""
    fake = FakeMessagesAPI()
    payload: dict[str, Any] = {"requests": [{}] * 100_001}
    response = call(fake, "POST", BATCHES, payload)
    assert response.json()["error"]["message"] == (
        "requests: List should have at most 100000 items after validation, not 100001"
    )


def test_batch_body_size_limit() -> None:
    """Batch bodies over max_batch_bytes get 413 request_too_large."""
    fake = FakeMessagesAPI(max_batch_bytes=100)
    response = call(fake, "POST", BATCHES, requests_for("a", "b"))
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_cancel_keeps_what_was_done_and_cancels_the_rest() -> None:
    """A canceled batch ends at its next retrieval; done requests keep their results."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock, batch_polls=1)
    batch_id = create(fake, "a", "b", "c", "d")["id"]
    retrieve(fake, batch_id)
    clock.advance(60)
    canceling = call(fake, "POST", f"{BATCHES}/{batch_id}/cancel").json()
    MessageBatch.model_validate(canceling)
    assert canceling["processing_status"] == "canceling"
    assert canceling["cancel_initiated_at"] == "2026-01-01T00:01:00.000000Z"
    assert canceling["request_counts"] == counts(processing=4)
    again = call(fake, "POST", f"{BATCHES}/{batch_id}/cancel").json()
    assert again["cancel_initiated_at"] == canceling["cancel_initiated_at"]
    ended = retrieve(fake, batch_id)
    assert ended["request_counts"] == counts(succeeded=2, canceled=2)
    found = by_id(results(fake, batch_id))
    assert [found[c]["type"] for c in "abcd"] == [
        "succeeded",
        "succeeded",
        "canceled",
        "canceled",
    ]


def test_cancel_before_any_poll_cancels_everything() -> None:
    """Canceled before any progress, every request is canceled."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a", "b")["id"]
    call(fake, "POST", f"{BATCHES}/{batch_id}/cancel")
    fake.advance_batches()
    assert retrieve(fake, batch_id)["request_counts"] == counts(canceled=2)


def test_an_ended_batch_cannot_be_canceled() -> None:
    """Canceling an ended batch is a 400."""
    fake = FakeMessagesAPI(batch_polls=0)
    batch_id = create(fake, "a")["id"]
    retrieve(fake, batch_id)
    response = call(fake, "POST", f"{BATCHES}/{batch_id}/cancel")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"Message Batch {batch_id} has already ended and cannot be canceled."
    )


def test_batches_expire_after_24_hours() -> None:
    """A batch still running after 24 hours ends; its unfinished requests expire."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock, batch_polls=3)
    batch_id = create(fake, "a", "b", "c", "d")["id"]
    retrieve(fake, batch_id)
    clock.advance(24 * 3600)
    ended = retrieve(fake, batch_id)
    assert ended["processing_status"] == "ended"
    assert ended["ended_at"] == ended["expires_at"]
    assert ended["request_counts"] == counts(succeeded=1, expired=3)


def test_a_canceling_batch_that_expires_is_canceled() -> None:
    """Requests of a batch canceled but not ended by its expiry are canceled."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock)
    batch_id = create(fake, "a")["id"]
    call(fake, "POST", f"{BATCHES}/{batch_id}/cancel")
    clock.advance(25 * 3600)
    fake.advance_batches()
    assert retrieve(fake, batch_id)["request_counts"] == counts(canceled=1)


def test_delete_needs_an_ended_batch() -> None:
    """Deleting works only after processing ended; the batch is then gone."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a")["id"]
    refused = call(fake, "DELETE", f"{BATCHES}/{batch_id}")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        f"Message Batch {batch_id} cannot be deleted while it is in_progress; "
        "cancel it and wait for processing to end first."
    )
    fake.advance_batches()
    deleted = call(fake, "DELETE", f"{BATCHES}/{batch_id}").json()
    assert deleted == {"id": batch_id, "type": "message_batch_deleted"}
    DeletedMessageBatch.model_validate(deleted)
    assert call(fake, "GET", f"{BATCHES}/{batch_id}").status_code == 404


def test_results_need_an_ended_batch() -> None:
    """Results of a batch still processing are a 400."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a")["id"]
    response = call(fake, "GET", f"{BATCHES}/{batch_id}/results")
    assert response.status_code == 400
    assert "has not finished processing" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("POST", "/cancel"), ("DELETE", ""), ("GET", "/results")],
)
def test_unknown_or_foreign_batches_are_404(method: str, suffix: str) -> None:
    """Unknown ids and other API keys' batches are not found."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a")["id"]
    other = {**HEADERS, "x-api-key": "sk-other"}
    for path, headers in (
        (f"{BATCHES}/msgbatch_unknown{suffix}", HEADERS),
        (f"{BATCHES}/{batch_id}{suffix}", other),
    ):
        response = call(fake, method, path, headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"


def test_batch_calls_need_credentials() -> None:
    """Every batch endpoint checks the API key and version headers."""
    fake = FakeMessagesAPI()
    response = call(fake, "GET", BATCHES, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 401


def test_listing_pages_newest_first() -> None:
    """Listing pages newest first: after_id goes older, before_id newer."""
    fake = FakeMessagesAPI()
    ids = [create(fake, f"r{n}")["id"] for n in range(5)]
    create(fake, "elsewhere")  # same key: listed; another key's batch is not
    call(
        fake, "POST", BATCHES, requests_for("x"), headers={**HEADERS, "x-api-key": "k2"}
    )
    newest = [*reversed(ids)]
    newest.insert(0, call(fake, "GET", BATCHES).json()["data"][0]["id"])
    page = call(fake, "GET", BATCHES, params={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == newest[:2]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (
        True,
        newest[0],
        newest[1],
    )
    for item in page["data"]:
        MessageBatch.model_validate(item)
    page = call(fake, "GET", BATCHES, params={"limit": 3, "after_id": newest[1]}).json()
    assert [b["id"] for b in page["data"]] == newest[2:5]
    assert page["has_more"] is True
    page = call(fake, "GET", BATCHES, params={"after_id": newest[4]}).json()
    assert [b["id"] for b in page["data"]] == newest[5:]
    assert page["has_more"] is False
    page = call(
        fake, "GET", BATCHES, params={"limit": 2, "before_id": newest[4]}
    ).json()
    assert [b["id"] for b in page["data"]] == newest[2:4]
    assert page["has_more"] is True
    page = call(fake, "GET", BATCHES, params={"before_id": newest[1]}).json()
    assert [b["id"] for b in page["data"]] == newest[:1]
    assert page["has_more"] is False
    everything = call(fake, "GET", BATCHES).json()
    assert len(everything["data"]) == 6


def test_unknown_cursors_give_an_empty_page() -> None:
    """A cursor naming no batch of yours yields an empty page."""
    fake = FakeMessagesAPI()
    create(fake, "a")
    for params in ({"after_id": "msgbatch_x"}, {"before_id": "msgbatch_x"}):
        page = call(fake, "GET", BATCHES, params=params).json()
        assert page == {
            "data": [],
            "has_more": False,
            "first_id": None,
            "last_id": None,
        }


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"limit": 1001}, "limit: Input should be less than or equal to 1000"),
        (
            {"limit": "many"},
            "limit: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"after_id": "a", "before_id": "b"},
            "before_id and after_id cannot both be set",
        ),
    ],
)
def test_listing_parameters_are_checked(params: dict[str, Any], error: str) -> None:
    """limit must be 1 to 1000, and only one cursor may be given."""
    response = call(FakeMessagesAPI(), "GET", BATCHES, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == error


def test_listing_expires_old_batches() -> None:
    """A listed batch past its 24 hours shows as ended."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock)
    create(fake, "a")
    clock.advance(24 * 3600 + 1)
    listed = call(fake, "GET", BATCHES).json()["data"][0]
    assert listed["processing_status"] == "ended"
    assert listed["request_counts"] == counts(expired=1)


def test_reset_forgets_batches() -> None:
    """reset() forgets every batch and the per-custom-id script."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a")["id"]
    fake.script_batch({"b": fault.expired()})
    fake.reset()
    assert call(fake, "GET", f"{BATCHES}/{batch_id}").status_code == 404
    new_id = create(fake, "b")["id"]
    fake.advance_batches()
    assert by_id(results(fake, new_id))["b"]["type"] == "succeeded"


def test_expired_fault_is_only_for_batches() -> None:
    """fault.expired() reaching a /v1/messages call is a scripting mistake."""
    fake = FakeMessagesAPI()
    fake.script(fault.expired())
    with pytest.raises(ValueError, match="only applies to batch requests"):
        post(fake, body())


def test_batch_calls_are_recorded() -> None:
    """Batch calls appear in fake.requests with what was answered."""
    fake = FakeMessagesAPI()
    batch_id = create(fake, "a")["id"]
    fake.advance_batches()
    results(fake, batch_id)
    created, fetched = fake.requests
    assert created.path == BATCHES
    assert created.response_json["id"] == batch_id
    assert fetched.response_json[0]["custom_id"] == "a"
