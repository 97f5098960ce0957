"""One suite for every forge source: the simulator renders one dataset through GitHub, GitLab,
Bitbucket Server, Bitbucket Cloud, Gitea and Gerrit APIs on a real socket; every source must
store the same canonical records (per table, the columns both forges can express), fetch only
changes on incremental runs, and survive every injected fault. A new forge needs a source
module, a simulator renderer and an entry in ``forgehelp.FACTORIES``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forgelens.engine.sync import sync_forge
from forgelens.errors import AuthError, ForgeError
from forgelens.sources.base import RepoRef
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import Budgets, Faults, ForgeSim, SimSize, generate, serve
from tests.sources.forgehelp import (
    DATA_SOURCES,
    KINDS,
    REPO_TARGET,
    account_logins,
    canonical,
    options,
    source_for,
    sync,
)

SIZE = SimSize(repos=2, prs_per_repo=8, issues_per_repo=4, runs_per_repo=4, teams=2)
OTHERS = tuple(k for k in KINDS if k != "github")
PER_PR = (
    "/pulls/{number}",
    "/merge_requests/{iid}",
    "/pull-requests/{id}",
    "/pullrequests/{id}",
    "/pulls/{index}",
    "/issues/{pull}",
    "/changes/{id}",  # Gerrit: a change's inline comments
)
# requests per pull request's details: 3 (GraphQL pages, or notes + diffs + commits ...); Gitea
# asks reviews, conversation, files and commits, and each review's inline comments
PER_PR_CALLS = {"gitea": 9}  # its calls grow with reviews: the touched PR 3 has five


def new_sim(**kwargs: Any) -> ForgeSim:
    return ForgeSim(generate(1, SIZE), **kwargs)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    """A fault-free full sync of the organization by every forge, one store each."""
    base = tmp_path_factory.mktemp("clean")
    stores = {k: open_store(f"duckdb:///{base / k}.duckdb") for k in KINDS}
    with serve(new_sim()) as url:
        for kind, store in stores.items():
            sync(store, kind, url, concurrency=4)  # details of several PRs fetched at once
    yield stores
    for s in stores.values():
        s.close()


def fresh(tmp_path: Path, name: str) -> Store:
    return open_store(f"duckdb:///{tmp_path / name}.duckdb")


@pytest.mark.parametrize("kind", OTHERS)
def test_every_forge_stores_the_same_canonical_records(kind: str, clean: dict[str, Store]) -> None:
    mine = canonical(clean[kind], kind, "github", account_logins(kind, generate(1, SIZE)))
    github = canonical(clean["github"], "github", kind)
    assert mine.keys() == github.keys()
    for table in github:
        assert mine[table] == github[table], table
    sizes = {t: len(rows) for t, rows in mine.items()}
    assert sizes["pull_requests"] == 16
    assert min(sizes[t] for t in ("pr_reviews", "pr_comments", "pr_files", "pr_commits")) > 10
    assert sizes["branch_protections"] == 2  # service-0 and service-1 protect main


@pytest.mark.parametrize("kind", ["gitlab", "bitbucket"])
def test_deployments_are_the_same_canonical_rows_on_every_forge_that_has_them(
    kind: str, clean: dict[str, Store]
) -> None:
    """One dataset's deployments through GitHub (statuses), GitLab (one status, tier) and
    Bitbucket Cloud (state, environment type): the same environment, kind, sha, status, times
    and deployer, deployment by deployment."""
    mine = canonical(clean[kind], kind, "github", account_logins(kind, generate(1, SIZE)))
    github = canonical(clean["github"], "github", kind)
    assert mine["deployments"] == github["deployments"]
    rows = clean[kind].query_dicts("SELECT status, environment_kind FROM deployments")
    assert len(rows) > 20
    assert {r["status"] for r in rows} == {"success", "failure", "in_progress"}
    assert {r["environment_kind"] for r in rows} == {"production", "staging", "other"}


@pytest.mark.parametrize("kind", KINDS)
def test_runs_are_recorded_under_the_forge_data_source(kind: str, clean: dict[str, Store]) -> None:
    runs = clean[kind].query_dicts(
        "SELECT data_source, status, prs_collected FROM git_collection_runs"
    )
    assert runs == [{"data_source": DATA_SOURCES[kind], "status": "completed", "prs_collected": 16}]


@pytest.mark.parametrize("kind", KINDS)
def test_everyone_referenced_is_a_person(kind: str, clean: dict[str, Store]) -> None:
    store = clean[kind]
    people = {r[0] for r in store.query("SELECT login FROM people")}
    referenced = {
        r[0]
        for sql in (
            "SELECT author FROM pull_requests",
            "SELECT merged_by FROM pull_requests",
            "SELECT author FROM pr_reviews",
            "SELECT author FROM pr_comments",
        )
        for r in store.query(sql)
        if r[0] is not None
    }
    assert referenced
    assert referenced <= people


def _per_pr_requests(source: Any) -> int:
    return sum(n for e, n in source.client.stats.by_endpoint.items() if any(p in e for p in PER_PR))


@pytest.mark.parametrize("kind", KINDS)
def test_incremental_runs_fetch_only_changes(kind: str, tmp_path: Path) -> None:
    store = fresh(tmp_path, kind)
    sim = new_sim()
    with serve(sim) as url:
        target = REPO_TARGET[kind]
        full, _ = sync(store, kind, url, target)
        unchanged, quiet = sync(store, kind, url, target)
        assert full.prs == 8
        assert unchanged.prs == 0
        assert _per_pr_requests(quiet) == 0
        assert unchanged.api_calls < full.api_calls

        sim.dataset.touch_pr("acme/service-0", 3, datetime(2026, 6, 1, tzinfo=UTC), "new title")
        touched, again = sync(store, kind, url, target)
    # the touched pull request only: the previous newest changed long before the last run
    # began, so nothing else can share its second (GitHub and Gitea stamp whole seconds)
    assert touched.prs == 1
    per_pr = PER_PR_CALLS.get(kind, 3)
    # + the listing page an unchanged run skips (Gitea's mark)
    assert touched.api_calls <= unchanged.api_calls + (per_pr + 2) * touched.prs
    assert _per_pr_requests(again) <= per_pr * touched.prs
    rows = store.query("SELECT title FROM pull_requests WHERE number = 3")
    assert rows == [("new title",)]
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == 8
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_faults_are_survived_with_identical_records(
    kind: str, tmp_path: Path, clean: dict[str, Store]
) -> None:
    faults = Faults(
        seed=5,
        error_rate=0.12,
        secondary_rate=0.12,
        truncate_rate=0.1,
        revoke_after={"t1": 4},
    )
    store = fresh(tmp_path, kind)
    with serve(new_sim(faults=faults, tokens={"t1", "t2"})) as url:
        result, source = sync(store, kind, url, token="t1,t2")
    stats = source.client.stats
    assert stats.by_status[401] >= 1  # the revoked token was dropped, the other went on
    assert stats.retries > 0
    assert 429 in stats.by_status or 403 in stats.by_status
    assert result.errors == 0
    assert canonical(store, kind, kind) == canonical(clean[kind], kind, kind)
    store.close()


@pytest.mark.parametrize("kind", OTHERS)
def test_primary_rate_limit_is_waited_out(
    kind: str, tmp_path: Path, clean: dict[str, Store]
) -> None:
    store = fresh(tmp_path, kind)
    # a budget small enough that even Gerrit's few requests (13) spend it well inside the window
    sim = new_sim(budgets=Budgets(limit=6, window=0.5))
    with serve(sim) as url:
        source = source_for(kind, url, "t1")
        client = source.client
        client._sleep = time.sleep  # really wait for the (half-second) window
        client.policy.reserve = 0
        client.policy.secondary_wait = 0.1
        try:
            sync_forge(store, source, [REPO_TARGET[kind]], options(kind, url))
        finally:
            source.close()
    # GitLab's RateLimit-* headers let the client wait ahead of most 429s; Bitbucket only says
    # 429 (with Retry-After on Server, bare on Cloud) and the client waits after it
    assert client.stats.waited_seconds > 0
    assert client.stats.by_status[429] >= 1 or kind == "gitlab"
    repo_only = "WHERE lower(repository_id) LIKE '%acme/service-0'"
    for table in ("pull_requests", "pr_reviews", "pr_comments", "pr_files", "pr_commits"):
        sql = f"SELECT count(*) FROM {table} {repo_only}"
        assert store.query(sql) == clean[kind].query(sql), table
    store.close()


@pytest.mark.parametrize("kind", KINDS)
def test_html_page_and_sign_in_redirect_get_clear_errors(kind: str) -> None:
    ref = RepoRef.parse(REPO_TARGET[kind])
    with serve(new_sim(faults=Faults(html_rate=1.0))) as url:
        with source_for(kind, url) as source, pytest.raises(ForgeError) as err:
            source.repository(ref)
        assert "127.0.0.1" in err.value.message
        assert "web page, not JSON" in err.value.message
        assert "--api-url" in err.value.message
    with serve(new_sim(faults=Faults(login_rate=1.0))) as url:
        with source_for(kind, url) as source, pytest.raises(AuthError) as auth:
            source.repository(ref)
        assert "sign-in page" in auth.value.message
        assert "127.0.0.1" in auth.value.message
