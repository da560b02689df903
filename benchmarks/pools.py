"""PostgresStore's async twin: worker threads on the sync pool against an async engine.

The measurement behind running the async methods in worker threads on the store's
one pool (README, "Pooling and PgBouncer"). Each round opens a store two ways,
alternating, on a fresh schema of the local server:

- **thread**: the store as shipped (`ThreadRunner` over the sync engine's pool);
- **async**: the same store with its async runner swapped for SQLAlchemy's async
  engine over psycopg's async driver (`AsyncRunner`, the greenlet bridge), as
  conversa did before.

and times `aappend` + `aread_window` (one step) sequentially (median ms, after 20
warm-up steps) and from 8 concurrent tasks on their own conversations (steps/s).
Nothing here asserts a time.

    python benchmarks/pools.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import ConversationRecord, PostgresStore, Turn
from conversa._stores.sql.postgres import psycopg_url
from conversa._stores.sql.runners import AsyncRunner

SERVER = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def sequential(store: PostgresStore, steps: int = 300) -> float:
    """Median ms of one append + window read, one after another."""
    record = await store.acreate(ConversationRecord(model="m"))
    times = []
    for i in range(steps):
        started = time.perf_counter()
        await store.aappend(record.id, [Turn("user", f"hi {i}")])
        await store.aread_window(record.id, limit=26)
        times.append(time.perf_counter() - started)
    return statistics.median(times[20:]) * 1000


async def concurrent(store: PostgresStore, tasks: int = 8, steps: int = 60) -> float:
    """Steps per second from *tasks* tasks, each on its own conversation."""
    records = [await store.acreate(ConversationRecord(model="m")) for _ in range(tasks)]

    async def work(record: ConversationRecord) -> None:
        for i in range(steps):
            await store.aappend(record.id, [Turn("user", f"hi {i}")])
            await store.aread_window(record.id, limit=26)

    started = time.perf_counter()
    await asyncio.gather(*(work(r) for r in records))
    return tasks * steps / (time.perf_counter() - started)


async def run(url: str, rounds: int) -> None:
    """Alternate the two ways *rounds* times and print the medians."""
    results: dict[str, list[tuple[float, float]]] = {"thread": [], "async": []}
    for _ in range(rounds):
        for way in results:
            store = PostgresStore(url)
            engine = None
            if way == "async":
                engine = create_async_engine(psycopg_url(url), pool_pre_ping=True)
                store._arunner = AsyncRunner(engine)  # noqa: SLF001 - the old way
            results[way].append((await sequential(store), await concurrent(store)))
            await store.aclose()
            if engine is not None:
                await engine.dispose()
    print("| async twin | step, ms (median of round medians) | 8 tasks, steps/s |")
    print("|---|---:|---:|")
    for way, rows in results.items():
        step = statistics.median(r[0] for r in rows)
        rate = statistics.median(r[1] for r in rows)
        print(f"| {way} | {step:.2f} | {rate:.0f} |")


def main() -> None:
    """Make a schema, measure, drop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    schema = f"conversa_pools_{uuid.uuid4().hex[:8]}"
    server = SERVER.split("?")[0]
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        asyncio.run(run(f"{server}?options=-csearch_path%3D{schema}", args.rounds))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
