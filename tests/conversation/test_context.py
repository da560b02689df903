"""Long conversations: the window, exact counts, summaries and the prompt cache."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest

from conversa import (
    BudgetConfig,
    CacheConfig,
    ContextBudgetError,
    ModelSummarizer,
    Turn,
)
from conversa._core.cache import breakpoint_count
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio

SYSTEM = "You are a meticulous support agent. " * 150  # past the 1,024-token minimum
CACHED = CacheConfig(enabled=True)


def words(n: int, tag: str) -> str:
    """Some text of about *n* words, distinct per *tag*."""
    return " ".join(f"{tag}{i}" for i in range(n))


async def chat(conv: Any, n: int, size: int = 60) -> list[Turn]:
    """Send *n* user turns of about *size* words each; return the replies."""
    return [await conv.send(words(size, f"m{i}-")) for i in range(n)]


def text_of(body: dict[str, Any]) -> str:
    """All the text a body replays."""
    return json.dumps(body["messages"])


async def test_breakpoints_are_placed_by_default(harness: Harness) -> None:
    """A new conversation caches: system and the moving end carry cache_control."""
    conv = await harness.create(system=SYSTEM, cache=CACHED)
    await chat(conv, 2)
    body = harness.bodies()[-1]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert 2 <= breakpoint_count(body) <= 4


async def test_the_prompt_cache_hits_call_after_call(harness: Harness) -> None:
    """From the second call on, the replayed prefix is read from the cache."""
    conv = await harness.create(system=SYSTEM, cache=CACHED)
    replies = await chat(conv, 4)
    assert replies[0].usage is not None
    assert replies[0].usage.cache_creation_input_tokens > 0
    for reply in replies[1:]:
        assert reply.usage is not None
        assert reply.usage.cache_read_input_tokens > 0
    ledger = await conv.ledger()
    assert ledger.cache_read_share > 0.5


async def test_a_one_hour_ttl_is_sent_when_configured(harness: Harness) -> None:
    """CacheConfig(ttl="1h") marks every breakpoint with the one-hour TTL."""
    conv = await harness.create(system=SYSTEM, cache=CacheConfig(ttl="1h"))
    reply = (await chat(conv, 1))[0]
    body = harness.bodies()[-1]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert reply.usage is not None
    assert reply.usage.raw["cache_creation"]["ephemeral_1h_input_tokens"] > 0


async def test_caching_can_be_switched_off(harness: Harness) -> None:
    """set_cache(enabled=False) sends no breakpoint at all."""
    conv = await harness.create(system=SYSTEM, cache=CACHED)
    await conv.set_cache(CacheConfig(enabled=False))
    await chat(conv, 1)
    assert breakpoint_count(harness.bodies()[-1]) == 0


async def test_counts_become_exact_from_usage(harness: Harness) -> None:
    """After a call, the turns it sent carry exact counts for the model's tokenizer."""
    conv = await harness.create()
    await chat(conv, 2)
    turns = await conv.turns()
    assert [t.tokens_exact for t in turns[:3]] == [True, True, True]
    first_call = harness.fake.requests[0].response_json["usage"]
    assert turns[0].tokens is not None
    assert turns[0].tokens < first_call["input_tokens"]  # the rest was system framing


async def test_the_window_start_moves_only_on_overflow(harness: Harness) -> None:
    """Hysteresis: the start stays until the window overflows, then jumps once."""
    conv = await harness.create(budget=BudgetConfig(fixed=3000))
    starts = []
    for i in range(14):
        await conv.send(words(80, f"m{i}-"))
        starts.append((await conv.record()).window_start)
    moves = [b for a, b in itertools.pairwise(starts) if a != b]
    assert moves, "the window should have moved"
    assert len(moves) < len(starts) // 2, "the start should move rarely, in steps"
    assert len(await conv.turns()) == 28, "trimming never changes the stored history"


async def test_the_first_exchange_stays_pinned(harness: Harness) -> None:
    """The first exchange is replayed after the window has moved past it."""
    conv = await harness.create(budget=BudgetConfig(fixed=3000))
    await chat(conv, 14, size=80)
    assert (await conv.record()).window_start > 3
    body = await conv.request("and now?")
    assert body["messages"][0]["content"][0]["text"] == words(80, "m0-")
    assert "m1-0 " not in text_of(body)
    assert harness.bodies()[-1]["messages"][:2] == body["messages"][:2]


async def test_request_replays_the_same_prefix_as_send(harness: Harness) -> None:
    """Every worker, and request(), replays from the stored window start."""
    conv = await harness.create(budget=BudgetConfig(fixed=3000))
    await chat(conv, 12, size=80)
    planned = await conv.request("next")
    await conv.send("next")
    assert json.dumps(harness.bodies()[-1]) == json.dumps(planned)


async def test_a_message_too_big_for_the_budget_is_refused_before_writing(
    harness: Harness,
) -> None:
    """Even the newest exchange must fit: a clear error naming the sizes, nothing stored."""
    conv = await harness.create(budget=BudgetConfig(fixed=1500))
    with pytest.raises(ContextBudgetError) as info:
        await conv.send(words(3000, "x"))
    assert info.value.budget == 1500
    assert info.value.needed > 1500
    assert await conv.turns() == ()
    assert harness.bodies() == []


async def test_a_summarizer_replaces_the_dropped_span(make_harness, twin: str) -> None:
    """When the window drops turns, the summarizer's text is stored and replayed."""
    seen: list[Sequence[Turn]] = []

    def summarize(turns: Sequence[Turn]) -> str:
        seen.append(turns)
        return f"SUMMARY of {len(turns)} turns"

    async def asummarize(turns: Sequence[Turn]) -> str:
        return summarize(turns)

    harness = make_harness()
    conv = await harness.create(
        budget=BudgetConfig(fixed=3000),
        summarizer=summarize if twin == "sync" else asummarize,
    )
    await chat(conv, 14, size=80)
    assert seen
    summaries = [t for t in await conv.turns() if t.kind == "summary"]
    assert summaries
    assert "covers" in summaries[-1].flags
    assert "SUMMARY of" in text_of(await conv.request("and?"))


async def test_a_model_summarizer_summarizes_through_the_api(harness: Harness) -> None:
    """ModelSummarizer asks the API for the summary, with the dropped transcript."""
    conv = await harness.create(
        budget=BudgetConfig(fixed=3000), summarizer=ModelSummarizer(max_tokens=200)
    )
    await chat(conv, 14, size=80)
    summary_calls = [b for b in harness.bodies() if b["max_tokens"] == 200]
    assert summary_calls
    assert "m1-" in text_of(summary_calls[0])
    assert any(t.kind == "summary" for t in await conv.turns())


async def test_cache_diagnostics_send_the_previous_message_id(harness: Harness) -> None:
    """With diagnostics on, each call names the previous reply and stores the verdict."""
    conv = await harness.create(system=SYSTEM, cache=CacheConfig(diagnostics=True))
    first, second = await chat(conv, 2)
    bodies = harness.bodies()
    assert bodies[0]["diagnostics"] == {"previous_message_id": None}
    assert bodies[1]["diagnostics"] == {"previous_message_id": first.message_id}
    assert "diagnostics" in second.response_extra
    await conv.set_system("A different system prompt. " * 100)
    third = (await chat(conv, 1))[0]
    reason = third.response_extra["diagnostics"]["cache_miss_reason"]
    assert reason["type"] == "system_changed"


async def test_pinned_exchanges_survive_window_moves(harness: Harness) -> None:
    """pin(seq) keeps that exchange in every replay."""
    conv = await harness.create(budget=BudgetConfig(fixed=3500))
    await chat(conv, 3, size=80)
    assert await conv.pin(3) == (3, 4)
    await chat(conv, 12, size=80)
    assert (await conv.record()).window_start > 5
    assert words(80, "m1-") in text_of(await conv.request("and?"))


async def test_the_ledger_prices_every_call(harness: Harness) -> None:
    """ledger() sums tokens and cost over the conversation's calls."""
    conv = await harness.create(system=SYSTEM, cache=CACHED)
    await chat(conv, 3)
    ledger = await conv.ledger()
    assert ledger.calls == 3
    assert ledger.cost.total > 0


async def test_count_tokens_is_exact_and_makes_the_window_exact(
    harness: Harness,
) -> None:
    """count_tokens returns the fake's own count of the next request and learns from it."""
    conv = await harness.create(system=SYSTEM)
    await conv.add("user", words(50, "a"))
    await conv.add("assistant", words(40, "b"))
    assert not any(t.tokens_exact for t in await conv.turns())
    counted = await conv.count_tokens("how long is this?")
    body = await conv.request("how long is this?")
    assert counted == harness.fake.count_tokens(body)
    assert all(t.tokens_exact for t in await conv.turns())
    assert len(await conv.turns()) == 2
