"""The `conversa batch` commands: submit, status (with a progress bar) and collect.

Like the rest of the command line, a thin shell over the public API (`Batches`).
`_cli.main` builds the client (live, `--offline`, or an injected transport) and passes a
factory in as ``args.make_client``; this module only parses, calls and prints.

Offline batches live in the fake API of one process, so only
``batch submit --offline --wait --collect`` can carry one through to the end; the
separate ``status`` and ``collect`` commands are for live batches.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Mapping

from .._conversation.batches import Batches
from .._exceptions import ConversaError, NotFoundError
from .._flows.batch import BatchJob, BatchStatus, CollectReport
from .._stores import Store
from .format import plural

__all__ = ["add_batch_parser", "collect_lines", "progress_line"]

#: Seconds between two polls of `--wait` unless `--interval` says otherwise.
DEFAULT_INTERVAL = 10.0
_BAR = 20
_COUNTS = ("succeeded", "errored", "canceled", "expired")


def progress_line(status: BatchStatus) -> str:
    """One line: the batch, its processing status and a text progress bar.

    For example ``msgbatch_1  in_progress  [###########---------] 7/12 done
    (succeeded 6, errored 1)``.
    """
    counts: Mapping[str, int] = status.request_counts
    total = sum(counts.values())
    done = total - counts.get("processing", 0)
    filled = round(_BAR * done / total) if total else 0
    bar = "#" * filled + "-" * (_BAR - filled)
    parts = [f"{name} {counts[name]}" for name in _COUNTS if counts.get(name)]
    detail = f" ({', '.join(parts)})" if parts else ""
    return (
        f"{status.id}  {status.processing_status}  [{bar}] {done}/{total} done{detail}"
    )


def collect_lines(report: CollectReport) -> Iterable[str]:
    """One line per outcome (conversation, action, result), then a summary."""
    for outcome in report.outcomes:
        line = f"{outcome.conversation_id}  {outcome.action}  ({outcome.result})"
        if outcome.error is not None:
            error = outcome.error.get("error", outcome.error)
            line += f"  {error.get('type', 'error')}: {error.get('message', '')}"
        yield line
    summary = (
        f"collected {plural(len(report.outcomes), 'result')}: "
        f"{len(report.appended)} appended, "
        f"{plural(len(report.conflicts), 'conflict')}, {len(report.failed)} failed"
    )
    if report.unknown:
        summary += f", {len(report.unknown)} unclaimed"
    yield summary
    if report.failed:
        yield "failed requests leave their turn pending: submit those conversations again"
    if report.conflicts:
        yield "conflicts: the conversation moved on; the reply is recorded, not appended"


def _batches(store: Store, args: argparse.Namespace) -> Batches:
    client = args.make_client(offline=args.offline, command="batch")
    return Batches(client, store)


def _not_found(batch_id: str, exc: NotFoundError) -> ConversaError:
    return ConversaError(f"no batch {batch_id!r} in this workspace ({exc})")


def _wait(batches: Batches, job_or_id: BatchJob | str, interval: float) -> None:
    batches.wait(
        job_or_id,
        poll_interval=interval,
        on_progress=lambda status: print(progress_line(status), flush=True),
        sleep=time.sleep,
    )


def _cmd_submit(store: Store, args: argparse.Namespace) -> int:
    batches = _batches(store, args)
    with batches.client:
        job = batches.submit(args.ids)
        for batch_id in job.batch_ids:
            print(batch_id)
        print(
            f"submitted {plural(len(job.requests), 'request')} in "
            f"{plural(len(job.batch_ids), 'batch', 'batches')}",
            file=sys.stderr,
        )
        if args.wait or args.collect:
            _wait(batches, job, args.interval)
        if args.collect:
            for line in collect_lines(batches.collect(job)):
                print(line)
    return 0


def _cmd_status(store: Store, args: argparse.Namespace) -> int:
    batches = _batches(store, args)
    with batches.client:
        try:
            if args.wait:
                _wait(batches, args.batch_id, args.interval)
            else:
                print(progress_line(batches.status(args.batch_id)))
        except NotFoundError as exc:
            raise _not_found(args.batch_id, exc) from None
    return 0


def _cmd_collect(store: Store, args: argparse.Namespace) -> int:
    batches = _batches(store, args)
    with batches.client:
        try:
            report = batches.collect(args.batch_id)
        except NotFoundError as exc:
            raise _not_found(args.batch_id, exc) from None
    for line in collect_lines(report):
        print(line)
    return 0


def add_batch_parser(
    add: Callable[..., argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add `batch submit|status|collect` through *add* (`_cli.main`'s subparser maker).

    *common* holds the options every command accepts after its name (`--store`).
    """
    batch = add(
        "batch",
        "answer many conversations through Message Batches",
        description=(
            "Send conversations' pending user turns as Message Batches, follow them "
            "and fold the replies back. Offline batches live only as long as the "
            "process: use `batch submit --offline --collect` to do all three at once."
        ),
    )
    sub = batch.add_subparsers(dest="batch_command", required=True, metavar="ACTION")

    def action(
        name: str, help_text: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_text, description=description, parents=[common]
        )
        p.add_argument(
            "--offline", action="store_true", help="use conversa's fake API (no key)"
        )
        return p

    def waits(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--wait", action="store_true", help="poll, printing progress, until it ends"
        )
        p.add_argument(
            "--interval",
            type=float,
            default=DEFAULT_INTERVAL,
            metavar="S",
            help=f"seconds between polls with --wait (default {DEFAULT_INTERVAL:g})",
        )

    submit = action(
        "submit",
        "send the pending turns of conversations as a batch",
        description=(
            "Print the batch id(s) (a set over the API's limits is split). Each "
            "conversation must end with an unanswered user turn."
        ),
    )
    submit.add_argument("ids", nargs="+", metavar="ID", help="conversation ids")
    waits(submit)
    submit.add_argument(
        "--collect",
        action="store_true",
        help="wait, then collect (the way to run a batch end to end with --offline)",
    )
    submit.set_defaults(run=_cmd_submit)

    status = action("status", "print a batch's status and a progress bar")
    status.add_argument("batch_id", metavar="BATCH_ID")
    waits(status)
    status.set_defaults(run=_cmd_status)

    collect = action(
        "collect",
        "fold an ended batch's results into their conversations",
        description=(
            "Print one line per result (conversation, action, result) and a summary. "
            "Conflicts and failed requests are reported, not errors: the exit code "
            "is 0. Collecting again writes nothing twice."
        ),
    )
    collect.add_argument("batch_id", metavar="BATCH_ID")
    collect.set_defaults(run=_cmd_collect)
