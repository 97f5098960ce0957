"""Helpers shared by the backfill and reconciliation tests: a simulated forge with one big
repository, sources pointed at it (no real sleeping), and row sets to compare stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from forgelens.engine._backfill_report import BackfillSettings
from forgelens.engine.backfill import BackfillOptions, SourcePair
from forgelens.sources import forges
from forgelens.store import Store
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate
from tests.sources.simhelp import github

DATA_TABLES = ("pull_requests", "pr_reviews", "pr_comments", "pr_files", "pr_commits", "people")


def big_sim(prs: int = 150, repos: int = 1, **kwargs: Any) -> ForgeSim:
    size = SimSize(repos=repos, prs_per_repo=prs, issues_per_repo=8, runs_per_repo=0, teams=0)
    return ForgeSim(generate(3, size), **kwargs)


def repo_id(sim: ForgeSim, i: int = 0) -> str:
    return "github:" + sim.dataset.repos[i].full_name


def sources(url: str, token: str | None = None) -> Callable[[str], SourcePair]:
    def make(kind: str) -> SourcePair:
        src = github(url, token=token)
        return src, forges.BY_KIND[kind].backfill(src)  # type: ignore[misc]

    return make


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def options(**kw: Any) -> BackfillOptions:
    settings = BackfillSettings(**kw.pop("settings", {}))
    kw.setdefault("sweep", False)
    return BackfillOptions(settings=settings, **kw)


def row_set(store: Store, table: str) -> set[tuple[Any, ...]]:
    cols = [c for c, _ in store.table_spec(table).columns]
    sql = "SELECT " + ", ".join(cols) + f" FROM {table}"
    return {tuple(str(v) for v in row) for row in store.query(sql)}


def snapshot(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    return {t: row_set(store, t) for t in DATA_TABLES}


def chunks(store: Store, repo: str) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT * FROM backfill_chunks WHERE repository_id = ? ORDER BY chunk_number", [repo]
    )


def state(store: Store, repo: str) -> dict[str, Any]:
    rows = store.query_dicts("SELECT * FROM backfill_state WHERE repository_id = ?", [repo])
    assert rows, f"no backfill_state for {repo}"
    return rows[0]


@contextmanager
def pairs(url: str) -> Iterator[Callable[[str], SourcePair]]:
    """A cached source per kind (as one invocation has), closed at the end."""
    cache: dict[str, SourcePair] = {}
    make = sources(url)

    def get(kind: str) -> SourcePair:
        if kind not in cache:
            cache[kind] = make(kind)
        return cache[kind]

    try:
        yield get
    finally:
        for src, _ in cache.values():
            src.close()
