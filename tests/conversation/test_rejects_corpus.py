"""The regression corpus through conversa: what the API rejects, conversa refuses first.

`tests/rejects_corpus.py` holds request bodies the API rejects (issue 8's list and
one case per rule) and their valid twins; the fake refuses every one
(tests/testing/test_fake_rejects_corpus.py). Here each body goes through
conversa's public API, as a caller would build it: `Conversation.create` with its
system prompt, tools and parameters, `add_turns` with its messages, then `retry()`
to send the pending turn. A rejected body must be refused with a `ConversaError`
before anything reaches the API; a valid twin must be sent and accepted.
"""

from __future__ import annotations

from typing import Any

import pytest

from conversa import (
    CacheConfig,
    Client,
    ConversaError,
    Conversation,
    MemoryStore,
    RetryPolicy,
)
from conversa.testing import FakeMessagesAPI
from tests.rejects_corpus import (
    ACCEPTS,
    ACCEPTS_2026,
    REJECTS,
    REJECTS_2026,
    VERSION_2026,
)

_NAMED = {"metadata": "api_metadata"}


def _drive(body: dict[str, Any], api_version: str, fake: FakeMessagesAPI) -> None:
    """Build and send *body* through conversa's public API."""
    params: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("model", "messages", "system", "stream"):
            continue
        params[_NAMED.get(key, key)] = value
    client = Client(
        api_key="k",
        transport=fake,
        retry=RetryPolicy.no_wait(),
        api_version=api_version,
    )
    with client:
        conv = Conversation.create(
            MemoryStore(),
            client=client,
            model=body["model"],
            system=body.get("system"),
            cache=CacheConfig(enabled=False),
            **params,
        )
        conv.add_turns(body["messages"])
        conv.retry()


def _reject_params() -> list[Any]:
    return [
        *(pytest.param(body, "2023-06-01", id=name) for name, body, _ in REJECTS),
        *(pytest.param(body, VERSION_2026, id=name) for name, body, _ in REJECTS_2026),
    ]


def _accept_params() -> list[Any]:
    return [
        *(pytest.param(body, "2023-06-01", id=name) for name, body in ACCEPTS),
        *(pytest.param(body, VERSION_2026, id=name) for name, body in ACCEPTS_2026),
    ]


#: Rejected bodies that normalization repairs instead of refusing (README: "What
#: normalization repairs, and what it refuses"): conversa sends the repaired request.
REPAIRED = {
    # Empty text blocks are dropped, and the breakpoint on one with them.
    "cache-control-on-empty-text",
    # Under 2026-10-21 citations on user text are stripped; the text stays.
    "citations-on-user-text",
    "citations-in-user-search-result",
}


@pytest.mark.parametrize(("body", "api_version"), _reject_params())
def test_conversa_refuses_what_the_api_rejects(
    request: pytest.FixtureRequest, body: dict[str, Any], api_version: str
) -> None:
    """Every rejected body is refused before any request, or repaired and accepted."""
    name = request.node.callspec.id
    fake = FakeMessagesAPI()
    if name in REPAIRED:
        _drive(body, api_version, fake)
        sent = [r for r in fake.requests if r.path == "/v1/messages"]
        assert [r.status_code for r in sent] == [200]
        return
    with pytest.raises(ConversaError):
        _drive(body, api_version, fake)
    assert [r for r in fake.requests if r.path == "/v1/messages"] == []


@pytest.mark.parametrize(("body", "api_version"), _accept_params())
def test_conversa_sends_the_valid_twins(body: dict[str, Any], api_version: str) -> None:
    """Every valid twin goes through conversa and the fake accepts it."""
    fake = FakeMessagesAPI()
    _drive(body, api_version, fake)
    sent = [r for r in fake.requests if r.path == "/v1/messages"]
    assert [r.status_code for r in sent] == [200]
