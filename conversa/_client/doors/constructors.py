"""The doors' classmethods, written once for `Client` and `AsyncClient`.

``Client.aws(...)``, ``Client.bedrock(...)``, ``Client.vertex(...)`` and
``Client.google_cloud(...)`` (and the same on `AsyncClient`) build a door's config
and auth (`conversa._client.doors.setup`) and hand them to the twin's
``from_config``; only the httpx types differ between the twins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from ..config import ClientConfig
from ..tracing import Tracing
from .setup import (
    DoorOptions,
    aws_setup,
    bedrock_setup,
    door_config,
    google_cloud_setup,
    vertex_setup,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials as GoogleCredentials
    from typing_extensions import Self, Unpack

__all__ = ["DoorConstructors"]

TransportT = TypeVar("TransportT")
HttpT = TypeVar("HttpT")


class DoorConstructors(Generic[TransportT, HttpT]):
    """The door classmethods; *TransportT* and *HttpT* are the twin's httpx types."""

    if TYPE_CHECKING:

        @classmethod
        def from_config(
            cls,
            config: ClientConfig,
            *,
            transport: TransportT | None = None,
            http_client: HttpT | None = None,
            auth: httpx.Auth | None = None,
            tracing: Tracing | bool | None = None,
        ) -> Self: ...

    @classmethod
    def _from_door(
        cls,
        fields: dict[str, Any],
        auth: httpx.Auth | None,
        options: DoorOptions,
        transport: TransportT | None,
        http_client: HttpT | None,
    ) -> Self:
        config = door_config(fields, options)
        return cls.from_config(
            config,
            transport=transport,
            http_client=http_client,
            auth=auth,
            tracing=options.get("tracing"),
        )

    @classmethod
    def aws(
        cls,
        *,
        region: str | None = None,
        workspace_id: str | None = None,
        api_key: str | None = None,
        aws_access_key: str | None = None,
        aws_secret_key: str | None = None,
        aws_session_token: str | None = None,
        aws_profile: str | None = None,
        base_url: str | None = None,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
        **options: Unpack[DoorOptions],
    ) -> Self:
        """Return a client for Claude Platform on AWS (SigV4, or a workspace API key).

        Region: *region*, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; workspace:
        *workspace_id*, else ``ANTHROPIC_AWS_WORKSPACE_ID``. Auth: *api_key*, the
        key pair, *aws_profile*, ``ANTHROPIC_AWS_API_KEY``, then the default AWS
        chain. *options* are `Client`'s (``api_version``, ``betas``, ``timeout``,
        ``retry``, ``max_retries``, ``default_headers``, ``tracing``) and
        ``models``, model ids to translate on this door. Needs
        ``conversa-state[aws]`` for SigV4.

        Raises:
            InvalidInputError: no region, no workspace, or no credentials.
        """
        fields, auth = aws_setup(
            region=region,
            workspace_id=workspace_id,
            api_key=api_key,
            aws_access_key=aws_access_key,
            aws_secret_key=aws_secret_key,
            aws_session_token=aws_session_token,
            aws_profile=aws_profile,
            base_url=base_url,
        )
        return cls._from_door(fields, auth, options, transport, http_client)

    @classmethod
    def bedrock(
        cls,
        *,
        region: str | None = None,
        api: str = "invoke",
        api_key: str | None = None,
        aws_access_key: str | None = None,
        aws_secret_key: str | None = None,
        aws_session_token: str | None = None,
        aws_profile: str | None = None,
        base_url: str | None = None,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
        **options: Unpack[DoorOptions],
    ) -> Self:
        """Return a client for Amazon Bedrock: InvokeModel (``api="invoke"``) or Messages.

        ``api="messages"`` is Bedrock's Messages endpoint (Opus 4.7 and later).
        Region: *region*, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's.
        Auth: *api_key* or ``AWS_BEARER_TOKEN_BEDROCK`` (a bearer token), else
        SigV4 with the key pair, *aws_profile* or the default chain. No Message
        Batches; see `aws` for *options*.

        Raises:
            InvalidInputError: no region or no credentials.
        """
        fields, auth = bedrock_setup(
            region=region,
            api=api,
            api_key=api_key,
            aws_access_key=aws_access_key,
            aws_secret_key=aws_secret_key,
            aws_session_token=aws_session_token,
            aws_profile=aws_profile,
            base_url=base_url,
        )
        return cls._from_door(fields, auth, options, transport, http_client)

    @classmethod
    def vertex(
        cls,
        *,
        region: str | None = None,
        project_id: str | None = None,
        access_token: str | None = None,
        credentials: GoogleCredentials | None = None,
        token_provider: Callable[[], str] | None = None,
        base_url: str | None = None,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
        **options: Unpack[DoorOptions],
    ) -> Self:
        """Return a client for Google Vertex AI (rawPredict, a Google OAuth token).

        Region: *region*, else ``CLOUD_ML_REGION``; project: *project_id*, else
        ``ANTHROPIC_VERTEX_PROJECT_ID``, else the default credentials'. Token:
        *access_token* (never refreshed), *token_provider*, *credentials*, or
        Application Default Credentials, refreshed when due. No Message
        Batches; see `aws` for *options*. Needs ``conversa-state[vertex]``.

        Raises:
            InvalidInputError: no region, no project or no credentials.
        """
        fields, auth = vertex_setup(
            region=region,
            project_id=project_id,
            access_token=access_token,
            credentials=credentials,
            token_provider=token_provider,
            base_url=base_url,
        )
        return cls._from_door(fields, auth, options, transport, http_client)

    @classmethod
    def google_cloud(
        cls,
        *,
        project_id: str | None = None,
        workspace_id: str | None = None,
        region: str | None = None,
        location: str | None = None,
        access_token: str | None = None,
        credentials: GoogleCredentials | None = None,
        token_provider: Callable[[], str] | None = None,
        base_url: str | None = None,
        transport: TransportT | None = None,
        http_client: HttpT | None = None,
        **options: Unpack[DoorOptions],
    ) -> Self:
        """Return a client for Claude on Google Cloud (Anthropic managed; the full API).

        Project: *project_id*, ``ANTHROPIC_GOOGLE_CLOUD_PROJECT``,
        ``GOOGLE_CLOUD_PROJECT``; workspace: *workspace_id*,
        ``ANTHROPIC_GOOGLE_CLOUD_WORKSPACE_ID``; location: *region* (or its
        alias *location*), ``ANTHROPIC_GOOGLE_CLOUD_LOCATION``, ``"global"``.
        Tokens as `Client.vertex`; see `aws` for *options*.

        Raises:
            InvalidInputError: no project, no workspace or no credentials.
        """
        fields, auth = google_cloud_setup(
            project_id=project_id,
            workspace_id=workspace_id,
            region=region or location,
            access_token=access_token,
            credentials=credentials,
            token_provider=token_provider,
            base_url=base_url,
        )
        return cls._from_door(fields, auth, options, transport, http_client)
