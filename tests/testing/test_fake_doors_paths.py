"""Both path forms (plain and ``?beta=true``) at every endpoint, and the doors' extras."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from conversa.testing import FakeDoor, FakeMessagesAPI

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "Hi"}],
}
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def _walk(http: httpx.Client, fake: FakeMessagesAPI, query: str) -> list[int]:
    """Call every endpoint once with *query* appended; return the statuses."""
    statuses = [
        http.post("/v1/messages" + query, json=BODY).status_code,
        http.post("/v1/messages" + query, json={**BODY, "stream": True}).status_code,
        http.post(
            "/v1/messages/count_tokens" + query,
            json={"model": BODY["model"], "messages": BODY["messages"]},
        ).status_code,
    ]
    created = http.post(
        "/v1/messages/batches" + query,
        json={"requests": [{"custom_id": "a", "params": BODY}]},
    )
    batch = f"/v1/messages/batches/{created.json()['id']}"
    statuses += [
        created.status_code,
        http.get("/v1/messages/batches" + query).status_code,
        http.post(batch + "/cancel" + query).status_code,
    ]
    fake.advance_batches()
    statuses += [
        http.get(batch + query).status_code,
        http.get(batch + "/results" + query).status_code,
        http.delete(batch + query).status_code,
    ]
    return statuses


@pytest.mark.parametrize("query", ["", "?beta=true"])
def test_every_endpoint_takes_both_path_forms(query: str) -> None:
    """messages, count_tokens and each batches route answer alike with ?beta=true."""
    fake = FakeMessagesAPI()
    with httpx.Client(
        transport=fake, base_url="https://api.anthropic.com", headers=HEADERS
    ) as http:
        assert _walk(http, fake, query) == [200] * 9
    assert {r.path for r in fake.requests} >= {"/v1/messages", "/v1/messages/batches"}


@pytest.mark.parametrize(
    "open_door",
    [
        lambda fake: fake.aws(workspace_id="wrkspc_p"),
        lambda fake: fake.google_cloud(workspace_id="wrkspc_p"),
    ],
    ids=["aws", "google-cloud"],
)
def test_doors_with_first_party_paths_take_both_forms(
    open_door: Callable[[FakeMessagesAPI], FakeDoor],
) -> None:
    """The doors that serve first-party paths take the ?beta=true form too."""
    fake = FakeMessagesAPI()
    door = open_door(fake)
    key = door.api_key or door.access_token
    headers = {
        "authorization": f"Bearer {key}",
        "anthropic-version": "2023-06-01",
        "anthropic-workspace-id": "wrkspc_p",
    }
    with httpx.Client(transport=door, base_url=door.base_url, headers=headers) as http:
        assert _walk(http, fake, "?beta=true") == [200] * 9


def test_testing_imports_without_botocore_or_google_auth() -> None:
    """conversa.testing imports, and serves the Google doors, with neither installed."""
    code = (
        "import sys\n"
        "for name in ('botocore', 'boto3', 'google', 'google.auth'):\n"
        "    sys.modules[name] = None\n"
        "from conversa.testing import FakeMessagesAPI\n"
        "fake = FakeMessagesAPI()\n"
        "fake.vertex(); fake.google_cloud()\n"
        "try:\n"
        "    fake.bedrock()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "pip install 'conversa-state[aws]'" in done.stdout


@pytest.mark.parametrize("door", ["aws", "bedrock"])
def test_aws_doors_without_botocore_name_the_extra(
    monkeypatch: pytest.MonkeyPatch, door: str
) -> None:
    """Opening an AWS door without botocore is an ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "botocore.auth", None)
    with pytest.raises(ImportError, match=r"conversa-state\[aws\]"):
        getattr(FakeMessagesAPI(), door)()


def test_bedrock_api_must_be_known() -> None:
    """bedrock(api=...) takes 'invoke' or 'messages'."""
    with pytest.raises(ValueError, match="'invoke' or 'messages'"):
        FakeMessagesAPI().bedrock(api="converse")
