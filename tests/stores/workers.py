"""Worker processes for the store tests: `python -m tests.stores.workers CMD ARGS`.

Each command opens its own store (a separate process, separate connections) and
reports on stdout; a non-zero exit code means the worker saw a broken guarantee.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx

from conversa._stores import PostgresStore, SQLiteStore
from conversa._stores.sql.store import SQLStore
from conversa._values.turns import Turn

#: How long a worker waits for something another process does before failing.
PATIENCE = 60.0


def say(text: str) -> None:
    """Report *text* to the test on a line of its own, at once."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def open_store(backend: str, target: str, **options: Any) -> SQLStore:
    """Open the SQLite file or PostgreSQL URL *target*."""
    if backend == "sqlite":
        return SQLiteStore(target, **options)
    return PostgresStore(target, **options)


def migrate_only(backend: str, target: str) -> None:
    """Open the store (which migrates) and close it."""
    open_store(backend, target).close()
    say("opened")


def append_under_lock(
    backend: str, target: str, conversation_id: str, n: str, tag: str
) -> None:
    """Do *n* read-then-append exchanges, each inside the conversation's lock."""
    with open_store(backend, target) as store:
        for i in range(int(n)):
            with store.lock(conversation_id, timeout=PATIENCE):
                last = store.get(conversation_id).last_seq
                store.append(
                    conversation_id,
                    [Turn("user", f"{tag}-{i}"), Turn("assistant", f"re {tag}-{i}")],
                    expected_last_seq=last,
                )


def _client(transport: httpx.BaseTransport | None = None) -> Any:
    from conversa import Client
    from conversa.testing import FakeMessagesAPI

    return Client(api_key="k", transport=transport or FakeMessagesAPI())


def send(backend: str, target: str, conversation_id: str, n: str, tag: str) -> None:
    """Make *n* sends to the conversation through the fake API."""
    from conversa import Conversation

    with open_store(backend, target) as store:
        conv = Conversation.load(store, conversation_id, client=_client())
        for i in range(int(n)):
            conv.send(f"{tag}-{i}")


def add(backend: str, target: str, conversation_id: str, n: str, tag: str) -> None:
    """Add *n* exchanges (a user turn and an answer, one `add_turns` each), holding no lease."""
    from conversa import Conversation

    with open_store(backend, target) as store:
        conv = Conversation.load(store, conversation_id)
        for i in range(int(n)):
            conv.add_turns([("user", f"{tag}-{i}"), ("assistant", f"re {tag}-{i}")])


class _Hang(httpx.BaseTransport):
    """A transport that announces the request, then never answers."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        say("inside")
        while True:
            time.sleep(1)


def send_and_hang(backend: str, target: str, conversation_id: str, lease: str) -> None:
    """Start a send whose API call never returns (the test kills us there)."""
    from conversa import Conversation

    store = open_store(backend, target, lease_seconds=float(lease))
    conv = Conversation.load(store, conversation_id, client=_client(_Hang()))
    conv.send("never answered")


def hold(backend: str, target: str, conversation_id: str, lease: str) -> None:
    """Take the lock, append a user turn, announce it, and block forever."""
    store = open_store(backend, target, lease_seconds=float(lease))
    with store.lock(conversation_id, timeout=PATIENCE):
        store.append(conversation_id, [Turn("user", "orphaned")])
        say("inside")
        while True:
            time.sleep(1)


def overlap(backend: str, target: str, mine: str, other: str) -> None:
    """Inside *mine*'s lock, mark it entered and wait to see *other* entered too.

    Two workers can only both finish if their sections run at the same time; if the
    store serialized different conversations, both would give up and exit 1.
    """
    with open_store(backend, target) as store, store.lock(mine, timeout=PATIENCE):
        store.append(mine, [Turn("user", "entered")])
        deadline = time.monotonic() + PATIENCE
        while store.get(other).last_seq == 0:
            if time.monotonic() > deadline:
                sys.exit(1)
            time.sleep(0.01)
        store.append(mine, [Turn("assistant", "saw the other inside")])


def reader(backend: str, target: str, conversation_id: str, until: str) -> None:
    """Read the history until it has *until* turns; exit 1 if it ever changed but at its end.

    Reports how many different lengths it saw (at least the first and the last).
    """
    with open_store(backend, target) as store:
        seen: list[tuple[int | None, str]] = []
        lengths = set()
        deadline = time.monotonic() + PATIENCE * 4
        while len(seen) < int(until):
            now = [(t.seq, t.id) for t in store.read(conversation_id)]
            if now[: len(seen)] != seen or [s for s, _ in now] != list(
                range(1, len(now) + 1)
            ):
                say(json.dumps({"before": seen, "after": now}))
                sys.exit(1)
            seen = now
            lengths.add(len(now))
            if time.monotonic() > deadline:
                sys.exit(2)
        say(json.dumps({"lengths": len(lengths)}))


COMMANDS = {
    "migrate": migrate_only,
    "append-under-lock": append_under_lock,
    "send": send,
    "add": add,
    "send-and-hang": send_and_hang,
    "hold": hold,
    "overlap": overlap,
    "reader": reader,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
