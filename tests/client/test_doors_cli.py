"""`conversa chat --door ...`: the command line through a door, configured by the environment."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from conversa import SQLiteStore
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI, reply

from . import frames
from .test_doors_sdk import _ENV, MESSAGE


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient AWS or Google setting leaks in."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


def test_chat_through_bedrock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`chat --door bedrock` signs with the environment's keys and folds event-stream replies."""
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key-example")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n/quit\n"))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, content=frames.stream(frames.message_events(MESSAGE))
        )

    url = f"sqlite:///{tmp_path / 'c.db'}"
    model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0"
    argv = ["--store", url, "chat", "--door", "bedrock", "--model", model]
    code = main(argv, transport=httpx.MockTransport(handler))
    out, _ = capsys.readouterr()
    assert code == 0
    assert "claude> Hi" in out
    (sent,) = seen
    assert sent.url.host == "bedrock-runtime.eu-central-1.amazonaws.com"
    assert sent.url.path == f"/model/{model}/invoke-with-response-stream"
    assert "Credential=AKIDEXAMPLE/" in sent.headers["authorization"]
    body: dict[str, Any] = json.loads(sent.content)
    assert "model" not in body
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    with SQLiteStore(tmp_path / "c.db") as store:
        (record,) = store.list().items
    assert record.model == model  # stored as the caller spelled it


@pytest.mark.parametrize(
    ("door", "needle"),
    [
        ("aws", "AWS_REGION"),
        ("bedrock", "AWS_REGION"),
        ("vertex", "CLOUD_ML_REGION"),
    ],
)
def test_a_door_without_its_settings_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], door: str, needle: str
) -> None:
    """A door missing its region says which variable to set, with exit code 2."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code = main(["--store", url, "chat", "--door", door])
    _, err = capsys.readouterr()
    assert code == 2
    assert needle in err
    assert f"--door {door}" in err


@pytest.mark.parametrize(
    ("door", "path", "model"),
    [
        ("aws", "/v1/messages", "claude-sonnet-4-5"),
        (
            "bedrock",
            "/model/global.anthropic.claude-sonnet-4-5-20250929-v1:0"
            "/invoke-with-response-stream",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "vertex",
            "/v1/projects/conversa-fake/locations/us-east5/publishers/anthropic"
            "/models/claude-sonnet-4-5@20250929:streamRawPredict",
            "claude-sonnet-4-5@20250929",
        ),
        (
            "google-cloud",
            "/v1/projects/conversa-fake/locations/global/workspaces/wrkspc_fake"
            "/invoke/v1/messages",
            "claude-sonnet-4-5",
        ),
    ],
)
def test_offline_chat_through_each_door(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    door: str,
    path: str,
    model: str,
) -> None:
    """`chat --door X --offline` talks to the fake serving as that door, no settings needed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\nagain\n/quit\n"))
    fake = FakeMessagesAPI()
    fake.script(reply.text("Hi there."), reply.text("Hi again."))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code = main(["--store", url, "chat", "--door", door, "--offline"], transport=fake)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "claude> Hi there." in out
    assert "claude> Hi again." in out
    assert [r.path for r in fake.requests] == [path, path]
    assert all(r.status_code == 200 and r.stream for r in fake.requests)
    if door in ("aws", "bedrock"):
        assert "AWS4-HMAC-SHA256" in fake.requests[0].headers["authorization"]
    with SQLiteStore(tmp_path / "c.db") as store:
        (record,) = store.list().items
        assert record.model == model  # the default model, as the door spells it
        assert len(store.read(record.id)) == 4


def test_offline_door_needs_no_fake_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an injected fake, `--offline --door` opens one of its own."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    code = main(["--store", url, "chat", "--door", "bedrock", "--offline"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "claude> (fake reply #1 to: hello)" in out
