"""Recorded GitHub deliveries (``tests/fixtures/webhooks/recorded/github``) through the app:
what each stores and queues, in order and out of order."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.service.conftest import Service
from tests.service.test_webhooks_recorded import (
    GH,
    count,
    deliver,
    delivered,
    post_signed,
    recorded,
    rows,
    test_collectors,  # noqa: F401 - the autouse fixture: syncs run the test collector
)


# -- GitHub -----------------------------------------------------------------------------------
def test_github_pull_request_lifecycle_lands_in_order_and_late_deliveries_lose(
    service: Service,
) -> None:
    delivered(
        service,
        *(
            f"github/{n}"
            for n in (
                "pull_request_opened",
                "pull_request_synchronize",
                "pull_request_edited",
                "pull_request_labeled",
                "pull_request_converted_to_draft",
                "pull_request_ready_for_review",
                "pull_request_review_submitted",
                "pull_request_review_edited",
                "pull_request_review_comment_created",
                "pull_request_review_comment_edited_outdated",
                "issue_comment_on_pull_request",
                "pull_request_closed_merged",
            )
        ),
    )
    # a delivery of an earlier state arriving last does not undo the merge
    late = deliver(service, "github/pull_request_synchronize", X_GitHub_Delivery="late-synchronize")
    assert late.status_code == 202
    pr = rows(
        service,
        "SELECT number, title, state, draft, author, merged_by, merged_at, closed_at, labels, "
        "additions, deletions, changed_files, commits, head_ref, base_ref FROM pull_requests",
    )
    merged = datetime(2024, 3, 6, 9, 0, 4, tzinfo=UTC)
    assert pr == [
        {
            "number": 42,
            "title": "Exporter: retry with jitter — «résumé» 🚀",
            "state": "merged",
            "draft": False,
            "author": "monalisa",
            "merged_by": "hubot",
            "merged_at": merged,
            "closed_at": merged,
            "labels": '["bug"]',
            "additions": 87,
            "deletions": 12,
            "changed_files": 4,
            "commits": 3,
            "head_ref": "retry-jitter",
            "base_ref": "main",
        }
    ]
    assert rows(service, "SELECT review_id, author, state, body FROM pr_reviews") == [
        {
            "review_id": "1919191919",
            "author": "hubot",
            "state": "APPROVED",
            "body": "LGTM — nice «jitter»",
        }
    ]
    comments = rows(
        service, "SELECT comment_id, kind, path, line, body FROM pr_comments ORDER BY comment_id"
    )
    assert comments == [
        {
            "comment_id": "1510101010",
            "kind": "review",
            "path": "src/exporter/retry.py",
            "line": 13,  # outdated (line: null): the line it was made on (original_line)
            "body": "Should the cap be configurable? (edited)",
        },
        {
            "comment_id": "2001000001",
            "kind": "conversation",
            "path": None,
            "line": None,
            "body": "Ship it 🚢",
        },
    ]
    assert count(service, "issues") == 0  # a comment on a pull request is not an issue
    assert count(service, "issue_comments") == 0


def test_github_closed_unmerged_then_reopened(service: Service) -> None:
    delivered(service, "github/pull_request_closed_unmerged")
    assert rows(service, "SELECT state, merged_at, closed_at FROM pull_requests") == [
        {"state": "closed", "merged_at": None, "closed_at": datetime(2024, 3, 6, 10, tzinfo=UTC)}
    ]
    delivered(service, "github/pull_request_reopened")
    assert rows(service, "SELECT state, merged_at, closed_at FROM pull_requests") == [
        {"state": "open", "merged_at": None, "closed_at": None}
    ]


def test_github_review_states_and_dismissal(service: Service) -> None:
    delivered(
        service,
        "github/pull_request_review_submitted",
        "github/pull_request_review_changes_requested",
        "github/pull_request_review_dismissed",
    )
    got = rows(service, "SELECT review_id, author, state FROM pr_reviews ORDER BY review_id")
    assert got == [
        {"review_id": "1919191919", "author": "hubot", "state": "DISMISSED"},
        {"review_id": "1919191920", "author": "dependabot[bot]", "state": "CHANGES_REQUESTED"},
    ]


def test_github_bots_and_deleted_accounts(service: Service) -> None:
    delivered(
        service,
        "github/pull_request_opened_by_bot",
        "github/pull_request_closed_ghost_author",
        "github/issue_comment_by_ghost",
    )
    prs = rows(service, "SELECT number, author, state FROM pull_requests ORDER BY number")
    assert prs == [
        {"number": 7, "author": None, "state": "closed"},
        {"number": 44, "author": "dependabot[bot]", "state": "open"},
    ]
    bots = rows(service, "SELECT login, is_bot FROM people WHERE login = 'dependabot[bot]'")
    assert bots == [{"login": "dependabot[bot]", "is_bot": True}]
    assert rows(service, "SELECT comment_id, author, body FROM issue_comments") == [
        {"comment_id": "2001000003", "author": None, "body": "(from a deleted account)"}
    ]


def test_github_issue_and_its_comment(service: Service) -> None:
    delivered(
        service, "github/issues_opened", "github/issue_comment_on_issue", "github/issues_closed"
    )
    assert rows(service, "SELECT number, state, labels, comments_count, closed_at FROM issues") == [
        {
            "number": 41,
            "state": "closed",
            "labels": '["bug"]',
            "comments_count": 2,
            "closed_at": datetime(2024, 3, 6, 9, 0, 6, tzinfo=UTC),
        }
    ]
    assert rows(service, "SELECT issue_number, body FROM issue_comments") == [
        {"issue_number": 41, "body": "Reproduced: «503» → lost batch"}
    ]


def test_github_pushes(service: Service) -> None:
    delivered(service, "github/push_25_commits")
    assert count(service, "commits") == 25  # every listed commit, not the first 20
    first = rows(
        service,
        "SELECT message, author_login, authored_at, files_changed FROM commits "
        "WHERE sha LIKE '05%'",
    )
    assert first == [
        {
            "message": "Step 5: tune the backoff (5/25)",
            "author_login": "monalisa",
            "authored_at": datetime(2024, 3, 5, 8, 10, tzinfo=UTC),
            "files_changed": 2,
        }
    ]
    delivered(service, "github/push_branch_deleted", "github/push_tag")
    assert count(service, "commits") == 25  # a deleted branch or a new tag adds no commit
    reasons = rows(service, "SELECT repository_id, reason FROM service_jobs")
    assert {(r["repository_id"], r["reason"]) for r in reasons} == {(GH, "webhook")}


def test_github_events_that_change_no_data_queue_nothing(service: Service) -> None:
    delivered(
        service,
        "github/ping",
        "github/installation_created",
        "github/installation_repositories_added",
        "github/repository_renamed",
        "github/repository_transferred",
        "github/repository_deleted",
    )
    assert count(service, "service_jobs") == 0
    assert count(service, "webhook_deliveries") == 6
    for table in ("pull_requests", "commits", "issues", "repositories"):
        assert count(service, table) == 0


@pytest.mark.parametrize(
    ("full_name", "repository"),
    [
        ("octo-org/.github", "github:octo-org/.github"),  # the organisation's profile repo
        ("octo-org/_infra", "github:octo-org/_infra"),
        ("octo-org/..", None),
        ("../etc", None),
    ],
)
def test_github_repository_names_the_forge_allows_are_synced(
    service: Service, full_name: str, repository: str | None
) -> None:
    _, _, raw = recorded("github/push_tag")
    payload = json.loads(raw)
    payload["repository"]["full_name"] = full_name
    answer = post_signed(service, "github/push_tag", json.dumps(payload).encode())
    assert answer.status_code == 202, answer.text
    assert answer.json()["repository_id"] == repository
    assert answer.json()["status"] == ("queued" if repository else "recorded")
