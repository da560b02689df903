"""Property: whatever the history, a planned request is valid and fits the budget."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conversa import (
    BudgetConfig,
    CacheConfig,
    Client,
    Conversation,
    MemoryStore,
    RetryPolicy,
)
from conversa.testing import FakeMessagesAPI, reply
from tests.sdk_check import check_request_body

TOOLS = [
    {"name": n, "description": f"The {n} tool.", "input_schema": {"type": "object"}}
    for n in ("lookup", "refund")
]

# One exchange: (user words, assistant words, tool calls in the reply (0-2), result words)
EXCHANGE = st.tuples(
    st.integers(1, 150), st.integers(1, 120), st.integers(0, 2), st.integers(1, 80)
)


def _words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
)
@given(
    exchanges=st.lists(EXCHANGE, min_size=1, max_size=14),
    # The first exchange is pinned: the largest two exchanges (about 1,200 tokens
    # each) with system and tools must fit, or a refusal is the right answer.
    budget=st.integers(3000, 6000),
    cached=st.booleans(),
)
def test_every_request_is_valid_and_fits_the_budget(
    exchanges: list[tuple[int, int, int, int]], budget: int, cached: bool
) -> None:
    """Tool loops, parallel calls, long and short turns: accepted, within budget, newest last."""
    fake = FakeMessagesAPI()
    client = Client(api_key="k", transport=fake, retry=RetryPolicy.none())
    conv = Conversation.create(
        MemoryStore(),
        client=client,
        model="claude-sonnet-4-5",
        tools=TOOLS,
        budget=BudgetConfig(fixed=budget),
        cache=CacheConfig(enabled=cached),
    )
    for i, (user, answer, calls, result) in enumerate(exchanges):
        if calls:
            uses = [("lookup", {"n": i}), ("refund", {"n": i})][:calls]
            fake.script(reply.tool_uses(uses, text=_words(answer, f"t{i}-")))
            fake.script(reply.text(_words(answer, f"a{i}-")))
        else:
            fake.script(reply.text(_words(answer, f"a{i}-")))
        turn = conv.send(_words(user, f"u{i}-"))
        if calls:
            ids = [u.id for u in conv.pending_tool_uses()]
            conv.add_tool_results({tid: _words(result, f"r{i}-") for tid in ids})
            assert conv.retry().role == "assistant"
        del turn
    bodies: list[dict[str, Any]] = [
        r.body for r in fake.requests if r.path == "/v1/messages"
    ]
    for recorded in fake.requests:
        assert recorded.status_code == 200, recorded.response_json
    for body in bodies:
        check_request_body(body)
        assert fake.count_tokens(body) <= budget
    newest = bodies[-1]["messages"][-1]["content"]
    assert any(
        b.get("type") == "tool_result" or "u" in b.get("text", "") for b in newest
    )
    client.close()
