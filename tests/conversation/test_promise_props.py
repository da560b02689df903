"""The promise, by property: a request conversa sends is never rejected for its shape.

Seeded hypothesis cases drive random inputs and histories through the public API
(`add`, `add_turns`, `add_tool_results`, `send`, `stream`, `request`) over the
memory and SQLite stores and both twins. Each step either is refused with a
`ConversaError` before anything is written (the store's record and turns read the
same as before), or goes out and is accepted by conversa.testing's fake and by the
official SDK's types. A rejection by the fake fails the test. Every category must
produce enough refusals and enough accepted sends, so the strategies cannot narrow
to one side. `pytest -s` prints the counts.
"""

from __future__ import annotations

import contextlib
import io
import json
import string
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversa import (
    APIError,
    AsyncBatches,
    AsyncClient,
    AsyncConversation,
    Batches,
    CacheConfig,
    Client,
    ConversaError,
    Conversation,
    ImageBlock,
    InvalidInputError,
    MemoryStore,
    RetryPolicy,
    SQLiteStore,
    TextBlock,
    Tool,
    ToolUseBlock,
    Turn,
)
from conversa._cli.jsonl import dump_line
from conversa._cli.main import main as cli_main
from conversa._values.blocks import to_blocks
from conversa.testing import FakeMessagesAPI, reply
from tests.conversation.test_door import PDF, b64, png
from tests.sdk_check import check_message, check_request_body

#: Examples per category and (store, twin): 11 x 48 x 4 combinations = 2,112.
EXAMPLES = 48
#: What each category must show in each combination, refused and sent alike.
MIN_REFUSED = 5
MIN_SENT = 5

LINE_BREAKERS = ["\u2028", "\u2029", "\u0085", "\v", "\f", "\x1c", "\x1d", "\x1e", "\r"]
CATEGORIES = (
    "text",
    "media",
    "tools",
    "cache",
    "prefill",
    "unknown",
    "params",
    "edit",
    "run",
    "batch",
    "import",
)

GIF = b64(
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
JPEG = b64(
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xff\xd9"
)
WEBP = b64(
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)
VALID_IMAGES = {
    "image/png": b64(png()),
    "image/gif": GIF,
    "image/jpeg": JPEG,
    "image/webp": WEBP,
}


PROBE_DEF = {
    "name": "probe",
    "description": "Look.",
    "input_schema": {"type": "object", "properties": {}},
}

# --- strategies ---------------------------------------------------------------

words = st.text(string.ascii_letters + " ,.!?é漢", min_size=1, max_size=30)


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Text that is normal, empty, blank, or carries a Unicode line boundary."""
    kind = draw(st.sampled_from(["plain", "empty", "blank", "breaker", "breaker"]))
    if kind == "empty":
        return ""
    if kind == "blank":
        return draw(st.sampled_from([" ", "\n\n", "\t ", "\u2028"]))
    base = draw(words)
    if kind == "breaker":
        at = draw(st.integers(0, len(base)))
        return base[:at] + draw(st.sampled_from(LINE_BREAKERS)) + base[at:] + "x"
    return base


def _image(media_type: str, data: str) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }


@st.composite
def media(draw: st.DrawFn) -> dict[str, Any]:
    """An image or document block, valid or broken in one of the ways the API refuses."""
    kind = draw(
        st.sampled_from(
            [
                "image",
                "image",
                "document",
                "bad_base64",
                "mismatch",
                "oversize",
                "bmp",
                "empty",
                "no_media_type",
                "bad_pdf",
                "text_doc",
                "url",
            ]
        )
    )
    media_type = draw(st.sampled_from(sorted(VALID_IMAGES)))
    if kind == "image":
        return _image(media_type, VALID_IMAGES[media_type])
    if kind == "document":
        return {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        }
    if kind == "bad_base64":
        return _image(media_type, draw(st.sampled_from(["@@@@", "abc", "not base64!"])))
    if kind == "mismatch":
        other = draw(st.sampled_from([m for m in VALID_IMAGES if m != media_type]))
        return _image(media_type, VALID_IMAGES[other])
    if kind == "oversize":
        return _image("image/png", b64(png(8001, 1)))
    if kind == "bmp":
        return _image("image/bmp", b64(b"BM" + bytes(60)))
    if kind == "empty":
        return _image(media_type, "")
    if kind == "no_media_type":
        return {
            "type": "image",
            "source": {"type": "base64", "data": VALID_IMAGES[media_type]},
        }
    if kind == "bad_pdf":
        return {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": b64(png()),
            },
        }
    if kind == "text_doc":
        media = draw(st.sampled_from(["text/plain", "text/plain", "text/html"]))
        return {
            "type": "document",
            "source": {"type": "text", "media_type": media, "data": draw(words)},
        }
    return {
        "type": "image",
        "source": draw(
            st.sampled_from(
                [{"type": "url", "url": "https://example.com/a.png"}, {"type": "url"}]
            )
        ),
    }


tool_ids = st.sampled_from(
    ["toolu_01", "toolu_02", "call-3", "bad id!", "", "toolu_01"]
)


@st.composite
def tool_history(draw: st.DrawFn) -> list[Any]:
    """A sequence of turns around tool calls: paired, orphaned, duplicated, malformed."""
    turns: list[Any] = [("user", draw(words))]
    for _ in range(draw(st.integers(1, 3))):
        ids = draw(st.lists(tool_ids, min_size=1, max_size=3))
        inputs = [draw(st.sampled_from([{"q": 1}, {}, [1], "x"])) for _ in ids]
        uses = [
            {
                "type": "tool_use",
                "id": i,
                "name": draw(st.sampled_from(["lookup", "bad name"])),
                "input": v,
            }
            for i, v in zip(ids, inputs, strict=True)
        ]
        turns.append(("assistant", [{"type": "text", "text": "Let me check."}, *uses]))
        answered = draw(st.sampled_from(["all", "all", "all", "some", "none", "extra"]))
        chosen = ids if answered in ("all", "extra") else ids[: len(ids) // 2]
        if answered == "extra":
            chosen = [*chosen, "toolu_99"]
        results = [
            {"type": "tool_result", "tool_use_id": i, "content": draw(words)}
            for i in chosen
        ]
        if results or answered == "none":
            turns.append(("user", results or [{"type": "text", "text": "skip"}]))
        turns.append(("assistant", draw(words)))
    return turns


@st.composite
def cached_blocks(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Text blocks with caller breakpoints: good TTLs, bad ones, many, 1h after 5m."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        control = draw(
            st.sampled_from(
                [
                    None,
                    {"type": "ephemeral"},
                    {"type": "ephemeral", "ttl": "5m"},
                    {"type": "ephemeral", "ttl": "1h"},
                    {"type": "ephemeral", "ttl": "2h"},
                    {"type": "persistent"},
                ]
            )
        )
        block: dict[str, Any] = {"type": "text", "text": draw(words) + "."}
        if control is not None:
            block["cache_control"] = control
        out.append(block)
    return out


@st.composite
def unknown_blocks(draw: st.DrawFn) -> list[Any]:
    """Content with unknown block kinds or unknown keys, among good blocks."""
    good: list[Any] = [draw(words), {"type": "text", "text": draw(words)}]
    bad = draw(
        st.sampled_from(
            [
                {"type": "nope"},
                {"type": "compaction", "content": "x"},
                {"type": "text", "text": "hi", "foo": 1},
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": b64(png()),
                        "extra": 1,
                    },
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "x",
                    "bar": True,
                },
                None,
                None,
            ]
        )
    )
    return [*good, bad] if bad is not None else good


@st.composite
def params(draw: st.DrawFn) -> dict[str, Any]:
    """Per-call overrides: tools and system-like fields, valid or not."""
    tool = draw(
        st.sampled_from(
            [
                {
                    "name": "lookup",
                    "description": "Find.",
                    "input_schema": {"type": "object"},
                },
                {"name": "bad name", "input_schema": {"type": "object"}},
                {"name": "f", "input_schema": {"type": "array"}},
                {"name": "g", "input_schema": {"type": "object"}, "foo": 1},
                {
                    "name": "h",
                    "input_schema": {"type": "object"},
                    "cache_control": {"type": "ephemeral", "ttl": "3m"},
                },
            ]
        )
    )
    return {"tools": [tool]}


def any_content() -> st.SearchStrategy[Any]:
    """User content from any category's strategy."""
    return st.one_of(
        texts(),
        st.lists(media(), min_size=1, max_size=2).map(lambda b: [*b, "See?"]),
        cached_blocks(),
        unknown_blocks(),
    )


def tool_returns() -> st.SearchStrategy[Any]:
    """What a tool may return: text, data, valid and broken blocks."""
    valid = ImageBlock(_image("image/png", VALID_IMAGES["image/png"])["source"])
    broken = [
        ImageBlock(_image("image/png", "@@")["source"]),
        ImageBlock(_image("image/jpeg", VALID_IMAGES["image/png"])["source"]),
        TextBlock("x", extra={"foo": 1}),
    ]
    return st.one_of(
        words,
        st.just({"found": True}),
        st.just([valid, "a picture"]),
        st.sampled_from(broken),
        st.sampled_from(broken).map(lambda b: ["text first", b]),
    )


@st.composite
def cases(draw: st.DrawFn, category: str) -> list[tuple[str, Any]]:
    """A category's steps: (operation, argument) pairs run on a new conversation."""
    steps: list[tuple[str, Any]] = []
    if category == "text":
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["send", "add_pair", "stream"]))
            steps.append((op, draw(texts())))
    elif category == "media":
        blocks = draw(st.lists(media(), min_size=1, max_size=2))
        steps.append(
            (
                draw(st.sampled_from(["send", "add_pair", "stream"])),
                [*blocks, "What is this?"],
            )
        )
        steps.append(("send", "and now?"))
    elif category == "tools":
        steps.append(("add_turns", draw(tool_history())))
        steps.append(("send", "next"))
    elif category == "cache":
        pairs = draw(st.lists(cached_blocks(), min_size=1, max_size=3))
        steps.extend(("add_pair", blocks) for blocks in pairs)
        steps.append(("send", draw(cached_blocks())))
    elif category == "prefill":
        prefill = draw(words) + draw(st.sampled_from(["", " ", "\n", " \t\n"]))
        model = draw(
            st.sampled_from(
                ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-sonnet-4-6"]
            )
        )
        steps.append(("set_model", model))
        steps.append(("prefill", (draw(words), prefill)))
        steps.append(("send", "go on"))
    elif category == "unknown":
        steps.append(
            (draw(st.sampled_from(["send", "add_pair"])), draw(unknown_blocks()))
        )
        steps.append(("send", "ok?"))
    elif category == "edit":
        steps.append(("send", draw(words)))
        steps.append(("edit", draw(any_content())))
    elif category == "run":
        steps.append(("send_probe", None))
        steps.append(("run_probe", draw(tool_returns())))
    elif category == "batch":
        steps.append(("add_user", draw(any_content())))
        steps.append(("batch", None))
    elif category == "import":
        steps.append(("send", draw(words)))
        steps.append(("import", draw(any_content())))
    else:
        steps.append(("send_params", (draw(words), draw(params()))))
        steps.append(
            ("tool_round", draw(st.sampled_from(["toolu_a1", "bad id", "toolu_b2"])))
        )
    return steps


# --- driving ------------------------------------------------------------------


class Driver:
    """Runs steps on one conversation through one twin; both look synchronous here."""

    def __init__(self, twin: str, store: Any, fake: FakeMessagesAPI, tmp: Path) -> None:
        self.tmp = tmp
        self.twin = twin
        self.store = store
        self.fake = fake
        policy = RetryPolicy.no_wait()
        if twin == "sync":
            self.client: Any = Client(api_key="k", transport=fake, retry=policy)
        else:
            self.client = AsyncClient(api_key="k", transport=fake, retry=policy)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.twin == "sync":
            return fn(*args, **kwargs)

        async def run() -> Any:
            return await fn(*args, **kwargs)

        return anyio.run(run)

    def create(self) -> Any:
        kind = Conversation if self.twin == "sync" else AsyncConversation
        return self.call(
            kind.create,
            self.store,
            client=self.client,
            model="claude-sonnet-4-5",
            cache=CacheConfig(),
        )

    def stream(self, conv: Any, content: Any) -> Any:
        if self.twin == "sync":
            with conv.stream(content) as s:
                for _ in s:
                    pass
            return s.turn

        async def run() -> Any:
            async with conv.stream(content) as s:
                async for _ in s:
                    pass
            return s.turn

        return anyio.run(run)

    def step(self, conv: Any, op: str, arg: Any) -> bool:
        """Run one step; True when it called the API."""
        if op == "send":
            self.call(conv.send, arg)
        elif op == "stream":
            self.stream(conv, arg)
        elif op == "add_pair":
            self.call(conv.add_turns, [("user", arg), ("assistant", "Noted.")])
            return False
        elif op == "add_turns":
            self.call(conv.add_turns, arg)
            return False
        elif op == "set_model":
            self.call(conv.set_model, arg)
            return False
        elif op == "prefill":
            self.call(conv.send, arg[0], prefill=arg[1])
        elif op == "send_params":
            self.call(conv.send, arg[0], **arg[1])
        elif op == "edit":
            self.call(conv.edit, 1, arg)
        elif op == "send_probe":
            self.fake.script(reply.tool_use("probe", {}, id="toolu_probe"))
            self.call(conv.send, "use the probe", tools=[PROBE_DEF])
        elif op == "run_probe":

            def probe() -> Any:
                """Return what the case says."""
                return arg

            self.call(conv.run, tools=[Tool.from_callable(probe)])
        elif op == "add_user":
            self.call(conv.add, "user", arg)
            return False
        elif op == "batch":
            self.batch(conv)
        elif op == "import":
            self.import_(conv, arg)
        elif op == "tool_round":
            uses = [ToolUseBlock(arg, "lookup", {"q": 1})]
            self.call(conv.add_turns, [("user", "look it up"), ("assistant", uses)])
            self.call(conv.add_tool_results, {arg: "found"})
            return False
        return True

    def batch(self, conv: Any) -> None:
        """Submit the pending turn as a batch, wait, collect: every result succeeded."""
        if self.twin == "sync":
            batches: Any = Batches(self.client, self.store)
        else:
            batches = AsyncBatches(self.client, self.store)
        job = self.call(batches.submit, [conv.id])
        self.call(batches.wait, job, poll_interval=0, sleep=self._no_sleep())
        report = self.call(batches.collect, job)
        if len(report.appended) != 1:
            msg = f"the fake did not answer the batch request: {report}"
            raise AssertionError(msg)

    def _no_sleep(self) -> Any:
        if self.twin == "sync":
            return lambda _: None

        async def sleep(_: float) -> None:
            return None

        return sleep

    def import_(self, conv: Any, content: Any) -> None:
        """Export the conversation with one more user turn, import it, then send."""
        record = self.store.get(conv.id)
        turns = self.store.read(conv.id)
        # A hand-made line: the content is stored as given, checked only by import.
        extra = Turn("user", to_blocks(content), seq=record.last_seq + 1)
        line = dump_line(record, (*turns, extra))
        path = self.tmp / f"{conv.id}.jsonl"
        path.write_text(line + "\n", encoding="utf-8")
        url = f"sqlite:///{self.tmp / 'imported.db'}"
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()) as err,
        ):
            code = cli_main(["--store", url, "import", str(path)])
        with SQLiteStore(self.tmp / "imported.db") as imported:
            present = [r.id for r in imported.list(limit=1000).items]
            if code != 0:
                assert conv.id not in present, "a refused import wrote something"
                raise InvalidInputError(err.getvalue())
            kind = Conversation if self.twin == "sync" else AsyncConversation
            again = self.call(kind.load, imported, conv.id, client=self.client)
            self.call(again.retry)

    def close(self) -> None:
        self.call(self.client.close if self.twin == "sync" else self.client.aclose)


def _state(store: Any, cid: str) -> tuple[Any, tuple[Any, ...]]:
    """What the store API reads of a conversation (lease bookkeeping aside)."""
    return store.get(cid), store.read(cid)


@pytest.fixture(name="stats_report", scope="module")
def _stats_report() -> Iterator[dict[str, Counter[str]]]:
    """Counts over all combinations, printed at the end (`pytest -s` shows them)."""
    report: dict[str, Counter[str]] = {}
    yield report
    total: Counter[str] = Counter()
    for counts in report.values():
        total.update(counts)
    lines = ["category   cases  steps-refused  steps-sent  rejected-by-fake"]
    lines.extend(
        f"{c:<10} {total[c + ':cases']:>5} {total[c + ':refused']:>14} "
        f"{total[c + ':sent']:>11} {total[c + ':rejected']:>17}"
        for c in CATEGORIES
    )
    print("\n" + "\n".join(lines))  # noqa: T201 - the counts the issue note reports


@pytest.mark.parametrize("twin", ["sync", "async"])
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_every_send_is_accepted_or_refused_before_writing(
    backend: str, twin: str, tmp_path: Path, stats_report: dict[str, Counter[str]]
) -> None:
    """Random inputs: refused with a ConversaError and nothing written, or accepted."""
    store: Any = (
        MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "p.db")
    )
    fake = FakeMessagesAPI()
    driver = Driver(twin, store, fake, tmp_path)
    counts: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        category = current[0]
        steps = data.draw(cases(category))
        counts[f"{category}:cases"] += 1
        conv = driver.create()
        for op, arg in steps:
            before = _state(store, conv.id)
            seen = len(fake.requests)
            try:
                called = driver.step(conv, op, arg)
            except APIError as exc:
                counts[f"{category}:rejected"] += 1
                msg = f"the fake rejected a request conversa sent: {exc}"
                raise AssertionError(msg) from exc
            except ConversaError:
                counts[f"{category}:refused"] += 1
                assert _state(store, conv.id) == before, "a refusal wrote something"
                assert len(fake.requests) == seen, "a refusal reached the API"
                continue
            for recorded in fake.requests[seen:]:
                assert recorded.status_code == 200, recorded.response_json
                if recorded.path == "/v1/messages":
                    check_request_body(recorded.body)
                    if recorded.response_json is not None:
                        check_message(recorded.response_json)
            if called:
                counts[f"{category}:sent"] += 1

    current = [""]
    try:
        for category in CATEGORIES:
            current[0] = category
            check()
    finally:
        driver.close()
        if backend == "sqlite":
            store.close()
        stats_report[f"{backend}-{twin}"] = counts
    for category in CATEGORIES:
        assert counts[f"{category}:refused"] >= MIN_REFUSED, (category, counts)
        assert counts[f"{category}:sent"] >= MIN_SENT, (category, counts)
        assert counts[f"{category}:rejected"] == 0
    assert sum(counts[f"{c}:cases"] for c in CATEGORIES) == EXAMPLES * len(CATEGORIES)
    json.dumps(counts)  # the counts are plain data
