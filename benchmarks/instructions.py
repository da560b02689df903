"""Instructions per `add()`, counted by valgrind: a measure this machine's clock cannot move.

Wall-clock times on a shared VM move by half between two processes of the same
code; the instructions a process executes do not. This script runs one workload
twice under `valgrind --tool=cachegrind --cache-sim=no` (the same script with
*small* and *large* warm adds), and prints the difference over the extra adds:
the instructions of one `add()`, with the start-up, the imports and the history
built before the timed part cancelled out. It counts user-space instructions
only (not the kernel's work in a write), so it measures conversa's Python and
the driver's, which is what a change to conversa's code moves.

    python benchmarks/instructions.py                # SQLite, conversa's add()
    python benchmarks/instructions.py --floor        # raw sqlite3, the same rows
    python benchmarks/instructions.py --backend postgres
    python benchmarks/instructions.py --op send      # conversa's send(), instant model
    python benchmarks/instructions.py --op send --on # with tracing and encryption on

One workload (run by valgrind, ``--child``): a conversation of 300 turns built
with `add_turns`, then *n* `add()`s of 900 characters, alternating roles; with
``--op send``, *n* `send()`s of 900 characters through `speed.py`'s instant model
(a canned reply, no HTTP), with a fixed budget of 8,000 tokens. ``--on`` opens
the store encrypted and sets a tracer provider, as `speed.py --tracing
--encryption` does (the span processor's thread is counted too).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER = os.environ.get(
    "CONVERSA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TEXT = ("the parcel is held at customs, which documents release it? " * 16)[:900]
HISTORY = 300


def conversa_adds(
    backend: str, n: int, workdir: str, *, op: str = "add", on: bool = False
) -> None:
    """*n* warm `add()`s (or `send()`s) on a conversation of HISTORY turns."""
    from conversa import (
        BudgetConfig,
        Client,
        Conversation,
        Encryption,
        PostgresStore,
        SQLiteStore,
    )

    options: dict[str, Any] = {}
    if on:
        from speed import TEST_KEY, trace_to_nowhere

        trace_to_nowhere()
        options["encryption"] = Encryption({"bench": TEST_KEY}, current="bench")
    store: SQLiteStore | PostgresStore
    schema = None
    if backend == "sqlite":
        store = SQLiteStore(Path(workdir) / "adds.db", **options)
    else:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(SERVER, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        joiner = "" if SERVER.endswith(("?", "&")) else "&" if "?" in SERVER else "?"
        store = PostgresStore(
            f"{SERVER}{joiner}options=-csearch_path%3D{schema}", **options
        )
    try:
        client = None
        if op == "send":
            from speed import InstantModel

            client = Client(api_key="bench", transport=InstantModel())
        conv = Conversation.create(
            store,
            model="claude-sonnet-4-5",
            client=client,
            budget=BudgetConfig(fixed=8000),
        )
        conv.add_turns(
            [("user" if k % 2 == 0 else "assistant", TEXT) for k in range(HISTORY)]
        )
        if op == "send":
            for _ in range(n + 5):  # the first sends move the window start
                conv.send(TEXT)
        else:
            for k in range(n):
                conv.add("user" if k % 2 == 0 else "assistant", TEXT)
    finally:
        if client is not None:
            client.close()
        store.close()
        if schema is not None:
            import psycopg

            with psycopg.connect(SERVER, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def floor_adds(n: int, workdir: str) -> None:
    """The same rows with raw sqlite3: BEGIN IMMEDIATE, UPDATE, INSERT, COMMIT."""
    conn = sqlite3.connect(Path(workdir) / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE c (id TEXT PRIMARY KEY, last_seq INTEGER, at TEXT)")
    conn.execute(
        "CREATE TABLE t (cid TEXT, seq INTEGER, id TEXT, role TEXT, content TEXT,"
        " tokens INTEGER, at TEXT, PRIMARY KEY (cid, seq))"
    )
    conn.execute("INSERT INTO c VALUES ('c1', 0, CURRENT_TIMESTAMP)")
    content = '[{"type":"text","text":"' + TEXT + '"}]'
    for k in range(HISTORY + n):
        conn.execute("BEGIN IMMEDIATE")
        (seq,) = conn.execute(
            "UPDATE c SET last_seq = last_seq + 1, at = CURRENT_TIMESTAMP"
            " WHERE id = 'c1' RETURNING last_seq"
        ).fetchone()
        conn.execute(
            "INSERT INTO t VALUES ('c1', ?, ?, ?, ?, 300, CURRENT_TIMESTAMP)",
            (seq, uuid.uuid4().hex, "user" if k % 2 == 0 else "assistant", content),
        )
        conn.execute("COMMIT")
    conn.close()


def count(args: argparse.Namespace, n: int) -> int:
    """Instructions of one run of the workload with *n* adds."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--cachegrind-out-file={out}/cg.out",
            sys.executable,
            __file__,
            "--child",
            str(n),
            "--backend",
            args.backend,
            "--op",
            args.op,
        ]
        if args.on:
            command.append("--on")
        if args.floor:
            command.append("--floor")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(  # noqa: S603 - this script and valgrind, by path
            command, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        found = re.search(r"summary:\s+(\d+)", Path(out, "cg.out").read_text())
        if found is None:
            msg = "no summary line in cachegrind's output"
            raise SystemExit(msg)
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--floor", action="store_true", help="raw sqlite3 instead")
    parser.add_argument("--op", choices=("add", "send"), default="add")
    parser.add_argument("--small", type=int, help="adds (200) or sends (50) first")
    parser.add_argument("--large", type=int, help="adds (1200) or sends (250) then")
    parser.add_argument(
        "--on", action="store_true", help="tracing and encryption on (conversa)"
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        with tempfile.TemporaryDirectory() as workdir:
            if args.floor:
                floor_adds(args.child, workdir)
            else:
                conversa_adds(args.backend, args.child, workdir, op=args.op, on=args.on)
        return
    if args.floor and (args.backend != "sqlite" or args.op != "add"):
        msg = "--floor is raw sqlite3 adds only"
        raise SystemExit(msg)
    sends = args.op == "send"
    args.small = (50 if sends else 200) if args.small is None else args.small
    args.large = (250 if sends else 1200) if args.large is None else args.large
    if not 0 <= args.small < args.large:
        msg = "--small must be 0 or more adds, and --large more than --small"
        raise SystemExit(msg)
    if shutil.which("valgrind") is None:
        msg = "valgrind is not installed (Debian: apt-get install -y valgrind)"
        raise SystemExit(msg)
    small, large = count(args, args.small), count(args, args.large)
    per = (large - small) / (args.large - args.small)
    what = "raw sqlite3" if args.floor else f"conversa {args.op}(), {args.backend}"
    if args.on:
        what += ", tracing and encryption on"
    print(f"{what}: {per / 1000:.1f}k instructions per {args.op}")


if __name__ == "__main__":
    main()
