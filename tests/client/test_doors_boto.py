"""Bedrock InvokeModel and CountTokens as boto3 builds them: conversa sends the same.

The official SDK has no Bedrock CountTokens (it refuses), so boto3's own
``bedrock-runtime`` client is the oracle here: for the same InvokeModel body both
must send the same URL, the same JSON envelope (the body base64 in
``input.invokeModel.body``) and the same signing scope; InvokeModel itself too.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from conversa import Client

from .test_doors_sdk import AK, SK, TOKEN, _frozen

__all__ = ["_frozen"]  # the fixture: one clock, no ambient settings

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MESSAGES = [{"role": "user", "content": "How many tokens?"}]


def _boto_request(operation: str, **kwargs: Any) -> Any:
    """The request boto3 signs for *operation* (never sent)."""
    seen: list[Any] = []

    def capture(request: Any, **_: Any) -> None:
        seen.append(request)
        msg = "captured"
        raise RuntimeError(msg)

    client = boto3.session.Session(
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        aws_session_token=TOKEN,
        region_name="us-east-1",
    ).client("bedrock-runtime", config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register("before-send.bedrock-runtime", capture)
    with pytest.raises(RuntimeError, match="captured"):
        getattr(client, operation)(**kwargs)
    return seen[0]


def _ours(call: Any) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"inputTokens": 5, "content": []})

    with Client.bedrock(
        region="us-east-1",
        aws_access_key=AK,
        aws_secret_key=SK,
        aws_session_token=TOKEN,
        transport=httpx.MockTransport(handler),
    ) as client:
        call(client)
    return seen[0]


def _same_url(ours: str, theirs: str) -> bool:
    """The same URL once decoded: boto3 escapes ``:`` in the model id, the SDK does not."""
    return urllib.parse.unquote(ours) == urllib.parse.unquote(theirs)


def _scope(value: Any) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text.split("Credential=")[1].split(",")[0]


def test_count_tokens_is_boto3s_count_tokens() -> None:
    """The CountTokens envelope, URL and scope are boto3's for the same InvokeModel body."""
    ours = _ours(lambda c: c.count_tokens({"model": MODEL, "messages": MESSAGES}))
    envelope = json.loads(ours.content)
    inner = base64.b64decode(envelope["input"]["invokeModel"]["body"])
    theirs = _boto_request(
        "count_tokens", modelId=MODEL, input={"invokeModel": {"body": inner}}
    )
    assert _same_url(str(ours.url), theirs.url)
    assert envelope == json.loads(theirs.body)
    assert _scope(ours.headers["authorization"]) == _scope(
        theirs.headers["Authorization"]
    )
    assert json.loads(inner) == {
        "messages": MESSAGES,
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 1,
    }


def test_invoke_model_is_boto3s_invoke_model() -> None:
    """InvokeModel: the same URL, body bytes' JSON and signing scope as boto3's."""
    body = {"model": MODEL, "max_tokens": 64, "messages": MESSAGES}
    ours = _ours(lambda c: c.create_message(body))
    theirs = _boto_request(
        "invoke_model",
        modelId=MODEL,
        body=ours.content,
        contentType="application/json",
        accept="application/json",
    )
    assert _same_url(str(ours.url), theirs.url)
    assert json.loads(ours.content) == json.loads(theirs.body)
    assert _scope(ours.headers["authorization"]) == _scope(
        theirs.headers["Authorization"]
    )
