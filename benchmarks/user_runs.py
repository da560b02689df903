"""An `add()` after a long run of user turns, against one in a chat (not a test).

A conversation of user turns alone (a log of messages, an import, a conversation
never answered) has no reply to stop the read of its tail at; until `8383928`
every add read and checked the whole run. This builds, on one SQLite store, a
conversation of *N* user turns and one of *N* turns alternating user and
assistant (both with `add_turns`), then times `add()` of a 900-character text on
each, the cells in turn round by round: from the object that built it (its own last append seen) and from a fresh
`Conversation.load` each time (one read first). Medians, printed as ratios: each
shape at the largest N against the same shape at the smallest, and the user run
against the chat at the same N (the issue's flat target is 1.3x).

    python benchmarks/user_runs.py                 # N = 100 and 5,000
    python benchmarks/user_runs.py --n 100,20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversa import Conversation, SQLiteStore

MODEL = "claude-sonnet-4-5"
TEXT = ("the parcel is held at customs, which documents release it? " * 16)[:900]


def build(store: SQLiteStore, n: int, *, replies: bool) -> Conversation:
    """*n* turns: user turns alone, or user and assistant in turn (*replies*)."""
    conv = Conversation.create(store, model=MODEL)
    for start in range(0, n, 1000):
        conv.add_turns(
            [
                ("assistant" if replies and k % 2 else "user", TEXT)
                for k in range(start, min(n, start + 1000))
            ]
        )
    return conv


def cells(store: SQLiteStore, n: int, *, replies: bool) -> list[Callable[[], None]]:
    """An add from the object that built its conversation, and one from a fresh
    object (on a conversation of its own: the first's would see its adds)."""
    conv, other = build(store, n, replies=replies), build(store, n, replies=replies)
    counts = {conv.id: n, other.id: n}

    def role(conversation: Conversation) -> Literal["user", "assistant"]:
        counts[conversation.id] += 1  # each conversation alternates on its own
        return "assistant" if replies and counts[conversation.id] % 2 == 0 else "user"

    def same() -> None:
        conv.add(role(conv), TEXT)

    def fresh() -> None:
        Conversation.load(store, other.id).add(role(other), TEXT)

    return [same, fresh]


def run(
    store: SQLiteStore, sizes: list[int], rounds: int
) -> dict[tuple[int, bool, int], float]:
    """Median ms by (N, replies, 0 same / 1 fresh); the cells run in turn, round by round."""
    steps = {
        (n, replies, i): step
        for n in sizes
        for replies in (False, True)
        for i, step in enumerate(cells(store, n, replies=replies))
    }
    times: dict[tuple[int, bool, int], list[float]] = {key: [] for key in steps}
    for _ in range(rounds):
        for key, step in steps.items():
            started = time.perf_counter()
            step()
            times[key].append(time.perf_counter() - started)
    return {key: statistics.median(found) * 1e3 for key, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", default="100,5000", help="the history lengths")
    parser.add_argument("--rounds", type=int, default=200, help="adds timed per cell")
    args = parser.parse_args()
    sizes = sorted(int(x) for x in args.n.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "runs.db")
        try:
            found = run(store, sizes, args.rounds)
        finally:
            store.close()
    small, large = sizes[0], sizes[-1]
    print("Command: `python benchmarks/user_runs.py " + " ".join(sys.argv[1:]) + "`\n")
    print(
        f"| add() from | user run, N = {large:,} / {small:,} "
        f"| chat, N = {large:,} / {small:,} | user run / chat at N = {large:,} |"
    )
    print("|---|---:|---:|---:|")
    for i, name in enumerate(("the same object", "a fresh object")):
        user_run = found[(large, False, i)] / found[(small, False, i)]
        chat = found[(large, True, i)] / found[(small, True, i)]
        apart = found[(large, False, i)] / found[(large, True, i)]
        print(f"| {name} | {user_run:.2f}x | {chat:.2f}x | {apart:.2f}x |")
    print("\nMedians, ms (same object / fresh object):")
    for n in sizes:
        for replies in (False, True):
            shape = "chat" if replies else "user run"
            same, fresh = found[(n, replies, 0)], found[(n, replies, 1)]
            print(f"- {shape}, N = {n:,}: {same:.3f} / {fresh:.3f}")


if __name__ == "__main__":
    main()
