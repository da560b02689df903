"""Property-ish: with the learned ratio, every request stays within the budget by the
API's own count, whatever tokenizer the API has (the fake's, or the fake's scaled).

Seeded conversations of prose with occasional large pastes (JSON, logs, code) run
through `FakeMessagesAPI`; conversa is never told the fake's tokenizer or its scale.
"""

from __future__ import annotations

import json
import random

import pytest

from conversa import BudgetConfig, CacheConfig, Client, Conversation, MemoryStore
from conversa._core.calibrate import latest_ratio
from conversa.testing import FakeMessagesAPI, reply

_VOCABULARY = (
    "the order parcel arrived late courier refund address invoice warehouse please "
    "check tracking number support replacement express delivery thank you again"
)
WORDS = tuple(_VOCABULARY.split())


def prose(rng: random.Random, n: int) -> str:
    """*n* words of prose-like text."""
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def paste(rng: random.Random, lines: int) -> str:
    """A pasted block: JSON records, log lines or code."""
    kind = rng.choice(("json", "log", "code"))
    out = []
    for i in range(lines):
        if kind == "json":
            record = {"id": f"ord_{rng.getrandbits(32):08x}", "qty": rng.randint(1, 9)}
            out.append(json.dumps(record))
        elif kind == "log":
            out.append(
                f"2026-01-{rng.randint(1, 28):02d}T10:{rng.randint(0, 59):02d}Z WARN "
                f"[w-{rng.randint(1, 8)}] GET /api/orders/{rng.randint(1000, 99999)} 502"
            )
        else:
            out.append(
                f"    total_{i} = compute(order.items[{i}], rate={rng.random():.3f})"
            )
    return "\n".join(out)


@pytest.mark.parametrize("scale", [0.7, 1.0, 1.17, 1.5])
@pytest.mark.parametrize("seed", [1, 2])
def test_requests_stay_within_the_budget_by_the_apis_count(
    seed: int, scale: float
) -> None:
    """Every request fits the budget by the (scaled) fake's count; a ratio is learned."""
    rng = random.Random(seed)
    budget = 6000
    fake = FakeMessagesAPI(token_scale=scale)
    exchanges = 45
    fake.script(
        *(reply.text(prose(rng, rng.randint(20, 150))) for _ in range(exchanges))
    )
    with Client(api_key="k", transport=fake) as client:
        conv = Conversation.create(
            MemoryStore(),
            client=client,
            model="claude-sonnet-4-5",
            system="You are a careful support agent. " * 10,
            max_tokens=512,
            budget=BudgetConfig(fixed=budget, low_watermark=0.9),
            cache=CacheConfig(),
        )
        for i in range(exchanges):
            text = prose(rng, rng.randint(5, 60))
            if i and rng.random() < 0.2:
                text += "\n\n" + paste(rng, rng.randint(20, 70))
            conv.send(text)
        assert latest_ratio(conv.turns(), "claude") is not None
    calls = [r for r in fake.requests if r.path == "/v1/messages"]
    assert len(calls) == exchanges
    for call in calls:
        assert call.status_code == 200
        assert fake.count_tokens(call.body) <= budget
