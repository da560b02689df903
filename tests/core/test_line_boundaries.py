"""Lines by the spec: every character ``str.splitlines`` breaks on, inside reply text,
tool input JSON and thinking, survives streaming, batches and export/import.

SSE lines end only at CR, LF and CRLF; JSON Lines only at LF. A JSON encoder
escapes the control characters among them (``\\v``, ``\\f``, ``\\x1c``-``\\x1e``,
``\\r``) but leaves U+2028, U+2029 and U+0085 raw, as the API and the fake do: those
three broke ``iter_lines()`` and ``splitlines()``. All nine are tested everywhere.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from conversa import (
    AsyncBatches,
    Batches,
    MemoryStore,
    SQLiteStore,
    Store,
    Turn,
)
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI, Reply, reply
from tests.conversation.conftest import Harness, SyncAsAsync, check_exchanges

pytestmark = pytest.mark.anyio

#: Every character str.splitlines breaks on besides LF and CRLF, and a lone CR.
BOUNDARIES = {
    "U+2028": "\u2028",
    "U+2029": "\u2029",
    "U+0085": "\x85",
    "VT": "\v",
    "FF": "\f",
    "FS": "\x1c",
    "GS": "\x1d",
    "RS": "\x1e",
    "CR": "\r",
}
#: The ones a JSON encoder leaves raw (ensure_ascii=False): they reach the client
#: unescaped, inside SSE data lines and JSON Lines.
RAW_IN_JSON = ("\u2028", "\u2029", "\x85")

TOOL = {
    "name": "lookup",
    "description": "Look something up.",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "parts": {"type": "array"}},
        "required": ["query"],
    },
}
PARAMS: dict[str, Any] = {
    "max_tokens": 2048,
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [TOOL],
}


def _text(char: str) -> str:
    return f"First line{char}second line {char} and{char}{char}the end."


def _thinking(char: str) -> str:
    return f"The user asks{char}about it.{char}"


def _input(char: str) -> dict[str, Any]:
    return {"query": f"a{char}b", "parts": [char, f"{char}x{char}"]}


def _scripted(char: str) -> Reply:
    """Thinking, then text, then a tool call: the character in each."""
    return reply.thinking(
        _thinking(char),
        then=reply.tool_use("lookup", _input(char), id="toolu_01", text=_text(char)),
    )


def _check_blocks(turn: Turn, char: str) -> None:
    """The stored blocks hold the character exactly where the script put it."""
    blocks = json.loads(turn.content_json())
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use"]
    assert blocks[0]["thinking"] == _thinking(char)
    assert blocks[1]["text"] == _text(char)
    assert blocks[2]["input"] == _input(char)


def _api_json(value: Any) -> str:
    """The compact JSON a store keeps (`Turn.content_json`)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@pytest.fixture(name="twin", params=["sync", "async"])
def _twin(request: pytest.FixtureRequest) -> str:
    """Each test runs once per twin."""
    return str(request.param)


@pytest.fixture(name="make_harness")
async def _make_harness(twin: str) -> AsyncIterator[Callable[..., Harness]]:
    """Harnesses of the twin under test; every exchange is checked against the SDK."""
    made: list[Harness] = []

    def make(fake: FakeMessagesAPI, store: Store | None = None) -> Harness:
        harness = Harness(twin, fake, store or MemoryStore())  # type: ignore[arg-type]
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.close()
        check_exchanges(harness.fake)


async def _stream(harness: Harness, conv: Any, content: str) -> tuple[str, Turn]:
    """Stream a send in the harness's twin; return the text pieces joined and the turn."""
    if harness.twin == "sync":
        with conv.conv.stream(content) as stream:
            text = "".join(stream)
        return text, stream.turn
    async with conv.stream(content) as astream:
        text = "".join([piece async for piece in astream])
    return text, astream.turn


def _messages_posts(fake: FakeMessagesAPI) -> int:
    return len([r for r in fake.requests if r.path == "/v1/messages"])


# --- a streamed reply and a sent one are stored identically


@pytest.mark.parametrize("char", BOUNDARIES.values(), ids=BOUNDARIES.keys())
async def test_streamed_and_sent_replies_are_stored_identically(
    make_harness: Callable[..., Harness], char: str
) -> None:
    """Same script, same seed: the streamed turn is the sent turn, byte for byte,
    first time (no StreamError, no silent retry)."""
    sent_side = make_harness(FakeMessagesAPI(seed=11))
    streamed_side = make_harness(FakeMessagesAPI(seed=11))
    for side in (sent_side, streamed_side):
        side.fake.script(_scripted(char))
    sent = await (await sent_side.create(**PARAMS)).send("Look it up, please.")
    conv = await streamed_side.create(**PARAMS)
    text, streamed = await _stream(streamed_side, conv, "Look it up, please.")
    assert streamed.content_json() == sent.content_json()
    assert (streamed.stop_reason, streamed.usage, streamed.status) == (
        sent.stop_reason,
        sent.usage,
        sent.status,
    )
    assert text == _text(char)
    _check_blocks(streamed, char)
    assert (await conv.turns())[-1] == streamed
    assert _messages_posts(streamed_side.fake) == 1
    assert streamed_side.fake.last_request.response_json == (
        sent_side.fake.last_request.response_json
    )


# --- batch results


def _batches(harness: Harness) -> Any:
    if harness.twin == "sync":
        return SyncAsAsync(Batches(harness.client, harness.store))  # type: ignore[arg-type]
    return AsyncBatches(harness.client, harness.store)


@pytest.mark.parametrize("char", BOUNDARIES.values(), ids=BOUNDARIES.keys())
async def test_batch_results_fold_into_the_same_turns(
    make_harness: Callable[..., Harness], char: str
) -> None:
    """A batch result with the character folds into the turn the API sent, which is
    the turn a live send stores (signatures aside: they are per reply)."""
    harness = make_harness(FakeMessagesAPI(seed=5))
    conv = await harness.create(**PARAMS)
    await conv.add("user", "Look it up, please.")
    harness.fake.script(_scripted(char))
    batches = _batches(harness)
    job = await batches.submit([conv.id])
    harness.fake.advance_batches()
    report = await batches.collect(job)
    assert len(report.appended) == 1
    turn = (await conv.turns())[-1]
    (results,) = [r for r in harness.fake.requests if r.path.endswith("/results")]
    (line,) = results.response_json
    assert turn.content_json() == _api_json(line["result"]["message"]["content"])
    _check_blocks(turn, char)

    live_side = make_harness(FakeMessagesAPI(seed=5))
    live_side.fake.script(_scripted(char))
    live = await (await live_side.create(**PARAMS)).send("Look it up, please.")

    def unsigned(t: Turn) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = json.loads(t.content_json())
        for block in blocks:
            block.pop("signature", None)
        return blocks

    assert unsigned(turn) == unsigned(live)


# --- export and import


def _cli(store: Path, *argv: str) -> int:
    """Run the command line on the SQLite file *store*."""
    return main(["--store", f"sqlite:///{store}", *argv])


async def test_export_import_round_trips_byte_identically(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    """Conversations holding every character (sent and streamed replies) export to
    JSON Lines and import back byte-identically, through the command line."""
    source = tmp_path / "source.db"
    ids = []
    with SQLiteStore(source) as store:
        harness = make_harness(FakeMessagesAPI(seed=2), store)
        for char in BOUNDARIES.values():
            harness.fake.script(_scripted(char), _scripted(char))
            sent = await harness.create(**PARAMS, system=f"Be brief.{char}")
            await sent.send("Look it up, please.")
            streamed = await harness.create(**PARAMS)
            await _stream(harness, streamed, "Look it up, please.")
            ids += [sent.id, streamed.id]
        exported = tmp_path / "all.jsonl"
        assert _cli(source, "export", "-o", str(exported)) == 0
        text = exported.read_bytes().decode()
        assert text.count("\n") == len(ids)
        for char in RAW_IN_JSON:
            assert char in text  # raw, as splitlines() would have cut it
        assert len(text.splitlines()) > len(ids)
        copy = tmp_path / "copy.db"
        assert _cli(copy, "import", str(exported)) == 0
        again = tmp_path / "again.jsonl"
        assert _cli(copy, "export", "-o", str(again)) == 0
        with SQLiteStore(copy) as copied:
            for cid in ids:
                before, after = store.read(cid), copied.read(cid)
                assert [t.content_json() for t in after] == [
                    t.content_json() for t in before
                ]
                assert after == before
                assert copied.get(cid).system_to_api() == store.get(cid).system_to_api()
    first = [json.loads(line) for line in text.split("\n")[:-1]]
    second = [json.loads(line) for line in again.read_bytes().decode().split("\n")[:-1]]
    turns = {data["record"]["id"]: data["turns"] for data in first}
    assert {data["record"]["id"]: data["turns"] for data in second} == turns
