"""``forgelens db copy``: DuckDB -> PostgreSQL, resumable, verified by row counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from forgelens.engine.db_copy import copy_store
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.errors import BadInput
from forgelens.store import Store, open_store
from tests.conftest import git

COMPARED = {
    "commits": "SELECT repository_id, sha, message, additions, parents, authored_at, _version "
    "FROM commits ORDER BY sha",
    "commit_files": "SELECT sha, path, additions, deletions, change_type FROM commit_files "
    "ORDER BY sha, path",
    "repositories": "SELECT id, full_name FROM repositories",
    "collection_cursors": "SELECT repository_id, entity, cursor FROM collection_cursors",
}


def _collected_duckdb(tmp_path: Path, make_repo: Any, commits: int = 12) -> Store:
    repo = make_repo("src")
    for i in range(commits):
        (repo / f"f{i % 3}.txt").write_text(f"line {i}\n" * (i + 1))
        (repo / "multi.txt").write_text("x\n" * i)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {i}, with 'quotes' and 100% \"more\"")
    store = open_store(f"duckdb:///{tmp_path / 'src.duckdb'}")
    collect_git(store, [str(repo)], GitCollectOptions(cache_dir=tmp_path / "cache", jobs=1))
    return store


def _assert_same(a: Store, b: Store) -> None:
    for table, sql in COMPARED.items():
        assert a.query(sql) == b.query(sql), table
    for table in ("commits", "commit_files", "git_collection_runs", "repositories"):
        assert a.query(f"SELECT count(*) FROM {table}") == b.query(f"SELECT count(*) FROM {table}")


class _StopAfter:
    """A progress that dies after ``n`` batches, like a copy killed half-way."""

    def __init__(self, n: int) -> None:
        self.left = n

    def start(self, description: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        if n and self.left == 0:
            raise KeyboardInterrupt
        if n:
            self.left -= 1

    def note(self, text: str) -> None:
        pass

    def finish(self) -> None:
        pass


def test_copy_duckdb_to_postgres_is_exact_and_resumable(
    tmp_path: Path, make_repo: Any, pg_url: str
) -> None:
    source = _collected_duckdb(tmp_path, make_repo)
    dest = open_store(pg_url)
    try:
        with pytest.raises(KeyboardInterrupt):
            copy_store(source, dest, tables=["commit_files"], batch_size=5, progress=_StopAfter(2))
        partial = dest.query("SELECT count(*) FROM commit_files")[0][0]
        assert partial == 15  # the three batches committed before the kill survived

        results = {r.table: r for r in copy_store(source, dest, batch_size=5)}
        files = results["commit_files"]
        assert files.source_rows == files.destination_rows == files.copied > partial
        assert all(r.destination_rows == r.source_rows for r in results.values())
        assert results["commits"].status == "copied"
        _assert_same(source, dest)

        again = {r.table: r.status for r in copy_store(source, dest, batch_size=5)}
        assert again["commits"] == "already copied"
        _assert_same(source, dest)
    finally:
        source.close()
        dest.close()


def test_copy_back_to_a_fresh_duckdb_round_trips(
    tmp_path: Path, make_repo: Any, pg_url: str
) -> None:
    source = _collected_duckdb(tmp_path, make_repo, commits=4)
    middle = open_store(pg_url)
    back = open_store(f"duckdb:///{tmp_path / 'back.duckdb'}")
    try:
        copy_store(source, middle)
        copy_store(middle, back)
        _assert_same(source, back)
    finally:
        for s in (source, middle, back):
            s.close()


def test_copy_to_itself_or_unknown_table_is_bad_input(tmp_path: Path) -> None:
    store = open_store(f"duckdb:///{tmp_path / 'a.duckdb'}")
    other = open_store(f"duckdb:///{tmp_path / 'b.duckdb'}")
    try:
        with pytest.raises(BadInput, match="same store"):
            copy_store(store, store)
        with pytest.raises(BadInput, match="unknown table"):
            copy_store(store, other, tables=["nope"])
    finally:
        store.close()
        other.close()


def test_cli_db_copy_prints_verified_counts(tmp_path: Path, make_repo: Any) -> None:
    _collected_duckdb(tmp_path, make_repo, commits=3).close()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forgelens",
            "db",
            "copy",
            "--from",
            f"duckdb:///{tmp_path / 'src.duckdb'}",
            "--to",
            f"duckdb:///{tmp_path / 'dst.duckdb'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "commits" in done.stdout
    assert "copied" in done.stdout
    dst = open_store(f"duckdb:///{tmp_path / 'dst.duckdb'}")
    assert dst.query("SELECT count(*) FROM commits") == [(3,)]
    dst.close()
