"""Benchmark conversa's stores against a hand-written floor.

For each store (MemoryStore, SQLiteStore, PostgresStore) and N stored turns of about
300 tokens each, time three operations and report medians:

- append one turn;
- read the newest 8,000-token window;
- one whole chat step: `Conversation.send` through the in-process FakeMessagesAPI,
  replaying the newest ~8,000 tokens (the record's window start is moved, untimed,
  before each step so the window stays that size).

The floor does the same statements by hand, with stdlib sqlite3 and raw psycopg at
the store's durability settings (SQLite: WAL, synchronous=NORMAL; PostgreSQL: the
server's defaults, synchronous_commit=on), and POSTs a hand-built body to the same
fake through a bare httpx.Client. So floor = everything but conversa's own work,
and the ratio is what conversa adds. MemoryStore has no database floor; its chat
step is compared with the fake call alone.

Run from the repository root::

    python benchmarks/stores.py                    # N = 10, 1000, 10000
    python benchmarks/stores.py --n 10,1000 --backends memory,sqlite

PostgreSQL comes from CONVERSA_TEST_POSTGRES_URL (default: the local server); each
run uses a fresh schema and drops it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import Client, Conversation
from conversa._core.estimate import estimate_text
from conversa._stores import MemoryStore, PostgresStore, SQLiteStore
from conversa._values.turns import Turn, new_id, utcnow
from conversa.testing import FakeMessagesAPI

MODEL = "claude-sonnet-4-5"
WINDOW = 8000
PG_URL = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_WORDS = [
    "The",
    "order",
    "shipped",
    "on",
    "Tuesday",
    "from",
    "the",
    "regional",
    "warehouse",
    "and",
    "was",
    "scanned",
    "at",
    "the",
    "sorting",
    "center",
    "the",
    "next",
    "morning,",
    "but",
    "the",
    "tracking",
    "page",
    "has",
    "not",
    "changed",
    "since",
    "then.",
    "Could",
    "you",
    "check",
    "whether",
    "the",
    "parcel",
    "is",
    "held",
    "at",
    "customs,",
    "and",
    "if",
    "so,",
    "what",
    "documents",
    "are",
    "needed",
    "to",
    "release",
    "it?",
    "I",
    "would",
    "also",
    "like",
    "to",
    "know",
    "about",
    "the",
    "refund",
    "policy.",
]


def _make_prose(seed: int, tokens: int = 300) -> str:
    words: list[str] = []
    i = seed
    while estimate_text(" ".join(words)) < tokens - 8:
        words.append(_WORDS[i % len(_WORDS)])
        i += 7
    return " ".join(words)


_TEXTS = [_make_prose(i) for i in range(64)]


def prose(seed: int) -> str:
    """Return varied English text of about 300 tokens (by conversa's estimate)."""
    return _TEXTS[seed % len(_TEXTS)]


Op = Callable[[], object]
#: One timed thing: what to time, and an untimed step to run before it (or None).
Side = tuple[Op, Op | None]


def interleaved(sides: list[Side], repeat: int) -> list[float]:
    """Median wall times (ms) of each side, all run in turn, round after round.

    Conversa and its floor, at every N, take turns within each round, so they share
    whatever else the machine is doing: ratios, and N against N, stay meaningful on
    a busy host. The first three rounds warm up and are not counted.
    """
    times: list[list[int]] = [[] for _ in sides]
    for i in range(repeat + 3):
        for k, (fn, prep) in enumerate(sides):
            if prep:
                prep()
            start = time.perf_counter_ns()
            fn()
            if i >= 3:
                times[k].append(time.perf_counter_ns() - start)
        if i == 2:
            gc.collect()
    return [statistics.median(t) / 1e6 for t in times]


# -- the floor: the same statements, by hand --------------------------------------


class Raw:
    """A bare DB-API connection running conversa's statements."""

    def __init__(self, conn: Any, *, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def q(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, params)

    @contextmanager
    def tx(self, *, write: bool) -> Iterator[None]:
        if self.postgres:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def record(self, cid: str, *, lock: bool = False) -> Any:
        tail = " FOR UPDATE" if lock and self.postgres else ""
        return self.q(
            "SELECT * FROM conversa_conversations WHERE id = ?" + tail, (cid,)
        ).fetchone()

    def append(
        self,
        cid: str,
        role: str,
        content: list[dict[str, Any]],
        tokens: int,
        *,
        exact: tuple[int, ...] = (),
    ) -> int:
        turn_id = new_id()
        with self.tx(write=True):
            last = self.record(cid, lock=True)[8]
            if exact:  # bookkeeping of stored turns, in the same transaction
                self.exact_counts(cid, exact)
            self.q(
                "SELECT * FROM conversa_turns WHERE conversation_id = ? AND turn_id IN (?)",
                (cid, turn_id),
            ).fetchall()
            now = (
                utcnow()
                if self.postgres
                else utcnow().replace(tzinfo=None).isoformat(" ")
            )
            self.q(
                "INSERT INTO conversa_turns (conversation_id, seq, turn_id, role, kind, "
                "content, tokens, tokens_exact, status, flags, created_at) "
                "VALUES (?, ?, ?, ?, 'message', ?, ?, ?, 'complete', '{}', ?)",
                (
                    cid,
                    last + 1,
                    turn_id,
                    role,
                    json.dumps(content, separators=(",", ":")),
                    tokens,
                    False,
                    now,
                ),
            )
            self.q(
                "UPDATE conversa_conversations SET last_seq = ?, updated_at = ? WHERE id = ?",
                (last + 1, now, cid),
            )
        return last + 1

    def exact_counts(self, cid: str, seqs: tuple[int, ...]) -> None:
        """Mark turns' counts exact, as a send does with what the usage taught."""
        lock = " FOR UPDATE" if self.postgres else ""
        marks = ", ".join("?" for _ in seqs)
        self.q(
            "SELECT seq, tokens, tokens_exact, status, flags FROM conversa_turns "
            f"WHERE conversation_id = ? AND seq IN ({marks}){lock}",
            (cid, *seqs),
        ).fetchall()
        update = (
            "UPDATE conversa_turns SET tokens = ?, tokens_exact = ?, status = ?, "
            "flags = ? WHERE conversation_id = ? AND seq = ?"
        )
        if self.postgres:
            update = update.replace("?", "%s")
        self.conn.cursor().executemany(
            update, [(300, True, "complete", "{}", cid, s) for s in seqs]
        )

    def window(self, cid: str, budget: int) -> list[Any]:
        with self.tx(write=False):
            self.record(cid)
            total, first, newest = 0, None, None
            for seq, tokens in self.q(
                "SELECT seq, tokens FROM conversa_turns WHERE conversation_id = ? "
                "AND seq >= 1 ORDER BY seq DESC LIMIT 64",
                (cid,),
            ).fetchall():
                if total + tokens > budget:
                    break
                total += tokens
                first, newest = seq, newest or seq
            return self.q(
                "SELECT * FROM conversa_turns WHERE conversation_id = ? AND seq >= ? "
                "AND seq <= ? ORDER BY seq",
                (cid, first, newest),
            ).fetchall()

    def chat_step(self, cid: str, http: httpx.Client, text: str) -> None:
        now = (
            "EXTRACT(EPOCH FROM clock_timestamp())"
            if self.postgres
            else "(julianday('now') - 2440587.5) * 86400.0"
        )
        holder = new_id()
        with self.tx(write=True):
            self.record(cid)
            self.q(  # the lease, on the record's row (migration 5)
                f"UPDATE conversa_conversations SET lease_holder = ?, "
                f"lease_expires = {now} + 30 WHERE id = ? AND (lease_expires IS NULL "
                f"OR lease_expires < {now} OR lease_holder = ?)",
                (holder, cid, holder),
            )
        with self.tx(write=False):
            record = self.record(cid)
        with self.tx(write=False):
            self.record(cid)
            rows = self.q(
                "SELECT * FROM conversa_turns WHERE conversation_id = ? AND seq >= ? ORDER BY seq",
                (cid, max(record[7], 1)),
            ).fetchall()
        with self.tx(write=False):  # the pinned first exchange
            self.record(cid)
            head = self.q(
                "SELECT * FROM conversa_turns WHERE conversation_id = ? AND seq >= ? "
                "AND seq < ? ORDER BY seq",
                (cid, 1, 9),
            ).fetchall()
        pinned = [{"role": row[3], "content": json.loads(row[5])} for row in head[:2]]
        messages = [{"role": row[3], "content": json.loads(row[5])} for row in rows]
        user = [{"type": "text", "text": text}]
        messages.append({"role": "user", "content": user})
        user_seq = self.append(cid, "user", user, 300)
        body = {"model": MODEL, "max_tokens": 4096, "messages": [*pinned, *messages]}
        reply = http.post("/v1/messages", json=body).json()
        # The reply, and the exact count its usage gave the user turn: one transaction.
        self.append(
            cid,
            "assistant",
            reply["content"],
            reply["usage"]["output_tokens"],
            exact=(user_seq,),
        )
        with self.tx(write=True):
            self.q(
                "UPDATE conversa_conversations SET lease_holder = NULL, "
                "lease_expires = NULL WHERE id = ? AND lease_holder = ?",
                (cid, holder),
            )


# -- one backend --------------------------------------------------------------------


def fake_http() -> httpx.Client:
    return httpx.Client(
        transport=FakeMessagesAPI(),
        base_url="https://api.anthropic.com",
        headers={"x-api-key": "k", "anthropic-version": "2026-10-21"},
    )


def seed(store: Any, cid: str, n: int) -> None:
    batch = []
    for i in range(n):
        batch.append(Turn("user" if i % 2 == 0 else "assistant", prose(i)))
        if len(batch) == 500 or i == n - 1:
            store.append(cid, batch)
            batch = []


def window_start(store: Any, cid: str) -> int:
    """The first user turn of the newest 8,000-token window."""
    window = store.read_newest(cid, budget=WINDOW)
    return next(t.seq for t in window if t.role == "user")


class Case:
    """One store holding one conversation of N turns, with its floor."""

    def __init__(self, n: int, store: Any, raw: Raw | None) -> None:
        self.store, self.raw = store, raw
        client = Client(api_key="k", transport=FakeMessagesAPI())
        self.conv = Conversation.create(store, client=client, model=MODEL)
        seed(store, self.conv.id, n)
        if raw is not None:
            # Fresh statistics, as autovacuum has them a minute after a bulk load:
            # without them PostgreSQL plans a 10,000-row table as if it were empty.
            raw.q("ANALYZE")
        self.http = fake_http()
        self.step = 0
        self.window: list[dict[str, Any]] = []

    def ops(self) -> dict[str, tuple[Side, Side | None]]:
        """Each operation: (conversa's side, the floor's side or None)."""
        store, raw, cid = self.store, self.raw, self.conv.id
        text = prose(1)
        content = [{"type": "text", "text": text}]
        return {
            "read newest 8k window": (
                (lambda: store.read_newest(cid, budget=WINDOW), None),
                ((lambda: raw.window(cid, WINDOW)), None) if raw else None,
            ),
            "chat step (send)": ((self.send, self.move), (self.raw_step, self.fetch)),
            "append one turn": (
                (lambda: store.append(cid, [Turn("user", text)]), None),
                ((lambda: raw.append(cid, "user", content, 300)), None)
                if raw
                else None,
            ),
        }

    def move(self) -> None:
        """Keep the replayed window at the newest ~8,000 tokens (untimed)."""
        start = window_start(self.store, self.conv.id)
        self.store.update(self.conv.id, {"window_start": start})

    def fetch(self) -> None:
        """Move the window; for MemoryStore, also read it for the floor's body."""
        self.move()
        if self.raw is None:  # MemoryStore: the floor is the fake call alone
            record = self.store.get(self.conv.id)
            start = max(record.window_start, 1)
            pinned = self.store.read(self.conv.id, stop=3) if start > 2 else ()
            turns = (*pinned, *self.store.read(self.conv.id, start=start))
            self.window = [
                {"role": t.role, "content": json.loads(t.content_json())} for t in turns
            ]

    def send(self) -> None:
        self.step += 1
        self.conv.send(prose(self.step))

    def raw_step(self) -> None:
        self.step += 1
        if self.raw is not None:
            self.raw.chat_step(self.conv.id, self.http, prose(self.step))
            return
        user = {"role": "user", "content": [{"type": "text", "text": prose(self.step)}]}
        body = {"model": MODEL, "max_tokens": 4096, "messages": [*self.window, user]}
        self.http.post("/v1/messages", json=body).json()


Result = dict[tuple[str, int], dict[str, tuple[float, float | None]]]


def run(backend: str, sizes: list[int], repeat: int, workdir: Path) -> Result:
    """Measure every operation on every N of *backend*, interleaved."""
    results: Result = {}
    with ExitStack() as stack:
        cases = {}
        for n in sizes:
            store, raw = stack.enter_context(open_backend(backend, workdir))
            cases[n] = Case(n, store, raw)
        for op in ("read newest 8k window", "chat step (send)", "append one turn"):
            sides: list[Side] = []
            for case in cases.values():
                ours, floor = case.ops()[op]
                sides.append(ours)
                if floor is not None:
                    sides.append(floor)
            rounds = repeat // 2 if op.startswith("chat") else repeat
            medians = iter(interleaved(sides, max(10, rounds)))
            for n, case in cases.items():
                has_floor = case.ops()[op][1] is not None
                ours_ms = next(medians)
                results.setdefault((backend, n), {})[op] = (
                    ours_ms,
                    next(medians) if has_floor else None,
                )
        for case in cases.values():
            case.http.close()
    return results


@contextmanager
def open_backend(backend: str, workdir: Path) -> Iterator[tuple[Any, Raw | None]]:
    if backend == "memory":
        yield MemoryStore(), None
        return
    if backend == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        store = SQLiteStore(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "foreign_keys=ON",
        ):
            conn.execute(f"PRAGMA {pragma}")
        try:
            yield store, Raw(conn, postgres=False)
        finally:
            conn.close()
            store.close()
        return
    import psycopg

    schema = f"conversa_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
    store = PostgresStore(url)
    conn = psycopg.connect(url, autocommit=True)
    try:
        yield store, Raw(conn, postgres=True)
    finally:
        conn.close()
        store.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", default="10,1000,10000", help="stored turns, comma-separated"
    )
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=100, help="timed runs per cell")
    args = parser.parse_args()
    sizes = [int(x) for x in args.n.split(",")]
    results: Result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            results.update(run(backend, sizes, args.repeat, Path(tmp)))
            sys.stderr.write(f"done: {backend}\n")
    print("| store | N | operation | conversa (ms) | floor (ms) | ratio |")
    print("|---|---:|---|---:|---:|---:|")
    for (backend, n), ops in results.items():
        for op, (ours, floor) in ops.items():
            f = f"{floor:.3f}" if floor is not None else "—"
            r = f"{ours / floor:.2f}x" if floor else "—"
            print(f"| {backend} | {n:,} | {op} | {ours:.3f} | {f} | {r} |")
    print()
    print("Flat in N (chat step, conversa): N = 10,000 vs N = 1,000")
    for backend in args.backends.split(","):
        if (backend, 1000) in results and (backend, 10000) in results:
            a = results[backend, 1000]["chat step (send)"][0]
            b = results[backend, 10000]["chat step (send)"][0]
            print(f"- {backend}: {b / a:.2f}x")


if __name__ == "__main__":
    main()
