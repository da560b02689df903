"""The property: a request conversa normalizes is never rejected for its shape.

Hypothesis builds random histories (text, tool loops with parallel calls, thinking
from this model and others, same-role runs, whitespace text, images, documents,
citations, server tools, summaries, retractions, prefills and continuations). Each
one either makes `to_messages` raise a clear conversa error, or gives messages that
the official SDK's request types accept and that the strict fake answers with 200.
Histories built only from well-formed steps must never be refused.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from conversa._core.cache import last_write_point, place_breakpoints
from conversa._core.normalize import Normalized, normalize, spliced, to_messages
from conversa._exceptions import (
    InvalidInputError,
    PendingToolUseError,
    UnrepairableHistoryError,
)
from conversa._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    SearchResultBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    block_from_api,
)
from conversa._values.body_json import body_json
from conversa._values.capabilities import capabilities_for, thinking_enabled
from conversa._values.turns import Role, Turn
from conversa.testing import FakeMessagesAPI, png_base64, reply
from tests.sdk_check import check_request_body

BASE_URL = "https://api.anthropic.com"
# request model -> a model whose thinking the request must not carry
MODELS = {
    "claude-sonnet-4-5": "claude-opus-4-5",  # prefill allowed, thinking off by default
    "claude-opus-4-6": "claude-sonnet-4-5",  # prefill rejected
    "claude-opus-5": "claude-sonnet-4-5",  # thinking on by default
    "claude-haiku-4-5": "claude-opus-4-6",  # 100 images, prefill allowed
}
VERSIONS = ("2026-10-21", "2023-06-01")
CITATION = {
    "type": "char_location",
    "cited_text": "x",
    "document_index": 0,
    "document_title": None,
    "start_char_index": 0,
    "end_char_index": 1,
}
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@functools.cache
def signed_thinking() -> tuple[ThinkingBlock, ...]:
    """Thinking blocks the fake signed itself, so its signature check passes."""
    fake = FakeMessagesAPI()
    blocks: list[ThinkingBlock] = []
    with httpx.Client(transport=fake, base_url=BASE_URL) as http:
        for n in range(4):
            fake.script(
                reply.thinking(f"Thought {n}: check the units.", then=reply.text("ok"))
            )
            body = {
                "model": "claude-sonnet-4-5",
                "max_tokens": 2048,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": f"q{n}"}],
            }
            answer = http.post(
                "/v1/messages", json=body, headers=_headers("2023-06-01")
            )
            assert answer.status_code == 200, answer.text
            block = block_from_api(answer.json()["content"][0])
            assert isinstance(block, ThinkingBlock)
            blocks.append(block)
    return tuple(blocks)


def _headers(version: str) -> dict[str, str]:
    return {"x-api-key": "sk-test", "anthropic-version": version}


def accepted(body: dict[str, Any], version: str) -> httpx.Response:
    """POST *body* to a fresh strict fake and return its answer."""
    with httpx.Client(transport=FakeMessagesAPI(), base_url=BASE_URL) as http:
        return http.post("/v1/messages", json=body, headers=_headers(version))


class History:
    """Builds one random history, step by step, from Hypothesis draws."""

    def __init__(self, draw: Any, *, broken: bool) -> None:
        self.draw = draw
        self.broken = broken
        self.model: str = draw(st.sampled_from(sorted(MODELS)))
        self.other = MODELS[self.model]
        self.version: str = draw(st.sampled_from(VERSIONS))
        self.caps = capabilities_for(self.model)
        self.thinking = thinking_enabled(self.caps, None)
        self.turns: list[Turn] = []
        self.pending: list[str] = []
        self.used_ids: list[str] = []
        self.counter: Iterator[int] = itertools.count(1)
        self.images = 0

    # --- blocks ---------------------------------------------------------------

    def text(self, *, real: bool = False, user: bool = False) -> TextBlock:
        choices = ["Hello", "Tell me more.", "ends in space ", "line\n", "42"]
        if not real:
            choices += ["", " ", "\n\t"]
        text = self.draw(st.sampled_from(choices))
        if user and text.strip() and self.draw(st.booleans()):
            return TextBlock(text, extra={"citations": [CITATION]})
        return TextBlock(text)

    def image(self) -> ImageBlock:
        self.images += 1
        size = self.draw(st.integers(1, 40))
        return ImageBlock(
            {
                "type": "base64",
                "media_type": "image/png",
                "data": png_base64(size, size),
            }
        )

    def user_extra(self) -> Block:
        kind = self.draw(st.sampled_from(["image", "document", "search"]))
        if kind == "image" and self.images < 15:
            return self.image()
        if kind == "document":
            return DocumentBlock(
                {
                    "type": "text",
                    "media_type": "text/plain",
                    "data": "A short document.",
                }
            )
        content = tuple(
            self.text(user=True) for _ in range(self.draw(st.integers(1, 2)))
        )
        return SearchResultBlock("https://example.com", "Example", content)

    def thinking_blocks(self, model: str | None) -> list[Block]:
        if not self.draw(st.booleans()):
            return []
        if model is not None and model == self.other:
            return [
                ThinkingBlock("foreign thought", "not-our-signature"),
                RedactedThinkingBlock("zzz"),
            ]
        pool = signed_thinking()
        return [pool[self.draw(st.integers(0, len(pool) - 1))]]

    def new_id(self) -> str:
        tool_id = f"toolu_{next(self.counter):03d}"
        self.used_ids.append(tool_id)
        return tool_id

    def result_content(self) -> Any:
        kind = self.draw(st.sampled_from(["str", "blank", "list", "image", "none"]))
        if kind == "str":
            return "72 degrees"
        if kind == "blank":
            return self.draw(st.sampled_from(["", "  "]))
        if kind == "list":
            return (self.text(user=True), self.text(user=True))
        if kind == "image" and self.images < 15:
            return (self.text(), self.image())
        return None

    # --- turns ----------------------------------------------------------------

    def add(self, role: Role, blocks: list[Any], **kw: Any) -> None:
        seq = len(self.turns) + 1
        self.turns.append(Turn(role, blocks, seq=seq, **kw))

    def turn_model(self) -> str | None:
        model: str | None = self.draw(
            st.sampled_from([self.model, self.other, None, f"{self.model}-20990101"])
        )
        return model

    def step(self) -> None:
        steps = ["user", "results", "assistant", "tools", "retract", "summary"]
        if self.broken:
            steps += ["orphan", "reuse-id", "server-open", "misplaced"]
        name = self.draw(st.sampled_from(steps))
        note(f"step {name}")
        getattr(self, "step_" + name.replace("-", "_"))()

    def step_user(self) -> None:
        blocks: list[Block] = [
            self.text(user=True) for _ in range(self.draw(st.integers(1, 3)))
        ]
        if self.draw(st.booleans()):
            blocks.append(self.user_extra())
        self.add("user", blocks)

    def step_results(self) -> None:
        if not self.pending:
            self.step_user()
            return
        ids = list(self.draw(st.permutations(self.pending)))
        if self.broken and self.draw(st.booleans()):
            ids = ids[1:]  # leave one call unanswered
        results: list[Block] = [
            ToolResultBlock(
                i, self.result_content(), True if self.draw(st.booleans()) else None
            )
            for i in ids
        ]
        split = self.draw(st.integers(0, len(results)))
        texts: list[Block] = [self.text(user=True)] if self.draw(st.booleans()) else []
        self.add("user", texts + results[:split])
        if split < len(results):
            self.add("user", results[split:])
        self.pending = []

    def step_assistant(self) -> None:
        if self.pending and not self.broken:
            self.step_results()
            return
        model = self.turn_model()
        blocks = self.thinking_blocks(model)
        blocks += [self.text() for _ in range(self.draw(st.integers(0, 2)))]
        if self.draw(st.integers(0, 4)) == 0:
            use_id = f"srvtoolu_{next(self.counter):03d}"
            blocks += [
                RawBlock(
                    {
                        "type": "server_tool_use",
                        "id": use_id,
                        "name": "web_search",
                        "input": {"query": "q"},
                    }
                ),
                RawBlock(
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": use_id,
                        "content": [],
                    }
                ),
            ]
        blocks.append(TextBlock("Done."))
        self.add("assistant", blocks, model=model)

    def step_tools(self) -> None:
        if self.pending and not self.broken:
            self.step_results()
            return
        model = self.turn_model()
        blocks = self.thinking_blocks(model)
        if self.draw(st.booleans()):
            blocks.append(self.text())
        ids = [self.new_id() for _ in range(self.draw(st.integers(1, 3)))]
        blocks += [ToolUseBlock(i, "get_weather", {"city": i}) for i in ids]
        self.add("assistant", blocks, model=model, stop_reason="tool_use")
        self.pending = ids

    def step_retract(self) -> None:
        plain = [
            t.seq
            for t in self.turns
            if t.kind == "message"
            and (self.broken or all(isinstance(b, TextBlock) for b in t.blocks))
        ]
        if not plain:
            return
        seq = self.draw(st.sampled_from(plain))
        self.add("user", ["retract"], kind="retraction", flags={"retracts": [seq]})

    def step_summary(self) -> None:
        role = self.draw(st.sampled_from(["user", "assistant"]))
        self.add(role, ["Summary: the user asked about the weather."], kind="summary")

    def step_orphan(self) -> None:
        self.add("user", [ToolResultBlock("toolu_999", "stray")])

    def step_reuse_id(self) -> None:
        if self.used_ids:
            reused = self.draw(st.sampled_from(self.used_ids))
            self.add("assistant", [ToolUseBlock(reused, "again", {})], model=self.model)
            self.pending = [reused]

    def step_server_open(self) -> None:
        block = RawBlock(
            {
                "type": "server_tool_use",
                "id": "srvtoolu_open",
                "name": "web_search",
                "input": {},
            }
        )
        self.add(
            "assistant",
            [TextBlock("Searching."), block],
            model=self.model,
            stop_reason="pause_turn",
        )

    def step_misplaced(self) -> None:
        kind = self.draw(st.sampled_from(["doc", "result", "use"]))
        if kind == "doc":
            doc = DocumentBlock(
                {"type": "text", "media_type": "text/plain", "data": "d"}
            )
            self.add("assistant", [doc], model=self.model)
        elif kind == "result":
            self.add("assistant", [ToolResultBlock("toolu_x", "r")], model=self.model)
        else:
            self.add("user", [ToolUseBlock("toolu_y", "f", {})])

    # --- the request ------------------------------------------------------------

    def finish(self) -> tuple[list[Turn], frozenset[str]]:
        """Add the new turn (or a prefill, or nothing: a continuation); return the turns."""
        turns = list(self.turns)
        may_prefill = self.caps.prefill and not self.thinking
        ending = self.draw(st.sampled_from(["new", "new", "prefill", "continue"]))
        last = turns[-1] if turns else None
        if (
            ending == "continue"
            and may_prefill
            and not self.pending
            and last is not None
            and last.role == "assistant"
            and last.kind == "message"
        ):
            return turns, frozenset()
        blocks: list[Block] = []
        if self.pending and (not self.broken or self.draw(st.booleans())):
            blocks += [ToolResultBlock(i, "answer") for i in self.pending]
        blocks.append(self.text(real=not self.broken, user=True))
        new = Turn("user", blocks, id="new-turn")
        turns.append(new)
        if ending == "prefill" and may_prefill:
            text = self.draw(
                st.sampled_from(['{"answer": ', "Sure", "  The answer is "])
            )
            turns.append(Turn("assistant", [text], id="prefill"))
        return turns, frozenset({new.id})


def build(draw: Any, *, broken: bool) -> tuple[History, list[Turn], frozenset[str]]:
    history = History(draw, broken=broken)
    for _ in range(draw(st.integers(0, 12))):
        history.step()
    turns, new = history.finish()
    return history, turns, new


def normalized(history: History, turns: list[Turn], new: frozenset[str]) -> Normalized:
    """The history's turns through `normalize`, as a send of them would be."""
    return normalize(
        turns,
        model=history.model,
        caps=history.caps,
        api_version=history.version,
        thinking=history.thinking,
        new_turn_ids=new,
    )


def check_accepted(history: History, messages: list[dict[str, Any]]) -> None:
    """The messages pass the SDK's types and the strict fake answers 200."""
    body = {"model": history.model, "max_tokens": 1024, "messages": messages}
    note(f"body {body}")
    check_request_body(body)
    answer = accepted(body, history.version)
    assert answer.status_code == 200, answer.text


@SETTINGS
@given(st.data())
def test_never_rejected_for_shape(data: st.DataObject) -> None:
    """Any history gives a clear conversa error or a request the API accepts."""
    history, turns, new = build(data.draw, broken=True)
    refused: InvalidInputError | None = None
    try:
        messages = list(normalized(history, turns, new).messages)
    except InvalidInputError as exc:
        refused = exc
    if refused is None:
        event("sent")
        check_accepted(history, messages)
        return
    event(f"refused: {type(refused).__name__}")
    check_refusal(refused, turns)


def check_refusal(refused: InvalidInputError, turns: list[Turn]) -> None:
    """A refusal is clear: it names the turn at fault, or the pending tool calls."""
    if isinstance(refused, PendingToolUseError):
        assert refused.tool_use_ids
    elif isinstance(refused, UnrepairableHistoryError):
        assert refused.turn_position is not None
        turn = turns[refused.turn_position]
        assert (refused.turn_id, refused.turn_seq) == (turn.id, turn.seq)
        assert refused.rule
    else:
        assert "nothing to send" in str(refused)


@SETTINGS
@given(st.data())
def test_well_formed_histories_are_always_sent(data: st.DataObject) -> None:
    """A history built only from well-formed steps is never refused, and is accepted."""
    history, turns, new = build(data.draw, broken=False)
    check_accepted(history, list(normalized(history, turns, new).messages))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_signed_thinking_is_accepted_back(model: str) -> None:
    """The fake takes back the thinking it signed, so the pool is valid for every model."""
    block = signed_thinking()[0]
    turns = [
        Turn("user", ["q"], seq=1),
        Turn(
            "assistant", [block, ToolUseBlock("toolu_1", "f", {})], seq=2, model=model
        ),
        Turn("user", [ToolResultBlock("toolu_1", "r")], id="new"),
    ]
    caps = capabilities_for(model)
    messages = to_messages(
        turns,
        model=model,
        caps=caps,
        thinking=thinking_enabled(caps, None),
        new_turn_ids=frozenset({"new"}),
    )
    assert messages[1]["content"][0] == block.to_api()
    body: dict[str, Any] = {"model": model, "max_tokens": 1024, "messages": messages}
    assert accepted(body, "2026-10-21").status_code == 200
    tampered = {**block.to_api(), "thinking": "changed"}
    body["messages"][1]["content"][0] = tampered
    assert accepted(body, "2026-10-21").status_code == 400


@SETTINGS
@given(st.data())
def test_spliced_body_is_the_bytes_httpx_sends(data: st.DataObject) -> None:
    """A body with stored turns' JSON spliced in is byte for byte the wire's
    encoding (httpx's ``json=`` from 0.28 on).

    The splice rests on one fact: a message `normalize` marks as a turn's
    (`Normalized.sources`) has that turn's blocks as its content, unchanged. The
    cache breakpoints copy the messages they mark, which are then encoded as usual.
    """
    history, turns, new = build(data.draw, broken=data.draw(st.booleans()))
    try:
        made = normalized(history, turns, new)
    except InvalidInputError:
        return
    for message, turn in zip(made.messages, made.sources, strict=True):
        if turn is not None:
            event("a verbatim message")
            assert message["content"] == json.loads(turn.content_json())
    body: dict[str, Any] = {
        "model": history.model,
        "max_tokens": 1024,
        "messages": list(made.messages),
    }
    if data.draw(st.booleans()):
        body = place_breakpoints(body, previous_end=last_write_point(body["messages"]))
    sent = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()
    assert body_json(spliced(body, made)) == sent
    assert body_json(body) == sent
