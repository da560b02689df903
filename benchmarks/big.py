"""A send and an append on a big PostgreSQL database against a small one (not a test).

Loads 10 million turns across 100,000 conversations (100 each, by default) into a
fresh database with `INSERT ... SELECT` over `generate_series` (a template
conversation's rows, copied server-side, so loading costs no round trips per
row), then times, on conversations picked at random among all of them:

- **append**: `store.append(id, [turn])`, one durable user turn;
- **send**: `conv.send(text)` through a `Client` whose transport answers at once
  (no HTTP: the store and conversa's own work are what is timed), the conversation
  loaded untimed first.

The same is timed on a small database (1,000 conversations of 100 turns) made the
same way; the headline is big / small, which the issue wants within 1.3x. With
`--turn-partitions N` both databases hash-partition `conversa_turns` by
conversation id (see README, "Past one database server").

    python benchmarks/big.py                       # 100,000 x 100 against 1,000 x 100
    python benchmarks/big.py --conversations 10000 # a quicker run
    python benchmarks/big.py --turn-partitions 16

PostgreSQL comes from CONVERSA_TEST_POSTGRES_URL (default: the local server); each
database is created for the run and dropped after it (`--keep` keeps them).
Loading the full size takes minutes and about 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import Client, Conversation, ConversationRecord, PostgresStore, Turn

SERVER = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MODEL = "claude-sonnet-4-5"
CHUNK = 2_000  # conversations per loading transaction

_REPLY = {
    "id": "msg_big",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 100, "output_tokens": 1},
}


class Instant(httpx.BaseTransport):
    """The Messages API answering at once with a canned reply."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer at once."""
        return httpx.Response(
            200,
            headers={"request-id": "req_big", "content-type": "application/json"},
            content=json.dumps(_REPLY).encode(),
        )


def _server(url: str) -> str:
    return url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")


def make_database(conversations: int, turns: int, partitions: int | None) -> str:
    """Create a database holding *conversations* x *turns*; return its URL."""
    name = f"conversa_big_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_server(SERVER), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _server(SERVER).rsplit("/", 1)[0] + "/" + name
    try:
        _load(url, name, conversations, turns, partitions)
    except BaseException:
        drop_database(url)
        raise
    return url


def _load(
    url: str, name: str, conversations: int, turns: int, partitions: int | None
) -> None:
    store = PostgresStore(url, turn_partitions=partitions)
    template = store.create(ConversationRecord(model=MODEL))
    store.append(
        template.id,
        [
            Turn("user", "a question of a few words " * 4),
            Turn("assistant", "an answer " * 10),
        ],
    )
    store.close()
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for lo in range(0, conversations, CHUNK):
            hi = min(lo + CHUNK, conversations)
            with conn.transaction():
                conn.execute(
                    """INSERT INTO conversa_conversations
                    (id, owner, metadata, model, system, params, capabilities,
                     window_start, last_seq, parent_id, forked_at, flags,
                     created_at, updated_at, erased_at)
                    SELECT 'b' || g, 'owner-' || (g %% 1000), t.metadata, t.model,
                           t.system, t.params, t.capabilities, t.window_start, %(n)s::int,
                           NULL, NULL, t.flags,
                           t.created_at + g * interval '1 millisecond',
                           t.updated_at, NULL
                    FROM conversa_conversations t, generate_series(%(lo)s::int, %(hi)s::int) g
                    WHERE t.id = %(tpl)s""",
                    {"n": turns, "lo": lo, "hi": hi - 1, "tpl": template.id},
                )
                conn.execute(
                    """INSERT INTO conversa_turns
                    (conversation_id, seq, turn_id, role, kind, content, tokens,
                     tokens_exact, status, flags, message_id, model, stop_reason,
                     stop_sequence, usage, input_tokens, output_tokens,
                     cache_creation_input_tokens, cache_read_input_tokens,
                     request_id, response_extra, created_at)
                    SELECT 'b' || g, s, 'b' || g || '-' || s, t.role, t.kind,
                           t.content, t.tokens, t.tokens_exact, t.status, t.flags,
                           t.message_id, t.model, t.stop_reason, t.stop_sequence,
                           t.usage, t.input_tokens, t.output_tokens,
                           t.cache_creation_input_tokens, t.cache_read_input_tokens,
                           t.request_id, t.response_extra, t.created_at
                    FROM generate_series(%(lo)s::int, %(hi)s::int) g
                    CROSS JOIN generate_series(1, %(n)s::int) s
                    JOIN conversa_turns t
                      ON t.conversation_id = %(tpl)s AND t.seq = 2 - (s %% 2)""",
                    {"n": turns, "lo": lo, "hi": hi - 1, "tpl": template.id},
                )
            done = hi
            if done % (CHUNK * 10) == 0 or done == conversations:
                rate = done * turns / (time.perf_counter() - started)
                print(
                    f"  {name}: {done:,} conversations, {rate:,.0f} turns/s", flush=True
                )
        conn.execute("VACUUM ANALYZE")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        )
        print(
            f"  {name}: loaded in {time.perf_counter() - started:.0f} s, {size.fetchone()[0]}"
        )  # type: ignore[index]
    return url


def drop_database(url: str) -> None:
    """Drop the database *url* names."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_server(SERVER), autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
        )


def measure(url: str, conversations: int, rounds: int, seed: int) -> dict[str, float]:
    """Median ms of an append and a send, each on a random conversation."""
    rng = random.Random(seed)
    store = PostgresStore(url)
    client = Client(api_key="k", transport=Instant())
    appends: list[float] = []
    sends: list[float] = []
    try:
        for i in range(rounds):
            cid = f"b{rng.randrange(conversations)}"
            started = time.perf_counter()
            store.append(cid, [Turn("user", f"one more line {i}")])
            store.append(cid, [Turn("assistant", f"and its answer {i}")])
            appends.append((time.perf_counter() - started) / 2)
            conv = Conversation.load(
                store, f"b{rng.randrange(conversations)}", client=client
            )
            started = time.perf_counter()
            conv.send(f"a new question {i}")
            sends.append(time.perf_counter() - started)
    finally:
        store.close()
    skip = rounds // 10  # warm-up
    return {
        "append": statistics.median(appends[skip:]) * 1000,
        "send": statistics.median(sends[skip:]) * 1000,
    }


def main() -> None:
    """Load, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=100, help="per conversation")
    parser.add_argument("--small", type=int, default=1_000, help="conversations")
    parser.add_argument("--turn-partitions", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    print(f"Command: python benchmarks/big.py {' '.join(sys.argv[1:])}".rstrip())
    urls: list[str] = []
    try:
        print(f"loading small: {args.small:,} x {args.turns}")
        small = make_database(args.small, args.turns, args.turn_partitions)
        urls.append(small)
        print(f"loading big: {args.conversations:,} x {args.turns}")
        big = make_database(args.conversations, args.turns, args.turn_partitions)
        urls.append(big)
        results: dict[str, list[dict[str, float]]] = {"small": [], "big": []}
        for round_ in range(3):  # alternate, so both see the same machine
            results["small"].append(measure(small, args.small, args.rounds, round_))
            results["big"].append(measure(big, args.conversations, args.rounds, round_))
        print()
        print("| operation | small, ms | big, ms | big / small | target |")
        print("|---|---:|---:|---:|---|")
        for op in ("append", "send"):
            s = statistics.median(r[op] for r in results["small"])
            b = statistics.median(r[op] for r in results["big"])
            met = "yes" if b / s <= 1.3 else "**no**"
            print(f"| {op} | {s:.3f} | {b:.3f} | {b / s:.2f}x | ≤ 1.3x: {met} |")
        print()
        print(
            f"small: {args.small:,} x {args.turns} turns; big: "
            f"{args.conversations:,} x {args.turns} = {args.conversations * args.turns:,} "
            f"turns; turn partitions: {args.turn_partitions or 'none'}; medians of 3 "
            f"alternating runs of {args.rounds} random conversations each"
        )
    finally:
        if not args.keep:
            for url in urls:
                drop_database(url)


if __name__ == "__main__":
    main()
