"""The GitHub source against the simulated forge on a real socket."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

import pytest

from forgelens.errors import NotFound
from forgelens.records import PullRequest
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import SimSize
from forgelens.testing.forge_sim.github import GitHubRenderer
from tests.sources.simhelp import github, running, sim_for


def _all(source: Any, ref: RepoRef) -> list[Any]:
    snap = source.repository(ref)
    out: list[Any] = [snap.repository, *snap.records]
    for fetch in (source.pull_requests, source.issues, source.ci_runs, source.contributors):
        for page in fetch(snap.ref, None):
            out.extend(page.records)
    return out


def _key(rec: Any) -> tuple[Any, ...]:
    return (type(rec).__name__, *map(str, astuple(rec)))


def test_graphql_and_rest_produce_identical_records() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=30, issues_per_repo=6))
    with running(sim) as url, github(url, api="graphql") as gql, github(url, api="rest") as rest:
        a = sorted(map(_key, _all(gql, RepoRef("acme", "service-0"))))
        b = sorted(map(_key, _all(rest, RepoRef("acme", "service-0"))))
        assert gql.api_calls * 10 < rest.api_calls  # GraphQL batches nested lists
    assert len(a) > 300
    assert a == b


def test_pull_request_bundle_carries_every_nested_list() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=5))
    pr = sim.dataset.repos[0].prs[0]
    with running(sim) as url, github(url) as source:
        pages = list(source.pull_requests(RepoRef("acme", "service-0"), None))
    records = [r for p in pages for r in p.records]
    mine = [r for r in records if getattr(r, "pr_number", getattr(r, "number", None)) == pr.number]
    kinds = {type(r).__name__ for r in mine}
    assert {"PullRequest", "PrFile", "PrCommit"} <= kinds
    assert sum(type(r).__name__ == "PrFile" for r in mine) == len(pr.files)
    assert sum(type(r).__name__ == "Review" for r in mine) == len(pr.reviews)


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_pull_request_over_3000_files_is_flagged_truncated(api: str) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=2, huge_pr_files=3100))
    with running(sim) as url, github(url, api=api) as source:
        pages = list(source.pull_requests(RepoRef("acme", "service-0"), None))
    prs = {r.number: r for p in pages for r in p.records if isinstance(r, PullRequest)}
    files = [r for p in pages for r in p.records if type(r).__name__ == "PrFile"]
    assert prs[1].files_truncated
    assert prs[1].changed_files == 3100
    assert not prs[2].files_truncated
    assert sum(f.pr_number == 1 for f in files) == 3000


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_renamed_repository_is_followed(api: str) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=3))
    sim.dataset.rename("acme/service-0", "renamed")
    with running(sim) as url, github(url, api=api) as source:
        snap = source.repository(RepoRef("acme", "service-0"))
    assert snap.ref == RepoRef("acme", "renamed")
    assert snap.repository.id == "github:acme/renamed"


@pytest.mark.parametrize("api", ["graphql", "rest"])
def test_missing_repository_says_not_found_or_no_access(api: str) -> None:
    with (
        running(sim_for()) as url,
        github(url, api=api) as source,
        pytest.raises(NotFound) as err,
    ):
        source.repository(RepoRef("acme", "nope"))
    assert "repository not found or the token has no access" in str(err.value)
    assert "acme/nope" in str(err.value)


def test_org_listing_and_teams() -> None:
    sim = sim_for(SimSize(repos=3, prs_per_repo=1, teams=2))
    with running(sim) as url, github(url) as source:
        refs = source.list_repositories("acme")
        teams = source.teams("acme")
    assert sorted(r.full_name for r in refs) == [f"acme/service-{i}" for i in range(3)]
    members = [t for t in teams if type(t).__name__ == "TeamMember"]
    assert len(members) == 8
    assert {m.role for m in members} == {"maintainer", "member"}


class OddShapes(GitHubRenderer):
    """A GitHub that sometimes answers with the wrong shape."""

    def pr_json(self, repo: Any, pr: Any, full: bool = False) -> dict[str, Any]:
        out = super().pr_json(repo, pr, full)
        if pr.number == 2:
            out["created_at"] = "not a date"
        return out

    def reviews(self, req: Any, owner: str, name: str, n: str) -> Any:
        resp = super().reviews(req, owner, name, n)
        resp.body = {"unexpected": "object instead of a list"}
        return resp


def test_unexpected_shapes_are_skipped_and_counted_never_a_crash() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=4))
    sim.renderers = [OddShapes(sim.dataset)]
    with running(sim) as url, github(url, api="rest") as source:
        pages = list(source.pull_requests(RepoRef("acme", "service-0"), None))
    prs = sorted(r.number for p in pages for r in p.records if isinstance(r, PullRequest))
    assert prs == [1, 3, 4]
    assert sum(p.errors for p in pages) == 1
    assert not any(type(r).__name__ == "Review" for p in pages for r in p.records)


def test_overflowing_nested_lists_are_followed_up_to_the_last_item() -> None:
    from datetime import timedelta

    from forgelens.testing.forge_sim.dataset import SimComment, SimCommit, SimReview

    sim = sim_for(SimSize(repos=1, prs_per_repo=3, issues_per_repo=1))
    repo = sim.dataset.repos[0]
    pr, issue = repo.prs[0], repo.issues[0]
    at = pr.created_at + timedelta(minutes=1)
    pr.reviews = [SimReview(9_000 + i, "dev1", "COMMENTED", "r", at, "abc") for i in range(45)]
    pr.reviews[0].comments = [
        SimComment(8_000 + i, "dev2", "rc", at, at, "src/a.py", i) for i in range(25)
    ]
    pr.comments = [SimComment(7_000 + i, "dev3", "c", at, at) for i in range(75)]
    pr.commits = [SimCommit(f"{i:040x}", "m", "dev1", "D", "d@x", at) for i in range(35)]
    issue.comments = [SimComment(6_000 + i, "dev4", "ic", at, at) for i in range(40)]
    with running(sim) as url, github(url, api="graphql") as gql, github(url, api="rest") as rest:
        a = sorted(map(_key, _all(gql, RepoRef("acme", "service-0"))))
        b = sorted(map(_key, _all(rest, RepoRef("acme", "service-0"))))
    assert a == b
    kinds = [k[0] for k in a]
    assert sum(k[0] == "Review" and k[2] == "1" for k in a) == 45
    assert sum(k[0] == "Comment" and k[2] == "1" for k in a) == 100
    assert sum(k[0] == "PrCommit" and k[2] == "1" for k in a) == 35
    assert kinds.count("IssueComment") == 40
    assert {"POST /graphql PullRequestReviews", "POST /graphql PullRequestComments"} <= set(
        gql.client.stats.by_endpoint
    )
    assert gql.client.stats.by_endpoint["POST /graphql ReviewComments"] >= 1
    assert gql.client.stats.by_endpoint["POST /graphql IssueComments"] >= 1


def test_enterprise_api_url_layout_is_used_for_rest_and_graphql() -> None:
    from forgelens.sources.github import graphql_url

    assert graphql_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/graphql"
    assert graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    sim = sim_for(SimSize(repos=1, prs_per_repo=3))
    with running(sim) as url, github(url + "/api/v3") as source:
        records = _all(source, RepoRef("acme", "service-0"))
    assert sum(isinstance(r, PullRequest) for r in records) == 3
    paths = {path for _, path, _ in sim.log}
    assert paths
    assert all(p.startswith("/api/") for p in paths)
    assert "/api/graphql" in paths


def test_graphql_pages_shrink_when_github_times_out() -> None:
    from forgelens.testing.forge_sim import Faults

    sim = sim_for(SimSize(repos=1, prs_per_repo=40), faults=Faults(graphql_max_first=12))
    with running(sim) as url, github(url) as source:
        pages = list(source.pull_requests(RepoRef("acme", "service-0"), None))
        assert source.pr_page <= 12
        timeouts = source.client.stats.by_status[502]
    assert sum(p.items for p in pages) == 40
    assert timeouts == 4  # two tries at 50, two at 25, then pages of 12 go through


class HugeHistory(GitHubRenderer):
    def contributors(self, req: Any, owner: str, name: str) -> Any:
        from forgelens.testing.forge_sim.app import SimResponse

        message = "The history or contributor list is too large to list contributors via the API."
        return SimResponse(403, {"message": message})


def test_contributor_list_refused_is_an_error_not_a_failed_repository(store: Any) -> None:
    from forgelens.engine.collect import collect
    from tests.sources.simhelp import options

    sim = sim_for(SimSize(repos=1, prs_per_repo=3))
    sim.renderers = [HugeHistory(sim.dataset)]
    with running(sim) as url:
        result = collect(store, ["github:acme/service-0"], options(url))[0]
    assert result.prs == 3
    assert result.errors == 1
    assert store.query("SELECT count(*) FROM contributors") == [(0,)]


def test_assignees_and_review_requests_map_from_rest_and_graphql() -> None:
    """Logins of users and bots; a team request (no login) and a ghost are left out; a PR the
    forge sent without them has them unknown (None), not empty."""
    from forgelens.sources.github import _map

    base = {"number": 3, "title": "t", "created_at": "2026-01-01T00:00:00Z"}
    base["updated_at"] = base["created_at"]
    rest = _map.pr_rest(
        "github:o/r",
        {
            **base,
            "assignees": [{"login": "Copilot", "type": "Bot"}, {"login": "ann"}],
            "requested_reviewers": [{"login": "bob"}, None],
            "requested_teams": [{"slug": "core"}],
        },
    )
    assert (rest.assignees, rest.requested_reviewers) == (["Copilot", "ann"], ["bob"])
    gql = _map.pr_graphql(
        "github:o/r",
        {
            "number": 3,
            "title": "t",
            "createdAt": base["created_at"],
            "updatedAt": base["created_at"],
            "assignees": {"nodes": [{"login": "ann"}]},
            "reviewRequests": {
                "nodes": [
                    {"requestedReviewer": {"__typename": "Bot", "login": "coderabbitai"}},
                    {"requestedReviewer": {"__typename": "Team"}},
                    {"requestedReviewer": {"__typename": "User", "login": "bob"}},
                ]
            },
        },
    )
    assert (gql.assignees, gql.requested_reviewers) == (["ann"], ["coderabbitai[bot]", "bob"])
    bare = _map.pr_rest("github:o/r", base)
    assert (bare.assignees, bare.requested_reviewers) == (None, None)


def test_a_pull_request_webhook_carries_its_assignees_and_review_requests() -> None:
    """A ``pull_request`` delivery (``assigned``, ``review_requested``, ...) updates both lists;
    a team request has no login and is left out."""
    import json
    from pathlib import Path

    from forgelens.sources.github.webhook import github_pull_request

    recorded = Path(__file__).parent.parent / "fixtures" / "webhooks" / "recorded" / "github"
    payload = json.loads((recorded / "pull_request_opened.json").read_text())
    payload = payload["body"]
    payload["action"] = "review_requested"
    pr = payload["pull_request"]
    pr["assignees"] = [{"login": "Copilot", "type": "Bot"}, {"login": "ann", "type": "User"}]
    pr["requested_reviewers"] = [{"login": "bob", "type": "User"}]
    pr["requested_teams"] = [{"slug": "core"}]
    carried = next(c for c in github_pull_request(payload) if isinstance(c.record, PullRequest))
    assert {"assignees", "requested_reviewers"} <= set(carried.columns)
    assert carried.record.assignees == ["Copilot", "ann"]
    assert carried.record.requested_reviewers == ["bob"]
