"""Normalization: turns in, the messages array out, one table row per rule.

Every row's output is also checked against the official SDK's request types, and
every error row names the turn (position, seq, id) and the API's rule.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from conversa._core.normalize import (
    Normalized,
    normalize,
    pending_tool_use_ids,
    replayed,
    to_messages,
)
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
from conversa._values.capabilities import capabilities_for
from conversa._values.turns import Turn
from conversa.testing import FakeMessagesAPI, png_base64
from tests.sdk_check import check_request_body

MODEL = "claude-sonnet-4-5"
DATED = "claude-sonnet-4-5-20250929"
OTHER = "claude-opus-4-5"
CAPS = capabilities_for(MODEL)
IMG = {"type": "base64", "media_type": "image/png", "data": png_base64()}
CITE = [{"type": "char_location", "cited_text": "x", "document_index": 0}]


def u(*content: Any, seq: int | None = None, **kw: Any) -> Turn:
    """A user turn; *seq* defaults to none (a turn not stored yet)."""
    return Turn("user", list(content), seq=seq, **kw)


def a(*content: Any, seq: int | None = None, **kw: Any) -> Turn:
    """An assistant turn."""
    return Turn("assistant", list(content), seq=seq, **kw)


def txt(text: str, **extra: Any) -> TextBlock:
    """A text block with extra keys."""
    return TextBlock(text, extra=extra)


def use(tool_id: str, name: str = "lookup") -> ToolUseBlock:
    """A client tool call."""
    return ToolUseBlock(tool_id, name, {"q": tool_id})


def result(tool_id: str, content: Any = "done", **kw: Any) -> ToolResultBlock:
    """A tool result."""
    return ToolResultBlock(tool_id, content, **kw)


def think(text: str = "hmm") -> ThinkingBlock:
    """A thinking block."""
    return ThinkingBlock(text, f"sig-{text}")


def server_use(tool_id: str, name: str = "web_search") -> RawBlock:
    """A server tool call, kept raw."""
    return RawBlock(
        {"type": "server_tool_use", "id": tool_id, "name": name, "input": {}}
    )


def server_result(tool_id: str, kind: str = "web_search_tool_result") -> RawBlock:
    """A server tool result, kept raw."""
    return RawBlock({"type": kind, "tool_use_id": tool_id, "content": []})


def msg(role: str, *blocks: Block | dict[str, Any]) -> dict[str, Any]:
    """An expected message."""
    content = [b if isinstance(b, dict) else b.to_api() for b in blocks]
    return {"role": role, "content": content}


def tx(text: str) -> dict[str, Any]:
    """An expected text block."""
    return {"type": "text", "text": text}


def run(turns: list[Turn], **kw: Any) -> list[dict[str, Any]]:
    """Normalize with the test defaults."""
    kw.setdefault("model", MODEL)
    kw.setdefault("caps", CAPS)
    return to_messages(turns, **kw)


ROWS = [
    # Rule 0: values. Strings are text blocks; content is always a block list.
    pytest.param(
        [u("hi")], {}, [msg("user", tx("hi"))], id="string-becomes-text-block"
    ),
    pytest.param(
        [u("q", seq=1), a("answer", seq=2), u("more")],
        {},
        [msg("user", tx("q")), msg("assistant", tx("answer")), msg("user", tx("more"))],
        id="plain-exchange",
    ),
    # Rule 1: retractions and summaries.
    pytest.param(
        [
            u("one", seq=1),
            a("bad", seq=2),
            u("two", seq=3),
            Turn("user", [txt("x")], seq=4, kind="retraction", flags={"retracts": [2]}),
            u("three"),
        ],
        {},
        [msg("user", tx("one"), tx("two"), tx("three"))],
        id="retracted-turn-left-out-and-neighbours-merge",
    ),
    pytest.param(
        [
            Turn(
                "assistant",
                ["Earlier: they asked about refunds."],
                seq=1,
                kind="summary",
            ),
            u("And now?", seq=2),
        ],
        {},
        [msg("user", tx("Earlier: they asked about refunds."), tx("And now?"))],
        id="summary-replayed-as-user-text",
    ),
    # Rule 2: thinking of another model is dropped; the same model's is kept.
    pytest.param(
        [
            u("q", seq=1),
            a(think(), RedactedThinkingBlock("zz"), "A", seq=2, model=OTHER),
            u("q2"),
        ],
        {},
        [msg("user", tx("q")), msg("assistant", tx("A")), msg("user", tx("q2"))],
        id="thinking-of-another-model-dropped",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(think(), RedactedThinkingBlock("zz"), "A", seq=2, model=DATED),
            u("q2"),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", think(), RedactedThinkingBlock("zz"), tx("A")),
            msg("user", tx("q2")),
        ],
        id="thinking-kept-when-dated-id-is-the-alias",
    ),
    pytest.param(
        [u("q", seq=1), a(think(), "A", seq=2), u("q2")],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", think(), tx("A")),
            msg("user", tx("q2")),
        ],
        id="thinking-kept-when-turn-model-unknown",
    ),
    pytest.param(
        [u("q", seq=1), a(think(), seq=2, model=OTHER), u("q2")],
        {},
        [msg("user", tx("q"), tx("q2"))],
        id="turn-of-only-foreign-thinking-disappears",
    ),
    # Rule 3: empty and whitespace-only text.
    pytest.param(
        [u("", "  \n", "real", seq=1), a("\t", "ok", seq=2), u("next")],
        {},
        [msg("user", tx("real")), msg("assistant", tx("ok")), msg("user", tx("next"))],
        id="empty-and-whitespace-text-dropped",
    ),
    pytest.param(
        [u("q", seq=1), a(" ", seq=2), u("q2")],
        {},
        [msg("user", tx("q"), tx("q2"))],
        id="turn-left-empty-disappears",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), seq=2),
            u(result("t1", [txt(" "), txt("42"), txt("")])),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1")),
            msg(
                "user",
                {"type": "tool_result", "tool_use_id": "t1", "content": [tx("42")]},
            ),
        ],
        id="whitespace-text-dropped-inside-tool-result",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), use("t2"), use("t3"), use("t4"), seq=2),
            u(
                result("t1", "  "),
                result("t2", [txt("")]),
                result("t3", ""),
                result("t4", []),
            ),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1"), use("t2"), use("t3"), use("t4")),
            msg(
                "user",
                *(
                    {"type": "tool_result", "tool_use_id": t}
                    for t in ("t1", "t2", "t3", "t4")
                ),
            ),
        ],
        id="empty-tool-result-content-removed",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), use("t2"), seq=2),
            u(
                block_from_api(
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": None,
                        "is_error": None,
                    }
                ),
                block_from_api(
                    {
                        "tool_use_id": "t2",
                        "type": "tool_result",
                        "is_error": True,
                        "content": None,
                    }
                ),
            ),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1"), use("t2")),
            msg(
                "user",
                {"type": "tool_result", "tool_use_id": "t1"},
                {"tool_use_id": "t2", "type": "tool_result", "is_error": True},
            ),
        ],
        id="null-tool-result-content-and-is-error-removed",
    ),
    pytest.param(
        [
            u(
                SearchResultBlock("s", "t", (txt(" "), txt("fact"))),
                SearchResultBlock("s2", "t2", (txt(""),)),
                "q",
            )
        ],
        {},
        [
            msg(
                "user",
                {
                    "type": "search_result",
                    "source": "s",
                    "title": "t",
                    "content": [tx("fact")],
                },
                tx("q"),
            )
        ],
        id="search-result-text-cleaned-and-empty-result-dropped",
    ),
    # Rule 3b: citations on user text under 2026-10-21.
    pytest.param(
        [
            u(
                txt("quoted", citations=CITE),
                txt("plain", citations=[]),
                SearchResultBlock("s", "t", (txt("fact", citations=CITE),)),
            )
        ],
        {},
        [
            msg(
                "user",
                tx("quoted"),
                {"type": "text", "text": "plain", "citations": []},
                {
                    "type": "search_result",
                    "source": "s",
                    "title": "t",
                    "content": [tx("fact")],
                },
            )
        ],
        id="citations-stripped-from-user-text-2026",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), seq=2),
            u(result("t1", [txt("r", citations=CITE)])),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1")),
            msg(
                "user",
                {"type": "tool_result", "tool_use_id": "t1", "content": [tx("r")]},
            ),
        ],
        id="citations-stripped-inside-tool-result-2026",
    ),
    pytest.param(
        [u(txt("quoted", citations=CITE))],
        {"api_version": "2023-06-01"},
        [msg("user", txt("quoted", citations=CITE))],
        id="citations-kept-under-2023",
    ),
    pytest.param(
        [u("q", seq=1), a(txt("claim", citations=CITE), seq=2), u("ok")],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", txt("claim", citations=CITE)),
            msg("user", tx("ok")),
        ],
        id="citations-kept-on-assistant-text",
    ),
    # Rule 4: consecutive same-role turns merge, blocks in order.
    pytest.param(
        [u("a", seq=1), u("b", seq=2), a("c", seq=3), a("d", seq=4), u("e")],
        {},
        [
            msg("user", tx("a"), tx("b")),
            msg("assistant", tx("c"), tx("d")),
            msg("user", tx("e")),
        ],
        id="same-role-turns-merge",
    ),
    pytest.param(
        [a("Hello", seq=1), u("hi")],
        {},
        [msg("assistant", tx("Hello")), msg("user", tx("hi"))],
        id="first-message-may-be-assistant",
    ),
    # Rule 5: tool_result blocks first in a user message, stably.
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), use("t2"), seq=2),
            u("note", result("t1"), ImageBlock(IMG), result("t2")),
        ],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1"), use("t2")),
            msg("user", result("t1"), result("t2"), tx("note"), ImageBlock(IMG)),
        ],
        id="tool-results-first",
    ),
    pytest.param(
        [u("q", seq=1), a(use("t1"), seq=2), u("pending text", seq=3), u(result("t1"))],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", use("t1")),
            msg("user", result("t1"), tx("pending text")),
        ],
        id="tool-results-first-across-merged-turns",
    ),
    # Rule 6: a final assistant message loses trailing whitespace.
    pytest.param(
        [u("Give JSON"), a('{"a": ', seq=None)],
        {},
        [msg("user", tx("Give JSON")), msg("assistant", tx('{"a":'))],
        id="prefill-trailing-whitespace-stripped",
    ),
    pytest.param(
        [u("q", seq=1), a("Once upon ", seq=2), a("a time \n", seq=3)],
        {},
        [msg("user", tx("q")), msg("assistant", tx("Once upon "), tx("a time"))],
        id="continuation-only-last-block-stripped",
    ),
    pytest.param(
        [u("q", seq=1), a("searching ", server_use("srvtoolu_1"), seq=2)],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", tx("searching "), server_use("srvtoolu_1")),
        ],
        id="pause-turn-continuation-ending-in-server-tool-use",
    ),
    pytest.param(
        [u("q", seq=1), a("fine ", seq=2), u("next")],
        {},
        [msg("user", tx("q")), msg("assistant", tx("fine ")), msg("user", tx("next"))],
        id="non-final-assistant-whitespace-kept",
    ),
    # Server tools: results in the same message; a pending call followed by results.
    pytest.param(
        [
            u("q", seq=1),
            a(server_use("srvtoolu_1"), server_result("srvtoolu_1"), "found", seq=2),
            u("ok"),
        ],
        {},
        [
            msg("user", tx("q")),
            msg(
                "assistant",
                server_use("srvtoolu_1"),
                server_result("srvtoolu_1"),
                tx("found"),
            ),
            msg("user", tx("ok")),
        ],
        id="server-tool-use-with-result",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(server_use("srvtoolu_1"), seq=2),
            a(server_result("srvtoolu_1"), "found", seq=3),
            u("ok"),
        ],
        {},
        [
            msg("user", tx("q")),
            msg(
                "assistant",
                server_use("srvtoolu_1"),
                server_result("srvtoolu_1"),
                tx("found"),
            ),
            msg("user", tx("ok")),
        ],
        id="pause-turn-continuation-merges-with-its-result",
    ),
    pytest.param(
        [u("q", seq=1), a(server_use("srvtoolu_1"), use("t1"), seq=2), u(result("t1"))],
        {},
        [
            msg("user", tx("q")),
            msg("assistant", server_use("srvtoolu_1"), use("t1")),
            msg("user", result("t1")),
        ],
        id="pending-server-call-followed-by-only-tool-results",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(
                RawBlock({"type": "container_upload", "file_id": "file_1"}),
                "uploaded",
                seq=2,
            ),
            u("ok"),
        ],
        {},
        [
            msg("user", tx("q")),
            msg(
                "assistant",
                {"type": "container_upload", "file_id": "file_1"},
                tx("uploaded"),
            ),
            msg("user", tx("ok")),
        ],
        id="other-raw-blocks-pass-through",
    ),
    # 2023-06-01 still takes a document directly in an assistant message.
    pytest.param(
        [
            u("q", seq=1),
            a(
                DocumentBlock(
                    {"type": "text", "media_type": "text/plain", "data": "d"}
                ),
                seq=2,
            ),
            u("ok"),
        ],
        {"api_version": "2023-06-01"},
        [
            msg("user", tx("q")),
            msg(
                "assistant",
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "d"},
                },
            ),
            msg("user", tx("ok")),
        ],
        id="document-in-assistant-allowed-under-2023",
    ),
    # Thinking on: a final assistant message that starts with thinking is fine.
    pytest.param(
        [u("q", seq=1), a(think(), server_use("srvtoolu_1"), seq=2, model=MODEL)],
        {"thinking": True},
        [msg("user", tx("q")), msg("assistant", think(), server_use("srvtoolu_1"))],
        id="thinking-on-continuation-starting-with-thinking",
    ),
]


@pytest.mark.parametrize(("turns", "kwargs", "expected"), ROWS)
def test_normalize_rows(
    turns: list[Turn], kwargs: dict[str, Any], expected: list[dict[str, Any]]
) -> None:
    """Each rule turns the input turns into exactly the expected messages."""
    messages = run(turns, **kwargs)
    assert messages == expected
    check_request_body({"model": MODEL, "max_tokens": 1024, "messages": messages})


def test_key_order_is_kept_byte_for_byte() -> None:
    """Blocks keep their stored key order, so the bytes (and the cache) are stable."""
    raw = {"text": "hi", "cache_control": {"type": "ephemeral"}, "type": "text"}
    out = run([Turn("user", [raw])])
    assert json.dumps(out[0]["content"][0]) == json.dumps(raw)


def test_output_is_deterministic() -> None:
    """The same turns give the same bytes every time."""
    turns = [
        u("q", seq=1),
        a(think(), use("t1"), seq=2, model=MODEL),
        u(" x ", result("t1")),
    ]
    assert json.dumps(run(turns)) == json.dumps(run(list(turns)))


def test_unchanged_blocks_are_their_own_to_api() -> None:
    """A block no rule touches comes out as its own to_api(), thinking included."""
    block = think("deep")
    out = run([u("q", seq=1), a(block, "A", seq=2, model=MODEL), u("r")])
    assert out[1]["content"][0] == block.to_api()


ERRORS = [
    pytest.param(
        [
            u("q", seq=1, id="u1"),
            a(use("t1"), seq=2, id="a1"),
            u("no answer", seq=3, id="u2"),
            a("x", seq=4),
            u("n"),
        ],
        {},
        UnrepairableHistoryError,
        "`tool_use` ids were found without `tool_result` blocks immediately after: t1. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        (1, 2, "a1"),
        id="stored-tool-use-unanswered",
    ),
    pytest.param(
        [
            u("q", seq=1, id="u1"),
            a(use("t1"), seq=2, id="a1"),
            u(result("t9"), seq=3, id="u2"),
            a("x", seq=4),
            u("n"),
        ],
        {},
        UnrepairableHistoryError,
        "`tool_use` ids were found without `tool_result` blocks immediately after: t1. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        (1, 2, "a1"),
        id="stored-tool-use-answered-with-wrong-id",
    ),
    pytest.param(
        [u("q", seq=1), a("plain", seq=2), u(result("t9"), seq=3, id="u2")],
        {},
        UnrepairableHistoryError,
        "unexpected `tool_use_id` found in `tool_result` blocks: t9. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
        (2, 3, "u2"),
        id="orphan-tool-result",
    ),
    pytest.param(
        [u(result("t0"), id="u0")],
        {},
        UnrepairableHistoryError,
        "unexpected `tool_use_id` found in `tool_result` blocks: t0. "
        "Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
        (0, None, "u0"),
        id="orphan-tool-result-in-first-message",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), seq=2),
            u(result("t1"), seq=3),
            u(result("t1"), seq=4, id="dup"),
        ],
        {},
        UnrepairableHistoryError,
        "each `tool_use` must have a single result. Found multiple `tool_result` blocks with id: t1",
        (3, 4, "dup"),
        id="duplicate-tool-result",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), seq=2),
            u(result("t1"), seq=3),
            a(use("t1"), seq=4, id="again"),
            u(result("t1")),
        ],
        {},
        UnrepairableHistoryError,
        "`tool_use` ids must be unique: t1",
        (3, 4, "again"),
        id="duplicate-tool-use-id",
    ),
    pytest.param(
        [u("q", seq=1), a(result("t1"), seq=2, id="a1"), u("n")],
        {},
        UnrepairableHistoryError,
        "`tool_result` blocks are not allowed in `assistant` messages",
        (1, 2, "a1"),
        id="tool-result-in-assistant",
    ),
    pytest.param(
        [u(use("t1"), seq=1, id="u1")],
        {},
        UnrepairableHistoryError,
        "`tool_use` blocks are not allowed in `user` messages",
        (0, 1, "u1"),
        id="tool-use-in-user",
    ),
    pytest.param(
        [u(think(), "q", seq=1, id="u1")],
        {},
        UnrepairableHistoryError,
        "`thinking` blocks are not allowed in `user` messages",
        (0, 1, "u1"),
        id="thinking-in-user",
    ),
    pytest.param(
        [u(server_result("srvtoolu_1"), "q", seq=1, id="u1")],
        {},
        UnrepairableHistoryError,
        "`web_search_tool_result` blocks are not allowed in `user` messages",
        (0, 1, "u1"),
        id="server-result-in-user",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(DocumentBlock({"type": "url", "url": "https://x"}), seq=2, id="a1"),
            u("n"),
        ],
        {},
        UnrepairableHistoryError,
        "`document` blocks are not permitted directly in `assistant` messages (anthropic-version 2026-10-21)",
        (1, 2, "a1"),
        id="document-in-assistant-2026",
    ),
    pytest.param(
        [u("q", seq=1), a("Sure", seq=2, id="a1")],
        {"thinking": True},
        UnrepairableHistoryError,
        "Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is "
        "enabled, a final `assistant` message must start with a thinking block.",
        (1, 2, "a1"),
        id="final-assistant-without-thinking",
    ),
    pytest.param(
        [u("q", seq=1), a(think(), "A", seq=2, id="a1", model=OTHER)],
        {"thinking": True},
        UnrepairableHistoryError,
        "Expected `thinking` or `redacted_thinking`, but found `text`. When `thinking` is "
        "enabled, a final `assistant` message must start with a thinking block.",
        (1, 2, "a1"),
        id="final-assistant-thinking-dropped-by-model-change",
    ),
    pytest.param(
        [u("q", seq=1), a(server_use("srvtoolu_1"), seq=2, id="a1"), u("more")],
        {},
        UnrepairableHistoryError,
        "`server_tool_use` block with id srvtoolu_1 was found without a corresponding web_search_tool_result block",
        (1, 2, "a1"),
        id="server-call-without-result-not-final",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(server_use("srvtoolu_1", "tool_search_tool_bm25"), seq=2, id="a1"),
            u("more"),
        ],
        {},
        UnrepairableHistoryError,
        "`server_tool_use` block with id srvtoolu_1 was found without a corresponding tool_search_tool_result block",
        (1, 2, "a1"),
        id="tool-search-call-without-result",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(
                RawBlock(
                    {
                        "type": "mcp_tool_use",
                        "id": "m1",
                        "name": "x",
                        "server_name": "s",
                        "input": {},
                    }
                ),
                seq=2,
                id="a1",
            ),
            u("more"),
        ],
        {},
        UnrepairableHistoryError,
        "`mcp_tool_use` block with id m1 was found without a corresponding mcp_tool_result block",
        (1, 2, "a1"),
        id="mcp-call-without-result",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a("text", server_result("srvtoolu_9"), seq=2, id="a1"),
            u("more"),
        ],
        {},
        UnrepairableHistoryError,
        "unexpected `tool_use_id` found in `web_search_tool_result` blocks: srvtoolu_9. "
        "Each `web_search_tool_result` block must have a corresponding `server_tool_use` block before it.",
        (1, 2, "a1"),
        id="orphan-server-result",
    ),
    pytest.param(
        [
            u(*(ImageBlock(IMG) for _ in range(60)), seq=1),
            a("ok", seq=2),
            u(*(ImageBlock(IMG) for _ in range(41)), id="many"),
        ],
        {},
        UnrepairableHistoryError,
        "too many images in the request: 101 > 100 maximum for this model",
        (2, None, "many"),
        id="too-many-images",
    ),
    pytest.param(
        [
            u("q", seq=1),
            a(use("t1"), seq=2),
            u(result("t1", [ImageBlock(IMG), ImageBlock(IMG)]), id="imgs"),
        ],
        {"caps": capabilities_for(MODEL, {"max_images": 1})},
        UnrepairableHistoryError,
        "too many images in the request: 2 > 1 maximum for this model",
        (2, None, "imgs"),
        id="images-inside-tool-results-count",
    ),
    pytest.param(
        [
            u(
                DocumentBlock(
                    {
                        "type": "content",
                        "content": [{"type": "image", "source": IMG}] * 2,
                    }
                ),
                id="doc",
            )
        ],
        {"caps": capabilities_for(MODEL, {"max_images": 1})},
        UnrepairableHistoryError,
        "too many images in the request: 2 > 1 maximum for this model",
        (0, None, "doc"),
        id="images-inside-documents-count",
    ),
    pytest.param(
        [u("q", seq=1), a("a", seq=2), u("  ", id="new")],
        {"new_turn_ids": frozenset({"new"})},
        UnrepairableHistoryError,
        "the new turn has no content: text content blocks must contain non-whitespace text",
        (2, None, "new"),
        id="new-turn-left-empty",
    ),
    pytest.param(
        [
            u("q", seq=1),
            Turn(
                "user", ["r"], seq=2, kind="retraction", flags={"retracts": 1}, id="r1"
            ),
        ],
        {},
        UnrepairableHistoryError,
        "a retraction's flags['retracts'] must be a list of seqs, not 1",
        (1, 2, "r1"),
        id="malformed-retraction",
    ),
]


@pytest.mark.parametrize(("turns", "kwargs", "error", "rule", "where"), ERRORS)
def test_normalize_errors(
    turns: list[Turn],
    kwargs: dict[str, Any],
    error: type[UnrepairableHistoryError],
    rule: str,
    where: tuple[int, int | None, str],
) -> None:
    """Each unrepairable history raises, naming the turn and the API's rule."""
    with pytest.raises(error) as caught:
        run(turns, **kwargs)
    exc = caught.value
    assert exc.rule == rule
    assert (exc.turn_position, exc.turn_seq, exc.turn_id) == where
    assert rule in str(exc)
    assert f"position {where[0]}" in str(exc)


@pytest.mark.parametrize(
    ("turns", "new", "ids"),
    [
        pytest.param(
            [u("q", seq=1), a(use("t1"), use("t2"), seq=2), u("what now?", id="new")],
            {"new"},
            ("t1", "t2"),
            id="new-turn-does-not-answer",
        ),
        pytest.param(
            [u("q", seq=1), a(use("t1"), use("t2"), seq=2), u(result("t1"), id="new")],
            {"new"},
            ("t2",),
            id="new-turn-answers-part",
        ),
        pytest.param(
            [
                u("q", seq=1),
                a(use("t1"), seq=2),
                u("earlier", seq=3),
                u("again", id="new"),
            ],
            {"new"},
            ("t1",),
            id="pending-user-turn-then-new-turn",
        ),
        pytest.param(
            [u("q", seq=1), a("let me check", use("t1"), seq=2)],
            set(),
            ("t1",),
            id="final-assistant-with-tool-use",
        ),
    ],
)
def test_pending_tool_use_error(
    turns: list[Turn], new: set[str], ids: tuple[str, ...]
) -> None:
    """Unanswered tool calls before the new turn are pending: answer or cancel them."""
    with pytest.raises(PendingToolUseError) as caught:
        run(turns, new_turn_ids=frozenset(new))
    assert caught.value.tool_use_ids == ids


def test_nothing_to_send() -> None:
    """Turns that are all retracted or empty are refused, not sent as []."""
    with pytest.raises(InvalidInputError, match="nothing to send"):
        run([u("  ", seq=1), Turn("user", ["x"], seq=2, kind="retraction")])


def test_new_prefill_left_empty_is_refused() -> None:
    """A new final assistant turn (a prefill) that normalizes to nothing raises."""
    with pytest.raises(UnrepairableHistoryError, match="the new turn has no content"):
        run([u("q"), a(" ", id="prefill")], new_turn_ids=frozenset({"prefill"}))


def test_normalized_origins_and_locate() -> None:
    """Each block knows its turn, so an API error path maps back to a turn."""
    turns = [u("a", seq=1), u("b", seq=2), a(use("t1"), seq=3), u("c", result("t1"))]
    normalized = normalize(turns, model=MODEL, caps=CAPS)
    assert isinstance(normalized, Normalized)
    assert normalized.origins == ((0, 1), (2,), (3, 3))
    assert normalized.turn_positions(0) == (0, 1)
    assert normalized.locate(
        "messages.0.content.1: text content blocks must be non-empty"
    ) == (1,)
    assert normalized.locate("messages.0: whatever") == (0, 1)
    assert normalized.locate("messages.2.content.0.content.1.source") == (3,)
    assert normalized.locate("messages.7.content.0") == ()
    assert normalized.locate("messages.1.content.5") == ()
    assert normalized.locate("temperature: Extra inputs are not permitted") == ()


def test_to_messages_is_normalize_messages() -> None:
    """to_messages returns the messages of normalize, as a list."""
    turns = [u("q", seq=1), a("r", seq=2), u("s")]
    assert run(turns) == list(normalize(turns, model=MODEL, caps=CAPS).messages)


def test_replayed_keeps_positions() -> None:
    """replayed() drops retractions and what they retract, keeping positions."""
    turns = [
        u("a", seq=1),
        a("b", seq=2),
        Turn("user", ["r"], seq=3, kind="retraction", flags={"retracts": (2,)}),
        u("c"),
    ]
    assert [p for p, _ in replayed(turns)] == [0, 3]


@pytest.mark.parametrize(
    ("turns", "ids"),
    [
        pytest.param([u("q")], (), id="no-assistant"),
        pytest.param([u("q", seq=1), a("plain", seq=2)], (), id="no-tool-use"),
        pytest.param(
            [u("q", seq=1), a(use("t1"), use("t2"), seq=2)],
            ("t1", "t2"),
            id="both-pending",
        ),
        pytest.param(
            [u("q", seq=1), a(use("t1"), use("t2"), seq=2), u(result("t2"), seq=3)],
            ("t1",),
            id="one-answered",
        ),
        pytest.param(
            [u("q", seq=1), a(use("t1"), seq=2), a(use("t2"), seq=3)],
            ("t1", "t2"),
            id="assistant-run-is-one-message",
        ),
        pytest.param(
            [
                u("q", seq=1),
                a(use("t1"), seq=2),
                u(result("t1"), seq=3),
                a("done", seq=4),
            ],
            (),
            id="earlier-calls-answered",
        ),
        pytest.param(
            [
                u("q", seq=1),
                a(use("t1"), seq=2),
                Turn("user", ["r"], seq=3, kind="retraction", flags={"retracts": [2]}),
            ],
            (),
            id="retracted-call",
        ),
        pytest.param(
            [
                u("q", seq=1),
                a(use("t1"), seq=2),
                Turn("assistant", ["sum"], seq=3, kind="summary"),
            ],
            ("t1",),
            id="summary-counts-as-user",
        ),
    ],
)
def test_pending_tool_use_ids(turns: list[Turn], ids: tuple[str, ...]) -> None:
    """pending_tool_use_ids lists the last assistant run's unanswered calls."""
    assert pending_tool_use_ids(turns) == ids


# Error rows the strict fake can judge too: it rejects the same turns, sent without
# normalization, with the same rule (conversa's text may add a few words after it).
API_CONFIRMED = {
    "stored-tool-use-unanswered",
    "stored-tool-use-answered-with-wrong-id",
    "orphan-tool-result",
    "orphan-tool-result-in-first-message",
    "duplicate-tool-result",
    "tool-result-in-assistant",
    "tool-use-in-user",
    "thinking-in-user",
    "server-result-in-user",
    "document-in-assistant-2026",
    "final-assistant-without-thinking",
    "server-call-without-result-not-final",
    "tool-search-call-without-result",
    "orphan-server-result",
    "too-many-images",
}
_PREFIX = re.compile(r"^messages(?:\.\d+)*(?:\.\w+)*: ")


@pytest.mark.parametrize(
    ("turns", "kwargs", "rule"),
    [
        pytest.param(*p.values[:2], p.values[3], id=p.id)
        for p in ERRORS
        if p.id in API_CONFIRMED
    ],
)
def test_refusals_match_the_api(
    turns: list[Turn], kwargs: dict[str, Any], rule: str
) -> None:
    """The fake rejects the un-normalized turns with the rule conversa names."""
    messages = [
        {"role": t.role, "content": [b.to_api() for b in t.blocks]}
        for t in turns
        if t.kind == "message"
    ]
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 2048, "messages": messages}
    if kwargs.get("thinking"):
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    headers = {
        "x-api-key": "k",
        "anthropic-version": kwargs.get("api_version", "2026-10-21"),
    }
    with httpx.Client(
        transport=FakeMessagesAPI(), base_url="https://api.anthropic.com"
    ) as http:
        answer = http.post("/v1/messages", json=body, headers=headers)
    assert answer.status_code == 400
    api_text = _PREFIX.sub("", answer.json()["error"]["message"])
    assert len(api_text) > 20
    assert rule.startswith(api_text) or api_text.startswith(rule), (api_text, rule)
