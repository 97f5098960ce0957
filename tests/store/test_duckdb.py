from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from forgelens import records
from forgelens.errors import BadInput, StoreLocked
from forgelens.store import Store, open_store
from forgelens.store.schema import MIGRATIONS, TABLES


def _commit(sha: str, message: str = "m") -> records.Commit:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return records.Commit(
        "git:r", sha, "A", "a@x", now, "A", "a@x", now, message, 1, 2, 1, False, ["p"]
    )


def test_every_core_table_exists(store: Store) -> None:
    for name, spec in TABLES.items():
        cols = [r[0] for r in store.query(f"SELECT * FROM {name} LIMIT 0") or []]
        described = [r[0] for r in store.query(f"DESCRIBE {name}")]
        assert cols == [], name
        assert set(spec.column_names) <= set(described), name
        if spec.versioned:  # bookkeeping tables (backfill claims) are plain
            assert {"_version", "_source"} <= set(described), name


def test_migrations_are_recorded_once(store: Store) -> None:
    assert store.applied_migrations() == sorted(n for n, _ in MIGRATIONS)
    assert store.migrate() == []


def test_upsert_is_idempotent_and_dedupes_a_batch(store: Store) -> None:
    store.write_records([_commit("a"), _commit("a"), _commit("b")])
    store.write_records([_commit("a")])
    assert store.query("SELECT sha FROM commits ORDER BY sha") == [("a",), ("b",)]


def test_older_version_never_overwrites_newer(store: Store) -> None:
    store.upsert("commits", [_commit("a", "new")], version=2_000)
    store.upsert("commits", [_commit("a", "old")], version=1_000)
    assert store.query("SELECT message, _version FROM commits") == [("new", 2_000)]
    store.upsert("commits", [_commit("a", "newer")], version=3_000)
    assert store.query("SELECT message FROM commits") == [("newer",)]


def test_transaction_rolls_back_data_and_cursor_together(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.write_records([_commit("a")])
        store.set_cursor("git:r", "commits", "x", None)
        raise RuntimeError("boom")
    assert store.query("SELECT count(*) FROM commits") == [(0,)]
    assert store.get_cursor("git:r", "commits") is None


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
