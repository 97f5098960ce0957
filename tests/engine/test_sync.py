"""Forge sync (engine/sync.py) end to end: simulator on a socket -> DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.engine.collect import collect
from forgelens.engine.sync import EntityCursor
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize
from tests.sources.simhelp import options, running, sim_for

TABLES = (
    "repositories",
    "pull_requests",
    "pr_reviews",
    "pr_comments",
    "pr_files",
    "pr_commits",
    "issues",
    "issue_comments",
    "ci_runs",
    "contributors",
    "branch_protections",
    "teams",
    "team_members",
    "people",
)


def counts(store: Store) -> dict[str, int]:
    return {t: store.query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def run_row(store: Store, run_id: str) -> dict[str, Any]:
    return store.query_dicts("SELECT * FROM git_collection_runs WHERE run_id = ?", [run_id])[0]


def test_full_then_incremental_sync(store: Store) -> None:
    sim = sim_for(SimSize(repos=2, prs_per_repo=15))
    with running(sim) as url:
        first = collect(store, ["github:acme"], options(url))[0]
        row = run_row(store, first.run_id)
        assert row["status"] == "completed"
        assert row["data_source"] == "insight_github"
        assert row["prs_collected"] == 30
        assert row["repos_processed"] == 2
        assert row["api_calls"] == first.api_calls == sim.requests  # exact, from the client
        before = counts(store)
        assert before["pull_requests"] == 30
        assert before["pr_files"] > 0
        assert before["teams"] == 2

        sim.requests = 0
        again = collect(store, ["github:acme/service-0"], options(url))[0]
        assert again.prs == 0
        assert sim.requests <= 2  # an unchanged repository costs at most two requests
        assert run_row(store, again.run_id)["api_calls"] == sim.requests

        sim.dataset.touch_pr("acme/service-0", 3, datetime(2026, 6, 1, tzinfo=UTC), "new title")
        third = collect(store, ["github:acme/service-0"], options(url))[0]
        # the touched PR, plus the previous newest one: the watermark overlaps by one second
        # so that an update in the same second as the last read is never missed
        assert third.prs == 2
        title = store.query(
            "SELECT title FROM pull_requests WHERE repository_id = ? AND number = 3",
            ["github:acme/service-0"],
        )
        assert title == [("new title",)]
    assert counts(store) == before


def test_cursor_never_passes_the_run_start(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=3))
    future = datetime(2999, 1, 1, tzinfo=UTC)
    sim.dataset.touch_pr("acme/service-0", 1, future)
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url))
    cursor = EntityCursor.loads(store.get_cursor("github:acme/service-0", "pull_requests"))
    assert cursor.since is not None
    assert cursor.since < future


class StopAfter:
    """A progress that presses Ctrl-C after ``n`` pull requests."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def start(self, description: str, total: int | None = None) -> None: ...

    def advance(self, n: int = 1) -> None:
        self.seen += n
        if self.seen >= self.n:
            raise KeyboardInterrupt

    def note(self, text: str) -> None: ...

    def finish(self) -> None: ...


def test_ctrl_c_leaves_run_failed_and_next_run_resumes(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=120))
    with running(sim) as url:
        opts = options(url)
        opts.batch_size = 1  # commit after every page
        with pytest.raises(KeyboardInterrupt):
            collect(store, ["github:acme/service-0"], opts, StopAfter(100))
        failed = store.query_dicts("SELECT * FROM git_collection_runs")[0]
        assert failed["status"] == "failed"
        assert failed["prs_collected"] >= 50
        assert failed["api_calls"] > 0
        cursor = EntityCursor.loads(store.get_cursor("github:acme/service-0", "pull_requests"))
        assert cursor.resume  # the next page to fetch
        done_before = store.query("SELECT count(*) FROM pull_requests")[0][0]
        assert 0 < done_before < 120

        resumed = collect(store, ["github:acme/service-0"], options(url))[0]
        assert resumed.prs == 120 - done_before  # picked up where the last chunk ended
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 120
