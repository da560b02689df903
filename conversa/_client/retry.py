"""When and how long to retry a call to the API.

The rules are the official SDK's: two retries (three attempts) on connection
errors, timeouts and the statuses 408, 409, 429 and 5xx (529 included); the
response header ``x-should-retry: true|false`` overrides the status; the wait is
``retry-after-ms``, else ``retry-after`` (seconds or an HTTP-date), else
``min(initial * 2**n, max_wait) * (1 - jitter * random())``.

Two choices differ from the SDKs and are worth knowing:

- A ``retry-after`` longer than `RetryPolicy.max_retry_after` (60 s by default)
  is cut down to it. SDK 0.x ignored such values and fell back to the short
  backoff, which retries a spend-capped account pointlessly fast; SDK 2 waits up
  to ~50 days, which hangs a worker. The cut keeps the wait bounded and still
  backs off hard. The error, if retries run out, keeps the full value in
  `APIStatusError.retry_after`, so a caller can schedule its own retry.
- A stream that fails after HTTP 200 is retried only while no content has
  reached the caller, and only for a broken connection or a transient error
  event (see `is_retryable`).

The backoff is written here rather than taken from tenacity's
``wait_exponential_jitter``, whose ``initial=`` argument was renamed in
tenacity 9.2 (the old name warns, and our warnings are errors).
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from datetime import timezone
from typing import Any

from attrs import field, frozen, validators
from tenacity import (
    AttemptManager,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import stop_base

from .._exceptions import APIConnectionError, APIStatusError, StreamError
from .tracing import CallInfo, log_fields

__all__ = [
    "RetryPolicy",
    "RetryWait",
    "goes_on",
    "is_retryable",
    "parse_retry_after",
    "replay_first",
    "tenacity_kwargs",
]

logger = logging.getLogger("conversa")

_RETRY_STATUSES = frozenset({408, 409, 429})
# Error-event types that mean "try again later" (the types of 409, 429, 5xx, 529).
_TRANSIENT_STREAM_ERRORS = frozenset(
    {
        "api_error",
        "conflict_error",
        "overloaded_error",
        "rate_limit_error",
        "timeout_error",
    }
)

_non_negative = validators.ge(0.0)


@frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently a call is retried.

    The defaults are the official SDK's. All waits are in seconds.

    Attributes:
        max_retries: retries after the first attempt (2 means three attempts).
        initial: the backoff before the first retry; it doubles each retry.
        max_wait: the longest backoff.
        jitter: the backoff is scaled by ``1 - jitter * random()`` (0.25: 75-100%).
        max_total_delay: give up rather than start an attempt this long after
            the first one began (None: no limit).
        max_retry_after: the longest wait taken from a ``retry-after`` header;
            longer values are cut to it. 0 retries at once whatever the API says.
    """

    max_retries: int = field(default=2, validator=validators.ge(0))
    initial: float = field(default=0.5, validator=_non_negative)
    max_wait: float = field(default=8.0, validator=_non_negative)
    jitter: float = field(
        default=0.25, validator=[validators.ge(0.0), validators.le(1.0)]
    )
    max_total_delay: float | None = field(
        default=None, validator=validators.optional(_non_negative)
    )
    max_retry_after: float = field(default=60.0, validator=_non_negative)

    @classmethod
    def none(cls) -> RetryPolicy:
        """Return a policy that never retries."""
        return cls(max_retries=0)

    @classmethod
    def no_wait(cls, *, max_retries: int = 2) -> RetryPolicy:
        """Return a policy that retries at once, ignoring ``retry-after``; for tests."""
        return cls(
            max_retries=max_retries, initial=0.0, max_wait=0.0, max_retry_after=0.0
        )

    @property
    def max_attempts(self) -> int:
        """The number of attempts in all, the first included."""
        return self.max_retries + 1

    def delay(
        self,
        retry_number: int,
        *,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> float:
        """Return the seconds to wait before retry *retry_number* (0 for the first).

        Args:
            retry_number: how many retries came before this one.
            retry_after: what the API asked for, in seconds, if it said.
            rng: a source of floats in [0, 1) for the jitter.
        """
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Cap the exponent too: 2.0 ** 1100 overflows a float.
        backoff = min(self.initial * 2.0 ** min(retry_number, 64), self.max_wait)
        return backoff * (1.0 - self.jitter * rng())


def parse_retry_after(
    headers: Mapping[str, str], *, now: float | None = None
) -> float | None:
    """Return the wait the API asked for, in seconds, or None.

    ``retry-after-ms`` (milliseconds) wins over ``retry-after`` (seconds, a float
    being allowed, or an HTTP-date). Values that are not positive and finite, or
    do not parse, count as absent.

    Args:
        headers: the response headers (lower-case names, as httpx gives them).
        now: the current POSIX time, for HTTP-dates (default: the clock).
    """
    millis = _positive(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _positive(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are GMT.
        when = when.replace(tzinfo=timezone.utc)
    wait = when.timestamp() - (time.time() if now is None else now)
    return wait if wait > 0 else None


def _positive(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def is_retryable(exc: BaseException) -> bool:
    """Tell whether the call that raised *exc* may be tried again.

    Connection errors and timeouts are retried. A status error is retried when
    the API's ``x-should-retry`` header says so, or, when it said nothing, for
    408, 409, 429 and 5xx. A `StreamError` is retried only before any content
    reached the caller, and then only for a broken connection or a transient
    error event (overloaded, rate limited, API error, timeout, conflict).
    """
    if isinstance(exc, APIStatusError):
        if exc.should_retry is not None:
            return exc.should_retry
        return exc.status_code in _RETRY_STATUSES or exc.status_code >= 500
    if isinstance(exc, StreamError):
        return not exc.partial and (
            exc.error_type is None or exc.error_type in _TRANSIENT_STREAM_ERRORS
        )
    return isinstance(exc, APIConnectionError)


@frozen
class RetryWait:
    """A tenacity ``wait``: the API's ``retry-after`` if it gave one, else backoff.

    Attributes:
        policy: the policy whose numbers are used.
        rng: a source of floats in [0, 1) for the jitter (seed one for tests).
    """

    policy: RetryPolicy
    rng: Callable[[], float] = field(default=random.random, eq=False, repr=False)

    def __call__(self, retry_state: RetryCallState) -> float:
        """Return the wait after the attempt *retry_state* describes."""
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, APIStatusError) else None
        # tenacity numbers attempts from 1; the wait after attempt 1 is retry 0's.
        return self.policy.delay(
            retry_state.attempt_number - 1, retry_after=retry_after, rng=self.rng
        )


def goes_on(policy: RetryPolicy, exc: BaseException) -> bool:
    """Whether a call's first attempt, failed with *exc*, goes on to the retry loop.

    A call's first attempt is made before tenacity's loop is built: most calls
    succeed at once, and the loop (its stop, wait and log, and each attempt's
    state) costs about 25 µs to build and run. Only a failure the policy may
    retry builds it; every other one is raised as it is, as the loop would
    raise it (``reraise=True``). The loop's first attempt then raises the
    failure again (`replay_first`), so its waits, log lines, span events and
    total delay are those the loop alone would have made of it.
    """
    return policy.max_attempts > 1 and is_retryable(exc)


def replay_first(
    attempt: AttemptManager, first: BaseException | None, started: float
) -> None:
    """Inside the retry loop built after a failed first attempt (`goes_on`): its
    first attempt raises that failure, *first*, again, timed from *started*
    (`time.monotonic()` before the real attempt), so that the policy's
    `max_total_delay` counts the real attempt's time."""
    state = attempt.retry_state
    if first is not None and state.attempt_number == 1:
        state.start_time = started
        raise first


def tenacity_kwargs(
    policy: RetryPolicy,
    *,
    label: str = "request",
    rng: Callable[[], float] = random.random,
    call: CallInfo | None = None,
    on_retry: Callable[[int, BaseException | None, float], None] | None = None,
) -> dict[str, Any]:
    """Return the arguments for ``tenacity.Retrying`` / ``AsyncRetrying``.

    Args:
        policy: the retry policy.
        label: what is retried, for the log (``"POST /v1/messages"``).
        rng: the jitter's random source.
        call: who the call is for: the retry log lines carry its fields, plus
            ``attempt`` and ``request_id``.
        on_retry: told each failed attempt's number, error and wait (the span's
            retry event).

    Returns:
        ``stop``, ``retry``, ``wait``, ``reraise=True`` (the last error is raised
        as it is, not wrapped in ``tenacity.RetryError``) and ``before_sleep``,
        which logs each retry at WARNING on the ``conversa`` logger.
    """
    stop: stop_base = stop_after_attempt(policy.max_attempts)
    if policy.max_total_delay is not None:
        stop = stop | stop_before_delay(policy.max_total_delay)
    return {
        "stop": stop,
        "retry": retry_if_exception(is_retryable),
        "wait": RetryWait(policy, rng),
        "reraise": True,
        "before_sleep": _RetryLog(label, policy.max_attempts, call, on_retry),
    }


@frozen
class _RetryLog:
    """Log a retry: what failed, which attempt, and how long we wait."""

    label: str
    max_attempts: int
    call: CallInfo | None = None
    on_retry: Callable[[int, BaseException | None, float], None] | None = None

    def __call__(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        cause = f"{type(exc).__name__}: {exc}" if exc is not None else "no error"
        next_action = retry_state.next_action
        wait = next_action.sleep if next_action is not None else 0.0
        attempt = retry_state.attempt_number
        request_id = getattr(exc, "request_id", None)
        logger.warning(
            "retrying %s: attempt %d of %d failed (%s); waiting %.2f s",
            self.label,
            attempt,
            self.max_attempts,
            cause,
            wait,
            extra=log_fields(self.call, attempt=attempt, request_id=request_id),
        )
        if self.on_retry is not None:
            self.on_retry(attempt, exc, wait)
