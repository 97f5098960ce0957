"""The GitLab source against recorded REST v4 answers: offset pages with Link and x-next-page,
keyset pages for a group's projects, system notes (approvals, "requested changes", and the
rest), diff notes on old and new lines, diffs with the text GitLab leaves out, ``merge_user``
and the older ``merged_by``, Ghost User, offsets in timestamps, a 502 page, a 429 with
RateLimit-* and Retry-After, and a 429 with no header at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import (
    CiRun,
    Comment,
    Deployment,
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

REF = RepoRef("acme/platform", "api")
P = "/api/v4/projects/278964"


def _merge_requests() -> tuple[list[Any], Any]:
    with replayed("gitlab", "gitlab") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], replay


def test_a_group_is_listed_over_keyset_pages() -> None:
    with replayed("gitlab", "gitlab") as (source, replay):
        refs = source.list_repositories("acme/platform")
    assert replay.unmatched == []
    assert [r.full_name for r in refs] == ["acme/platform/api", "acme/platform/web"]


def test_project_and_protection() -> None:
    with replayed("gitlab", "gitlab") as (source, replay):
        snap = source.repository(REF)
    assert replay.unmatched == []
    repo = snap.repository
    assert (repo.full_name, repo.owner, repo.is_private) == (
        "acme/platform/api",
        "acme/platform",
        True,
    )
    [protection] = snap.records
    assert protection.required_approvals == 2
    assert protection.require_code_owner_reviews is True
    assert protection.dismiss_stale_reviews is True
    assert protection.allow_force_pushes is False


def test_merge_requests_in_every_state_over_a_502_and_a_429() -> None:
    records, replay = _merge_requests()
    mrs = {r.number: r for r in records if isinstance(r, PullRequest)}
    assert list(mrs) == [43, 42, 40, 39]
    assert replay.hits(f"{P}/merge_requests", page="2") == 2  # 502 page, then the page
    assert replay.hits(f"{P}/merge_requests/43/notes") == 2  # 429 + Retry-After, then notes

    draft = mrs[43]
    assert draft.draft
    assert draft.state == "open"
    assert draft.body is None
    assert draft.author == "project_278964_bot_5e3f"
    assert draft.updated_at == datetime(2024, 3, 7, 7, 45, 12, 1000, tzinfo=UTC)
    assert draft.updated_at.tzinfo is UTC
    merged = mrs[42]
    assert merged.state == "merged"
    assert merged.merged_by == "bob"  # merge_user
    assert (
        merged.merged_at == merged.closed_at == datetime(2024, 3, 6, 10, 30, 0, 600000, tzinfo=UTC)
    )
    assert merged.title == "Äpfel & Birnen: normalise user names 🍏"
    assert merged.labels == ["backend"]
    old = mrs[40]
    assert old.merged_by == "bob"  # GitLab before merge_user: merged_by only
    assert old.author == "ghost"
    closed = mrs[39]
    assert closed.state == "closed"
    assert closed.merged_at is None
    assert closed.closed_at == datetime(2024, 2, 12, 9, 0, tzinfo=UTC)


def test_approvals_and_change_requests_come_from_system_notes_only() -> None:
    records, _ = _merge_requests()
    reviews = sorted(
        (r.pr_number, r.review_id, r.author, r.state) for r in records if isinstance(r, Review)
    )
    assert reviews == [
        (42, "1505", "bob", "APPROVED"),
        (43, "1599", "alice", "DISMISSED"),  # "unapproved this merge request" the next day
        (43, "1601", "alice", "CHANGES_REQUESTED"),
    ]
    comments = {c.comment_id: c for c in records if isinstance(c, Comment)}
    assert set(comments) == {"1500", "1502", "1503"}  # no system note is a comment
    on_new = comments["1503"]
    assert (on_new.kind, on_new.path, on_new.line) == ("review", "app/models/user.rb", 18)
    assert on_new.created_at == datetime(2024, 3, 5, 14, 0, tzinfo=UTC)
    assert on_new.updated_at == datetime(2024, 3, 5, 14, 5, tzinfo=UTC)
    assert (comments["1502"].path, comments["1502"].line) == ("lib/legacy.rb", 7)  # old line
    assert comments["1500"].kind == "conversation"
    assert comments["1500"].author == "ghost"


def test_files_and_line_counts_from_diff_text() -> None:
    records, _ = _merge_requests()
    files = {f.path: f for f in records if isinstance(f, PrFile) and f.pr_number == 42}
    assert (files["app/models/user.rb"].additions, files["app/models/user.rb"].deletions) == (2, 1)
    sql = files["db/migrate/20240304_names.sql"]  # a removed "-- comment" line is a deletion
    assert (sql.additions, sql.deletions) == (1, 2)
    assert files["lib/legacy.rb"].change_type == "deleted"
    assert files["vendor/big.json"].additions is None  # too large: GitLab sent no text
    moved = files["doc/user-names.md"]  # a pure rename: no text either, but no change
    assert (moved.change_type, moved.old_path) == ("renamed", "doc/names.md")
    assert (moved.additions, moved.deletions) == (0, 0)
    merged = next(r for r in records if isinstance(r, PullRequest) and r.number == 42)
    assert merged.changed_files == 5
    assert merged.commits == 2
    commits = {c.sha[:8]: c for c in records if isinstance(c, PrCommit)}
    assert commits["c0ffee12"].authored_at == datetime(2024, 3, 6, 8, 59, tzinfo=UTC)
    assert commits["c0ffee12"].author_name == "Alice Ämberg"


def test_issues_after_a_bare_429_and_pipelines() -> None:
    with replayed("gitlab", "gitlab") as (source, replay):
        issues = [r for p in source.issues(REF, None) for r in p.records]
        runs = [r for p in source.ci_runs(REF, None) for r in p.records]
    assert replay.unmatched == []
    assert replay.hits(f"{P}/issues") == 2  # "Retry later" without any header, then issues
    by_number = {i.number: i for i in issues if isinstance(i, Issue)}
    assert by_number[7].state == "closed"
    assert by_number[5].author == "ghost"
    assert by_number[5].updated_at == datetime(2024, 1, 5, 10, 0, tzinfo=UTC)
    # GitLab's kind of issue: an incident (DORA) by type, whatever its labels and title say
    assert {n: i.issue_type for n, i in by_number.items()} == {
        7: "issue",
        6: "incident",
        5: "issue",
    }
    notes = sorted(c.comment_id for c in issues if isinstance(c, IssueComment))
    assert notes == ["2001", "2002"]
    state = {r.run_id: (r.status, r.conclusion, r.event) for r in runs if isinstance(r, CiRun)}
    assert state == {
        "1502": ("in_progress", None, "pull_request"),
        "1501": ("completed", "success", "push"),
        "1500": ("completed", "cancelled", "workflow_dispatch"),
    }


def test_an_incremental_pass_asks_for_updates_after_the_watermark_and_stops_there() -> None:
    since = datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
    with replayed("gitlab", "gitlab") as (source, replay):
        pages = list(source.pull_requests(REF, since))
    assert [r.number for p in pages for r in p.records if isinstance(r, PullRequest)] == [43, 42]
    assert pages[-1].resume is None  # nothing older is needed
    first = next(q for _, p, q, _ in replay.log if p == f"{P}/merge_requests")
    assert first["updated_after"] == "2024-03-05T00:00:00Z"
    assert replay.hits(f"{P}/merge_requests/40/notes") == 0  # nothing older is fetched


def test_a_body_that_is_not_what_its_content_encoding_says_is_read_again() -> None:
    """A proxy's answer labelled ``Content-Encoding: gzip`` that is not gzip: httpx cannot
    decode it; that is a transient failure to retry, not an httpx error escaping the source."""
    mislabelled = {
        "path": f"{P}/pipelines",
        "responses": [
            {"headers": {"content-encoding": "gzip"}, "text": "<html>upstream reset</html>"},
            {"body": "pipelines.json"},
        ],
    }
    with replayed("gitlab", "gitlab", [mislabelled]) as (source, replay):
        runs = [r for p in source.ci_runs(REF, None) for r in p.records]
    assert replay.unmatched == []
    assert len(runs) == 3
    assert replay.hits(f"{P}/pipelines") == 2


def test_a_merge_request_deleted_while_the_pass_runs_is_skipped_not_fatal() -> None:
    """A maintainer deletes a listed merge request before its notes are read: GitLab answers
    404 for it. That one item is skipped and counted; the others are collected."""
    gone = {
        "path": f"{P}/merge_requests/42/notes",
        "responses": [{"status": 404, "text": '{"message":"404 Not found"}'}],
    }
    with replayed("gitlab", "gitlab", [gone]) as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    numbers = [r.number for p in pages for r in p.records if isinstance(r, PullRequest)]
    assert numbers == [43, 40, 39]
    assert sum(p.errors for p in pages) == 1


def test_deployments_one_status_each_tier_or_name_the_deploy_job_kept() -> None:
    """A success with ``finished_at`` (+01:00 offsets), a failed review app of GitLab before
    ``finished_at`` and ``tier`` (the job's end; the kind from the name), a deployment blocked
    for approval and created through the API (no deployable), a skipped one."""
    with replayed("gitlab", "gitlab") as (source, replay):
        pages = list(source.deployments(REF, None))
    assert replay.unmatched == []
    got = {r.deployment_id: r for p in pages for r in p.records if isinstance(r, Deployment)}
    assert sum(p.errors for p in pages) == 0
    assert {k: (d.status, d.environment_kind) for k, d in got.items()} == {
        "gitlab:4141": ("success", "production"),
        "gitlab:4140": ("failure", "other"),
        "gitlab:4139": ("in_progress", "staging"),
        "gitlab:4138": ("canceled", "other"),
    }
    ok, failed, blocked = got["gitlab:4141"], got["gitlab:4140"], got["gitlab:4139"]
    assert ok.created_at == datetime(2024, 3, 6, 9, 2, tzinfo=UTC)
    assert ok.finished_at == datetime(2024, 3, 6, 9, 9, 31, 118000, tzinfo=UTC)
    assert (ok.description, ok.url) == (
        "deploy:production",
        "https://gitlab.example.com/acme/platform/api/-/jobs/880441",
    )
    assert (ok.creator, ok.ref, ok.production_environment) == ("alice", "main", True)
    assert failed.finished_at == datetime(2024, 3, 5, 15, 3, 55, tzinfo=UTC)  # the job's end
    assert failed.sha == "badc0de1aa34bb56cc78dd90ee12ff34aa56bb78"  # lower case
    assert failed.production_environment is None  # no tier: GitLab did not say
    assert (blocked.finished_at, blocked.description, blocked.url) == (None, None, None)
    assert blocked.creator == "project_278964_bot_3f1c"
    bots = {p.login for p in pages[0].records if isinstance(p, Person) and p.is_bot}
    assert bots == {"project_278964_bot_3f1c"}
