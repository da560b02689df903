"""What encryption at rest costs a store call: plaintext against `encryption=`.

The measurement behind the README's "Encryption at rest" cost paragraph. For each
backend it opens two stores on fresh databases, one plaintext and one encrypted
(one fixed test key), gives each a conversation of 100 turns of 900 characters,
then alternates rounds between them, timing `store.append` of one turn and
`store.read_window(limit=26)` (a send's window read). It prints the median of each
in ms and the ratio. Nothing here asserts a time.

    python benchmarks/encryption.py [--rounds 15] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import (
    ConversationRecord,
    Encryption,
    PostgresStore,
    SQLiteStore,
    Turn,
)

SERVER = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
KEYS = Encryption({"bench": bytes(range(32))}, current="bench")
TEXT = (
    "the order shipped on Tuesday from the regional warehouse and was scanned " * 13
)[:900]
CALLS = 10


@contextmanager
def databases(backend: str) -> Iterator[Callable[[Encryption | None], Any]]:
    """Yield a maker of stores, each on a fresh database of *backend*."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as workdir:
            yield lambda keys: SQLiteStore(
                Path(workdir) / f"{uuid.uuid4().hex}.db", encryption=keys
            )
        return
    import psycopg

    schemas: list[str] = []

    def make(keys: Encryption | None) -> PostgresStore:
        schema = f"conversa_enc_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        sep = "&" if "?" in SERVER else "?"
        options = quote(f"-csearch_path={schema}", safe="")
        return PostgresStore(f"{SERVER}{sep}options={options}", encryption=keys)

    with psycopg.connect(SERVER, autocommit=True) as admin:
        try:
            yield make
        finally:
            for schema in schemas:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(backend: str, rounds: int) -> None:
    """Print the medians and ratios for *backend*."""
    with databases(backend) as make:
        stores = {"plain": make(None), "encrypted": make(KEYS)}
        times: dict[tuple[str, str], list[float]] = {}
        for store in stores.values():
            store.create(
                ConversationRecord(id="c", model="m", system="A support agent.")
            )
            store.append(
                "c",
                [
                    Turn("user" if i % 2 == 0 else "assistant", f"{i} {TEXT}")
                    for i in range(100)
                ],
            )
        for _ in range(rounds):
            for name, store in stores.items():
                for _ in range(CALLS):
                    started = time.perf_counter()
                    store.append("c", [Turn("user", f"again {TEXT}")])
                    times.setdefault((name, "append"), []).append(
                        time.perf_counter() - started
                    )
                    started = time.perf_counter()
                    store.read_window("c", limit=26)
                    times.setdefault((name, "read_window"), []).append(
                        time.perf_counter() - started
                    )
        for store in stores.values():
            store.close()
    for op in ("append", "read_window"):
        plain = statistics.median(times["plain", op]) * 1000
        sealed = statistics.median(times["encrypted", op]) * 1000
        print(
            f"| {backend} | `store.{op}` | {plain:.3f} | {sealed:.3f} | "
            f"{sealed / plain:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    print("| backend | call | plaintext, ms | encrypted, ms | ratio |")
    print("|---|---|---:|---:|---:|")
    for backend in args.backends.split(","):
        measure(backend, args.rounds)
    print(f"\n(load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
