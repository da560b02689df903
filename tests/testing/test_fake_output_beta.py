"""The 300k output beta in the fake: batch items only, the models it serves, its doors.

With ``anthropic-beta: output-300k-2026-03-24`` on a batch create, an item for Opus
or Sonnet 4.6 and later may ask for up to 300,000 tokens; without the beta, for
another model, above 300,000 or on ``POST /v1/messages`` the model's own maximum
holds. Claude on Google Cloud does not serve the beta; Claude Platform on AWS does.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from conversa import Batches, Client, Conversation, MemoryStore
from conversa.testing import FakeDoor, FakeMessagesAPI
from tests.testing.support import HEADERS, user

BETA = "output-300k-2026-03-24"
BATCHES = "/v1/messages/batches"


def _item(model: str, max_tokens: int) -> dict[str, Any]:
    params = {"model": model, "max_tokens": max_tokens, "messages": [user("Go on.")]}
    return {"custom_id": "long", "params": params}


def _result(
    http: httpx.Client, fake: FakeMessagesAPI, item: dict[str, Any], betas: str
) -> Any:
    headers = {**HEADERS, "anthropic-beta": betas} if betas else HEADERS
    created = http.post(BATCHES, json={"requests": [item]}, headers=headers)
    assert created.status_code == 200, created.text
    fake.advance_batches()
    results = http.get(f"{BATCHES}/{created.json()['id']}/results", headers=headers)
    (line,) = [r for r in results.text.splitlines() if r.strip()]
    return json.loads(line)["result"]


@pytest.mark.parametrize(
    ("model", "max_tokens", "betas", "outcome"),
    [
        ("claude-opus-4-8", 300_000, BETA, "succeeded"),
        ("claude-sonnet-4-6", 300_000, f"other-beta,{BETA}", "succeeded"),
        ("claude-opus-5", 300_000, BETA, "succeeded"),
        ("claude-opus-4-8", 300_001, BETA, "> 300000"),
        ("claude-opus-4-8", 300_000, "", "> 128000"),
        ("claude-haiku-4-5", 300_000, BETA, "> 64000"),
        ("claude-fable-5", 300_000, BETA, "> 128000"),
        ("claude-sonnet-4-5", 100_000, BETA, "> 64000"),
    ],
)
def test_batch_items_may_ask_300k_with_the_beta(
    model: str, max_tokens: int, betas: str, outcome: str
) -> None:
    """The beta raises a batch item's ceiling to 300,000 for the models it serves."""
    fake = FakeMessagesAPI()
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        result = _result(http, fake, _item(model, max_tokens), betas)
    if outcome == "succeeded":
        assert result["type"] == "succeeded"
    else:
        assert result["type"] == "errored"
        assert outcome in result["error"]["error"]["message"]


def test_a_synchronous_call_keeps_the_models_maximum() -> None:
    """POST /v1/messages with the beta still refuses over 128,000."""
    fake = FakeMessagesAPI()
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        response = http.post(
            "/v1/messages",
            json=_item("claude-opus-4-8", 300_000)["params"],
            headers={**HEADERS, "anthropic-beta": BETA},
        )
    assert response.status_code == 400
    assert "300000 > 128000" in response.json()["error"]["message"]


def _submit(door: FakeDoor | None, fake: FakeMessagesAPI) -> str:
    """Submit a 300k batch through conversa and return the item's result."""
    client = door.client() if door is not None else Client(api_key="k", transport=fake)
    store = MemoryStore()
    with client:
        conv = Conversation.create(
            store,
            client=client,
            model="claude-opus-4-8",
            max_tokens=300_000,
            betas=[BETA],
        )
        conv.add("user", "Write the long one.")
        batches = Batches(client, store)
        job = batches.submit([conv.id])
        fake.advance_batches()
        report = batches.collect(job)
    (outcome,) = report.outcomes
    return outcome.result


@pytest.mark.parametrize("door", ["anthropic", "aws"])
def test_a_300k_batch_through_conversa_is_served(door: str) -> None:
    """conversa's 300k batch on the first-party and AWS doors comes back succeeded."""
    fake = FakeMessagesAPI()
    opened = fake.aws() if door == "aws" else None
    assert _submit(opened, fake) == "succeeded"
    create = next(r for r in fake.requests if r.path.endswith(BATCHES))
    assert create.headers["anthropic-beta"] == BETA
    assert create.body["requests"][0]["params"]["max_tokens"] == 300_000


def test_google_cloud_does_not_serve_the_beta() -> None:
    """Behind Claude on Google Cloud a 300k item is over the model's maximum."""
    fake = FakeMessagesAPI()
    door = fake.google_cloud()
    with httpx.Client(
        transport=door,
        base_url=door.base_url,
        headers={"authorization": f"Bearer {door.access_token}"},
    ) as http:
        result = _result(http, fake, _item("claude-opus-4-8", 300_000), BETA)
    assert result["type"] == "errored"
    assert "300000 > 128000" in result["error"]["error"]["message"]
