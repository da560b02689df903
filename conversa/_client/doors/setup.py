"""Building a client for a door: its config and its auth, from arguments and environment.

Each function here is what one ``Client.<door>(...)`` classmethod does before it
opens connections, shared by both twins. The arguments take the official SDK's
names, and the environment variables are the SDK's (docs: how-to/doors.md); what is
missing is an `InvalidInputError` naming what to set. ``region=`` is conversa's
name for the region (the location on Google Cloud) on every door.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import httpx
from attrs import evolve

from ..._exceptions import InvalidInputError
from ..config import ClientConfig
from ..retry import RetryPolicy
from ..tracing import Tracing
from .aws import SigV4, aws_credentials, aws_region, env_value, require_botocore
from .google import GoogleBearer, default_credentials

if TYPE_CHECKING:
    from google.auth.credentials import Credentials as GoogleCredentials

__all__ = [
    "DoorOptions",
    "aws_setup",
    "bedrock_setup",
    "door_config",
    "google_cloud_setup",
    "vertex_setup",
]

#: (config fields, auth): what a door's setup gives `door_config`.
Setup = tuple[dict[str, Any], httpx.Auth | None]


class DoorOptions(TypedDict, total=False):
    """The options every door's classmethod takes besides its own (see `Client`)."""

    api_version: str
    betas: Iterable[str]
    timeout: float | httpx.Timeout | None
    retry: RetryPolicy | None
    max_retries: int | None
    default_headers: Mapping[str, str] | None
    models: Mapping[str, str] | None
    tracing: Tracing | bool | None


def door_config(setup: dict[str, Any], options: DoorOptions) -> ClientConfig:
    """Build a door's `ClientConfig` from its setup and the common options."""
    policy = options.get("retry") or RetryPolicy()
    max_retries = options.get("max_retries")
    if max_retries is not None:
        policy = evolve(policy, max_retries=max_retries)
    extra: dict[str, Any] = {}
    if options.get("api_version"):
        extra["api_version"] = options["api_version"]
    return ClientConfig(
        **setup,
        **extra,
        betas=options.get("betas", ()),
        timeout=options.get("timeout"),
        retry=policy,
        default_headers=options.get("default_headers"),
        models=options.get("models") or {},
    )


def _aws_auth(
    service: str,
    region: str,
    *,
    aws_access_key: str | None,
    aws_secret_key: str | None,
    aws_session_token: str | None,
    aws_profile: str | None,
) -> SigV4:
    credentials = aws_credentials(
        aws_access_key=aws_access_key,
        aws_secret_key=aws_secret_key,
        aws_session_token=aws_session_token,
        aws_profile=aws_profile,
    )
    return SigV4(credentials, service, region)


def aws_setup(
    *,
    region: str | None,
    workspace_id: str | None,
    api_key: str | None,
    aws_access_key: str | None,
    aws_secret_key: str | None,
    aws_session_token: str | None,
    aws_profile: str | None,
    base_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> Setup:
    """Claude Platform on AWS: SigV4 (``aws-external-anthropic``) or a workspace API key.

    Auth, in the SDK's order: *api_key*; the access key pair; *aws_profile*;
    ``ANTHROPIC_AWS_API_KEY``; the default AWS chain. An API key goes as
    ``authorization: Bearer`` (what the SDK sends; the docs name ``x-api-key``).
    """
    env = os.environ if environ is None else environ
    found_region = aws_region(region, env, what="Claude Platform on AWS")
    workspace = workspace_id or env_value(env, "ANTHROPIC_AWS_WORKSPACE_ID")
    if not workspace:
        msg = (
            "Claude Platform on AWS needs a workspace: pass workspace_id=... or set "
            "ANTHROPIC_AWS_WORKSPACE_ID"
        )
        raise InvalidInputError(msg)
    url = (
        base_url
        or env_value(env, "ANTHROPIC_AWS_BASE_URL")
        or f"https://aws-external-anthropic.{found_region}.api.aws"
    )
    fields: dict[str, Any] = {
        "door": "aws",
        "base_url": url,
        "region": found_region,
        "workspace_id": workspace,
    }
    sigv4 = aws_access_key is not None or aws_secret_key is not None or aws_profile
    key = api_key or (None if sigv4 else env_value(env, "ANTHROPIC_AWS_API_KEY"))
    if key is not None:
        return {**fields, "auth_token": key}, None
    auth = _aws_auth(
        "aws-external-anthropic",
        found_region,
        aws_access_key=aws_access_key,
        aws_secret_key=aws_secret_key,
        aws_session_token=aws_session_token,
        aws_profile=aws_profile,
    )
    return fields, auth


def _profile_region(aws_profile: str | None) -> str | None:
    require_botocore()
    from botocore.session import Session

    region = Session(profile=aws_profile).get_config_variable("region")
    return str(region) if region else None


def bedrock_setup(
    *,
    region: str | None,
    api: str,
    api_key: str | None,
    aws_access_key: str | None,
    aws_secret_key: str | None,
    aws_session_token: str | None,
    aws_profile: str | None,
    base_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> Setup:
    """Amazon Bedrock: InvokeModel (``api="invoke"``) or its Messages endpoint.

    Region: *region*, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's.
    Auth: a bearer token (*api_key* or ``AWS_BEARER_TOKEN_BEDROCK``; on the
    Messages endpoint also ``ANTHROPIC_AWS_API_KEY``), else SigV4 (``bedrock`` or
    ``bedrock-mantle``) with the key pair, the profile or the default chain.
    """
    if api not in ("invoke", "messages"):
        msg = f'api must be "invoke" or "messages", not {api!r}'
        raise InvalidInputError(msg)
    require_botocore()  # SigV4, and InvokeModel's event-stream parser
    env = os.environ if environ is None else environ
    found = (
        region
        or env_value(env, "AWS_REGION", "AWS_DEFAULT_REGION")
        or _profile_region(aws_profile)
    )
    found_region = aws_region(found, env, what="Amazon Bedrock")
    keys: tuple[str, ...] = ("AWS_BEARER_TOKEN_BEDROCK",)
    if api == "messages":
        door, service = "bedrock-messages", "bedrock-mantle"
        url = base_url or env_value(env, "ANTHROPIC_BEDROCK_MANTLE_BASE_URL")
        url = url or f"https://bedrock-mantle.{found_region}.api.aws/anthropic"
        keys = (*keys, "ANTHROPIC_AWS_API_KEY")
    else:
        door, service = "bedrock", "bedrock"
        url = base_url or env_value(env, "ANTHROPIC_BEDROCK_BASE_URL")
        url = url or f"https://bedrock-runtime.{found_region}.amazonaws.com"
    fields: dict[str, Any] = {"door": door, "base_url": url, "region": found_region}
    pair = aws_access_key is not None or aws_secret_key is not None
    if api_key is not None and pair:
        msg = "pass api_key=... or aws_access_key=/aws_secret_key=..., not both"
        raise InvalidInputError(msg)
    key = api_key or (None if pair or aws_profile else env_value(env, *keys))
    if key is not None:
        return {**fields, "auth_token": key}, None
    auth = _aws_auth(
        service,
        found_region,
        aws_access_key=aws_access_key,
        aws_secret_key=aws_secret_key,
        aws_session_token=aws_session_token,
        aws_profile=aws_profile,
    )
    return fields, auth


def _google_auth(
    access_token: str | None,
    credentials: GoogleCredentials | None,
    token_provider: Callable[[], str] | None,
) -> tuple[GoogleBearer, str | None]:
    """The bearer auth, and the project Application Default Credentials name."""
    if access_token is not None:
        return GoogleBearer(access_token=access_token), None
    if token_provider is not None:
        return GoogleBearer(token_provider=token_provider), None
    if credentials is not None:
        return GoogleBearer(credentials=credentials), None
    loaded, project = default_credentials()
    return GoogleBearer(credentials=loaded), project


def _vertex_base(region: str) -> str:
    if region == "global":
        return "https://aiplatform.googleapis.com/v1"
    if region in ("us", "eu"):  # the multi-region endpoints
        return f"https://aiplatform.{region}.rep.googleapis.com/v1"
    return f"https://{region}-aiplatform.googleapis.com/v1"


def vertex_setup(
    *,
    region: str | None,
    project_id: str | None,
    access_token: str | None,
    credentials: GoogleCredentials | None,
    token_provider: Callable[[], str] | None,
    base_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> Setup:
    """Google Vertex AI: region from ``CLOUD_ML_REGION``, project from
    ``ANTHROPIC_VERTEX_PROJECT_ID`` or the default credentials."""
    env = os.environ if environ is None else environ
    found_region = region or env_value(env, "CLOUD_ML_REGION")
    if not found_region:
        msg = "Vertex AI needs a region: pass region=... or set CLOUD_ML_REGION"
        raise InvalidInputError(msg)
    auth, adc_project = _google_auth(access_token, credentials, token_provider)
    project = project_id or env_value(env, "ANTHROPIC_VERTEX_PROJECT_ID") or adc_project
    if not project:
        msg = (
            "Vertex AI needs a project: pass project_id=... or set "
            "ANTHROPIC_VERTEX_PROJECT_ID"
        )
        raise InvalidInputError(msg)
    url = (
        base_url
        or env_value(env, "ANTHROPIC_VERTEX_BASE_URL")
        or _vertex_base(found_region)
    )
    fields = {
        "door": "vertex",
        "base_url": url,
        "region": found_region,
        "project_id": project,
    }
    return fields, auth


def google_cloud_setup(
    *,
    project_id: str | None,
    workspace_id: str | None,
    region: str | None,
    access_token: str | None,
    credentials: GoogleCredentials | None,
    token_provider: Callable[[], str] | None,
    base_url: str | None,
    environ: Mapping[str, str] | None = None,
) -> Setup:
    """Claude on Google Cloud: the workspace's ``.../invoke`` base, location ``global``
    unless *region* or ``ANTHROPIC_GOOGLE_CLOUD_LOCATION`` says otherwise."""
    env = os.environ if environ is None else environ
    auth, adc_project = _google_auth(access_token, credentials, token_provider)
    project = (
        project_id
        or env_value(env, "ANTHROPIC_GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT")
        or adc_project
    )
    if not project:
        msg = (
            "Claude on Google Cloud needs a project: pass project_id=... or set "
            "ANTHROPIC_GOOGLE_CLOUD_PROJECT"
        )
        raise InvalidInputError(msg)
    workspace = workspace_id or env_value(env, "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID")
    if not workspace:
        msg = (
            "Claude on Google Cloud needs a workspace: pass workspace_id=... or set "
            "ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID"
        )
        raise InvalidInputError(msg)
    location = region or env_value(env, "ANTHROPIC_GOOGLE_CLOUD_LOCATION") or "global"
    url = base_url or (
        f"https://claude.googleapis.com/v1/projects/{project}/locations/{location}"
        f"/workspaces/{workspace}/invoke"
    )
    fields = {
        "door": "google-cloud",
        "base_url": url,
        "region": location,
        "project_id": project,
        "workspace_id": workspace,
    }
    return fields, auth
