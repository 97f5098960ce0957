"""The Gitea / Forgejo source against recorded API v1 answers (a Forgejo 9 server that says
``gitea-1.22``): pages whose ``Link`` names the server's ROOT_URL (another host than the one
asked), a 503 from the proxy, a 429 with ``Retry-After``; reviews of every kind (a dismissed
stale approval, changes requested with inline comments on a new and an old line, a team's
review request, a comment review, a pending draft); the Ghost of a deleted account; a
pull request's files over two ``X-HasMore`` pages (changed, renamed, deleted); a commit not
linked to an account; a closed pull request whose commits are gone (404); issues with
``since``; ``/actions/runs`` missing and ``/actions/tasks`` answering; branch protection read
from the branch when the rules need admin rights; teams."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.errors import NotFound
from forgelens.records import (
    CiRun,
    Comment,
    Issue,
    IssueComment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Review,
    Team,
    TeamMember,
)
from forgelens.sources.base import RepoRef
from tests.sources.recordedhelp import replayed

REF = RepoRef("lab", "forge-scripts")
A = "/api/v1/repos/lab/forge-scripts"
# the recorded accounts' ids: people are keyed by id (a login can be renamed)
MIRA, JONAS, OPS_LEAD, RENOVATE = "12", "15", "21", "40"


def _pull_requests(since: datetime | None = None) -> tuple[list[Any], Any]:
    with replayed("gitea", "gitea") as (source, replay):
        pages = list(source.pull_requests(REF, since))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], replay


def of(records: list[Any], kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind)]


def test_repository_protection_from_the_branch_and_the_newest_pull_request() -> None:
    with replayed("gitea", "gitea") as (source, replay):
        snap = source.repository(REF)
    assert replay.unmatched == []
    repo = snap.repository
    assert (repo.full_name, repo.owner, repo.is_private, repo.stars) == (
        "lab/forge-scripts",
        "lab",
        False,
        7,
    )
    [rule] = [r for r in snap.records if not isinstance(r, Person)]
    assert rule.required_approvals == 2
    assert rule.required_checks == ["test / test (push)", "lint / lint (push)"]
    assert replay.hits(A + "/branch_protections") == 1  # 403 without admin rights: the branch
    assert snap.marks["pull_requests"] == datetime(2024, 6, 3, 15, 45, 12, tzinfo=UTC)


def test_pull_requests_in_every_state_over_a_503_and_another_hosts_next_link() -> None:
    records, replay = _pull_requests()
    prs = {p.number: p for p in of(records, PullRequest)}
    assert sorted(prs) == [29, 30, 31]
    merged, closed, draft = prs[31], prs[30], prs[29]
    assert (merged.state, merged.merged_by, merged.author) == ("merged", JONAS, MIRA)
    assert merged.merged_at == datetime(2024, 6, 3, 15, 45, 10, tzinfo=UTC)
    assert merged.labels == ["kind/enhancement", "backport/v1"]
    assert (merged.additions, merged.deletions, merged.changed_files, merged.commits) == (
        61,
        23,
        3,
        2,
    )
    assert (closed.state, closed.merged_at, closed.author) == ("closed", None, RENOVATE)
    assert closed.commits is None  # its commits are gone (404): kept without them
    assert (draft.state, draft.draft) == ("open", True)
    assert draft.created_at == datetime(2024, 5, 20, 14, 30, tzinfo=UTC)
    # page 2 was asked of the server we talk to, not of the ROOT_URL its Link header named
    assert replay.hits("/api/v1/repos/lab/forge-scripts/pulls", page="2") == 2  # 503, then 200


def test_reviews_dismissed_changes_requested_and_no_review_requests_or_drafts() -> None:
    records, _ = _pull_requests()
    reviews = {r.review_id: r for r in of(records, Review)}
    assert {k: (r.author, r.state) for k, r in reviews.items()} == {
        "501": (JONAS, "DISMISSED"),  # a withdrawn approval never counts as one
        "502": (OPS_LEAD, "CHANGES_REQUESTED"),
        "504": (MIRA, "COMMENTED"),
        "505": (JONAS, "APPROVED"),
    }
    assert reviews["505"].submitted_at == datetime(2024, 6, 3, 15, 40, 2, tzinfo=UTC)


def test_inline_and_conversation_comments_and_the_ghost() -> None:
    records, _ = _pull_requests()
    comments = {c.comment_id: c for c in of(records, Comment)}
    inline_new, inline_old = comments["7701"], comments["7702"]
    assert (inline_new.kind, inline_new.path, inline_new.line) == ("review", "backup/dump.sh", 14)
    assert (inline_old.path, inline_old.line) == ("backup/old_cleanup.sh", 7)  # old side
    ghost, rebased = comments["7650"], comments["7690"]
    assert (ghost.kind, ghost.author) == ("conversation", None)  # a deleted account
    assert rebased.updated_at == datetime(2024, 6, 3, 15, 39, 2, tzinfo=UTC)
    people = {p.login: p for p in of(records, Person)}
    assert "Ghost" not in {p.name for p in people.values()}
    assert {MIRA, JONAS, OPS_LEAD, RENOVATE} <= set(people)
    # keyed by id, shown by full name else login; the id is the forge id identities merge by
    assert (people[MIRA].name, people[MIRA].forge_id) == ("Mira Kowalski", MIRA)
    assert (people[RENOVATE].name, people[RENOVATE].is_bot) == ("Renovate Bot", True)


def test_files_over_has_more_pages_and_commits() -> None:
    records, replay = _pull_requests()
    files = {f.path: f for f in of(records, PrFile) if f.pr_number == 31}
    assert {p: f.change_type for p, f in files.items()} == {
        "backup/dump.sh": "modified",
        "backup/stream.sh": "renamed",
        "backup/old_cleanup.sh": "deleted",
    }
    assert files["backup/stream.sh"].old_path == "backup/tmpfile.sh"
    assert replay.hits(A + "/pulls/31/files", page="2") == 1
    commits = {c.sha[:4]: c for c in of(records, PrCommit) if c.pr_number == 31}
    assert commits["5e5e"].author_login == MIRA
    assert (commits["6a6a"].author_login, commits["6a6a"].author_email) == (
        None,
        "mira.k@old-mail.example",
    )
    assert replay.hits(A + "/pulls/31/commits", stat="false", files="false") == 1


def test_an_incremental_pass_stops_at_the_watermark_and_rereads_its_second() -> None:
    since = datetime(2024, 6, 1, 6, 11, 45, tzinfo=UTC)  # PR 30's update, to the second
    records, replay = _pull_requests(since)
    assert sorted(p.number for p in of(records, PullRequest)) == [30, 31]
    assert replay.hits(A + "/pulls/30/reviews") == 1  # changed in the watermark's second
    assert replay.hits(A + "/pulls/29/reviews") == 0  # older: the listing ends there


def test_issues_with_since_a_429_and_their_comments() -> None:
    since = datetime(2024, 5, 1, tzinfo=UTC)
    with replayed("gitea", "gitea") as (source, replay):
        records = [r for p in source.issues(REF, since) for r in p.records]
    assert replay.unmatched == []
    issues = {i.number: i for i in of(records, Issue)}
    assert sorted(issues) == [12, 27]
    assert (issues[12].state, issues[12].author, issues[12].labels) == (
        "closed",
        None,
        ["kind/bug"],
    )
    assert [c.comment_id for c in of(records, IssueComment)] == ["7001", "7720"]
    assert replay.hits(A + "/issues/27/comments") == 0  # no comments: not asked
    assert replay.hits(A + "/issues", since="2024-05-01T00:00:00Z") == 2  # 429, then the page


def test_actions_tasks_when_the_server_has_no_runs_list() -> None:
    with replayed("gitea", "gitea") as (source, replay):
        runs = [r for p in source.ci_runs(REF, None) for r in p.records]
    assert replay.unmatched == []
    by_id = {r.run_id: r for r in runs if isinstance(r, CiRun)}
    assert {k: (r.status, r.conclusion, r.event) for k, r in by_id.items()} == {
        "3310": ("in_progress", None, "push"),
        "3302": ("completed", "failure", "pull_request"),
        "3290": ("completed", "success", "schedule"),
    }
    assert by_id["3302"].completed_at == datetime(2024, 6, 3, 15, 37, 40, tzinfo=UTC)
    assert by_id["3290"].name == "lint"


def test_teams_and_their_members() -> None:
    with replayed("gitea", "gitea") as (source, replay):
        out = source.teams("lab")
    assert replay.unmatched == []
    assert [t.slug for t in out if isinstance(t, Team)] == ["maintainers", "oncall"]
    members = {(m.team_slug, m.login, m.role) for m in out if isinstance(m, TeamMember)}
    assert members == {
        ("maintainers", MIRA, "maintainer"),
        ("maintainers", JONAS, "maintainer"),
        ("oncall", JONAS, "member"),
    }


def test_a_missing_repository_on_a_gitea_server_is_not_found() -> None:
    with replayed("gitea", "gitea") as (source, _), pytest.raises(NotFound) as err:
        source.repository(RepoRef("lab", "retired"))
    assert "gitea:lab/retired" in err.value.message
