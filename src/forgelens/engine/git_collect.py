"""Collect local or mirrored git repositories into a store (``data_source = custom_etl``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import pyarrow as pa

from forgelens.config import Settings
from forgelens.engine.progress import NullProgress, Progress
from forgelens.engine.runs import Run, next_version, run_settings, start_run
from forgelens.logs import get_logger
from forgelens.sinks import Sink
from forgelens.sources import git
from forgelens.store import ARROW_TYPES, Store, writable_columns
from forgelens.store.schema import TABLES

log = get_logger(__name__)

CURSOR_ENTITY = "commits"
_MAX_VANISHED = 10_000  # stop walking back through rewritten history after this many commits
# Commits mined and written per store transaction, at most (``batch_size`` above this is
# capped): DuckDB keeps a transaction's rows uncompressed until it commits and the miner
# holds a batch or two more in flight, so 5,000-commit batches cost the collector ~40 MB
# more peak RSS than 1,000-commit ones on a 100,000-commit history, for no speed.
MAX_GIT_BATCH = 1000


@dataclass
class GitCollectOptions:
    since: datetime | None = None
    until: datetime | None = None
    branches: list[str] = field(default_factory=list)
    full: bool = False
    jobs: int = 1
    batch_size: int = 5000
    cache_dir: Path = Path.home() / ".cache" / "forgelens"
    flush_seconds: float = 5.0
    stuck_after: timedelta = timedelta(hours=2)
    sink: Sink | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **values: Any) -> Self:
        """Options taking the cache directory, counter flush interval and stuck-run age from
        ``settings``; ``values`` set the rest."""
        return cls(
            cache_dir=settings.cache_dir,
            flush_seconds=settings.run_flush_seconds,
            stuck_after=timedelta(seconds=settings.stuck_run_after_seconds),
            **values,
        )


@dataclass
class GitCollectResult:
    run_id: str
    repositories: list[str]
    commits: int
    files: int
    authors: int


def known_boundary(store: Store, repo: git.GitRepo, tips: list[str]) -> list[str]:
    """The commits to exclude from mining: the cursor's tips that still exist.

    A tip a force-push (and a gc) removed is replaced by its nearest stored ancestors that
    still exist, so a rewrite re-mines only the rewritten commits, not the whole history.
    """
    exclude: set[str] = set()
    seen: set[str] = set()
    frontier = [t for t in tips if t]
    while frontier and len(seen) < _MAX_VANISHED:
        present = set(git.existing_commits(repo, frontier))
        exclude |= present
        missing = [s for s in frontier if s not in present and s not in seen]
        seen.update(missing)
        if not missing:
            break
        marks = ", ".join("?" for _ in missing)
        rows = store.query(
            f"SELECT parents FROM commits WHERE repository_id = ? AND sha IN ({marks})",
            [repo.id, *missing],
        )
        frontier = sorted({p for (parents,) in rows for p in json.loads(parents or "[]")} - seen)
    return sorted(exclude)


def collect_repo(
    store: Store, repo: git.GitRepo, opts: GitCollectOptions, run: Run, progress: Progress
) -> tuple[int, int]:
    """Mine one repository into ``store``; return (commits, files) written."""
    mine = git.MineOptions(
        since=opts.since,
        until=opts.until,
        branches=opts.branches,
        jobs=opts.jobs,
        batch_size=min(opts.batch_size, MAX_GIT_BATCH),
    )
    cursor = store.get_cursor(repo.id, CURSOR_ENTITY)
    known = known_boundary(store, repo, json.loads(cursor) if cursor else [])
    if not opts.full:
        mine.exclude = known
    tips = git.ref_tips(repo, mine)  # read before mining: the cursor never passes the run start
    store.write_records([repo.record()], source=git.SOURCE)
    if opts.sink is not None:
        opts.sink.publish([repo.record()], source=git.SOURCE)
    progress.start(f"mining {repo.full_name}", git.count_commits(repo, mine))
    commits = files = 0
    for batch in git.mine(repo, mine):
        version = next_version()
        commit_rows, file_rows = (
            _stamp(name, table, version, git.SOURCE)
            for name, table in zip(("commits", "commit_files"), batch.columns(), strict=True)
        )
        coauthor_rows = _stamp("commit_coauthors", batch.coauthor_columns(), version, git.SOURCE)
        with store.transaction():
            store.upsert("commits", commit_rows)
            store.upsert("commit_files", file_rows)
            if coauthor_rows.num_rows:
                store.upsert("commit_coauthors", coauthor_rows)
        if opts.sink is not None:
            opts.sink.publish(
                [r for commit, cfiles in batch.records() for r in (commit, *cfiles)],
                source=git.SOURCE,
            )
        commits += len(batch)
        files += batch.file_count
        run.add(commits_collected=len(batch))
        if run.flush_if_due():
            log.info("run progress", run_id=run.run_id, repository=repo.id, commits=commits)
        progress.advance(len(batch))
    if opts.sink is not None:
        opts.sink.flush()  # the cursor advances only once the sink acknowledged everything
    if opts.since is None and opts.until is None:
        # A window (--since/--until) mined only part of the history below the tips: the cursor
        # stays where it was, or a later run without the window would never mine the rest.
        # With --branch, the tips of the other refs known before stay known.
        done = set(tips) | set(known) if opts.branches else set(tips)
        store.set_cursor(repo.id, CURSOR_ENTITY, json.dumps(sorted(done)), run.run_id)
    progress.finish()
    return commits, files


def collect_git(
    store: Store,
    specs: Sequence[str],
    opts: GitCollectOptions,
    progress: Progress | None = None,
) -> GitCollectResult:
    """Collect every repository in ``specs`` (``git:PATH``, a path or a URL) in one run."""
    progress = progress or NullProgress()
    settings = run_settings(
        since=opts.since.isoformat() if opts.since else None,
        until=opts.until.isoformat() if opts.until else None,
        repositories=list(specs),
        collect_commits=True,
        branches=opts.branches or "all",
        force_refetch=opts.full,
        batch_size=opts.batch_size,
        jobs=opts.jobs,
    )
    with start_run(
        store,
        git.DATA_SOURCE,
        settings,
        flush_seconds=opts.flush_seconds,
        stuck_after=opts.stuck_after,
        sink=opts.sink,
    ) as run:
        repos = [git.open_repo(spec, opts.cache_dir) for spec in specs]
        total_commits = total_files = 0
        for repo in repos:
            # every commit is mined once per run: its rows never repeat a key
            with store.bulk_load(new_keys=("commits", "commit_files")):
                commits, files = collect_repo(store, repo, opts, run, progress)
            total_commits += commits
            total_files += files
            run.add(repos_processed=1)
            run.flush()
        ids = [r.id for r in repos]
        marks = ", ".join("?" for _ in ids)
        authors = store.query(
            "SELECT count(DISTINCT lower(author_email)) FROM commits "
            f"WHERE repository_id IN ({marks})",
            ids,
        )[0][0]
    return GitCollectResult(run.run_id, ids, total_commits, total_files, int(authors or 0))


def _stamp(name: str, table: pa.Table, version: int, source: str) -> pa.Table:
    """``table`` with the store's bookkeeping columns, every column in the store's order."""
    n = table.num_rows
    extra = {
        "_version": pa.array([version] * n, pa.int64()),
        "_source": pa.array([source] * n, pa.string()),
    }
    cols: list[pa.Array | pa.ChunkedArray] = []
    names: list[str] = []
    for col, logical in writable_columns(TABLES[name]):
        if col in extra:
            cols.append(extra[col])
        elif col in table.column_names:
            cols.append(table.column(col))
        else:
            cols.append(pa.nulls(n, ARROW_TYPES[logical]))
        names.append(col)
    return pa.Table.from_arrays(cols, names=names)
