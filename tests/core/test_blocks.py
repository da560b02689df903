"""Values: blocks round-trip byte for byte; turns, usage, params and records behave.

The law, for every block the API can send and every block conversa does not model::

    json.dumps(block_from_api(d).to_api()) == json.dumps(d)

and the same through the storage form (`blocks_to_json` then `json.loads`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from datetime import timezone
from typing import Any

import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from conversa._exceptions import InvalidInputError
from conversa._values.blocks import (
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
    blocks_from_api,
    to_blocks,
)
from conversa._values.params import DEFAULT_MAX_TOKENS, RequestParams
from conversa._values.turns import (
    ConversationRecord,
    Turn,
    Usage,
    UsageTotals,
    blocks_to_json,
    new_id,
    reply_id_for,
    utcnow,
)

# --- fixtures: blocks as the API sends them -------------------------------------

FIXTURES: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": "Hello"},
    "text-citations": {
        "type": "text",
        "text": "The sky is blue.",
        "citations": [
            {
                "type": "char_location",
                "cited_text": "blue",
                "document_index": 0,
                "document_title": None,
                "start_char_index": 0,
                "end_char_index": 4,
                "file_id": None,
            }
        ],
    },
    "text-cache-control": {
        "type": "text",
        "text": "long prefix",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    },
    "image": {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    },
    "image-url": {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
    "document": {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "doc"},
        "title": "T",
        "context": None,
        "citations": {"enabled": True},
    },
    "tool_use": {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "get_weather",
        "input": {"city": "Paris", "units": {"temp": "C"}},
        "caller": {"type": "direct"},
    },
    "tool_result-string": {
        "type": "tool_result",
        "tool_use_id": "toolu_01",
        "content": "sunny",
    },
    "tool_result-null": {
        "type": "tool_result",
        "tool_use_id": "toolu_01",
        "content": None,
    },
    "tool_result-error-null": {
        "type": "tool_result",
        "tool_use_id": "t",
        "is_error": None,
    },
    "tool_result-error-odd": {
        "type": "tool_result",
        "tool_use_id": "t",
        "is_error": "yes",
    },
    "tool_result-absent": {"type": "tool_result", "tool_use_id": "toolu_01"},
    "tool_result-nested": {
        "type": "tool_result",
        "tool_use_id": "toolu_01",
        "content": [
            {"type": "text", "text": "result"},
            {"type": "image", "source": {"type": "url", "url": "https://x"}},
            {
                "type": "search_result",
                "source": "https://s",
                "title": "S",
                "content": [{"type": "text", "text": "fact"}],
                "citations": {"enabled": True},
            },
            {"type": "tool_reference", "tool_name": "other"},
        ],
        "is_error": False,
    },
    "thinking": {
        "type": "thinking",
        "thinking": "Let me think.",
        "signature": "EqQBCgIYAhIM",
    },
    "thinking-omitted": {"type": "thinking", "thinking": "", "signature": "sig"},
    "redacted_thinking": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
    "search_result": {
        "type": "search_result",
        "source": "https://example.com",
        "title": "Example",
        "content": [{"type": "text", "text": "Snippet"}],
    },
    "server_tool_use": {
        "type": "server_tool_use",
        "id": "srvtoolu_01",
        "name": "web_search",
        "input": {"query": "weather"},
    },
    "web_search_tool_result": {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_01",
        "content": [
            {
                "type": "web_search_result",
                "url": "https://w",
                "title": "W",
                "encrypted_content": "EqgfCio...",
                "page_age": None,
            }
        ],
    },
    "code_execution_tool_result": {
        "type": "code_execution_tool_result",
        "tool_use_id": "srvtoolu_02",
        "content": {
            "type": "code_execution_result",
            "stdout": "4\n",
            "stderr": "",
            "return_code": 0,
            "content": [],
        },
    },
    "container_upload": {"type": "container_upload", "file_id": "file_01"},
    "compaction": {
        "type": "compaction",
        "content": "Summary of earlier turns.",
        "encrypted_content": "xyz",
    },
    "fallback": {"type": "fallback"},
    "mcp_tool_use": {
        "type": "mcp_tool_use",
        "id": "mcptoolu_1",
        "name": "q",
        "server_name": "s",
        "input": {},
    },
    "unusual-order": {"signature": "s", "thinking": "t", "type": "thinking", "zz": 1},
    "type-last": {"text": "hi", "cache_control": {"type": "ephemeral"}, "type": "text"},
    "unicode": {"type": "text", "text": "héllo — 日本 🎉"},
}


@pytest.mark.parametrize("data", FIXTURES.values(), ids=list(FIXTURES))
def test_round_trip_law(data: dict[str, Any]) -> None:
    """Every fixture comes back as the same JSON text, key order included."""
    assert json.dumps(block_from_api(data).to_api()) == json.dumps(data)


@pytest.mark.parametrize("data", FIXTURES.values(), ids=list(FIXTURES))
def test_round_trip_through_storage(data: dict[str, Any]) -> None:
    """The stored JSON text reads back to a block that writes the same text."""
    stored = blocks_to_json([block_from_api(data)])
    again = blocks_from_api(json.loads(stored))
    assert json.dumps(again[0].to_api()) == json.dumps(data)
    assert blocks_to_json(again) == stored


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("text", TextBlock),
        ("image", ImageBlock),
        ("document", DocumentBlock),
        ("tool_use", ToolUseBlock),
        ("tool_result-nested", ToolResultBlock),
        ("thinking", ThinkingBlock),
        ("redacted_thinking", RedactedThinkingBlock),
        ("search_result", SearchResultBlock),
        ("web_search_tool_result", RawBlock),
        ("compaction", RawBlock),
        ("fallback", RawBlock),
    ],
)
def test_block_kinds(name: str, cls: type[Any]) -> None:
    """Known kinds become their class; every other kind is kept raw."""
    block = block_from_api(FIXTURES[name])
    assert isinstance(block, cls)
    assert block.type == FIXTURES[name]["type"]


def test_known_fields_are_attributes() -> None:
    """The fields conversa reasons about are attributes; the rest rides in extra."""
    block = block_from_api(FIXTURES["tool_result-nested"])
    assert isinstance(block, ToolResultBlock)
    assert block.tool_use_id == "toolu_01"
    assert block.is_error is False
    assert isinstance(block.content, tuple)
    assert [b.type for b in block.content] == [
        "text",
        "image",
        "search_result",
        "tool_reference",
    ]
    nested = block.content[2]
    assert isinstance(nested, SearchResultBlock)
    assert nested.extra == {"citations": {"enabled": True}}
    use = block_from_api(FIXTURES["tool_use"])
    assert isinstance(use, ToolUseBlock)
    assert (use.id, use.name, dict(use.input)) == (
        "toolu_01",
        "get_weather",
        {"city": "Paris", "units": {"temp": "C"}},
    )
    assert use.extra == {"caller": {"type": "direct"}}


def test_tool_result_null_content_is_kept_verbatim() -> None:
    """`content: null` is not an absent key: it round-trips as null."""
    block = block_from_api(FIXTURES["tool_result-null"])
    assert isinstance(block, ToolResultBlock)
    assert block.content is None
    assert block.to_api() == {
        "type": "tool_result",
        "tool_use_id": "toolu_01",
        "content": None,
    }
    odd = block_from_api(FIXTURES["tool_result-error-odd"])
    assert isinstance(odd, ToolResultBlock)
    assert odd.is_error is None
    assert odd.extra == {"is_error": "yes"}


def test_key_order_survives_a_changed_block() -> None:
    """A changed field keeps its place; a new extra key goes last."""
    block = block_from_api(FIXTURES["type-last"])
    assert isinstance(block, TextBlock)
    changed = evolve(block, text="bye")
    assert list(changed.to_api()) == ["text", "cache_control", "type"]
    added = evolve(block, extra={**block.extra, "citations": []})
    assert list(added.to_api()) == ["text", "cache_control", "type", "citations"]


def test_blocks_made_in_code_use_the_api_order() -> None:
    """A block built in code writes `type` first, then its fields, then extras."""
    block = ToolUseBlock(
        "t1", "f", {"a": 1}, extra={"cache_control": {"type": "ephemeral"}}
    )
    assert list(block.to_api()) == ["type", "id", "name", "input", "cache_control"]
    assert list(ToolResultBlock("t1", "x", True).to_api()) == [
        "type",
        "tool_use_id",
        "content",
        "is_error",
    ]
    assert list(ToolResultBlock("t1").to_api()) == ["type", "tool_use_id"]


def test_nested_content_becomes_a_tuple_of_blocks() -> None:
    """Lists (of blocks, mappings or strings) given as nested content become tuples."""
    result = ToolResultBlock("t", [TextBlock("a"), {"type": "text", "text": "b"}, "c"])
    assert result.content == (TextBlock("a"), TextBlock("b"), TextBlock("c"))
    assert hash(Turn("user", [result], id="x")) == hash(Turn("user", [result], id="x"))
    search = SearchResultBlock("s", "t", [TextBlock("x")])
    assert search.content == (TextBlock("x"),)


def test_raw_block() -> None:
    """A RawBlock is kept as given; a non-string type reads as ''."""
    data = {"type": "fallback", "model": "x"}
    raw = RawBlock.from_api(data)
    assert raw.to_api() == data
    assert raw.to_api() is not data
    assert RawBlock({"type": 3}).type == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "text"}, "a text block needs a valid 'text'"),
        ({"type": "text", "text": 3}, "a text block needs a valid 'text'"),
        ({"type": "image", "source": "x"}, "a image block needs a valid 'source'"),
        ({"type": "document"}, "a document block needs a valid 'source'"),
        (
            {"type": "tool_use", "name": "f", "input": {}},
            "a tool_use block needs a valid 'id'",
        ),
        (
            {"type": "tool_use", "id": "t", "input": {}},
            "a tool_use block needs a valid 'name'",
        ),
        (
            {"type": "tool_use", "id": "t", "name": "f", "input": []},
            "a tool_use block needs a valid 'input'",
        ),
        ({"type": "tool_result"}, "a tool_result block needs a valid 'tool_use_id'"),
        (
            {"type": "tool_result", "tool_use_id": "t", "content": {"a": 1}},
            "must be a string or a list of blocks",
        ),
        (
            {"type": "thinking", "signature": "s"},
            "a thinking block needs a valid 'thinking'",
        ),
        (
            {"type": "thinking", "thinking": "t", "signature": 1},
            "a thinking block needs a valid 'signature'",
        ),
        (
            {"type": "redacted_thinking"},
            "a redacted_thinking block needs a valid 'data'",
        ),
        (
            {"type": "search_result", "title": "t", "content": []},
            "a search_result block needs a valid 'source'",
        ),
        (
            {"type": "search_result", "source": "s", "content": []},
            "a search_result block needs a valid 'title'",
        ),
        (
            {"type": "search_result", "source": "s", "title": "t"},
            "a search_result block needs a valid 'content'",
        ),
        ({"text": "no type"}, "a content block needs a string 'type'"),
        ({"type": ""}, "a content block needs a string 'type'"),
        ("text", "a content block must be a JSON object, not str"),
    ],
)
def test_malformed_blocks_are_refused(data: Any, message: str) -> None:
    """A block missing what its kind needs raises InvalidInputError, naming it."""
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        block_from_api(data)


def test_to_blocks_accepts_wide_input() -> None:
    """Strings, blocks, mappings and iterables of those all become blocks."""
    text = TextBlock("x")
    assert to_blocks("hi") == (TextBlock("hi"),)
    assert to_blocks(text) == (text,)
    assert to_blocks({"type": "text", "text": "m"}) == (TextBlock("m"),)
    assert to_blocks(["a", text, {"type": "text", "text": "m"}]) == (
        TextBlock("a"),
        text,
        TextBlock("m"),
    )
    assert to_blocks(iter([])) == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (["ok", 3], "content items must be str, blocks or mappings, not int"),
        (3.5, "not float"),
    ],
)
def test_to_blocks_refuses_other_input(content: Any, message: str) -> None:
    """Anything that is not content raises InvalidInputError."""
    with pytest.raises(InvalidInputError, match=message):
        to_blocks(content)


# --- the property: arbitrary API-shaped blocks round-trip ------------------------

KNOWN = {
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "search_result",
}
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=4)


def shaped(
    kind: str, required: st.SearchStrategy[dict[str, Any]], known: tuple[str, ...]
) -> st.SearchStrategy[dict[str, Any]]:
    """A block of *kind*: its required fields, random extra keys, all in a random order."""
    names = st.text(min_size=1, max_size=8).filter(
        lambda k: k != "type" and k not in known
    )
    extras = st.dictionaries(names, json_values, max_size=3)
    return st.tuples(required, extras).flatmap(
        lambda parts: st.permutations(
            list({"type": kind, **parts[0], **parts[1]}.items())
        ).map(dict)
    )


texts = shaped("text", st.fixed_dictionaries({"text": st.text()}), ("text",))
unknown = st.tuples(
    st.text(min_size=1, max_size=20).filter(lambda t: t not in KNOWN), json_objects
).flatmap(
    lambda parts: st.permutations(list({**parts[1], "type": parts[0]}.items())).map(
        dict
    )
)
leaf_blocks = st.one_of(
    texts,
    shaped("image", st.fixed_dictionaries({"source": json_objects}), ("source",)),
    shaped("document", st.fixed_dictionaries({"source": json_objects}), ("source",)),
    shaped(
        "tool_use",
        st.fixed_dictionaries(
            {"id": st.text(), "name": st.text(), "input": json_objects}
        ),
        ("id", "name", "input"),
    ),
    shaped(
        "thinking",
        st.fixed_dictionaries({"thinking": st.text(), "signature": st.text()}),
        ("thinking", "signature"),
    ),
    shaped("redacted_thinking", st.fixed_dictionaries({"data": st.text()}), ("data",)),
    shaped(
        "search_result",
        st.fixed_dictionaries(
            {
                "source": st.text(),
                "title": st.text(),
                "content": st.lists(texts, max_size=3),
            }
        ),
        ("source", "title", "content"),
    ),
    unknown,
)
tool_results = shaped(
    "tool_result",
    st.fixed_dictionaries(
        {"tool_use_id": st.text()},
        optional={
            "content": st.none() | st.text() | st.lists(leaf_blocks, max_size=3),
            "is_error": json_values,
        },
    ),
    ("tool_use_id", "content", "is_error"),
)
api_blocks = leaf_blocks | tool_results


@settings(max_examples=400)
@given(api_blocks)
def test_property_round_trip(data: dict[str, Any]) -> None:
    """Any API-shaped block, known or not, round-trips to the same JSON text."""
    assert json.dumps(block_from_api(data).to_api()) == json.dumps(data)


@given(st.lists(api_blocks, max_size=4))
def test_property_round_trip_through_storage(data: list[dict[str, Any]]) -> None:
    """Blocks stored as JSON text read back to the same blocks, byte for byte."""
    stored = blocks_to_json(blocks_from_api(data))
    again = blocks_from_api(json.loads(stored))
    assert json.dumps([b.to_api() for b in again]) == json.dumps(data)
    turn = Turn.from_content_json("user", stored)
    assert turn.content_json() == stored


# --- turns, usage, params, records ---------------------------------------------


def test_turn_text_and_content_json() -> None:
    """A turn's text joins its text blocks; its content JSON is the stored form."""
    turn = Turn(
        "assistant",
        [ThinkingBlock("t", "s"), "Hello, ", ToolUseBlock("t1", "f", {}), "world"],
    )
    assert turn.text == "Hello, world"
    assert turn.content_json() == blocks_to_json(turn.blocks)
    assert Turn("user", "hi").blocks == (TextBlock("hi"),)


def test_turn_same_content_and_with_seq() -> None:
    """same_content compares id, role, kind and content bytes; with_seq sets the seq."""
    turn = Turn("user", "hi", id="x")
    assert turn.same_content(Turn("user", "hi", id="x", seq=4))
    assert not turn.same_content(Turn("user", "hi!", id="x"))
    assert not turn.same_content(Turn("user", "hi", id="y"))
    assert not turn.same_content(Turn("user", "hi", id="x", kind="summary"))
    assert turn.with_seq(7).seq == 7
    assert turn.seq is None


def test_turn_round_trips_its_content_json() -> None:
    """from_content_json rebuilds a turn with the same bytes and fields."""
    turn = Turn(
        "user",
        [FIXTURES["unusual-order"], FIXTURES["tool_result-nested"]],
        id="t",
        seq=3,
    )
    again = Turn.from_content_json("user", turn.content_json(), id="t", seq=3)
    assert again == turn
    assert again.content_json() == turn.content_json()


def test_turn_refuses_an_unknown_role() -> None:
    """A turn is a user or an assistant turn."""
    with pytest.raises(ValueError, match="role"):
        Turn("system", "x")  # type: ignore[arg-type]


def test_ids() -> None:
    """new_id gives 32 hex digits; reply_id_for is derived, so sends are idempotent."""
    assert re.fullmatch(r"[0-9a-f]{32}", new_id())
    assert new_id() != new_id()
    assert reply_id_for("abc") == "abc.reply" == reply_id_for("abc")
    assert utcnow().tzinfo is timezone.utc


def test_usage_from_api() -> None:
    """Usage reads the API's counts (non-integers count as 0) and keeps the raw object."""
    raw = {
        "input_tokens": 10,
        "output_tokens": 5,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": True,
        "service_tier": "standard",
    }
    usage = Usage.from_api(raw)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (
        10,
        5,
        0,
    )
    assert usage.total_input_tokens == 110
    assert usage.to_api() == raw
    assert Usage(1, 2, 3, 4).to_api() == {
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 4,
    }
    totals = UsageTotals().add(usage).add(Usage(1, 1, 0, 2))
    assert totals == UsageTotals(2, 11, 6, 100, 2)


def test_request_params_merged() -> None:
    """Overrides replace known params; unknown names and `extra` go to extra."""
    params = RequestParams(max_tokens=100, extra={"service_tier": "auto"})
    assert params.merged({}) is params
    merged = params.merged(
        {
            "max_tokens": 200,
            "tools": [{"name": "f"}],
            "extra": {"container": "c"},
            "speed": "fast",
        }
    )
    assert merged.max_tokens == 200
    assert merged.tools == ({"name": "f"},)
    assert merged.extra == {"service_tier": "auto", "container": "c", "speed": "fast"}
    assert RequestParams().max_tokens == DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("bad", [0, -1, True, "10"])
def test_request_params_refuse_bad_max_tokens(bad: Any) -> None:
    """max_tokens must be a positive integer, also when merged in."""
    with pytest.raises(
        InvalidInputError, match="max_tokens must be a positive integer"
    ):
        RequestParams().merged({"max_tokens": bad})


def test_request_params_storage_strips_secrets() -> None:
    """The storage form drops secrets at any depth, any case, and round-trips the rest."""
    params = RequestParams(
        tools=[{"type": "mcp_toolset", "mcp_server_name": "s"}],
        metadata={"user_id": "u1"},
        betas=["mcp-client-2025-11-20"],
        extra={
            "mcp_servers": [
                {
                    "type": "url",
                    "url": "https://m",
                    "name": "s",
                    "authorization_token": "secret",
                }
            ],
            "headers": {
                "Authorization": "Bearer secret",
                "X-Api-Key": "secret",
                "ok": 1,
            },
        },
    )
    stored = params.to_json_dict()
    assert "secret" not in json.dumps(stored)
    assert stored == {
        "max_tokens": DEFAULT_MAX_TOKENS,
        "tools": [{"type": "mcp_toolset", "mcp_server_name": "s"}],
        "metadata": {"user_id": "u1"},
        "betas": ["mcp-client-2025-11-20"],
        "extra": {
            "mcp_servers": [{"type": "url", "url": "https://m", "name": "s"}],
            "headers": {"ok": 1},
        },
    }
    again = RequestParams.from_json_dict(stored)
    assert again.tools == ({"type": "mcp_toolset", "mcp_server_name": "s"},)
    assert again.to_json_dict() == stored


def test_conversation_record_system() -> None:
    """The system prompt is a string, text blocks, or absent, in API and stored form."""
    assert ConversationRecord(system=None).system_to_api() is None
    assert ConversationRecord(system=None).system_json() is None
    assert ConversationRecord(system="Be brief.").system_to_api() == "Be brief."
    record = ConversationRecord(
        system=[
            {
                "type": "text",
                "text": "Be brief.",
                "cache_control": {"type": "ephemeral"},
            }
        ]
    )
    assert record.system_to_api() == [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
    ]
    assert (
        record.system_json()
        == '[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]'
    )
    assert ConversationRecord(system="é").system_json() == '"é"'


def test_conversation_record_defaults() -> None:
    """A new record has a fresh id, default params and no turns yet."""
    record = ConversationRecord(model="claude-sonnet-4-5")
    assert re.fullmatch(r"[0-9a-f]{32}", record.id)
    assert record.params == RequestParams()
    assert (record.window_start, record.last_seq, record.metadata) == (0, 0, {})


def test_new_ids_are_time_ordered_uuid7_and_unique() -> None:
    """Ids are UUID version 7 hex: the creation millisecond first, 74 random bits after."""
    first = new_id()
    time.sleep(0.002)
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids[:100])
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert all(first < i for i in ids)  # a later millisecond sorts after
    millis = int(first[:12], 16)
    assert abs(millis - time.time() * 1000) < 60_000
    # the random part varies within one millisecond
    assert len({i[12:] for i in ids}) == len(ids)


def test_new_ids_drawn_ahead_are_never_shared_by_threads_or_forks() -> None:
    """The random part is drawn for many ids at once: each is still used once,
    across threads, and a forked child draws its own rather than its parent's."""
    new_id()  # the parent has random bits drawn and not used yet
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(reader)
        os.write(writer, " ".join(new_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_id() for _ in range(100)]
    assert len(child) == 100
    assert not {i[12:] for i in child} & {i[12:] for i in parent}

    seen: list[list[str]] = [[] for _ in range(8)]

    def draw(out: list[str]) -> None:
        out.extend(new_id() for _ in range(2_000))

    threads = [threading.Thread(target=draw, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [i[12:] for out in seen for i in out]
    assert len(set(drawn)) == len(drawn) == 16_000
