"""Past one database server: hash-partitioned turns, and a schema a distributed PostgreSQL can shard.

`turn_partitions=N` (or `conversa migrate --turn-partitions N`), chosen when the
migrations create the tables, makes `conversa_turns` hash-partitioned by
conversation id; the whole store contract runs on such a schema. The key audit
checks what Citus needs to shard every table on the conversation id.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from conversa import (
    ConversationRecord,
    InvalidInputError,
    PostgresStore,
    SQLiteStore,
)
from conversa._cli.main import main
from conversa.testing.store_contract import StoreContract
from tests.stores.helpers import fresh_pg_schema, user

#: The turn id's unique key: on PostgreSQL it leads with the turn id (migration 4).
TURN_ID = "uq_conversa_turns_turn_id"

pytestmark = pytest.mark.postgres


@pytest.fixture(name="partitioned_url", scope="session")
def _partitioned_url(pg_server: str) -> Iterator[str]:
    """A schema whose turns table is hash-partitioned 8 ways, for the session."""
    with fresh_pg_schema(pg_server) as url:
        PostgresStore(url, turn_partitions=8).close()
        yield url


class TestPartitionedPostgresStore(StoreContract):
    """PostgresStore keeps the contract when conversa_turns is hash-partitioned."""

    @pytest.fixture
    async def store(self, partitioned_url: str) -> AsyncIterator[PostgresStore]:
        """A PostgresStore on the partitioned schema."""
        store = PostgresStore(partitioned_url)
        yield store
        await store.aclose()


def _partitions(store: PostgresStore) -> tuple[str | None, list[str]]:
    with store.engine.connect() as conn:
        strategy = conn.execute(
            text(
                "SELECT partstrat FROM pg_partitioned_table "
                "WHERE partrelid = to_regclass('conversa_turns')"
            )
        ).scalar()
        children = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                "ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('conversa_turns') "
                "ORDER BY c.relname"
            )
        ).scalars()
        return strategy, list(children)


def test_turns_are_hash_partitioned_and_a_conversation_stays_in_one(
    partitioned_url: str,
) -> None:
    """8 hash partitions by conversation id; each conversation's turns sit in one of them."""
    with PostgresStore(partitioned_url) as store:
        assert _partitions(store) == (
            "h",
            [f"conversa_turns_p{i:03d}" for i in range(8)],
        )
        ids = [store.create(ConversationRecord(model="m")).id for _ in range(20)]
        for cid in ids:
            store.append(cid, [user(f"{cid} {i}") for i in range(3)])
        with store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT conversation_id, count(DISTINCT tableoid) FROM conversa_turns "
                    "WHERE conversation_id = ANY(:ids) GROUP BY conversation_id"
                ),
                {"ids": ids},
            ).all()
            used = conn.execute(
                text(
                    "SELECT count(DISTINCT tableoid) FROM conversa_turns "
                    "WHERE conversation_id = ANY(:ids)"
                ),
                {"ids": ids},
            ).scalar()
    assert sorted(n for _, n in rows) == [1] * 20
    assert used is not None
    assert used > 1


def test_a_send_reads_one_partition(partitioned_url: str) -> None:
    """The window read of one conversation is pruned to its partition."""
    with PostgresStore(partitioned_url) as store:
        record = store.create(ConversationRecord(model="m"))
        store.append(record.id, [user("hi")])
        with store.engine.connect() as conn:
            plan = "\n".join(
                conn.execute(
                    text(
                        "EXPLAIN SELECT seq, tokens FROM conversa_turns "
                        "WHERE conversation_id = :c ORDER BY seq DESC LIMIT 26"
                    ),
                    {"c": record.id},
                ).scalars()
            )
    assert len(set(re.findall(r"conversa_turns_p(\d{3})", plan))) == 1, plan


def test_the_cli_partitions_at_migration_time(
    fresh_pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`conversa migrate --turn-partitions 4` (and its --sql) make a partitioned table."""
    assert main(["migrate", fresh_pg_url, "--sql", "--turn-partitions", "4"]) == 0
    script = capsys.readouterr().out
    assert "PARTITION BY HASH (conversation_id)" in script
    assert script.count("PARTITION OF conversa_turns") == 4
    assert main(["migrate", fresh_pg_url, "--turn-partitions", "4"]) == 0
    with PostgresStore(fresh_pg_url, migrate="check") as store:
        assert _partitions(store)[0] == "h"
        assert len(_partitions(store)[1]) == 4


def test_an_existing_plain_table_is_left_as_it_is(fresh_pg_url: str) -> None:
    """turn_partitions only applies when the migrations create the table."""
    PostgresStore(fresh_pg_url).close()
    with PostgresStore(fresh_pg_url, turn_partitions=4) as store:
        assert _partitions(store) == (None, [])


@pytest.mark.parametrize("n", [0, 1, 1025])
def test_a_bad_partition_count_is_refused(fresh_pg_url: str, n: int) -> None:
    """turn_partitions is 2 to 1024."""
    with pytest.raises(InvalidInputError, match="turn_partitions"):
        PostgresStore(fresh_pg_url, turn_partitions=n)


def test_sqlite_has_no_partitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking SQLite for partitions is refused, naming PostgreSQL; nothing is created."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["migrate", url, "--turn-partitions", "2"]) == 1
    assert "turn_partitions needs PostgreSQL" in capsys.readouterr().err
    with SQLiteStore(tmp_path / "c.db", migrate="off") as store:
        assert inspect(store.engine).get_table_names() == []


def test_every_key_holds_the_shard_key(pg_url: str) -> None:
    """The Citus audit: every key leads with the conversation id, every unique key includes it.

    conversa_turns is sharded on conversation_id and conversa_conversations on id (co-located);
    the only exceptions are the listing indexes, which are not unique (Citus allows
    those on any column) and serve the one query that spans conversations, a
    bounded, paged listing, and the turn id's unique key, which leads with the
    turn id (migration 4) and includes the shard key, as Citus requires of a
    unique key. conversa_migrations is small and would be a reference table.
    """
    with PostgresStore(pg_url) as store:
        insp = inspect(store.engine)
        shard = {
            "conversa_turns": "conversation_id",
            "conversa_conversations": "id",
        }
        for table, key in shard.items():
            pk = insp.get_pk_constraint(table)["constrained_columns"]
            assert pk[0] == key, (table, pk)
            for unique in insp.get_unique_constraints(table):
                assert key in unique["column_names"], (table, unique)
            for index in insp.get_indexes(table):
                if index["unique"]:
                    assert key in index["column_names"], (table, index)
                if table != "conversa_conversations" and index["name"] != TURN_ID:
                    assert index["column_names"][0] == key, (table, index)
            for fk in insp.get_foreign_keys(table):
                assert fk["constrained_columns"] == [key], (table, fk)
                assert fk["referred_columns"] == [shard[fk["referred_table"]]]
        (turn_id,) = [
            u
            for u in insp.get_unique_constraints("conversa_turns")
            if u["name"] == TURN_ID
        ]
        assert turn_id["column_names"] == ["turn_id", "conversation_id"]
        listing = {i["name"] for i in insp.get_indexes("conversa_conversations")}
        assert listing == {
            "ix_conversa_conversations_owner",
            "ix_conversa_conversations_created",
        }


def test_sqlite_store_opens_unpartitioned(tmp_path: Path) -> None:
    """SQLite keeps its plain tables (no option, no change)."""
    with SQLiteStore(tmp_path / "c.db") as store:
        record = store.create(ConversationRecord(model="m"))
        assert store.append(record.id, [user()])[0].seq == 1
