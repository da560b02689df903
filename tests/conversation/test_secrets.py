"""Secrets never reach a repr, a log line, an exception or a stored row."""

from __future__ import annotations

import logging

import pytest

from conversa import APIError, InvalidInputError
from conversa.testing import fault
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio

TOKEN = "mcp-secret-token-123"  # noqa: S105 - a fake secret to hunt for
MCP = [
    {
        "type": "url",
        "url": "https://mcp.example/sse",
        "name": "crm",
        "authorization_token": TOKEN,
    }
]
BETA = ["mcp-client-2025-11-20"]


async def test_a_secret_in_default_params_is_refused(harness: Harness) -> None:
    """A token in create()'s parameters is refused: it would have to be stored."""
    with pytest.raises(
        InvalidInputError, match=r"mcp_servers\[0\].authorization_token"
    ) as info:
        await harness.create(mcp_servers=MCP)
    assert TOKEN not in str(info.value)


async def test_a_secret_in_set_params_is_refused(harness: Harness) -> None:
    """Changing default parameters to carry a token is refused too."""
    conv = await harness.create()
    with pytest.raises(InvalidInputError, match="never stores secrets"):
        await conv.set_params(mcp_servers=MCP)
    assert "mcp_servers" not in (await conv.record()).params.extra


async def test_a_per_call_secret_is_sent_but_never_stored(harness: Harness) -> None:
    """A token passed per call reaches the API and nothing of it is stored."""
    conv = await harness.create()
    turn = await conv.send("Look up my account.", mcp_servers=MCP, betas=BETA)
    assert harness.bodies()[-1]["mcp_servers"][0]["authorization_token"] == TOKEN
    record = await conv.record()
    stored = repr(record) + repr(record.params.to_json_dict())
    stored += "".join(t.content_json() + repr(t) for t in await conv.turns())
    assert TOKEN not in stored
    assert TOKEN not in repr(turn)


async def test_the_api_key_never_appears_in_reprs_logs_or_errors(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The client's key stays out of reprs, conversa's logs and exceptions."""
    caplog.set_level(logging.DEBUG, logger="conversa")
    harness.fake.script(fault.status(529), fault.status(401))
    conv = await harness.create()
    with pytest.raises(APIError) as info:
        await conv.send("hi")
    key = "sk-test-secret"
    assert harness.fake.requests[-1].headers["x-api-key"] == key
    assert key not in repr(harness.client)
    assert key not in repr(harness.client.config)
    assert key not in str(info.value) + repr(info.value) + repr(info.value.body)
    assert caplog.records
    assert key not in caplog.text
