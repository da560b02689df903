"""The Message Batches endpoints on top of `BatchBook`.

=========================================  =====================================
``POST   /v1/messages/batches``            create; every result computed now
``GET    /v1/messages/batches``            list, newest first, paged
``GET    /v1/messages/batches/{id}``       retrieve (counts as a poll)
``POST   /v1/messages/batches/{id}/cancel`` start canceling
``DELETE /v1/messages/batches/{id}``       delete an ended batch
``GET    /v1/messages/batches/{id}/results`` the results, as JSON Lines
=========================================  =====================================

Each request's ``params`` is validated like a non-streamed create (plus the batch
rules: no ``stream``, no ``speed``, ``max_tokens`` ≥ 1); as at the API, a request
that fails validation does not fail the batch but gets an ``errored`` result with
the ``invalid_request_error`` a direct call would get. A valid request is answered
like a direct call (script, prompt cache, diagnostics) and billed as
``service_tier: "batch"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from attrs import define, frozen

from ._answers import BASE_URL_EXTENSION, JSON, json_answer, partition_of
from ._batches import (
    Batch,
    BatchBook,
    check_batch_params,
    check_envelope,
    fault_result,
)
from ._cache import Partition
from ._faults import Fault, error_body
from ._recorded import Answer
from ._stream import encode_json
from ._validate import parse_body
from ._validate_base import Ctx, RejectedError

__all__ = ["BatchRoutes", "Services"]

_PATH = re.compile(
    r"^/v1/messages/batches(?:/(?P<id>[^/]+)(?P<action>/cancel|/results)?)?$"
)
_JSONL = "application/x-jsonl"
Headers = tuple[tuple[str, str], ...]


@frozen
class Services:
    """What the batch endpoints need from the fake.

    Attributes:
        check: checks a request's headers (and size); returns the API version
            and the betas. ``check(request, content)``.
        context: validates a body as a create call: ``context(body, version,
            betas)`` returns the `Ctx` or raises `RejectedError`.
        generate: answers a valid batch request: ``generate(ctx, custom_id,
            partition)`` returns its Message, or the `Fault` scripted for it.
        headers: a success response's headers for a content type.
        new_id: a fresh id with the given prefix.
        now: the fake's clock.
    """

    check: Callable[[httpx.Request, bytes], tuple[str, frozenset[str]]]
    context: Callable[[dict[str, Any], str, frozenset[str]], Ctx]
    generate: Callable[[Ctx, str, Partition], Fault | dict[str, Any]]
    headers: Callable[[str], Headers]
    new_id: Callable[[str], str]
    now: Callable[[], float]


@define
class BatchRoutes:
    """Routes ``/v1/messages/batches`` calls to the batch book."""

    book: BatchBook
    services: Services

    def route(self, request: httpx.Request, content: bytes) -> Answer | None:
        """Answer a batch call, or return None if no batch endpoint matches.

        Raises:
            RejectedError: for a refused call (bad headers or body, unknown id).
        """
        match = _PATH.match(request.url.path)
        if match is None:
            return None
        method, batch_id, action = request.method, match["id"], match["action"]
        known = {
            (False, None, "POST"),
            (False, None, "GET"),
            (True, None, "GET"),
            (True, None, "DELETE"),
            (True, "/cancel", "POST"),
            (True, "/results", "GET"),
        }
        if (batch_id is not None, action, method) not in known:
            return None
        version, betas = self.services.check(request, content)
        partition = partition_of(request.headers)
        own = f"{request.url.scheme}://{request.url.netloc.decode()}"
        base = str(request.extensions.get(BASE_URL_EXTENSION, own))
        now = self.services.now()
        if batch_id is None and method == "POST":
            body = parse_body(content)
            batch = self._create(body, version, betas, partition, now)
            return self._json(self.book.render(batch, base))
        if batch_id is None:
            query = dict(request.url.params)
            return self._json(self.book.page(partition, now, query, base))
        if method == "DELETE":
            deleted = self.book.delete(batch_id, partition, now)
            return self._json({"id": deleted, "type": "message_batch_deleted"})
        if action == "/results":
            lines = self.book.results(batch_id, partition, now)
            chunks = tuple(encode_json(line) + b"\n" for line in lines)
            return Answer(200, self.services.headers(_JSONL), lines, chunks)
        if action == "/cancel":
            batch = self.book.cancel(batch_id, partition, now)
        else:
            batch = self.book.retrieve(batch_id, partition, now)
        return self._json(self.book.render(batch, base))

    def _json(self, body: dict[str, Any]) -> Answer:
        return json_answer(body, self.services.headers(JSON))

    def _create(
        self,
        body: dict[str, Any],
        version: str,
        betas: frozenset[str],
        partition: Partition,
        now: float,
    ) -> Batch:
        pairs = check_envelope(body)
        outcomes = tuple(
            self._outcome(custom_id, params, version, betas, partition)
            for custom_id, params in pairs
        )
        batch_id = self.services.new_id("msgbatch_")
        custom_ids = tuple(custom_id for custom_id, _ in pairs)
        batch = Batch(batch_id, partition, now, custom_ids, outcomes)
        self.book.add(batch)
        return batch

    def _outcome(
        self,
        custom_id: str,
        params: dict[str, Any],
        version: str,
        betas: frozenset[str],
        partition: Partition,
    ) -> dict[str, Any]:
        try:
            ctx = self.services.context(params, version, betas)
            check_batch_params(params)
        except RejectedError as rejection:
            request_id = self.services.new_id("req_")
            error = error_body(rejection.error_type, rejection.message, request_id)
            return {"type": "errored", "error": error}
        answer = self.services.generate(ctx, custom_id, partition)
        if isinstance(answer, Fault):
            return fault_result(answer, self.services.new_id("req_"))
        return {"type": "succeeded", "message": answer}
