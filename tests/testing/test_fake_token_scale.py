"""`FakeMessagesAPI(token_scale=...)`: another tokenizer, reported consistently everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from conversa.testing import FakeMessagesAPI, ModelRules, reply
from conversa.testing._tokens import count_request, output_tokens, scaled
from tests.testing.cases import CACHE
from tests.testing.support import (
    assistant,
    body,
    message,
    post,
    user,
    words,
)

LONG = words(1500)


def cached_body(*tail: dict[str, Any]) -> dict[str, Any]:
    """A body whose long system prompt carries a breakpoint, then *tail*."""
    messages = list(tail) or [user("Hello there")]
    return body(
        *messages, system=[{"type": "text", "text": LONG, "cache_control": CACHE}]
    )


def test_scaled_rounds_half_up_and_keeps_one_token() -> None:
    """0 stays 0, 1 stays at least 1, the rest is n times the scale, rounded half up."""
    assert scaled(0, 1.7) == 0
    assert scaled(1, 0.2) == 1
    assert scaled(10, 1.25) == 13  # 12.5 rounds up
    assert scaled(10, 1.0) == 10
    assert scaled(100, 0.8) == 80


@pytest.mark.parametrize("scale", [0.8, 1.17, 1.5])
def test_every_reported_input_count_agrees(scale: float) -> None:
    """usage, count_tokens and fake.count_tokens report the same scaled count."""
    fake = FakeMessagesAPI(token_scale=scale)
    payload = cached_body(user(words(40)), assistant("Fine."), user(words(300)))
    expected = count_request(payload, scale=scale)
    assert expected != count_request(payload)
    assert fake.count_tokens(payload) == expected
    countable = {k: v for k, v in payload.items() if k != "max_tokens"}
    counted = post(fake, countable, path="/v1/messages/count_tokens").json()
    assert counted["input_tokens"] == expected
    used = message(fake, payload)["usage"]
    total = (
        used["input_tokens"]
        + used["cache_read_input_tokens"]
        + used["cache_creation_input_tokens"]
    )
    assert total == expected
    # The class-level call is the plain tokenizer, as before.
    assert FakeMessagesAPI.count_tokens(payload) == count_request(payload)


def test_the_scale_is_per_block_so_cache_splits_add_up() -> None:
    """A cache hit reads the scaled prefix; reads plus the rest still make the total."""
    fake = FakeMessagesAPI(token_scale=1.3)
    first = cached_body(user(words(50)))
    message(fake, first)
    second = cached_body(user(words(50)), assistant("Sure."), user(words(70)))
    used = message(fake, second)["usage"]
    system_only = count_request(
        {"system": [{"type": "text", "text": LONG}], "messages": []}, scale=1.3
    )
    assert used["cache_read_input_tokens"] == system_only
    total = (
        used["input_tokens"]
        + used["cache_read_input_tokens"]
        + used["cache_creation_input_tokens"]
    )
    assert total == fake.count_tokens(second)


def test_output_tokens_are_scaled_too() -> None:
    """A reply's output_tokens is its blocks' count times the scale."""
    text = words(200)
    plain, big = FakeMessagesAPI(), FakeMessagesAPI(token_scale=1.4)
    for fake in (plain, big):
        fake.script(reply.text(text))
    base = message(plain, body())["usage"]["output_tokens"]
    scaled_out = message(big, body())["usage"]["output_tokens"]
    block = {"type": "text", "text": text}
    assert base == output_tokens([block])
    assert scaled_out == output_tokens([block], scale=1.4) == scaled(base, 1.4)


def test_max_tokens_cuts_by_the_scaled_count() -> None:
    """A reply cut at max_tokens never reports more output than max_tokens."""
    fake = FakeMessagesAPI(token_scale=1.5)
    fake.script(reply.text(words(400)))
    answer = message(fake, body(max_tokens=100))
    assert answer["stop_reason"] == "max_tokens"
    assert answer["usage"]["output_tokens"] <= 100


def test_the_context_window_is_checked_by_the_scaled_count() -> None:
    """A prompt that fits unscaled can be too long for a larger tokenizer."""
    payload = body(user(words(3000)))
    size = count_request(payload)
    rules = {"claude-sonnet-4-5": ModelRules(context_window=size + 10)}
    assert post(FakeMessagesAPI(models=rules), payload).status_code == 200
    rejected = post(FakeMessagesAPI(models=rules, token_scale=1.2), payload)
    assert rejected.status_code == 400
    assert "prompt is too long" in rejected.text


def test_a_scale_must_be_positive() -> None:
    """token_scale=0 is refused at construction."""
    with pytest.raises(ValueError, match="token_scale"):
        FakeMessagesAPI(token_scale=0)
