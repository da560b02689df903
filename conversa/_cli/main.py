"""The `conversa` command line: list, show, export, import, chat, stats, batch, rm, erase, purge.

A thin shell: argparse and printing; everything else goes through the public API.
Exit codes: 0 success, 1 a conversa error (its message, never a traceback; a store
file a read-only command finds missing is one), 2 a usage error (bad arguments, a
store URL conversa cannot open by scheme, or whose driver is not installed).
`chat` is in `chat.py`, `--json` output in `json_out.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .._client.client import Client
from .._conversation.conversation import Conversation
from .._exceptions import (
    ConversaError,
    ConversationNotFoundError,
    InvalidInputError,
    StoreConfigError,
    StoreCorruptError,
    StoreUnavailableError,
)
from .._stores import PostgresStore, SQLiteStore, Store
from .._stores.sql.crypto import Encryption
from .._stores.sql.migrations import MigrateMode
from .._values.turns import ConversationRecord
from .batch import add_batch_parser
from .chat import Chat, NewConversation
from .encrypt import add_encrypt_parsers, encryption_from_env
from .erase import add_erase_parsers
from .format import (
    ledger_line,
    listing_line,
    plural,
    sum_ledgers,
    transcript,
)
from .json_out import dumps, ledger_json, listing_json, transcript_json
from .jsonl import check_import, parse_line, write_export, write_markdown
from .migrate import add_migrate_parser

__all__ = ["DEFAULT_STORE", "UsageError", "main", "open_store"]

#: The store used when neither --store nor CONVERSA_STORE names one.
DEFAULT_STORE = "sqlite:///./conversa.db"
DEFAULT_MODEL = "claude-sonnet-4-5"
#: The same model as `chat --door` spells it where the door has its own ids.
_DOOR_MODELS = {
    "bedrock": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "vertex": "claude-sonnet-4-5@20250929",
}
_SQLITE = "sqlite:///"
#: The exit code when the reader of stdout left early, as a shell reports SIGPIPE.
_SIGPIPE = 141
#: Commands that only read or erase: they never create a store file.
_NEEDS_A_STORE = frozenset({"ls", "show", "stats", "export", "rm", "erase", "purge"})
_POSTGRES = ("postgresql://", "postgres://", "postgresql+psycopg://")


class UsageError(Exception):
    """The command line was used wrongly; exit code 2."""


def _safe_url(url: str) -> str:
    """The URL without its password, fit for an error message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return url.split("@")[-1]


def open_store(
    url: str, *, migrate: MigrateMode = "auto", encryption: Encryption | None = None
) -> Store:
    """Open the store a URL names.

    Args:
        url: `sqlite:///path` (relative or, with a fourth slash, absolute),
            `sqlite:///:memory:`, or `postgresql://...`.
        migrate: the SQL stores' `migrate` option (`migrate` opens with "off").
        encryption: the SQL stores' keys (`main` reads them from the environment).

    Raises:
        UsageError: the URL names no store conversa knows.
        StoreConfigError: the store's driver is not installed (exit code 2).
        ConversaError: the store could not be opened (`StoreUnavailableError`,
            `StoreCorruptError`, a newer schema).
    """
    if url.startswith(_SQLITE):
        path = url.removeprefix(_SQLITE)
        if not path:
            msg = f"no file in store URL {url!r}: use sqlite:///path/to/file.db"
            raise UsageError(msg)
        return SQLiteStore(path, migrate=migrate, encryption=encryption)
    if url.startswith(_POSTGRES):
        return PostgresStore(url, migrate=migrate, encryption=encryption)
    msg = (
        f"unsupported store URL {_safe_url(url)!r}: use sqlite:///path, "
        "sqlite:///:memory: or postgresql://user@host/db"
    )
    raise UsageError(msg)


def _meta(values: Sequence[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            msg = f"--meta wants key=value, not {item!r}"
            raise UsageError(msg)
        out[key] = value
    return out


def _all_records(
    store: Store, args: argparse.Namespace
) -> Iterator[ConversationRecord]:
    """Every conversation the filters match, page after page."""
    cursor: str | None = None
    while True:
        page = store.list(owner=args.owner, metadata=_meta(args.meta), cursor=cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _cmd_ls(store: Store, args: argparse.Namespace) -> int:
    page = store.list(
        owner=args.owner,
        metadata=_meta(args.meta),
        limit=args.limit,
        cursor=args.cursor,
    )
    if args.json:
        print(dumps(listing_json(page)))
        return 0
    for record in page.items:
        print(listing_line(record))
    if page.next_cursor is not None:
        print(f"next cursor: {page.next_cursor}")
    return 0


def _cmd_show(store: Store, args: argparse.Namespace) -> int:
    record, turns = store.get(args.id), store.read(args.id)
    if args.json:
        print(dumps(transcript_json(record, turns)))
        return 0
    for line in transcript(record, turns):
        print(line)
    return 0


def _cmd_stats(store: Store, args: argparse.Namespace) -> int:
    if args.id:
        one = Conversation.load(store, args.id).ledger()
        print(
            dumps({"id": args.id, **ledger_json(one)})
            if args.json
            else ledger_line(one)
        )
        return 0
    ledgers = []
    rows = []
    for record in _all_records(store, args):
        ledger = Conversation.load(store, record.id).ledger()
        ledgers.append(ledger)
        rows.append({"id": record.id, **ledger_json(ledger)})
        if not args.json:
            print(f"{record.id}  {ledger_line(ledger)}")
    if args.json:
        total = {"conversations": len(ledgers), **ledger_json(sum_ledgers(ledgers))}
        print(dumps({"conversations": rows, "total": total}))
        return 0
    line = ledger_line(sum_ledgers(ledgers))
    print(f"total ({plural(len(ledgers), 'conversation')}): {line}")
    return 0


def _cmd_export(store: Store, args: argparse.Namespace) -> int:
    ids = args.ids or [r.id for r in _all_records(store, args)]
    write = write_markdown if args.format == "markdown" else write_export
    # One conversation at a time, its turns a page at a time: bounded memory.
    if args.output is None:
        for cid in ids:
            write(store, cid, sys.stdout)
        return 0
    with Path(args.output).open("w", encoding="utf-8", newline="") as out:
        for cid in ids:
            write(store, cid, out)
    print(
        f"exported {plural(len(ids), 'conversation')} to {args.output}", file=sys.stderr
    )
    return 0


def _exists(store: Store, conversation_id: str) -> bool:
    try:
        store.get(conversation_id)
    except ConversationNotFoundError:
        return False
    return True


def _cmd_import(store: Store, args: argparse.Namespace) -> int:
    # JSON Lines end at "\n" only (a "\r" before it is JSON whitespace):
    # splitlines() would also cut at U+2028, U+0085..., which exports hold raw.
    # `import -` reads standard input, as `export` writes to standard output.
    stdin = args.file == "-"
    data = sys.stdin.buffer.read() if stdin else Path(args.file).read_bytes()
    source = "<stdin>" if stdin else args.file
    lines = data.decode("utf-8").split("\n")
    wanted = set(args.ids or ())
    items = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record, turns = parse_line(line)
        except ValueError as exc:
            return _error(f"{source}:{number}: {exc}", 1)
        if not wanted or record.id in wanted:
            items.append((record, turns))
    missing = wanted - {record.id for record, _ in items}
    if missing:
        return _error(f"not in {source}: {', '.join(sorted(missing))}", 1)
    # Refuse before writing anything, so a failed import leaves the store as it was.
    try:
        for record, turns in items if not args.trust else ():
            check_import(record, turns)
    except InvalidInputError as exc:
        hint = "conversa import --trust stores it as it is: you vouch for it"
        return _error(f"{source}: {exc} ({hint})", 1)
    taken = [record.id for record, _ in items if _exists(store, record.id)]
    if taken:
        ids = " ".join(taken)
        return _error(
            f"already in the store: {ids} (erase first with `conversa rm {ids}`)", 1
        )
    for record, turns in items:
        store.create(record)
        store.append(record.id, turns)
        # The appends made it now: keep the time the export carries.
        store.update(record.id, {"updated_at": record.updated_at})
    print(f"imported {plural(len(items), 'conversation')}")
    return 0


#: `chat --door`: the doors besides the first party, each configured from the
#: environment its classmethod reads (AWS_REGION, CLOUD_ML_REGION, ...).
_DOORS: dict[str, Callable[..., Client]] = {
    "aws": Client.aws,
    "bedrock": Client.bedrock,
    "vertex": Client.vertex,
    "google-cloud": Client.google_cloud,
}


def _client(
    *,
    offline: bool,
    command: str = "chat",
    transport: httpx.BaseTransport | None = None,
    door: str = "anthropic",
) -> Client:
    """The client a command talks through: injected, offline (the fake) or live."""
    if door != "anthropic":
        try:
            if offline:
                return _offline_door(door, transport)
            return _DOORS[door](transport=transport)
        except (InvalidInputError, ImportError) as exc:
            msg = f"--door {door}: {exc}"
            raise UsageError(msg) from None
    if transport is not None:
        return Client(api_key="sk-injected", transport=transport)
    if offline:
        from ..testing import FakeMessagesAPI  # only --offline needs the fake

        return Client(api_key="sk-offline", transport=FakeMessagesAPI())
    if not (
        os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
    ):
        msg = f"{command} needs ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) set, or --offline"
        raise UsageError(msg)
    return Client()


def _offline_door(door: str, transport: httpx.BaseTransport | None) -> Client:
    """The client for conversa's fake serving as *door* (an injected fake's, if any)."""
    from ..testing import FakeDoor, FakeMessagesAPI  # only --offline needs the fake

    fake = transport if isinstance(transport, FakeMessagesAPI) else FakeMessagesAPI()
    opened: FakeDoor = getattr(fake, door.replace("-", "_"))()
    return opened.client()


def _latest(store: Store, owner: str | None) -> str:
    """The id of the newest conversation (of *owner*): `chat -c` continues it."""
    page = store.list(owner=owner, limit=1)
    if not page.items:
        whose = f" of owner {owner!r}" if owner else ""
        msg = f"no conversation{whose} to continue: `conversa chat` starts one"
        raise InvalidInputError(msg)
    return page.items[0].id


def _cmd_chat(store: Store, args: argparse.Namespace) -> int:
    if args.latest and args.id:
        msg = "chat takes an ID or -c (continue the latest), not both"
        raise UsageError(msg)
    with args.make_client(offline=args.offline, door=args.door) as client:
        conv: Conversation | NewConversation
        if args.id or args.latest:
            cid = args.id or _latest(store, args.owner)
            conv = Conversation.load(store, cid, client=client)
            if args.model:
                conv.set_model(args.model)
            if args.system is not None:
                conv.set_system(args.system)
        else:
            conv = NewConversation(
                model=args.model or _DOOR_MODELS.get(args.door, DEFAULT_MODEL),
                system=args.system,
                owner=args.owner,
            )
        return Chat(store, client, conv, stdin=sys.stdin).run()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conversa",
        description="Inspect, move and continue conversations kept by conversa.",
    )
    from .. import __version__  # here: the package imports nothing of the CLI

    parser.add_argument(
        "--version", action="version", version=f"conversa {__version__}"
    )
    store_help = (
        "store URL: sqlite:///path, sqlite:///:memory: or postgresql://... "
        f"(default: $CONVERSA_STORE or {DEFAULT_STORE})"
    )
    default = os.environ.get("CONVERSA_STORE", DEFAULT_STORE)
    parser.add_argument("--store", default=default, help=store_help)
    # --store is accepted after the command too (`conversa ls --store URL`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", default=argparse.SUPPRESS, help=store_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, help_text: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help_text, description=description, parents=[common]
        )

    def as_json(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--json", action="store_true", help="print one JSON document instead"
        )

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--owner", help="only this owner's conversations")
        p.add_argument(
            "--meta",
            action="append",
            metavar="KEY=VALUE",
            help="metadata equality (repeatable)",
        )

    ls = add("ls", "list conversations, newest first")
    filters(ls)
    ls.add_argument("--limit", type=int, default=50, help="page size (default 50)")
    ls.add_argument("--cursor", help="the next cursor a previous page printed")
    as_json(ls)
    ls.set_defaults(run=_cmd_ls)

    show = add("show", "print a conversation's transcript")
    show.add_argument("id")
    as_json(show)
    show.set_defaults(run=_cmd_show)

    export = add("export", "write conversations as JSONL (or a Markdown transcript)")
    export.add_argument("ids", nargs="*", metavar="ID", help="default: all that match")
    filters(export)
    export.add_argument("-o", "--output", help="file to write (default: stdout)")
    export.add_argument(
        "--format",
        choices=("jsonl", "markdown"),
        default="jsonl",
        help="jsonl (lossless, for import; the default) or markdown (to read)",
    )
    export.set_defaults(run=_cmd_export)

    imp = add("import", "store conversations from a JSONL export")
    imp.add_argument("file", help="the export file, or - for standard input")
    imp.add_argument("ids", nargs="*", metavar="ID", help="only these (default: all)")
    imp.add_argument(
        "--trust",
        action="store_true",
        help="store turns without checking them against the API's rules",
    )
    imp.set_defaults(run=_cmd_import)

    chat = add(
        "chat",
        "talk in a new or an existing conversation",
        "Talk in a terminal: a line is a message (end a line with \\ to go on, or "
        'put one between two lines of """); /help lists the commands, which are '
        "never sent. Exit code 1 if any message or command failed.",
    )
    chat.add_argument("id", nargs="?", help="a conversation to continue")
    chat.add_argument(
        "-c",
        "--continue",
        dest="latest",
        action="store_true",
        help="continue the newest conversation (of --owner, if given)",
    )
    chat.add_argument("--model", help=f"model (default for a new one: {DEFAULT_MODEL})")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--owner", help="owner of a new conversation")
    chat.add_argument(
        "--offline", action="store_true", help="use conversa's fake API (no key)"
    )
    chat.add_argument(
        "--door",
        choices=("anthropic", *_DOORS),
        default="anthropic",
        help="how to reach Claude (default: anthropic, the first-party API); the "
        "others read their settings from the environment (AWS_REGION, "
        "ANTHROPIC_AWS_WORKSPACE_ID, CLOUD_ML_REGION, ANTHROPIC_VERTEX_PROJECT_ID...), "
        "or with --offline are conversa's fake serving as that door",
    )
    chat.set_defaults(run=_cmd_chat)

    stats = add("stats", "tokens, cache read share and cost")
    stats.add_argument("id", nargs="?")
    filters(stats)
    as_json(stats)
    stats.set_defaults(run=_cmd_stats)

    add_batch_parser(add, common)
    add_migrate_parser(add)
    add_encrypt_parsers(add)
    add_erase_parsers(add)
    return parser


class _NoStoreError(ConversaError):
    """A read-only command's store file does not exist."""


class _NoStore:
    """Stands in for a store file that is not there, so none is created.

    The command still checks its arguments first (a usage error stays exit 2);
    its first use of the store is the one-line error.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def close(self) -> None:
        """Nothing was opened."""

    def _refuse(self, *_: object, **__: object) -> Any:
        msg = (
            f"no store at {self._path}: nothing is stored there yet (--store "
            "or CONVERSA_STORE names another; `conversa chat` or "
            "`conversa import` creates one)"
        )
        raise _NoStoreError(msg)

    # By name as well: `isinstance(store, Erasure)` looks at the class (3.12+).
    erase = erase_owner = purge = for_owner = _refuse

    def __getattr__(self, name: str) -> Any:
        # A method that refuses when called: the arguments are evaluated first.
        return self._refuse


def _missing_file(url: str) -> str | None:
    """The path of a SQLite store URL whose file does not exist, else None."""
    if not url.startswith(_SQLITE):
        return None
    path = url.removeprefix(_SQLITE)
    if not path or path == ":memory:" or Path(path).exists():
        return None
    return path


def _error(message: str, code: int) -> int:
    print(f"conversa: error: {message}", file=sys.stderr)
    return code


def main(
    argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None
) -> int:
    """Run the command line with *argv* (default: `sys.argv[1:]`).

    Args:
        argv: the arguments after the program name.
        transport: where API calls go instead of the network or `--offline`'s fake
            (tests pass one fake to several runs, so a batch outlives one command).

    Returns:
        The exit code: 0 success, 1 a conversa error, 2 a usage error.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage or the help
        return exc.code if isinstance(exc.code, int) else 2
    args.make_client = functools.partial(_client, transport=transport)
    missing = _missing_file(args.store) if args.command in _NEEDS_A_STORE else None
    try:
        store = (
            cast(Store, _NoStore(missing))
            if missing
            else open_store(
                args.store,
                migrate=getattr(args, "store_migrate", "auto"),
                encryption=encryption_from_env(),
            )
        )
    except (UsageError, StoreConfigError) as exc:  # a bad URL, a missing driver
        return _error(str(exc), 2)
    except (StoreUnavailableError, StoreCorruptError) as exc:  # they name the store
        return _error(str(exc), 1)
    except (ConversaError, OSError) as exc:
        return _error(f"cannot open store {_safe_url(args.store)!r}: {exc}", 1)
    try:
        code: int = args.run(store, args)
    except UsageError as exc:
        return _error(str(exc), 2)
    except BrokenPipeError:  # `conversa show ID | head`: the reader has gone
        with contextlib.suppress(OSError, ValueError):  # no more "ignored" errors
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _SIGPIPE
    except (ConversaError, OSError) as exc:
        return _error(str(exc), 1)
    finally:
        store.close()
    return code
