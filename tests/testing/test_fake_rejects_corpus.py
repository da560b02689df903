"""The fake refuses every request of the regression corpus, and accepts the twins.

tests/rejects_corpus.py holds issue 8's list of requests the API rejected, and one
case for each per-block and per-request rule behind them; each is POSTed to the fake
as a full body and must get a 400 ``invalid_request_error`` carrying the API's text.
The valid twins must get a 200 and pass the official SDK's types too, so the fake is
shown not to over-reject.
"""

from __future__ import annotations

from typing import Any

import pytest

from conversa.testing import FakeMessagesAPI
from tests.rejects_corpus import (
    ACCEPTS,
    ACCEPTS_2026,
    REJECTS,
    REJECTS_2026,
    VERSION_2026,
    rule_text,
)
from tests.sdk_check import check_message, check_request_body
from tests.testing.support import HEADERS, NEW_HEADERS, post

_REJECTED = [
    pytest.param(body, expected, HEADERS, id=name) for name, body, expected in REJECTS
] + [
    pytest.param(body, expected, NEW_HEADERS, id=name)
    for name, body, expected in REJECTS_2026
]
_ACCEPTED = [pytest.param(body, HEADERS, id=name) for name, body in ACCEPTS] + [
    pytest.param(body, NEW_HEADERS, id=name) for name, body in ACCEPTS_2026
]


@pytest.mark.parametrize(("payload", "expected", "headers"), _REJECTED)
def test_corpus_request_is_rejected_with_the_api_text(
    payload: dict[str, Any], expected: str, headers: dict[str, str]
) -> None:
    """Each corpus case gets a 400 invalid_request_error naming the API's rule."""
    response = post(FakeMessagesAPI(), payload, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert expected in error["message"]


@pytest.mark.parametrize(("payload", "headers"), _ACCEPTED)
def test_corpus_twin_is_accepted(
    payload: dict[str, Any], headers: dict[str, str]
) -> None:
    """Each valid twin gets a 200 Message from the fake."""
    response = post(FakeMessagesAPI(), payload, headers=headers)
    assert response.status_code == 200, response.text
    check_message(response.json())


@pytest.mark.parametrize(("payload", "headers"), _ACCEPTED)
def test_corpus_twin_passes_the_sdk_types(
    payload: dict[str, Any], headers: dict[str, str]
) -> None:
    """Each valid twin is a well-formed body for the official SDK's types too."""
    check_request_body(payload)


def test_corpus_rejected_under_2026_only_is_accepted_under_2023() -> None:
    """The 2026-10-21 rules are version rules: the same bodies pass under 2023-06-01,
    except the removed sampling parameter, which is then a valid one."""
    for name, payload, _ in REJECTS_2026:
        response = post(FakeMessagesAPI(), payload, headers=HEADERS)
        assert response.status_code == 200, (name, response.text)
    assert NEW_HEADERS["anthropic-version"] == VERSION_2026


def test_corpus_names_are_unique_and_cover_issue_8() -> None:
    """One case per rejection listed at the top of issue 8, and no name twice."""
    names = [case[0] for case in [*REJECTS, *REJECTS_2026, *ACCEPTS, *ACCEPTS_2026]]
    assert len(names) == len(set(names))
    issue = [name for name, _, _ in REJECTS if name.startswith("issue8-")]
    assert len(issue) == 11


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        (
            "messages.0.content.0.image.source.base64: invalid base64 data",
            "invalid base64 data",
        ),
        (
            "temperature: Extra inputs are not permitted",
            "Extra inputs are not permitted",
        ),
        ("Could not process image", "Could not process image"),
        (
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            "Top-level cache_control has ttl='5m' but the target block already has "
            "cache_control with ttl='1h'",
            "Top-level cache_control has ttl='5m' but the target block already has "
            "cache_control with ttl='1h'",
        ),
    ],
)
def test_rule_text_strips_only_the_location(message: str, rule: str) -> None:
    """`rule_text` leaves the API's words and drops the location before them."""
    assert rule_text(message) == rule
