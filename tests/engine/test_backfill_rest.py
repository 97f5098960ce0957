"""Progressive backfill of GitLab, Bitbucket Cloud, Bitbucket Server and Gitea repositories
(sources/<forge>/backfill.py) against the simulated forges on a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens.engine.backfill import SourcePair, backfill
from forgelens.errors import ForgeError
from forgelens.records import PullRequest
from forgelens.sources import forges
from forgelens.sources.base import ISSUES, PULL_REQUESTS, RepoRef
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import ForgeSim
from tests.engine.backfillhelp import big_sim, chunks, options, snapshot, state
from tests.sources.forgehelp import REPO_TARGET, source_for, sync
from tests.sources.simhelp import running

KINDS = ("gitlab", "bitbucket", "bitbucket-server", "gitea")
WINDOWED = ("gitlab", "bitbucket")


def repo_id(kind: str) -> str:
    return f"{kind}:{REPO_TARGET[kind]}"


@contextmanager
def pairs(url: str) -> Iterator[Callable[[str], SourcePair]]:
    made: list[Any] = []

    def make(kind: str) -> SourcePair:
        src = source_for(kind, url)
        made.append(src)
        return src, forges.BY_KIND[kind].backfill(src)  # type: ignore[misc]

    try:
        yield make
    finally:
        for src in made:
            src.close()


def renderer(sim: ForgeSim, kind: str) -> Any:
    prefix = {
        "gitlab": "/api/v4",
        "bitbucket": "/2.0",
        "bitbucket-server": "/rest",
        "gitea": "/api/v1",
    }[kind]
    return next(r for r in sim.renderers if r.prefix == prefix)


def run_to_completion(store: Store, url: str, kind: str, sizes: list[int]) -> int:
    """Backfill invocations of two chunks each, with the chunk size cycling through ``sizes``
    (the engine's adaptive sizing changes it between chunks too); returns the invocations."""
    runs = 0
    while runs == 0 or state(store, repo_id(kind))["status"] != "completed":
        size = sizes[runs % len(sizes)]
        with pairs(url) as make:
            opts = options(repository_id=repo_id(kind), max_chunks=2, chunk_size=size)
            backfill(store, opts, make)
        runs += 1
        assert runs < 40, state(store, repo_id(kind))
    return runs


@pytest.mark.parametrize("kind", KINDS)
def test_chunks_newest_first_any_size_and_match_a_full_sync(
    kind: str, store: Store, tmp_path: Path
) -> None:
    sim = big_sim(57)
    with running(sim) as url:
        with pairs(url) as make:
            first = backfill(
                store, options(repository_id=repo_id(kind), max_chunks=1, chunk_size=10), make
            )
        assert (first.chunks, first.prs) == (1, 10)
        newest = sorted(sim.dataset.repos[0].prs, key=lambda p: (p.updated_at, p.number))[-10:]
        stored = {r[0] for r in store.query("SELECT number FROM pull_requests")}
        assert stored == {p.number for p in newest}  # newest history first
        run_to_completion(store, url, kind, [7, 20, 3])
        reference = open_store(f"duckdb:///{tmp_path}/ref.duckdb")
        sync(reference, kind, url, target=REPO_TARGET[kind])
    got = chunks(store, repo_id(kind))
    assert {c["status"] for c in got} == {"completed"}
    assert state(store, repo_id(kind))["total_prs"] == 57
    numbers = [r[0] for r in store.query("SELECT number FROM pull_requests")]
    assert sorted(numbers) == sorted(p.number for p in sim.dataset.repos[0].prs)
    ours, theirs = snapshot(store), snapshot(reference)
    for table in ("pull_requests", "pr_reviews", "pr_comments", "pr_files", "pr_commits"):
        assert ours[table] == theirs[table], table  # reviews, comments, files, commits: all
    reference.close()


@pytest.mark.parametrize("kind", WINDOWED)
def test_pull_requests_sharing_one_update_time_are_all_read(kind: str, store: Store) -> None:
    """A window whose page is all one update time goes on with the next page of it."""
    sim = big_sim(25)
    same = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    for pr in sim.dataset.repos[0].prs[:18]:
        pr.updated_at = same
    with running(sim) as url:
        run_to_completion(store, url, kind, [5])
    assert len(store.query("SELECT number FROM pull_requests")) == 25
    cursors = [c["cursor_end"] for c in chunks(store, repo_id(kind)) if c["cursor_end"]]
    assert any(c.endswith("|2") for c in cursors)  # the second page of the tied window


def test_gitlab_history_past_the_offset_cap_is_read_by_update_windows(store: Store) -> None:
    """gitlab.com answers 405 past 50,000 rows of offset pagination; time windows never get
    there (the cap is 30 rows here)."""
    sim = big_sim(80)
    renderer(sim, "gitlab").offset_cap = 30
    with running(sim) as url:
        with source_for("gitlab", url) as src, pytest.raises(ForgeError):
            ref = RepoRef.parse(REPO_TARGET["gitlab"])
            src.page_params["per_page"] = 10
            for _ in src.pull_requests(ref, None):
                pass  # the plain listing walks pages 1..8 and hits the cap at page 4
        run_to_completion(store, url, "gitlab", [10])
    assert len(store.query("SELECT number FROM pull_requests")) == 80


@pytest.mark.parametrize("kind", KINDS)
def test_totals_recheck_and_deleted_items(kind: str) -> None:
    sim = big_sim(12)
    repo = sim.dataset.repos[0]
    gone = repo.prs.pop(3).number
    kept = repo.prs[0].number
    with running(sim) as url, pairs(url) as make:
        _, view = make(kind)
        ref = RepoRef.parse(REPO_TARGET[kind])
        totals = view.totals(ref)
        assert totals["pull_requests"] == 11
        assert totals["issues"] == (0 if kind == "bitbucket-server" else len(repo.issues))
        fresh = view.recheck(ref, PULL_REQUESTS, [kept, gone])
        assert set(fresh) == {kept}  # the forge no longer has ``gone``
        prs = [r for r in fresh[kept] if isinstance(r, PullRequest)]
        assert [p.number for p in prs] == [kept]
        assert prs[0].additions is not None  # the whole bundle: a re-check never blanks stats
        if kind == "bitbucket-server":  # no issue tracker: nothing is marked deleted
            assert view.recheck(ref, ISSUES, [1, 2]) == {1: [], 2: []}
        else:
            issue = repo.issues[0].number
            assert set(view.recheck(ref, ISSUES, [issue, 99_999])) == {issue}


@pytest.mark.parametrize("kind", KINDS)
def test_failure_report_opens_an_issue_where_the_forge_has_a_tracker(kind: str) -> None:
    sim = big_sim(3)
    with running(sim) as url, pairs(url) as make:
        _, view = make(kind)
        ref = RepoRef.parse(REPO_TARGET[kind])
        if kind == "bitbucket-server":
            with pytest.raises(ForgeError, match="no issue tracker"):
                view.open_issue(ref, "forgelens backfill: forge", "details")
            return
        link = view.open_issue(ref, "forgelens backfill: forge", "the chunk failed")
    opened = renderer(sim, kind).opened_issues
    assert opened == [
        (sim.dataset.repos[0].full_name, "forgelens backfill: forge", "the chunk failed")
    ]
    assert link.startswith("https://")


def test_cursor_tokens_round_trip_and_a_foreign_one_restarts_from_the_newest() -> None:
    from forgelens.sources._backfill_rest import Window

    at = "2026-03-01T12:00:00.123000Z"
    assert Window.parse(None) == Window()
    assert Window.parse(Window(at, 3).token()) == Window(at, 3)
    assert Window.parse(Window(at).token()) == Window(at)
    assert Window(at).after(datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)) == Window(at, 2)
    assert Window.parse("4") == Window()  # a page number from elsewhere: re-read, never skip
