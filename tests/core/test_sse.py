"""Events as conversa reads them (httpx-sse), and the stream fold: events in, the
non-streamed Message out."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx
import pytest
from anthropic.types import Message
from httpx_sse import EventSource, ServerSentEvent
from hypothesis import given
from hypothesis import strategies as st

from conversa._client.sse import (
    CitationDelta,
    Delta,
    InputJSONDelta,
    StreamFold,
    TextDelta,
    ThinkingDelta,
)
from conversa._exceptions import StreamError

#: Every character str.splitlines breaks on besides LF and CR (CRLF aside).
SPLITLINES_ONLY = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"

# --- fixtures: the SSE text of a stream, and the body the same reply has unstreamed


def _usage(**overrides: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": 25,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 0,
        },
        "server_tool_use": None,
        "service_tier": "standard",
    }
    usage.update(overrides)
    return usage


def _start(**overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-8",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "container": None,
        "diagnostics": None,
        "usage": _usage(),
    }
    message.update(overrides)
    return {"type": "message_start", "message": message}


def _event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, **data}


def _delta(index: int, **delta: Any) -> dict[str, Any]:
    return _event("content_block_delta", index=index, delta=delta)


def _end(stop_reason: str, output_tokens: int, **usage: Any) -> list[dict[str, Any]]:
    return [
        _event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage={"output_tokens": output_tokens, **usage},
        ),
        _event("message_stop"),
    ]


def _sse(events: Iterable[Mapping[str, Any]], *, named: bool = True) -> str:
    """Write *events* as an event stream, as the API sends them (raw UTF-8 JSON)."""
    text = ""
    for event in events:
        if named:
            text += f"event: {event['type']}\n"
        text += f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    return text


def _events(body: str | Sequence[bytes]) -> list[ServerSentEvent]:
    """Decode an event stream the way the clients do: httpx-sse's EventSource over
    a response, *body* given whole or as the chunks the network delivers."""
    chunks = [body.encode()] if isinstance(body, str) else list(body)
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream; charset=utf-8"},
        content=iter(chunks),
    )
    return list(EventSource(response).iter_sse())


def _fields(event: ServerSentEvent) -> tuple[str, str, str, int | None]:
    return (event.event, event.data, event.id, event.retry)


def _fold(body: str | Sequence[bytes]) -> tuple[StreamFold, list[Delta]]:
    fold, deltas = StreamFold(), []
    for event in _events(body):
        delta = fold.add(event)
        if delta is not None:
            deltas.append(delta)
    return fold, deltas


TEXT_EVENTS = [
    _start(),
    _event("ping"),
    _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    _delta(0, type="text_delta", text="Hello"),
    _delta(0, type="text_delta", text=", world"),
    _event("content_block_stop", index=0),
    *_end("end_turn", 12),
]
TEXT_MESSAGE = {
    **_start()["message"],
    "content": [{"type": "text", "text": "Hello, world"}],
    "stop_reason": "end_turn",
    "usage": _usage(output_tokens=12),
}

TOOL_EVENTS = [
    _start(),
    _event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    _delta(0, type="text_delta", text="Let me check."),
    _event("content_block_stop", index=0),
    _event(
        "content_block_start",
        index=1,
        content_block={
            "type": "tool_use",
            "id": "toolu_01",
            "name": "weather",
            "input": {},
        },
    ),
    _delta(1, type="input_json_delta", partial_json=""),
    _delta(1, type="input_json_delta", partial_json='{"location": "Pa'),
    _delta(1, type="input_json_delta", partial_json='ris", "days": [1, 2]}'),
    _event("content_block_stop", index=1),
    *_end("tool_use", 65, input_tokens=None, cache_read_input_tokens=None),
]
TOOL_MESSAGE = {
    **_start()["message"],
    "content": [
        {"type": "text", "text": "Let me check."},
        {
            "type": "tool_use",
            "id": "toolu_01",
            "name": "weather",
            "input": {"location": "Paris", "days": [1, 2]},
        },
    ],
    "stop_reason": "tool_use",
    "usage": _usage(output_tokens=65),
}

CITATION = {
    "type": "char_location",
    "cited_text": "The grass is green.",
    "document_index": 0,
    "document_title": "Facts",
    "start_char_index": 0,
    "end_char_index": 19,
    "file_id": None,
}
THINKING_EVENTS = [
    _start(),
    _event(
        "content_block_start",
        index=0,
        content_block={"type": "thinking", "thinking": "", "signature": ""},
    ),
    _delta(0, type="thinking_delta", thinking="The user asks"),
    _delta(0, type="thinking_delta", thinking=" about grass."),
    _delta(0, type="signature_delta", signature="EqQBCgIYAhIM"),
    _event("content_block_stop", index=0),
    _event(
        "content_block_start",
        index=1,
        content_block={"type": "text", "text": "", "citations": None},
    ),
    _delta(1, type="citations_delta", citation=CITATION),
    _delta(1, type="text_delta", text="Grass is green."),
    _delta(1, type="citations_delta", citation={**CITATION, "document_index": 1}),
    _event("content_block_stop", index=1),
    _event(
        "message_delta",
        delta={
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "stop_details": None,
            "container": {"id": "cntr_1", "expires_at": "2026-11-01T00:00:00Z"},
        },
        usage={
            "output_tokens": 40,
            "input_tokens": 30,
            "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
            "output_tokens_details": {"thinking_tokens": 20},
        },
    ),
    _event("message_stop"),
]
THINKING_MESSAGE = {
    **_start()["message"],
    "content": [
        {
            "type": "thinking",
            "thinking": "The user asks about grass.",
            "signature": "EqQBCgIYAhIM",
        },
        {
            "type": "text",
            "text": "Grass is green.",
            "citations": [CITATION, {**CITATION, "document_index": 1}],
        },
    ],
    "stop_reason": "end_turn",
    "container": {"id": "cntr_1", "expires_at": "2026-11-01T00:00:00Z"},
    "usage": {
        **_usage(output_tokens=40, input_tokens=30),
        "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
        "output_tokens_details": {"thinking_tokens": 20},
    },
}


# --- the event layer (httpx-sse), as the clients use it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'event: ping\ndata: {"type": "ping"}\n\n',
            [("ping", '{"type": "ping"}', "", None)],
        ),
        ("data: a\ndata: b\n\n", [("message", "a\nb", "", None)]),
        ("data:no-space\ndata:  two\n\n", [("message", "no-space\n two", "", None)]),
        ("data\n\n", [("message", "", "", None)]),
        (": a comment\ndata: x\n: another\n\n", [("message", "x", "", None)]),
        ("\n\ndata: x\n\n\n", [("message", "x", "", None)]),
        ("bogus: field\n\n", []),
        ("retry: 1500\ndata: x\n\n", [("message", "x", "", 1500)]),
        ("retry: soon\ndata: x\n\n", [("message", "x", "", None)]),
        (
            "id: 7\ndata: a\n\ndata: b\nretry: 10\n\nid: bad\0id\ndata: c\n\n",
            [
                ("message", "a", "7", None),
                ("message", "b", "7", 10),
                ("message", "c", "7", None),
            ],
        ),
        (
            "event: a\nevent: b\ndata: x\n\ndata: y\n\n",
            [("b", "x", "", None), ("message", "y", "", None)],
        ),
        ("data: cut off at the end", []),
        ("data: cut off at the end\n", []),
    ],
)
def test_event_stream_rules(
    text: str, expected: list[tuple[str, str, str, int | None]]
) -> None:
    """Fields, comments and blank-line dispatch follow the event-stream rules."""
    assert [_fields(e) for e in _events(text)] == expected


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_lines_end_at_cr_lf_and_crlf(newline: str) -> None:
    """Each of the spec's three line endings ends a line; a frame's blank line too."""
    text = f"event: a{newline}data: 1{newline}{newline}data: 2{newline}{newline}"
    assert [_fields(e) for e in _events(text)] == [
        ("a", "1", "", None),
        ("message", "2", "", None),
    ]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    """A CRLF cut between two network chunks is one line ending, not two (which
    would dispatch the event early)."""
    chunks = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert [_fields(e) for e in _events(chunks)] == [("message", "a\nb", "", None)]


@pytest.mark.parametrize("char", list(SPLITLINES_ONLY), ids=ascii)
def test_unicode_line_boundaries_stay_inside_a_line(char: str) -> None:
    """U+2028, U+2029, U+0085, \\v, \\f and \\x1c-\\x1e end no line: the data
    keeps them (httpx's iter_lines would cut the line there)."""
    text = f"event: ping\ndata: a{char}b\ndata: {char}\n\n"
    assert [_fields(e) for e in _events(text)] == [
        ("ping", f"a{char}b\n{char}", "", None)
    ]


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"], ids=ascii)
def test_raw_json_with_unicode_line_boundaries_decodes(char: str) -> None:
    """The three a JSON encoder leaves raw reach the fold's JSON decoding whole."""
    data = json.dumps({"type": "ping", "text": f"a{char}b"}, ensure_ascii=False)
    assert char in data
    (event,) = _events(f"event: ping\ndata: {data}\n\n")
    assert event.json()["text"] == f"a{char}b"


@given(
    st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"])
        ),
        max_size=5,
    ),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_data_round_trips_however_the_bytes_are_cut(
    values: list[str], cuts: list[int]
) -> None:
    """Any data lines come back joined by newlines, exactly, whatever the chunking
    (cuts inside a UTF-8 sequence included)."""
    raw = ("".join(f"data: {v}\n" for v in values) + "\n").encode()
    points = sorted({c % (len(raw) + 1) for c in cuts} | {0, len(raw)})
    chunks = [raw[a:b] for a, b in itertools.pairwise(points) if a < b]
    events = _events(chunks)
    assert [e.data for e in events] == (["\n".join(values)] if values else [])


# --- StreamFold


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (TEXT_EVENTS, TEXT_MESSAGE),
        (TOOL_EVENTS, TOOL_MESSAGE),
        (THINKING_EVENTS, THINKING_MESSAGE),
    ],
    ids=["text", "tool_use", "thinking+citations"],
)
@pytest.mark.parametrize("named", [True, False], ids=["event-names", "type-only"])
def test_fold_equals_unstreamed_body(
    events: list[dict[str, Any]], expected: dict[str, Any], named: bool
) -> None:
    """The folded stream is the non-streamed body, key order and all."""
    fold, _ = _fold(_sse(copy.deepcopy(events), named=named))
    assert fold.done
    assert fold.message == expected
    assert json.dumps(fold.message) == json.dumps(expected)
    Message.model_validate(fold.message)


def test_fold_yields_deltas_as_they_arrive() -> None:
    """Text, thinking, tool input and citations come out as deltas; signatures don't."""
    _, text = _fold(_sse(TEXT_EVENTS))
    assert text == [TextDelta(0, "Hello"), TextDelta(0, ", world")]
    _, tool = _fold(_sse(TOOL_EVENTS))
    assert tool[1:] == [
        InputJSONDelta(1, '{"location": "Pa'),
        InputJSONDelta(1, 'ris", "days": [1, 2]}'),
    ]
    _, thinking = _fold(_sse(THINKING_EVENTS))
    assert thinking == [
        ThinkingDelta(0, "The user asks"),
        ThinkingDelta(0, " about grass."),
        CitationDelta(1, CITATION),
        TextDelta(1, "Grass is green."),
        CitationDelta(1, {**CITATION, "document_index": 1}),
    ]


def test_has_content_only_after_a_showable_delta() -> None:
    """has_content stays False through starts, pings, empty pieces and signatures."""
    fold, _ = _fold(
        _sse(
            [
                _start(),
                _event("ping"),
                _event(
                    "content_block_start",
                    index=0,
                    content_block={"type": "thinking", "thinking": "", "signature": ""},
                ),
                _delta(0, type="signature_delta", signature="sig"),
                _event("content_block_stop", index=0),
                _event(
                    "content_block_start",
                    index=1,
                    content_block={
                        "type": "tool_use",
                        "id": "t",
                        "name": "n",
                        "input": {},
                    },
                ),
                _delta(1, type="input_json_delta", partial_json=""),
                _delta(1, type="text_delta", text=""),
            ]
        )
    )
    assert not fold.has_content
    assert fold.started
    assert not fold.done
    fold.add(
        ServerSentEvent(
            "content_block_delta",
            json.dumps(_delta(1, type="input_json_delta", partial_json="{}")),
        )
    )
    assert fold.has_content


def test_tool_input_without_pieces_keeps_the_start_input() -> None:
    """A tool call that streams no JSON (or only empty pieces) keeps its start `input`."""
    events = [
        _start(),
        _event(
            "content_block_start",
            index=0,
            content_block={"type": "tool_use", "id": "t", "name": "now", "input": {}},
        ),
        _delta(0, type="input_json_delta", partial_json=""),
        _event("content_block_stop", index=0),
        *_end("tool_use", 3),
    ]
    fold, _ = _fold(_sse(events))
    assert fold.message["content"][0]["input"] == {}


def test_unknown_events_and_deltas_are_ignored() -> None:
    """New event types and delta types are skipped, as the API asks; so is anything after message_stop."""
    events = [
        _start(),
        _event("brand_new_event", whatever=1),
        _event(
            "content_block_start",
            index=0,
            content_block={"type": "fallback", "model": "m"},
        ),
        _delta(0, type="brand_new_delta", stuff="x"),
        _event("content_block_stop", index=0),
        *_end("end_turn", 2),
        _event(
            "content_block_start", index=1, content_block={"type": "text", "text": ""}
        ),
    ]
    text = _sse(events) + "event: not_json\ndata: {{{\n\n"
    fold, deltas = _fold(text)
    assert deltas == []
    assert fold.message["content"] == [{"type": "fallback", "model": "m"}]
    untyped = ServerSentEvent(None, "not json at all")
    assert StreamFold().add(untyped) is None
    assert StreamFold().add(ServerSentEvent(None, "[1, 2]")) is None


def test_message_delta_overwrites_only_non_null_usage() -> None:
    """Usage in message_delta is cumulative: non-null values overwrite, nulls keep the start's."""
    fold, _ = _fold(_sse(TOOL_EVENTS))
    usage = fold.message["usage"]
    assert usage["output_tokens"] == 65
    assert usage["input_tokens"] == 25
    assert usage["cache_read_input_tokens"] == 0


@pytest.mark.parametrize("partial", [False, True])
def test_error_event_raises_stream_error(partial: bool) -> None:
    """An error event becomes StreamError with the error's type; partial says if content came first."""
    events = TEXT_EVENTS[:3] + (TEXT_EVENTS[3:4] if partial else [])
    error = _event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    fold = StreamFold(request_id="req_1")
    for event in _events(_sse(events)):
        fold.add(event)
    with pytest.raises(StreamError) as info:
        fold.add(ServerSentEvent("error", json.dumps(error)))
    assert info.value.error_type == "overloaded_error"
    assert info.value.partial is partial
    assert info.value.request_id == "req_1"
    assert "Overloaded" in str(info.value)


def test_error_event_without_details() -> None:
    """An error event with no usable error object still raises, with no type."""
    with pytest.raises(StreamError) as info:
        StreamFold().add(ServerSentEvent("error", '{"type": "error", "error": "boom"}'))
    assert info.value.error_type is None


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ([_delta(0, type="text_delta", text="x")], "message_start"),
        ([_start(), _delta(3, type="text_delta", text="x")], "content block 3"),
        ([_start(), _event("content_block_stop", index="zero")], "malformed"),
        (
            [{"type": "message_start"}],
            "malformed content_block|malformed message_start",
        ),
        (
            [
                _start(),
                _event(
                    "content_block_start",
                    index=0,
                    content_block={
                        "type": "tool_use",
                        "id": "t",
                        "name": "n",
                        "input": {},
                    },
                ),
                _delta(0, type="input_json_delta", partial_json='{"cut": '),
                _event("content_block_stop", index=0),
            ],
            "not valid JSON",
        ),
    ],
    ids=[
        "before-start",
        "unknown-index",
        "bad-index",
        "missing-field",
        "bad-tool-json",
    ],
)
def test_protocol_violations_raise(events: list[dict[str, Any]], match: str) -> None:
    """Events that break the protocol raise StreamError rather than fold garbage."""
    with pytest.raises(StreamError, match=match):
        _fold(_sse(events))


def test_known_event_with_bad_data_raises() -> None:
    """A known event whose data is not a JSON object raises StreamError."""
    with pytest.raises(StreamError, match="not a JSON object"):
        StreamFold().add(ServerSentEvent("message_start", "[]"))
    with pytest.raises(StreamError, match="not a JSON object"):
        StreamFold().add(ServerSentEvent("message_start", "{oops"))


@given(st.lists(st.text(), min_size=1, max_size=8))
def test_text_pieces_fold_to_their_concatenation(pieces: list[str]) -> None:
    """However the text is cut, the folded text is the pieces joined, and so are the deltas."""
    events = [
        _start(),
        _event(
            "content_block_start", index=0, content_block={"type": "text", "text": ""}
        ),
        *(_delta(0, type="text_delta", text=p) for p in pieces),
        _event("content_block_stop", index=0),
        *_end("end_turn", 5),
    ]
    fold, deltas = _fold(_sse(events))
    assert fold.message["content"][0]["text"] == "".join(pieces)
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "".join(
        pieces
    )
    assert fold.has_content is any(pieces)
