"""What an incremental run costs (engine/sync.py watermarks), and how one failing repository
of many ends when several are collected at once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forgelens.engine.collect import collect
from forgelens.engine.sync import EntityCursor
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize
from forgelens.testing.forge_sim.dataset import SimDeploymentStatus
from forgelens.testing.forge_sim.faults import Budgets
from tests.sources.simhelp import options, running, sim_for


def requests_by_repository(log: list[tuple[str, str, int]]) -> Counter[str]:
    """Requests per repository (``/repos/OWNER/NAME/...``) in the simulator's log."""
    out: Counter[str] = Counter()
    for _method, path, _status in log:
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "repos":
            out[f"{parts[2]}/{parts[3]}"] += 1
    return out


DELIVERY = ("/repos/acme/service-0/deployments", "/repos/acme/service-0/releases")


def is_delivery(path: str) -> bool:
    """A listing of the deployments step: GitHub Deployments or Releases."""
    return path.endswith(("/deployments", "/releases"))


def unchanged_deployments(log: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The rest of the log, once the deployments step is checked: the Deployments and the
    Releases listings, one conditional request each a run, answered 304 (which GitHub does not
    charge to the rate limit; issue #18 allows the deployments step up to 2 requests an
    unchanged repository); no compare request (every deployment was linked already)."""
    listing = [row for row in log if row[1] in DELIVERY]
    assert sorted((p, status) for _m, p, status in listing) == [(p, 304) for p in DELIVERY]
    assert not [row for row in log if "/compare/" in row[1]]
    return [row for row in log if row[1] not in DELIVERY]


def test_rest_unchanged_repository_costs_five_requests_whatever_its_size(store: Store) -> None:
    # 250 pull requests and no issue: /issues lists three pages of pull requests only
    sim = sim_for(SimSize(repos=1, prs_per_repo=250, issues_per_repo=0, reviews=1, comments=1))
    repo = sim.dataset.repos[0]
    del repo.deployments[5:]  # a few of each (their listings are what an unchanged run reads)
    del repo.releases[5:]
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url, api="rest"))
        issues = EntityCursor.loads(store.get_cursor("github:acme/service-0", "issues"))
        assert issues.since is not None  # the complete pass moved it although it held no issue
        for _ in range(2):  # the second unchanged run costs what the first did
            sim.log.clear()
            again = collect(store, ["github:acme/service-0"], options(url, api="rest"))[0]
            assert again.prs == 0  # the newest pull request is not read again
            paths = [p for _m, p, _s in unchanged_deployments(sim.log)]
            assert len(paths) <= 5, paths
            assert paths.count("/repos/acme/service-0/issues") == 1
            assert not [p for p in paths if "/pulls/" in p]


def test_rest_touched_pull_request_is_the_only_one_read_again(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=30, issues_per_repo=5))
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url, api="rest"))
        sim.dataset.touch_pr("acme/service-0", 3, datetime(2026, 6, 1, tzinfo=UTC), "new title")
        sim.log.clear()
        again = collect(store, ["github:acme/service-0"], options(url, api="rest"))[0]
        assert again.prs == 1
        details = {p for _m, p, _s in sim.log if "/pulls/" in p}
        assert details == {
            f"/repos/acme/service-0/pulls/3{tail}"
            for tail in ("", "/commits", "/comments", "/files", "/reviews")
        }
    title = store.query("SELECT title FROM pull_requests WHERE number = 3")
    assert title == [("new title",)]


def test_rest_unchanged_organisation_costs_at_most_four_requests_per_repository(
    store: Store,
) -> None:
    """An org's repositories are read from its listing: no GET of each repository of its own
    (protection, pull requests, issues and CI runs remain: 4 requests)."""
    sim = sim_for(SimSize(repos=12, prs_per_repo=15, issues_per_repo=2))
    for repo in sim.dataset.repos:  # a few of each: their listings are what is counted
        del repo.deployments[3:]
        del repo.releases[3:]
    with running(sim) as url:
        first = collect(store, ["github:acme"], options(url, api="rest", concurrency=4))[0]
        assert first.prs == 12 * 15
        sim.log.clear()
        again = collect(store, ["github:acme"], options(url, api="rest", concurrency=4))[0]
    assert again.prs == 0
    deployments = [row for row in sim.log if is_delivery(row[1])]
    assert len(deployments) == 2 * 12  # Deployments and Releases, one listing each
    assert {status for *_, status in deployments} == {304}
    per_repo = requests_by_repository([row for row in sim.log if row not in deployments])
    assert len(per_repo) == 12
    assert max(per_repo.values()) <= 4, per_repo
    assert not [p for _m, p, _s in sim.log if p.count("/") == 3 and p.startswith("/repos/")]
    stars = {r.full_name: r.stars for r in sim.dataset.repos}
    stored = store.query("SELECT full_name, stars FROM repositories")
    assert dict(stored) == stars  # the listing's fields, stored as a GET would have


def test_graphql_unchanged_repository_still_costs_two_requests(store: Store) -> None:
    """The probe sees the newest deployments and releases: unchanged, neither listing is
    asked (deployments and releases included, an unchanged repository costs 2 requests)."""
    sim = sim_for(SimSize(repos=1, prs_per_repo=40, issues_per_repo=0))
    assert sim.dataset.repos[0].deployments
    assert sim.dataset.repos[0].releases
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url))
        sim.log.clear()
        assert collect(store, ["github:acme/service-0"], options(url))[0].prs == 0
    assert len(sim.log) == 2, sim.log
    assert not [row for row in sim.log if is_delivery(row[1])]


def test_graphql_probe_lets_a_new_deployment_status_through(store: Store) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=40, issues_per_repo=0))
    repo = sim.dataset.repos[0]
    newest = max(repo.deployments, key=lambda d: (d.created_at, d.id))
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url))
        later = max(newest.updated_at, datetime(2026, 1, 1, tzinfo=UTC)) + timedelta(hours=1)
        newest.add_status(SimDeploymentStatus(987654, "failure", later, None))
        sim.log.clear()
        collect(store, ["github:acme/service-0"], options(url))
    assert "/repos/acme/service-0/deployments" in [p for _m, p, _s in sim.log]
    status = store.query(
        "SELECT status FROM deployments WHERE deployment_id = ?", [f"github:{newest.id}"]
    )
    assert status == [("failure",)]


def test_a_change_in_the_last_seconds_before_a_run_is_read_again(store: Store) -> None:
    """The boundary of a watermark is re-read while another change could share its second."""
    sim = sim_for(SimSize(repos=1, prs_per_repo=5, issues_per_repo=0))
    just_now = datetime.now(UTC).replace(microsecond=0)
    sim.dataset.touch_pr("acme/service-0", 2, just_now)
    with running(sim) as url:
        collect(store, ["github:acme/service-0"], options(url, api="rest"))
        again = collect(store, ["github:acme/service-0"], options(url, api="rest"))[0]
    assert again.prs == 1  # PR 2, whose second may not have ended when it was read


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_cursor_of_an_entity_the_forge_has_none_of_still_advances(store: Store, api: str) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=3, issues_per_repo=0, runs_per_repo=0))
    with running(sim) as url:
        before = datetime.now(UTC)
        collect(store, ["github:acme/service-0"], options(url, api=api))
    for entity in ("issues", "ci_runs"):
        cursor = EntityCursor.loads(store.get_cursor("github:acme/service-0", entity))
        assert cursor.since is not None, entity
        assert cursor.since < before  # never past the run's start, less the clock margin


@pytest.mark.timeout(90, method="thread")  # a hang ends the session, with stacks
@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_unexpected_error_in_one_repository_fails_the_run_after_the_others_finish(
    store: Store, monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    """Concurrency 8: the failing repository's error reaches the run row, the others finish
    (it used to set cancel, and every other worker then waited forever on its prefetch)."""
    from forgelens.errors import ForgelensError
    from forgelens.sources.github import _map as _github_map

    mapper = "pr_graphql" if api == "graphql" else "pr_rest"
    real = getattr(_github_map, mapper)

    def faulty(repo_id: str, payload: Any) -> Any:
        pr = real(repo_id, payload)
        if repo_id == "github:acme/service-3" and pr.number < 40:  # past its first page
            raise RuntimeError("injected fault")
        return pr

    monkeypatch.setattr(_github_map, mapper, faulty)
    prs = 120 if api == "graphql" else 60
    size = SimSize(repos=12, prs_per_repo=prs, issues_per_repo=1, runs_per_repo=1, reviews=1)
    # limits off (GHES): the REST run's ~1,500 requests would otherwise wait an hour for the
    # budget's reset
    sim = sim_for(size, budgets=Budgets(limit=0))
    for repo in sim.dataset.repos:  # the PRs are what is tested: no deployments to link
        repo.deployments.clear()
        repo.releases.clear()
    with running(sim) as url, pytest.raises(ForgelensError) as err:
        collect(store, ["github:acme"], options(url, api=api, concurrency=8, batch_size=20))
    assert "acme/service-3" in str(err.value)
    assert "RuntimeError: injected fault" in str(err.value)
    row = store.query_dicts("SELECT * FROM git_collection_runs")[0]
    assert row["status"] == "failed"
    assert "acme/service-3" in row["failure_reason"]
    assert "injected fault" in row["failure_reason"]
    assert row["repos_processed"] == 11
    assert row["errors"] >= 1
    stored = dict(
        store.query("SELECT repository_id, count(*) FROM pull_requests GROUP BY repository_id")
    )
    for r in range(12):
        if r != 3:
            assert stored[f"github:acme/service-{r}"] == prs, r


def test_unchanged_run_of_an_org_of_several_listing_pages_visits_every_repository(
    store: Store,
) -> None:
    """The organisation's repository list answers 304 on an unchanged run; its next page
    still comes from the Link header (GitHub sends it with the 304). Pages of 10 here (the
    simulator's cap lowered from GitHub's 100): 25 repositories are three pages."""
    from forgelens.testing.forge_sim.github import GitHubRenderer

    sim = sim_for(SimSize(repos=25, prs_per_repo=1, issues_per_repo=0, runs_per_repo=0))
    github = next(r for r in sim.renderers if isinstance(r, GitHubRenderer))
    github.max_per_page = 10
    for repo in sim.dataset.repos:  # the listing is what is tested: no deployments to link
        repo.deployments.clear()
        repo.releases.clear()
    with running(sim) as url:
        collect(store, ["github:acme"], options(url, api="rest", concurrency=8))
        sim.log.clear()
        again = collect(store, ["github:acme"], options(url, api="rest", concurrency=8))[0]
    listing = [(p, status) for _m, p, status in sim.log if p == "/orgs/acme/repos"]
    assert listing == [("/orgs/acme/repos", 304)] * 3  # page 1, 2 and 3, each unchanged
    assert len(again.repositories) == 25
    assert len(requests_by_repository(sim.log)) == 25


@pytest.mark.parametrize(
    ("kind", "listing"), [("gitlab", "/deployments"), ("bitbucket", "/deployments/")]
)
def test_deployments_add_one_request_to_an_unchanged_gitlab_or_bitbucket_repository(
    store: Store, kind: str, listing: str
) -> None:
    """GitLab lists ``updated_after`` the watermark (an empty page); Bitbucket Cloud's first
    page, newest start first, holds nothing changed: no environments, no second page."""
    from tests.sources.forgehelp import options as forge_options

    sim = sim_for(SimSize(repos=1, prs_per_repo=250, issues_per_repo=0))
    assert len(sim.dataset.repos[0].deployments) > 100  # more than one page of them
    with running(sim) as url:
        collect(store, [f"{kind}:acme/service-0"], forge_options(kind, url))
        sim.log.clear()
        collect(store, [f"{kind}:acme/service-0"], forge_options(kind, url))
    deploying = [(p, s) for _m, p, s in sim.log if "/deployments" in p or "/environments" in p]
    assert len(deploying) == 1, deploying
    assert deploying[0][0].endswith(listing)
    assert deploying[0][1] == 200
