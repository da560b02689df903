"""Message Batches for conversations: submit, wait, collect, split, cancel, list, delete."""

from __future__ import annotations

import re
from typing import Any

import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from conversa import (
    AsyncBatches,
    Batches,
    BatchJob,
    BatchStatus,
    InvalidInputError,
    custom_id_for,
)
from conversa._values.turns import reply_id_for
from conversa.testing import fault
from tests.conversation.conftest import Harness, SyncAsAsync
from tests.sdk_check import check_message, check_request_body

pytestmark = pytest.mark.anyio

BATCHES = "/v1/messages/batches"
CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def batches_for(harness: Harness) -> Any:
    """The twin's Batches over the harness's client and store, awaitable either way."""
    if harness.twin == "sync":
        return SyncAsAsync(Batches(harness.client, harness.store))  # type: ignore[arg-type]
    return AsyncBatches(harness.client, harness.store)


def sleeper(harness: Harness, slept: list[float]) -> Any:
    """A sleep for the twin that records instead of waiting."""
    if harness.twin == "sync":
        return slept.append

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return sleep


async def pending(harness: Harness, text: str = "Hello") -> Any:
    """A conversation ending with an unanswered user turn."""
    conv = await harness.create()
    await conv.add("user", text)
    return conv


def batch_creates(harness: Harness) -> list[dict[str, Any]]:
    """The bodies of the batch creates the fake received."""
    return [
        r.body
        for r in harness.fake.requests
        if r.path == BATCHES and r.method == "POST" and r.body is not None
    ]


def check_batch_exchanges(harness: Harness) -> None:
    """Every batch request's params and every result validate against the SDK."""
    for recorded in harness.fake.requests:
        if recorded.status_code != 200 or not recorded.path.startswith(BATCHES):
            continue
        if recorded.path.endswith("/results"):
            for line in recorded.response_json or ():
                MessageBatchIndividualResponse.model_validate(line)
                if line["result"]["type"] == "succeeded":
                    check_message(line["result"]["message"])
        elif recorded.method == "POST" and recorded.path == BATCHES:
            for item in (recorded.body or {})["requests"]:
                check_request_body(item["params"])
            MessageBatch.model_validate(recorded.response_json)


async def test_submit_wait_collect_stores_replies(harness: Harness) -> None:
    """Pending turns go out as one batch and come back as the replies a live send stores."""
    convs = [await pending(harness, f"Question {n}") for n in range(3)]
    batches = batches_for(harness)
    job = await batches.submit([c.id for c in convs])
    assert len(job.batch_ids) == 1
    (body,) = batch_creates(harness)
    assert all(CUSTOM_ID.match(r["custom_id"]) for r in body["requests"])
    assert all("stream" not in r["params"] for r in body["requests"])
    for conv in convs:
        flag = (await conv.record()).flags["batch"]
        assert flag["id"] == job.batch_ids[0]
        assert job.requests[flag["custom_id"]].conversation_id == conv.id
    seen: list[BatchStatus] = []
    slept: list[float] = []
    final = await batches.wait(
        job, poll_interval=7, on_progress=seen.append, sleep=sleeper(harness, slept)
    )
    assert [s.processing_status for s in seen] == ["in_progress", "ended"]
    assert slept == [7]
    assert final[0].request_counts["succeeded"] == 3
    report = await batches.collect(job)
    assert len(report.appended) == 3
    for conv in convs:
        turns = await conv.turns()
        assert [t.role for t in turns] == ["user", "assistant"]
        assert turns[-1].id == reply_id_for(turns[0].id)
        assert (await conv.record()).flags["batch"]["result"] == "succeeded"
    check_batch_exchanges(harness)


async def test_batch_request_is_what_retry_would_send(harness: Harness) -> None:
    """The batch params equal the body `request()`'s retry plan would POST."""
    conv = await pending(harness)
    await batches_for(harness).submit([conv.id])
    (body,) = batch_creates(harness)
    turns = await conv.turns()
    expected = custom_id_for(conv.id, reply_id_for(turns[0].id))
    assert body["requests"][0]["custom_id"] == expected
    assert len(expected) <= 64
    await conv.retry()
    assert harness.bodies()[-1] == body["requests"][0]["params"]


async def test_conversation_that_moved_on_is_a_conflict(harness: Harness) -> None:
    """A reply for a conversation that moved on is recorded and reported, not appended."""
    moved, still = await pending(harness), await pending(harness)
    batches = batches_for(harness)
    job = await batches.submit([moved.id, still.id])
    await moved.add("user", "And another thing")
    harness.fake.advance_batches()
    report = await batches.collect(job)
    (conflict,) = report.conflicts
    assert conflict.conversation_id == moved.id
    assert [o.conversation_id for o in report.appended] == [still.id]
    assert [t.role for t in await moved.turns()] == ["user", "user"]
    flag = (await moved.record()).flags["batch"]
    assert flag["conflict"] is True
    assert flag["message"]["role"] == "assistant"


async def test_errored_and_expired_are_recorded_and_resendable(
    harness: Harness,
) -> None:
    """Failed requests leave the conversation unchanged; `retry()` then answers it."""
    bad, late = await pending(harness), await pending(harness)
    ids = {
        conv.id: custom_id_for(conv.id, reply_id_for((await conv.turns())[0].id))
        for conv in (bad, late)
    }
    harness.fake.script_batch(
        {ids[bad.id]: fault.status(500), ids[late.id]: fault.expired()}
    )
    batches = batches_for(harness)
    job = await batches.submit([bad.id, late.id])
    harness.fake.advance_batches()
    report = await batches.collect(job)
    assert sorted(o.result for o in report.failed) == ["errored", "expired"]
    errored = next(o for o in report.failed if o.result == "errored")
    assert errored.error is not None
    assert errored.error["error"]["type"] == "api_error"
    for conv in (bad, late):
        assert len(await conv.turns()) == 1
        reply = await conv.retry()
        assert reply.role == "assistant"
    check_batch_exchanges(harness)


async def test_collect_twice_writes_nothing_twice(harness: Harness) -> None:
    """A second collect, by job or by batch id alone, appends and records nothing new."""
    convs = [await pending(harness) for _ in range(2)]
    batches = batches_for(harness)
    job = await batches.submit([c.id for c in convs])
    harness.fake.advance_batches()
    await batches.collect(job)
    records = [await c.record() for c in convs]
    again = await batches.collect(job)
    by_id = await batches_for(harness).collect(job.batch_ids[0])
    for report in (again, by_id):
        assert {o.action for o in report.outcomes} == {"already_collected"}
        assert len(report.outcomes) == 2
    for conv, record in zip(convs, records, strict=True):
        assert len(await conv.turns()) == 2
        assert (await conv.record()).flags == record.flags


async def test_split_over_the_limits(harness: Harness) -> None:
    """A set over max_requests or max_bytes goes out as several batches, all collected."""
    convs = [await pending(harness, f"Question {n}") for n in range(3)]
    batches = batches_for(harness)
    by_count = await batches.submit([c.id for c in convs], max_requests=2)
    assert [len(b["requests"]) for b in batch_creates(harness)] == [2, 1]
    harness.fake.advance_batches()
    report = await batches.collect(by_count)
    assert len(report.appended) == 3
    more = [await pending(harness, f"Other {n}") for n in range(2)]
    size = len(str(batch_creates(harness)[-1]).encode()) + 200
    by_size = await batches.submit([c.id for c in more], max_bytes=size)
    assert len(by_size.batch_ids) == 2
    with pytest.raises(InvalidInputError, match="over the batch limit"):
        await batches.submit([c.id for c in more], max_bytes=50)


async def test_nothing_pending_fails_before_any_request(harness: Harness) -> None:
    """A conversation with no pending turn is named, and no batch is created."""
    ready = await pending(harness)
    answered = await harness.create()
    batches = batches_for(harness)
    with pytest.raises(InvalidInputError, match=answered.id):
        await batches.submit([ready.id, answered.id])
    with pytest.raises(InvalidInputError, match="twice"):
        await batches.submit([ready.id, ready.id])
    assert batch_creates(harness) == []
    assert "batch" not in (await ready.record()).flags


async def test_cancel_list_delete(harness: Harness) -> None:
    """A canceled batch ends with its requests canceled (resendable), then is deleted."""
    conv = await pending(harness)
    batches = batches_for(harness)
    job = await batches.submit([conv.id])
    status = await batches.cancel(job.batch_ids[0])
    assert status.processing_status == "canceling"
    (final,) = await batches.wait(job.batch_ids[0], sleep=sleeper(harness, []))
    assert final.request_counts["canceled"] == 1
    report = await batches.collect(job)
    assert [o.result for o in report.failed] == ["canceled"]
    page = await batches.list(limit=10)
    assert [s.id for s in page.items] == list(job.batch_ids)
    assert not page.has_more
    await batches.delete(job.batch_ids[0])
    assert (await batches.list()).items == ()
    assert len(await conv.turns()) == 1


async def test_job_is_frozen(harness: Harness) -> None:
    """A BatchJob is a frozen value."""
    conv = await pending(harness)
    job = await batches_for(harness).submit([conv.id])
    assert isinstance(job, BatchJob)
    with pytest.raises(AttributeError):
        job.batch_ids = ()  # type: ignore[misc]


def test_twins_have_the_same_methods() -> None:
    """Batches and AsyncBatches offer the same public names."""

    def public(cls: type) -> set[str]:
        return {n for n in dir(cls) if not n.startswith("_")}

    assert public(Batches) == public(AsyncBatches)
