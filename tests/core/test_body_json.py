"""`body_json`: a body with stored turns' JSON spliced in, as httpx sends it."""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import httpx
import pytest

from conversa._client.wire import stream_body
from conversa._core.normalize import normalize, spliced
from conversa._values.blocks import TextBlock, ToolUseBlock, blocks_from_api
from conversa._values.body_json import SplicedBody, body_json
from conversa._values.capabilities import capabilities_for
from conversa._values.turns import Turn, blocks_to_json, replaced

MODEL = "claude-sonnet-4-5"


def httpx_bytes(body: Any) -> bytes:
    """The wire's encoding: what httpx 0.28 and later send for ``json=``."""
    encoded = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    assert httpx.Request("POST", "https://api.anthropic.com", json=body).content == (
        encoded.encode()
    )
    return encoded.encode()


def history(*extra: Turn) -> list[Turn]:
    return [
        Turn("user", ['Où est la gare ? \u2028 "quoted" \\ back'], seq=1),
        Turn(
            "assistant", [TextBlock("Tout droit."), TextBlock("Puis à gauche.")], seq=2
        ),
        Turn("user", ["Merci"], seq=3),
        *extra,
    ]


def spliced_body(turns: list[Turn]) -> tuple[SplicedBody, dict[str, Any]]:
    normalized = normalize(turns, model=MODEL, caps=capabilities_for(MODEL, None))
    body = {"model": MODEL, "max_tokens": 64, "messages": list(normalized.messages)}
    return spliced(body, normalized), body


def test_every_verbatim_message_is_spliced_and_the_bytes_are_httpx() -> None:
    sent, body = spliced_body(history())
    assert [source is not None for source in sent.sources] == [True, True, True]
    assert body_json(sent) == httpx_bytes(body)


def test_a_replaced_message_is_encoded_as_it_is_now() -> None:
    """The cache breakpoints copy the message they mark; the copy is encoded."""
    sent, _ = spliced_body(history())
    marked = {**sent["messages"][2], "content": [{"type": "text", "text": "other"}]}
    sent["messages"] = [*sent["messages"][:2], marked]
    assert b'"other"' in body_json(sent)
    assert body_json(sent) == httpx_bytes(dict(sent))


def test_merged_turns_are_not_one_turns_json() -> None:
    turns = [*history(), Turn("user", ["and another"], seq=4)]
    sent, body = spliced_body(turns)
    assert sent.sources[-1] is None
    assert body_json(sent) == httpx_bytes(body)


def test_a_nan_is_refused_as_httpx_refuses_it() -> None:
    use = ToolUseBlock("toolu_1", "f", {"x": float("nan")})
    turns = [
        Turn("user", ["q"], seq=1),
        Turn("assistant", [use], seq=2),
    ]
    normalized = normalize(
        turns, model=MODEL, caps=capabilities_for(MODEL, None), open_end=True
    )
    body = {"model": MODEL, "max_tokens": 64, "messages": list(normalized.messages)}
    assert normalized.sources[1] is not None
    with pytest.raises(ValueError, match="JSON compliant"):
        httpx_bytes(body)
    with pytest.raises(ValueError, match="JSON compliant"):
        body_json(spliced(body, normalized))


def test_a_plain_body_is_json_dumps() -> None:
    body = {
        "model": MODEL,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert body_json(body) == httpx_bytes(body)


def test_keys_that_are_not_strings_are_encoded_as_json_dumps_does() -> None:
    sent, body = spliced_body(history())
    sent[1] = "x"  # type: ignore[index]  # an extra parameter with an int key
    body[1] = "x"  # type: ignore[index]
    assert body_json(sent) == httpx_bytes(body)
    sent, body = spliced_body(history())
    sent["messages"][0][2] = "y"
    assert body_json(sent) == httpx_bytes(body)


def test_a_content_list_changed_in_place_is_encoded_as_it_is_now() -> None:
    sent, body = spliced_body(history())
    sent["messages"][1]["content"].append({"type": "text", "text": "added"})
    assert b'"added"' in body_json(sent)
    assert body_json(sent) == httpx_bytes(body)
    sent["messages"][0]["content"] = [{"type": "text", "text": "replaced"}]
    assert body_json(sent) == httpx_bytes(body)


def test_a_copy_is_a_plain_body() -> None:
    for copied in (copy.copy, copy.deepcopy):
        sent, _ = spliced_body(history())
        made = copied(sent)
        assert type(made) is dict
        assert made == sent
        made["messages"][0]["content"][0]["text"] = "changed"
        assert body_json(made) == httpx_bytes(made)


def test_a_stream_keeps_the_splice_and_any_json_value_encodes() -> None:
    sent, body = spliced_body(history())
    streamed = stream_body(sent)
    assert isinstance(streamed, SplicedBody)
    assert body_json(streamed) == httpx_bytes({**body, "stream": True})
    assert body_json([1, "two", {"3": None}]) == httpx_bytes([1, "two", {"3": None}])


@pytest.mark.parametrize(
    "api",
    [
        [{"type": "text", "text": "plain"}],
        [{"text": "keys the other way", "type": "text"}],
        [{"type": "text", "text": 'quotes " and \\ and \u2028 and é'}],
        [{"type": "text", "text": ""}],
        [{"type": "text", "text": "cited", "citations": None}],
        [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    ],
)
def test_a_turns_content_json_is_its_blocks_api_form(api: list[dict[str, Any]]) -> None:
    """The stored JSON text of a turn (one plain text block takes a shorter way)
    is exactly `json.dumps` of its blocks' API form, key order kept."""
    blocks = blocks_from_api(api)
    expected = json.dumps(api, ensure_ascii=False, separators=(",", ":"))
    assert blocks_to_json(blocks) == expected
    assert Turn("user", blocks).content_json() == expected


def test_a_placed_copy_is_the_turn_with_its_seq() -> None:
    """`replaced` with the fields a store sets copies every other field as it is
    (and the JSON text already made), equal to what `attrs.evolve` makes."""
    turn = Turn("assistant", "hi", model="m", flags={"pinned": True}, tokens=3)
    turn.content_json()
    placed = replaced(turn, seq=7, tokens=5, tokens_exact=True)
    assert placed == attrs.evolve(turn, seq=7, tokens=5, tokens_exact=True)
    assert (placed.seq, placed.tokens, placed.tokens_exact) == (7, 5, True)
    assert placed.flags == {"pinned": True}
    assert placed.created_at == turn.created_at
    assert object.__getattribute__(placed, "_json") == turn.content_json()
    other = replaced(turn, model="n")  # not a placing change: evolve's checks
    assert other.model == "n"
    with pytest.raises(ValueError, match="role"):
        replaced(turn, role="system")


def test_a_plain_text_turn_encodes_as_json_dumps_does() -> None:
    """One plain text block is encoded around its text (`blocks_to_json`'s fast
    path, with a shortcut for printable text with nothing to escape): the same
    text as the general encoding, for any text."""
    import random

    rng = random.Random(7)
    texts = [
        "plain",
        "",
        'a "quote"',
        "back\\slash",
        "line\nnext\ttab",
        "é ü 中文 😀",
        "\u2028\u2029\u0085\x7f\x00\x1f",
        "\ud800 lone",
        "\u00a0no-break",
    ]
    planes = (
        (0, 128),
        (128, 0x3000),
        (0xD800, 0xE000),  # lone surrogates
        (0x10000, 0x10FFFF),
    )
    texts.extend(
        "".join(
            chr(rng.randrange(*rng.choice(planes))) for _ in range(rng.randrange(0, 12))
        )
        for _ in range(3000)
    )
    for text in texts:
        general = json.dumps(
            [{"type": "text", "text": text}], ensure_ascii=False, separators=(",", ":")
        )
        assert blocks_to_json((TextBlock(text),)) == general, repr(text)


def test_a_placed_copy_is_the_turn_with_its_changes() -> None:
    """`replaced` copies a turn slot by slot for the fields a store sets; the copy
    equals what attrs' evolve makes, field for field, and keeps the JSON text."""
    turn = Turn(
        "assistant",
        (TextBlock("hi"), ToolUseBlock("toolu_1", "f", {"a": 1})),
        message_id="msg_1",
        model=MODEL,
        flags={"x": 1},
        response_extra={"container": None},
    )
    turn.content_json()
    copy_ = replaced(turn, seq=7, tokens=12, tokens_exact=True, status="interrupted")
    expected = attrs.evolve(
        turn, seq=7, tokens=12, tokens_exact=True, status="interrupted"
    )
    assert attrs.asdict(copy_, recurse=False) == attrs.asdict(expected, recurse=False)
    assert copy_.content_json() is turn.content_json()
    assert turn.seq is None  # the original is untouched
