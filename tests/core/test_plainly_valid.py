"""`plainly_valid`, the add's shortcut past `check_history`: when it says a history
passes, `check_history` passes it, for every model and API version.

Hypothesis builds histories from plain turns and, now and then, everything that
is not plain (tool calls and results, images, documents, server tools, thinking
in a user turn, blank text, retractions, summaries, an id the tail holds), splits
them into a stored tail and new turns, and holds the shortcut to its word.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conversa._core import normalize as normalize_module
from conversa._core.normalize import check_history, plain_user_run, plainly_valid
from conversa._exceptions import InvalidInputError, PendingToolUseError
from conversa._values.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from conversa._values.capabilities import capabilities_for
from conversa._values.settings import RETRACTS_KEY
from conversa._values.turns import Turn
from conversa.testing import png_base64
from tests.core.test_normalize_props import build, normalized

MODELS = ("claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5")
VERSIONS = ("2026-10-21", "2023-06-01")
TEXTS = ("Hello.", "  spaced  ", "", " \n ", "x")

plain_text = st.sampled_from(TEXTS).map(TextBlock)
thinking = st.sampled_from(
    [ThinkingBlock("Let me see.", "sig"), RedactedThinkingBlock("abc")]
)
other = st.sampled_from(
    [
        ToolUseBlock("toolu_1", "lookup", {"q": 1}),
        ToolResultBlock("toolu_1", "found"),
        ToolResultBlock("toolu_2", "stray"),
        ImageBlock({"type": "base64", "media_type": "image/png", "data": png_base64()}),
        DocumentBlock({"type": "text", "media_type": "text/plain", "data": "doc"}),
        RawBlock({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}),
        TextBlock("cited", extra={"citations": [{"type": "char_location"}]}),
    ]
)


@st.composite
def a_turn(draw: Any, index: int) -> Turn:
    role = draw(st.sampled_from(["user", "assistant"]))
    kind = draw(st.sampled_from(["message"] * 8 + ["summary", "retraction"]))
    pool: list[st.SearchStrategy[Block]] = [plain_text, plain_text, plain_text]
    if role == "assistant" or draw(st.integers(0, 9)) == 0:
        pool.append(thinking)
    if draw(st.integers(0, 4)) == 0:
        pool.append(other)
    blocks = tuple(draw(st.lists(st.one_of(pool), min_size=1, max_size=3)))
    flags = {RETRACTS_KEY: [index]} if kind == "retraction" else {}
    return Turn(role, blocks, id=f"t{index}", seq=index + 1, kind=kind, flags=flags)


@st.composite
def split_history(draw: Any) -> tuple[list[Turn], list[Turn]]:
    size = draw(st.integers(1, 6))
    turns = [draw(a_turn(i)) for i in range(size)]
    cut = draw(st.integers(0, size - 1))
    tail, new = turns[:cut], turns[cut:]
    if tail and draw(st.integers(0, 9)) == 0:  # an id the tail holds already
        new[0] = Turn(new[0].role, new[0].blocks, id=tail[0].id)
    return tail, new


def checked(tail: list[Turn], new: list[Turn], model: str, version: str) -> None:
    """`check_history` with every rule (its own plain shortcut off)."""
    with mock.patch.object(normalize_module, "_plain", return_value=False):
        _check(tail, new, model, version)


def _check(tail: list[Turn], new: list[Turn], model: str, version: str) -> None:
    check_history(
        (*tail, *new),
        model=model,
        caps=capabilities_for(model),
        api_version=version,
        new_turn_ids=frozenset(t.id for t in new),
        open_end=True,
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_history())
def test_a_history_it_calls_plain_passes_the_full_check(
    history: tuple[list[Turn], list[Turn]],
) -> None:
    tail, new = history
    if not plainly_valid(tail, new):
        event("not plain: check_history decides")
        return
    event("plain")
    for model in MODELS:
        for version in VERSIONS:
            checked(tail, new, model, version)  # never raises


def test_the_usual_chat_add_is_plain() -> None:
    tail = [
        Turn("assistant", (ThinkingBlock("Hmm.", "sig"), TextBlock("Hi!")), id="a"),
        Turn("user", (TextBlock("And then?"),), id="b"),
    ]
    assert plainly_valid(tail, [Turn("user", (TextBlock("More."),), id="c")])
    assert plainly_valid(tail, [Turn("assistant", (TextBlock("Sure."),), id="c")])
    assert plainly_valid([], [Turn("user", (TextBlock("First."),), id="c")])


@pytest.mark.parametrize(
    ("tail", "new"),
    [
        # A user's text after a call for tools: refused by the full check.
        (
            [Turn("assistant", (ToolUseBlock("toolu_1", "f", {}),), id="a")],
            [Turn("user", (TextBlock("Hi"),), id="b")],
        ),
        # Only blank text in the new turn: refused ("has no content").
        ([], [Turn("user", (TextBlock("  "),), id="b")]),
        # The new turn's id is the tail's.
        (
            [Turn("assistant", (TextBlock("Hi"),), id="a")],
            [Turn("user", (TextBlock("Hi"),), id="a")],
        ),
        # Thinking in a user turn.
        (
            [Turn("user", (ThinkingBlock("t", "sig"),), id="a")],
            [Turn("assistant", (TextBlock("Hi"),), id="b")],
        ),
        # A retraction in the tail.
        (
            [Turn("user", (TextBlock("x"),), id="a", kind="retraction")],
            [Turn("assistant", (TextBlock("Hi"),), id="b")],
        ),
    ],
)
def test_what_is_not_plain_goes_to_the_full_check(
    tail: list[Turn], new: list[Turn]
) -> None:
    assert not plainly_valid(tail, new)


def test_the_full_check_still_refuses_text_after_a_call_for_tools() -> None:
    tail = [Turn("assistant", (ToolUseBlock("toolu_1", "f", {}),), id="a")]
    new = [Turn("user", (TextBlock("Hi"),), id="b")]
    with pytest.raises(PendingToolUseError):
        checked(tail, new, "claude-sonnet-4-5", "2026-10-21")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_plain_shortcut_inside_check_history_changes_no_outcome(
    data: st.DataObject,
) -> None:
    """`check_history` skips `check_messages` for plain turns (all but thinking's
    rule): on any history, it refuses what the full rules refuse, with the same
    error, and passes what they pass."""
    history, turns, new = build(data.draw, broken=True)

    def outcome() -> str:
        try:
            normalized(history, turns, new)  # check_history, as a send runs it
        except InvalidInputError as exc:
            return f"{type(exc).__name__}: {exc}"
        return "passed"

    shortcut = outcome()
    with mock.patch.object(normalize_module, "_plain", return_value=False):
        full = outcome()
    event(f"plain: {shortcut == 'passed'}")
    assert shortcut == full


@st.composite
def stored_then_user_run(draw: Any) -> tuple[list[Turn], list[Turn], list[Turn]]:
    """A stored history ending in a run of user text, and plain new turns."""
    size = draw(st.integers(0, 5))
    older = [draw(a_turn(i)) for i in range(size)]
    run = [
        Turn("user", (TextBlock(f"run {i}"),), id=f"r{i}", seq=size + i + 1)
        for i in range(draw(st.integers(1, 4)))
    ]
    roles = draw(
        st.lists(st.sampled_from(["user", "assistant"]), min_size=1, max_size=3)
    )
    new = [Turn(role, (TextBlock("next"),), id=f"n{i}") for i, role in enumerate(roles)]
    return older, run, new


def _passes(tail: list[Turn], new: list[Turn], model: str, version: str) -> bool:
    try:
        checked(tail, new, model, version)
    except InvalidInputError:
        return False
    return True


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored_then_user_run(), st.data())
def test_plain_turns_after_a_stored_run_of_user_text_pass_whatever_came_before(
    history: tuple[list[Turn], list[Turn], list[Turn]], data: st.DataObject
) -> None:
    """The bounded tail's ground (`plain_user_run`, `tail_flow(bounded=True)`): when
    a stored history ends in user turns of text, plain new turns that pass against
    the run's newest turns alone pass against the whole history."""
    older, run, new = history
    assert plain_user_run(run)
    model = data.draw(st.sampled_from(MODELS))
    version = data.draw(st.sampled_from(VERSIONS))
    stored = [*older, *run]
    if not _passes(stored[:-1], stored[-1:], model, version):
        event("the run could not have been stored")
        return
    newest = run[-data.draw(st.integers(1, len(run))) :]
    assert plainly_valid(newest, new)
    event("stored")
    checked(stored, new, model, version)  # never raises


@pytest.mark.parametrize(
    "turn",
    [
        Turn("assistant", (TextBlock("Hi"),), id="a"),
        Turn("user", (ToolResultBlock("toolu_1", "ok"),), id="a"),
        Turn("user", (TextBlock("x"), ThinkingBlock("t", "sig")), id="a"),
        Turn("user", (TextBlock("x"),), id="a", kind="summary"),
        Turn("user", (TextBlock("x"),), id="a", kind="retraction"),
        Turn(
            "user",
            (
                ImageBlock(
                    {"type": "base64", "media_type": "image/png", "data": png_base64()}
                ),
            ),
            id="a",
        ),
    ],
)
def test_a_run_with_anything_but_user_text_is_not_a_plain_run(turn: Turn) -> None:
    text = Turn("user", (TextBlock("x"),), id="b")
    assert plain_user_run([text, text])
    assert not plain_user_run([turn, text])
