"""Helpers of the store tests: the sync-to-async adapter and turn builders."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
)
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import anyio.to_thread

from conversa._stores import DEFAULT_LOCK_TIMEOUT, AsyncStore, Store
from conversa._values.turns import Turn, Usage


class _ThreadedLock:
    """An async context manager that enters and leaves a sync one in worker threads."""

    def __init__(self, cm: AbstractContextManager[None]) -> None:
        self._cm = cm

    async def __aenter__(self) -> None:
        await anyio.to_thread.run_sync(self._cm.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self._cm.__exit__, exc_type, exc, tb)


class SyncAsAsync:
    """Show a sync `Store` through the `AsyncStore` interface, for the contract suite.

    `aname(...)` runs `name(...)` in a worker thread, so blocking calls (a lock
    wait) never stall the event loop and concurrent tasks really run concurrently.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.store, name.removeprefix("a"))

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await anyio.to_thread.run_sync(
                functools.partial(method, *args, **kwargs)
            )

        return call

    def alock(
        self, conversation_id: str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> AbstractAsyncContextManager[None]:
        """Hold the sync store's lock, entered and left in worker threads."""
        return _ThreadedLock(self.store.lock(conversation_id, timeout=timeout))

    def for_owner(self, owner: str) -> AsyncStore:
        """Wrap the sync store's owner-bound handle."""
        return cast(AsyncStore, SyncAsAsync(self.store.for_owner(owner)))


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
