"""The `conversa rm`, `erase` and `purge` commands: retention and erasure.

A thin shell over the store's `Erasure` capability: `rm ID...` erases
conversations, `erase --owner X` everything of one owner (for a data-protection
request), `purge --older-than 90d` what was not updated since (retention). Each
prints what it erased; `--dry-run` (erase, purge) prints what it would erase and
changes nothing. A run that was interrupted is finished by running it again.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import timedelta

from .._exceptions import InvalidInputError
from .._stores import Erased, Erasure, Store
from .._values.turns import utcnow
from .format import plural

__all__ = ["add_erase_parsers", "parse_age"]

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_AGE = re.compile(r"(\d+)([wdhms])")


def parse_age(text: str) -> timedelta:
    """Parse an age such as ``90d``, ``12h`` or ``2w`` (weeks, days, hours, minutes, seconds).

    Raises:
        InvalidInputError: not a whole number followed by one of w, d, h, m, s.
    """
    match = _AGE.fullmatch(text.strip())
    if match is None:
        msg = f"--older-than wants an age like 90d, 12h or 2w, not {text!r}"
        raise InvalidInputError(msg)
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _erasing(store: Store) -> Erasure:
    if not isinstance(store, Erasure):
        msg = f"{type(store).__name__} cannot erase (it lacks the Erasure capability)"
        raise InvalidInputError(msg)
    return store


def _counts(erased: Erased, *, dry_run: bool = False) -> str:
    verb = "would erase" if dry_run else "erased"
    conversations = plural(erased.conversations, "conversation")
    line = f"{verb} {conversations}, {plural(erased.turns, 'turn')}"
    return line + (" (dry run: nothing changed)" if dry_run else "")


def _cmd_rm(store: Store, args: argparse.Namespace) -> int:
    erasing = _erasing(store)
    total = Erased()
    missing = []
    for conversation_id in args.ids:
        erased = erasing.erase(conversation_id)
        if erased.conversations == 0:
            missing.append(conversation_id)
        total += erased
    print(_counts(total))
    for conversation_id in missing:
        print(f"conversa: error: no conversation {conversation_id!r}", file=sys.stderr)
    return 1 if missing else 0


def _cmd_erase(store: Store, args: argparse.Namespace) -> int:
    erased = _erasing(store).erase_owner(args.owner, dry_run=args.dry_run)
    print(_counts(erased, dry_run=args.dry_run))
    return 0


def _cmd_purge(store: Store, args: argparse.Namespace) -> int:
    before = utcnow() - parse_age(args.older_than)
    scoped = store if args.owner is None else _scoped(store, args.owner)
    erased = _erasing(scoped).purge(before=before, dry_run=args.dry_run)
    print(_counts(erased, dry_run=args.dry_run))
    return 0


def _scoped(store: Store, owner: str) -> Store:
    for_owner: Callable[[str], Store] | None = getattr(store, "for_owner", None)
    if for_owner is None:
        msg = f"{type(store).__name__} cannot scope a purge to one owner"
        raise InvalidInputError(msg)
    return for_owner(owner)


def add_erase_parsers(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `rm`, `erase` and `purge` through *add* (`_cli.main`'s subparser maker)."""

    def dry_run(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would be erased and change nothing",
        )

    rm = add(
        "rm",
        "erase conversations: their turns, leases and records",
        "Erase each conversation named. Forks of it are conversations of their own "
        "and stay. Exit code 1 if an id names no conversation.",
    )
    rm.add_argument("ids", nargs="+", metavar="ID")
    rm.set_defaults(run=_cmd_rm)

    erase = add(
        "erase",
        "erase everything of one owner (a data-protection request)",
        "Erase every conversation of the owner, forks included: turns, leases, "
        "batch records. Content the API keeps (batches, for its retention period) "
        "and copies your application made are not conversa's to erase.",
    )
    erase.add_argument("--owner", required=True, help="the owner to erase")
    dry_run(erase)
    erase.set_defaults(run=_cmd_erase)

    purge = add(
        "purge",
        "erase conversations not updated for a while (retention)",
        "Erase every conversation whose last update is older than the age given; "
        "one a send is in right now waits for the next purge.",
    )
    purge.add_argument(
        "--older-than",
        required=True,
        metavar="AGE",
        help="an age: 90d, 12h, 2w (weeks, days, hours, minutes, seconds)",
    )
    purge.add_argument("--owner", help="only this owner's conversations")
    dry_run(purge)
    purge.set_defaults(run=_cmd_purge)
