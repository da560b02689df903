"""The public surface: one door, sorted exports, twins that match."""

from __future__ import annotations

import inspect

import conversa
import conversa.testing
from conversa import (
    AsyncClient,
    AsyncConversation,
    AsyncReplyStream,
    Client,
    Conversation,
    ReplyStream,
)


def _public(cls: type) -> set[str]:
    return {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}


def _isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (isort-style, as ruff checks it) and every name exists."""
    for module in (conversa, conversa.testing):
        assert module.__all__ == sorted(module.__all__, key=_isort_key)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_conversation_twins_have_the_same_methods() -> None:
    """Conversation and AsyncConversation offer the same public names."""
    assert _public(Conversation) == _public(AsyncConversation)


def test_stream_twins_have_the_same_methods() -> None:
    """ReplyStream and AsyncReplyStream offer the same public names."""
    assert _public(ReplyStream) == _public(AsyncReplyStream)


def test_client_twins_differ_only_in_close() -> None:
    """Client and AsyncClient match but for close/aclose."""
    assert _public(Client) - {"close"} == _public(AsyncClient) - {"aclose"}


def test_async_twin_methods_are_coroutines_where_the_sync_ones_do_io() -> None:
    """Every AsyncConversation method that does I/O is awaitable."""
    for name in _public(AsyncConversation) - {
        "stream",
        "id",
        "store",
        "client",
        "lock_timeout",
    }:
        attr = getattr(AsyncConversation, name)
        if callable(attr):
            assert inspect.iscoroutinefunction(attr), name
