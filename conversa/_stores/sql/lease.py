"""The exclusive section of the SQL stores: a lease on the conversation's row.

The same on SQLite and PostgreSQL, and across threads, processes and hosts:

- acquire: one UPDATE (its own transaction) writes the holder and the expiry
  on the conversation's row if the lease is free, expired, or already ours. A
  waiter retries with backoff (5 ms doubling to 100 ms, jittered down by up to
  half) until its timeout, then raises `ConversationBusyError`. No transaction
  and no pooled connection is held while waiting or while the section runs (a
  send's API call takes up to minutes), so SQLite's write lock and PostgreSQL's
  pool stay free.
- hold: a per-store daemon thread renews every lease the store holds every
  `lease_seconds / 3` (10 s for the default 30 s lease), for sync and async holders
  alike; a thread keeps renewing even while an event loop is blocked.
- release: clear the two columns if the lease is still ours (shielded from
  cancellation).
- appends that hold no lease (`add`, imports: `append(lease_wait=...)`) check
  for a live lease in their own transaction and wait while there is one, with
  the same backoff (`wait_for_section`), so none lands inside a section.
- crash: a killed process stops renewing; its lease expires `lease_seconds` after
  the last renewal and the next waiter takes it over. A holder that stalls longer
  than the lease (a frozen process) loses it; the renewer logs an error, and the
  seq and turn-id guarantees of appends still hold.

Expiry times are epoch seconds by the database's clock, so hosts whose clocks
disagree still agree on when a lease ran out. Waiters are not queued: under heavy
contention a waiter may lose several rounds, bounded by its timeout. The section is
not re-entrant: each `lock()` is a new holder, so taking it again inside itself
waits for itself and ends in `ConversationBusyError`.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

import anyio
from attrs import define, field

from ..._drive import Flow
from ..._exceptions import ConversationBusyError, ConversationNotFoundError, StoreError
from .raw import Batch, Raw
from .statements import RELEASE_SQL, RENEW_SQL, Busy, acquire_sql, seen_sql

__all__ = [
    "LeaseRenewer",
    "Section",
    "acquire_flow",
    "ahold_lease",
    "await_section",
    "hold_lease",
    "holder_id",
    "release_flow",
    "renew_flow",
    "wait_for_section",
]

T = TypeVar("T")

logger = logging.getLogger("conversa")

#: Waiting for a lease: the first and the longest pause between tries, in seconds.
POLL_FIRST = 0.005
POLL_MAX = 0.1


def acquire_flow(
    conversation_id: str,
    owner: str | None,
    holder: str,
    lease_seconds: float,
    dialect: str,
) -> Flow[bool]:
    """Take the lease if it is free, expired, or already *holder*'s; tell whether we hold it.

    One UPDATE of the conversation's row, which an append moving the record also
    updates, so the two serialize: an append that found no lease commits before
    the lease is taken, and the send that takes it reads that append. When it
    took nothing, whether the caller sees the conversation tells a held lease
    from a missing conversation (read in the same statement on PostgreSQL: one
    round trip, a transaction of its own).
    """
    owned = owner is not None
    params = {"cid": conversation_id, "holder": holder, "lease": lease_seconds}
    if owner is not None:
        params["owner"] = owner
    (result,) = yield Batch((Raw(acquire_sql(owned=owned), params),), commit=True)
    if dialect == "postgresql":
        taken, seen = result.first()
    else:
        taken = result.rowcount
        seen = taken == 1 or (yield Raw(seen_sql(owned=owned), params)).first()
    if taken == 1:
        return True
    if not seen:
        raise ConversationNotFoundError(conversation_id)
    return False


def renew_flow(
    leases: Sequence[tuple[str, str]], lease_seconds: float, dialect: str
) -> Flow[list[tuple[str, str]]]:
    """Push back the expiry of held leases; return those no longer held."""
    del dialect  # the driver SQL has a text for each
    lost = []
    for conversation_id, holder in leases:
        # Each a transaction of its own, holding one record's row: renewals never
        # hold rows while waiting for others (an erase locks many at once).
        params = {"cid": conversation_id, "holder": holder, "lease": lease_seconds}
        (renewed,) = yield Batch((Raw(RENEW_SQL, params),), commit=True)
        if renewed.rowcount != 1:
            lost.append((conversation_id, holder))
    return lost


def release_flow(conversation_id: str, holder: str) -> Flow[None]:
    """Drop a lease if *holder* still has it (one round trip, COMMIT included)."""
    release = Raw(RELEASE_SQL, {"cid": conversation_id, "holder": holder})
    yield Batch((release,), commit=True)


@define
class Section:
    """One `lock` block of this process: its holder, and whether an append ended it."""

    conversation_id: str
    holder: str = field(factory=lambda: holder_id())
    released: bool = False


def holder_id() -> str:
    """Return a fresh lease holder id naming this host and process.

    The host and process part is worked out once per process (a send takes a
    lease, so a holder id, every call); 128 random bits make it unique.
    """
    return _this_process() + os.urandom(16).hex()


@functools.cache
def _process_prefix(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:"


def _this_process() -> str:
    return _process_prefix(os.getpid())


def backoff(delay: float) -> float:
    """Return *delay* jittered down by up to half, so waiters do not poll in step."""
    return delay * (0.5 + secrets.randbelow(500) / 1000)


class LeaseRenewer:
    """A daemon thread that keeps this store's held leases alive.

    *renew* gets the held (conversation_id, holder) pairs and returns those that
    were lost. The thread starts with the first lease and stops at `close`.
    """

    def __init__(
        self,
        renew: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
        interval: float,
    ) -> None:
        self._renew = renew
        self._interval = interval
        self._held: set[tuple[str, str]] = set()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, conversation_id: str, holder: str) -> None:
        """Keep renewing this lease until `discard`."""
        with self._mutex:
            self._held.add((conversation_id, holder))
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="conversa-lease-renewer", daemon=True
                )
                self._thread.start()

    def discard(self, conversation_id: str, holder: str) -> None:
        """Stop renewing this lease."""
        with self._mutex:
            self._held.discard((conversation_id, holder))

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            with self._mutex:
                leases = sorted(self._held)
            if not leases:
                continue
            try:
                lost = self._renew(leases)
            except Exception:
                logger.warning("conversa: could not renew store leases", exc_info=True)
                continue
            with self._mutex:
                for conversation_id, holder in lost:
                    if (conversation_id, holder) in self._held:
                        logger.error(
                            "conversa: lost the lock on conversation %r: it was held "
                            "past its lease without renewal",
                            conversation_id,
                        )

    def close(self) -> None:
        """Stop the thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join()


@contextmanager
def hold_lease(
    try_acquire: Callable[[], bool],
    release: Callable[[], None],
    renewer: LeaseRenewer,
    conversation_id: str,
    holder: str,
    wait: float,
) -> Iterator[None]:
    """Wait for a lease (sync), keep it renewed inside the block, release it after."""
    deadline = time.monotonic() + wait
    delay = POLL_FIRST
    while not try_acquire():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConversationBusyError(conversation_id=conversation_id, timeout=wait)
        time.sleep(min(backoff(delay), remaining))
        delay = min(delay * 2, POLL_MAX)
    renewer.add(conversation_id, holder)
    try:
        yield
    finally:
        renewer.discard(conversation_id, holder)
        try:
            release()
        except StoreError:
            logger.warning(
                "conversa: could not release the lock on %r; it expires with its lease",
                conversation_id,
                exc_info=True,
            )


@asynccontextmanager
async def ahold_lease(
    try_acquire: Callable[[], Awaitable[bool]],
    release: Callable[[], Awaitable[None]],
    renewer: LeaseRenewer,
    conversation_id: str,
    holder: str,
    wait: float,
) -> AsyncIterator[None]:
    """The async twin of `hold_lease`: waits with `anyio.sleep`, never blocking the loop.

    Each try is shielded from cancellation, so a lease is never taken without the
    `finally` that releases it; cancelling a waiter takes effect between tries.
    """
    deadline = time.monotonic() + wait
    delay = POLL_FIRST
    while True:
        with anyio.CancelScope(shield=True):
            acquired = await try_acquire()
        if acquired:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConversationBusyError(conversation_id=conversation_id, timeout=wait)
        await anyio.sleep(min(backoff(delay), remaining))
        delay = min(delay * 2, POLL_MAX)
    renewer.add(conversation_id, holder)
    try:
        yield
    finally:
        renewer.discard(conversation_id, holder)
        with anyio.CancelScope(shield=True):
            try:
                await release()
            except StoreError:
                logger.warning(
                    "conversa: could not release the lock on %r; it expires with its lease",
                    conversation_id,
                    exc_info=True,
                )


def wait_for_section(
    attempt: Callable[[], T | Busy], conversation_id: str, wait: float
) -> T:
    """Run *attempt* until it returns something else than `BUSY`, up to *wait* seconds.

    The backoff of `hold_lease`; each attempt is a transaction of its own.

    Raises:
        ConversationBusyError: the section stayed held for *wait* seconds.
    """
    deadline = time.monotonic() + wait
    delay = POLL_FIRST
    while True:
        result = attempt()
        if not isinstance(result, Busy):
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConversationBusyError(conversation_id=conversation_id, timeout=wait)
        time.sleep(min(backoff(delay), remaining))
        delay = min(delay * 2, POLL_MAX)


async def await_section(
    attempt: Callable[[], Awaitable[T | Busy]], conversation_id: str, wait: float
) -> T:
    """The async twin of `wait_for_section`: waits with `anyio.sleep`."""
    deadline = time.monotonic() + wait
    delay = POLL_FIRST
    while True:
        result = await attempt()
        if not isinstance(result, Busy):
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConversationBusyError(conversation_id=conversation_id, timeout=wait)
        await anyio.sleep(min(backoff(delay), remaining))
        delay = min(delay * 2, POLL_MAX)
