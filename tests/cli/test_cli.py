"""The ``forgelens`` command as a user runs it: a real process, a real DuckDB file."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from benchmarks.synthetic_repo import build_repo
from typer.testing import CliRunner

from forgelens.cli import app
from forgelens.store import open_store
from tests.conftest import git

CLI = (sys.executable, "-m", "forgelens")


def forgelens(
    *args: str, db: Path, cache: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--db", f"duckdb:///{db}"],
        capture_output=True,
        text=True,
        env={**os.environ, "FORGELENS_CACHE_DIR": str(cache), **(env or {})},
        timeout=120,
        check=False,
    )


def runs(db: Path) -> list[dict[str, Any]]:
    store = open_store(f"duckdb:///{db}", read_only=True)
    try:
        return store.query_dicts("SELECT * FROM git_collection_runs ORDER BY started_at, run_id")
    finally:
        store.close()


def rows(db: Path) -> list[list[tuple[Any, ...]]]:
    """Every commit and file row, _version aside."""
    store = open_store(f"duckdb:///{db}", read_only=True)
    try:
        return [
            store.query(f"SELECT * EXCLUDE (_version) FROM {t} ORDER BY ALL")
            for t in ("commits", "commit_files")
        ]
    finally:
        store.close()


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[(debug|info)\s*\]")


def assert_one_clear_line(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """One ``error:`` line on stderr (info log lines of the run ledger aside), no traceback."""
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not _LOG_LINE.match(ln)]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def small_repo(make_repo: Any) -> Path:
    repo = make_repo("small")
    for n in range(3):
        (repo / f"f{n}.txt").write_text(f"{n}\n" * (n + 1))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"commit {n}")
    return repo


def test_collect_then_rerun_then_query(small_repo: Path, tmp_path: Path) -> None:
    db, cache = tmp_path / "s.duckdb", tmp_path / "cache"
    first = forgelens("collect", f"git:{small_repo}", "--jobs", "1", db=db, cache=cache)
    assert first.returncode == 0, first.stderr
    assert "collection summary" in first.stdout
    again = forgelens("collect", f"git:{small_repo}", db=db, cache=cache)
    assert again.returncode == 0, again.stderr
    assert [(r["status"], r["commits_collected"]) for r in runs(db)] == [
        ("completed", 3),
        ("completed", 0),
    ]
    out = forgelens(
        "query",
        "SELECT count(*) AS n, sum(additions) AS a FROM commits",
        "-f",
        "csv",
        db=db,
        cache=cache,
    )
    assert out.stdout.splitlines() == ["n,a", "3,6"]
    listed = forgelens("runs", "list", "-f", "json", db=db, cache=cache)
    assert listed.returncode == 0
    assert listed.stdout.count('"completed"') == 2


def test_runs_and_db_commands_report_on_the_store(small_repo: Path, tmp_path: Path) -> None:
    db, cache = tmp_path / "r.duckdb", tmp_path / "cache"
    assert forgelens("collect", f"git:{small_repo}", db=db, cache=cache).returncode == 0
    (run,) = runs(db)
    shown = forgelens("runs", "show", run["run_id"], "-f", "json", db=db, cache=cache)
    (row,) = json.loads(shown.stdout)
    assert (row["status"], row["commits_collected"], row["data_source"]) == (
        "completed",
        3,
        "custom_etl",
    )
    assert json.loads(row["settings"])["repositories"] == [str(small_repo)]
    stats = json.loads(forgelens("runs", "stats", "-f", "json", db=db, cache=cache).stdout)
    assert [(s["data_source"], s["total_runs"]) for s in stats] == [("custom_etl", 1)]
    status = forgelens("db", "status", db=db, cache=cache)
    assert status.returncode == 0
    assert "tables known" in status.stdout
    missing = forgelens("runs", "show", "custom_etl-1999-01-01-000000", db=db, cache=cache)
    assert_one_clear_line(missing, "no run", "forgelens runs list")


@pytest.fixture
def shallow_repo(small_repo: Path, tmp_path: Path) -> Path:
    target = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", small_repo.as_uri(), str(target))
    return target


@pytest.mark.parametrize(
    ("make_source", "needles"),
    [
        (lambda tmp, repo: str(tmp / "missing"), ["no such file or directory"]),
        (lambda tmp, repo: str(tmp), ["is not a git repository"]),
        (lambda tmp, repo: str(repo.parent / "empty"), ["no commits yet"]),
        (lambda tmp, repo: str(repo.parent / "shallow"), ["shallow clone", "--unshallow"]),
        (lambda tmp, repo: (tmp / "gone.git").as_uri(), ["cannot clone", "gone.git"]),
    ],
    ids=["missing-path", "not-a-repo", "empty-repo", "shallow-clone", "unreachable-url"],
)
def test_bad_sources_fail_with_one_line_and_no_running_run(
    make_source: Any, needles: list[str], shallow_repo: Path, make_repo: Any, tmp_path: Path
) -> None:
    make_repo("empty")
    plain = tmp_path / "plain"
    plain.mkdir()
    source = make_source(plain, shallow_repo)
    db = tmp_path / "f.duckdb"
    done = forgelens("collect", f"git:{source}", db=db, cache=tmp_path / "cache")
    assert_one_clear_line(done, *needles)
    ledger = runs(db)
    assert [r["status"] for r in ledger] == ["failed"]
    assert ledger[0]["failure_reason"]


def test_store_held_by_another_process_is_named(small_repo: Path, tmp_path: Path) -> None:
    db = tmp_path / "held.duckdb"
    open_store(f"duckdb:///{db}").close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('ready', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        done = forgelens("collect", f"git:{small_repo}", db=db, cache=tmp_path / "c")
        assert_one_clear_line(done, str(db), str(holder.pid))
        assert done.returncode == 8
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout:
            holder.stdout.close()


BIG_COMMITS = 800  # 32 batches of 25: the kill lands well before the end


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(tmp_path_factory.mktemp("big") / "big.git", BIG_COMMITS, paths=200)


def _kill_when_running(proc: subprocess.Popen[str], db: Path) -> None:
    """Wait for the run's first counter flush (a log line), then kill -9 the collector."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if "run progress" in line:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return
    pytest.fail(f"the collection ended before it could be killed (exit {proc.wait()})")


def test_kill_9_then_rerun_equals_an_uninterrupted_run(big_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clean = tmp_path / "clean.duckdb"
    assert forgelens("collect", f"git:{big_repo}", db=clean, cache=cache).returncode == 0

    db = tmp_path / "killed.duckdb"
    proc = subprocess.Popen(
        [*CLI, "collect", f"git:{big_repo}", "--jobs=1", "--batch-size=25", f"--db={db}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "FORGELENS_CACHE_DIR": str(cache),
            "FORGELENS_RUN_FLUSH_SECONDS": "0",
            "LOG_LEVEL": "INFO",  # the progress lines tell the test when to kill
        },
    )
    try:
        _kill_when_running(proc, db)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    (killed,) = runs(db)
    assert killed["status"] == "running"
    assert 0 < killed["commits_collected"] < BIG_COMMITS  # how far it got is on record

    time.sleep(0.1)
    rerun = forgelens("collect", f"git:{big_repo}", db=db, cache=cache)
    assert rerun.returncode == 0, rerun.stderr
    first, second = runs(db)
    assert first["run_id"] == killed["run_id"]
    assert first["status"] == "failed"
    assert "killed" in first["failure_reason"]
    assert second["status"] == "completed"
    assert rows(db) == rows(clean)


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    seen = []
    for path in _commands(typer.main.get_command(app)):
        done = runner.invoke(app, [*path, "--help"], prog_name="forgelens")
        assert done.exit_code == 0, path
        assert re.search(r"Examples?: forgelens ", " ".join(done.output.split())), path
        seen.append(" ".join(path))
    assert {"collect", "query", "demo", "runs list", "runs cleanup", "db migrate"} <= set(seen)


def test_a_command_loads_only_its_own_modules() -> None:
    probe = (
        "import json, sys; from forgelens.cli import main; code = main(['runs', '--help']); "
        "print(json.dumps([code, sorted(m for m in sys.modules if m.startswith("
        "('forgelens.analytics', 'forgelens.service', 'forgelens.cli.', 'fastapi')))]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0
    assert loaded == ["forgelens.cli._common", "forgelens.cli._lazy", "forgelens.cli.runs"]
