"""Cache breakpoints: where conversa marks a body, one row per rule, and properties.

Bodies come from `build_body` where the rule is about conversations, and are
written out by hand where it is about odd shapes. Every placed body is checked
against the SDK's types; the property test also sends it to the strict fake.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversa._core.cache import (
    LOOKBACK_BLOCKS,
    breakpoint_count,
    last_write_point,
    place_breakpoints,
    stable_prefix_index,
)
from conversa._core.normalize import normalize
from conversa._core.request import build_body
from conversa._core.window import plan_window
from conversa._exceptions import InvalidInputError
from conversa._values.capabilities import capabilities_for
from conversa._values.params import RequestParams
from conversa._values.turns import ConversationRecord, Turn
from conversa.testing import FakeMessagesAPI
from tests.core.test_window_props import Case, cases
from tests.sdk_check import check_request_body

MODEL = "claude-sonnet-4-5"
CAPS = capabilities_for(MODEL)
TOOL = {"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}
E5 = {"type": "ephemeral"}
E1 = {"type": "ephemeral", "ttl": "1h"}


def txt(text: str, **extra: Any) -> dict[str, Any]:
    """A text block."""
    return {"type": "text", "text": text, **extra}


def body(
    *messages: dict[str, Any],
    system: Any = "Be brief.",
    tools: Any = (TOOL,),
    **top: Any,
) -> dict[str, Any]:
    """A body with these messages."""
    out: dict[str, Any] = {"model": MODEL, "max_tokens": 100}
    if system is not None:
        out["system"] = system
    out["messages"] = list(messages)
    if tools:
        out["tools"] = [dict(t) for t in tools]
    out.update(top)
    return out


def user(*blocks: Any) -> dict[str, Any]:
    """A user message."""
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> dict[str, Any]:
    """An assistant message."""
    return {"role": "assistant", "content": list(blocks)}


def marks(b: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Where a body's cache_control markers are, with their TTL."""
    out: list[tuple[Any, ...]] = []
    for name in ("tools", "system"):
        if isinstance(b.get(name), list):
            out += [
                (name, i, item["cache_control"].get("ttl", "5m"))
                for i, item in enumerate(b[name])
                if "cache_control" in item
            ]
    for m, message in enumerate(b["messages"]):
        content = message["content"]
        if isinstance(content, list):
            out += [
                (m, i, block["cache_control"].get("ttl", "5m"))
                for i, block in enumerate(content)
                if "cache_control" in block
            ]
    return out


THREE = (user(txt("q1")), assistant(txt("a1")), user(txt("q2")))

ROWS = [
    pytest.param(
        body(*THREE), {}, [("system", 0, "5m"), (2, 0, "5m")], id="system-and-end"
    ),
    pytest.param(
        body(*THREE), {"ttl": "1h"}, [("system", 0, "1h"), (2, 0, "1h")], id="ttl-1h"
    ),
    pytest.param(
        body(*THREE, system=None),
        {},
        [("tools", 0, "5m"), (2, 0, "5m")],
        id="last-tool-without-system",
    ),
    pytest.param(
        body(*THREE, system=None, tools=()), {}, [(2, 0, "5m")], id="end-only"
    ),
    pytest.param(
        body(*THREE, system=[txt("a"), txt("b"), txt("")]),
        {},
        [("system", 1, "5m"), (2, 0, "5m")],
        id="last-non-empty-system-block",
    ),
    pytest.param(
        body(*THREE, system=[txt(" ")]),
        {},
        [("tools", 0, "5m"), (2, 0, "5m")],
        id="empty-system-falls-back-to-tools",
    ),
    pytest.param(
        body(*THREE),
        {"stable_prefix": 1},
        [("system", 0, "5m"), (1, 0, "5m"), (2, 0, "5m")],
        id="stable-prefix",
    ),
    pytest.param(
        body(*THREE),
        {"stable_prefix": 2},
        [("system", 0, "5m"), (2, 0, "5m")],
        id="stable-prefix-is-the-end",
    ),
    pytest.param(
        body(*THREE),
        {"stable_prefix": 9},
        [("system", 0, "5m"), (2, 0, "5m")],
        id="stable-prefix-out-of-range",
    ),
    pytest.param(
        body(
            user(txt("q")),
            assistant(
                {"type": "thinking", "thinking": "t", "signature": "s"},
                txt("a"),
                {"type": "redacted_thinking", "data": "d"},
            ),
        ),
        {},
        [("system", 0, "5m"), (1, 1, "5m")],
        id="walks-back-over-thinking",
    ),
    pytest.param(
        body(
            user(txt("q"), txt(" ")),
            assistant({"type": "thinking", "thinking": "t", "signature": "s"}),
        ),
        {},
        [("system", 0, "5m"), (0, 0, "5m")],
        id="walks-back-across-messages",
    ),
    pytest.param(
        body(
            user(
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {},
                },
                txt(""),
            )
        ),
        {},
        [("system", 0, "5m"), (0, 0, "5m")],
        id="server-blocks-take-one",
    ),
    pytest.param(
        body(assistant({"type": "thinking", "thinking": "t", "signature": "s"})),
        {},
        [("system", 0, "5m")],
        id="nothing-cacheable",
    ),
    pytest.param(
        body(*THREE, cache_control={"type": "ephemeral"}),
        {},
        [("system", 0, "5m")],
        id="automatic-caching-is-the-moving-end",
    ),
    pytest.param(
        body(*THREE, cache_control={"type": "ephemeral"}),
        {"ttl": "1h", "stable_prefix": 2},
        [("system", 0, "1h")],
        id="never-on-the-automatic-target",
    ),
    pytest.param(
        body(user(txt("q1")), assistant(txt("a1")), user(txt("q2", cache_control=E5))),
        {},
        [("system", 0, "5m"), (2, 0, "5m")],
        id="already-marked-end-costs-no-slot",
    ),
    pytest.param(
        body(
            user(txt("q1", cache_control=E5)),
            assistant(txt("a1", cache_control=E5)),
            user(txt("q2", cache_control=E5)),
        ),
        {"stable_prefix": 0},
        [("system", 0, "5m"), (0, 0, "5m"), (1, 0, "5m"), (2, 0, "5m")],
        id="fills-the-last-slot-by-priority",
    ),
    pytest.param(
        body(
            user(txt("q1", cache_control=E5)),
            assistant(txt("a1", cache_control=E5)),
            user(txt("q2")),
            cache_control=E5,
            system=[txt("s", cache_control=E5)],
        ),
        {},
        [("system", 0, "5m"), (0, 0, "5m"), (1, 0, "5m")],
        id="no-slot-left",
    ),
    pytest.param(
        body(user(txt("q1")), assistant(txt("a1", cache_control=E1)), user(txt("q2"))),
        {},
        [("system", 0, "1h"), (1, 0, "1h"), (2, 0, "5m")],
        id="before-a-callers-1h-takes-1h",
    ),
    pytest.param(
        body(*THREE, system=[txt("s", cache_control=E5)]),
        {"ttl": "1h"},
        [("system", 0, "5m"), (2, 0, "5m")],
        id="after-a-callers-5m-takes-5m",
    ),
]


@pytest.mark.parametrize(("given_body", "kwargs", "expected"), ROWS)
def test_place_breakpoints_rows(
    given_body: dict[str, Any], kwargs: dict[str, Any], expected: list[tuple[Any, ...]]
) -> None:
    """Each rule puts the marks where the table says, and the input is untouched."""
    before = copy.deepcopy(given_body)
    placed = place_breakpoints(given_body, **kwargs)
    assert given_body == before
    assert marks(placed) == expected
    assert breakpoint_count(placed) <= 4
    check_request_body(placed)


def test_string_contents_become_blocks_only_when_marked() -> None:
    """A string system prompt or message content becomes one text block to carry a mark."""
    given_body = body(
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    )
    placed = place_breakpoints(given_body)
    assert placed["system"] == [txt("Be brief.", cache_control=E5)]
    assert placed["messages"][2]["content"] == [txt("q2", cache_control=E5)]
    assert placed["messages"][0] is given_body["messages"][0]


def test_unchanged_parts_are_shared_and_output_is_deterministic() -> None:
    """Only changed dicts are copied, and the same input gives the same bytes."""
    given_body = body(*THREE)
    one, two = (
        place_breakpoints(given_body, stable_prefix=0),
        place_breakpoints(given_body, stable_prefix=0),
    )
    assert json.dumps(one) == json.dumps(two)
    assert one["messages"][1] is given_body["messages"][1]
    assert one["tools"] is given_body["tools"]


def test_disabled_returns_the_body_unchanged() -> None:
    """enabled=False returns an equal copy, without marks."""
    given_body = body(*THREE)
    placed = place_breakpoints(given_body, enabled=False)
    assert placed == given_body
    assert placed is not given_body


def test_bad_ttl_is_refused() -> None:
    """Only 5m and 1h are TTLs."""
    with pytest.raises(InvalidInputError, match="'5m' or '1h'"):
        place_breakpoints(body(*THREE), ttl="2h")  # type: ignore[arg-type]


def loop(calls: int) -> list[dict[str, Any]]:
    """A question, a reply, then one assistant message with *calls* parallel tool calls and results."""
    uses = [
        {"type": "tool_use", "id": f"toolu_{i}", "name": "lookup", "input": {}}
        for i in range(calls)
    ]
    results = [
        {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "ok"}
        for i in range(calls)
    ]
    return [
        user(txt("q1")),
        assistant(txt("a1")),
        user(txt("q2")),
        assistant(*uses),
        user(*results),
    ]


@pytest.mark.parametrize(("calls", "marked"), [(9, False), (10, True)])
def test_previous_end_is_marked_only_beyond_the_lookback(
    calls: int, marked: bool
) -> None:
    """A mark at the previous write appears once the new part has 20 blocks or more."""
    messages = loop(calls)
    previous = last_write_point([*messages[:3], assistant(txt("x"))])
    assert previous == (2, 0)
    placed = place_breakpoints(body(*messages), previous_end=previous)
    assert ((2, 0, "5m") in marks(placed)) is marked
    assert LOOKBACK_BLOCKS == 20


def test_previous_end_outside_the_body_is_ignored() -> None:
    """A previous end past the messages, or with nothing cacheable before it, adds nothing."""
    given_body = body(*loop(12))
    assert marks(place_breakpoints(given_body, previous_end=(9, 0))) == marks(
        place_breakpoints(given_body)
    )
    thinking_first = body(
        assistant({"type": "thinking", "thinking": "t", "signature": "s"}),
        *loop(12)[2:],
    )
    placed = place_breakpoints(thinking_first, previous_end=(0, 0))
    assert marks(placed) == [("system", 0, "5m"), (3, 11, "5m")]


def test_unknown_kinds_take_no_mark() -> None:
    """A block kind not known to take cache_control is walked back over."""
    given_body = body(
        user(txt("q"), {"type": "compaction", "content": "c"}), system=None, tools=()
    )
    assert marks(place_breakpoints(given_body)) == [(0, 0, "5m")]


def test_nested_caller_marks_count() -> None:
    """Marks inside tool results and custom documents use slots too."""
    result = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "content": [txt("r", cache_control=E5)],
    }
    doc = {
        "type": "document",
        "source": {"type": "content", "content": [txt("d", cache_control=E5)]},
    }
    given_body = body(
        user(txt("q")),
        assistant({"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}),
        user(result, doc, "junk"),
        system=[txt("s", cache_control=E5)],
    )
    assert breakpoint_count(given_body) == 3
    assert breakpoint_count(place_breakpoints(given_body)) == 4


WRITE_POINTS = [
    pytest.param([user(txt("q"))], None, id="first-call"),
    pytest.param([assistant(txt("a")), user(txt("q"))], None, id="opens-on-assistant"),
    pytest.param(
        [user(txt("q"), txt("r")), assistant(txt("a")), user(txt("n"))],
        (0, 1),
        id="reply-then-new",
    ),
    pytest.param(
        [{"role": "user", "content": "q"}, assistant(txt("a"))],
        (0, 0),
        id="string-content",
    ),
    pytest.param(loop(2), (2, 0), id="tool-loop"),
]


@pytest.mark.parametrize(("messages", "expected"), WRITE_POINTS)
def test_last_write_point(
    messages: list[dict[str, Any]], expected: tuple[int, int] | None
) -> None:
    """The previous call ended on the message before the last reply."""
    assert last_write_point(messages) == expected


def turn(role: str, text: str, **kw: Any) -> Turn:
    """A turn."""
    return Turn(role, text, **kw)  # type: ignore[arg-type]


STABLE = [
    pytest.param(2, 1, id="pinned-exchange"),
    pytest.param(3, 1, id="pinned-user-merges-with-the-window"),
    pytest.param(0, None, id="nothing-pinned"),
    pytest.param(9, 2, id="everything-pinned"),
]


@pytest.mark.parametrize(("stable_turns", "expected"), STABLE)
def test_stable_prefix_index(stable_turns: int, expected: int | None) -> None:
    """The stable prefix ends on the last message made only of pinned turns."""
    turns = [
        turn("user", "q1"),
        turn("assistant", "a1"),
        turn("user", "pinned"),
        turn("user", "q2"),
    ]
    normalized = normalize(turns, model=MODEL, caps=CAPS)
    assert stable_prefix_index(normalized, stable_turns) == expected


def _send(fake: FakeMessagesAPI, b: dict[str, Any]) -> httpx.Response:
    with httpx.Client(transport=fake, base_url="https://api.anthropic.com") as http:
        return http.post(
            "/v1/messages",
            headers={"x-api-key": "k", "anthropic-version": "2026-10-21"},
            json=b,
        )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.data())
def test_placed_bodies_are_valid(case: Case, data: st.DataObject) -> None:
    """Any planned body with marks has at most 4, none on thinking or empty text, and passes the SDK types and the fake."""
    try:
        plan = plan_window(
            [*case.stored, case.new], pinned=case.pinned, budget=10**6, max_images=10**3
        )
    except InvalidInputError:
        return
    record = ConversationRecord(
        model=MODEL,
        system=data.draw(
            st.sampled_from([None, "Be brief.", [{"type": "text", "text": "S"}]])
        ),
    )
    normalized = normalize(
        plan.turns, model=MODEL, caps=CAPS, new_turn_ids={case.new.id}
    )
    params = RequestParams(tools=data.draw(st.sampled_from([None, (TOOL,)])))
    given_body = build_body(record, list(normalized.messages), params, model=MODEL)
    if data.draw(st.booleans()):
        given_body["cache_control"] = {
            "type": "ephemeral",
            "ttl": data.draw(st.sampled_from(["5m", "1h"])),
        }
    kwargs: dict[str, Any] = {
        "ttl": data.draw(st.sampled_from(["5m", "1h"])),
        "stable_prefix": stable_prefix_index(normalized, plan.stable_turns),
        "previous_end": data.draw(
            st.sampled_from([None, last_write_point(given_body["messages"]), (0, 0)])
        ),
    }
    placed = place_breakpoints(given_body, **kwargs)
    assert breakpoint_count(placed) <= 4
    for message in placed["messages"]:
        for block in message["content"]:
            if "cache_control" in block:
                assert block["type"] not in ("thinking", "redacted_thinking")
                assert block["type"] != "text" or block["text"].strip()
    assert json.dumps(placed) == json.dumps(place_breakpoints(given_body, **kwargs))
    check_request_body(placed)
    response = _send(FakeMessagesAPI(), placed)
    assert response.status_code == 200, response.text
