"""Appends without a lease (`add`, `add_turns`, `add_tool_results`) against sends and each other.

Real threads (sync twin) and tasks (async twin) on every backend; the processes
are in test_processes.py. An `add` holds no lease: it is one optimistic append
that waits while a send is inside the conversation's section, so no turn ever lands
between a send's user turn and its reply, two answers to one tool call never both
land, and concurrent adds stay gapless. Nothing here asserts on timing: a pause
only gives a wrong implementation the room to misbehave.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

from conversa import (
    AsyncClient,
    AsyncConversation,
    Client,
    ConversaError,
    Conversation,
    ToolUseBlock,
    Turn,
)
from conversa._values.turns import reply_id_for
from conversa.testing import FakeMessagesAPI
from tests.stores.conftest import open_sync_store

pytestmark = pytest.mark.anyio

PATIENCE = 60.0
MODEL = "claude-sonnet-4-5"


class Gate(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """The fake API behind a gate: a call says it is inside, then waits to be let through."""

    def __init__(self) -> None:
        self.fake = FakeMessagesAPI()
        self.inside = threading.Event()
        self.open = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.inside.set()
        assert self.open.wait(PATIENCE)
        return self.fake.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.inside.set()
        assert await anyio.to_thread.run_sync(self.open.wait, PATIENCE)
        return await self.fake.handle_async_request(request)


@pytest.fixture(name="store")
def _store(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    store = open_sync_store(backend, request, tmp_path)
    yield store
    store.close()


@pytest.fixture(name="astore")
async def _astore(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Any]:
    store = open_sync_store(backend, request, tmp_path)
    yield store
    await store.aclose()


def _client(transport: httpx.BaseTransport | None = None) -> Client:
    return Client(api_key="k", transport=transport or FakeMessagesAPI())


def _aclient(transport: httpx.AsyncBaseTransport | None = None) -> AsyncClient:
    return AsyncClient(api_key="k", transport=transport or FakeMessagesAPI())


def _pairs_intact(turns: tuple[Turn, ...]) -> None:
    """Gapless seqs; user and assistant alternate; each pair answers its own user turn."""
    assert [t.seq for t in turns] == list(range(1, len(turns) + 1))
    for user, reply in zip(turns[::2], turns[1::2], strict=True):
        assert (user.role, reply.role) == ("user", "assistant")
        assert reply.text.endswith(user.text) or reply.id == reply_id_for(user.id)


# -- a send in flight ------------------------------------------------------------------


def test_an_add_waits_for_a_send_and_lands_after_its_reply(store: Any) -> None:
    """A thread's add during another thread's send lands after the reply, not between."""
    gate = Gate()
    conv = Conversation.create(store, client=_client(gate), model=MODEL)
    other = Conversation.load(store, conv.id)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            conv.send("question")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def add() -> None:
        try:
            other.add("user", "added meanwhile")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    assert gate.inside.wait(PATIENCE)
    adder = threading.Thread(target=add)
    adder.start()
    adder.join(0.2)  # room to slip in, were it not waiting
    assert adder.is_alive()
    gate.open.set()
    sender.join(PATIENCE)
    adder.join(PATIENCE)
    assert errors == []
    turns = store.read(conv.id)
    assert [(t.role, t.text) for t in turns][::2] == [
        ("user", "question"),
        ("user", "added meanwhile"),
    ]
    assert turns[1].role == "assistant"
    assert turns[1].id == reply_id_for(turns[0].id)


def test_an_add_gives_up_after_the_lock_timeout(store: Any) -> None:
    """An add that a send keeps out past its lock_timeout raises busy and stores nothing."""
    gate = Gate()
    conv = Conversation.create(store, client=_client(gate), model=MODEL)
    other = Conversation(store, conv.id, lock_timeout=0.05)
    sender = threading.Thread(target=conv.send, args=("question",))
    sender.start()
    try:
        assert gate.inside.wait(PATIENCE)
        with pytest.raises(ConversaError, match="busy"):
            other.add("user", "too late")
    finally:
        gate.open.set()
        sender.join(PATIENCE)
    assert [t.role for t in store.read(conv.id)] == ["user", "assistant"]


async def test_an_async_add_waits_for_an_async_send(astore: Any) -> None:
    """The async twin: a task's add during another task's send lands after the reply."""
    gate = Gate()
    conv = await AsyncConversation.create(astore, client=_aclient(gate), model=MODEL)
    other = await AsyncConversation.load(astore, conv.id)
    order: list[str] = []

    async def send() -> None:
        await conv.send("question")
        order.append("replied")

    async def add() -> None:
        await other.add("user", "added meanwhile")
        order.append("added")

    async with anyio.create_task_group() as tg:
        tg.start_soon(send)
        assert await anyio.to_thread.run_sync(gate.inside.wait, PATIENCE)
        tg.start_soon(add)
        await anyio.sleep(0.2)  # room to slip in, were it not waiting
        assert order == []
        gate.open.set()
    turns = await astore.aread(conv.id)
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[2].text == "added meanwhile"
    assert turns[1].id == reply_id_for(turns[0].id)


# -- two answers to one tool call ------------------------------------------------------


def _asking(store: Any, n: int) -> Conversation:
    conv = Conversation.create(store, model=MODEL)
    conv.add_turns(
        [("user", "use the tool"), ("assistant", [ToolUseBlock(f"toolu_{n}", "f", {})])]
    )
    return conv


def _answer_together(store: Any, conv: Conversation, tool_use_id: str) -> list[object]:
    """Two threads answer *tool_use_id* at the same moment; return what each got."""
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def answer(text: str) -> None:
        mine = Conversation.load(store, conv.id)
        barrier.wait(PATIENCE)
        try:
            outcomes.append(mine.add_tool_results({tool_use_id: text}))
        except ConversaError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=answer, args=(text,)) for text in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    return outcomes


def test_two_answers_to_one_tool_call_land_once(store: Any) -> None:
    """Two threads answer one tool_use at once: one lands, the other gets a conversa error."""
    for n in range(4):
        conv = _asking(store, n)
        outcomes = _answer_together(store, conv, f"toolu_{n}")
        landed = [o for o in outcomes if isinstance(o, Turn)]
        refused = [o for o in outcomes if isinstance(o, ConversaError)]
        assert (len(landed), len(refused)) == (1, 1)
        assert f"toolu_{n}" in str(refused[0])
        turns = store.read(conv.id)
        assert [t.seq for t in turns] == [1, 2, 3]
        assert turns[-1] == landed[0]
        assert conv.pending_tool_uses() == ()


async def test_two_async_answers_to_one_tool_call_land_once(astore: Any) -> None:
    """The async twin: two tasks answer one tool_use at once; one lands."""
    conv = await AsyncConversation.create(astore, model=MODEL)
    await conv.add_turns(
        [("user", "use the tool"), ("assistant", [ToolUseBlock("toolu_1", "f", {})])]
    )
    outcomes: list[object] = []

    async def answer(text: str) -> None:
        mine = await AsyncConversation.load(astore, conv.id)
        try:
            outcomes.append(await mine.add_tool_results({"toolu_1": text}))
        except ConversaError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(answer, "a")
        tg.start_soon(answer, "b")
    assert sum(isinstance(o, Turn) for o in outcomes) == 1
    assert sum(isinstance(o, ConversaError) for o in outcomes) == 1
    assert len(await astore.aread(conv.id)) == 3


# -- many adders -----------------------------------------------------------------------


def test_threads_adding_to_one_conversation_stay_gapless(store: Any) -> None:
    """Six threads add ten exchanges each to one conversation: 120 turns, in pairs."""
    conv = Conversation.create(store, model=MODEL)
    errors: list[BaseException] = []

    def adder(tag: str) -> None:
        mine = Conversation.load(store, conv.id)
        try:
            for i in range(10):
                mine.add_turns([("user", f"{tag}{i}"), ("assistant", f"re {tag}{i}")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=adder, args=(tag,)) for tag in "abcdef"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    assert errors == []
    turns = store.read(conv.id)
    _pairs_intact(turns)
    assert len(turns) == 120
    assert sorted(t.text for t in turns[::2]) == sorted(
        f"{tag}{i}" for tag in "abcdef" for i in range(10)
    )


async def test_tasks_adding_and_sending_stay_in_pairs(astore: Any) -> None:
    """Async tasks adding exchanges and sending, together: gapless, in pairs."""
    conv = await AsyncConversation.create(astore, client=_aclient(), model=MODEL)

    async def adder(tag: str) -> None:
        for i in range(6):
            await conv.add_turns([("user", f"{tag}{i}"), ("assistant", f"re {tag}{i}")])

    async def sender(tag: str) -> None:
        for i in range(6):
            await conv.send(f"{tag}{i}")

    async with anyio.create_task_group() as tg:
        for tag in "abc":
            tg.start_soon(adder, tag)
        tg.start_soon(sender, "s")
    turns = await astore.aread(conv.id)
    assert len(turns) == 48
    _pairs_intact(turns)


# -- what an object's last add left seen ------------------------------------------------


def test_a_stale_object_appends_after_what_others_added(store: Any) -> None:
    """An object's next add checks against what its last add left, and finds newer turns.

    Its first try is conditional on the last seq it saw: another object's add since
    makes it read the tail again, so nothing is overwritten or lands out of order.
    """
    mine = Conversation.create(store, model=MODEL)
    mine.add("user", "one")
    other = Conversation.load(store, mine.id)
    other.add("assistant", "two")
    other.add("user", "three")
    mine.add("assistant", "four")  # mine last saw seq 1
    assert [t.text for t in store.read(mine.id)] == ["one", "two", "three", "four"]
    assert [t.seq for t in store.read(mine.id)] == [1, 2, 3, 4]


def test_a_second_answer_from_a_stale_object_is_refused(store: Any) -> None:
    """Seen state never lets a second answer to a tool call land."""
    mine = Conversation.create(store, model=MODEL)
    mine.add_turns(
        [("user", "use the tool"), ("assistant", [ToolUseBlock("toolu_1", "f", {})])]
    )
    Conversation.load(store, mine.id).add_tool_results({"toolu_1": "theirs"})
    with pytest.raises(ConversaError, match="toolu_1"):
        mine.add_tool_results({"toolu_1": "mine"})
    assert len(store.read(mine.id)) == 3


def test_a_refusal_by_a_stale_view_is_checked_again_on_a_fresh_read(
    store: Any,
) -> None:
    """What the object last saw would refuse the add; the stored history accepts it."""
    mine = Conversation.create(store, model=MODEL)
    mine.add_turns(
        [("user", "use the tool"), ("assistant", [ToolUseBlock("toolu_1", "f", {})])]
    )
    # Seen by mine: a pending tool call, which a plain user text may not follow.
    with pytest.raises(ConversaError):
        Conversation.load(store, mine.id).add("user", "no results yet")
    Conversation.load(store, mine.id).add_tool_results({"toolu_1": "done"})
    mine.add("assistant", "thanks")  # checked again against the stored results
    turns = store.read(mine.id)
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[-1].text == "thanks"


async def test_an_async_stale_object_appends_after_what_others_added(
    astore: Any,
) -> None:
    """The async twin keeps what its last add left, and finds newer turns the same way."""
    mine = await AsyncConversation.create(astore, model=MODEL)
    await mine.add("user", "one")
    other = await AsyncConversation.load(astore, mine.id)
    await other.add("assistant", "two")
    await other.add("user", "three")
    await mine.add("assistant", "four")
    turns = await astore.aread(mine.id)
    assert [t.text for t in turns] == ["one", "two", "three", "four"]
