"""The Gitea / Forgejo source against the simulated Gitea on a real socket: pages the server
caps below the size asked for, next links that name another host, a pull request with more
files than a page, a server without Actions, a user instead of an organization, an
``--api-url`` that is no Gitea, and the review states of the mappers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from forgelens.errors import ForgeError
from forgelens.records import Issue, IssueComment, PrFile, PullRequest, Review
from forgelens.sources.base import RepoRef
from forgelens.sources.gitea import _map as m
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.gitea import GiteaRenderer
from tests.sources.forgehelp import source_for

REF = RepoRef("acme", "service-0")


def sim(**size: Any) -> ForgeSim:
    return ForgeSim(generate(3, SimSize(**{"repos": 1, "prs_per_repo": 23, **size})))


def gitea(s: ForgeSim) -> GiteaRenderer:
    return next(r for r in s.renderers if isinstance(r, GiteaRenderer))


def test_pages_capped_by_the_server_are_all_read() -> None:
    """The source asks for 100 a page; the server serves 5 (MAX_RESPONSE_ITEMS) and counts
    pages in that size. Every pull request and every file of a 57-file one arrives."""
    s = sim(huge_pr_files=57)
    gitea(s).max_items = 5
    with serve(s) as url, source_for("gitea", url) as source:
        records = [r for page in source.pull_requests(REF, None) for r in page.records]
        calls = source.client.stats.by_endpoint
    prs = [r for r in records if isinstance(r, PullRequest)]
    assert sorted(p.number for p in prs) == list(range(1, 24))
    # reviews are paged with X-Total-Count only (no Link): every one arrives all the same
    reviews = {r.review_id for r in records if isinstance(r, Review)}
    assert reviews == {str(r.id) for p in s.dataset.repos[0].prs for r in p.reviews}
    assert max(len(p.reviews) for p in s.dataset.repos[0].prs) > 5  # more than one page
    huge = [f for f in records if isinstance(f, PrFile) and f.pr_number == 1]
    assert len({f.path for f in huge}) == 57
    assert calls["GET /repos/{owner}/{repo}/pulls"] == 5  # ceil(23 / 5), never fewer
    assert sum(1 for _, p, _ in s.log if p.endswith("/pulls/1/files")) == 12  # ceil(57 / 5)


def test_next_links_naming_another_host_are_not_followed_there() -> None:
    """Gitea builds Link from its ROOT_URL; behind a proxy that may be another host. The
    next page is asked of the server the source talks to."""
    s = sim()
    g = gitea(s)
    g.max_items, g.root_url = 10, "https://gitea.internal.invalid:3000"
    with serve(s) as url, source_for("gitea", url) as source:
        prs = [
            r
            for page in source.pull_requests(REF, None)
            for r in page.records
            if isinstance(r, PullRequest)
        ]
    assert len(prs) == 23
    assert [q for _, p, q in s.log if p.endswith("/pulls")] == [200, 200, 200]


def test_actions_runs_counted_in_the_body_are_all_read() -> None:
    """The runs list has no Link: ``total_count`` in the body says how many there are."""
    s = sim(runs_per_repo=8)
    gitea(s).max_items = 3
    with serve(s) as url, source_for("gitea", url) as source:
        runs = [r for p in source.ci_runs(REF, None) for r in p.records]
    assert {r.run_id for r in runs} == {str(r.id) for r in s.dataset.repos[0].runs}
    # ceil(8 / 3) pages, and one empty page more: a short last page looks like a full one
    assert sum(1 for _, p, _ in s.log if p.endswith("/actions/runs")) == 4


def test_an_incremental_pass_reads_only_the_first_page_of_runs() -> None:
    s = sim(runs_per_repo=8)
    gitea(s).max_items = 3
    newest = max(r.created_at for r in s.dataset.repos[0].runs)
    with serve(s) as url, source_for("gitea", url) as source:
        runs = [r for p in source.ci_runs(REF, newest) for r in p.records]
    assert len(runs) == 1  # the run of the watermark's second, read again
    assert sum(1 for _, p, _ in s.log if p.endswith("/actions/runs")) == 1


def test_a_server_without_actions_has_no_runs_and_no_error() -> None:
    s = sim()
    gitea(s).actions = False
    with serve(s) as url, source_for("gitea", url) as source:
        pages = list(source.ci_runs(REF, None))
    assert [r for p in pages for r in p.records] == []
    assert sum(p.errors for p in pages) == 0
    assert [p for _, p, _ in s.log if "/actions/" in p] == [
        "/api/v1/repos/acme/service-0/actions/runs",
        "/api/v1/repos/acme/service-0/actions/tasks",
    ]


def test_an_owner_that_is_no_organization_is_read_as_a_user() -> None:
    s = sim()
    with serve(s) as url, source_for("gitea", url) as source:
        assert [r.full_name for r in source.list_repositories("acme")] == ["acme/service-0"]
        assert source.list_repositories("dev1") == []  # a user without repositories
    assert ("GET", "/api/v1/users/dev1/repos", 200) in s.log


def test_an_api_url_that_is_no_gitea_says_so() -> None:
    s = sim()
    with (
        serve(s) as url,
        source_for("gitea", url + "/wrong") as source,
        pytest.raises(ForgeError) as err,
    ):
        source.repository(REF)
    assert "no Gitea API" in err.value.message
    assert "--api-url" in err.value.message


def test_gitea_review_states_mean_what_githubs_do() -> None:
    def state(**r: Any) -> str | None:
        return m.review_state(r)

    assert state(state="APPROVED") == "APPROVED"
    assert state(state="REQUEST_CHANGES") == "CHANGES_REQUESTED"
    assert state(state="COMMENT") == "COMMENTED"
    assert state(state="APPROVED", dismissed=True) == "DISMISSED"  # withdrawn: never counts
    assert state(state="PENDING") is None  # a draft nobody else sees
    assert state(state="REQUEST_REVIEW") is None  # a request, not a review


def test_a_renamed_repository_is_followed_to_its_new_name() -> None:
    s = sim()
    s.dataset.rename("acme/service-0", "service-zero")
    with serve(s) as url, source_for("gitea", url) as source:
        snap = source.repository(REF)
        prs = [r for p in source.pull_requests(snap.ref, None) for r in p.records]
    assert snap.ref.full_name == "acme/service-zero"
    assert snap.repository.id == "gitea:acme/service-zero"
    assert len([r for r in prs if isinstance(r, PullRequest)]) == 23


def test_drafts_before_gitea_1_22_are_told_by_their_title() -> None:
    base = {"number": 1, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}
    assert m.pull_request("r", {**base, "title": "WIP: rotate tokens"}).draft
    assert m.pull_request("r", {**base, "title": "[wip] rotate tokens"}).draft
    assert not m.pull_request("r", {**base, "title": "WIP: rotate", "draft": False}).draft
    assert not m.pull_request("r", {**base, "title": "Rotate tokens (WIP: later)"}).draft


def test_a_glob_rule_protects_the_branches_it_matches() -> None:
    rules = [{"rule_name": "release/*", "required_approvals": 1}, {"rule_name": "main"}]
    assert m.protection_rule(rules, "main") == {"rule_name": "main"}
    assert m.protection_rule(rules, "release/2.0") == rules[0]
    assert m.protection_rule(rules, "feature/x") is None


def test_issues_read_before_are_not_read_again_and_a_changed_one_is() -> None:
    """The issue list comes newest *created* first and the server keeps every issue updated
    in the watermark's second. After a pass that read up to the newest issue (the watermark
    just past its second) that issue and its comments are not asked for again; an issue
    created earlier (listed after it) and changed since is read with its comments."""
    s = sim(issues_per_repo=10)
    issues = s.dataset.repos[0].issues
    boundary = max(issues, key=lambda i: i.updated_at)
    changed = min(issues, key=lambda i: i.created_at)
    assert boundary is not changed
    assert boundary.comments
    assert changed.comments
    newest = boundary.updated_at.replace(microsecond=0)
    since = newest + timedelta(microseconds=1)  # engine.sync.advance after that pass
    with serve(s) as url, source_for("gitea", url) as source:
        unchanged = [r for p in source.issues(REF, since) for r in p.records]
        assert unchanged == []
        assert [p for _, p, _ in s.log if "/comments" in p] == []
        changed.updated_at, changed.title = newest + timedelta(seconds=30), "reopened"
        again = [r for p in source.issues(REF, since) for r in p.records]
    assert [(i.number, i.title) for i in again if isinstance(i, Issue)] == [
        (changed.number, "reopened")
    ]
    got = {c.comment_id for c in again if isinstance(c, IssueComment)}
    assert got == {str(c.id) for c in changed.comments}
    assert [p for _, p, _ in s.log if "/comments" in p] == [
        f"/api/v1/repos/acme/service-0/issues/{changed.number}/comments"
    ]


def test_assignees_and_review_requests_of_a_pull_request() -> None:
    """Assignees and pending review requests, keyed by account id as every Gitea person (a
    ghost left out), and known as people by name; a server that sends no list leaves them
    unknown."""
    base = {"number": 1, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}
    pr = m.pull_request(
        "r",
        {
            **base,
            "assignees": [{"id": 3, "login": "ann"}, {"id": -1, "login": "Ghost"}],
            "requested_reviewers": [{"id": 4, "login": "bob"}],
        },
    )
    assert (pr.assignees, pr.requested_reviewers) == (["3"], ["4"])
    listed = {
        "assignees": [{"id": 3, "login": "ann", "full_name": "Ann Lee"}],
        "requested_reviewers": [{"id": 4, "login": "bob"}],
    }
    named = {(p.login, p.name) for p in m.pr_people(listed) if p is not None}
    assert named == {("3", "Ann Lee"), ("4", "bob")}
    bare = m.pull_request("r", base)
    assert (bare.assignees, bare.requested_reviewers) == (None, None)
