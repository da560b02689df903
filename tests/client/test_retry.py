"""The retry policy: what is retried, and how long each wait is."""

from __future__ import annotations

import logging
import random
from email.utils import formatdate

import pytest
from tenacity import RetryCallState, Retrying

from conversa._client.retry import (
    RetryPolicy,
    RetryWait,
    is_retryable,
    parse_retry_after,
    tenacity_kwargs,
)
from conversa._exceptions import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    InvalidInputError,
    StreamError,
    status_error,
)

NOW = 1_800_000_000.0


def _state(attempt_number: int, exc: BaseException) -> RetryCallState:
    """A tenacity state as it stands after attempt *attempt_number* raised *exc*."""
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt_number
    state.set_exception((type(exc), exc, None))
    return state


# --- parse_retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "0", "retry-after": "9"}, 9.0),
        ({"retry-after-ms": "soon", "retry-after": "2.5"}, 2.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "whenever"}, None),
        ({"retry-after": formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": formatdate(NOW + 30).replace("+0000", "-0000")}, 30.0),
        ({"retry-after": formatdate(NOW - 30, usegmt=True)}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """retry-after-ms wins, then retry-after as seconds or an HTTP-date; non-positive counts as absent."""
    assert parse_retry_after(headers, now=NOW) == expected


def test_parse_retry_after_date_uses_the_clock_by_default() -> None:
    """Without *now*, an HTTP-date is measured against the real clock."""
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}) is None


# --- is_retryable


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (APIConnectionError("refused"), True),
        (APITimeoutError("slow"), True),
        *(
            (status_error(status_code=s), True)
            for s in (408, 409, 429, 500, 502, 503, 529)
        ),
        *((status_error(status_code=s), False) for s in (400, 401, 403, 404, 413, 422)),
        (status_error(status_code=529, should_retry=False), False),
        (status_error(status_code=400, should_retry=True), True),
        (StreamError("broken", partial=False), True),
        (StreamError("broken", partial=True), False),
        (StreamError("e", error_type="overloaded_error"), True),
        (StreamError("e", error_type="api_error"), True),
        (StreamError("e", error_type="overloaded_error", partial=True), False),
        (StreamError("e", error_type="invalid_request_error"), False),
        (InvalidInputError("bad"), False),
        (ValueError("bug"), False),
    ],
)
def test_is_retryable(exc: BaseException, expected: bool) -> None:
    """Connection errors, 408/409/429/5xx and early transient stream failures retry; x-should-retry overrides."""
    assert is_retryable(exc) is expected


# --- the wait


def test_backoff_doubles_from_initial_up_to_max() -> None:
    """Without jitter the waits are 0.5, 1, 2, 4, 8, 8 s: attempt n waits initial * 2**(n-1)."""
    wait = RetryWait(RetryPolicy(jitter=0.0))
    exc = status_error(status_code=529)
    assert [wait(_state(n, exc)) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert RetryPolicy().delay(10_000, rng=lambda: 0.0) == 8.0


@pytest.mark.parametrize("seed", range(5))
def test_jitter_scales_into_range_and_is_reproducible(seed: int) -> None:
    """Jitter scales each wait to 75-100%, and a seeded source repeats the same waits."""
    exc = APIConnectionError("refused")
    first = [
        RetryWait(RetryPolicy(), random.Random(seed).random)(_state(n, exc))
        for n in (1, 2, 3)
    ]
    again = [
        RetryWait(RetryPolicy(), random.Random(seed).random)(_state(n, exc))
        for n in (1, 2, 3)
    ]
    assert first == again
    for wait, full in zip(first, (0.5, 1.0, 2.0), strict=True):
        assert 0.75 * full < wait <= full


def test_jitter_extremes() -> None:
    """random() = 0 keeps the full backoff; random() near 1 takes off the jitter share."""
    policy = RetryPolicy(jitter=0.25)
    assert policy.delay(2, rng=lambda: 0.0) == 2.0
    assert policy.delay(2, rng=lambda: 0.5) == 1.75


def test_retry_after_wins_over_backoff() -> None:
    """A status error's retry_after is the wait, whatever the attempt."""
    wait = RetryWait(RetryPolicy())
    exc = status_error(status_code=429, retry_after=1.5)
    assert wait(_state(1, exc)) == 1.5
    assert wait(_state(3, exc)) == 1.5


def test_retry_after_is_capped() -> None:
    """A retry-after beyond max_retry_after is cut to it (60 s by default)."""
    exc = status_error(status_code=429, retry_after=3600.0)
    assert RetryWait(RetryPolicy())(_state(1, exc)) == 60.0
    assert RetryWait(RetryPolicy(max_retry_after=5.0))(_state(1, exc)) == 5.0


def test_no_wait_policy_never_waits() -> None:
    """RetryPolicy.no_wait() waits 0 s even when the API asks for more: tests don't sleep."""
    wait = RetryWait(RetryPolicy.no_wait())
    assert wait(_state(1, status_error(status_code=429, retry_after=1.5))) == 0.0
    assert wait(_state(4, APIConnectionError("x"))) == 0.0
    assert RetryPolicy.no_wait(max_retries=5).max_attempts == 6


def test_none_policy_has_one_attempt() -> None:
    """RetryPolicy.none() makes exactly one attempt."""
    assert RetryPolicy.none().max_attempts == 1
    assert RetryPolicy().max_attempts == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial": -0.1},
        {"jitter": 1.5},
        {"max_total_delay": -1.0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    """Negative counts and waits, and jitter over 1, are refused."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --- tenacity_kwargs, run by tenacity itself


def _run(policy: RetryPolicy, errors: list[BaseException]) -> tuple[list[float], int]:
    """Run tenacity with *policy* over a call raising *errors* in turn; return sleeps and calls."""
    slept: list[float] = []
    calls = 0
    result = None
    for attempt in Retrying(
        sleep=slept.append, **tenacity_kwargs(policy, label="POST /x")
    ):
        with attempt:
            calls += 1
            if errors:
                raise errors.pop(0)
            result = "ok"
    assert result == "ok"
    return slept, calls


def test_tenacity_retries_and_honours_retry_after() -> None:
    """Two failures, then success: three calls, the waits from retry-after and backoff."""
    errors: list[BaseException] = [
        status_error(status_code=429, retry_after=1.5),
        APIConnectionError("reset"),
    ]
    slept, calls = _run(RetryPolicy(jitter=0.0), errors)
    assert calls == 3
    assert slept == [1.5, 1.0]


def test_tenacity_stops_after_max_attempts_and_reraises() -> None:
    """After max_retries the last error itself is raised, not a tenacity.RetryError."""
    errors: list[BaseException] = [status_error(status_code=500) for _ in range(4)]
    with pytest.raises(InternalServerError) as info:
        _run(RetryPolicy.no_wait(max_retries=2), errors)
    assert info.value.status_code == 500
    assert len(errors) == 1


def test_tenacity_does_not_retry_a_client_error() -> None:
    """A 400 is raised at once."""
    errors: list[BaseException] = [status_error(status_code=400)]
    with pytest.raises(type(errors[0])):
        _run(RetryPolicy.no_wait(), errors)
    assert errors == []


def test_max_total_delay_stops_before_a_long_wait() -> None:
    """With max_total_delay, a retry whose wait would pass it is not attempted."""
    errors: list[BaseException] = [status_error(status_code=429, retry_after=30.0)]
    with pytest.raises(type(errors[0])):
        _run(RetryPolicy(max_total_delay=10.0), errors)


def test_each_retry_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Each retry logs a WARNING on `conversa` naming the call, attempt, cause and wait."""
    errors: list[BaseException] = [status_error(status_code=529, request_id="req_9")]
    with caplog.at_level(logging.WARNING, logger="conversa"):
        _run(RetryPolicy(jitter=0.0), errors)
    (record,) = caplog.records
    assert record.name == "conversa"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "retrying POST /x: attempt 1 of 3 failed "
        "(OverloadedError: HTTP 529 (request id req_9)); waiting 0.50 s"
    )
