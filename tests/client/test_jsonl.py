"""Decoding a JSON Lines answer (Message Batches results)."""

from __future__ import annotations

import httpx
import pytest

from conversa import APIError
from conversa._transport import result_from_response


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
