"""A store's capabilities say what its SQL really does: the engine and the analytics choose their
way of writing by them (never by the dialect's name), so a flag that lies breaks them. Each
flag is checked against the engine it describes, on DuckDB, PostgreSQL and chDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from forgelens.errors import StoreError
from forgelens.store import Store, is_single_writer

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _claim(store: Store, login: str) -> list[tuple[object, ...]]:
    return store.query(
        "INSERT INTO identities (source, login, identity, is_bot, _version) "
        "VALUES ('github', ?, 'i', FALSE, 1) ON CONFLICT DO NOTHING RETURNING login",
        [login],
    )


def test_compare_and_set_means_a_second_claim_gets_nothing(every_store: Store) -> None:
    if every_store.capabilities.compare_and_set:
        assert _claim(every_store, "ann") == [("ann",)]
        assert _claim(every_store, "ann") == []
    else:
        with pytest.raises(StoreError):
            _claim(every_store, "ann")


def test_update_from_means_update_from_a_work_table_runs(every_store: Store) -> None:
    every_store.upsert(
        "identities", [{"source": "github", "login": "ann", "identity": "i", "is_bot": False}]
    )
    update = (
        "UPDATE identities SET is_bot = n.bot FROM (SELECT 'ann' AS who, TRUE AS bot) n "
        "WHERE identities.login = n.who"
    )
    if every_store.capabilities.update_from:
        every_store.execute(update)
        assert every_store.query("SELECT is_bot FROM identities") == [(True,)]
    else:
        with pytest.raises(StoreError):
            every_store.execute(update)


def test_final_reads_means_inserting_a_key_again_replaces_it(every_store: Store) -> None:
    """What ``analytics._sync.write_changed`` relies on to skip ``UPDATE`` on such a store."""
    insert = (
        "INSERT INTO identities (source, login, identity, is_bot, _version) "
        "VALUES ('github', 'ann', ?, FALSE, ?)"
    )
    every_store.execute(insert, ["old", 1])
    if every_store.capabilities.final_reads:
        every_store.execute(insert, ["new", 2])
        assert every_store.query("SELECT identity FROM identities") == [("new",)]
    else:  # a primary key refuses the second row
        with pytest.raises(StoreError):
            every_store.execute(insert, ["new", 2])
        assert every_store.query("SELECT identity FROM identities") == [("old",)]


@pytest.mark.parametrize(
    ("url", "single"),
    [
        ("duckdb:///x.duckdb", True),
        ("./team.duckdb", True),
        ("forgelens.db", True),
        ("postgresql://h/db", False),
        ("chdb:///dir", False),
        ("clickhouse://h:8123/db", False),
    ],
)
def test_only_an_embedded_duckdb_file_is_single_writer(url: str, single: bool) -> None:
    assert is_single_writer(url) is single


def test_transactions_means_a_failed_block_leaves_nothing(every_store: Store) -> None:
    row = {"source": "github", "login": "ann", "identity": "i", "is_bot": False}
    with pytest.raises(RuntimeError), every_store.transaction():
        every_store.upsert("identities", [row])
        raise RuntimeError("boom")
    left = every_store.query("SELECT count(*) FROM identities")[0][0]
    assert left == (0 if every_store.capabilities.transactions else 1)
