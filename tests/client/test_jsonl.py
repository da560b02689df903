"""Decoding a JSON Lines answer (Message Batches results)."""

from __future__ import annotations

import json

import httpx
import pytest

from conversa import APIError
from conversa._client.wire import result_from_response


def _response(text: str) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"request-id": "req_1"})


def test_blank_lines_are_skipped_and_records_kept_in_order() -> None:
    """Each non-blank line is one record, in the order sent."""
    result = result_from_response(
        _response('{"a": 1}\n\n{"b": 2}\n'), attempts=1, jsonl=True
    )
    assert result.lines == ({"a": 1}, {"b": 2})
    assert result.request_id == "req_1"


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '"text"'])
def test_a_line_that_is_not_an_object_is_an_api_error(bad: str) -> None:
    """A malformed line raises APIError with the request id, not a JSON error."""
    with pytest.raises(APIError, match="JSON Lines") as info:
        result_from_response(_response(f'{{"a": 1}}\n{bad}\n'), attempts=1, jsonl=True)
    assert info.value.request_id == "req_1"


@pytest.mark.parametrize(
    "char", ["\u2028", "\u2029", "\x85", "\v", "\f", "\x1c", "\x1d", "\x1e"], ids=ascii
)
def test_lines_end_only_at_newline(char: str) -> None:
    """A record holding a character str.splitlines breaks on stays one record (the
    API sends U+2028, U+2029 and U+0085 raw, the control characters escaped); CRLF
    line endings read too."""
    record = json.dumps({"text": f"a{char}b"}, ensure_ascii=False)
    text = f'{record}\r\n\r\n{{"b": 2}}\r\n'
    result = result_from_response(_response(text), attempts=1, jsonl=True)
    assert result.lines == ({"text": f"a{char}b"}, {"b": 2})


def test_a_lone_cr_ends_no_line() -> None:
    """JSON Lines end at "\\n": two records joined by a lone CR are one bad line."""
    with pytest.raises(APIError, match="JSON Lines"):
        result_from_response(_response('{"a": 1}\r{"b": 2}\n'), attempts=1, jsonl=True)
