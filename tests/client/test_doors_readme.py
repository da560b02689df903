"""The README's door examples are true: its lines run as shown and do what it says.

The "Other doors" block builds one client per door from the environment (AWS keys
and Application Default Credentials from a file here, no network); the "Testing
your AWS, Bedrock or Vertex setup offline" block runs against the fake. Also: no
credentials anywhere is a clear error naming what to set, on every door.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conversa import Client, InvalidInputError

from .test_doors_sdk import _ENV

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(heading: str) -> str:
    """The first ```python block under *heading* in the README."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, heading
    return match.group(1)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient AWS or Google setting, no metadata server, no gcloud config."""
    for name in (*_ENV, "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-creds"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr("google.auth.compute_engine._metadata._NO_GCE_CHECK", True)


def test_the_doors_block_builds_each_door(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each line of the "Other doors" block gives a client for its door, as described."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv(
        "AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    )
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "id.apps.googleusercontent.com",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    built: list[Client] = []

    class Recording(Client):
        @classmethod
        def from_config(cls, config: Any, **kw: Any) -> Any:
            client = Client.from_config(config, **kw)
            built.append(client)
            return client

    # The block's own `from conversa import Client` gets one that records.
    monkeypatch.setattr("conversa.Client", Recording)
    block = _block("### Other doors")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    doors = [(c.config.door, c.config.base_url, c.config.region) for c in built]
    assert doors == [
        ("aws", "https://aws-external-anthropic.us-west-2.api.aws", "us-west-2"),
        ("bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", "us-east-1"),
        (
            "bedrock-messages",
            "https://bedrock-mantle.us-east-1.api.aws/anthropic",
            "us-east-1",
        ),
        ("vertex", "https://us-east5-aiplatform.googleapis.com/v1", "us-east5"),
        (
            "google-cloud",
            "https://claude.googleapis.com/v1/projects/my-project/locations/global"
            "/workspaces/wrkspc_.../invoke",
            "global",
        ),
    ]
    for client in built:
        client.close()


def test_the_offline_door_block_runs() -> None:
    """The "Testing your AWS, Bedrock or Vertex setup offline" block runs as written."""
    block = _block("### Testing your AWS, Bedrock or Vertex setup offline")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102


@pytest.mark.parametrize(
    "make",
    [
        lambda: Client.vertex(region="us-east5", project_id="p"),
        lambda: Client.google_cloud(project_id="p", workspace_id="w"),
    ],
    ids=["vertex", "google-cloud"],
)
def test_no_google_credentials_names_what_to_set(make: Any) -> None:
    """With no token and no Application Default Credentials: an error naming the ways."""
    with pytest.raises(InvalidInputError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Client.aws(region="us-east-1", workspace_id="w"),
        lambda: Client.bedrock(region="us-east-1"),
        lambda: Client.bedrock(region="us-east-1", api="messages"),
    ],
    ids=["aws", "bedrock", "bedrock-messages"],
)
def test_no_aws_credentials_names_what_to_set(make: Any) -> None:
    """With no key, no profile and no environment: an error naming what to set."""
    with pytest.raises(InvalidInputError, match="AWS_ACCESS_KEY_ID") as info:
        make()
    assert "aws_access_key=" in str(info.value)
