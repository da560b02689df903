"""Cache diagnostics (MESSAGES_API.md §11): why a request diverged from the previous one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from anthropic.types import Message

from conversa.testing import FakeMessagesAPI
from tests.testing.cases import CACHE, TOOL, text
from tests.testing.support import (
    HEADERS,
    assistant,
    body,
    message,
    parse_sse,
    post,
    user,
    words,
)

OTHER_TOOL = {"name": "get_time", "input_schema": {"type": "object"}}
Change = Callable[[dict[str, Any]], None]


def first_turn() -> dict[str, Any]:
    """Return a request with tools, a system prompt and one exchange, opted in."""
    return body(
        user(f"Tell me about Paris. {words(50)}"),
        assistant("Paris is the capital of France."),
        user("And its weather?"),
        tools=[TOOL],
        system=[text(words(200), cache_control=CACHE)],
        cache_control=CACHE,
        diagnostics={"previous_message_id": None},
    )


def follow_up(previous: dict[str, Any], reply_id: str) -> dict[str, Any]:
    """Return *previous* grown by one exchange, naming *reply_id*."""
    payload = copy.deepcopy(previous)
    payload["messages"] += [assistant("It is mild."), user("Thanks!")]
    payload["diagnostics"] = {"previous_message_id": reply_id}
    return payload


def tokens(payload: dict[str, Any], *sections: str) -> int:
    """Count the tokens of some sections of *payload* with the fake's tokenizer."""
    kept = {key: payload[key] for key in sections}
    return FakeMessagesAPI.count_tokens({"messages": [], **kept})


def _set(key: str, value: Any) -> Change:
    def change(payload: dict[str, Any]) -> None:
        payload[key] = value

    return change


def _edit_first_message(payload: dict[str, Any]) -> None:
    payload["messages"][0] = user("Tell me about Lyon.")


def _edit_system(payload: dict[str, Any]) -> None:
    payload["system"] = [text(words(201), cache_control=CACHE)]


def _drop_last_exchange(payload: dict[str, Any]) -> None:
    payload["messages"] = payload["messages"][:3]


def _tools_and_choice(payload: dict[str, Any]) -> None:
    payload["tools"] = [{**TOOL, "description": "changed"}]
    payload["tool_choice"] = {"type": "any"}


def _total(first: dict[str, Any]) -> int:
    return FakeMessagesAPI.count_tokens(first)


@pytest.mark.parametrize(
    ("change", "reason", "missed"),
    [
        pytest.param(lambda p: None, None, None, id="appended"),
        pytest.param(_drop_last_exchange, None, None, id="shortened-at-the-end"),
        pytest.param(
            _set("model", "claude-sonnet-4-6"),
            "model_changed",
            _total,
            id="model",
        ),
        pytest.param(_set("speed", "fast"), "model_changed", _total, id="speed"),
        pytest.param(
            _set("tools", [{**TOOL, "description": "changed"}]),
            "tools_changed",
            _total,
            id="tool-edited",
        ),
        pytest.param(
            _set("tools", [TOOL, OTHER_TOOL]),
            "tools_changed",
            lambda f: _total(f) - tokens(f, "tools"),
            id="tool-added",
        ),
        pytest.param(
            _edit_system,
            "system_changed",
            lambda f: _total(f) - tokens(f, "tools"),
            id="system",
        ),
        pytest.param(
            _edit_first_message,
            "messages_changed",
            lambda f: _total(f) - tokens(f, "tools", "system"),
            id="messages",
        ),
        pytest.param(_tools_and_choice, "tools_changed", _total, id="earliest-wins"),
        pytest.param(
            _set("tool_choice", {"type": "any"}), "unavailable", None, id="tool-choice"
        ),
        pytest.param(
            _set("thinking", {"type": "enabled", "budget_tokens": 1024}),
            "unavailable",
            None,
            id="thinking",
        ),
        pytest.param(
            _set(
                "output_config",
                {"format": {"type": "json_schema", "schema": {"type": "object"}}},
            ),
            "unavailable",
            None,
            id="output-config",
        ),
    ],
)
def test_cache_miss_reasons(
    change: Change, reason: str | None, missed: Callable[[dict[str, Any]], int] | None
) -> None:
    """Each divergence from the previous request is named, earliest first."""
    fake = FakeMessagesAPI()
    first = first_turn()
    first_reply = message(fake, first)
    assert first_reply["diagnostics"] is None
    payload = follow_up(first, first_reply["id"])
    change(payload)
    if "thinking" in payload:
        payload["max_tokens"] = 2048
    diagnostics = message(fake, payload)["diagnostics"]
    if reason is None:
        assert diagnostics is None
        return
    expected: dict[str, Any] = {"type": reason}
    if missed is not None:
        expected["cache_missed_input_tokens"] = missed(first)
    assert diagnostics == {"cache_miss_reason": expected}


def test_changed_betas_make_the_diagnosis_unavailable() -> None:
    """A different ``anthropic-beta`` set makes the comparison unavailable."""
    fake = FakeMessagesAPI()
    first = first_turn()
    first_reply = message(fake, first)
    headers = {**HEADERS, "anthropic-beta": "cache-diagnosis-2026-04-07"}
    response = post(fake, follow_up(first, first_reply["id"]), headers=headers)
    assert response.json()["diagnostics"] == {
        "cache_miss_reason": {"type": "unavailable"}
    }


@pytest.mark.parametrize(
    ("opt_in_first", "headers", "known_id"),
    [
        pytest.param(True, HEADERS, False, id="unknown-id"),
        pytest.param(False, HEADERS, True, id="previous-not-opted-in"),
        pytest.param(True, {**HEADERS, "x-api-key": "sk-other"}, True, id="other-key"),
        pytest.param(
            True,
            {**HEADERS, "anthropic-workspace-id": "wrkspc_2"},
            True,
            id="other-workspace",
        ),
    ],
)
def test_previous_message_not_found(
    opt_in_first: bool, headers: dict[str, str], known_id: bool
) -> None:
    """Ids the fake keeps no fingerprint for, here, are reported as not found."""
    fake = FakeMessagesAPI()
    first = first_turn()
    if not opt_in_first:
        del first["diagnostics"]
    first_reply = message(fake, first)
    reply_id = first_reply["id"] if known_id else "msg_unknown"
    response = post(fake, follow_up(first, reply_id), headers=headers)
    assert response.json()["diagnostics"] == {
        "cache_miss_reason": {"type": "previous_message_not_found"}
    }


def test_an_empty_diagnostics_object_is_a_first_turn() -> None:
    """``diagnostics: {}`` opts in like a null previous_message_id."""
    fake = FakeMessagesAPI()
    payload = first_turn()
    payload["diagnostics"] = {}
    first_reply = message(fake, payload)
    assert first_reply["diagnostics"] is None
    later = message(fake, follow_up(payload, first_reply["id"]))
    assert later["diagnostics"] is None


def test_diagnostics_parse_with_the_sdk() -> None:
    """The SDK reads the cache_miss_reason the fake sends."""
    fake = FakeMessagesAPI()
    first = first_turn()
    first_reply = message(fake, first)
    payload = follow_up(first, first_reply["id"])
    _edit_system(payload)
    parsed = Message.model_validate(message(fake, payload))
    assert parsed.diagnostics is not None
    reason = parsed.diagnostics.cache_miss_reason
    assert reason is not None
    assert reason.type == "system_changed"


def test_streams_carry_diagnostics_on_message_start() -> None:
    """A streamed reply has its diagnostics in the message_start event."""
    fake = FakeMessagesAPI()
    first = first_turn()
    first_reply = message(fake, first)
    payload = follow_up(first, first_reply["id"])
    _edit_first_message(payload)
    payload["stream"] = True
    events = parse_sse(post(fake, payload).text)
    start = events[0][1]["message"]
    assert start["diagnostics"]["cache_miss_reason"]["type"] == "messages_changed"


def test_diagnostics_do_not_need_the_cache() -> None:
    """Diagnostics compare fingerprints even when the cache simulation is off."""
    fake = FakeMessagesAPI(cache=False)
    first = first_turn()
    first_reply = message(fake, first)
    payload = follow_up(first, first_reply["id"])
    _edit_system(payload)
    reason = message(fake, payload)["diagnostics"]["cache_miss_reason"]
    assert reason["type"] == "system_changed"


def test_reset_forgets_fingerprints() -> None:
    """After reset() an earlier reply id is not found."""
    fake = FakeMessagesAPI()
    first = first_turn()
    first_reply = message(fake, first)
    fake.reset()
    reason = message(fake, follow_up(first, first_reply["id"]))["diagnostics"]
    assert reason == {"cache_miss_reason": {"type": "previous_message_not_found"}}
