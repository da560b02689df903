"""Context budget benchmark: conversa's window and cache against a naive sliding window.

A 300-turn conversation (150 exchanges) whose history is about 5x the budget runs
through the fake Messages API, whose tokenizer is not conversa's estimator and which
simulates the prompt cache. For each approach it prints: requests over the budget
(target 0), the mean budget fill after the first 10 calls by the fake's own count
(target >= 85%), the share of input tokens read from the cache (target >= 70%), and
the total cost by conversa's price table.

The naive baseline keeps every turn, drops the oldest whole exchange until the fake's
own count fits (it is given exact counts, its best case), and puts one breakpoint on
the last block.

    python benchmarks/context.py [--exchanges 150] [--budget 38000] [--watermark 0.75]
"""

from __future__ import annotations

import argparse
import copy
import statistics
from decimal import Decimal
from typing import Any

import httpx

from conversa import BudgetConfig, CacheConfig, Client, Conversation, MemoryStore, Usage
from conversa._core.pricing import cost
from conversa.testing import FakeMessagesAPI, reply

MODEL = "claude-sonnet-4-5"
SYSTEM = "You are a support agent for a large online shop. Be precise. " * 60
HEADERS = {"x-api-key": "bench", "anthropic-version": "2026-10-21"}


def words(n: int, tag: str) -> str:
    """Prose-like filler of *n* words, distinct per *tag*."""
    vocab = [
        "order",
        "parcel",
        "refund",
        "courier",
        "address",
        "invoice",
        "delay",
        "warehouse",
        "label",
    ]
    return " ".join(f"{vocab[i % len(vocab)]}-{tag}{i}" for i in range(n))


def script(fake: FakeMessagesAPI, exchanges: int) -> None:
    """Replies of realistic length, the same for both approaches."""
    fake.script(*(reply.text(words(110, f"a{i}-")) for i in range(exchanges)))


def measure(fake: FakeMessagesAPI, budget: int) -> dict[str, Any]:
    """Read the numbers off the fake's recorded requests."""
    calls = [
        r for r in fake.requests if r.path == "/v1/messages" and r.status_code == 200
    ]
    sizes = [fake.count_tokens(r.body) for r in calls]
    usages = [Usage.from_api(r.response_json["usage"]) for r in calls]
    total_in = sum(u.total_input_tokens for u in usages)
    return {
        "calls": len(calls),
        "over": sum(1 for s in sizes if s > budget),
        "fill": statistics.mean(s / budget for s in sizes[10:]),
        "cache_share": sum(u.cache_read_input_tokens for u in usages) / total_in,
        "cost": sum((cost(u, MODEL).total for u in usages), Decimal(0)),
        "history": sum(
            fake.count_tokens({"model": MODEL, "messages": [m]}) for m in []
        ),
    }


def run_conversa(exchanges: int, budget: int, watermark: float) -> dict[str, Any]:
    """conversa: stored window start with hysteresis, pinned first exchange, 4 breakpoints."""
    fake = FakeMessagesAPI()
    script(fake, exchanges)
    with Client(api_key="bench", transport=fake) as client:
        conv = Conversation.create(
            MemoryStore(),
            client=client,
            model=MODEL,
            system=SYSTEM,
            max_tokens=1024,
            budget=BudgetConfig(fixed=budget, low_watermark=watermark),
            cache=CacheConfig(),
        )
        for i in range(exchanges):
            conv.send(words(120, f"u{i}-"))
        history = fake.count_tokens(
            {"model": MODEL, "max_tokens": 1024, "messages": _all_messages(conv)}
        )
    return {**measure(fake, budget), "history": history}


def _all_messages(conv: Conversation) -> list[dict[str, Any]]:
    return [
        {"role": t.role, "content": [b.to_api() for b in t.blocks]}
        for t in conv.turns()
    ]


def run_naive(exchanges: int, budget: int) -> dict[str, Any]:
    """Naive: drop the oldest whole exchange until it fits; one breakpoint at the end.

    Messages are counted once each (by the fake's tokenizer, so the baseline has
    exact counts, its best case) and the whole body is counted once more to check.
    """
    fake = FakeMessagesAPI()
    script(fake, exchanges)
    history: list[dict[str, Any]] = []
    sizes: list[int] = []
    fixed = fake.count_tokens(_naive_body([_user("x")])) - _size(fake, _user("x"))
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        for i in range(exchanges):
            history.append(_user(words(120, f"u{i}-")))
            sizes.append(_size(fake, history[-1]))
            first = 0
            while fixed + sum(sizes[first:]) > budget and first < len(history) - 1:
                first += 2
            body = _naive_body(history[first:])
            while fake.count_tokens(body) > budget and first < len(history) - 1:
                first += 2
                body = _naive_body(history[first:])
            answer = http.post("/v1/messages", json=body, headers=HEADERS).json()
            history.append({"role": "assistant", "content": answer["content"]})
            sizes.append(_size(fake, history[-1]))
    return measure(fake, budget)


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def _size(fake: FakeMessagesAPI, message: dict[str, Any]) -> int:
    return fake.count_tokens({"model": MODEL, "messages": [message]})


def _naive_body(window: list[dict[str, Any]]) -> dict[str, Any]:
    messages = copy.deepcopy(window)
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return {"model": MODEL, "max_tokens": 1024, "system": SYSTEM, "messages": messages}


def main() -> None:
    """Run both approaches and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=150)
    parser.add_argument("--budget", type=int, default=38_000)
    parser.add_argument("--watermark", type=float, default=BudgetConfig().low_watermark)
    args = parser.parse_args()
    ours = run_conversa(args.exchanges, args.budget, args.watermark)
    naive = run_naive(args.exchanges, args.budget)
    print(
        f"{args.exchanges * 2} turns, budget {args.budget} tokens, history "
        f"{ours['history']} tokens ({ours['history'] / args.budget:.1f}x the budget), "
        f"model {MODEL}, low watermark {args.watermark}, counts by the fake's tokenizer\n"
    )
    print(
        f"| {'':<22} | {'over budget':>11} | {'mean fill':>9} | {'cache share':>11} | {'cost (USD)':>10} |"
    )
    print(f"|{'-' * 24}|{'-' * 13}|{'-' * 11}|{'-' * 13}|{'-' * 12}|")
    for name, row in (("conversa", ours), ("naive sliding window", naive)):
        print(
            f"| {name:<22} | {row['over']:>11} | {row['fill']:>9.1%} | "
            f"{row['cache_share']:>11.1%} | {row['cost']:>10.4f} |"
        )
    print("\ntargets: over budget 0, mean fill >= 85%, cache share >= 70%")


if __name__ == "__main__":
    main()
