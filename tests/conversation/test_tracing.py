"""Tracing and structured logs: spans by the GenAI conventions, fields on log lines.

Spans go to the OpenTelemetry SDK's in-memory exporter through a provider the
client is given (the global provider is tested in a subprocess: it can be set once
a process). Each test checks that no message content and no credential reached a
span unless content capture was asked for.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from conversa import (
    APIConnectionError,
    AsyncClient,
    AsyncConversation,
    AuthenticationError,
    CacheConfig,
    Client,
    Conversation,
    InvalidInputError,
    MemoryStore,
    RetryPolicy,
    StreamError,
    Tracing,
    tool,
)
from conversa.testing import FakeMessagesAPI, fault, reply
from tests.conversation.conftest import Harness

pytestmark = pytest.mark.anyio

KEY = "sk-test-secret"
MODEL = "claude-sonnet-4-5"
ASKED = "Where is parcel 7781?"
ANSWER = "It left the depot on Monday."


@pytest.fixture(name="exporter")
def _exporter() -> InMemorySpanExporter:
    """The finished spans of one test."""
    return InMemorySpanExporter()


@pytest.fixture(name="provider")
def _provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    """An SDK provider exporting to *exporter* (not the global one)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture(name="traced")
def _traced(twin: str, fake: FakeMessagesAPI, provider: TracerProvider) -> Harness:
    """A harness whose client traces to *provider*."""
    return Harness(twin, fake, MemoryStore(), tracing=Tracing(tracer_provider=provider))


def _everything(span: ReadableSpan) -> str:
    """All a span carries (attributes, events, status, name) as one text."""
    events = [(e.name, dict(e.attributes or {})) for e in span.events]
    status = (span.status.status_code.name, span.status.description)
    return json.dumps([span.name, dict(span.attributes or {}), events, status])


def _no_secrets(exporter: InMemorySpanExporter, *content: str) -> None:
    """No span carries the key, or any of *content*."""
    for span in exporter.get_finished_spans():
        text = _everything(span)
        for secret in (KEY, *content):
            assert secret not in text, (span.name, secret)


def _only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


async def test_a_send_is_one_chat_span(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    """A send makes one CLIENT span named "chat {model}" with the request and reply."""
    conv = await traced.create(max_tokens=300)
    turn = await conv.send(ASKED)
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["gen_ai.request.max_tokens"] == 300
    assert attrs["gen_ai.conversation.id"] == conv.id
    assert attrs["gen_ai.response.id"] == turn.message_id
    assert attrs["gen_ai.response.model"] == turn.model
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["server.address"] == "api.anthropic.com"
    assert attrs["server.port"] == 443
    assert attrs["conversa.attempts"] == 1
    assert attrs["conversa.request_id"] == turn.request_id
    assert attrs["conversa.stream"] is False
    usage = turn.usage
    assert usage is not None
    assert attrs["gen_ai.usage.output_tokens"] == usage.output_tokens
    assert (
        attrs["gen_ai.usage.input_tokens"]
        == (usage.input_tokens + usage.cache_read_input_tokens)
        + usage.cache_creation_input_tokens
    )
    _no_secrets(exporter, ASKED, turn.text)


async def test_cache_tokens_are_counted_into_the_input(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """With the prompt cache hit, input_tokens is Anthropic's input plus the cache's."""
    harness = Harness(
        twin, fake, MemoryStore(), tracing=Tracing(tracer_provider=provider)
    )
    conv = await harness.create(
        system="You answer parcel questions. " * 400, cache=CacheConfig()
    )
    await conv.send(ASKED)
    second = await conv.send("And parcel 7782?")
    usage = second.usage
    assert usage is not None
    assert usage.cache_read_input_tokens > 0
    last = exporter.get_finished_spans()[-1]
    attrs = dict(last.attributes or {})
    assert (
        attrs["gen_ai.usage.cache_read.input_tokens"] == usage.cache_read_input_tokens
    )
    assert attrs["gen_ai.usage.cache_creation.input_tokens"] == (
        usage.cache_creation_input_tokens
    )
    assert attrs["gen_ai.usage.input_tokens"] == (
        usage.input_tokens
        + usage.cache_read_input_tokens
        + usage.cache_creation_input_tokens
    )
    await harness.close()


async def test_a_retried_call_is_one_span_with_a_retry_event(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    """After a 429 the call is retried: one span, two attempts, one retry event."""
    traced.fake.script(fault.status(429), reply.text(ANSWER))
    conv = await traced.create()
    await conv.send(ASKED)
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["conversa.attempts"] == 2
    assert "error.type" not in attrs
    assert span.status.status_code is StatusCode.UNSET
    (event,) = span.events
    assert event.name == "conversa.retry"
    assert dict(event.attributes or {})["error.type"] == "rate_limit_error"
    assert dict(event.attributes or {})["conversa.attempt"] == 1
    _no_secrets(exporter, ASKED, ANSWER)


async def test_a_failed_call_records_the_error_type(
    make_harness: Any, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A call the API refuses ends its span in error, typed, with no message."""
    harness: Harness = make_harness(tracing=Tracing(tracer_provider=provider))
    harness.fake.script(fault.status(401))
    conv = await harness.create()
    with pytest.raises(AuthenticationError) as info:
        await conv.send(ASKED)
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "authentication_error"
    assert attrs["conversa.request_id"] == info.value.request_id
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "authentication_error"
    _no_secrets(exporter, ASKED, str(info.value))


async def test_retries_that_run_out_record_each_attempt(
    make_harness: Any, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A connection that never comes up: two retry events, then the error's class."""
    harness: Harness = make_harness(tracing=Tracing(tracer_provider=provider))
    harness.fake.script(
        fault.connect_error(), fault.connect_error(), fault.connect_error()
    )
    conv = await harness.create()
    with pytest.raises(APIConnectionError):
        await conv.send(ASKED)
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "conversa.APIConnectionError"
    assert attrs["conversa.attempts"] == 3
    assert [e.name for e in span.events] == ["conversa.retry"] * 2


@tool
def lookup(parcel: int) -> str:
    """Find a parcel.

    Args:
        parcel: the parcel number.
    """
    return f"parcel {parcel} is in Leeds"


@tool
def broken(parcel: int) -> str:
    """A tool that fails."""
    msg = f"no parcel {parcel} in the secret ledger"
    raise LookupError(msg)


async def test_a_tool_loop_traces_each_call_and_each_tool(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    """run(): chat, execute_tool, chat; the tool span names the tool and the call."""
    traced.fake.script(reply.tool_use("lookup", {"parcel": 7781}), reply.text(ANSWER))
    conv = await traced.create()
    await conv.run(ASKED, tools=[lookup])
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == [f"chat {MODEL}", "execute_tool lookup", f"chat {MODEL}"]
    span = _only(exporter, "execute_tool lookup")
    attrs = dict(span.attributes or {})
    assert span.kind is SpanKind.INTERNAL
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "lookup"
    assert attrs["gen_ai.tool.type"] == "function"
    assert str(attrs["gen_ai.tool.call.id"]).startswith("toolu_")
    assert attrs["gen_ai.conversation.id"] == conv.id
    assert span.status.status_code is StatusCode.UNSET
    first = exporter.get_finished_spans()[0]
    assert dict(first.attributes or {})["gen_ai.response.finish_reasons"] == (
        "tool_use",
    )
    _no_secrets(exporter, ASKED, ANSWER, "7781", "Leeds")


async def test_a_tool_runs_with_its_span_current(
    traced: Harness, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A tool's own spans nest under its execute_tool span (a worker thread too)."""

    @tool
    def inner(parcel: int) -> str:
        """Look a parcel up, tracing the lookup.

        Args:
            parcel: the parcel number.
        """
        with provider.get_tracer("app").start_as_current_span("warehouse query"):
            return "in Leeds"

    traced.fake.script(reply.tool_use("inner", {"parcel": 1}), reply.text(ANSWER))
    conv = await traced.create()
    await conv.run(ASKED, tools=[inner])
    query = _only(exporter, "warehouse query")
    used = _only(exporter, "execute_tool inner")
    assert query.parent is not None
    assert query.parent.span_id == used.context.span_id


async def test_a_failing_tool_span_is_an_error(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    """A tool that raises: its span has the exception's class, never its message."""
    traced.fake.script(reply.tool_use("broken", {"parcel": 7781}), reply.text("Sorry."))
    conv = await traced.create()
    await conv.run(ASKED, tools=[broken])
    span = _only(exporter, "execute_tool broken")
    assert dict(span.attributes or {})["error.type"] == "LookupError"
    assert span.status.status_code is StatusCode.ERROR
    _no_secrets(exporter, "secret ledger", "7781")


async def test_an_unknown_tool_is_a_tool_error(
    traced: Harness, exporter: InMemorySpanExporter
) -> None:
    """A call to a tool that is not there: tool_error on its span."""
    traced.fake.script(reply.tool_use("missing", {"parcel": 1}), reply.text("Sorry."))
    conv = await traced.create()
    await conv.run(ASKED, tools=[lookup])
    span = _only(exporter, "execute_tool missing")
    assert dict(span.attributes or {})["error.type"] == "tool_error"


async def test_content_is_recorded_only_when_asked(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """capture_content=True records the system prompt, messages, tool input and result."""
    tracing = Tracing(tracer_provider=provider, capture_content=True)
    harness = Harness(twin, fake, MemoryStore(), tracing=tracing)
    fake.script(reply.tool_use("lookup", {"parcel": 7781}), reply.text(ANSWER))
    conv = await harness.create(system="You track parcels.")
    await conv.run(ASKED, tools=[lookup])
    first, used, last = exporter.get_finished_spans()
    attrs = dict(first.attributes or {})
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "You track parcels."}
    ]
    (message,) = json.loads(str(attrs["gen_ai.input.messages"]))
    assert message == {"role": "user", "parts": [{"type": "text", "content": ASKED}]}
    (output,) = json.loads(str(attrs["gen_ai.output.messages"]))
    assert output["finish_reason"] == "tool_use"
    assert output["parts"][0]["type"] == "tool_call"
    assert output["parts"][0]["arguments"] == {"parcel": 7781}
    tool_attrs = dict(used.attributes or {})
    assert json.loads(str(tool_attrs["gen_ai.tool.call.arguments"])) == {"parcel": 7781}
    assert (
        json.loads(str(tool_attrs["gen_ai.tool.call.result"]))
        == "parcel 7781 is in Leeds"
    )
    (reply_message,) = json.loads(
        str(dict(last.attributes or {})["gen_ai.output.messages"])
    )
    assert reply_message["parts"] == [{"type": "text", "content": ANSWER}]
    _no_secrets(exporter)  # the key, still never
    await harness.close()


def _client(cls: type[Any], fake: Any, provider: TracerProvider) -> Any:
    """A Client or AsyncClient (*cls*) over *fake* (a transport), tracing to *provider*."""
    tracing = Tracing(tracer_provider=provider)
    return cls(
        api_key=KEY, transport=fake, retry=RetryPolicy.no_wait(), tracing=tracing
    )


def _sync_client(fake: FakeMessagesAPI, provider: TracerProvider) -> Client:
    client: Client = _client(Client, fake, provider)
    return client


def _async_client(fake: FakeMessagesAPI, provider: TracerProvider) -> AsyncClient:
    client: AsyncClient = _client(AsyncClient, fake, provider)
    return client


LONG = "The parcel left the depot on Monday and reached Leeds on Tuesday. " * 4


async def test_a_stream_span_lasts_until_the_stream_ends(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """A streamed send: the span ends when the reply is done, with its usage."""
    fake.script(fault.status(529), reply.text(LONG))
    if twin == "sync":
        with _sync_client(fake, provider) as client:
            conv = Conversation.create(MemoryStore(), client=client, model=MODEL)
            with conv.stream(ASKED) as stream:
                texts = iter(stream)  # kept: a dropped iterator closes the stream
                next(texts)
                assert exporter.get_finished_spans() == ()  # still streaming
                stream.until_done()
            turn = stream.turn
    else:
        async with _async_client(fake, provider) as aclient:
            aconv = await AsyncConversation.create(
                MemoryStore(), client=aclient, model=MODEL
            )
            async with aconv.stream(ASKED) as astream:
                atexts = astream.__aiter__()
                await atexts.__anext__()
                assert exporter.get_finished_spans() == ()
                await astream.until_done()
            turn = astream.turn
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["conversa.stream"] is True
    assert attrs["conversa.attempts"] == 2
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["gen_ai.response.id"] == turn.message_id
    assert turn.usage is not None
    assert attrs["gen_ai.usage.output_tokens"] == turn.usage.output_tokens
    assert "conversa.stream.abandoned" not in attrs
    assert [e.name for e in span.events] == ["conversa.retry"]
    _no_secrets(exporter, ASKED, LONG[:20])


async def test_an_abandoned_stream_ends_its_span(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """A caller that stops reading: the span ends, marked abandoned, not an error."""
    fake.script(reply.text(LONG))
    if twin == "sync":
        with _sync_client(fake, provider) as client:
            conv = Conversation.create(MemoryStore(), client=client, model=MODEL)
            with conv.stream(ASKED) as stream:
                next(iter(stream))
    else:
        async with _async_client(fake, provider) as aclient:
            aconv = await AsyncConversation.create(
                MemoryStore(), client=aclient, model=MODEL
            )
            async with aconv.stream(ASKED) as astream:
                await astream.__aiter__().__anext__()
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["conversa.stream.abandoned"] is True
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.response.finish_reasons" not in attrs


async def test_a_stream_error_event_ends_the_span_in_error(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """An error event after content: the span has the event's error type."""
    fake.script(
        fault.stream_error("overloaded_error", after_events=5, reply=reply.text(LONG))
    )
    if twin == "sync":
        with _sync_client(fake, provider) as client:
            conv = Conversation.create(MemoryStore(), client=client, model=MODEL)
            with pytest.raises(StreamError), conv.stream(ASKED) as stream:
                stream.until_done()
    else:
        async with _async_client(fake, provider) as aclient:
            aconv = await AsyncConversation.create(
                MemoryStore(), client=aclient, model=MODEL
            )
            with pytest.raises(StreamError):
                async with aconv.stream(ASKED) as astream:
                    await astream.until_done()
    span = _only(exporter, f"chat {MODEL}")
    assert dict(span.attributes or {})["error.type"] == "overloaded_error"
    assert span.status.status_code is StatusCode.ERROR


class _Watch(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport that notes the current span when each request goes out."""

    def __init__(self, fake: FakeMessagesAPI) -> None:
        self.fake = fake
        self.parents: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.parents.append(trace.get_current_span().get_span_context().span_id)
        return self.fake.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.parents.append(trace.get_current_span().get_span_context().span_id)
        return await self.fake.handle_async_request(request)


async def test_requests_go_out_under_the_chat_span_and_the_callers(
    twin: str, fake: FakeMessagesAPI, provider: TracerProvider, exporter: Any
) -> None:
    """The chat span is a child of the caller's span and current while HTTP is sent."""
    watch = _Watch(fake)
    fake.script(fault.status(500), reply.text(ANSWER))
    harness = Harness(
        twin, fake, MemoryStore(), tracing=Tracing(tracer_provider=provider)
    )
    harness.client = _client(Client if twin == "sync" else AsyncClient, watch, provider)
    with provider.get_tracer("app").start_as_current_span("handle request") as outer:
        conv = await harness.create()
        await conv.send(ASKED)
    chat = _only(exporter, f"chat {MODEL}")
    assert chat.parent is not None
    assert chat.parent.span_id == outer.get_span_context().span_id
    assert watch.parents == [chat.context.span_id] * 2
    await harness.close()


@pytest.mark.parametrize(
    ("door", "provider_name"),
    [
        ("aws", "anthropic"),
        ("bedrock", "aws.bedrock"),
        ("vertex", "gcp.vertex_ai"),
        ("google_cloud", "anthropic"),
    ],
)
async def test_every_door_is_traced(
    twin: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    door: str,
    provider_name: str,
) -> None:
    """Each door's client traces; the provider name is who serves the model."""
    opened = getattr(FakeMessagesAPI(), door)()
    tracing = Tracing(tracer_provider=provider)
    if twin == "sync":
        client: Any = opened.client(tracing=tracing)
        conv = Conversation.create(MemoryStore(), client=client, model=MODEL)
        conv.send(ASKED)
        client.close()
    else:
        client = opened.async_client(tracing=tracing)
        aconv = await AsyncConversation.create(
            MemoryStore(), client=client, model=MODEL
        )
        await aconv.send(ASKED)
        await client.aclose()
    span = _only(exporter, f"chat {MODEL}")
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.provider.name"] == provider_name
    assert attrs["conversa.door"] == client.config.door
    assert attrs["gen_ai.request.model"] == MODEL
    _no_secrets(exporter, ASKED)
    for secret in ("AKIA", "ya29."):
        assert secret not in _everything(span)


def test_tracing_false_makes_no_tracer() -> None:
    """tracing=False: the client has no tracer, so a call pays one None check."""
    assert Client(api_key=KEY, tracing=False).tracer is None


def test_a_bad_tracing_option_is_refused() -> None:
    """tracing= takes a Tracing, True or False."""
    with pytest.raises(InvalidInputError, match="Tracing, True or False"):
        Client(api_key=KEY, tracing="on")


def _run(script: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def test_by_default_spans_go_to_the_global_provider() -> None:
    """With the extra installed, a client traces through the provider set globally.

    Before one is set (the API's proxy provider), a call makes no span and skips
    building one; once an SDK's is set, the same client's calls are traced."""
    out = _run(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from conversa import Client, Conversation, MemoryStore
        from conversa.testing import FakeMessagesAPI

        client = Client(api_key="sk-x", transport=FakeMessagesAPI())
        conv = Conversation.create(MemoryStore(), client=client, model="claude-sonnet-4-5")
        conv.send("before any provider")  # the API's proxy: no span to record
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # after the client: still used
        conv.send("hi")
        print([s.name for s in exporter.get_finished_spans()])
        """
    )
    assert out == "['chat claude-sonnet-4-5']"


def test_without_the_extra_the_default_is_off_and_asking_is_refused() -> None:
    """No OpenTelemetry: no tracer by default; tracing=True says what to install."""
    out = _run(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if the extra were not installed
        from conversa import Client, InvalidInputError
        print(Client(api_key="sk-x").tracer)
        try:
            Client(api_key="sk-x", tracing=True)
        except InvalidInputError as exc:
            print(exc)
        """
    )
    assert out.splitlines() == [
        "None",
        "tracing needs OpenTelemetry's API: pip install 'conversa-state[otel]' "
        "(and the SDK with an exporter, to see the spans)",
    ]


# --- structured log fields


async def test_log_lines_carry_the_call_fields(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Request, response and retry lines carry conversation id, model, door, attempt."""
    harness: Harness = make_harness(tracing=False)
    harness.fake.script(fault.status(429), reply.text(ANSWER))
    conv = await harness.create()
    with caplog.at_level(logging.DEBUG, logger="conversa"):
        turn = await conv.send(ASKED)
    records = [r for r in caplog.records if r.name == "conversa"]
    sent = [r for r in records if r.getMessage().startswith("sending")]
    assert [r.attempt for r in sent] == [1, 2]  # type: ignore[attr-defined]
    for record in records:
        assert record.conversation_id == conv.id  # type: ignore[attr-defined]
        assert record.model == MODEL  # type: ignore[attr-defined]
        assert record.door == "anthropic"  # type: ignore[attr-defined]
        assert KEY not in record.getMessage()
    (retried,) = [r for r in records if r.levelno == logging.WARNING]
    assert retried.attempt == 1  # type: ignore[attr-defined]
    assert retried.request_id  # type: ignore[attr-defined]
    answered = [r for r in records if "HTTP 200" in r.getMessage()]
    assert [r.request_id for r in answered] == [turn.request_id]  # type: ignore[attr-defined]
    assert [r.status_code for r in answered] == [200]  # type: ignore[attr-defined]


async def test_a_failing_tool_logs_its_fields(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning for a tool that raised names the tool, the call and the conversation."""
    harness: Harness = make_harness(tracing=False)
    harness.fake.script(reply.tool_use("broken", {"parcel": 1}), reply.text("Sorry."))
    conv = await harness.create()
    with caplog.at_level(logging.WARNING, logger="conversa"):
        await conv.run(ASKED, tools=[broken])
    (record,) = [r for r in caplog.records if r.name == "conversa"]
    assert record.tool_name == "broken"  # type: ignore[attr-defined]
    assert str(record.tool_call_id).startswith("toolu_")  # type: ignore[attr-defined]
    assert record.conversation_id == conv.id  # type: ignore[attr-defined]
