"""`conversa rm`, `conversa erase --owner` and `conversa purge --older-than`, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import update

from conversa import ConversationNotFoundError, ConversationRecord, SQLiteStore, Turn
from conversa._cli.erase import parse_age
from conversa._cli.main import main
from conversa._stores.sql.schema import CONVERSATIONS

OLD = datetime(2001, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(name="url")
def _url(tmp_path: Path) -> str:
    """A fresh SQLite store URL."""
    return f"sqlite:///{tmp_path / 'c.db'}"


@pytest.fixture(name="store")
def _store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """The store behind *url*, for seeding and checking."""
    with SQLiteStore(tmp_path / "c.db") as store:
        yield store


def seed(
    store: SQLiteStore, owner: str, turns: int = 2, *, when: datetime | None = None
) -> str:
    """A conversation of *owner* with *turns* turns (last updated *when*, if given)."""
    record = store.create(ConversationRecord(model="m", owner=owner))
    if turns:
        store.append(record.id, [Turn("user", f"t{i}") for i in range(turns)])
    if when is not None:
        with store.engine.begin() as conn:
            conn.execute(
                update(CONVERSATIONS)
                .where(CONVERSATIONS.c.id == record.id)
                .values(updated_at=when)
            )
    return record.id


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line and return its exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rm_erases_the_conversations_named(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """rm ID erases that conversation and prints the counts; the others stay."""
    gone, kept = seed(store, "ann", 3), seed(store, "ann", 1)
    code, out, err = run(capsys, "--store", url, "rm", gone)
    assert (code, out, err) == (0, "erased 1 conversation, 3 turns\n", "")
    with pytest.raises(ConversationNotFoundError):
        store.get(gone)
    assert len(store.read(kept)) == 1


def test_rm_of_an_unknown_id_is_an_error(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """rm names the ids that were not there and exits 1, erasing the ones that were."""
    known = seed(store, "ann")
    code, out, err = run(capsys, "--store", url, "rm", known, "nope")
    assert code == 1
    assert out == "erased 1 conversation, 2 turns\n"
    assert "no conversation 'nope'" in err
    assert run(capsys, "--store", url, "rm", known)[0] == 1


def test_erase_owner_dry_run_then_for_real(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """erase --owner counts with --dry-run, changing nothing, then erases only that owner."""
    ann = [seed(store, "ann", 2), seed(store, "ann", 3)]
    bob = seed(store, "bob", 4)
    code, out, _ = run(capsys, "--store", url, "erase", "--owner", "ann", "--dry-run")
    assert (code, out) == (
        0,
        "would erase 2 conversations, 5 turns (dry run: nothing changed)\n",
    )
    assert len(store.list(owner="ann").items) == 2
    code, out, _ = run(capsys, "--store", url, "erase", "--owner", "ann")
    assert (code, out) == (0, "erased 2 conversations, 5 turns\n")
    assert store.list(owner="ann").items == ()
    for cid in ann:
        with pytest.raises(ConversationNotFoundError):
            store.read(cid)
    assert len(store.read(bob)) == 4
    code, out, _ = run(capsys, "--store", url, "erase", "--owner", "ann")
    assert (code, out) == (0, "erased 0 conversations, 0 turns\n")


def test_purge_older_than(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """purge --older-than 90d takes conversations last updated before then, with --dry-run first."""
    stale = seed(store, "ann", 3, when=OLD)
    recent = seed(store, "ann", 1, when=datetime.now(timezone.utc) - timedelta(days=89))
    args = ("--store", url, "purge", "--older-than", "90d")
    code, out, _ = run(capsys, *args, "--dry-run")
    assert (code, out) == (
        0,
        "would erase 1 conversation, 3 turns (dry run: nothing changed)\n",
    )
    assert len(store.read(stale)) == 3
    assert run(capsys, *args)[:2] == (0, "erased 1 conversation, 3 turns\n")
    with pytest.raises(ConversationNotFoundError):
        store.get(stale)
    assert len(store.read(recent)) == 1
    assert run(capsys, *args)[:2] == (0, "erased 0 conversations, 0 turns\n")


def test_purge_can_be_scoped_to_an_owner(
    url: str, store: SQLiteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """purge --owner takes only that owner's stale conversations."""
    ann, bob = seed(store, "ann", 1, when=OLD), seed(store, "bob", 1, when=OLD)
    code, out, _ = run(
        capsys, "--store", url, "purge", "--older-than", "1d", "--owner", "ann"
    )
    assert (code, out) == (0, "erased 1 conversation, 1 turn\n")
    with pytest.raises(ConversationNotFoundError):
        store.get(ann)
    assert store.get(bob).id == bob


def test_purge_refuses_a_bad_age(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An age that is not a number and a unit is a clear error, exit code 1."""
    code, _, err = run(capsys, "--store", url, "purge", "--older-than", "90 days")
    assert code == 1
    assert "--older-than wants an age like 90d" in err


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_ages_parse(text: str, age: timedelta) -> None:
    """Ages are a whole number and one unit: w, d, h, m or s."""
    assert parse_age(text) == age


def test_erase_needs_an_owner(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """erase without --owner is a usage error (exit code 2)."""
    code, _, err = run(capsys, "--store", url, "erase")
    assert code == 2
    assert "--owner" in err
