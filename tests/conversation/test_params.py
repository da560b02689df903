"""set_params: atomic under the lock; None leaves a field; extra= replaces, {} clears."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conversa import Conversation, InvalidInputError, SQLiteStore
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio


async def test_extra_replaces_clears_and_none_leaves(harness: Harness) -> None:
    """extra= replaces the stored extra fields; extra={} clears; None changes nothing."""
    conv = await harness.create(extra={"service_tier": "auto", "inference_geo": "us"})
    record = await conv.set_params(extra={"service_tier": "standard_only"})
    assert dict(record.params.extra) == {"service_tier": "standard_only"}
    record = await conv.set_params(extra=None, max_tokens=None)
    assert dict(record.params.extra) == {"service_tier": "standard_only"}
    assert record.params.max_tokens == 4096
    record = await conv.set_params(extra={})
    assert dict(record.params.extra) == {}
    body = await conv.request("hi")
    assert "service_tier" not in body


async def test_named_body_field_sets_one_extra_field(harness: Harness) -> None:
    """A body field passed by name changes that field and keeps the others."""
    conv = await harness.create(extra={"inference_geo": "us"})
    record = await conv.set_params(service_tier="auto", max_tokens=100)
    assert dict(record.params.extra) == {"inference_geo": "us", "service_tier": "auto"}
    assert record.params.max_tokens == 100


async def test_empty_value_clears_a_field(harness: Harness) -> None:
    """tools=[] clears the stored tools; tools=None leaves them."""
    tools = [{"name": "f", "description": "x", "input_schema": {"type": "object"}}]
    conv = await harness.create(tools=tools)
    assert (await conv.set_params(tools=None)).params.tools
    assert not (await conv.set_params(tools=[])).params.tools
    assert "tools" not in await conv.request("hi")


async def test_unknown_name_writes_nothing(harness: Harness) -> None:
    """An unknown parameter is refused and the record stays as it was."""
    conv = await harness.create(max_tokens=10)
    with pytest.raises(
        InvalidInputError, match="unknown request parameter 'temprature'"
    ):
        await conv.set_params(max_tokens=20, temprature=0.5)
    assert (await conv.record()).params.max_tokens == 10


def test_concurrent_set_params_lose_nothing(tmp_path: Path) -> None:
    """Workers changing different fields at once on one SQLite store keep every change."""
    path = tmp_path / "c.db"
    with SQLiteStore(path) as store:
        cid = Conversation.create(store, model="claude-sonnet-4-5").id
    rounds = 15
    fields = {
        "max_tokens": lambda k: 100 + k,
        "stop_sequences": lambda k: [f"STOP{k}"],
        "api_metadata": lambda k: {"user_id": f"u{k}"},
        "service_tier": lambda k: "auto" if k % 2 else "standard_only",
    }
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with SQLiteStore(path) as own:
                conv = Conversation.load(own, cid)
                for k in range(rounds):
                    conv.set_params(**{name: fields[name](k)})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in fields]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SQLiteStore(path) as store:
        params = store.get(cid).params
    last = rounds - 1
    assert params.max_tokens == 100 + last
    assert params.stop_sequences == (f"STOP{last}",)
    assert params.metadata == {"user_id": f"u{last}"}
    assert params.extra == {"service_tier": fields["service_tier"](last)}
