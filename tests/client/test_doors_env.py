"""Settings from the environment and AWS profiles resolve as the official SDK resolves them.

For each case the same environment (variables, a shared credentials file, a config
file) is given to the SDK's platform client and to conversa's, both built with as
few arguments as the case allows; both must send to the same URL with the same
kind of authentication: the same bearer token, or SigV4 with the same credential
scope (access key, date, region, service).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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

from conversa import Client, InvalidInputError

from .test_doors_sdk import BODY, _conversa_capture, _frozen, _sdk_capture

__all__ = ["_frozen"]  # the fixture: one clock, no ambient settings

PROFILES = """\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = default-secret

[dev]
aws_access_key_id = AKIDDEV
aws_secret_access_key = dev-secret
"""
CONFIG = """\
[profile dev]
region = ap-south-1
"""
GTOKEN = "ya29.from-a-provider"
SECRET = "arg-secret"  # noqa: S105 (a test value)


def _auth(headers: Any) -> str:
    """The bearer token, or SigV4's credential scope."""
    value = str(headers.get("authorization", ""))
    if value.startswith("AWS4-HMAC-SHA256"):
        return value.split("Credential=")[1].split(",")[0]
    return value


SdkMake = Callable[[httpx2.Client], Any]
OurMake = Callable[[httpx.MockTransport], Client]

CASES: list[tuple[str, dict[str, str], SdkMake, OurMake, str]] = [
    (
        "aws-key-from-env",
        {
            "AWS_DEFAULT_REGION": "eu-west-3",
            "ANTHROPIC_AWS_WORKSPACE_ID": "wrkspc_env",
            "ANTHROPIC_AWS_API_KEY": "aws-env-key",
        },
        lambda h: AnthropicAWS(http_client=h),
        lambda t: Client.aws(transport=t),
        "claude-opus-4-8",
    ),
    (
        "aws-default-profile",
        {"AWS_REGION": "us-west-2", "ANTHROPIC_AWS_WORKSPACE_ID": "w"},
        lambda h: AnthropicAWS(http_client=h),
        lambda t: Client.aws(transport=t),
        "claude-opus-4-8",
    ),
    (
        "aws-named-profile",
        {"AWS_REGION": "us-west-2"},
        lambda h: AnthropicAWS(aws_profile="dev", workspace_id="w", http_client=h),
        lambda t: Client.aws(aws_profile="dev", workspace_id="w", transport=t),
        "claude-opus-4-8",
    ),
    (
        "aws-profile-from-env",
        {"AWS_PROFILE": "dev", "AWS_REGION": "us-east-2"},
        lambda h: AnthropicAWS(workspace_id="w", http_client=h),
        lambda t: Client.aws(workspace_id="w", transport=t),
        "claude-opus-4-8",
    ),
    (
        "bedrock-bearer-from-env",
        {"AWS_REGION": "us-east-1", "AWS_BEARER_TOKEN_BEDROCK": "bedrock-env-token"},
        lambda h: AnthropicBedrock(http_client=h),
        lambda t: Client.bedrock(transport=t),
        "global.anthropic.claude-opus-4-8",
    ),
    (
        "bedrock-profile-region",
        {},
        lambda h: AnthropicBedrock(aws_profile="dev", http_client=h),
        lambda t: Client.bedrock(aws_profile="dev", transport=t),
        "global.anthropic.claude-opus-4-8",
    ),
    (
        "bedrock-messages-key-from-env",
        {"AWS_DEFAULT_REGION": "eu-central-1", "ANTHROPIC_AWS_API_KEY": "mantle-key"},
        lambda h: AnthropicBedrockMantle(http_client=h),
        lambda t: Client.bedrock(api="messages", transport=t),
        "anthropic.claude-opus-4-8",
    ),
    (
        "vertex-from-env",
        {"CLOUD_ML_REGION": "europe-west1", "ANTHROPIC_VERTEX_PROJECT_ID": "proj-env"},
        lambda h: AnthropicVertex(access_token=GTOKEN, http_client=h),
        lambda t: Client.vertex(access_token=GTOKEN, transport=t),
        "claude-opus-4-8",
    ),
    (
        "vertex-multi-region",
        {"CLOUD_ML_REGION": "eu", "ANTHROPIC_VERTEX_PROJECT_ID": "proj-env"},
        lambda h: AnthropicVertex(access_token=GTOKEN, http_client=h),
        lambda t: Client.vertex(access_token=GTOKEN, transport=t),
        "claude-opus-4-8",
    ),
    (
        "google-cloud-from-env",
        {
            "ANTHROPIC_GOOGLE_CLOUD_PROJECT": "proj-env",
            "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID": "wrkspc_env",
            "ANTHROPIC_GOOGLE_CLOUD_LOCATION": "us-east5",
        },
        lambda h: AnthropicGoogleCloud(token_provider=lambda: GTOKEN, http_client=h),
        lambda t: Client.google_cloud(token_provider=lambda: GTOKEN, transport=t),
        "claude-opus-4-8",
    ),
    (
        "google-cloud-project-fallback",
        {"GOOGLE_CLOUD_PROJECT": "proj-gc", "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID": "w"},
        lambda h: AnthropicGoogleCloud(token_provider=lambda: GTOKEN, http_client=h),
        lambda t: Client.google_cloud(token_provider=lambda: GTOKEN, transport=t),
        "claude-opus-4-8",
    ),
]


@pytest.fixture(autouse=True)
def _aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared credentials and config files with a default and a `dev` profile."""
    (tmp_path / "credentials").write_text(PROFILES)
    (tmp_path / "config").write_text(CONFIG)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))


@pytest.mark.parametrize(
    ("env", "sdk_client", "our_client", "model"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_the_environment_resolves_as_the_sdks(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    sdk_client: SdkMake,
    our_client: OurMake,
    model: str,
) -> None:
    """Same URL, same bearer token or SigV4 scope, from the same environment."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    body = {**BODY, "model": model}
    sdk = _sdk_capture(sdk_client, lambda c: c.messages.create(**body))
    ours = _conversa_capture(our_client, lambda c: c.create_message(body))
    assert str(ours.url) == str(sdk.url)
    assert _auth(ours.headers) == _auth(sdk.headers)
    assert ours.headers.get("anthropic-workspace-id") == sdk.headers.get(
        "anthropic-workspace-id"
    )


def test_a_bedrock_key_and_a_key_pair_are_refused_together() -> None:
    """Bedrock takes a bearer token or AWS keys, not both (as the SDK)."""
    with pytest.raises(InvalidInputError, match="not both"):
        Client.bedrock(
            region="us-east-1", api_key="k", aws_access_key="a", aws_secret_key=SECRET
        )


def test_an_explicit_key_pair_wins_over_the_environment_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ANTHROPIC_AWS_API_KEY yields to keys given as arguments (the SDK's order)."""
    monkeypatch.setenv("ANTHROPIC_AWS_API_KEY", "env-key")
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(
        lambda r: seen.append(r) or httpx.Response(200, json={})  # type: ignore[func-returns-value]
    )
    client = Client.aws(
        region="us-east-1",
        workspace_id="w",
        aws_access_key="AKIDARG",
        aws_secret_key=SECRET,
        transport=transport,
    )
    with client:
        client.request("GET", "/v1/models")
    assert "Credential=AKIDARG/" in seen[0].headers["authorization"]
