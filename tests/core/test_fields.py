"""One home per API field and per stored flag: the derived tables and the stored keys."""

from __future__ import annotations

from typing import Any

import pytest

from conversa._values.params import (
    KWARGS,
    NOT_COUNTED,
    NOT_IN_BATCH,
    PARAMS,
    PASSTHROUGH,
    RESERVED,
    RequestParams,
    body_fields,
)
from conversa._values.settings import (
    BATCH,
    BUDGET,
    CACHE,
    CONTINUATION,
    COVERS,
    FIXED_TOKENS,
    PINNED,
    RECORD_FLAGS,
    RETRACTS,
    TOKENS,
    TURN_FLAGS,
    VOUCHED,
    BudgetConfig,
    CacheConfig,
    Flag,
)
from conversa._values.turns import ConversationRecord, Turn


def test_param_tables_are_derived_from_the_fields() -> None:
    """Field names, caller keywords and body names come from RequestParams's fields."""
    assert [p.name for p in PARAMS] == [
        "max_tokens",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "stop_sequences",
        "metadata",
        "betas",
        "extra",
    ]
    assert dict(KWARGS) == {
        **{p.name: p.name for p in PARAMS if p.name != "metadata"},
        "api_metadata": "metadata",
    }
    assert [p.name for p in PARAMS if p.body is None] == ["betas", "extra"]


def test_body_field_rules() -> None:
    """What count_tokens, batches and `extra` may not take is what the API documents."""
    assert set(NOT_COUNTED) == {
        "max_tokens",
        "stream",
        "metadata",
        "stop_sequences",
        "diagnostics",
    }
    assert NOT_IN_BATCH == ("stream", "speed")
    assert set(RESERVED) == {"model", "messages", "system", "stream", "max_tokens"}
    removed = {n for n, f in PASSTHROUGH.items() if f.removed_in == "2026-10-21"}
    assert removed == {"temperature", "top_p", "top_k"}


def test_body_fields_in_declaration_order() -> None:
    """max_tokens is always sent; the others only when set, in field order."""
    params = RequestParams(
        metadata={"user_id": "u"},
        tools=[{"name": "f"}],
        stop_sequences=["END"],
        betas=["b"],
        extra={"service_tier": "auto"},
    )
    assert body_fields(params, always=True) == {"max_tokens": 4096}
    assert list(body_fields(params, always=False).items()) == [
        ("tools", [{"name": "f"}]),
        ("stop_sequences", ["END"]),
        ("metadata", {"user_id": "u"}),
    ]


def test_stored_flag_keys_never_change() -> None:
    """Stored data depends on these JSON keys."""
    assert [f.key for f in RECORD_FLAGS] == [
        "budget",
        "cache",
        "fixed_tokens",
        "pinned",
        "batch",
    ]
    assert [f.key for f in TURN_FLAGS] == [
        "tokens",
        "vouched",
        "retracts",
        "covers",
        "continuation",
        "token_ratio",
    ]


@pytest.mark.parametrize(
    ("flag", "value", "stored"),
    [
        (BUDGET, BudgetConfig(fixed=900), BudgetConfig(fixed=900).to_json_dict()),
        (
            CACHE,
            CacheConfig(ttl="1h"),
            {"enabled": True, "ttl": "1h", "diagnostics": False},
        ),
        (
            FIXED_TOKENS,
            {"tk": {"key": "k", "tokens": 3}},
            {"tk": {"key": "k", "tokens": 3}},
        ),
        (PINNED, ((1, 2), (5, 6)), [(1, 2), (5, 6)]),
        (BATCH, {"id": "b", "custom_id": "c"}, {"id": "b", "custom_id": "c"}),
    ],
)
def test_record_flags_round_trip(flag: Flag[Any, Any], value: Any, stored: Any) -> None:
    """A record flag is written in its stored form and reads back as the value."""
    record = ConversationRecord(flags={"other": 1})
    flags = flag.set(record, value)
    assert flags == {"other": 1, flag.key: stored}
    assert flag.of(ConversationRecord(flags=flags)) == value
    assert flag.of(record) == flag.default


@pytest.mark.parametrize(
    ("flag", "value", "stored"),
    [
        (TOKENS, {"tk": 7}, {"tk": 7}),
        (VOUCHED, frozenset({2, 0}), [0, 2]),
        (RETRACTS, (3, 1, 3), [1, 3]),
        (COVERS, (2, 5), [2, 5]),
        (CONTINUATION, True, True),
    ],
)
def test_turn_flags_round_trip(flag: Flag[Any, Any], value: Any, stored: Any) -> None:
    """A turn flag is written in its stored form and reads back as the value."""
    entry = flag.entry(value)
    assert entry == {flag.key: stored}
    back = flag.of(Turn("user", "x", flags=entry))
    assert back == (tuple(sorted(set(value))) if flag is RETRACTS else value)
    assert flag.of(Turn("user", "x")) == flag.default


def test_malformed_flags_read_as_unusable() -> None:
    """A retraction or summary span that is not a list of seqs reads as None."""
    assert RETRACTS.of(Turn("user", "x", flags={"retracts": "1"})) is None
    assert RETRACTS.stored(Turn("user", "x", flags={"retracts": "1"})) == "1"
    assert COVERS.of(Turn("user", "x", flags={"covers": [5, 2]})) is None
    assert TOKENS.of(Turn("user", "x", flags={"tokens": [1]})) == {}
