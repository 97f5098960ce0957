"""The GitHub source (GraphQL mode) against recorded GraphQL answers: a ``RATE_LIMITED`` error
inside an HTTP 200, cursor pages, a nested connection that overflows into a follow-up query,
ghost authors (``null``), bots without ``[bot]``, and git timestamps that keep their offset."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.errors import ForgeError, RateLimited
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
from tests.sources.recordedhelp import RECORDED, replayed

REF = RepoRef("octo-org", "hello-world")
CURSOR = "Y3Vyc29yOnYyOpK5MjAyNC0wMy0wNlQxMDozMDowMFrOAAAEjQ=="  # page 1's endCursor


def _pull_requests() -> tuple[list[Any], list[Any], Any]:
    with replayed("github", "github", api="graphql") as (source, replay):
        pages = list(source.pull_requests(REF, None))
    assert replay.unmatched == []
    return [r for p in pages for r in p.records], pages, replay


def test_repository_probe() -> None:
    with replayed("github", "github", api="graphql") as (source, replay):
        snap = source.repository(REF)
    assert replay.unmatched == []
    assert snap.repository.open_issues == 2
    assert snap.marks["pull_requests"] == datetime(2024, 3, 7, 7, 45, 12, tzinfo=UTC)


def test_pull_requests_over_cursor_pages_after_a_rate_limited_answer() -> None:
    records, pages, replay = _pull_requests()
    prs = {r.number: r for r in records if isinstance(r, PullRequest)}
    assert list(prs) == [1350, 1347, 1200]
    assert [p.resume for p in pages][-1] is None
    posts = [q for m, p, q, _ in replay.log if m == "POST"]
    assert len(posts) == 4  # RATE_LIMITED, page 1, the files follow-up, page 2
    merged = prs[1347]
    assert (merged.state, merged.merged_by, merged.labels) == (
        "merged",
        "hubot",
        ["enhancement", "größe/L"],
    )
    assert prs[1200].author is None
    assert prs[1350].draft
    files = sorted(f.path for f in records if isinstance(f, PrFile) and f.pr_number == 1347)
    assert files == ["assets/logo.png", "docs/guide.md", "legacy/old.py", "src/app.py"]
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
    assert (comments["10"].kind, comments["10"].author) == ("review", None)
    assert comments["10"].line == 12  # outdated: ``line`` is null, ``originalLine`` is not
    assert comments["1201"].author == "dependabot[bot]"  # GraphQL names bots without [bot]
    people = {p.login: p for p in records if isinstance(p, Person)}
    assert people["dependabot[bot]"].is_bot
    # ``databaseId`` of User and Bot is the id REST calls ``id``: the same person either way
    ids = {login: p.forge_id for login, p in people.items()}
    assert ids == {
        "monalisa": "2",
        "octocat": "583231",
        "hubot": "9919",
        "dependabot[bot]": "49699333",
    }


def test_issues() -> None:
    with replayed("github", "github", api="graphql") as (source, replay):
        records = [r for p in source.issues(REF, None) for r in p.records]
    assert replay.unmatched == []
    issues = {i.number: i for i in records if isinstance(i, Issue)}
    assert list(issues) == [1352, 1100]
    assert issues[1100].state == "closed"
    assert issues[1100].author is None
    comments = sorted((c.comment_id, c.author) for c in records if isinstance(c, IssueComment))
    assert comments == [("3001", "hubot"), ("3002", None)]


def test_git_timestamps_with_an_offset_are_stored_in_utc() -> None:
    """``authoredDate`` is a GitTimestamp, "not converted in UTC": it keeps the author's
    offset. Every timestamp a source hands on is UTC, whatever the forge wrote."""
    records, _, _ = _pull_requests()
    commits = {c.sha[:7]: c for c in records if isinstance(c, PrCommit)}
    assert commits["6dcb09b"].authored_at == datetime(2024, 3, 4, 9, 10, tzinfo=UTC)
    assert commits["7638417"].authored_at == datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    for c in commits.values():
        assert c.authored_at is not None
        assert c.authored_at.tzinfo is UTC, c.sha


def test_an_end_cursor_already_read_is_an_error_not_a_loop() -> None:
    page2 = json.loads((RECORDED / "github" / "gql-prs-page2.json").read_text(encoding="utf-8"))
    conn = page2["data"]["repository"]["pullRequests"]
    conn["pageInfo"] = {"hasNextPage": True, "endCursor": CURSOR}  # back to itself
    looping = {
        "method": "POST",
        "path": "/graphql",
        "graphql": {"operation": "PullRequests", "variables": {"after": CURSOR}},
        "responses": [{"text": json.dumps(page2)}],
    }
    with (
        replayed("github", "github", [looping], api="graphql") as (source, replay),
        pytest.raises(ForgeError, match="same page"),
    ):
        list(source.pull_requests(REF, None))
    assert len([m for m, *_ in replay.log if m == "POST"]) <= 5


def test_rate_limited_for_ever_ends_with_rate_limited() -> None:
    """GitHub answers RATE_LIMITED (HTTP 200) while the budget is spent; a budget that never
    comes back (a misconfigured Enterprise server) ends in ``RateLimited``, not in a loop."""
    limited = {
        "method": "POST",
        "path": "/graphql",
        "graphql": {"operation": "RepoProbe"},
        "responses": [{"body": "gql-rate-limited.json"}],
    }
    with (
        replayed("github", "github", [limited], api="graphql") as (source, replay),
        pytest.raises(RateLimited, match="RATE_LIMITED"),
    ):
        source.repository(REF)
    assert 2 <= len(replay.log) <= 10


def test_every_actor_asks_for_its_account_id() -> None:
    """``databaseId`` is no field of the Actor interface: each queried actor (authors, merger)
    spreads it from its types, or a renamed login could not be joined to its old name (a
    commit's git author is no actor: its ``user`` only links a login)."""
    from forgelens.sources.github import _graphql as q

    for query in (q.PULL_REQUESTS, q.ISSUES, q.ISSUE_COMMENTS, q.REVIEW_COMMENTS):
        actors = query.count("author { __typename") + query.count("mergedBy { __typename")
        assert actors > 0
        for kind in ("User", "Bot", "Mannequin"):
            assert query.count(f"... on {kind} {{ databaseId }}") == actors, (query[:40], kind)
