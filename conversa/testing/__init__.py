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
"""

from __future__ import annotations

from ._builders import ReplyBuilders, reply
from ._fake import FakeMessagesAPI
from ._faults import Fault, FaultBuilders, fault
from ._models import ModelRules
from ._recorded import RecordedRequest, Step
from ._replies import Reply
from ._tokens import png_base64

__all__ = [
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
