"""`base_url=` and the SDK's ``*_BASE_URL`` variables mean on each door what they mean to the SDK.

A gateway (or a fake) stands in for a door at another URL: the official SDK's
platform clients and conversa's must then send the same request URL, whether the
base comes from the argument or from the environment variable the SDK reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import pytest
from anthropic import (
    AnthropicAWS,
    AnthropicBedrock,
    AnthropicBedrockMantle,
    AnthropicGoogleCloud,
    AnthropicVertex,
)

from conversa import Client

from .test_doors_sdk import AK, BODY, SK, _conversa_capture, _frozen, _sdk_capture

__all__ = ["_frozen"]  # the fixture: one clock, no ambient settings

GATEWAY = "https://gateway.example.com/claude"
GTOKEN = "ya29.gateway"


_AWS = {"aws_access_key": AK, "aws_secret_key": SK}
_VERTEX = {"project_id": "p", "access_token": GTOKEN}
#: door, the SDK's class and arguments, conversa's classmethod and arguments, the
#: SDK's base URL variable, the model as the door spells it.
DOORS: list[tuple[str, Any, dict[str, Any], str, dict[str, Any], str, str]] = [
    (
        "aws",
        AnthropicAWS,
        {"aws_region": "us-west-2", "workspace_id": "w", **_AWS},
        "aws",
        {"region": "us-west-2", "workspace_id": "w", **_AWS},
        "ANTHROPIC_AWS_BASE_URL",
        "claude-opus-4-8",
    ),
    (
        "bedrock",
        AnthropicBedrock,
        {"aws_region": "us-east-1", **_AWS},
        "bedrock",
        {"region": "us-east-1", **_AWS},
        "ANTHROPIC_BEDROCK_BASE_URL",
        "global.anthropic.claude-opus-4-8",
    ),
    (
        "bedrock-messages",
        AnthropicBedrockMantle,
        {"aws_region": "us-east-1", **_AWS},
        "bedrock",
        {"region": "us-east-1", "api": "messages", **_AWS},
        "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
        "anthropic.claude-opus-4-8",
    ),
    (
        "vertex",
        AnthropicVertex,
        {"region": "us-east5", **_VERTEX},
        "vertex",
        {"region": "us-east5", **_VERTEX},
        "ANTHROPIC_VERTEX_BASE_URL",
        "claude-opus-4-8",
    ),
    (
        "google-cloud",
        AnthropicGoogleCloud,
        {"project": "p", "workspace_id": "w", "token_provider": lambda: GTOKEN},
        "google_cloud",
        {"project_id": "p", "workspace_id": "w", "access_token": GTOKEN},
        "",  # the SDK reads no base URL variable for Claude on Google Cloud
        "claude-opus-4-8",
    ),
]


CASES = [
    pytest.param(*row[1:5], variable, row[6], id=f"{row[0]}-{source}")
    for row in DOORS
    for source, variable in (("argument", ""), ("environment", row[5]))
    if source == "argument" or variable
]


@pytest.mark.parametrize(
    ("sdk_class", "sdk_kw", "method", "our_kw", "variable", "model"), CASES
)
def test_a_gateway_base_url_gives_the_sdks_url(
    monkeypatch: pytest.MonkeyPatch,
    sdk_class: Any,
    sdk_kw: dict[str, Any],
    method: str,
    our_kw: dict[str, Any],
    variable: str,
    model: str,
) -> None:
    """The same request URL as the SDK's, below the gateway's base (argument or variable)."""
    base: dict[str, Any] = {"base_url": GATEWAY}
    if variable:
        monkeypatch.setenv(variable, GATEWAY)
        base = {}

    def sdk_client(http: httpx2.Client) -> Any:
        return sdk_class(http_client=http, **sdk_kw, **base)

    def our_client(transport: httpx.MockTransport) -> Client:
        make: Callable[..., Client] = getattr(Client, method)
        return make(transport=transport, **our_kw, **base)

    body = {**BODY, "model": model}
    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**body))
    ours = _conversa_capture(our_client, lambda c: c.create_message(body))
    assert str(ours.url) == str(sdk.url)
    assert str(ours.url).startswith(GATEWAY + "/")
