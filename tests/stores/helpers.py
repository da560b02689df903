"""Helpers of the store tests: PostgreSQL schemas, turn builders, the sync-to-async adapter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest

from conversa._stores.sql import store as store_module
from conversa._values.turns import Turn, Usage
from conversa.testing.store_contract import SyncAsAsync

__all__ = [
    "SyncAsAsync",
    "assistant",
    "count_flows",
    "fresh_pg_schema",
    "pg_url_with_schema",
    "plain_url",
    "user",
]


def plain_url(url: str) -> str:
    """Return a SQLAlchemy PostgreSQL URL as libpq takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def fresh_pg_schema(server_url: str) -> Iterator[str]:
    """Create a schema, yield a URL whose connections use it, then drop it."""
    import psycopg
    from psycopg import sql

    schema = f"conversa_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain_url(server_url), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield pg_url_with_schema(server_url, schema)
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND application_name = %s",
                [f"conversa-tests-{schema}"],
            )
            admin.execute(
                sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            )


def pg_url_with_schema(url: str, schema: str) -> str:
    """Return *url* with connections set to use *schema* (via `search_path`)."""
    sep = "&" if "?" in url else "?"
    options = quote(f"-csearch_path={schema}", safe="")
    return f"{url}{sep}options={options}&application_name=conversa-tests-{schema}"


def user(text: str = "hello", **fields: Any) -> Turn:
    """A user turn with one text block."""
    return Turn("user", text, **fields)


def assistant(text: str = "hi there", **fields: Any) -> Turn:
    """An assistant turn as folded from an API reply."""
    fields.setdefault("message_id", "msg_01")
    fields.setdefault("model", "claude-sonnet-4-5")
    fields.setdefault("stop_reason", "end_turn")
    fields.setdefault("usage", Usage(10, 5, 0, 0))
    fields.setdefault("request_id", "req_01")
    return Turn("assistant", text, **fields)


def count_flows(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The append flows the SQL stores run from now on, by their *fast* flag."""
    ran: list[bool] = []
    flow = store_module.append_flow

    def counted(*args: Any, **kwargs: Any) -> Any:
        ran.append(kwargs["fast"])
        return flow(*args, **kwargs)

    monkeypatch.setattr(store_module, "append_flow", counted)
    return ran
