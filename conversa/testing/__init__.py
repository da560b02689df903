"""A strict, deterministic fake of Anthropic's Messages API, for tests.

`FakeMessagesAPI` is an httpx transport: hand it to any `httpx.Client` or
`httpx.AsyncClient` (conversa's clients included) and every call goes to it instead
of the network. It validates each request as the API does, with the API's own
error texts, answers from a script of replies and faults, and records everything::

    import httpx
    from conversa.testing import FakeMessagesAPI, fault, reply

    fake = FakeMessagesAPI()
    fake.script(
        fault.status(429, retry_after=1.5),
        reply.tool_use("get_weather", {"city": "Paris"}),
        reply.text("It is sunny in Paris."),
    )
    http = httpx.Client(transport=fake, base_url="https://api.anthropic.com")
    response = http.post(
        "/v1/messages",
        headers={"x-api-key": "test", "anthropic-version": "2023-06-01"},
        json={
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
        },
    )
    assert response.status_code == 429
    assert fake.last_request.body["messages"][0]["content"] == "Weather in Paris?"

Calls with nothing scripted get a deterministic default reply. Streaming
(``"stream": true``) sends the same Message as server-sent events.

**Prompt caching** is simulated as the API's prompt caching docs describe
(https://platform.claude.com/docs/en/build-with-claude/prompt-caching), per API key and
workspace: entries are written at breakpoints (``cache_control`` blocks and the
automatic top-level one) for prefixes of at least the model's minimum cacheable
length, read back with a 20-block lookback, and kept 5 minutes or 1 hour on the
fake's clock, refreshed on each hit. ``usage`` splits the input as the API does:
``cache_read_input_tokens`` (the longest cached prefix found),
``cache_creation_input_tokens`` (written beyond it, split by TTL in
``cache_creation``) and ``input_tokens`` (after the last breakpoint); together
they are `FakeMessagesAPI.count_tokens` of the request. Pass
``clock=`` to move time without sleeping, ``cache=False`` to turn it off, and
read `FakeMessagesAPI.cache_stats`. A request with ``diagnostics`` gets the
``cache_miss_reason`` against the reply it names.

**Message Batches** work under ``/v1/messages/batches``: every request's
result is computed at creation from the same script (or per ``custom_id`` with
`FakeMessagesAPI.script_batch`; `fault.expired` expires one); a batch stays
``in_progress`` for ``batch_polls`` retrievals, or until
`FakeMessagesAPI.advance_batches`, and its results come back in reverse order.

**Cloud doors**: `FakeMessagesAPI.aws`, `~FakeMessagesAPI.bedrock`,
`~FakeMessagesAPI.vertex` and `~FakeMessagesAPI.google_cloud` return a `FakeDoor`,
a transport that serves the same fake as that platform does: its URLs, its
authentication (SigV4 checked with botocore's signer, API keys, Google bearer
tokens), its body shape, Bedrock's event-stream frames and each door's error
shape. Its attributes carry the fixed test credentials a client passes::

    door = fake.bedrock(region="us-east-1")
    http = httpx.Client(transport=door)   # give it to a client built with
    # aws_access_key=door.aws_access_key, aws_secret_key=door.aws_secret_key,
    # aws_session_token=door.aws_session_token, region=door.region
"""

from __future__ import annotations

from ._builders import ReplyBuilders, reply
from ._cache import CacheStats
from ._doors import FakeDoor
from ._fake import FakeMessagesAPI
from ._faults import Fault, FaultBuilders, fault
from ._models import ModelRules
from ._recorded import RecordedRequest, Step
from ._replies import Reply
from ._tokens import png_base64

__all__ = [
    "CacheStats",
    "FakeDoor",
    "FakeMessagesAPI",
    "Fault",
    "FaultBuilders",
    "ModelRules",
    "RecordedRequest",
    "Reply",
    "ReplyBuilders",
    "Step",
    "fault",
    "png_base64",
    "reply",
]
