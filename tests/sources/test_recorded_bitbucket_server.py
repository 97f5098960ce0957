"""The Bitbucket Server / Data Center source against recorded server answers (REST 1.0):
epoch-millisecond times, start/limit pages the server caps, activities newest first, a proxy's
503 page, a 429 with Retry-After, and a PR whose commits the server no longer has."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import Comment, Person, PrCommit, PrFile, PullRequest, Review
from forgelens.sources.base import RepoRef
from tests.sources.recordedhelp import replayed

REF = RepoRef("PRJ", "my-repo")
REPO_ID = "bitbucket-server:PRJ/my-repo"
PRS = "/rest/api/1.0/projects/PRJ/repos/my-repo/pull-requests"


def _records() -> tuple[list[Any], Any]:
    with replayed("bitbucket_server", "bitbucket-server") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], pages


def _ms(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1000, UTC)


def test_repository_with_default_branch_and_restrictions() -> None:
    with replayed("bitbucket_server", "bitbucket-server") as (source, replay):
        snap = source.repository(REF)
    assert replay.unmatched == []
    repo = snap.repository
    assert (repo.full_name, repo.default_branch, repo.is_private) == ("PRJ/my-repo", "main", True)
    [protection] = snap.records
    assert protection.required_approvals == 2
    assert protection.allow_force_pushes is False  # fast-forward-only


def test_pull_requests_over_capped_pages_with_a_503_and_a_429() -> None:
    with replayed("bitbucket_server", "bitbucket-server") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    prs = {r.number: r for p in pages for r in p.records if isinstance(r, PullRequest)}
    assert list(prs) == [102, 101, 97]  # newest update first, over two pages
    assert replay.hits(PRS, start="2") == 2  # the proxy's 503 page, then the page
    assert replay.hits(f"{PRS}/102/activities") == 2  # 429 + Retry-After, then the page
    assert [p.resume for p in pages] == ["2", None]

    merged, draft, declined = prs[101], prs[102], prs[97]
    assert merged.state == "merged"
    assert merged.merged_at == merged.closed_at == datetime(2024, 3, 6, 10, 30, tzinfo=UTC)
    assert merged.created_at == datetime(2024, 3, 4, 9, 15, 30, 123000, tzinfo=UTC)
    assert merged.merged_by == "bob"
    assert merged.author == "ann.smith"
    assert merged.body is None
    assert (merged.additions, merged.deletions, merged.changed_files) == (5, 1, 3)
    assert draft.state == "open"
    assert draft.draft
    assert draft.closed_at is None
    assert draft.title == "Zahlungen: Wiederholung bei Zeitüberschreitung 🚀"
    assert draft.body is not None
    assert "„Zoë's“" in draft.body
    assert draft.updated_at.tzinfo is UTC
    assert draft.updated_at == _ms(1709797512001)
    assert declined.state == "closed"
    assert declined.merged_at is None
    assert declined.closed_at == _ms(1708516800000)
    assert declined.author == "renovate-bot"


def test_reviews_comments_files_and_commits() -> None:
    records, _ = _records()
    reviews = sorted((r.pr_number, r.author, r.state) for r in records if isinstance(r, Review))
    assert reviews == [(101, "bob", "APPROVED"), (102, "ann.smith", "CHANGES_REQUESTED")]
    comments = {c.comment_id: c for c in records if isinstance(c, Comment)}
    assert {"5400", "5401", "5501", "5502"} <= set(comments)  # both activity pages of #101
    inline = comments["5401"]
    assert (inline.kind, inline.path, inline.line) == (
        "review",
        "src/main/java/com/example/Refunds.java",
        27,
    )
    assert comments["5400"].updated_at == _ms(1709610000000)
    assert comments["5502"].deleted_at == _ms(1709797512001)
    assert comments["5501"].deleted_at is None
    files = {(f.pr_number, f.path): f for f in records if isinstance(f, PrFile)}
    assert files[(101, "src/main/resources/db/V12__refund_keys.sql")].change_type == "added"
    moved = files[(101, "docs/images/logo.png")]
    assert (moved.change_type, moved.old_path, moved.additions) == ("renamed", "docs/logo.png", 0)
    commits = {c.sha: c for c in records if isinstance(c, PrCommit)}
    unlinked = commits["e5f60718293a4b5c6d7e8f9012345678901234ab"]
    assert unlinked.author_login is None
    assert unlinked.author_email == "ann.smith@laptop.local"
    assert commits["b2c3d4e5f60718293a4b5c6d7e8f901234567890"].author_login == "ann.smith"
    people = {p.login: p for p in records if isinstance(p, Person)}
    assert people["renovate-bot"].is_bot
    assert not people["bob"].is_bot
    assert people["zoe.unal"].name == "Zoë Ünal"


def test_a_pull_request_whose_commits_are_gone_is_kept() -> None:
    """The server answers 404 NoSuchCommitException for the commits of a PR whose commits
    were deleted (devlake#7258): that PR keeps its other data, the others are unharmed."""
    records, pages = _records()
    declined = next(r for r in records if isinstance(r, PullRequest) and r.number == 97)
    assert declined.commits is None  # unknown, not zero
    assert (declined.additions, declined.deletions, declined.changed_files) == (1, 1, 1)
    assert not [c for c in records if isinstance(c, PrCommit) and c.pr_number == 97]
    assert sum(p.items for p in pages) == 3
    assert sum(p.errors for p in pages) == 0


def test_replies_are_comments_too() -> None:
    """A reply is a COMMENTED activity with ``commentAction: REPLIED``, and the thread's
    replies (and their replies) are nested in ``comment.comments``; each is kept once, in the
    thread's file and line."""
    records, _ = _records()
    comments = [c for c in records if isinstance(c, Comment) and c.pr_number == 101]
    ids = sorted(c.comment_id for c in comments)
    assert ids == ["5400", "5401", "5402", "5403"]
    by_id = {c.comment_id: c for c in comments}
    assert (by_id["5402"].author, by_id["5402"].body) == (
        "ann.smith",
        "Yes, in the same transaction.",
    )
    assert (by_id["5403"].author, by_id["5403"].created_at) == ("carl", _ms(1709660000000))
    assert (by_id["5403"].kind, by_id["5403"].line) == ("review", 27)
    assert "carl" in {p.login for p in records if isinstance(p, Person)}


def test_the_token_bucket_is_waited_for_as_long_as_retry_after_says() -> None:
    """Data Center rate limiting is a token bucket refilled every second: X-RateLimit-Limit /
    Remaining / FillRate / Interval-Seconds and a Retry-After, but no reset time. A low
    Remaining is no reason to wait, and a 429 is waited for as long as Retry-After says."""
    waits: list[float] = []
    with replayed("bitbucket_server", "bitbucket-server") as (source, replay):
        source.client._sleep = waits.append
        source.client.policy.secondary_wait = 60.0  # what an unknown wait would cost
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    assert sum(p.items for p in pages) == 3
    assert replay.hits(f"{PRS}/102/activities") == 2
    assert sum(waits) <= 5.0, waits  # the 429's Retry-After (1 s) and the 503's backoff
    assert 1.0 in waits


def test_an_approval_withdrawn_before_the_merge_is_dismissed() -> None:
    """Bob approved #101 and took the approval back 39 s later (``UNAPPROVED``, Atlassian's
    "a user has removed an approval"), before the merge: his approval is DISMISSED, not
    standing."""
    activities = f"{PRS}/101/activities"
    extra = [
        {"path": activities, "responses": [{"body": "activities-101-unapproved.json"}]},
        {
            "path": activities,
            "query": {"start": "5"},
            "responses": [{"body": "activities-101-p3.json"}],
        },
    ]
    with replayed("bitbucket_server", "bitbucket-server", extra) as (source, replay):
        records = [r for p in source.pull_requests(REF, None) for r in p.records]
    assert replay.unmatched == []
    reviews = {r.review_id: r for r in records if isinstance(r, Review) and r.pr_number == 101}
    assert {k: (r.author, r.state) for k, r in reviews.items()} == {"9005": ("bob", "DISMISSED")}
    assert reviews["9005"].submitted_at == _ms(1709720000000)  # when it was given


def test_data_center_10_iso_times_are_read_as_epoch_milliseconds_were() -> None:
    """Data Center 10 sends ``createdDate`` / ``updatedDate`` / ``closedDate`` as ISO-8601
    text where earlier versions sent epoch milliseconds: the same pull requests come out."""
    listing = {"state": "ALL", "order": "NEWEST"}
    extra = [
        {"path": PRS, "query": listing, "responses": [{"body": "prs-page0-dc10.json"}]},
        {
            "path": PRS,
            "query": {**listing, "start": "2"},
            "responses": [{"body": "prs-page2.json"}],
        },
    ]
    with replayed("bitbucket_server", "bitbucket-server", extra) as (source, replay):
        iso = [r for p in source.pull_requests(REF, None) for r in p.records]
    assert replay.unmatched == []
    epoch, _ = _records()
    prs = {r.number: r for r in iso if isinstance(r, PullRequest)}
    assert prs == {r.number: r for r in epoch if isinstance(r, PullRequest)}
    assert prs[101].created_at == _ms(1709543730123)
    assert prs[101].merged_at == _ms(1709721000000)
    assert prs[102].updated_at == _ms(1709797512001)
