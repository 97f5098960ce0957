"""The GitHub source (REST mode) against recorded github.com answers: Link pages (through the
``/repositories/{id}`` URLs GitHub links to) ending on an empty page, a primary limit (403 with
remaining 0), a secondary limit without Retry-After, a truncated body, ghost users (``null``),
a PR from a deleted fork (``head.repo: null``), bots, and the issues list that holds PRs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import (
    Comment,
    Issue,
    IssueComment,
    Person,
    PrCommit,
    PrFile,
    PullRequest,
    Review,
)
from forgelens.sources.base import RepoRef
from tests.sources.recordedhelp import replayed

REF = RepoRef("octo-org", "hello-world")
R = "/repos/octo-org/hello-world"
PAGED = "/repositories/1296269/pulls"


def _pull_requests() -> tuple[list[Any], list[Any], Any]:
    with replayed("github", "github", api="rest") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], pages, replay


def test_repository_without_branch_protection() -> None:
    with replayed("github", "github", api="rest") as (source, replay):
        snap = source.repository(REF)
    assert replay.unmatched == []
    assert snap.repository.full_name == "octo-org/hello-world"
    assert snap.repository.pushed_at == datetime(2024, 3, 7, 7, 40, tzinfo=UTC)
    assert snap.records == []  # 404 "Branch not protected"


def test_pull_requests_over_link_pages_and_rate_limits() -> None:
    records, pages, replay = _pull_requests()
    prs = {r.number: r for r in records if isinstance(r, PullRequest)}
    assert list(prs) == [1350, 1347, 1200]
    assert replay.hits(PAGED, page="2") == 2  # secondary limit without Retry-After, then page
    assert replay.hits(PAGED, page="3") == 1  # the empty last page ends the list
    assert replay.hits(f"{R}/pulls/1350") == 2  # primary limit (remaining 0), then the PR
    assert replay.hits(f"{R}/pulls/1200/files") == 2  # a truncated body is read again
    assert sum(p.errors for p in pages) == 0

    merged = prs[1347]
    assert merged.state == "merged"
    assert merged.merged_by == "hubot"
    assert merged.merged_at == datetime(2024, 3, 6, 10, 30, tzinfo=UTC)
    assert merged.labels == ["enhancement", "größe/L"]
    assert (merged.additions, merged.deletions, merged.changed_files, merged.commits) == (
        104,
        7,
        4,
        2,
    )
    assert merged.body is not None
    assert merged.body.endswith("Closes #1352")
    assert len(merged.body) > 20_000
    draft = prs[1350]
    assert draft.draft
    assert draft.body is None
    assert draft.state == "open"
    orphan = prs[1200]  # ghost author, from a fork that was deleted
    assert orphan.author is None
    assert orphan.state == "closed"
    assert orphan.merged_at is None
    assert orphan.head_ref == "patch-1"


def test_reviews_comments_files_commits_and_people() -> None:
    records, _, _ = _pull_requests()
    reviews = sorted(
        (r.pr_number, r.review_id, r.author or "", r.state)
        for r in records
        if isinstance(r, Review)
    )
    assert reviews == [
        (1200, "70", "", "CHANGES_REQUESTED"),
        (1347, "80", "hubot", "APPROVED"),
        (1347, "81", "", "COMMENTED"),
    ]
    comments = {c.comment_id: c for c in records if isinstance(c, Comment)}
    assert set(comments) == {"10", "1201"}
    assert comments["10"].kind == "review"
    assert comments["10"].author is None
    assert comments["10"].updated_at == datetime(2024, 3, 5, 12, 1, 30, tzinfo=UTC)
    # an outdated comment has ``line: null``: the line it was written on is ``original_line``
    assert (comments["10"].path, comments["10"].line) == ("file1.txt", 12)
    assert comments["1201"].author == "dependabot[bot]"
    files = {f.path: f for f in records if isinstance(f, PrFile) and f.pr_number == 1347}
    assert set(files) == {"src/app.py", "docs/guide.md", "legacy/old.py", "assets/logo.png"}
    assert files["legacy/old.py"].change_type == "deleted"
    assert files["assets/logo.png"].additions == 0
    commits = {c.sha[:7]: c for c in records if isinstance(c, PrCommit)}
    assert commits["7638417"].author_login is None  # an e-mail no account claims
    assert commits["7638417"].author_email == "octo@laptop.local"
    assert commits["6dcb09b"].author_login == "octocat"
    people = {p.login: p for p in records if isinstance(p, Person)}
    assert people["dependabot[bot]"].is_bot
    assert not people["hubot"].is_bot
    # each carries its account id (a login can be renamed, the id stays): identities join by it
    assert people["hubot"].forge_id == "9919"
    assert people["dependabot[bot]"].forge_id == "49699333"
    assert all(p.forge_id for p in people.values())


def test_issues_skip_the_pull_requests_among_them() -> None:
    with replayed("github", "github", api="rest") as (source, replay):
        records = [r for p in source.issues(REF, None) for r in p.records]
    assert replay.unmatched == []
    issues = {i.number: i for i in records if isinstance(i, Issue)}
    assert list(issues) == [1352, 1100]  # #1350 is a pull request
    assert issues[1100].author is None
    assert issues[1100].closed_at == datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    assert issues[1352].labels == ["bug"]
    comments = sorted((c.comment_id, c.author) for c in records if isinstance(c, IssueComment))
    assert comments == [("3001", "hubot"), ("3002", None)]


def test_an_incremental_pass_stops_at_the_watermark() -> None:
    since = datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
    with replayed("github", "github", api="rest") as (source, replay):
        pages = list(source.pull_requests(REF, since))
    assert [r.number for p in pages for r in p.records if isinstance(r, PullRequest)] == [
        1350,
        1347,
    ]
    assert replay.hits(f"{R}/pulls/1200") == 0


def test_a_pull_request_removed_since_it_was_listed_is_skipped_not_fatal() -> None:
    gone = {
        "path": f"{R}/pulls/1347",
        "responses": [{"status": 404, "text": '{"message":"Not Found","status":"404"}'}],
    }
    with replayed("github", "github", [gone], api="rest") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    assert [r.number for p in pages for r in p.records if isinstance(r, PullRequest)] == [
        1350,
        1200,
    ]
    assert sum(p.errors for p in pages) == 1
