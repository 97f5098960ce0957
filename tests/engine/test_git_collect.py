"""Collections over time: parallel jobs, incremental re-runs, --full, force-pushes, filters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens.errors import BadInput, StoreError
from forgelens.store import Store, open_store
from tests.conftest import git
from tests.sources.test_git import (
    collect,
    commit,
    expected_rows,
    mined_rows,
    repo_id,
    same_instants,
)


@pytest.fixture
def rich_repo(make_repo: Any) -> Path:
    from tests.sources.test_git import build_rich_repo

    return build_rich_repo(make_repo("rich"))


def test_jobs_two_gives_exactly_the_rows_of_jobs_one(
    make_repo: Any, rich_repo: Path, tmp_path: Path
) -> None:
    tables = []
    for jobs in (1, 2):
        s = open_store(f"duckdb:///{tmp_path / f'j{jobs}.duckdb'}")
        collect(s, rich_repo, tmp_path, jobs=jobs, batch_size=2)
        tables.append(
            [
                s.query(f"SELECT * EXCLUDE (_version) FROM {t} ORDER BY ALL")
                for t in ("commits", "commit_files")
            ]
        )
        s.close()
    assert tables[0] == tables[1]
    assert len(tables[0][1]) > 10


def test_rerun_mines_only_new_commits(store: Store, rich_repo: Path, tmp_path: Path) -> None:
    first = collect(store, rich_repo, tmp_path)
    assert first.commits == 8
    assert collect(store, rich_repo, tmp_path).commits == 0
    (rich_repo / "later.txt").write_text("later\n")
    commit(rich_repo, "later", n=8)
    again = collect(store, rich_repo, tmp_path)
    assert again.commits == 1
    rid = repo_id(rich_repo)
    want, want_files = expected_rows(rich_repo, rid)
    got, got_files = mined_rows(store, rid)
    same_instants(got, want)
    assert (got, got_files) == (want, want_files)


def test_full_re_mines_idempotently(store: Store, rich_repo: Path, tmp_path: Path) -> None:
    collect(store, rich_repo, tmp_path)
    before = store.query("SELECT * EXCLUDE (_version) FROM commit_files ORDER BY ALL")
    again = collect(store, rich_repo, tmp_path, full=True)
    assert again.commits == 8
    assert store.query("SELECT * EXCLUDE (_version) FROM commit_files ORDER BY ALL") == before
    assert store.query("SELECT count(*) FROM commits") == [(8,)]


def test_force_push_keeps_unreachable_commits(store: Store, make_repo: Any, tmp_path: Path) -> None:
    repo = make_repo("forced")
    for n in range(3):
        (repo / "f.txt").write_text(f"{n}\n")
        commit(repo, f"c{n}", n=n)
    doomed = git(repo, "rev-parse", "HEAD").strip()
    collect(store, repo, tmp_path)
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    (repo / "g.txt").write_text("rewritten\n")
    commit(repo, "rewritten history", n=5)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    assert collect(store, repo, tmp_path).commits == 1
    shas = {r[0] for r in store.query("SELECT sha FROM commits")}
    assert doomed in shas
    assert len(shas) == 4
    assert store.query("SELECT count(*) FROM commit_files WHERE sha = ?", [doomed]) == [(1,)]


def test_since_until_and_branch_select_history(
    store: Store, rich_repo: Path, tmp_path: Path
) -> None:
    rid = repo_id(rich_repo)
    collect(store, rich_repo, tmp_path, branches=["side"])
    side = set(git(rich_repo, "rev-list", "side").split())
    assert {r[0] for r in store.query("SELECT sha FROM commits")} == side
    since, until = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC)
    collect(store, rich_repo, tmp_path, since=since, until=until, full=True, branches=["main"])
    window = set(
        git(
            rich_repo,
            "rev-list",
            "main",
            f"--since={since.isoformat()}",
            f"--until={until.isoformat()}",
        ).split()
    )
    assert window
    assert window - side
    got = {r[0] for r in store.query("SELECT sha FROM commits WHERE repository_id = ?", [rid])}
    assert got == side | window
    with pytest.raises(BadInput, match="nope"):
        collect(store, rich_repo, tmp_path, branches=["nope"])


def test_bulk_load_settings_are_restored_after_a_collection(
    store: Store, rich_repo: Path, tmp_path: Path
) -> None:
    settings = "SELECT current_setting('threads'), current_setting('checkpoint_threshold')"
    before = store.query(settings)
    store.execute("SET threads = 2")
    store.execute("SET checkpoint_threshold = '32MB'")
    collect(store, rich_repo, tmp_path)
    assert store.query(settings) == store.query("SELECT 2, '30.5 MiB'")
    store.execute(f"SET threads = {before[0][0]}")
    store.execute(f"SET checkpoint_threshold = '{before[0][1]}'")


def test_a_bulk_load_into_an_empty_table_never_overwrites_silently(store: Store) -> None:
    """``new_keys`` inserts without looking for stored rows: a repeated key must fail, and
    once the load is over (or into a table that had rows) writes are upserts again."""
    row = {"repository_id": "git:r", "sha": "a" * 40, "path": "p", "additions": 1}
    bulk = store.bulk_load  # type: ignore[attr-defined]  # the fixture is DuckDB
    with bulk(new_keys=["commit_files"]):
        store.upsert("commit_files", [row], version=1)
        with pytest.raises(StoreError):
            store.upsert("commit_files", [{**row, "additions": 2}], version=2)
    store.upsert("commit_files", [{**row, "additions": 3}], version=3)
    with bulk(new_keys=["commit_files"]):  # the table has rows now: an upsert
        store.upsert("commit_files", [{**row, "additions": 4}], version=4)
    assert store.query("SELECT additions FROM commit_files") == [(4,)]


def test_a_windowed_run_leaves_the_rest_of_the_history_to_later_runs(
    store: Store, rich_repo: Path, tmp_path: Path
) -> None:
    """--since/--until mine part of the history below the tips: a later run without the
    window still collects the rest (the cursor used to claim all of it)."""
    since = datetime(2024, 4, 1, tzinfo=UTC)
    until = datetime(2024, 5, 31, tzinfo=UTC)
    windowed = collect(store, rich_repo, tmp_path, since=since, until=until)
    assert 0 < windowed.commits < 8
    assert collect(store, rich_repo, tmp_path, since=since).commits > 0  # the window again
    rest = collect(store, rich_repo, tmp_path)
    assert rest.commits == 8
    rid = repo_id(rich_repo)
    want, want_files = expected_rows(rich_repo, rid)
    got, got_files = mined_rows(store, rid)
    same_instants(got, want)
    assert (got, got_files) == (want, want_files)
    assert collect(store, rich_repo, tmp_path).commits == 0


def test_a_branch_run_keeps_what_was_known_of_the_other_refs(
    store: Store, rich_repo: Path, tmp_path: Path
) -> None:
    assert collect(store, rich_repo, tmp_path).commits == 8
    (rich_repo / "m.txt").write_text("main\n")
    commit(rich_repo, "on main", n=8)
    git(rich_repo, "checkout", "-q", "side")
    (rich_repo / "s.txt").write_text("side\n")
    commit(rich_repo, "on side", n=9)
    git(rich_repo, "checkout", "-q", "main")
    assert collect(store, rich_repo, tmp_path, branches=["main"]).commits == 1
    # only the new side commit: not the side branch's history again
    assert collect(store, rich_repo, tmp_path).commits == 1
    assert collect(store, rich_repo, tmp_path, branches=["side"]).commits == 0
    assert store.query("SELECT count(*) FROM commits") == [(10,)]


class _Killed(Exception):
    pass


class _DiesAfter:
    """A sink that lets ``batches`` commit batches through, then dies: the store holds what
    the run committed so far and the cursor has not moved, as after a kill -9."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def publish(self, records: Any, *, source: str) -> None:
        from forgelens.records import Commit

        if any(isinstance(r, Commit) for r in records):
            if self.left == 0:
                raise _Killed
            self.left -= 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_run_dying_mid_way_after_a_force_push_converges(
    store: Store, make_repo: Any, tmp_path: Path
) -> None:
    def history(s: Store) -> list[list[tuple[Any, ...]]]:
        return [
            s.query(f"SELECT * EXCLUDE (_version) FROM {t} ORDER BY ALL")
            for t in ("commits", "commit_files")
        ]

    repo = make_repo("rewritten")
    for n in range(4):
        (repo / "f.txt").write_text(f"{n}\n")
        commit(repo, f"c{n}", n=n)
    clean = open_store(f"duckdb:///{tmp_path / 'clean.duckdb'}")
    for s in (store, clean):
        assert collect(s, repo, tmp_path).commits == 4
    doomed = set(git(repo, "rev-list", "HEAD~2..HEAD").split())
    git(repo, "reset", "-q", "--hard", "HEAD~2")
    for n in range(4, 10):
        (repo / f"g{n}.txt").write_text(f"{n}\n")
        commit(repo, f"rewritten {n}", n=n)
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    with pytest.raises(_Killed):
        collect(store, repo, tmp_path, batch_size=1, sink=_DiesAfter(3))
    # the fourth batch was committed, then its publish died
    assert store.query("SELECT count(*) FROM commits") == [(4 + 4,)]
    assert collect(store, repo, tmp_path).commits == 6  # nothing of the dead run counted
    assert collect(clean, repo, tmp_path).commits == 6
    assert history(store) == history(clean)
    rid = repo_id(repo)
    want, want_files = expected_rows(repo, rid)
    got, got_files = mined_rows(store, rid)
    assert set(got) == set(want) | doomed
    assert want_files <= got_files
    assert {f[1] for f in got_files} - {f[1] for f in want_files} == doomed
    assert collect(store, repo, tmp_path).commits == 0
    clean.close()


def test_the_miners_columns_are_typed_as_the_store_declares_them() -> None:
    """The git miner (a source: no store import) types its own columns; they must stay those
    of the store's ``commits`` and ``commit_files`` or the upsert would cast or refuse them."""
    from forgelens.sources.git._log import COLUMN_TYPES
    from forgelens.store._arrow import ARROW_TYPES, writable_columns
    from forgelens.store.schema import TABLES

    for name, types in COLUMN_TYPES.items():
        store_types = dict(writable_columns(TABLES[name]))
        for col, typ in types.items():
            assert ARROW_TYPES[store_types[col]] == typ, (name, col)
