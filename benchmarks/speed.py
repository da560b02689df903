"""Speed of conversa's store path against a raw-driver floor and its peers, as ratios.

One run measures, per backend (SQLite, PostgreSQL) and per history length N:

- **the floor**: the minimal statements for each operation with raw sqlite3 / raw
  psycopg, at conversa's durability (SQLite WAL + synchronous=NORMAL; PostgreSQL's
  defaults, synchronous_commit=on), on tables of its own shaped like conversa's
  (keys lead with the conversation id, content is JSON text). Append = one INSERT of
  the turn and one UPDATE of the conversation's last seq, in one transaction; window
  = one SELECT of the newest 26 turns (down the (conversation_id, seq) key); chat
  step = window + two appends (the user turn, then the reply) around an instant
  model (a constant reply: no HTTP), the request body joined from the stored JSON;
- **conversa**: `Conversation.add` (warm: the conversation was sent before; cold:
  built with `add_turns` in bulk and never sent), `store.append`, `read_newest`,
  `request()`, `send()` through a `Client` whose transport is an instant model (a
  trivial httpx transport returning a canned Messages API reply), `turns()`, and 8
  threads sending to their own conversations. Its budget is fixed at 8,000 tokens,
  so its window is about the floor's 26 turns at every N;
- **the peers** (the `bench` extra; each is skipped, and said so, when missing): on
  SQLite, OpenAI Agents `SQLiteSession` and LangChain `SQLChatMessageHistory`; on
  PostgreSQL, langchain-postgres `PostgresChatMessageHistory` and OpenAI Agents
  `SQLAlchemySession` (asyncpg), doing the same operations through their own APIs
  (the Agents window is `get_items(limit=26)`; LangChain's API has no limit, so its
  window is the whole history). Their chat step is measured twice: through the
  peer's own runtime around an instant model (Agents: `Runner.run(agent, text,
  session=...)` with an `agents` Model returning a constant message, tracing off,
  at its default history and again bounded to 26 items; LangChain:
  `RunnableWithMessageHistory` around `GenericFakeChatModel`), which is what the
  chat-step and thread targets compare against, and as session operations alone
  (window + two appends, no model). Each runtime step is checked, untimed, to store
  the user turn and the reply (items counted before and after).

All cells of one operation (every library, every N) run once a round, in a seeded
random order, so they share whatever else the machine is doing and no cell always
follows the same one; medians after 3 warm-up rounds, with the harness's own heap
frozen out of the garbage collector. The headline is ratios of medians; the raw
medians follow in a smaller table. Nothing here asserts a time.

Run from the repository root (``pip install -e '.[postgres,bench]'`` first)::

    python benchmarks/speed.py                      # sqlite,postgres; N = 1000,10000
    python benchmarks/speed.py --quick              # a smoke run, well under a minute
    python benchmarks/speed.py --profile            # + cProfile of conversa's add/send
    python benchmarks/speed.py --encryption         # conversa's stores encrypted at rest
    python benchmarks/speed.py --tracing            # conversa's spans on (see below)

With ``--encryption`` conversa's stores seal turn content, system prompts and
request parameters (``Encryption`` with one fixed test key, metadata plain); the
floor and the peers store plaintext as always, so the ratios show what encryption
at rest costs conversa.

With ``--tracing`` an OpenTelemetry SDK ``TracerProvider`` is set as the global one,
its spans handed to a ``BatchSpanProcessor`` whose exporter discards them (what a
production setup pays, less the network): every conversa client then makes its
``chat`` span a call. Without it no provider is set, as in an application that does
not trace: conversa's spans are OpenTelemetry's no-op ones (or none at all without
the ``otel`` extra).

PostgreSQL comes from CONVERSA_TEST_POSTGRES_URL (default: the local server); the
run uses a fresh schema and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import importlib.metadata
import io
import itertools
import json
import os
import platform
import pstats
import random
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import (
    BudgetConfig,
    Client,
    Conversation,
    Encryption,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
    Turn,
)
from conversa.testing import FakeMessagesAPI

ROOT = Path(__file__).resolve().parents[1]

MODEL = "claude-sonnet-4-5"
SEED = 20261204
#: conversa's input budget in these runs (`BudgetConfig(fixed=...)`), so its window
#: is the same size at every N ...
BUDGET = 8_000
#: ... and about this many characters a turn, ~300 tokens by conversa's estimate ...
TURN_CHARS = 900
#: ... so the floor and the peers read this many newest turns as their window.
WINDOW_TURNS = 26
THREADS = 8
#: Keyword arguments of conversa's SQL stores (`--encryption` adds the keys).
STORE_OPTIONS: dict[str, Any] = {}
#: `--encryption`'s key: fixed, for benchmarks only.
TEST_KEY = bytes(range(32))
PG_URL = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_PROSE = (
    "the order shipped on Tuesday from regional warehouse and was scanned at sorting "
    "center next morning but tracking page has not changed since then could you "
    "check whether parcel is held customs if so what documents are needed to release "
    "it I would also like know about refund policy thanks for your help with this "
    "invoice account number delivery address"
)
_WORDS = _PROSE.split()


def _texts(count: int = 64) -> list[str]:
    rng = random.Random(SEED)
    texts = []
    for _ in range(count):
        words: list[str] = []
        size = 0
        while size < TURN_CHARS:
            words.append(rng.choice(_WORDS))
            size += len(words[-1]) + 1
        texts.append(" ".join(words) + ".")
    return texts


TEXTS = _texts()
REPLY_TEXT = TEXTS[-1]


def text(k: int) -> str:
    """Return the k-th fixed text of about TURN_CHARS characters."""
    return TEXTS[k % (len(TEXTS) - 1)]


def role(k: int) -> str:
    return "user" if k % 2 == 0 else "assistant"


_COUNTERS: dict[object, Iterator[int]] = {}


def nxt(key: object = None) -> int:
    """The next turn number of conversation *key*: its appends alternate roles.

    Every history is built of (user, assistant) pairs from turn 0, so a conversation's
    appends go on with turn 1000, a user turn, then an assistant turn, and so on.
    """
    counter = _COUNTERS.get(key)
    if counter is None:
        counter = _COUNTERS[key] = itertools.count(1000)
    return next(counter)


def blocks_json(value: str) -> str:
    return json.dumps([{"type": "text", "text": value}], separators=(",", ":"))


# -- the instant model ---------------------------------------------------------------

#: A Messages API reply, shaped exactly as the API's (checked once against the fake,
#: outside the timings). `input_tokens` is a quarter of the request's bytes, so
#: conversa's count calibration runs as it would on a real reply.
CANNED_REPLY: dict[str, Any] = {
    "id": "msg_ID",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": REPLY_TEXT}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "stop_details": None,
    "container": None,
    "usage": {
        "input_tokens": 987654321,
        "output_tokens": 300,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 0,
        },
        "server_tool_use": None,
        "service_tier": "standard",
        "inference_geo": "global",
        "speed": "standard",
        "output_tokens_details": {"thinking_tokens": 0},
    },
}
_TEMPLATE = (
    json.dumps(CANNED_REPLY)
    .replace("%", "%%")
    .replace('"msg_ID"', '"msg_bench%012d"')
    .replace("987654321", "%d")
    .encode()
)
_HEADERS = {"content-type": "application/json", "request-id": "req_bench"}


class InstantModel(httpx.BaseTransport):
    """A stand-in for the Messages API that answers at once: a canned reply.

    No validation and no tokenizing: that is not the model's cost. (conversa's
    `FakeMessagesAPI` does both; it is used once, untimed, to check this reply.)
    """

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.last: httpx.Request | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.last = request
        body = _TEMPLATE % (next(self._ids), len(request.content) // 4)
        return httpx.Response(200, headers=_HEADERS, content=body)


def check_instant_model() -> None:
    """Check, untimed, that the canned reply and conversa's request are well-formed.

    The canned reply must have the fields the fake API's reply has (and the same
    usage fields), and the body conversa sends to the instant model must be one the
    fake (which validates as the API does) accepts.
    """
    fake = FakeMessagesAPI()
    with Client(api_key="bench", transport=fake) as client:
        Conversation.create(MemoryStore(), client=client, model=MODEL).send("Hi")
    fake_reply = fake.requests[-1].response_json
    instant = InstantModel()
    with Client(api_key="bench", transport=instant) as client:
        conv = Conversation.create(MemoryStore(), client=client, model=MODEL)
        conv.add_turns([(role(k), text(k)) for k in range(6)])
        stored = conv.send(text(7))
    canned = json.loads(_TEMPLATE % (1, 100))
    problems = []
    if set(fake_reply) != set(canned):
        problems.append(f"top-level keys {sorted(set(fake_reply) ^ set(canned))}")
    if set(fake_reply["usage"]) != set(canned["usage"]):
        problems.append(
            f"usage keys {sorted(set(fake_reply['usage']) ^ set(canned['usage']))}"
        )
    if stored.text != REPLY_TEXT:
        problems.append("conversa did not store the canned reply's text")
    sent = instant.last
    if sent is None:
        problems.append("conversa sent nothing to the instant model")
    else:
        with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
            answer = http.post(
                sent.url.path, content=sent.content, headers=sent.headers
            )
        if answer.status_code != 200:
            problems.append(f"the fake refused conversa's request: {answer.text}")
    if problems:
        msg = "the instant model's canned reply is not well-formed: " + "; ".join(
            problems
        )
        raise RuntimeError(msg)


# -- timing --------------------------------------------------------------------------

Op = Callable[[], object]


@dataclass
class Cell:
    """One timed thing: an operation of one library at one N."""

    op: str
    who: str
    n: int
    fn: Op
    prep: Op | None = None
    times: list[int] = field(default_factory=list)
    error: str | None = None
    calls: int = 0  # completed calls, warm-up included

    def median_ms(self) -> float | None:
        if self.error is not None or not self.times:
            return None
        return statistics.median(self.times) / 1e6


@contextlib.contextmanager
def quiet_heap() -> Iterator[None]:
    """Keep the harness's own heap out of the timings.

    Everything alive before the timings (the loaded histories, every library's
    modules) is frozen out of the garbage collector, so a full collection costs what
    the timed code itself left behind, and lands in whichever cell makes it, not in
    whichever cell happens to cross the threshold with a large heap behind it.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.collect()


def run_cells(cells: list[Cell], rounds: int, cap: float, warmup: int = 3) -> None:
    """Run every cell once a round, in a seeded random order; keep the times after *warmup*.

    Once *cap* seconds have passed (and at least 5 rounds are counted), the slow
    cells stop: those whose median alone would take the cap over *rounds* rounds
    (a peer reading a 10,000-turn history every step). The others go on to
    *rounds*, still interleaved, so a cheap cell's median (the floor's, conversa's)
    never rests on a handful of rounds, one disturbed call among them; all stop
    at three times the cap. A cell that raises is dropped (its error is
    reported), the others go on.
    """
    start = time.perf_counter()
    rng = random.Random(SEED)
    order = list(cells)
    slow = cap / rounds * 1e9  # ns
    with quiet_heap():
        for i in range(rounds + warmup):
            rng.shuffle(order)  # no cell always follows the same one
            for cell in order:
                if cell.error is None:
                    _time_cell(cell, counted=i >= warmup)
            spent = time.perf_counter() - start
            if i >= warmup + 4 and spent > cap:
                order = [
                    c for c in order if c.times and statistics.median(c.times) < slow
                ]
                if not order or spent > 3 * cap:
                    break


def _time_cell(cell: Cell, *, counted: bool) -> None:
    try:
        if cell.prep is not None:
            cell.prep()
        t0 = time.perf_counter_ns()
        cell.fn()
        elapsed = time.perf_counter_ns() - t0
        cell.calls += 1
    except Exception as exc:  # a peer or a cell broke: report it, go on
        cell.error = f"{type(exc).__name__}: {exc}"[:300]
        sys.stderr.write(f"  ! {cell.who} {cell.op} N={cell.n}: {cell.error}\n")
        return
    if counted:
        cell.times.append(elapsed)


@dataclass
class Throughput:
    """Steps per second of THREADS threads, each on its own conversation."""

    who: str
    rates: list[float] = field(default_factory=list)
    errors: int = 0
    error: str | None = None
    kind: str = ""  # for a peer: "session ops" or "runtime"

    def median(self) -> float | None:
        return statistics.median(self.rates) if self.rates and not self.error else None


def _thread(
    i: int,
    make_worker: Callable[[int], Callable[[int], object]],
    steps: int,
    gates: tuple[threading.Barrier, threading.Barrier],
    errors: list[int],
    failures: list[str],
) -> None:
    step: Callable[[int], object] | None = None
    try:
        step = make_worker(i)
        step(0)  # warm up, untimed
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}"[:300])
        step = None
    gates[0].wait()
    for k in range(1, steps + 1 if step is not None else 1):
        try:
            step(k)  # type: ignore[misc]
        except Exception:  # noqa: PERF203 (counted, and the thread goes on)
            errors[i] += 1
    gates[1].wait()
    if isinstance(step, Worker):
        step.close()


def run_threads(
    who: str,
    make_worker: Callable[[int], Callable[[int], object]],
    steps: int,
    reps: int,
    kind: str = "",
) -> Throughput:
    """Time THREADS threads doing *steps* steps each; *reps* times.

    `make_worker(i)` runs in thread i and returns its step function (so event loops,
    connections and sessions belong to the thread that uses them).
    """
    result = Throughput(who, kind=kind)
    with quiet_heap():
        for _ in range(reps):
            rate = _thread_run(who, make_worker, steps, result)
            if rate is None:
                break
            result.rates.append(rate)
    return result


def _thread_run(
    who: str,
    make_worker: Callable[[int], Callable[[int], object]],
    steps: int,
    result: Throughput,
) -> float | None:
    """One run of THREADS threads: steps/s, or None when a thread could not start."""
    gates = (threading.Barrier(THREADS + 1), threading.Barrier(THREADS + 1))
    errors = [0] * THREADS
    failures: list[str] = []
    threads = [
        threading.Thread(
            target=_thread,
            args=(i, make_worker, steps, gates, errors, failures),
            daemon=True,
        )
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    gates[0].wait()
    t0 = time.perf_counter()
    gates[1].wait()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join()
    if failures:
        result.error = failures[0]
        sys.stderr.write(f"  ! {who} threads: {result.error}\n")
        return None
    result.errors += sum(errors)
    return THREADS * steps / elapsed


class Worker:
    """A thread's step function with something to close afterwards."""

    def __init__(self, step: Callable[[int], object], close: Op) -> None:
        self._step, self._close = step, close

    def __call__(self, k: int) -> object:
        return self._step(k)

    def close(self) -> None:
        self._close()


# -- the floor -----------------------------------------------------------------------

#: Shaped like conversa's tables: keys lead with the conversation id, content is the
#: blocks' JSON text, a timestamp per row (timestamptz on PostgreSQL, text on SQLite).
FLOOR_DDL = (
    "CREATE TABLE floor_conversations (id TEXT PRIMARY KEY, "
    "last_seq INTEGER NOT NULL, updated_at {time} NOT NULL)",
    "CREATE TABLE floor_turns (conversation_id TEXT NOT NULL "
    "REFERENCES floor_conversations (id), seq INTEGER NOT NULL, turn_id TEXT NOT NULL, "
    "role TEXT NOT NULL, content TEXT NOT NULL, tokens INTEGER NOT NULL, "
    "created_at {time} NOT NULL, PRIMARY KEY (conversation_id, seq))",
)


class Floor:
    """The minimal statements for each operation, on a bare DB-API connection."""

    def __init__(self, connect: Callable[[], Any], *, postgres: bool) -> None:
        self.connect, self.postgres = connect, postgres
        self.conn = connect()
        self._ids = itertools.count(1)

    def q(self, conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self.postgres:
            sql = sql.replace("?", "%s")
        return conn.execute(sql, params)

    @contextlib.contextmanager
    def tx(self, conn: Any) -> Iterator[None]:
        if self.postgres:
            with conn.transaction():
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def create_tables(self) -> None:
        with self.tx(self.conn):
            for ddl in FLOOR_DDL:
                self.q(
                    self.conn,
                    ddl.format(time="TIMESTAMPTZ" if self.postgres else "TEXT"),
                )

    def new_id(self) -> str:
        return f"t{next(self._ids):012d}"

    def seed(self, n: int) -> str:
        cid = f"floor-{n}-{self.new_id()}"
        rows = [
            (cid, k + 1, self.new_id(), role(k), blocks_json(text(k)), 300, "now")
            for k in range(n)
        ]
        with self.tx(self.conn):
            self.q(
                self.conn,
                "INSERT INTO floor_conversations (id, last_seq, updated_at) "
                "VALUES (?, ?, 'now')",
                (cid, n),
            )
            sql = (
                "INSERT INTO floor_turns (conversation_id, seq, turn_id, role, content, "
                "tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            if self.postgres:
                sql = sql.replace("?", "%s")
            self.conn.cursor().executemany(sql, rows)
        return cid

    def append(self, conn: Any, cid: str, who: str, content: str) -> None:
        """One INSERT of the turn, one UPDATE of the last seq: one transaction."""
        with self.tx(conn):
            (seq,) = self.q(
                conn,
                "UPDATE floor_conversations SET last_seq = last_seq + 1, "
                "updated_at = CURRENT_TIMESTAMP WHERE id = ? RETURNING last_seq",
                (cid,),
            ).fetchone()
            self.q(
                conn,
                "INSERT INTO floor_turns (conversation_id, seq, turn_id, role, content, "
                "tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP)",
                (cid, seq, self.new_id(), who, content, 300),
            )

    def append_next(self, conn: Any, cid: str) -> None:
        k = nxt(cid)
        self.append(conn, cid, role(k), blocks_json(text(k)))

    def window(self, conn: Any, cid: str) -> list[Any]:
        """One SELECT of the newest WINDOW_TURNS turns (the key's index, backwards)."""
        rows: list[Any] = self.q(
            conn,
            "SELECT seq, role, content FROM floor_turns WHERE conversation_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            (cid, WINDOW_TURNS),
        ).fetchall()
        rows.reverse()
        return rows

    def request(self, conn: Any, cid: str) -> bytes:
        """The window, and the request body built from the stored JSON text."""
        return body(self.window(conn, cid), blocks_json(text(1)))

    def step(self, conn: Any, cid: str) -> None:
        """Window + the user turn + (instant model) + the reply."""
        user = blocks_json(text(nxt()))
        body(self.window(conn, cid), user)
        self.append(conn, cid, "user", user)
        reply = CANNED_REPLY  # the instant model
        self.append(
            conn,
            cid,
            "assistant",
            json.dumps(reply["content"], separators=(",", ":")),
        )

    def load(self, conn: Any, cid: str) -> list[Any]:
        rows: list[Any] = self.q(
            conn,
            "SELECT seq, role, content FROM floor_turns WHERE conversation_id = ? "
            "ORDER BY seq",
            (cid,),
        ).fetchall()
        return rows

    def worker(self, cid: str) -> Worker:
        conn = self.connect()
        return Worker(lambda _k: self.step(conn, cid), conn.close)

    def close(self) -> None:
        self.conn.close()


def body(rows: list[Any], user: str) -> bytes:
    """A Messages API body from stored JSON content, without decoding it."""
    messages = [f'{{"role":"{r}","content":{c}}}' for _, r, c in rows]
    messages.append(f'{{"role":"user","content":{user}}}')
    return (
        f'{{"model":"{MODEL}","max_tokens":4096,"messages":[{",".join(messages)}]}}'
    ).encode()


# -- conversa ------------------------------------------------------------------------


class Conversa:
    """conversa's side: conversations built with add_turns, sent through the instant model."""

    def __init__(self, store: Any, cold_store: Any) -> None:
        self.store, self.cold_store = store, cold_store
        self.client = Client(api_key="bench", transport=InstantModel())

    def build(self, store: Any, n: int, *, sent: bool) -> Conversation:
        conv = Conversation.create(
            store, client=self.client, model=MODEL, budget=BudgetConfig(fixed=BUDGET)
        )
        for start in range(0, n, 1000):
            conv.add_turns(
                [(role(k), text(k)) for k in range(start, min(n, start + 1000))]
            )
        if sent:
            conv.send(text(1))
        return conv

    def fork(self, store: Any, conv: Conversation) -> Conversation:
        """A copy of *conv* (all its turns, sent as it was) under a new id."""
        record = store.fork(conv.id, store.get(conv.id).last_seq)
        return Conversation.load(store, record.id, client=self.client)

    def close(self) -> None:
        self.client.close()


def add_next(conv: Conversation) -> None:
    k = nxt(conv.id)
    conv.add(role(k), text(k))  # type: ignore[arg-type]


def store_append(store: Any, conv: Conversation) -> None:
    k = nxt(conv.id)
    store.append(conv.id, [Turn(role(k), text(k))])  # type: ignore[arg-type]


def read_newest(store: Any, conv: Conversation) -> None:
    store.read_newest(conv.id, budget=BUDGET)


def request(conv: Conversation) -> None:
    conv.request(text(1))


def send_next(conv: Conversation) -> None:
    conv.send(text(nxt()))


def checkpoint(store: Any) -> None:
    """Move a SQLite store's write-ahead log into its database file (untimed).

    A cold conversation was imported some time before its first send, not a moment
    before it: the harness's copy (and the delete of the one before) is thousands
    of rows in the log, and left there, the timed send's commit would checkpoint
    them: a cost of the harness's setup, larger at N = 10,000, not of the send.
    PostgreSQL checkpoints on its own schedule, apart from any commit.
    """
    if isinstance(store, SQLiteStore):
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class ColdSend:
    """The first send of a bulk-built, never-sent conversation, again and again.

    Before each timed send (untimed), the previous copy is deleted and the template
    (built with add_turns, never sent) is forked at its last turn.
    """

    def __init__(self, side: Conversa, template: Conversation) -> None:
        self.side, self.template = side, template
        self.conv: Conversation | None = None

    def prep(self) -> None:
        store = self.side.cold_store
        if self.conv is not None:
            store.delete(self.conv.id)
        record = store.fork(self.template.id, store.get(self.template.id).last_seq)
        self.conv = Conversation.load(store, record.id, client=self.side.client)
        checkpoint(store)

    def run(self) -> None:
        if self.conv is not None:
            self.conv.send(text(nxt()))

    def cleanup(self) -> None:
        if self.conv is not None:
            self.side.cold_store.delete(self.conv.id)
            self.conv = None


# -- the peers -----------------------------------------------------------------------

#: the peers' cell ops for a chat step through their own runtime (an instant model):
#: at the peer's default history (what a user gets), and bounded like conversa's window
RUNTIME = "runtime step"
RUNTIME_BOUNDED = "runtime step, limit 26"


class Peer:
    """A peer library's session API, driven like the floor and conversa."""

    name = ""
    durability = ""

    def seed(self, n: int, i: int = 0) -> Any:
        """Session *i* of *n* items (user and assistant in turn), for the main thread."""
        raise NotImplementedError

    def append(self, h: Any) -> object:
        raise NotImplementedError

    def window(self, h: Any) -> object:
        raise NotImplementedError

    def step(self, h: Any) -> object:
        raise NotImplementedError

    def load(self, h: Any) -> object:
        raise NotImplementedError

    def worker(self, n: int, i: int) -> Worker:
        """A thread's step on session *i* of *n* items, made in (and for) that thread."""
        raise NotImplementedError

    #: the chat steps through its own runtime it offers (RUNTIME, RUNTIME_BOUNDED)
    runtime_ops: tuple[str, ...] = (RUNTIME,)

    def runtime_step(self, h: Any, op: str = RUNTIME) -> object:
        """One chat step through the peer's own runtime around an instant model."""
        raise NotImplementedError

    def count(self, h: Any) -> int:
        """How many items session *h* stores (untimed: the checks only)."""
        raise NotImplementedError

    def runtime_worker(self, n: int, i: int) -> Worker:
        """A thread's runtime step on session *i* of *n* items, made in that thread.

        Checked before it is handed out: one step stores the two new items.
        """
        raise NotImplementedError

    def close(self) -> None:
        return None


def check_stores_two(peer: Peer, h: Any, step: Callable[[], object]) -> None:
    """Run one runtime step untimed; raise unless it stored exactly two new items."""
    before = peer.count(h)
    step()
    after = peer.count(h)
    if after - before != 2:
        msg = (
            f"{peer.name}: a runtime step stored {after - before} items "
            f"({before} -> {after}), not the user turn and the reply"
        )
        raise RuntimeError(msg)


def agents_item(k: int) -> dict[str, Any]:
    if role(k) == "user":
        return {"role": "user", "content": text(k)}
    return agents_reply(text(k), k)


def agents_reply(value: str, k: int) -> dict[str, Any]:
    """An assistant output message, as the Agents SDK stores a model's reply."""
    return {
        "id": f"msg_{k:012d}",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": value, "annotations": []}],
    }


async def agents_step(session: Any) -> None:
    """An Agents session's chat step: the window, the user item, the reply item."""
    k = nxt()
    await session.get_items(limit=WINDOW_TURNS)
    await session.add_items([{"role": "user", "content": text(k)}])
    await session.add_items([agents_reply(REPLY_TEXT, k)])


async def agents_seed(session: Any, n: int) -> None:
    for start in range(0, n, 100):
        await session.add_items(
            [agents_item(k) for k in range(start, min(n, start + 100))]
        )


def agents_runtime() -> tuple[Any, Any, Any]:
    """The Agents SDK's own runtime around an instant model, tracing off.

    Returns `Runner`, an `Agent` whose model answers at once with a constant
    assistant message (no HTTP), and the `RunConfig` that bounds the history the run
    loads like conversa's window (`SessionSettings(limit=26)`).
    """
    import agents
    from agents import Agent, RunConfig, Runner
    from agents.items import ModelResponse
    from agents.memory import SessionSettings
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import ResponseOutputMessage, ResponseOutputText

    agents.set_tracing_disabled(True)
    ids = itertools.count(1)

    class InstantAgentsModel(Model):
        """An `agents` Model that returns a constant assistant message at once."""

        async def get_response(self, *_args: Any, **_kwargs: Any) -> Any:
            message = ResponseOutputMessage(
                id=f"msg_bench{next(ids):012d}",
                type="message",
                role="assistant",
                status="completed",
                content=[
                    ResponseOutputText(
                        type="output_text", text=REPLY_TEXT, annotations=[]
                    )
                ],
            )
            return ModelResponse(output=[message], usage=Usage(), response_id=None)

        def stream_response(self, *_args: Any, **_kwargs: Any) -> Any:
            msg = "the benchmark does not stream"
            raise NotImplementedError(msg)

    agent = Agent(name="bench", instructions=None, model=InstantAgentsModel())
    bounded = RunConfig(session_settings=SessionSettings(limit=WINDOW_TURNS))
    return Runner, agent, bounded


def langchain_runtime(history: Callable[[str], Any]) -> Any:
    """LangChain's own runtime: `RunnableWithMessageHistory` around an instant model.

    The model is langchain_core's `GenericFakeChatModel` over an endless iterator
    of the same reply; *history* maps a session id to its stored history.
    """
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.runnables.history import RunnableWithMessageHistory

    model = GenericFakeChatModel(messages=itertools.repeat(REPLY_TEXT))
    with warnings.catch_warnings():  # "use LangGraph's persistence instead"
        warnings.simplefilter("ignore", DeprecationWarning)
        return RunnableWithMessageHistory(model, history)


def langchain_invoke(chain: Any, sid: str) -> object:
    return chain.invoke(text(nxt()), config={"configurable": {"session_id": sid}})


def session_id(name: str, n: int, i: int) -> str:
    """A fixed UUID per peer, N and thread (langchain-postgres wants UUIDs)."""
    return str(uuid.UUID(int=random.Random(f"{SEED}-{name}-{n}-{i}").getrandbits(128)))


class AsyncPeer(Peer):
    """An Agents session: each operation is one coroutine on this loop."""

    runtime_ops = (RUNTIME, RUNTIME_BOUNDED)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner, self.agent, self.bounded = agents_runtime()

    async def run_agent(self, session: Any, op: str) -> None:
        """`Runner.run` on the session: its default history, or bounded to 26 items."""
        await self.runner.run(
            self.agent,
            text(nxt()),
            session=session,
            run_config=self.bounded if op == RUNTIME_BOUNDED else None,
        )

    def runtime_step(self, h: Any, op: str = RUNTIME) -> object:
        return self.run(self.run_agent(h, op))

    def count(self, h: Any) -> int:
        return len(self.run(h.get_items()))

    def check_in(
        self, loop: asyncio.AbstractEventLoop, session: Any, step: Op, close: Op
    ) -> None:
        """Like `check_stores_two`, on a thread's own loop; closes the worker if it fails."""
        try:
            before = len(loop.run_until_complete(session.get_items()))
            step()
            after = len(loop.run_until_complete(session.get_items()))
        except BaseException:
            close()
            raise
        if after - before != 2:
            close()
            msg = f"{self.name}: a runtime step stored {after - before} items"
            raise RuntimeError(msg)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def append(self, h: Any) -> object:
        return self.run(h.add_items([agents_item(nxt(id(h)))]))

    def window(self, h: Any) -> object:
        return self.run(h.get_items(limit=WINDOW_TURNS))

    def step(self, h: Any) -> object:
        return self.run(agents_step(h))

    def load(self, h: Any) -> object:
        return self.run(h.get_items())


class AgentsSQLite(AsyncPeer):
    """OpenAI Agents `SQLiteSession` (agents.memory): add_items / get_items."""

    name = "Agents SQLiteSession"

    def __init__(self, workdir: Path, *, same_durability: bool) -> None:
        super().__init__()
        from agents.memory import SQLiteSession

        self.path = workdir / "agents.db"
        self.cls: Any = SQLiteSession
        self.durability = "WAL, synchronous=FULL (its default)"
        if same_durability:

            class NormalSync(SQLiteSession):
                """SQLiteSession at conversa's durability (WAL, synchronous=NORMAL)."""

                @staticmethod
                def _configure_connection(conn: sqlite3.Connection) -> None:
                    # Its own setup (WAL), then the one pragma it leaves at FULL.
                    SQLiteSession._configure_connection(conn)  # noqa: SLF001
                    conn.execute("PRAGMA synchronous=NORMAL")

            self.cls = NormalSync
            self.durability = "WAL, synchronous=NORMAL (set to conversa's)"
        self.sessions: list[Any] = []

    def seed(self, n: int, i: int = 0) -> Any:
        session = self.cls(session_id(self.name, n, i), self.path)
        self.sessions.append(session)
        self.run(agents_seed(session, n))
        return session

    def worker(self, n: int, i: int) -> Worker:
        loop = asyncio.new_event_loop()
        session = self.cls(session_id(self.name, n, i), self.path)

        def close() -> None:
            session.close()
            loop.close()

        return Worker(lambda _k: loop.run_until_complete(agents_step(session)), close)

    def runtime_worker(self, n: int, i: int) -> Worker:
        loop = asyncio.new_event_loop()
        session = self.cls(session_id(self.name, n, i), self.path)

        def step() -> object:
            return loop.run_until_complete(self.run_agent(session, RUNTIME))

        def close() -> None:
            session.close()
            loop.close()

        self.check_in(loop, session, step, close)
        return Worker(lambda _k: step(), close)

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self.loop.close()


class AgentsSQLAlchemy(AsyncPeer):
    """OpenAI Agents `SQLAlchemySession` on PostgreSQL, through asyncpg."""

    name = "Agents SQLAlchemySession"
    durability = "server defaults (synchronous_commit=on)"

    def __init__(self, url: str, schema: str) -> None:
        super().__init__()
        from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
        from sqlalchemy.ext.asyncio import create_async_engine

        self.cls, self.create_engine = SQLAlchemySession, create_async_engine
        self.url = url.split("?", 1)[0].replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
        self.schema = schema
        self.engine = self.new_engine()
        self.create_tables = True

    def new_engine(self) -> Any:
        return self.create_engine(
            self.url, connect_args={"server_settings": {"search_path": self.schema}}
        )

    def seed(self, n: int, i: int = 0) -> Any:
        session = self.cls(
            session_id(self.name, n, i),
            engine=self.engine,
            create_tables=self.create_tables,
        )
        self.create_tables = False
        self.run(agents_seed(session, n))
        return session

    def worker(self, n: int, i: int) -> Worker:
        loop = asyncio.new_event_loop()
        engine = self.new_engine()  # an async engine belongs to one event loop
        session = self.cls(session_id(self.name, n, i), engine=engine)

        def close() -> None:
            loop.run_until_complete(engine.dispose())
            loop.close()

        return Worker(lambda _k: loop.run_until_complete(agents_step(session)), close)

    def runtime_worker(self, n: int, i: int) -> Worker:
        loop = asyncio.new_event_loop()
        engine = self.new_engine()
        session = self.cls(session_id(self.name, n, i), engine=engine)

        def step() -> object:
            return loop.run_until_complete(self.run_agent(session, RUNTIME))

        def close() -> None:
            loop.run_until_complete(engine.dispose())
            loop.close()

        self.check_in(loop, session, step, close)
        return Worker(lambda _k: step(), close)

    def close(self) -> None:
        self.run(self.engine.dispose())
        self.loop.close()


class LangChainSQLite(Peer):
    """LangChain `SQLChatMessageHistory` (langchain-community): add_message / messages."""

    name = "LangChain SQLChatMessageHistory"

    def __init__(self, workdir: Path, *, same_durability: bool) -> None:
        with warnings.catch_warnings():  # "langchain-community is being sunset"
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.chat_message_histories import (
                SQLChatMessageHistory,
            )
        from langchain_core.messages import AIMessage, HumanMessage
        from sqlalchemy import create_engine, event

        self.cls, self.human, self.ai = SQLChatMessageHistory, HumanMessage, AIMessage
        self.engine = create_engine(f"sqlite:///{workdir / 'langchain.db'}")
        self.histories: dict[str, Any] = {}  # session id -> the history seeded for it
        self.chain = langchain_runtime(lambda session_id: self.histories[session_id])
        self.durability = "rollback journal, synchronous=FULL (its default)"
        if same_durability:

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_connection: Any, _: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

            self.durability = "WAL, synchronous=NORMAL (set to conversa's)"

    def message(self, k: int) -> Any:
        return (self.human if role(k) == "user" else self.ai)(content=text(k))

    def history(self, n: int, i: int) -> Any:
        return self.cls(session_id=session_id(self.name, n, i), connection=self.engine)

    def seed(self, n: int, i: int = 0) -> Any:
        h = self.history(n, i)
        self.histories[h.session_id] = h
        for start in range(0, n, 100):
            h.add_messages([self.message(k) for k in range(start, min(n, start + 100))])
        return h

    def append(self, h: Any) -> object:
        h.add_message(self.message(nxt(id(h))))
        return None

    def window(self, h: Any) -> object:
        return h.messages  # its API has no limit: the whole history

    def step(self, h: Any) -> object:
        _ = h.messages
        h.add_message(self.human(content=text(nxt())))
        h.add_message(self.ai(content=REPLY_TEXT))
        return None

    def load(self, h: Any) -> object:
        return h.messages

    def count(self, h: Any) -> int:
        return len(h.messages)

    def runtime_step(self, h: Any, op: str = RUNTIME) -> object:
        """`RunnableWithMessageHistory.invoke` on the session's stored history."""
        return langchain_invoke(self.chain, h.session_id)

    def worker(self, n: int, i: int) -> Worker:
        h = self.history(n, i)
        return Worker(lambda _k: self.step(h), lambda: None)

    def runtime_worker(self, n: int, i: int) -> Worker:
        h = self.history(n, i)
        chain = langchain_runtime(lambda _sid: h)
        step = partial(langchain_invoke, chain, h.session_id)
        check_stores_two(self, h, step)
        return Worker(lambda _k: step(), lambda: None)

    def close(self) -> None:
        self.engine.dispose()


class LangChainPostgres(Peer):
    """langchain-postgres `PostgresChatMessageHistory`: add_messages / get_messages."""

    name = "langchain-postgres"
    durability = "server defaults (synchronous_commit=on)"
    table = "lc_messages"

    def __init__(self, url: str) -> None:
        import psycopg
        from langchain_core.messages import AIMessage, HumanMessage
        from langchain_postgres import PostgresChatMessageHistory

        self.psycopg, self.url = psycopg, url
        self.cls, self.human, self.ai = (
            PostgresChatMessageHistory,
            HumanMessage,
            AIMessage,
        )
        self.conn = psycopg.connect(url)
        self.cls.create_tables(self.conn, self.table)
        self.histories: dict[str, Any] = {}  # session id -> the history seeded for it
        self.sids: dict[int, str] = {}  # and back (its session id is private)
        self.chain = langchain_runtime(lambda session_id: self.histories[session_id])

    def message(self, k: int) -> Any:
        return (self.human if role(k) == "user" else self.ai)(content=text(k))

    def seed(self, n: int, i: int = 0) -> Any:
        sid = session_id(self.name, n, i)
        h = self.histories[sid] = self.cls(self.table, sid, sync_connection=self.conn)
        self.sids[id(h)] = sid
        for start in range(0, n, 100):
            h.add_messages([self.message(k) for k in range(start, min(n, start + 100))])
        return h

    def append(self, h: Any) -> object:
        h.add_messages([self.message(nxt(id(h)))])
        return None

    def window(self, h: Any) -> object:
        return h.get_messages()  # its API has no limit: the whole history

    def step(self, h: Any) -> object:
        h.get_messages()
        h.add_messages([self.human(content=text(nxt()))])
        h.add_messages([self.ai(content=REPLY_TEXT)])
        return None

    def load(self, h: Any) -> object:
        return h.get_messages()

    def count(self, h: Any) -> int:
        return len(h.get_messages())

    def runtime_step(self, h: Any, op: str = RUNTIME) -> object:
        """`RunnableWithMessageHistory.invoke` on the session's stored history."""
        return langchain_invoke(self.chain, self.sids[id(h)])

    def worker(self, n: int, i: int) -> Worker:
        conn = self.psycopg.connect(self.url)  # a connection per thread, as from a pool
        h = self.cls(self.table, session_id(self.name, n, i), sync_connection=conn)
        return Worker(lambda _k: self.step(h), conn.close)

    def runtime_worker(self, n: int, i: int) -> Worker:
        conn = self.psycopg.connect(self.url)  # a connection per thread, as from a pool
        sid = session_id(self.name, n, i)
        h = self.cls(self.table, sid, sync_connection=conn)
        chain = langchain_runtime(lambda _sid: h)
        step = partial(langchain_invoke, chain, sid)
        try:
            check_stores_two(self, h, step)
        except BaseException:
            conn.close()
            raise
        return Worker(lambda _k: step(), conn.close)

    def close(self) -> None:
        self.conn.close()


#: backend -> the peers: (name, the package that brings it)
PEERS = {
    "sqlite": (
        ("Agents SQLiteSession", "openai-agents"),
        ("LangChain SQLChatMessageHistory", "langchain-community"),
    ),
    "postgres": (
        ("langchain-postgres", "langchain-postgres"),
        ("Agents SQLAlchemySession", "openai-agents asyncpg"),
    ),
}


def _open_peer(make: Callable[[], Peer], package: str) -> Peer | str:
    """The peer, or why it was skipped."""
    try:
        return make()
    except ImportError as exc:
        return (
            f"not installed (no module {exc.name!r}): pip install -e '.[bench]' "
            f"(or pip install {package})"
        )
    except Exception as exc:  # installed, but cannot run here: say why
        return f"cannot run: {type(exc).__name__}: {exc}"[:300]


def open_peers(
    backend: str, workdir: Path, url: str, schema: str, *, same_durability: bool
) -> tuple[list[Peer], dict[str, str]]:
    """The peers of *backend* that can run here, and why the others were skipped."""
    makers: dict[str, Callable[[], Peer]] = {
        "Agents SQLiteSession": lambda: AgentsSQLite(
            workdir, same_durability=same_durability
        ),
        "LangChain SQLChatMessageHistory": lambda: LangChainSQLite(
            workdir, same_durability=same_durability
        ),
        "langchain-postgres": lambda: LangChainPostgres(url),
        "Agents SQLAlchemySession": lambda: AgentsSQLAlchemy(url, schema),
    }
    peers: list[Peer] = []
    skipped: dict[str, str] = {}
    for name, package in PEERS[backend]:
        peer = _open_peer(makers[name], package)
        if isinstance(peer, str):
            skipped[name] = peer
        else:
            peers.append(peer)
    return peers, skipped


#: each peer cell has a session of its own, so each starts at N items and its item
#: counts are its own: index 0 for the session-ops cells, these for the runtime
#: cells; 1-8 for the session-ops threads, 11-18 for the runtime threads
RUNTIME_SESSIONS = {RUNTIME: 100, RUNTIME_BOUNDED: 101}
RUNTIME_THREADS = 11


def _seed_peer(peer: Peer, sizes: list[int]) -> dict[tuple[str, int], Any] | str:
    """Per N: the session-ops session ("", n), then one per runtime op (op, n)."""
    try:
        seeded = {("", n): peer.seed(n) for n in sizes}
        for op in peer.runtime_ops:
            seeded |= {(op, n): peer.seed(n, RUNTIME_SESSIONS[op]) for n in sizes}
    except Exception as exc:
        return f"failed to load its history: {type(exc).__name__}: {exc}"[:300]
    return seeded


# -- one backend ---------------------------------------------------------------------


@dataclass
class Results:
    backend: str
    sizes: list[int]
    cells: list[Cell] = field(default_factory=list)
    threads: list[Throughput] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    durability: dict[str, str] = field(default_factory=dict)
    http_ms: float | None = None
    floor_alone: dict[str, float] = field(default_factory=dict)
    window_messages: int | None = None
    checks: list[str] = field(default_factory=list)

    def median(self, op: str, who: str, n: int) -> float | None:
        for cell in self.cells:
            if (cell.op, cell.who, cell.n) == (op, who, n):
                return cell.median_ms()
        return None

    def rounds(self, op: str, n: int) -> str:
        """The rounds counted: "40", or "40 / 8" when the slow cells stopped early
        (`run_cells`): the most any cell counted, then the fewest."""
        counts = [len(c.times) for c in self.cells if c.op == op and c.n == n]
        if not counts:
            return "0"
        most, fewest = max(counts), min(counts)
        return str(most) if most == fewest else f"{most} / {fewest}"

    def rate(self, who: str, kind: str = "") -> Throughput | None:
        return next((t for t in self.threads if t.who == who and t.kind == kind), None)


@contextlib.contextmanager
def backend_stores(
    backend: str, workdir: Path
) -> Iterator[tuple[Any, Any, Floor, str, str]]:
    """conversa's stores (warm, cold), the floor, and the peers' URL and schema."""
    if backend == "sqlite":
        warm = SQLiteStore(workdir / "conversa.db", **STORE_OPTIONS)
        cold = SQLiteStore(workdir / "conversa-cold.db", **STORE_OPTIONS)

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                workdir / "floor.db", isolation_level=None, check_same_thread=False
            )
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=30000",
                "foreign_keys=ON",
            ):
                conn.execute(f"PRAGMA {pragma}")
            return conn

        floor = Floor(connect, postgres=False)
        try:
            yield warm, cold, floor, "", ""
        finally:
            floor.close()
            warm.close()
            cold.close()
        return
    import psycopg

    schema = f"conversa_speed_{os.getpid()}_{int(time.time())}"
    admin = psycopg.connect(PG_URL, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}', safe='')}"
    warm = PostgresStore(url, **STORE_OPTIONS)
    cold = PostgresStore(url, **STORE_OPTIONS)
    floor = Floor(lambda: psycopg.connect(url, autocommit=True), postgres=True)
    try:
        yield warm, cold, floor, url, schema
    finally:
        floor.close()
        warm.close()
        cold.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def analyze(url: str, schema: str) -> None:
    """Fresh planner statistics after the bulk loads, as autovacuum has them soon after."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'ANALYZE "{schema}"."{table}"')


def run_backend(backend: str, sizes: list[int], args: argparse.Namespace) -> Results:
    res = Results(backend, sizes)
    say = sys.stderr.write
    with (
        tempfile.TemporaryDirectory() as tmp,
        backend_stores(backend, Path(tmp)) as (store, cold_store, floor, url, schema),
    ):
        workdir = Path(tmp)
        floor.create_tables()
        peers, res.skipped = open_peers(
            backend, workdir, url, schema, same_durability=not args.peer_defaults
        )
        res.peers = [p.name for p in peers]
        res.durability = {p.name: p.durability for p in peers}
        side = Conversa(store, cold_store)
        say(f"[{backend}] building N = {sizes} for conversa, the floor and the peers\n")
        warm = {n: side.build(store, n, sent=True) for n in sizes}
        # store.append writes to a copy of its own: on warm[n] it would change the
        # conversation behind that object's back between two of its add() calls.
        apart = {n: side.fork(store, warm[n]) for n in sizes}
        cold = {n: side.build(cold_store, n, sent=False) for n in sizes}
        floor_ids = {n: floor.seed(n) for n in sizes}
        handles: dict[tuple[str, str, int], Any] = {}
        for peer in list(peers):
            seeded = _seed_peer(peer, sizes)
            if isinstance(seeded, str):
                res.skipped[peer.name] = seeded
                peers.remove(peer)
                res.peers.remove(peer.name)
                continue
            handles.update(((peer.name, *key), h) for key, h in seeded.items())
        if backend == "postgres":
            analyze(url, schema)
        res.window_messages = len(warm[sizes[0]].request(text(0))["messages"])

        conn = floor.conn
        for op in ("append", "window", "chat step", "load history"):
            say(f"[{backend}] timing: {op}\n")
            cold_sends = [ColdSend(side, cold[n]) for n in sizes]
            cells = []
            runtimes: list[tuple[Cell, Peer, Any, int]] = []
            for n, cold_send in zip(sizes, cold_sends, strict=True):
                ours: dict[str, list[tuple[str, Op]]] = {
                    "append": [
                        ("append", partial(add_next, warm[n])),
                        ("append, cold", partial(add_next, cold[n])),
                        (
                            "append, store.append",
                            partial(store_append, store, apart[n]),
                        ),
                    ],
                    "window": [
                        ("window", partial(read_newest, store, warm[n])),
                        ("request()", partial(request, warm[n])),
                        ("request(), cold", partial(request, cold[n])),
                    ],
                    "chat step": [
                        ("chat step", partial(send_next, warm[n])),
                        ("chat step, cold", cold_send.run),
                    ],
                    "load history": [("load history", warm[n].turns)],
                }
                floors: dict[str, list[tuple[str, Op]]] = {
                    "append": [
                        ("append", partial(floor.append_next, conn, floor_ids[n]))
                    ],
                    "window": [
                        ("window", partial(floor.window, conn, floor_ids[n])),
                        ("request()", partial(floor.request, conn, floor_ids[n])),
                    ],
                    "chat step": [
                        ("chat step", partial(floor.step, conn, floor_ids[n]))
                    ],
                    "load history": [
                        ("load history", partial(floor.load, conn, floor_ids[n]))
                    ],
                }
                cells += [Cell(o, "floor", n, fn) for o, fn in floors[op]]
                cells += [
                    Cell(
                        o,
                        "conversa",
                        n,
                        fn,
                        prep=cold_send.prep
                        if "cold" in o and op == "chat step"
                        else None,
                    )
                    for o, fn in ours[op]
                ]
                method = {
                    "append": "append",
                    "window": "window",
                    "chat step": "step",
                    "load history": "load",
                }[op]
                cells += [
                    Cell(
                        op,
                        p.name,
                        n,
                        partial(getattr(p, method), handles[p.name, "", n]),
                    )
                    for p in peers
                ]
                if op == "chat step":
                    runtimes += [
                        runtime_cell(p, rop, n, handles[p.name, rop, n])
                        for p in peers
                        for rop in p.runtime_ops
                    ]
            cells += [cell for cell, *_ in runtimes]
            run_cells(cells, args.repeat, args.cap)
            res.cells += cells
            res.checks += [check_runtime_cell(*checked) for checked in runtimes]
            for cold_send in cold_sends:
                cold_send.cleanup()

        res.http_ms = instant_call_ms(floor, conn, floor_ids[sizes[0]], args.repeat)
        res.floor_alone = floor_alone(floor, conn, floor_ids[sizes[0]])
        say(f"[{backend}] timing: {THREADS} threads\n")
        res.threads = threads(sizes[0], side, store, warm[sizes[0]], floor, peers, args)
        for peer in peers:
            peer.close()
        side.close()
    return res


def runtime_cell(peer: Peer, op: str, n: int, h: Any) -> tuple[Cell, Peer, Any, int]:
    """A peer's runtime step as a cell, checked first (untimed) to store two items.

    Returns the cell, the peer, the session and its item count before the timings
    (for `check_runtime_cell`); a cell whose check failed carries the error and is
    not timed.
    """
    fn = partial(peer.runtime_step, h, op)
    cell = Cell(op, peer.name, n, fn)
    before = -1
    try:
        check_stores_two(peer, h, fn)
        before = peer.count(h)
    except Exception as exc:
        cell.error = f"{type(exc).__name__}: {exc}"[:300]
        sys.stderr.write(f"  ! {peer.name} {op} N={n}: {cell.error}\n")
    return cell, peer, h, before


def check_runtime_cell(cell: Cell, peer: Peer, h: Any, before: int) -> str:
    """After the timings, untimed: did every timed call store its two items?"""
    if cell.error is not None:
        return f"{peer.name}, {cell.op}, N = {cell.n:,}: not timed ({cell.error})"
    after = peer.count(h)
    line = (
        f"{peer.name}, {cell.op}, N = {cell.n:,}: {cell.calls} calls, "
        f"{before:,} -> {after:,} items"
    )
    if after - before != 2 * cell.calls:
        cell.error = f"stored {after - before} items in {cell.calls} calls, not 2 each"
        return f"{line}: **not 2 a call**, dropped"
    return f"{line} (2 a call)"


def floor_alone(floor: Floor, conn: Any, cid: str) -> dict[str, float]:
    """The floor's append, window and chat step back to back, nothing in between.

    Its best case: caches warm, no other library's calls between two of its own.
    """
    out = {}
    ops = (
        ("append", partial(floor.append_next, conn, cid)),
        ("window", partial(floor.window, conn, cid)),
        ("chat step", partial(floor.step, conn, cid)),
    )
    with quiet_heap():
        for op, fn in ops:
            times = []
            for i in range(210):
                t0 = time.perf_counter_ns()
                fn()
                if i >= 10:
                    times.append(time.perf_counter_ns() - t0)
            out[op] = statistics.median(times) / 1e6
    return out


def instant_call_ms(floor: Floor, conn: Any, cid: str, repeat: int) -> float:
    """One round trip to the instant model through httpx, with a window-sized body."""
    payload = floor.request(conn, cid)
    headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
    with httpx.Client(
        transport=InstantModel(), base_url="https://api.anthropic.com"
    ) as http:
        cell = Cell(
            "http",
            "httpx",
            0,
            lambda: http.post("/v1/messages", content=payload, headers=headers).json(),
        )
        run_cells([cell], repeat, 5.0)
    return cell.median_ms() or 0.0


def threads(
    n: int,
    side: Conversa,
    store: Any,
    template: Conversation,
    floor: Floor,
    peers: list[Peer],
    args: argparse.Namespace,
) -> list[Throughput]:
    """THREADS threads, each on its own conversation of about *n* turns."""
    out: list[Throughput] = []
    ids = [floor.seed(n) for _ in range(THREADS)]
    out.append(
        run_threads("floor", lambda i: floor.worker(ids[i]), args.steps, args.reps)
    )
    last = store.get(template.id).last_seq  # forks of a warm conversation: warm
    convs = [
        Conversation.load(store, store.fork(template.id, last).id, client=side.client)
        for _ in range(THREADS)
    ]
    out.append(
        run_threads(
            "conversa",
            lambda i: Worker(lambda _k: send_next(convs[i]), lambda: None),
            args.steps,
            args.reps,
        )
    )
    for peer in peers:
        seeded = _seed_peer_threads(peer, n)
        if seeded is not None:
            out.append(Throughput(peer.name, error=seeded))
            continue
        out.append(
            run_threads(
                peer.name,
                lambda i, p=peer: p.worker(n, i + 1),  # session 0 is the main thread's
                args.steps,
                args.reps,
                "session ops",
            )
        )
    for peer in peers:
        seeded = _seed_peer_threads(peer, n, RUNTIME_THREADS)
        if seeded is not None:
            out.append(Throughput(peer.name, error=seeded, kind="runtime"))
            continue
        out.append(
            run_threads(
                peer.name,
                lambda i, p=peer: p.runtime_worker(n, i + RUNTIME_THREADS),
                args.steps,
                args.reps,
                "runtime",
            )
        )
    return out


def _seed_peer_threads(peer: Peer, n: int, first: int = 1) -> str | None:
    try:
        for i in range(first, first + THREADS):
            peer.seed(n, i)
    except Exception as exc:
        return f"failed to load its history: {type(exc).__name__}: {exc}"[:300]
    return None


# -- the report ----------------------------------------------------------------------

#: (row label, conversa's cell, the floor's cell, the peers' cell)
ROWS = (
    ("durable append: `add()`, warm", "append", "append", "append"),
    ("durable append: `add()`, cold", "append, cold", "append", "append"),
    ("append: `store.append`", "append, store.append", "append", "append"),
    ("window: `store.read_newest`", "window", "window", "window"),
    ("`request()`, warm", "request()", "request()", "window"),
    ("`request()`, cold", "request(), cold", "request()", "window"),
    (
        "chat step: `send()`, warm; peers: own runtime",
        "chat step",
        "chat step",
        RUNTIME,
    ),
    (
        "chat step: `send()`, warm; peer: Agents runtime, history limit 26",
        "chat step",
        "chat step",
        RUNTIME_BOUNDED,
    ),
    (
        "chat step: `send()`, warm; peers: session ops only, no model",
        "chat step",
        "chat step",
        "chat step",
    ),
    (
        "chat step: `send()`, cold (first send); peers: own runtime",
        "chat step, cold",
        "chat step",
        RUNTIME,
    ),
    (
        "chat step: `send()`, cold (first send); peers: session ops only, no model",
        "chat step, cold",
        "chat step",
        "chat step",
    ),
    ("load history: `turns()`", "load history", "load history", "load history"),
)
#: (backend, conversa op) -> (max conversa/floor, max conversa/best peer, only at N)
TARGETS: dict[tuple[str, str], tuple[float, float, int | None]] = {
    ("sqlite", "append"): (10, 0.5, None),
    ("sqlite", "append, cold"): (10, 0.5, None),
    ("postgres", "append"): (3, 1, None),
    ("postgres", "append, cold"): (3, 1, None),
    ("sqlite", "chat step"): (10, 0.2, 1000),
    ("postgres", "chat step"): (5, 0.25, 1000),
}
#: the peers' cell a target is judged against: their appends, and for the chat step
#: their own runtime at its default history; against the runtime bounded to 26 items
#: the target is shown for reference only ("ref.")
TARGET_PEER_OPS = {"append": "", RUNTIME: "", RUNTIME_BOUNDED: "ref. "}
FLAT = (
    ("append", "`add()`, warm"),
    ("append, cold", "`add()`, cold"),
    ("request()", "`request()`, warm"),
    ("request(), cold", "`request()`, cold"),
    ("chat step", "`send()`, warm"),
    ("chat step, cold", "`send()`, cold"),
)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def verdict(r: float | None, limit: float) -> str:
    return "" if r is None else ("yes" if r <= limit else "**no**")


def report(res: Results) -> str:
    """The ratio table, the flatness check and the raw medians of one backend."""
    out = io.StringIO()
    w = out.write
    title = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[res.backend]
    w(f"### {title}\n\n")
    w(
        "Ratios of medians (time; below 1 is faster). Best peer = the fastest peer "
        "for that operation and N.\n\n"
    )
    w(
        "| operation | N | conversa / floor | best peer / floor | conversa / best peer "
        "| best peer | target (floor; peer) | met |\n"
    )
    w("|---|---:|---:|---:|---:|---|---|---|\n")
    for label, ours_op, floor_op, peer_op in ROWS:
        for n in res.sizes:
            ours = res.median(ours_op, "conversa", n)
            floor = res.median(floor_op, "floor", n)
            peer_ms = {
                p: res.median(peer_op, p, n)
                for p in res.peers
                if res.median(peer_op, p, n) is not None
            }
            best = min(peer_ms, key=lambda p: peer_ms[p]) if peer_ms else None
            best_ms = peer_ms[best] if best else None
            target, met = "", ""
            limits = TARGETS.get((res.backend, ours_op))
            judged = peer_op in TARGET_PEER_OPS
            if judged and limits and (limits[2] is None or limits[2] == n):
                target = f"{TARGET_PEER_OPS[peer_op]}≤ {limits[0]:g}x; ≤ {limits[1]:g}x"
                r1 = ours / floor if ours and floor else None
                r2 = ours / best_ms if ours and best_ms else None
                met = " / ".join(
                    v for v in (verdict(r1, limits[0]), verdict(r2, limits[1])) if v
                )
            w(
                f"| {label} | {n:,} | {ratio(ours, floor)} | {ratio(best_ms, floor)} "
                f"| {ratio(ours, best_ms)} | {best or '—'} | {target} | {met} |\n"
            )
    for kind, label, judged in (
        ("runtime", "own runtime", True),
        ("session ops", "session ops only, no model", False),
    ):
        w(threads_row(res, kind, label, judged=judged))
    if len(res.sizes) > 1:
        lo, hi = res.sizes[0], res.sizes[-1]
        w(f"\nFlat in N: conversa at N = {hi:,} against N = {lo:,} (target ≤ 1.3x)\n\n")
        w("| operation | ratio | met |\n|---|---:|---|\n")
        for op, label in FLAT:
            a, b = res.median(op, "conversa", lo), res.median(op, "conversa", hi)
            r = b / a if a and b else None
            w(f"| {label} | {ratio(b, a)} | {verdict(r, 1.3)} |\n")
    w("\nRaw medians, ms (threads: steps/s, errors)\n\n")
    names = ["floor", "conversa", *res.peers]
    w("| operation | N | rounds | " + " | ".join(names) + " |\n")
    w("|---|---:|---:|" + "---:|" * len(names) + "\n")
    for label, ours_op, floor_op, peer_op in ROWS:
        for n in res.sizes:
            vals = [
                ms(res.median(floor_op, "floor", n)),
                ms(res.median(ours_op, "conversa", n)),
                *(ms(res.median(peer_op, p, n)) for p in res.peers),
            ]
            rounds = res.rounds(ours_op, n)
            w(f"| {label} | {n:,} | {rounds} | " + " | ".join(vals) + " |\n")
    ours_t = res.rate("conversa")
    reps = len(ours_t.rates) if ours_t else 0
    for kind, label in (("runtime", "own runtime"), ("session ops", "session ops")):
        vals = [
            rate_cell(res.rate("floor")),
            rate_cell(ours_t),
            *(rate_cell(res.rate(p, kind)) for p in res.peers),
        ]
        w(
            f"| {THREADS} threads: steps/s, errors; peers: {label} | "
            f"{res.sizes[0]:,} | {reps} | " + " | ".join(vals) + " |\n"
        )
    w(
        f"\nThe instant model's round trip through httpx alone (a {WINDOW_TURNS}-turn "
        f"body): {ms(res.http_ms)} ms. conversa's warm request replays "
        f"{res.window_messages} messages (budget {BUDGET:,} tokens); the floor and the "
        f"peers read the newest {WINDOW_TURNS} turns.\n"
    )
    if res.floor_alone:
        n = res.sizes[0]
        alone = res.floor_alone
        w(
            f"\nThe floor alone, back to back at N = {n:,} (its best case: no other "
            f"call between two of its own): append {ms(alone['append'])} ms, window "
            f"{ms(alone['window'])} ms, chat step {ms(alone['chat step'])} ms; "
            f"against it, conversa's warm `add()` is "
            f"{ratio(res.median('append', 'conversa', n), alone['append'])} and its "
            f"warm `send()` "
            f"{ratio(res.median('chat step', 'conversa', n), alone['chat step'])}.\n"
        )
    if res.checks:
        w(
            "\nPeer runtime steps, checked untimed (items counted before one step "
            "and after it, then before and after the timings): "
            + "; ".join(res.checks)
            + ".\n"
        )
    errors = [c for c in res.cells if c.error]
    errors_t = [t for t in res.threads if t.error]
    if errors or errors_t:
        w("\nFailed cells:\n\n")
        for c in errors:
            w(f"- {c.who}, {c.op}, N = {c.n}: {c.error}\n")
        for t in errors_t:
            w(f"- {t.who}, threads ({t.kind}): {t.error}\n")
    return out.getvalue()


def rate_cell(t: Throughput | None) -> str:
    """A raw-medians cell for threads: steps/s and errors."""
    if t is None or t.error:
        return "—" if t is None else "error"
    m = t.median()
    return f"{m:,.0f}, {t.errors}" if m else "—"


def threads_row(res: Results, kind: str, label: str, *, judged: bool) -> str:
    """The ratio row of the threads against the peers' *kind* ("runtime", ...)."""
    floor_t = res.rate("floor")
    ours_t = res.rate("conversa")
    peer_rates = {
        t.who: t.median()
        for t in res.threads
        if t.kind == kind and t.who not in ("floor", "conversa") and t.median()
    }
    best_t = max(peer_rates, key=lambda p: peer_rates[p] or 0) if peer_rates else None
    f_rate = floor_t.median() if floor_t else None
    o_rate = ours_t.median() if ours_t else None
    b_rate = peer_rates[best_t] if best_t else None

    def inv(a: float | None, b: float | None) -> float | None:
        return b / a if a and b else None  # steps/s -> time per step

    r2 = (b_rate / o_rate) if o_rate and b_rate else None
    target, met = "", ""
    if judged:
        target = "—; ≤ 0.5x, 0 errors"
        met = verdict(r2, 0.5) + (
            "" if ours_t is None or ours_t.errors == 0 else " / **errors**"
        )
    return (
        f"| {THREADS} threads, own conversation each: `send()` steps/s (time per "
        f"step); peers: {label} | {res.sizes[0]:,} | {ratio(inv(o_rate, f_rate), 1.0)} "
        f"| {ratio(inv(b_rate, f_rate), 1.0)} | {ratio(r2, 1.0)} | {best_t or '—'} "
        f"| {target} | {met} |\n"
    )


def trace_to_nowhere() -> None:
    """Set an SDK tracer provider as the global one; its exporter drops every span."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


def versions() -> str:
    names = (
        "conversa",
        "SQLAlchemy",
        "sqlmodel",
        "psycopg",
        "httpx",
        "opentelemetry-sdk",
        "openai-agents",
        "langchain-community",
        "langchain-core",
        "langchain-postgres",
        "asyncpg",
    )
    return ", ".join(f"{name} {_version(name)}" for name in names)


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def machine(backends: list[str]) -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = [
        f"{os.cpu_count()} cores ({cpu})",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if "postgres" in backends:
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(PG_URL) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                facts.append(f"PostgreSQL {row[0] if row else '?'} (local)")
    commit = "not a git checkout"
    with contextlib.suppress(Exception):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(  # noqa: S603
            [*git, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603
            [*git, "status", "--porcelain", "--", "conversa"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit = f"{head}{' + uncommitted changes' if dirty else ''}"
    facts.append(f"conversa from {ROOT} ({commit})")
    return "; ".join(facts)


# -- profiling -----------------------------------------------------------------------


def profile(backend: str, n: int) -> str:
    """cProfile of conversa's warm `add()` and `send()` at N turns: top 15 by cumulative."""
    out = io.StringIO()
    with (
        tempfile.TemporaryDirectory() as tmp,
        backend_stores(backend, Path(tmp)) as (store, cold_store, _floor, url, schema),
    ):
        side = Conversa(store, cold_store)
        conv = side.build(store, n, sent=True)
        if backend == "postgres":
            analyze(url, schema)
        for name, count, fn in (
            ("add()", 200, lambda j: conv.add(role(j), text(j))),
            ("send()", 100, lambda j: conv.send(text(j))),
        ):
            for j in range(10):
                fn(j)
            prof = cProfile.Profile()
            prof.enable()
            for j in range(count):
                fn(j)
            prof.disable()
            stream = io.StringIO()
            stats = pstats.Stats(prof, stream=stream)
            stats.sort_stats("cumulative").print_stats(15)
            site = str(Path(httpx.__file__).parents[1]) + os.sep
            lines = [
                line.replace(str(ROOT) + os.sep, "").replace(site, "")
                for line in stream.getvalue().splitlines()
                if line.strip() and not line.startswith("   Ordered by")
            ]
            out.write(f"\n#### {backend}: {count} warm `{name}` calls at N = {n:,}\n\n")
            out.write("```\n" + "\n".join(lines) + "\n```\n")
        side.close()
    return out.getvalue()


# -- main ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--n", default="1000,10000", help="history lengths")
    parser.add_argument("--repeat", type=int, default=40, help="timed rounds per cell")
    parser.add_argument(
        "--cap", type=float, default=30.0, help="seconds per operation before stopping"
    )
    parser.add_argument("--steps", type=int, default=25, help="steps per thread")
    parser.add_argument("--reps", type=int, default=3, help="thread runs per library")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: N = 100,1000, few rounds"
    )
    parser.add_argument(
        "--peer-defaults",
        action="store_true",
        help="run the SQLite peers at their own default durability (synchronous=FULL)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile conversa's add and send"
    )
    parser.add_argument(
        "--encryption",
        action="store_true",
        help="conversa's stores encrypted at rest (a fixed test key)",
    )
    parser.add_argument(
        "--tracing",
        action="store_true",
        help="conversa's OpenTelemetry spans on (an SDK provider, spans discarded)",
    )
    args = parser.parse_args()
    if args.encryption:
        STORE_OPTIONS["encryption"] = Encryption({"bench": TEST_KEY}, current="bench")
    if args.tracing:
        trace_to_nowhere()
    if args.quick:
        args.n, args.repeat, args.cap, args.steps, args.reps = "100,1000", 5, 1.5, 4, 1
    backends = args.backends.split(",")
    sizes = sorted(int(x) for x in args.n.split(","))
    started = time.perf_counter()
    load = os.getloadavg()
    check_instant_model()
    print(f"Command: `python benchmarks/speed.py {shlex.join(sys.argv[1:])}`".strip())
    print(f"\nMachine: {machine(backends)}.\n\nLibraries: {versions()}.\n")
    for backend in backends:
        res = run_backend(backend, sizes, args)
        print(report(res))
        print(
            "Peers: "
            + (", ".join(f"{p} ({res.durability[p]})" for p in res.peers) or "none")
        )
        for name, why in res.skipped.items():
            print(f"- skipped {name}: {why}")
        print()
        sys.stdout.flush()
    if args.profile:
        for backend in backends:
            print(profile(backend, sizes[0]))
    print(
        f"Total run time: {time.perf_counter() - started:.0f} s; load average at the "
        f"start {load[0]:.2f}, at the end {os.getloadavg()[0]:.2f} (1 minute; "
        f"{os.cpu_count()} cores): a busy machine moves every number, ratios less."
    )


if __name__ == "__main__":
    main()
