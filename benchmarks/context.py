"""Context budget benchmark: how full conversa keeps the window, and how well it caches.

Two scenarios run through the fake Messages API, whose tokenizer is not conversa's
estimator and which simulates the prompt cache; conversa is never told the fake's
tokenizer.

**Long conversation** (issue 10; seed and parameters frozen below): prose exchanges
with occasional 2-4k-token pastes (code, logs, JSON, documents) until the history is
5x a budget of 17,000 tokens, in a 20,000-token window (max_tokens 1,024). It runs
twice: judged by the fake's own tokenizer, then by the fake's tokenizer scaled by a
seeded factor (`FakeMessagesAPI(token_scale=...)`). Each row reads, by that judge's
own count: requests over the budget (target 0), the largest request, the mean fill
after warm-up (the calls while the whole history still fitted; target >= 88%), the
share of input tokens read from the cache (target >= 80%), window moves, moves that
were unnecessary (the request from the old start would have fitted), over-deep cuts
(a later start than the earliest one at or under the low watermark), and the cost.

**300 turns** (the earlier scenario): 150 exchanges whose history is about 5x a
38,000-token budget, next to a naive sliding window that keeps every turn, drops the
oldest whole exchange until the fake's own count fits (it is given exact counts, its
best case) and puts one breakpoint on the last block. Mean fill after the first 10
calls (target >= 85%), cache share (target >= 70%), cost.

    python benchmarks/context.py [--scenario long|steady|both] [--watermark 0.9]
        [--scale 1.2] [--moves] [--exchanges 150] [--budget 38000]

`--scale` replaces the seeded second judge's factor; `--moves` lists every move of
the long conversation with the sizes the judge saw.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from attrs import evolve

from conversa import BudgetConfig, CacheConfig, Client, Conversation, MemoryStore, Usage
from conversa._core.pricing import cost
from conversa.testing import FakeMessagesAPI, reply
from conversa.testing._models import rules_for
from conversa.testing._tokens import count_request, count_text

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


# --- The long conversation of issue 10 -------------------------------------------
#
# Frozen: change nothing here without saying so in benchmarks/README.md, since the
# numbers there come from exactly these values.

#: Seeds the whole conversation (turn lengths, which turns carry a paste, their text).
LONG_SEED = 10
#: The budget and the model's context window (conversa is told the window through
#: the conversation's capabilities; the fake enforces it).
LONG_BUDGET = 17_000
LONG_WINDOW = 20_000
LONG_MAX_TOKENS = 1024
#: The stored history, in budgets (by the fake's own, unscaled tokenizer).
LONG_HISTORY = 5
#: Words of a user turn and of a reply.
USER_WORDS = (10, 80)
REPLY_WORDS = (40, 300)
#: A user turn carries a paste with this probability (never the first one) ...
PASTE_CHANCE = 0.1
#: ... of this many tokens (by the fake's unscaled tokenizer): code, logs, JSON or a
#: document, picked uniformly.
PASTE_TOKENS = (2_000, 4_000)
#: The second judge: the fake's tokenizer times a factor drawn from this range with
#: this seed (conversa is not told, and must not need to be).
JUDGE_SEED = 10
JUDGE_SCALES = (0.8, 1.5)

_VOCAB_TEXT = (
    "the order was shipped on time but the parcel never arrived at my address and "
    "nobody from customer service has answered since last week which is really "
    "frustrating because I paid for express delivery could you please check where "
    "it is now and whether a refund or replacement is possible I also noticed that "
    "the invoice lists a different warehouse than the confirmation email did so "
    "maybe something went wrong during processing thank you for looking into this "
    "unfortunately the tracking number returns an error message whenever I enter it "
    "on the courier website and their support line keeps disconnecting otherwise "
    "everything about your store has been excellent and I would like to keep "
    "ordering here in future months assuming this problem gets resolved quickly"
)
VOCAB = tuple(_VOCAB_TEXT.split())


def prose(rng: random.Random, n: int) -> str:
    """*n* words of English-like prose, in sentences."""
    out: list[str] = []
    since = 0  # words since the sentence began
    for _ in range(n):
        word = rng.choice(VOCAB)
        out.append(word.capitalize() if since == 0 else word)
        since += 1
        if since > rng.randint(6, 18):
            mark = rng.choice((".", ".", ",", "?"))
            out[-1] += mark
            since = 1 if mark == "," else 0
    return " ".join(out) + "."


def _code(rng: random.Random, i: int) -> str:
    name = rng.choice(("order", "parcel", "refund", "invoice", "label", "route"))
    return (
        f"def handle_{name}_{i}(session, payload: dict) -> dict:\n"
        f'    """Process one {name} event and return the updated record."""\n'
        f'    record = session.get({name.capitalize()}, payload["id"])\n'
        f'    if record is None or record.status in ("closed", "void"):\n'
        f"        raise LookupError(f\"{name} {{payload['id']}} not found\")\n"
        f"    record.updated_at = datetime.now(timezone.utc)\n"
        f"    record.attempts += {rng.randint(1, 9)}\n"
        f'    return {{"id": record.id, "status": record.status}}\n\n'
    )


def _log(rng: random.Random, i: int) -> str:
    level = rng.choice(("INFO", "INFO", "INFO", "WARN", "ERROR"))
    path = rng.choice(("orders", "parcels", "refunds", "labels"))
    return (
        f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
        f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z "
        f"{level} [worker-{rng.randint(1, 8)}] request_id={rng.getrandbits(48):012x} "
        f"GET /api/{path}/{rng.randint(10_000, 99_999)} {rng.choice((200, 200, 404, 502))} "
        f"{rng.randint(3, 900)}ms\n"
    )


def _json(rng: random.Random, i: int) -> str:
    record = {
        "id": f"ord_{rng.getrandbits(40):010x}",
        "status": rng.choice(("shipped", "pending", "lost", "refunded")),
        "items": [
            {"sku": f"SKU-{rng.randint(1000, 9999)}", "qty": rng.randint(1, 4)}
            for _ in range(rng.randint(1, 3))
        ],
        "total": round(rng.uniform(5, 500), 2),
        "courier": rng.choice(("dhl", "ups", "postnl")),
    }
    return json.dumps(record) + ",\n"


def _doc(rng: random.Random, i: int) -> str:
    return prose(rng, rng.randint(40, 90)) + "\n\n"


PASTES = {"code": _code, "log": _log, "json": _json, "document": _doc}


def paste(rng: random.Random, tokens: int) -> str:
    """A paste of about *tokens* tokens by the fake's tokenizer: code, logs, JSON or prose."""
    make = PASTES[rng.choice(sorted(PASTES))]
    parts: list[str] = []
    size, i = 0, 0
    while size < tokens:
        part = make(rng, i)
        parts.append(part)
        size += count_text(part)
        i += 1
    return "".join(parts)


@dataclass(frozen=True)
class Scenario:
    """A scripted conversation: the user turns, and the replies the fake gives."""

    users: tuple[str, ...]
    replies: tuple[str, ...]
    pastes: int


def long_scenario() -> Scenario:
    """The frozen long conversation: exchanges until the history is 5 budgets."""
    rng = random.Random(LONG_SEED)
    users: list[str] = []
    replies: list[str] = []
    pastes, size = 0, 0
    while size < LONG_HISTORY * LONG_BUDGET:
        text = prose(rng, rng.randint(*USER_WORDS))
        if users and rng.random() < PASTE_CHANCE:
            pastes += 1
            text += "\n\nHere is what I have:\n\n" + paste(
                rng, rng.randint(*PASTE_TOKENS)
            )
        answer = prose(rng, rng.randint(*REPLY_WORDS))
        users.append(text)
        replies.append(answer)
        size += _size_of(_user(text)) + _size_of(_assistant(answer))
    return Scenario(tuple(users), tuple(replies), pastes)


def judge_scale() -> float:
    """The second judge's factor (seeded; printed with the results)."""
    low, high = JUDGE_SCALES
    return round(random.Random(JUDGE_SEED).uniform(low, high), 3)


def _assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def _size_of(message: dict[str, Any], scale: float = 1.0) -> int:
    return count_request({"messages": [message]}, scale=scale)


def run_long(scenario: Scenario, scale: float, watermark: float) -> dict[str, Any]:
    """Run the long conversation through conversa, judged by a fake with *scale*."""
    rules = evolve(
        rules_for(MODEL, overrides={}, prefill_rejecting=frozenset()),
        context_window=LONG_WINDOW,
    )
    fake = FakeMessagesAPI(token_scale=scale, models={MODEL: rules})
    fake.script(*(reply.text(r) for r in scenario.replies))
    with Client(api_key="bench", transport=fake) as client:
        conv = Conversation.create(
            MemoryStore(),
            client=client,
            model=MODEL,
            system=SYSTEM,
            max_tokens=LONG_MAX_TOKENS,
            capabilities={"context_window": LONG_WINDOW},
            budget=BudgetConfig(fixed=LONG_BUDGET, low_watermark=watermark),
            cache=CacheConfig(),
        )
        for text in scenario.users:
            conv.send(text)
    return judge(fake, scenario, LONG_BUDGET, watermark)


def judge(
    fake: FakeMessagesAPI, scenario: Scenario, budget: int, watermark: float
) -> dict[str, Any]:
    """Read a run off the fake's recorded requests, by the fake's own (scaled) count.

    Call *i* answers user turn *i*; its messages are the pinned first exchange and
    the exchanges from *k* (the window start) to *i*. A call *moved* when its *k*
    differs from the previous call's. A move was *unnecessary* when the request from
    the previous start would have fitted the budget; a cut was *over-deep* when a
    later start than needed was chosen: an earlier exchange already brought the
    request to the low watermark.
    """
    scale = fake.token_scale
    calls = [
        r for r in fake.requests if r.path == "/v1/messages" and r.status_code == 200
    ]
    if len(calls) != len(scenario.users):
        msg = f"{len(calls)} replies for {len(scenario.users)} user turns"
        raise RuntimeError(msg)
    fixed = count_request({"system": SYSTEM, "messages": []}, scale=scale)
    users = [_size_of(_user(u), scale) for u in scenario.users]
    answers = [_size_of(_assistant(a), scale) for a in scenario.replies]
    pinned = users[0] + answers[0]

    def size(k: int, i: int) -> int:
        """The request answering user turn *i* with the window from exchange *k*."""
        head = pinned if k >= 1 else 0
        return fixed + head + sum(users[k : i + 1]) + sum(answers[k:i])

    sizes, starts = [], []
    for i, call in enumerate(calls):
        n = len(call.body["messages"])
        k = 0 if n == 2 * i + 1 else (2 * i + 3 - n) // 2
        starts.append(k)
        sizes.append(fake.count_tokens(call.body))
        if sizes[-1] != size(k, i):  # the judge's reading of the body is off
            msg = f"call {i}: counted {sizes[-1]}, expected {size(k, i)} from {k}"
            raise RuntimeError(msg)
    warm = next(i for i in range(len(calls)) if size(0, i) > budget)
    moves = unnecessary = deep = 0
    deep_gap: list[float] = []
    log: list[str] = []
    for i in range(1, len(calls)):
        before, now = starts[i - 1], starts[i]
        if now == before:
            continue
        moves += 1
        if size(before, i) <= budget:
            unnecessary += 1
        needed = next(
            (k for k in range(before + 1, i + 1) if size(k, i) <= watermark * budget),
            i,
        )
        if now > needed:
            deep += 1
            deep_gap.append((size(needed, i) - size(now, i)) / budget)
        log.append(
            f"call {i}: start {before} -> {now} (needed {needed}); unmoved "
            f"{size(before, i) / budget:.1%} ({size(before, i)}), sent "
            f"{size(now, i) / budget:.1%}, "
            f"at the watermark {size(needed, i) / budget:.1%}; new turn {users[i]}"
        )
    usages = [Usage.from_api(r.response_json["usage"]) for r in calls]
    total_in = sum(u.total_input_tokens for u in usages)
    return {
        "calls": len(calls),
        "warm_up": warm,
        "history": size(0, len(calls) - 1),
        "over": sum(1 for s in sizes if s > budget),
        "largest": max(sizes) / budget,
        "fill": statistics.mean(s / budget for s in sizes[warm:]),
        "cache_share": sum(u.cache_read_input_tokens for u in usages) / total_in,
        "cost": sum((cost(u, MODEL).total for u in usages), Decimal(0)),
        "moves": moves,
        "unnecessary": unnecessary,
        "deep": deep,
        "deep_gap": max(deep_gap, default=0.0),
        "log": log,
    }


def long_table(watermark: float, scale: float | None, *, moves: bool = False) -> None:
    """Run the long conversation under both judges and print the table."""
    scenario = long_scenario()
    second = judge_scale() if scale is None else scale
    rows = [(1.0, run_long(scenario, 1.0, watermark))]
    rows.append((second, run_long(scenario, second, watermark)))
    first = rows[0][1]
    print(
        f"Long conversation: {first['calls']} exchanges ({scenario.pastes} with a "
        f"2-4k-token paste), history {first['history']} tokens "
        f"({first['history'] / LONG_BUDGET:.1f}x the budget of {LONG_BUDGET}; window "
        f"{LONG_WINDOW}), seed {LONG_SEED}, low watermark {watermark}; fill after "
        f"{first['warm_up']} warm-up calls\n"
    )
    print(
        "| judge | over budget | largest | mean fill | cache share | moves "
        "| unnecessary moves | over-deep cuts | cost (USD) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for factor, row in rows:
        name = "fake's tokenizer" if factor == 1.0 else f"fake's x {factor}"
        deep = f"{row['deep']}" + (
            f" (up to {row['deep_gap']:.1%})" if row["deep"] else ""
        )
        print(
            f"| {name} | {row['over']} | {row['largest']:.1%} | {row['fill']:.1%} | "
            f"{row['cache_share']:.1%} | {row['moves']} | {row['unnecessary']} | "
            f"{deep} | {row['cost']:.4f} |"
        )
    print(
        "\ntargets: over budget 0, mean fill >= 88%, cache share >= 80%, with both judges"
    )
    for factor, row in rows if moves else ():
        print(f"\nmoves judged by the fake's tokenizer x {factor}:")
        print("\n".join(row["log"]))


def main() -> None:
    """Run the scenarios and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario", choices=("steady", "long", "both"), default="both"
    )
    parser.add_argument("--exchanges", type=int, default=150)
    parser.add_argument("--budget", type=int, default=38_000)
    parser.add_argument("--watermark", type=float, default=BudgetConfig().low_watermark)
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="the second judge's factor (default: seeded)",
    )
    parser.add_argument(
        "--moves", action="store_true", help="list the long conversation's moves"
    )
    args = parser.parse_args()
    if args.scenario in ("long", "both"):
        long_table(args.watermark, args.scale, moves=args.moves)
    if args.scenario in ("steady", "both"):
        if args.scenario == "both":
            print()
        steady_table(args.exchanges, args.budget, args.watermark)


def steady_table(exchanges: int, budget: int, watermark: float) -> None:
    """Run the 300-turn conversation through conversa and the naive window."""
    ours = run_conversa(exchanges, budget, watermark)
    naive = run_naive(exchanges, budget)
    print(
        f"{exchanges * 2} turns, budget {budget} tokens, history "
        f"{ours['history']} tokens ({ours['history'] / budget:.1f}x the budget), "
        f"model {MODEL}, low watermark {watermark}, counts by the fake's tokenizer\n"
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
