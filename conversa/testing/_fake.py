"""`FakeMessagesAPI`: a strict, deterministic Messages API behind an httpx transport.

One queue of scripted steps serves every message the fake generates: each
``POST /v1/messages`` call, streamed or not, and each request of a Message Batch
(at batch creation, in request order, unless `script_batch` names a step for its
``custom_id``). Edge faults fire first, before the request is looked at; then the
request is validated (a rejected request is recorded but consumes no step); then
the next reply step (or the default reply) is rendered and sent as JSON or as SSE
events. Every generated message goes through the prompt cache (`_cache`) and,
when asked, cache diagnostics (`_diagnostics`). Sync and async clients share one
implementation: `handle_request` and `handle_async_request` only read the body
and call `_respond`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx
from attrs import define, field, setters, validators

from ._answers import (
    JSON,
    NOT_FOUND,
    api_headers,
    broken,
    error_answer,
    json_answer,
    make_id,
    partition_of,
    record,
)
from ._batch_routes import BatchRoutes, Services
from ._batches import BatchBook
from ._cache import CacheStats, Partition
from ._doors import Backend, Door, FakeDoor, serve_door
from ._doors_aws import (
    TEST_CREDENTIALS,
    AWSAuth,
    AWSDoor,
    BedrockDoor,
    BedrockMessagesDoor,
)
from ._doors_google import TEST_ACCESS_TOKEN, GoogleCloudDoor, VertexDoor
from ._faults import Fault, status_for
from ._generate import MessageFactory
from ._models import ModelRules, rules_for
from ._recorded import Answer, RecordedRequest, Step
from ._signing import Signer
from ._sigv4 import require_botocore
from ._stream import EventStream, encode, encode_json, message_events
from ._tokens import count_request
from ._validate import MAX_BODY_BYTES, check_headers, parse_body, validate
from ._validate_base import Ctx, RejectedError

__all__ = ["FakeMessagesAPI"]

MAX_BATCH_BYTES = 256 * 1024 * 1024
# The test API keys the AWS doors accept instead of SigV4.
_AWS_API_KEY = "aws-conversa-fake-api-key"
_BEDROCK_API_KEY = "bedrock-conversa-fake-api-key"


def _to_ids(ids: Iterable[str]) -> frozenset[str]:
    return frozenset(ids)


def _to_models(models: Mapping[str, ModelRules]) -> dict[str, ModelRules]:
    return dict(models)


def _positive(_: Any, attribute: Any, value: float) -> None:
    if not value > 0:
        msg = f"{attribute.name} must be > 0, not {value!r}"
        raise ValueError(msg)


class _Counter(staticmethod):  # type: ignore[type-arg]
    """`count_tokens`: on the class, the fake's tokenizer; on a fake, its ``token_scale`` too.

    A static method (``FakeMessagesAPI.count_tokens(body)`` keeps working) whose
    instance access applies the instance's scale, so ``fake.count_tokens(body)``
    always agrees with what that fake reports.
    """

    def __get__(
        self, fake: object, owner: type | None = None, /
    ) -> Callable[[Mapping[str, Any]], int]:
        func: Callable[[Mapping[str, Any]], int] = self.__func__
        scale = getattr(fake, "token_scale", 1.0)
        if scale == 1.0:
            return func

        def count_tokens(body: Mapping[str, Any]) -> int:
            return count_request(body, scale=scale)

        count_tokens.__doc__ = func.__doc__
        return count_tokens


@define(eq=False)
class FakeMessagesAPI(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A strict, deterministic fake of the Messages API, usable as an httpx transport.

    Script replies and faults with `script`; unscripted calls get a deterministic
    default reply derived from the request. Every request is validated as the API
    would (an invalid one gets the API's 4xx error, text included) and recorded in
    `requests`. Prompt caching is simulated (as the API's prompt caching docs describe) and
    reported in ``usage`` as the API does; the Message Batches endpoints work too. The
    same object serves `httpx.Client` and `httpx.AsyncClient`, and is safe to
    share between threads. Its options are keyword-only constructor arguments.

    Attributes:
        seed: makes ids (``msg_…``, ``req_…``, ``toolu_…``) and thinking
            signatures; two fakes with the same seed answer the same calls alike.
        prefill_rejecting_models: model ids that reject prefill on top of the
            built-in table (which already covers Claude 4.6+, Fable and Mythos).
        models: rules for model ids, replacing the built-in table's.
        max_request_bytes: bodies larger than this get 413 ``request_too_large``.
        max_batch_bytes: the same for batch creation (256 MB by default).
        clock: returns the time in seconds; cache lifetimes and batch timestamps
            follow it, so a test can move time on without sleeping.
        cache: whether to simulate prompt caching; when off, every input token
            is reported as ``input_tokens`` and nothing is cached.
        batch_polls: how many retrievals of a batch answer ``in_progress``
            before it ends (see `advance_batches`).
        token_scale: stand in for another tokenizer: every count the fake
            reports (usage, count_tokens, `count_tokens`, the context window and
            the cache's minimum length it checks against) is its own tokenizer's
            times this factor, rounded half up per block, so the counts still
            add up. A test of code that must not depend on the fake's tokenizer
            runs it again with, say, ``token_scale=1.17``.
    """

    seed: int = field(default=0, kw_only=True)
    prefill_rejecting_models: frozenset[str] = field(
        default=frozenset(), converter=_to_ids, kw_only=True
    )
    models: dict[str, ModelRules] = field(
        factory=dict, converter=_to_models, kw_only=True
    )
    max_request_bytes: int = field(default=MAX_BODY_BYTES, kw_only=True)
    max_batch_bytes: int = field(default=MAX_BATCH_BYTES, kw_only=True)
    # Read once, at construction: they cannot be changed afterwards.
    clock: Callable[[], float] = field(
        default=time.monotonic, kw_only=True, on_setattr=setters.frozen
    )
    cache: bool = field(default=True, kw_only=True, on_setattr=setters.frozen)
    batch_polls: int = field(
        default=1,
        kw_only=True,
        validator=validators.ge(0),
        on_setattr=setters.frozen,
    )
    token_scale: float = field(
        default=1.0, kw_only=True, validator=_positive, on_setattr=setters.frozen
    )
    _lock: threading.Lock = field(init=False, factory=threading.Lock, repr=False)
    _steps: deque[Step] = field(init=False, factory=deque, repr=False)
    _batch_steps: dict[str, Step] = field(init=False, factory=dict, repr=False)
    _log: list[RecordedRequest] = field(init=False, factory=list, repr=False)
    _ids: int = field(init=False, default=0, repr=False)
    _gen: MessageFactory = field(init=False, repr=False)
    _batches: BatchRoutes = field(init=False, repr=False)

    @_gen.default
    def _make_generator(self) -> MessageFactory:
        return MessageFactory(Signer(self.seed), self._new_id, self.clock, self.cache)

    @_batches.default
    def _make_batches(self) -> BatchRoutes:
        def check(request: httpx.Request, content: bytes) -> tuple[str, frozenset[str]]:
            # Only batch creation sends a JSON body (cancel is a bare POST).
            limit, has_body = self.max_batch_bytes, bool(content)
            return check_headers(
                request.headers, len(content), limit, has_body=has_body
            )

        def context(body: dict[str, Any], version: str, betas: frozenset[str]) -> Ctx:
            return self._context(body, version, betas, "messages", batch=True)

        services = Services(
            check, context, self._batch_message, self._headers, self._new_id, self.clock
        )
        return BatchRoutes(BatchBook(self.batch_polls, self.clock()), services)

    def script(self, *steps: Step) -> None:
        """Queue *steps* (replies and faults), consumed in order by generated messages."""
        with self._lock:
            self._steps.extend(steps)

    def script_batch(self, steps: Mapping[str, Step]) -> None:
        """Give batch requests their own steps, by ``custom_id``.

        Each step is used once, by the next batch request with that
        ``custom_id``, instead of the queue's next step. A reply makes the request succeed;
        `fault.expired` makes it expire; any other fault makes it ``errored``
        with the fault's error.
        """
        with self._lock:
            self._batch_steps.update(steps)

    @property
    def pending(self) -> tuple[Step, ...]:
        """The scripted steps not consumed yet (the queue, not `script_batch`)."""
        with self._lock:
            return tuple(self._steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def last_request(self) -> RecordedRequest:
        """The latest request received.

        Raises:
            LookupError: if no request was received yet.
        """
        with self._lock:
            if not self._log:
                msg = "the fake has received no request yet"
                raise LookupError(msg)
            return self._log[-1]

    @property
    def cache_stats(self) -> CacheStats:
        """What the prompt cache holds and did so far."""
        with self._lock:
            return self._gen.stats()

    def advance_batches(self) -> None:
        """End every batch still running, as if processing finished now.

        ``in_progress`` batches end with every result; ``canceling`` ones keep
        the results of requests already done and cancel the rest.
        """
        with self._lock:
            self._batches.book.advance(self.clock())

    def reset(self) -> None:
        """Forget the scripts, requests, id counters, prompt cache and batches."""
        with self._lock:
            self._steps.clear()
            self._batch_steps.clear()
            self._log.clear()
            self._ids = 0
            self._gen.reset()
            self._batches.book.clear()

    @_Counter
    def count_tokens(body: Mapping[str, Any]) -> int:  # noqa: N805 (a static method)
        """Return the fake tokenizer's input count for a request *body*.

        It equals the ``input_tokens`` that count_tokens answers for the same
        system, tools and messages, and, in a reply's ``usage``, the sum of
        ``input_tokens``, ``cache_read_input_tokens`` and
        ``cache_creation_input_tokens``. Called on a fake (``fake.count_tokens``)
        it applies that fake's ``token_scale``; on the class, none.
        """
        return count_request(body)

    def aws(
        self, *, region: str = "us-west-2", workspace_id: str = "wrkspc_fake"
    ) -> FakeDoor:
        """Serve this fake as Claude Platform on AWS in *region*, for *workspace_id*.

        The door takes first-party paths at ``https://aws-external-anthropic.
        {region}.api.aws``, requires ``anthropic-workspace-id`` (signed, under
        SigV4) and accepts SigV4 (signing name ``aws-external-anthropic``) made
        with the door's ``aws_access_key``, ``aws_secret_key`` and
        ``aws_session_token``, or its ``api_key``. Needs botocore.
        """
        require_botocore("Claude Platform on AWS")
        auth = self._aws_auth(_AWS_API_KEY, "aws-external-anthropic", region)
        door = AWSDoor(region, workspace_id, auth)
        return self._open(door, "aws", region, auth, workspace_id=workspace_id)

    def bedrock(self, *, region: str = "us-east-1", api: str = "invoke") -> FakeDoor:
        """Serve this fake as Amazon Bedrock in *region*.

        With ``api="invoke"``, InvokeModel (``/model/{modelId}/invoke``,
        ``/invoke-with-response-stream`` as AWS event-stream frames,
        ``/count-tokens``; body without ``model`` and ``stream``, with
        ``anthropic_version`` and ``anthropic_beta``; Bedrock's errors); the
        door's ``api_key`` is its bearer token. With ``api="messages"``, Bedrock's
        Messages endpoint (``/anthropic/v1/messages``, SSE, no ``anthropic-beta``
        header). Both take SigV4 with the door's AWS credentials. Needs botocore.
        """
        if api not in ("invoke", "messages"):
            msg = f"api must be 'invoke' or 'messages', not {api!r}"
            raise ValueError(msg)
        require_botocore("Amazon Bedrock")
        if api == "invoke":
            auth = self._aws_auth(_BEDROCK_API_KEY, "bedrock", region)
            return self._open(BedrockDoor(region, auth), "bedrock", region, auth)
        auth = self._aws_auth(_AWS_API_KEY, "bedrock-mantle", region)
        door = BedrockMessagesDoor(region, auth)
        return self._open(door, "bedrock-messages", region, auth)

    def vertex(
        self, *, project_id: str = "conversa-fake", region: str = "us-east5"
    ) -> FakeDoor:
        """Serve this fake as Google Vertex AI for *project_id* in *region*.

        ``rawPredict``/``streamRawPredict`` and ``count-tokens:rawPredict`` with
        the model in the path, ``anthropic_version`` in the body, and the door's
        ``access_token`` as bearer; no batches.
        """
        door = VertexDoor(project_id, region, TEST_ACCESS_TOKEN)
        return self._open(
            door,
            "vertex",
            region,
            project_id=project_id,
            access_token=TEST_ACCESS_TOKEN,
        )

    def google_cloud(
        self,
        *,
        project_id: str = "conversa-fake",
        workspace_id: str = "wrkspc_fake",
        location: str = "global",
    ) -> FakeDoor:
        """Serve this fake as Claude on Google Cloud for one workspace.

        The first-party API, batches included, below ``https://claude.
        googleapis.com/v1/projects/{project_id}/locations/{location}/workspaces/
        {workspace_id}/invoke``, with the door's ``access_token`` as bearer.
        """
        door = GoogleCloudDoor(project_id, location, workspace_id, TEST_ACCESS_TOKEN)
        return self._open(
            door,
            "google-cloud",
            location,
            workspace_id=workspace_id,
            project_id=project_id,
            access_token=TEST_ACCESS_TOKEN,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.BaseTransport` entry point)."""
        return self._respond(request, request.read())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer *request* (the `httpx.AsyncBaseTransport` entry point)."""
        return self._respond(request, await request.aread())

    @staticmethod
    def _aws_auth(api_key: str, service: str, region: str) -> AWSAuth:
        return AWSAuth(TEST_CREDENTIALS, api_key, service, region)

    def _open(
        self,
        door: Door,
        kind: str,
        region: str,
        auth: AWSAuth | None = None,
        **names: str | None,
    ) -> FakeDoor:
        """Return the transport for *door*; *names* are its workspace, project, token."""
        if auth is not None:
            names["aws_access_key"] = auth.credentials.access_key
            names["aws_secret_key"] = auth.credentials.secret_key
            names["aws_session_token"] = auth.credentials.session_token
            names["api_key"] = auth.api_key
        serve = functools.partial(self._respond, door=door)
        return FakeDoor(kind, door.base_url, region, serve=serve, **names)

    def _respond(
        self, request: httpx.Request, content: bytes, door: Door | None = None
    ) -> httpx.Response:
        with self._lock:
            if door is None:
                answer = self._route(request, content)
            else:
                backend = Backend(self._route, self._error, self._new_id)
                answer = serve_door(door, request, content, backend)
            self._log.append(record(request, content, answer))
        if answer.raised is not None:
            raise answer.raised
        return httpx.Response(
            answer.status or 200,
            headers=list(answer.headers),
            stream=EventStream(answer.chunks, error=answer.body_error),
            request=request,
        )

    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return make_id(self.seed, prefix, self._ids)

    def _route(self, request: httpx.Request, content: bytes) -> Answer:
        route = (request.method, request.url.path)
        try:
            if route == ("POST", "/v1/messages"):
                return self._create(request, content)
            if route == ("POST", "/v1/messages/count_tokens"):
                return self._count(request, content)
            answer = self._batches.route(request, content)
            if answer is not None:
                return answer
        except RejectedError as rejection:
            return self._error(rejection)
        return self._error(RejectedError(404, "not_found_error", NOT_FOUND))

    def _error(
        self,
        rejection: RejectedError,
        *,
        extra: Iterable[tuple[str, str]] = (),
        step: Step | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Answer:
        request_id = self._new_id("req_")
        return error_answer(
            rejection, request_id, extra=extra, step=step, details=details
        )

    def _headers(self, content_type: str) -> tuple[tuple[str, str], ...]:
        remaining = 4000 - len(self._log) - 1
        return api_headers(content_type, self._new_id("req_"), remaining)

    def _context(
        self,
        body: dict[str, Any],
        version: str,
        betas: frozenset[str],
        endpoint: str,
        *,
        batch: bool = False,
    ) -> Ctx:
        model = body.get("model")
        rules = rules_for(
            model if isinstance(model, str) else "",
            overrides=self.models,
            prefill_rejecting=self.prefill_rejecting_models,
        )
        ctx = Ctx(
            body,
            rules,
            version,
            betas,
            endpoint,
            self._gen.signer.verify,
            token_scale=self.token_scale,
            batch=batch,
        )
        validate(ctx)
        return ctx

    def _checked(self, request: httpx.Request, content: bytes, endpoint: str) -> Ctx:
        limit = self.max_request_bytes
        version, betas = check_headers(request.headers, len(content), limit)
        return self._context(parse_body(content), version, betas, endpoint)

    def _count(self, request: httpx.Request, content: bytes) -> Answer:
        ctx = self._checked(request, content, "count_tokens")
        return json_answer(
            {"input_tokens": count_request(ctx.body, scale=self.token_scale)},
            self._headers(JSON),
        )

    def _edge(self, step: Fault, request: httpx.Request) -> Answer:
        if step.kind == "timeout":
            error: Exception = httpx.ReadTimeout("timed out", request=request)
            return Answer(None, raised=error, step=step)
        if step.kind == "connect_error":
            error = httpx.ConnectError(
                "[Errno 111] Connection refused", request=request
            )
            return Answer(None, raised=error, step=step)
        rejection = RejectedError(step.status_code, step.error_type, step.message)
        return self._error(
            rejection, extra=step.headers, step=step, details=step.details
        )

    def _create(self, request: httpx.Request, content: bytes) -> Answer:
        head = self._steps[0] if self._steps else None
        if isinstance(head, Fault) and head.at_edge:
            self._steps.popleft()
            return self._edge(head, request)
        ctx = self._checked(request, content, "messages")
        partition = partition_of(request.headers)
        step = self._steps.popleft() if self._steps else None
        if isinstance(step, Fault):
            return self._faulty(request, ctx, step, partition)
        message = self._gen.message(ctx, step, partition)
        if ctx.body.get("stream") is not True:
            return json_answer(message, self._headers(JSON), step)
        events = message_events(message)
        chunks = tuple(map(encode, events))
        return Answer(
            200, self._sse_headers(), message, chunks, tuple(events), step=step
        )

    def _sse_headers(self) -> tuple[tuple[str, str], ...]:
        sse = self._headers("text/event-stream; charset=utf-8")
        return (*sse, ("cache-control", "no-cache"))

    def _faulty(
        self, request: httpx.Request, ctx: Ctx, step: Fault, partition: Partition
    ) -> Answer:
        streamed = ctx.body.get("stream") is True
        if step.kind == "expired":
            msg = "fault.expired() only applies to batch requests, not /v1/messages"
            raise ValueError(msg)
        if step.kind == "stream_error" and not streamed:
            # Without SSE the API reports the same trouble as an HTTP error.
            status = status_for(step.error_type)
            rejection = RejectedError(status, step.error_type, step.message)
            return self._error(rejection, step=step)
        message = self._gen.message(ctx, step.reply, partition)
        if not streamed:
            data = encode_json(message)
            half = (data[: len(data) // 2],)
            headers = self._headers(JSON)
            return Answer(
                200, headers, None, half, body_error=broken(request), step=step
            )
        sent = message_events(message)[: step.after_events]
        cut = None
        if step.kind == "stream_error":
            error = {"type": step.error_type, "message": step.message}
            sent.append(("error", {"type": "error", "error": error}))
        else:
            cut = broken(request)
        chunks = tuple(map(encode, sent))
        headers = self._sse_headers()
        return Answer(200, headers, None, chunks, tuple(sent), cut, step=step)

    def _batch_message(
        self, ctx: Ctx, custom_id: str, partition: Partition
    ) -> Fault | dict[str, Any]:
        # A batch request's step: its own (script_batch), else the queue's next.
        step = self._batch_steps.pop(custom_id, None)
        if step is None and self._steps:
            step = self._steps.popleft()
        if isinstance(step, Fault):
            return step
        return self._gen.message(ctx, step, partition, tier="batch")
