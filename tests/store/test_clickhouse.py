"""The ClickHouse store on embedded chDB, and its errors against a (fake) server.

The store tests written for DuckDB that hold on every backend run here too (imported, so they
use this module's ``store`` fixture: a fresh chDB store per test).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pytest

from forgelens import records
from forgelens.engine.runs import cleanup_stuck_runs, start_run
from forgelens.errors import BadInput, StoreError
from forgelens.store import Store, open_store
from forgelens.store.schema import TABLES
from tests.engine.test_runs import (  # noqa: F401 - collected here, on chDB
    test_counters_are_flushed_while_running,
    test_failure_keeps_counters_and_reason,
    test_run_lifecycle_and_seed_format,
    test_seed_000_queries_run_verbatim,
    test_two_runs_in_one_second_get_distinct_ids,
)
from tests.store.test_duckdb import _commit

# Tables, migrations, upserts and versions: the contract suite (test_contract.py) runs them on
# chDB as on every store.


@pytest.fixture
def store(chdb_store: Store) -> Store:
    return chdb_store


def _raw_count(store: Store, table: str) -> int:
    """Rows on disk, duplicates included (reads normally apply FINAL)."""
    return int(store.query(f"SELECT count() FROM {table} SETTINGS final = 0")[0][0])


def test_ledger_has_seed_000_column_types(store: Store) -> None:
    types = dict(
        store.query(
            "SELECT name, type FROM system.columns "
            "WHERE database = currentDatabase() AND table = 'git_collection_runs'"
        )
    )
    assert {k: types[k] for k in ("id", "run_id", "started_at", "completed_at", "status")} == {
        "id": "Int64",
        "run_id": "String",
        "started_at": "DateTime64(3)",
        "completed_at": "Nullable(DateTime64(3))",
        "status": "String",
    }
    for counter in ("repos_processed", "commits_collected", "prs_collected", "api_calls", "errors"):
        assert types[counter] == "Nullable(Int64)"
    assert (types["settings"], types["data_source"], types["_version"]) == (
        "String",
        "String",
        "UInt64",
    )
    default = store.query(
        "SELECT default_kind, default_expression FROM system.columns WHERE database = "
        "currentDatabase() AND table = 'git_collection_runs' AND name = 'data_source'"
    )
    assert default == [("DEFAULT", "''")]


def test_ledger_row_without_data_source_gets_the_default(store: Store) -> None:
    row = {"run_id": "r1", "started_at": datetime.now(UTC), "status": "running", "settings": "{}"}
    store.upsert("git_collection_runs", [row])
    assert store.query("SELECT data_source FROM git_collection_runs") == [("",)]


def test_every_table_is_replacing_merge_tree_on_its_natural_key(store: Store) -> None:
    rows = store.query(
        "SELECT name, engine_full, sorting_key FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
    )
    found = {name: (engine, key) for name, engine, key in rows}
    for name, spec in TABLES.items():
        engine, key = found[name]
        expected = "ReplacingMergeTree(_version)" if spec.versioned else "ReplacingMergeTree "
        assert engine.startswith(expected), name
        assert key == ", ".join(spec.key), name


def test_three_writes_read_back_once_with_newest_values(store: Store) -> None:
    store.execute("SYSTEM STOP MERGES commits")  # keep the three parts until OPTIMIZE
    for version, message in [(1_000, "first"), (2_000, "second"), (3_000, "third")]:
        store.upsert("commits", [_commit(s, message) for s in "abc"], version=version)
    assert _raw_count(store, "commits") == 9  # three parts, not merged yet
    expected = [("a", "third", 3_000), ("b", "third", 3_000), ("c", "third", 3_000)]
    assert store.query("SELECT sha, message, _version FROM commits ORDER BY sha") == expected
    store.execute("SYSTEM START MERGES commits")
    store.optimize("commits")  # type: ignore[attr-defined]
    assert _raw_count(store, "commits") == 3
    assert store.query("SELECT sha, message, _version FROM commits ORDER BY sha") == expected


def test_run_counters_updated_many_times_show_only_the_latest_row(store: Store) -> None:
    store.execute("SYSTEM STOP MERGES git_collection_runs")
    with start_run(store, "insight_github", {"since": "2026-01-01"}, flush_seconds=0) as run:
        for _ in range(20):
            run.add(commits_collected=5, api_calls=1)
            run.flush()
    assert _raw_count(store, "git_collection_runs") > 20
    rows = store.query_dicts("SELECT * FROM git_collection_runs")
    assert len(rows) == 1
    assert (rows[0]["status"], rows[0]["commits_collected"], rows[0]["api_calls"]) == (
        "completed",
        100,
        20,
    )
    assert store.query("SELECT count() FROM bitbucket_collection_runs") == [(1,)]


def test_a_dead_process_run_is_failed_by_cleanup(store: Store) -> None:
    with start_run(store, "custom_etl", {}) as run:
        pass
    row = store.query_dicts("SELECT * FROM git_collection_runs")[0]
    row.update(status="running", completed_at=None, pid=999_999_999, hostname=socket.gethostname())
    store.upsert("git_collection_runs", [row], version=int(row["_version"]) + 1)
    assert cleanup_stuck_runs(store, timedelta(hours=2)) == [run.run_id]
    rows = store.query_dicts("SELECT status, failure_reason FROM git_collection_runs")
    assert len(rows) == 1
    assert rows[0]["status"] == "failed"
    assert "ended without finishing" in rows[0]["failure_reason"]


def test_arrow_upsert_without_some_columns_keeps_the_stored_ones(store: Store) -> None:
    store.upsert("commits", [_commit("a", "old")], version=1_000)
    patch = pa.table({"repository_id": ["git:r"], "sha": ["a"], "message": ["new"]})
    store.upsert("commits", patch, version=2_000)
    assert store.query("SELECT message, author_name, additions FROM commits") == [("new", "A", 1)]


def test_timestamps_round_trip_as_utc_and_parameters_are_quoted(store: Store) -> None:
    store.write_records([_commit("a", "it's a 'quote' \\ and ?")])
    rows = store.query(
        "SELECT message, committed_at FROM commits WHERE message = ? AND committed_at = ?",
        ["it's a 'quote' \\ and ?", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)],
    )
    assert rows == [("it's a 'quote' \\ and ?", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))]
    assert store.query("SELECT count() FROM commits WHERE sha = ?", ["x' OR '1'='1"]) == [(0,)]
    with pytest.raises(StoreError, match="more parameters"):
        store.query("SELECT 1", [1])


def test_a_row_without_its_key_is_refused(store: Store) -> None:
    rows = pa.table({"repository_id": ["git:r"], "sha": pa.array([None], pa.string())})
    with pytest.raises(StoreError, match="'sha'"):
        store.upsert("commits", rows)


def _millis(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Seed 000's DateTime64(3) keeps milliseconds: what a copy through ClickHouse keeps."""
    return [
        {
            k: v.replace(microsecond=v.microsecond // 1000 * 1000) if isinstance(v, datetime) else v
            for k, v in row.items()
        }
        for row in rows
    ]


# DuckDB 2's DB-API Arrow reader warns about a copy (the DuckDB store's business, not this one's)
@pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result")
def test_copy_duckdb_to_chdb_and_back(store: Store, tmp_path: Path) -> None:
    source = open_store(f"duckdb:///{tmp_path / 'src.duckdb'}")
    back = open_store(f"duckdb:///{tmp_path / 'back.duckdb'}")
    try:
        source.write_records([_commit("a"), _commit("b")])
        source.write_records([records.CommitFile("git:r", "a", "x.py", None, 3, "added")])
        with start_run(source, "custom_etl", {"since": "2026-01-01"}) as run:
            run.add(commits_collected=2)
        for a, b in [(source, store), (store, back)]:
            for table in TABLES:
                for batch in a.iter_batches(f"SELECT * FROM {table}", batch_size=1):
                    b.upsert(table, pa.Table.from_batches([batch]))
        for table, spec in TABLES.items():
            sql = (
                f"SELECT * EXCLUDE (id) FROM {table}"
                if "id" in spec.column_names
                else (f"SELECT * FROM {table}")
            )
            order = [(k, "ascending") for k in spec.key]
            want = _millis(source.query_arrow(sql).sort_by(order).to_pylist())
            assert back.query_arrow(sql).sort_by(order).to_pylist() == want, table
        assert store.query("SELECT run_id, commits_collected FROM git_collection_runs") == [
            (run.run_id, 2)
        ]
    finally:
        source.close()
        back.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("clickhouse://user:pw@:8123/db", "malformed"),
        ("clickhouse://user:pw@host:http/db", "malformed"),
        ("clickhouse://user:pw@host:8123/a/b", "malformed"),
        ("clickhouse://host/bad-name", "database name"),
        ("clickhouse://host/db?compress=zstd", "unknown ClickHouse URL option"),
        ("chdb://", "names a directory"),
        ("chdb://host/dir", "names a directory"),
    ],
)
def test_malformed_urls_say_how_to_write_them(url: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        open_store(url)


def test_a_second_chdb_directory_in_one_process_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="one directory at a time"):
        open_store(f"chdb:///{tmp_path / 'other'}")
    other_db = open_store(f"chdb:///{tmp_path / 'chdb'}?database=second")
    try:
        assert other_db.query("SELECT count() FROM commits") == [(0,)]
    finally:
        other_db.close()
    assert store.query("SELECT currentDatabase()") == [("forgelens",)]


def _fake_clickhouse(code: int, name: str, status: int) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = f"Code: {code}. DB::Exception: refused. ({name}) (version 25.8.1.1)\n".encode()
            self.send_response(status)
            self.send_header("X-ClickHouse-Exception-Code", str(code))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def refusing_server() -> Iterator[int]:
    yield from _fake_clickhouse(516, "AUTHENTICATION_FAILED", 516)


@pytest.fixture
def no_database_server() -> Iterator[int]:
    yield from _fake_clickhouse(81, "UNKNOWN_DATABASE", 404)


def test_refused_credentials_say_so_without_the_password(refusing_server: int) -> None:
    with pytest.raises(StoreError, match="refused user 'ann'") as err:
        open_store(f"clickhouse://ann:s3cret-pw@127.0.0.1:{refusing_server}/analytics")
    assert "s3cret-pw" not in str(err.value)


def test_missing_database_says_to_create_it(no_database_server: int) -> None:
    with pytest.raises(StoreError, match="CREATE DATABASE nope"):
        open_store(f"clickhouse://ann:pw@127.0.0.1:{no_database_server}/nope")


def test_nothing_listening_says_so() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError, match="cannot reach ClickHouse"):
        open_store(f"clickhouse://ann:pw@127.0.0.1:{port}/db")


def test_cli_migrates_and_queries_a_chdb_store(tmp_path: Path) -> None:
    """As a user runs it: each command its own process (chDB holds one directory per process)."""
    import subprocess
    import sys

    url = f"chdb:///{tmp_path / 'cli'}"

    def forgelens(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "forgelens", *args, "--db", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = forgelens("db", "migrate")
    assert "0001_core_tables" in first
    assert "applied 0 migration(s)" in forgelens("db", "migrate")
    out = forgelens("query", "SELECT count() AS n FROM git_collection_runs", "-f", "csv")
    assert out.split() == ["n", "0"]


def test_backfill_is_refused_with_the_supported_stores_named(store: Store) -> None:
    """Backfill claims need a compare-and-set UPDATE that ClickHouse lacks: a clear refusal
    before anything is written, not an engine error half-way."""
    from forgelens.engine._backfill_state import resume
    from forgelens.engine.backfill import BackfillOptions, backfill

    with pytest.raises(BadInput, match=r"DuckDB .*PostgreSQL .*db copy"):
        backfill(store, BackfillOptions(max_chunks=1))
    with pytest.raises(BadInput, match="compare-and-set"):
        resume(store, "github:o/r", datetime.now(UTC))
    assert store.query("SELECT count() FROM backfill_state")[0][0] == 0
    assert store.query("SELECT count() FROM git_collection_runs")[0][0] == 0
