"""Real processes against one database: no lost, duplicated or interleaved turns.

Each worker is `python -m tests.stores.workers ...` with its own store and
connections (see workers.py). Nothing here asserts on timing: overlap is proven by
workers that can only finish if they are inside their sections at the same time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conversa import Client, Conversation
from conversa._values.turns import ConversationRecord, reply_id_for
from conversa.testing import FakeMessagesAPI
from tests.stores.helpers import user
from tests.stores.workers import open_store

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 300


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start a worker process."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.stores.workers", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(*procs: subprocess.Popen[str]) -> list[str]:
    """Wait for workers; fail with their stderr unless all exited 0; return their stdout."""
    outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    failed = [
        (p.returncode, err)
        for p, (_, err) in zip(procs, outputs, strict=True)
        if p.returncode
    ]
    assert failed == []
    return [out for out, _ in outputs]


def test_locked_appends_from_four_processes(sql_backend: str, target: str) -> None:
    """4 processes x 25 read-then-append exchanges under the lock: 200 turns, in pairs."""
    with open_store(sql_backend, target) as store:
        record = store.create(ConversationRecord(model="m"))
    finish(
        *(
            spawn("append-under-lock", sql_backend, target, record.id, "25", f"p{i}")
            for i in range(4)
        )
    )
    with open_store(sql_backend, target) as store:
        turns = store.read(record.id)
    assert [t.seq for t in turns] == list(range(1, 201))
    assert len({t.id for t in turns}) == 200
    pairs = list(zip(turns[::2], turns[1::2], strict=True))
    assert all((u.role, a.role) == ("user", "assistant") for u, a in pairs)
    assert all(a.text == f"re {u.text}" for u, a in pairs)
    assert sorted(u.text for u, _ in pairs) == sorted(
        f"p{i}-{j}" for i in range(4) for j in range(25)
    )


def test_sends_from_four_processes(sql_backend: str, target: str) -> None:
    """4 processes x 25 sends through the fake: 200 turns, each user turn then its own reply."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    with open_store(sql_backend, target) as store:
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")
    finish(
        *(spawn("send", sql_backend, target, conv.id, "25", f"p{i}") for i in range(4))
    )
    with open_store(sql_backend, target) as store:
        turns = store.read(conv.id)
    assert [t.seq for t in turns] == list(range(1, 201))
    assert len({t.id for t in turns}) == 200
    for user_turn, reply in zip(turns[::2], turns[1::2], strict=True):
        assert (user_turn.role, reply.role) == ("user", "assistant")
        assert reply.id == reply_id_for(user_turn.id)
        assert user_turn.text in reply.text
    texts = sorted(t.text for t in turns[::2])
    assert texts == sorted(f"p{i}-{j}" for i in range(4) for j in range(25))


def test_adds_and_sends_from_four_processes(sql_backend: str, target: str) -> None:
    """2 processes adding exchanges and 2 sending, 15 each: no turn lands inside a send."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    with open_store(sql_backend, target) as store:
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")
    finish(
        *(spawn("send", sql_backend, target, conv.id, "15", f"s{i}") for i in range(2)),
        *(spawn("add", sql_backend, target, conv.id, "15", f"a{i}") for i in range(2)),
    )
    with open_store(sql_backend, target) as store:
        turns = store.read(conv.id)
    assert [t.seq for t in turns] == list(range(1, 121))
    for user_turn, reply in zip(turns[::2], turns[1::2], strict=True):
        assert (user_turn.role, reply.role) == ("user", "assistant")
        if user_turn.text.startswith("s"):
            assert reply.id == reply_id_for(user_turn.id)
        else:
            assert reply.text == f"re {user_turn.text}"
    assert sorted(t.text for t in turns[::2]) == sorted(
        f"{tag}{i}-{j}" for tag in "sa" for i in range(2) for j in range(15)
    )


def test_a_reader_only_sees_history_grow_at_its_end(
    sql_backend: str, target: str
) -> None:
    """A process reading while three others send never sees a turn appear mid-history."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    with open_store(sql_backend, target) as store:
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")
    reader = spawn("reader", sql_backend, target, conv.id, "120")
    writers = [
        spawn("send", sql_backend, target, conv.id, "20", f"w{i}") for i in range(3)
    ]
    finish(*writers, reader)


def test_different_conversations_hold_their_sections_at_once(
    sql_backend: str, target: str
) -> None:
    """Two processes are inside two conversations' sections together (each waits for the other)."""
    with open_store(sql_backend, target) as store:
        a = store.create(ConversationRecord(model="m"))
        b = store.create(ConversationRecord(model="m"))
    finish(
        spawn("overlap", sql_backend, target, a.id, b.id),
        spawn("overlap", sql_backend, target, b.id, a.id),
    )
    with open_store(sql_backend, target) as store:
        assert [t.text for t in store.read(a.id)] == ["entered", "saw the other inside"]
        assert [t.text for t in store.read(b.id)] == ["entered", "saw the other inside"]


def _kill_when_inside(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "inside":
        proc.kill()
        _, err = proc.communicate(timeout=TIMEOUT)
        pytest.fail(f"worker never got inside: {line!r} {err}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL


def test_a_process_killed_inside_a_send_leaves_a_usable_store(
    sql_backend: str, target: str
) -> None:
    """SIGKILL during a send's API call: the store opens, loads, and the next send works."""
    client = Client(api_key="k", transport=FakeMessagesAPI())
    with open_store(sql_backend, target) as store:
        conv = Conversation.create(store, client=client, model="claude-sonnet-4-5")
    _kill_when_inside(spawn("send-and-hang", sql_backend, target, conv.id, "0.5"))
    with open_store(sql_backend, target) as store:
        again = Conversation.load(store, conv.id, client=client)
        reply = again.send("are you there?")
        turns = store.read(conv.id)
    assert [(t.role, t.text) for t in turns[:2]] == [
        ("user", "never answered"),
        ("user", "are you there?"),
    ]
    assert turns[-1] == reply
    assert reply.role == "assistant"


def test_a_process_killed_holding_the_lock_frees_it(
    sql_backend: str, target: str
) -> None:
    """SIGKILL inside the section: its lease runs out and the next holder appends after it."""
    with open_store(sql_backend, target) as store:
        record = store.create(ConversationRecord(model="m"))
    _kill_when_inside(spawn("hold", sql_backend, target, record.id, "0.5"))
    with open_store(sql_backend, target) as store, store.lock(record.id, timeout=60):
        [turn] = store.append(record.id, [user("next")])
        assert turn.seq == 2
        assert [t.text for t in store.read(record.id)] == ["orphaned", "next"]
