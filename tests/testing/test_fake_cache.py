"""The fake's prompt cache (MESSAGES_API.md §2.3, §4, §9): what is read, written and billed."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversa.testing import CacheStats, FakeMessagesAPI, reply
from conversa.testing._models import rules_for
from tests.testing.cases import CACHE, HOUR, TOOL, text
from tests.testing.support import (
    HEADERS,
    Clock,
    assistant,
    body,
    fold,
    message,
    parse_sse,
    post,
    user,
    words,
)

LONG = words(1100)
# The system prompt: 3 tokens of framing, 2 of block framing, 1,100 words.
SYSTEM_TOKENS = 1105
TOOL_CACHED = {**TOOL, "description": LONG, "cache_control": CACHE}


def usage(fake: FakeMessagesAPI, payload: dict[str, Any]) -> dict[str, Any]:
    """Send *payload* and return the reply's usage (the reply is SDK-checked)."""
    return dict(message(fake, payload)["usage"])


def split(used: dict[str, Any]) -> tuple[int, int, int]:
    """Return ``(read, written, input)`` tokens of a usage object."""
    return (
        used["cache_read_input_tokens"],
        used["cache_creation_input_tokens"],
        used["input_tokens"],
    )


def cached_system(**extra: Any) -> dict[str, Any]:
    """Return a request whose long system prompt carries a breakpoint."""
    return body(user("hi"), system=[text(LONG, cache_control=CACHE)], **extra)


def layered(**extra: Any) -> dict[str, Any]:
    """Return a request with cached tools, a cached system and automatic caching."""
    return body(
        user("What is the weather?"),
        tools=[TOOL_CACHED],
        system=[text(LONG, cache_control=CACHE)],
        cache_control=CACHE,
        **extra,
    )


def prefix_tokens(payload: dict[str, Any], *sections: str) -> int:
    """Count, with the fake's own tokenizer, the tokens of some sections only."""
    kept = {key: payload[key] for key in sections if key in payload}
    return FakeMessagesAPI.count_tokens({"messages": [], **kept})


def test_first_call_writes_and_the_next_reads() -> None:
    """A breakpoint writes its prefix once; the same prefix is then read."""
    fake = FakeMessagesAPI()
    payload = cached_system()
    total = fake.count_tokens(payload)
    first = usage(fake, payload)
    assert split(first) == (0, SYSTEM_TOKENS, total - SYSTEM_TOKENS)
    assert first["cache_creation"] == {
        "ephemeral_5m_input_tokens": SYSTEM_TOKENS,
        "ephemeral_1h_input_tokens": 0,
    }
    assert split(usage(fake, payload)) == (SYSTEM_TOKENS, 0, total - SYSTEM_TOKENS)
    assert fake.cache_stats == CacheStats(entries=1, hits=1, misses=1, writes=1)


def test_growing_conversation_reads_the_last_turn_and_writes_the_new_one() -> None:
    """With automatic caching each call reads the previous prompt and writes the rest."""
    fake = FakeMessagesAPI()
    messages = [user(f"Question zero. {LONG}")]
    previous = 0
    for turn in range(1, 7):
        payload = body(*messages, cache_control=CACHE)
        total = fake.count_tokens(payload)
        reply_json = message(fake, payload)
        assert split(reply_json["usage"]) == (previous, total - previous, 0)
        messages += [assistant(reply_json["content"]), user(f"Question {turn}.")]
        previous = total
    assert fake.cache_stats.hits == 5


def _blocks(count: int, marked: int) -> list[dict[str, Any]]:
    # A long first block (so the prefix is cacheable), then short ones; the
    # block at position *marked* carries the breakpoint.
    blocks = [text(LONG)] + [text(f"filler {n}") for n in range(1, count)]
    blocks[marked] = {**blocks[marked], "cache_control": CACHE}
    return blocks


@pytest.mark.parametrize(
    ("written", "moved_to", "hit"),
    [
        (0, 1, True),
        (0, 19, True),
        (0, 20, False),
        (15, 34, True),
        (15, 35, False),
    ],
)
def test_lookback_spans_twenty_blocks(written: int, moved_to: int, hit: bool) -> None:
    """A breakpoint finds an entry at most 19 blocks back (it counts as the first)."""
    fake = FakeMessagesAPI()
    usage(fake, body(user(_blocks(written + 1, written))))
    payload = body(user(_blocks(moved_to + 1, moved_to)))
    total = fake.count_tokens(payload)
    read = prefix_tokens(body(user(_blocks(written + 1, written))), "messages")
    expected = (read, total - read, 0) if hit else (0, total, 0)
    assert split(usage(fake, payload)) == expected


def test_second_breakpoint_bridges_a_long_jump() -> None:
    """A breakpoint near the previous write reads it while the far one writes."""
    fake = FakeMessagesAPI()
    usage(fake, body(user(_blocks(1, 0))))
    blocks = _blocks(31, 30)
    blocks[10] = {**blocks[10], "cache_control": CACHE}
    payload = body(user(blocks))
    total = fake.count_tokens(payload)
    read = SYSTEM_TOKENS
    used = usage(fake, payload)
    assert split(used) == (read, total - read, 0)
    assert fake.cache_stats.writes == 3


def test_a_request_does_not_read_its_own_writes() -> None:
    """Two breakpoints in one request both write; neither reads the other."""
    fake = FakeMessagesAPI()
    blocks = _blocks(3, 0)
    blocks[2] = {**blocks[2], "cache_control": CACHE}
    payload = body(user(blocks))
    total = fake.count_tokens(payload)
    assert split(usage(fake, payload)) == (0, total, 0)
    assert fake.cache_stats.writes == 2


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-opus-5", 512),
        ("claude-sonnet-4-5", 1024),
        ("claude-opus-4-7", 2048),
        ("claude-haiku-4-5", 4096),
    ],
)
def test_prefixes_under_the_minimum_are_silently_not_cached(
    model: str, minimum: int
) -> None:
    """One token short of the model's minimum writes nothing; the minimum writes."""
    fake = FakeMessagesAPI()
    short = body(
        user("hi"), model=model, system=[text(words(minimum - 6), cache_control=CACHE)]
    )
    for _ in range(2):
        used = usage(fake, short)
        assert split(used) == (0, 0, fake.count_tokens(short))
    enough = body(
        user("hi"), model=model, system=[text(words(minimum - 5), cache_control=CACHE)]
    )
    assert usage(fake, enough)["cache_creation_input_tokens"] == minimum


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-opus-5", 512),
        ("claude-opus-5-5", 512),
        ("claude-fable-5", 512),
        ("claude-mythos-5", 512),
        ("claude-opus-4-8", 1024),
        ("claude-sonnet-5", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-sonnet-4", 1024),
        ("claude-mythos-preview", 2048),
        ("claude-opus-4-7", 2048),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-5", 4096),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-haiku-5-5", 4096),
        ("claude-haiku-3-5", 2048),
        ("claude-test-1", 1024),
    ],
)
def test_minimum_cacheable_length_table(model: str, minimum: int) -> None:
    """The model table carries §2.3's minimum cacheable prompt lengths."""
    rules = rules_for(model, overrides={}, prefill_rejecting=frozenset())
    assert rules.min_cacheable_tokens == minimum


@pytest.mark.parametrize(("ttl", "seconds"), [(CACHE, 300), (HOUR, 3600)])
def test_entries_live_for_their_ttl_refreshed_on_each_hit(
    ttl: dict[str, str], seconds: int
) -> None:
    """An entry lives 5 minutes (or 1 hour) from its last use, on the fake's clock."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock)
    payload = body(user("hi"), system=[text(LONG, cache_control=ttl)])
    assert split(usage(fake, payload))[0] == 0
    for _ in range(2):
        clock.advance(seconds - 1)
        assert split(usage(fake, payload))[0] == SYSTEM_TOKENS
    clock.advance(seconds)
    assert split(usage(fake, payload))[:2] == (0, SYSTEM_TOKENS)
    assert fake.cache_stats.entries == 1
    clock.advance(seconds)
    assert fake.cache_stats.entries == 0


def test_a_one_hour_breakpoint_extends_the_entry_it_reads() -> None:
    """A 5m entry read by a 1h breakpoint lives an hour from then."""
    clock = Clock()
    fake = FakeMessagesAPI(clock=clock)
    usage(fake, body(user(_blocks(1, 0))))
    blocks = _blocks(6, 5)
    blocks[1] = {**blocks[1], "cache_control": HOUR}
    usage(fake, body(user(blocks)))
    clock.advance(400)
    assert split(usage(fake, body(user(_blocks(1, 0)))))[0] == SYSTEM_TOKENS


def test_one_hour_and_five_minute_segments_are_billed_apart() -> None:
    """Tokens up to a 1h breakpoint are 1h writes; the segment after it is 5m."""
    fake = FakeMessagesAPI()
    payload = body(
        user("What now?"), system=[text(LONG, cache_control=HOUR)], cache_control=CACHE
    )
    total = fake.count_tokens(payload)
    used = usage(fake, payload)
    assert used["cache_creation"] == {
        "ephemeral_5m_input_tokens": total - SYSTEM_TOKENS,
        "ephemeral_1h_input_tokens": SYSTEM_TOKENS,
    }
    assert split(used) == (0, total, 0)
    more = copy.deepcopy(payload)
    more["messages"] += [assistant("Something."), user("And then?")]
    used = usage(fake, more)
    assert split(used) == (total, fake.count_tokens(more) - total, 0)
    assert used["cache_creation"]["ephemeral_1h_input_tokens"] == 0


def test_system_change_keeps_only_the_tools() -> None:
    """Changing the system prompt invalidates system and messages, not tools."""
    fake = FakeMessagesAPI()
    usage(fake, layered())
    changed = layered()
    changed["system"] = [text(LONG + " Be brief.", cache_control=CACHE)]
    tools = prefix_tokens(changed, "tools")
    total = fake.count_tokens(changed)
    assert split(usage(fake, changed)) == (tools, total - tools, 0)


def test_tool_change_invalidates_everything() -> None:
    """Changing a tool definition invalidates the whole prefix."""
    fake = FakeMessagesAPI()
    usage(fake, layered())
    changed = layered()
    changed["tools"] = [{**TOOL_CACHED, "description": LONG + " More."}]
    assert split(usage(fake, changed)) == (0, fake.count_tokens(changed), 0)


def test_speed_change_keeps_only_the_tools() -> None:
    """Switching ``speed`` invalidates system and messages (§9)."""
    fake = FakeMessagesAPI()
    usage(fake, layered())
    fast = layered(speed="fast")
    tools = prefix_tokens(fast, "tools")
    assert split(usage(fake, fast)) == (tools, fake.count_tokens(fast) - tools, 0)


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        ({"tool_choice": {"type": "any"}}, False),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "max_tokens": 2048,
            },
            False,
        ),
        ({"output_config": {"effort": "low"}}, False),
        ({"tool_choice": {"type": "auto"}}, True),
        ({"thinking": {"type": "disabled"}}, True),
        ({"output_config": {"effort": "high"}}, True),
        ({"max_tokens": 500, "metadata": {"user_id": "u"}}, True),
    ],
)
def test_message_level_settings(extra: dict[str, Any], kept: bool) -> None:
    """tool_choice, thinking and effort invalidate the messages; explicit defaults do not."""
    fake = FakeMessagesAPI()
    usage(fake, layered())
    payload = layered(**extra)
    total = fake.count_tokens(payload)
    if kept:
        assert split(usage(fake, payload)) == (total, 0, 0)
    else:
        read = prefix_tokens(payload, "tools", "system")
        assert split(usage(fake, payload)) == (read, total - read, 0)


def _tool_turn(
    tool_input: dict[str, Any], *, reordered: bool = False
) -> dict[str, Any]:
    use = {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "get_weather",
        "input": tool_input,
    }
    if reordered:
        use = {key: use[key] for key in ("name", "input", "id", "type")}
    return body(
        user([text(LONG, cache_control=CACHE)]),
        assistant([use]),
        user([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]),
        tools=[TOOL],
        cache_control=CACHE,
    )


def test_key_order_inside_tool_input_breaks_the_cache() -> None:
    """Reordered keys in tool_use.input change the prefix from that block on (§9)."""
    fake = FakeMessagesAPI()
    usage(fake, _tool_turn({"city": "Paris", "unit": "C"}))
    payload = _tool_turn({"unit": "C", "city": "Paris"})
    read = prefix_tokens(payload, "tools") + SYSTEM_TOKENS
    assert split(usage(fake, payload)) == (read, fake.count_tokens(payload) - read, 0)


def test_field_order_of_a_block_does_not_matter() -> None:
    """A block's own fields may come in any order: the API reads fields, not bytes."""
    fake = FakeMessagesAPI()
    usage(fake, _tool_turn({"city": "Paris"}))
    payload = _tool_turn({"city": "Paris"}, reordered=True)
    assert split(usage(fake, payload)) == (fake.count_tokens(payload), 0, 0)


def test_string_content_is_the_text_block_it_stands_for() -> None:
    """``"content": "x"`` and ``[{"type": "text", "text": "x"}]`` share an entry."""
    fake = FakeMessagesAPI()
    usage(fake, body(user(LONG), cache_control=CACHE))
    payload = body(user([text(LONG)]), cache_control=CACHE)
    assert split(usage(fake, payload)) == (fake.count_tokens(payload), 0, 0)


def test_message_boundaries_are_part_of_the_prefix() -> None:
    """Two blocks in one message are not the same prefix as two messages."""
    fake = FakeMessagesAPI()
    usage(fake, body(user([text(LONG), text("more")]), cache_control=CACHE))
    payload = body(user(LONG), user("more"), cache_control=CACHE)
    assert split(usage(fake, payload)) == (0, fake.count_tokens(payload), 0)


def test_breakpoint_inside_a_tool_result_counts_at_the_tool_result() -> None:
    """A marker on a block nested in tool_result content caches through the tool_result."""
    fake = FakeMessagesAPI()
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [text(LONG, cache_control=CACHE)],
    }
    payload = body(
        user("weather?"), assistant([use]), user([result, text("thanks")]), tools=[TOOL]
    )
    through = copy.deepcopy(payload)
    through["messages"][-1]["content"] = [result]
    written = fake.count_tokens(through)
    total = fake.count_tokens(payload)
    assert split(usage(fake, payload)) == (0, written, total - written)
    assert split(usage(fake, payload)) == (written, 0, total - written)


def test_cache_off_bills_everything_as_input() -> None:
    """``FakeMessagesAPI(cache=False)`` caches nothing."""
    fake = FakeMessagesAPI(cache=False)
    payload = cached_system()
    for _ in range(2):
        assert split(usage(fake, payload)) == (0, 0, fake.count_tokens(payload))
    assert fake.cache_stats == CacheStats(entries=0, hits=0, misses=0, writes=0)


@pytest.mark.parametrize(
    ("headers", "hit"),
    [
        ({"authorization": "Bearer sk-test", "anthropic-version": "2023-06-01"}, True),
        ({**HEADERS, "x-api-key": "sk-other"}, False),
        ({**HEADERS, "anthropic-workspace-id": "wrkspc_2"}, False),
    ],
)
def test_caches_are_per_api_key_and_workspace(
    headers: dict[str, str], hit: bool
) -> None:
    """The same key reads its entries however it is sent; other keys and workspaces do not."""
    fake = FakeMessagesAPI()
    usage(fake, cached_system())
    response = post(fake, cached_system(), headers=headers)
    read = response.json()["usage"]["cache_read_input_tokens"]
    assert read == (SYSTEM_TOKENS if hit else 0)


def test_streamed_usage_matches_the_plain_reply() -> None:
    """message_start and message_delta carry the same cache split as a plain reply."""
    plain, streamed = FakeMessagesAPI(), FakeMessagesAPI()
    for _ in range(2):
        expected = usage(plain, layered())
        response = post(streamed, layered(stream=True))
        events = parse_sse(response.text)
        start_usage = events[0][1]["message"]["usage"]
        assert split(start_usage) == split(expected)
        assert fold(events)["usage"] == expected


def test_prewarm_writes_the_prefix_for_later_calls() -> None:
    """A ``max_tokens: 0`` call writes the cache; the real call reads it."""
    fake = FakeMessagesAPI()
    prewarm = usage(fake, cached_system(max_tokens=0))
    assert prewarm["cache_creation_input_tokens"] == SYSTEM_TOKENS
    assert prewarm["output_tokens"] == 0
    later = body(user("the real question"), system=[text(LONG, cache_control=CACHE)])
    assert split(usage(fake, later))[0] == SYSTEM_TOKENS


def test_raw_reply_usage_wins_but_the_cache_still_works() -> None:
    """reply.raw's usage is reported as given; the request still writes the cache."""
    fake = FakeMessagesAPI()
    given_usage = {"input_tokens": 1, "output_tokens": 1}
    fake.script(reply.raw({"content": [], "usage": given_usage}))
    assert usage(fake, cached_system()) == given_usage
    assert split(usage(fake, cached_system()))[0] == SYSTEM_TOKENS


def test_reset_forgets_the_cache() -> None:
    """reset() empties the cache and its counters."""
    fake = FakeMessagesAPI()
    usage(fake, cached_system())
    fake.reset()
    assert fake.cache_stats == CacheStats(entries=0, hits=0, misses=0, writes=0)
    assert split(usage(fake, cached_system()))[0] == 0


def test_requests_without_breakpoints_are_neither_hits_nor_misses() -> None:
    """A request with no breakpoint bills all input as input_tokens and counts nothing."""
    fake = FakeMessagesAPI()
    payload = body(user(LONG))
    assert split(usage(fake, payload)) == (0, 0, fake.count_tokens(payload))
    assert fake.cache_stats == CacheStats(entries=0, hits=0, misses=0, writes=0)


_TURN = st.tuples(st.booleans(), st.sampled_from(["5m", "1h", None]))


def _ttls(wanted: list[str | None]) -> list[str | None]:
    # At most two explicit breakpoints, the 1h ones before the 5m ones (§2.3).
    kept: list[str | None] = []
    for ttl in wanted:
        if ttl is not None and sum(t is not None for t in kept) == 2:
            ttl = None
        if ttl == "1h" and "5m" in kept:
            ttl = "5m"
        kept.append(ttl)
    return kept


@settings(max_examples=40, deadline=None)
@given(turns=st.lists(_TURN, min_size=1, max_size=8), automatic=st.booleans())
def test_usage_always_adds_up(
    turns: list[tuple[bool, str | None]], automatic: bool
) -> None:
    """Whatever the breakpoints, read + written + input is the prompt's token count."""
    fake = FakeMessagesAPI()
    messages: list[dict[str, Any]] = []
    ttls = _ttls([ttl for _, ttl in turns])
    for number, ((long, _), ttl) in enumerate(zip(turns, ttls, strict=True)):
        block = text(LONG if long else f"turn {number}")
        if ttl is not None:
            block["cache_control"] = {"type": "ephemeral", "ttl": ttl}
        messages.append(user([block]))
        so_far = [t for t in ttls[: number + 1] if t is not None]
        extra: dict[str, Any] = {}
        if automatic:
            hour = all(t == "1h" for t in so_far)
            extra["cache_control"] = {
                "type": "ephemeral",
                "ttl": "1h" if hour else "5m",
            }
        payload = body(*messages, **extra)
        used = usage(fake, payload)
        read, written, rest = split(used)
        assert read + written + rest == fake.count_tokens(payload)
        assert written == sum(used["cache_creation"].values())
        assert min(read, written, rest) >= 0
        messages.append(assistant("ok"))
