"""Helpers shared by the fake's tests: request bodies, SSE parsing, a §5 fold, a clock."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import httpx
import jiter

from conversa.testing import FakeMessagesAPI
from tests.sdk_check import check_message

MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
NEW_HEADERS = {"authorization": "Bearer sk-test", "anthropic-version": "2026-10-21"}


def user(content: Any) -> dict[str, Any]:
    """Return a user message."""
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    """Return an assistant message."""
    return {"role": "assistant", "content": content}


def body(*messages: Any, **extra: Any) -> dict[str, Any]:
    """Return a request body with *messages* (one user message by default)."""
    return {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": list(messages) or [user("Hello there")],
        **extra,
    }


def post(
    fake: FakeMessagesAPI,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str] = HEADERS,
    path: str = "/v1/messages",
) -> httpx.Response:
    """POST *payload* to the fake through a plain httpx client."""
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        return http.post(path, headers=dict(headers), json=payload)


def message(fake: FakeMessagesAPI, payload: Mapping[str, Any]) -> dict[str, Any]:
    """POST *payload*, expect 200, check the reply with the SDK and return it."""
    response = post(fake, payload)
    assert response.status_code == 200, response.text
    reply = response.json()
    check_message(reply)
    return dict(reply)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Split an SSE body into ``(event, data)`` pairs."""
    events = []
    for frame in text.split("\n\n"):
        if not frame:
            continue
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def fold(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Fold SSE events into a Message exactly as MESSAGES_API.md §5 describes."""
    snapshot: dict[str, Any] = {}
    buffers: dict[int, bytes] = {}
    for name, data in events:
        assert name == data["type"]
        if name == "message_start":
            snapshot = copy.deepcopy(data["message"])
        elif name == "content_block_start":
            snapshot["content"].append(copy.deepcopy(data["content_block"]))
        elif name == "content_block_delta":
            _apply(snapshot["content"][data["index"]], data, buffers)
        elif name == "message_delta":
            delta, usage = data["delta"], data["usage"]
            for key in ("stop_reason", "stop_sequence", "stop_details"):
                snapshot[key] = delta.get(key)
            if delta.get("container") is not None:
                snapshot["container"] = delta["container"]
            snapshot["usage"]["output_tokens"] = usage["output_tokens"]
            for key in (
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "server_tool_use",
                "output_tokens_details",
            ):
                if usage.get(key) is not None:
                    snapshot["usage"][key] = usage[key]
        elif name == "error":
            raise AssertionError(data)
    return snapshot


def _apply(
    block: dict[str, Any], data: dict[str, Any], buffers: dict[int, bytes]
) -> None:
    delta = data["delta"]
    kind = delta["type"]
    if kind == "text_delta":
        block["text"] += delta["text"]
    elif kind == "citations_delta":
        block["citations"].append(delta["citation"])
    elif kind == "thinking_delta":
        block["thinking"] += delta["thinking"]
    elif kind == "signature_delta":
        block["signature"] = delta["signature"]
    elif kind == "input_json_delta":
        buffer = buffers.get(data["index"], b"") + delta["partial_json"].encode()
        buffers[data["index"]] = buffer
        if buffer:
            block["input"] = jiter.from_json(buffer, partial_mode=True)


class Clock:
    """A clock for `FakeMessagesAPI(clock=...)` that moves only when told to."""

    def __init__(self) -> None:
        """Start at 1000 seconds, so no reading is ever zero."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the current reading."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock *seconds* forward."""
        self.now += seconds


def words(count: int, word: str = "word") -> str:
    """Return a text of *count* short words: exactly *count* fake tokens."""
    return " ".join([word] * count)
