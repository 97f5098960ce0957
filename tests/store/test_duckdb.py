from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forgelens import records
from forgelens.errors import BadInput, StoreError, StoreLocked
from forgelens.store import Store, open_store


def _commit(sha: str, message: str = "m") -> records.Commit:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return records.Commit(
        "git:r", sha, "A", "a@x", now, "A", "a@x", now, message, 1, 2, 1, False, ["p"]
    )


# Tables, migrations, upserts, versions and rollback: the contract suite (test_contract.py)
# runs them on DuckDB as on every store.


def test_json_and_null_line_counts_round_trip(store: Store) -> None:
    f = records.CommitFile("git:r", "a", "img.png", None, None, "added")
    store.write_records([f])
    assert store.query("SELECT additions, deletions FROM commit_files") == [(None, None)]
    store.write_records([_commit("a")])
    assert store.query("SELECT parents->>'$[0]' FROM commits") == [("p",)]


def test_store_held_by_another_process_says_who(tmp_path: Path) -> None:
    db = tmp_path / "locked.duckdb"
    open_store(f"duckdb:///{db}").close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({str(db)!r}); print('ready', flush=True); "
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked) as err:
            open_store(f"duckdb:///{db}")
        assert f"PID {holder.pid}" not in str(err.value)  # rephrased, not the raw text
        assert str(holder.pid) in str(err.value)
        assert "PostgreSQL" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()


def test_unknown_url_is_bad_input() -> None:
    with pytest.raises(BadInput, match="unknown store URL"):
        open_store("mysql://x")


def test_read_only_store_must_exist(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="forgelens collect"):
        open_store(f"duckdb:///{tmp_path / 'none.duckdb'}", read_only=True)


def test_a_fresh_bulk_load_inserts_plainly_and_never_overwrites(store: Store) -> None:
    """``fresh`` tables get plain inserts whatever they hold (no anti-join, no dedupe): a new
    key lands beside the stored ones, a stored or repeated key fails on a keyed table; after
    the load, writes are upserts again."""
    row = {"repository_id": "git:r", "deployment_id": "d1", "environment": "p"}
    store.upsert("deployments", [row], version=1)
    with store.bulk_load(fresh=["deployments"]):
        store.upsert("deployments", [{**row, "deployment_id": "d2"}], version=2)
        with pytest.raises(StoreError):
            store.upsert("deployments", [{**row, "environment": "q"}], version=3)
    with store.bulk_load(fresh=["deployments"]), pytest.raises(StoreError):
        two = [{**row, "deployment_id": "d3"}, {**row, "deployment_id": "d3", "environment": "q"}]
        store.upsert("deployments", two, version=4)
    store.upsert("deployments", [{**row, "environment": "r"}], version=5)
    got = store.query("SELECT deployment_id, environment FROM deployments ORDER BY 1")
    assert got == [("d1", "r"), ("d2", "p")]


def test_snapshot_tables_lose_their_key_index_and_keep_rows_and_ids(tmp_path: Path) -> None:
    """Migration 0095: a store made with the snapshot tables' primary-key index gets them
    without it, rows and ids kept, and later inserts still draw ids from the same sequence."""
    from dataclasses import replace

    from forgelens.store.schema import TABLES
    from forgelens.store.sql import create_table_sql, drop_key_index_sql

    store = open_store(f"duckdb:///{tmp_path / 'k.duckdb'}")
    try:
        spec = TABLES["author_file_ownership"]
        keyed = replace(spec, key_index=True)
        store.execute("DROP TABLE author_file_ownership")
        for stmt in create_table_sql("duckdb", keyed):
            store.execute(stmt)

        def pk() -> list[tuple[str]]:
            return store.query(
                "SELECT constraint_type FROM duckdb_constraints() "
                "WHERE table_name = 'author_file_ownership' AND constraint_type = 'PRIMARY KEY'"
            )

        assert pk()
        insert = (
            "INSERT INTO author_file_ownership (username, repo_name, window_days, end_date, "
            "file_path, lines_owned) VALUES (?, 'o/r', 7, DATE '2026-01-01', ?, ?)"
        )
        store.execute(insert, ["b", "x.py", 2])
        store.execute(insert, ["a", "y.py", 1])
        before = store.query("SELECT id, username, lines_owned FROM author_file_ownership")
        with store.transaction():
            for stmt in drop_key_index_sql("duckdb", spec):
                store.execute(stmt)
        assert not pk()
        after = store.query("SELECT id, username, lines_owned FROM author_file_ownership")
        assert sorted(after) == sorted(before)
        store.execute(insert, ["c", "z.py", 3])
        ids = [r[0] for r in store.query("SELECT id FROM author_file_ownership ORDER BY id")]
        assert len(set(ids)) == 3
        assert drop_key_index_sql("postgres", spec) == []  # PostgreSQL keeps its key
    finally:
        store.close()
