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

    python benchmarks/instructions.py --misses       # cache misses per add, below

With ``--misses``, valgrind simulates the caches too (a 32 KB first level for
code and one for data, and 1 MB standing for this machine's L2 as the last
level), and 2 MB of memory are written before each add: as in `speed.py`, where
every other cell runs between two of conversa's calls, an add starts with its
code and data out of the caches. It prints the misses of one add (those of the
writes alone, measured the same way, taken off): code that misses the first
level (I1), code and data that miss the last (LL). In the loop, an add's misses
cost about as much time as its instructions.

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


#: What ``--misses`` writes before each add: more than the last level simulated.
_JUNK = bytearray(2 * 1024 * 1024)


def pollute() -> None:
    """Write a byte of every 64 (a cache line) of `_JUNK` (``--misses``)."""
    _JUNK[::64] = _JUNK[1::64]


def conversa_adds(
    backend: str,
    n: int,
    workdir: str,
    *,
    op: str = "add",
    on: bool = False,
    between: Any = None,
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
            for _ in range(5):  # the first sends move the window start
                conv.send(TEXT)
        for k in range(n):
            if between is not None:
                between()
            if op == "send":
                conv.send(TEXT)
            else:
                conv.add("user" if k % 2 == 0 else "assistant", TEXT)
    finally:
        if client is not None:
            client.close()
        store.close()
        if schema is not None:
            import psycopg

            with psycopg.connect(SERVER, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


def floor_adds(n: int, workdir: str, between: Any = None) -> None:
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
        if between is not None and k >= HISTORY:
            between()
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


def count(
    args: argparse.Namespace, n: int, *, only_writes: bool = False
) -> dict[str, int]:
    """What cachegrind counted in one run of the workload with *n* adds, by event
    (Ir: instructions; with ``--misses``, I1mr, ILmr, DLmr, DLmw: misses);
    *only_writes*: the writes ``--misses`` makes between adds, alone."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind",
            "--tool=cachegrind",
            *(_SIMULATED if args.misses else ("--cache-sim=no",)),
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
        command.extend(
            f"--{flag}" for flag in ("on", "floor", "misses") if getattr(args, flag)
        )
        if only_writes:
            command.append("--only-writes")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(  # noqa: S603 - this script and valgrind, by path
            command, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        text = Path(out, "cg.out").read_text()
        events = re.search(r"^events:\s+(.+)$", text, re.MULTILINE)
        summary = re.search(r"^summary:\s+(.+)$", text, re.MULTILINE)
        if events is None or summary is None:
            msg = "no events or summary line in cachegrind's output"
            raise SystemExit(msg)
        return dict(
            zip(
                events.group(1).split(), map(int, summary.group(1).split()), strict=True
            )
        )


#: ``--misses``: the caches valgrind simulates (a 1 MB last level, this machine's L2).
_SIMULATED = (
    "--cache-sim=yes",
    "--I1=32768,8,64",
    "--D1=32768,8,64",
    "--LL=1048576,16,64",
)


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
    parser.add_argument(
        "--misses",
        action="store_true",
        help="cache misses per add, the caches written over before each",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only-writes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        between = pollute if args.misses else None
        if args.only_writes:
            for _ in range(args.child):
                pollute()
            return
        with tempfile.TemporaryDirectory() as workdir:
            if args.floor:
                floor_adds(args.child, workdir, between)
            else:
                conversa_adds(
                    args.backend,
                    args.child,
                    workdir,
                    op=args.op,
                    on=args.on,
                    between=between,
                )
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
    extra = args.large - args.small
    small, large = count(args, args.small), count(args, args.large)
    per = {e: (large[e] - small[e]) / extra for e in large}
    what = "raw sqlite3" if args.floor else f"conversa {args.op}(), {args.backend}"
    if args.on:
        what += ", tracing and encryption on"
    if not args.misses:
        print(f"{what}: {per['Ir'] / 1000:.1f}k instructions per {args.op}")
        return
    writes_small = count(args, args.small, only_writes=True)
    writes_large = count(args, args.large, only_writes=True)
    for e in per:
        per[e] -= (writes_large[e] - writes_small[e]) / extra
    shown = ", ".join(
        f"{per[e] / 1000:.2f}k {name}"
        for e, name in (
            ("I1mr", "code first-level misses"),
            ("ILmr", "code last-level"),
            ("DLmr", "data reads last-level"),
            ("DLmw", "data writes last-level"),
        )
    )
    print(
        f"{what}, caches written over before each: {per['Ir'] / 1000:.1f}k "
        f"instructions, {shown} per {args.op}"
    )


if __name__ == "__main__":
    main()
