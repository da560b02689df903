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
KEYS = {"aws_access_key": AK, "aws_secret_key": SK}
GTOKEN = "ya29.gateway"


def _aws(base: dict[str, Any]) -> tuple[Any, Any]:
    def sdk(http: httpx2.Client) -> Any:
        return AnthropicAWS(
            aws_region="us-west-2", workspace_id="w", http_client=http, **KEYS, **base
        )

    def ours(transport: httpx.MockTransport) -> Client:
        return Client.aws(
            region="us-west-2", workspace_id="w", transport=transport, **KEYS, **base
        )

    return sdk, ours


def _bedrock(base: dict[str, Any]) -> tuple[Any, Any]:
    def sdk(http: httpx2.Client) -> Any:
        return AnthropicBedrock(
            aws_region="us-east-1", http_client=http, **KEYS, **base
        )

    def ours(transport: httpx.MockTransport) -> Client:
        return Client.bedrock(region="us-east-1", transport=transport, **KEYS, **base)

    return sdk, ours


def _mantle(base: dict[str, Any]) -> tuple[Any, Any]:
    def sdk(http: httpx2.Client) -> Any:
        return AnthropicBedrockMantle(
            aws_region="us-east-1", http_client=http, **KEYS, **base
        )

    def ours(transport: httpx.MockTransport) -> Client:
        return Client.bedrock(
            region="us-east-1", api="messages", transport=transport, **KEYS, **base
        )

    return sdk, ours


def _vertex(base: dict[str, Any]) -> tuple[Any, Any]:
    def sdk(http: httpx2.Client) -> Any:
        return AnthropicVertex(
            region="us-east5",
            project_id="p",
            access_token=GTOKEN,
            http_client=http,
            **base,
        )

    def ours(transport: httpx.MockTransport) -> Client:
        return Client.vertex(
            region="us-east5",
            project_id="p",
            access_token=GTOKEN,
            transport=transport,
            **base,
        )

    return sdk, ours


def _google_cloud(base: dict[str, Any]) -> tuple[Any, Any]:
    def sdk(http: httpx2.Client) -> Any:
        return AnthropicGoogleCloud(
            project="p",
            workspace_id="w",
            token_provider=lambda: GTOKEN,
            http_client=http,
            **base,
        )

    def ours(transport: httpx.MockTransport) -> Client:
        return Client.google_cloud(
            project_id="p",
            workspace_id="w",
            access_token=GTOKEN,
            transport=transport,
            **base,
        )

    return sdk, ours


DOORS: list[tuple[str, Callable[[dict[str, Any]], tuple[Any, Any]], str, str]] = [
    ("aws", _aws, "ANTHROPIC_AWS_BASE_URL", "claude-opus-4-8"),
    (
        "bedrock",
        _bedrock,
        "ANTHROPIC_BEDROCK_BASE_URL",
        "global.anthropic.claude-opus-4-8",
    ),
    (
        "bedrock-messages",
        _mantle,
        "ANTHROPIC_BEDROCK_MANTLE_BASE_URL",
        "anthropic.claude-opus-4-8",
    ),
    ("vertex", _vertex, "ANTHROPIC_VERTEX_BASE_URL", "claude-opus-4-8"),
    ("google-cloud", _google_cloud, "", "claude-opus-4-8"),
]


CASES = [
    pytest.param(
        make, variable if source == "environment" else "", model, id=f"{door}-{source}"
    )
    for door, make, variable, model in DOORS
    for source in ("argument", "environment")
    # The SDK reads no base URL variable for Claude on Google Cloud.
    if source == "argument" or variable
]


@pytest.mark.parametrize(("make", "variable", "model"), CASES)
def test_a_gateway_base_url_gives_the_sdks_url(
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[dict[str, Any]], tuple[Any, Any]],
    variable: str,
    model: str,
) -> None:
    """The same request URL as the SDK's, below the gateway's base (argument or variable)."""
    base: dict[str, Any] = {"base_url": GATEWAY}
    if variable:
        monkeypatch.setenv(variable, GATEWAY)
        base = {}
    sdk_client, our_client = make(base)
    body = {**BODY, "model": model}
    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**body))
    ours = _conversa_capture(our_client, lambda c: c.create_message(body))
    assert str(ours.url) == str(sdk.url)
    assert str(ours.url).startswith(GATEWAY + "/")
