"""The store contract: every backend passes the same assertions (DuckDB, real PostgreSQL and
embedded ClickHouse), where their capabilities differ as ``Store.capabilities`` says.

``every_store`` (tests/conftest.py) runs a test once per backend; use it for any test whose SQL
must work on every store (``any_store``: DuckDB and PostgreSQL only).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from forgelens import records
from forgelens.errors import StoreError
from forgelens.store import Store
from forgelens.store.schema import MIGRATIONS, TABLES
from tests.engine.test_runs import SEED_QUERIES

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _commit(sha: str, message: str = "m", repo: str = "git:r") -> records.Commit:
    return records.Commit(
        repo, sha, "A", "a@x", NOW, "A", "a@x", NOW, message, 1, 2, 1, False, ["p"]
    )


def test_every_backend_implements_the_store_protocol(every_store: Store) -> None:
    assert isinstance(every_store, Store)
    assert every_store.dialect in ("duckdb", "postgres", "clickhouse")


def test_every_table_exists_with_its_columns(every_store: Store) -> None:
    for name, spec in TABLES.items():
        columns = every_store.query_arrow(f"SELECT * FROM {name} LIMIT 0").column_names
        assert set(spec.column_names) <= set(columns), name
        if spec.versioned:  # bookkeeping tables (backfill claims) are plain
            assert {"_version", "_source"} <= set(columns), name


def test_migrations_are_recorded_once(every_store: Store) -> None:
    assert every_store.applied_migrations() == sorted(n for n, _ in MIGRATIONS)
    assert every_store.migrate() == []


def test_upsert_is_idempotent_and_dedupes_a_batch(every_store: Store) -> None:
    every_store.write_records([_commit("a"), _commit("a"), _commit("b")])
    every_store.write_records([_commit("a")])
    assert every_store.query("SELECT sha FROM commits ORDER BY sha") == [("a",), ("b",)]


def test_newest_row_of_a_batch_wins(every_store: Store) -> None:
    rows = [
        {"repository_id": "git:r", "entity": "commits", "cursor": "old", "_version": 1},
        {"repository_id": "git:r", "entity": "commits", "cursor": "new", "_version": 3},
        {"repository_id": "git:r", "entity": "commits", "cursor": "mid", "_version": 2},
    ]
    every_store.upsert("collection_cursors", rows)
    assert every_store.get_cursor("git:r", "commits") == "new"


def test_older_version_never_overwrites_newer(every_store: Store) -> None:
    every_store.upsert("commits", [_commit("a", "new")], version=2_000)
    every_store.upsert("commits", [_commit("a", "old")], version=1_000)
    assert every_store.query("SELECT message, _version FROM commits") == [("new", 2_000)]
    every_store.upsert("commits", [_commit("a", "newer")], version=3_000)
    assert every_store.query("SELECT message FROM commits") == [("newer",)]


def test_transaction_rolls_back_data_and_cursor_together(every_store: Store) -> None:
    with pytest.raises(RuntimeError), every_store.transaction():
        every_store.write_records([_commit("a")])
        every_store.set_cursor("git:r", "commits", "x", None)
        raise RuntimeError("boom")
    if every_store.capabilities.transactions:
        assert every_store.query("SELECT count(*) FROM commits") == [(0,)]
        assert every_store.get_cursor("git:r", "commits") is None
    else:  # each write stood on its own; writing them again converges to the same rows
        every_store.write_records([_commit("a")])
        every_store.set_cursor("git:r", "commits", "x", None)
        assert every_store.query("SELECT count(*) FROM commits") == [(1,)]
        assert every_store.get_cursor("git:r", "commits") == "x"


def test_nested_transactions_commit_with_the_outermost(every_store: Store) -> None:
    with every_store.transaction():
        with every_store.transaction():
            every_store.write_records([_commit("a")])
        every_store.set_cursor("git:r", "commits", "tip", "run-1")
    assert every_store.query("SELECT count(*) FROM commits") == [(1,)]
    assert every_store.get_cursor("git:r", "commits") == "tip"
    every_store.set_cursor("git:r", "commits", "tip2", "run-2")
    assert every_store.get_cursor("git:r", "commits") == "tip2"


def test_json_nulls_and_timestamps_round_trip(every_store: Store) -> None:
    f = records.CommitFile("git:r", "a", "img.png", None, None, "added")
    every_store.write_records([f, _commit("a")])
    assert every_store.query("SELECT additions, deletions FROM commit_files") == [(None, None)]
    parents, authored = every_store.query("SELECT parents, authored_at FROM commits")[0]
    assert json.loads(parents) == ["p"]
    assert authored == NOW
    assert authored.utcoffset() is not None


def test_text_with_quotes_commas_newlines_and_empty_strings(every_store: Store) -> None:
    message = 'fix: "quoted", comma\nsecond line\\ backslash, ünïcode'
    every_store.write_records([_commit("a", message), _commit("b", "")])
    assert every_store.query("SELECT message FROM commits ORDER BY sha") == [(message,), ("",)]


def test_placeholders_and_percent_literals(every_store: Store) -> None:
    every_store.write_records([_commit("abc"), _commit("abd"), _commit("xyz")])
    got = every_store.query(
        "SELECT sha FROM commits WHERE sha LIKE 'ab%' AND repository_id = ? ORDER BY sha",
        ["git:r"],
    )
    assert got == [("abc",), ("abd",)]
    dicts = every_store.query_dicts("SELECT sha, files_changed FROM commits WHERE sha = ?", ["xyz"])
    assert dicts == [{"sha": "xyz", "files_changed": 1}]


def test_arrow_upsert_and_streamed_reads(every_store: Store) -> None:
    n = 25
    table = pa.table(
        {
            "repository_id": ["git:r"] * n,
            "sha": [f"s{i:02d}" for i in range(n)],
            "path": ["a.py"] * n,
            "additions": pa.array(range(n), pa.int64()),
            "deletions": pa.array([None] * n, pa.int64()),
            "change_type": ["modified"] * n,
            "old_path": pa.array([None] * n, pa.string()),
            "_version": pa.array([5] * n, pa.int64()),
            "_source": ["git"] * n,
        }
    )
    assert every_store.upsert("commit_files", table) == n
    batches = list(
        every_store.iter_batches(
            "SELECT sha, additions FROM commit_files ORDER BY sha", batch_size=10
        )
    )
    assert [b.num_rows for b in batches] == [10, 10, 5]
    streamed = pa.Table.from_batches(batches)
    assert streamed.column("sha").to_pylist() == [f"s{i:02d}" for i in range(n)]
    assert streamed.column("additions").to_pylist() == list(range(n))
    empty = every_store.query_arrow("SELECT sha, additions FROM commit_files WHERE sha = 'none'")
    assert empty.num_rows == 0
    assert empty.schema.field("additions").type == pa.int64()


def test_unknown_table_is_a_store_error(every_store: Store) -> None:
    with pytest.raises(StoreError, match="unknown table"):
        every_store.upsert("no_such_table", [{"a": 1}])


def test_run_ledger_works(every_store: Store) -> None:
    from forgelens.engine.runs import run_settings, start_run

    with start_run(every_store, "custom_etl", run_settings()) as run:
        run.add(commits_collected=7)
    rows = every_store.query("SELECT status, commits_collected FROM git_collection_runs")
    assert rows == [("completed", 7)]


@pytest.mark.parametrize("index", range(len(SEED_QUERIES)))
def test_seed_000_queries_run_verbatim_on_every_store(every_store: Store, index: int) -> None:
    from forgelens.engine.runs import run_settings, start_run

    with start_run(every_store, "insight_github", run_settings(since="2026-01-01")) as run:
        run.add(commits_collected=4, api_calls=2, prs_collected=1)
    rows = every_store.query(SEED_QUERIES[index].rstrip().rstrip(";"))
    if "commits_per_call" in SEED_QUERIES[index]:
        assert float(rows[0][5]) == 2.0
    if "JSONExtractString" in SEED_QUERIES[index]:
        assert rows[0][1:] == ("2026-01-01", "all", False)


def test_question_marks_inside_literals_are_not_placeholders(every_store: Store) -> None:
    every_store.write_records([_commit("a", "why?"), _commit("b", "no")])
    got = every_store.query("SELECT sha FROM commits WHERE message = 'why?' AND sha = ?", ["a"])
    assert got == [("a",)]


LATE_COLUMNS = [  # (migration, table, column, a record that fills it, its key column)
    (
        "0021_comment_tombstones",
        "pr_comments",
        "deleted_at",
        records.Comment("git:r", 1, "c1", "a", "body", NOW, deleted_at=NOW),
        "comment_id",
    ),
    (
        "0023_pr_commit_patch_set",
        "pr_commits",
        "patch_set",
        records.PrCommit("gerrit:p", 1, "c1", patch_set=3),
        "sha",
    ),
]


@pytest.mark.parametrize(("name", "table", "column", "record", "key"), LATE_COLUMNS)
def test_a_store_made_before_a_column_existed_gains_it(
    every_store: Store, name: str, table: str, column: str, record: Any, key: str
) -> None:
    """Stores from before a column get it from its migration (idempotent): ``deleted_at`` on
    comments (0021), a Gerrit patch set's number on PR commits (0023)."""
    every_store.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    add = dict(MIGRATIONS)[name]
    add(every_store)  # type: ignore[arg-type]
    add(every_store)  # type: ignore[arg-type]
    every_store.write_records([record])
    want = [("c1", getattr(record, column))]
    assert every_store.query(f"SELECT {key}, {column} FROM {table}") == want


def test_a_store_from_before_pr_assignees_gains_them(every_store: Store) -> None:
    """``assignees`` and ``requested_reviewers`` of pull requests come by migration 0022."""
    for column in ("assignees", "requested_reviewers"):
        every_store.execute(f"ALTER TABLE pull_requests DROP COLUMN {column}")
    add = dict(MIGRATIONS)["0022_pr_assignees"]
    add(every_store)  # type: ignore[arg-type]
    add(every_store)  # type: ignore[arg-type]
    pr = records.PullRequest(
        "git:r", 1, "t", "open", NOW, NOW, assignees=["ann", "Copilot"], requested_reviewers=[]
    )
    every_store.write_records([pr])
    got = every_store.query("SELECT assignees, requested_reviewers FROM pull_requests")
    assert [tuple(json.loads(v) if isinstance(v, str) else v for v in row) for row in got] == [
        (["ann", "Copilot"], [])
    ]
