"""Recorded deliveries of every forge (``tests/fixtures/webhooks/recorded/<forge>/*.json``: the
headers each forge sends and its payload) through the real app: what is accepted, what lands in
the store, what sync is queued, and that a redelivery changes nothing.

A fixture is ``{"headers": {...}, "body": ...}``; ``<signed>`` / ``<token>`` in a header stand
for the signature or token the forge computes from the configured secret (filled in here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.engine.collect import FORGE_COLLECTORS
from forgelens.records import Person
from forgelens.service.webhooks import sign_github
from tests.service.conftest import SECRETS, Service, fake_forge, running_service

RECORDED = Path(__file__).parent.parent / "fixtures" / "webhooks" / "recorded"
ROUTES = {
    "github": "github",
    "gitlab": "gitlab",
    "bitbucket_cloud": "bitbucket",
    "bitbucket_server": "bitbucket",
}
GH = "github:octo-org/forgelens-demo"
GL = "gitlab:platform/observability/exporter"
BBC = "bitbucket:acme-labs/billing-api"
BBS = "bitbucket-server:PAY/ledger"
ALL = sorted(f"{p.parent.name}/{p.stem}" for p in RECORDED.glob("*/*.json"))


def recorded(name: str) -> tuple[str, dict[str, str], bytes]:
    """(route forge, headers as the forge sends them, raw body) of a recorded delivery."""
    folder, _, _ = name.partition("/")
    doc = json.loads((RECORDED / f"{name}.json").read_text(encoding="utf-8"))
    body = doc["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
    forge = ROUTES[folder]
    headers = {}
    for key, value in doc["headers"].items():
        if value == "sha256=<signed>":
            value = sign_github(SECRETS[forge], raw)
        elif value == "sha1=<signed>":
            value = "sha1=" + hmac.new(SECRETS[forge].encode(), raw, hashlib.sha1).hexdigest()
        elif value == "<token>":
            value = SECRETS[forge]
        headers[key] = value
    return forge, headers, raw


def deliver(service: Service, name: str, **header_changes: str | None) -> httpx.Response:
    forge, headers, raw = recorded(name)
    for key, value in header_changes.items():
        key = key.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return service.client.post(f"/api/v1/webhooks/{forge}", content=raw, headers=headers)


def post_signed(service: Service, name: str, body: bytes, **header_changes: str) -> Any:
    """``body`` sent with the recorded delivery's headers, signed as the forge would sign it."""
    forge, headers, _ = recorded(name)
    headers.update({k.replace("_", "-"): v for k, v in header_changes.items()})
    if forge == "github":
        headers.pop("X-Hub-Signature", None)  # the SHA-1 one: not checked
        headers["X-Hub-Signature-256"] = sign_github(SECRETS[forge], body)
    elif forge == "bitbucket":
        headers["X-Hub-Signature"] = sign_github(SECRETS[forge], body)
    return service.client.post(f"/api/v1/webhooks/{forge}", content=body, headers=headers)


def delivered(service: Service, *names: str) -> list[httpx.Response]:
    answers = [deliver(service, n) for n in names]
    for name, answer in zip(names, answers, strict=True):
        assert answer.status_code in (200, 202), f"{name}: {answer.status_code} {answer.text}"
    return answers


def rows(service: Service, sql: str) -> list[dict[str, Any]]:
    return service.store().query_dicts(sql)


def count(service: Service, table: str) -> int:
    return int(service.store().query(f"SELECT count(*) FROM {table}")[0][0])


@pytest.fixture(autouse=True)
def test_collectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Targeted syncs run the test collector (no forge on the network here)."""
    for kind in ("github", "gitlab", "bitbucket", "bitbucket-server"):
        monkeypatch.setitem(FORGE_COLLECTORS, kind, fake_forge)


@pytest.fixture(scope="module")
def corpus_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the corpus-wide contract (each delivery id is delivered once)."""
    with pytest.MonkeyPatch.context() as mp:
        for kind in ("github", "gitlab", "bitbucket", "bitbucket-server"):
            mp.setitem(FORGE_COLLECTORS, kind, fake_forge)
        with running_service(tmp_path_factory.mktemp("recorded")) as svc:
            yield svc


# What each recorded delivery is: (outcome, repository the delivery names).
# "queued": a targeted sync of that repository was queued; "recorded": kept, nothing to sync.
EXPECTED: dict[str, tuple[str, str | None]] = {
    **{
        f"github/{name}": ("queued", GH)
        for name in (
            "pull_request_opened",
            "pull_request_synchronize",
            "pull_request_edited",
            "pull_request_labeled",
            "pull_request_converted_to_draft",
            "pull_request_ready_for_review",
            "pull_request_closed_merged",
            "pull_request_closed_unmerged",
            "pull_request_reopened",
            "pull_request_opened_by_bot",
            "pull_request_closed_ghost_author",
            "pull_request_review_submitted",
            "pull_request_review_changes_requested",
            "pull_request_review_edited",
            "pull_request_review_dismissed",
            "pull_request_review_comment_created",
            "pull_request_review_comment_edited_outdated",
            "issue_comment_on_pull_request",
            "issue_comment_on_issue",
            "issue_comment_by_ghost",
            "issues_opened",
            "issues_closed",
            "push_25_commits",
            "push_branch_deleted",
            "push_tag",
        )
    },
    "github/pull_request_unknown_repository": ("queued", "github:octo-org/brand-new-service"),
    "github/ping": ("recorded", GH),
    "github/installation_created": ("recorded", None),
    "github/installation_repositories_added": ("recorded", None),
    "github/repository_renamed": ("recorded", "github:octo-org/forgelens-demo-2"),
    "github/repository_transferred": ("recorded", GH),
    "github/repository_deleted": ("recorded", GH),
    **{
        f"gitlab/{name}": ("queued", GL)
        for name in (
            "merge_request_open",
            "merge_request_update_title_labels",
            "merge_request_approved",
            "merge_request_unapproved",
            "merge_request_merge",
            "merge_request_close",
            "note_on_merge_request",
            "note_on_issue",
            "note_on_commit",
            "note_system_approval",
            "push_45_commits",
            "push_branch_deleted",
            "push_gitlab_16",
            "tag_push",
            "system_hook_push",
            "system_hook_merge_request",
            "system_hook_repository_update",
            "test_hook_push",
        )
    },
    "gitlab/pipeline_success": ("recorded", GL),
    "gitlab/system_hook_project_create": ("recorded", None),
    **{
        f"bitbucket_cloud/{name}": ("queued", BBC)
        for name in (
            "pullrequest_created",
            "pullrequest_updated",
            "pullrequest_approved",
            "pullrequest_unapproved",
            "pullrequest_changes_request_created",
            "pullrequest_comment_created",
            "pullrequest_comment_deleted",
            "pullrequest_fulfilled",
            "pullrequest_rejected",
            "repo_push_truncated",
            "repo_push_branch_deleted_and_tag",
        )
    },
    **{
        f"bitbucket_server/{name}": ("queued", BBS)
        for name in (
            "pr_opened",
            "pr_reviewer_approved",
            "pr_reviewer_needs_work",
            "pr_reviewer_changes_requested",
            "pr_comment_added",
            "pr_comment_edited",
            "pr_comment_deleted",
            "pr_merged",
            "pr_declined",
            "pr_deleted",
            "repo_refs_changed",
        )
    },
    "bitbucket_server/repo_refs_changed_personal_repository": (
        "queued",
        "bitbucket-server:~JANE.DOE/scratch",
    ),
}
PINGS = {"bitbucket_server/diagnostics_ping"}  # answered, never stored (see its own test)


def test_the_corpus_is_complete() -> None:
    assert set(ALL) == set(EXPECTED) | PINGS


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_recorded_delivery_is_accepted_once(corpus_service: Service, name: str) -> None:
    service = corpus_service
    outcome, repository = EXPECTED[name]
    answer = deliver(service, name)
    assert answer.status_code == 202, answer.text
    got = answer.json()
    assert (got["status"], got["repository_id"]) == (outcome, repository)
    assert (got["job_id"] is not None) == (outcome == "queued")
    key = got["delivery_id"]
    row = service.store().query_dicts(
        "SELECT event, outcome, repository_id, job_id FROM webhook_deliveries "
        "WHERE delivery_id = ?",
        [key],
    )
    assert row == [
        {
            "event": got["event"],
            "outcome": outcome,
            "repository_id": repository,
            "job_id": got["job_id"],
        }
    ]
    tables = ("pull_requests", "pr_reviews", "pr_comments", "issues", "issue_comments", "commits")
    before = {t: rows(service, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    if repository is not None and outcome == "queued":
        assert service.wait_idle(repository)["status"] == "completed"
    jobs = count(service, "service_jobs")
    again = deliver(service, name)  # the forge redelivers: same delivery id, same body
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert again.json()["delivery_id"] == key
    assert {t: rows(service, f"SELECT * FROM {t} ORDER BY ALL") for t in tables} == before
    assert count(service, "service_jobs") == jobs


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
            "line": None,
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


# -- GitLab -----------------------------------------------------------------------------------
def test_gitlab_merge_request_lifecycle(service: Service) -> None:
    delivered(
        service,
        *(
            f"gitlab/{n}"
            for n in (
                "merge_request_open",
                "merge_request_update_title_labels",
                "note_on_merge_request",
                "merge_request_approved",
                "note_system_approval",
                "merge_request_unapproved",
                "merge_request_merge",
                "merge_request_close",
            )
        ),
    )
    got = rows(
        service,
        "SELECT number, title, state, draft, author, labels, head_ref, url FROM pull_requests "
        "ORDER BY number",
    )
    base = "https://gitlab.example.com/platform/observability/exporter/-/merge_requests"
    assert got == [
        {
            "number": 17,
            "title": "Exporter: retry with jitter ✓",
            "state": "merged",
            "draft": False,
            "author": "alice",
            "labels": '["backend"]',
            "head_ref": "retry-jitter",
            "url": f"{base}/17",
        },
        {
            "number": 18,
            "title": "Draft: another backoff",
            "state": "closed",
            "draft": True,
            "author": "alice",
            "labels": "[]",
            "head_ref": "backoff-2",
            "url": f"{base}/18",
        },
    ]
    assert rows(service, "SELECT pr_number, author, state FROM pr_reviews") == [
        {"pr_number": 17, "author": "bob", "state": "APPROVED"}
    ]
    assert rows(service, "SELECT pr_number, kind, path, line, body FROM pr_comments") == [
        {
            "pr_number": 17,
            "kind": "review",
            "path": "exporter/retry.py",
            "line": 13,
            "body": "Why 5 attempts? «pourquoi»",
        }
    ]


def test_a_gitlab_hook_does_not_unmark_a_collected_bot(service: Service) -> None:
    """GitLab hook users carry no ``bot`` flag: a collection's ``is_bot`` must survive them."""
    bot = Person("gitlab", "project_4711_bot_3f2a", name="exporter bot", is_bot=True)
    service.store().upsert("people", [bot], version=1)
    _, _, raw = recorded("gitlab/merge_request_open")
    payload = json.loads(raw)
    payload["user"] = {
        "id": 9001,
        "name": "exporter bot",
        "username": "project_4711_bot_3f2a",
        "avatar_url": None,
        "email": "[REDACTED]",
    }
    payload["object_attributes"]["author_id"] = 9001
    answer = post_signed(service, "gitlab/merge_request_open", json.dumps(payload).encode())
    assert answer.status_code == 202, answer.text
    assert rows(service, "SELECT author FROM pull_requests") == [
        {"author": "project_4711_bot_3f2a"}
    ]
    got = rows(service, "SELECT login, name, forge_id, is_bot FROM people WHERE login LIKE 'proj%'")
    assert got == [
        {
            "login": "project_4711_bot_3f2a",
            "name": "exporter bot",
            "forge_id": "9001",
            "is_bot": True,
        }
    ]


def test_gitlab_merge_and_close_times_come_with_their_actions(service: Service) -> None:
    delivered(
        service,
        "gitlab/merge_request_open",
        "gitlab/merge_request_merge",
        "gitlab/merge_request_close",
        "gitlab/note_on_merge_request",  # a later note carries the MR without its times
    )
    merged = datetime(2024, 3, 6, 9, 0, 4, tzinfo=UTC)
    closed = datetime(2024, 3, 6, 10, tzinfo=UTC)
    got = rows(service, "SELECT number, state, merged_at, closed_at FROM pull_requests ORDER BY 1")
    assert got == [
        {"number": 17, "state": "merged", "merged_at": merged, "closed_at": merged},
        {"number": 18, "state": "closed", "merged_at": None, "closed_at": closed},
    ]


def test_gitlab_notes_on_issues_and_commits(service: Service) -> None:
    delivered(service, "gitlab/note_on_issue", "gitlab/note_on_commit")
    assert rows(service, "SELECT number, title, state, labels FROM issues") == [
        {"number": 12, "title": "Batches lost on 503", "state": "open", "labels": '["backend"]'}
    ]
    assert rows(service, "SELECT issue_number, author, body FROM issue_comments") == [
        {"issue_number": 12, "author": "bob", "body": "Still seen on 1.3.2"}
    ]
    assert count(service, "pr_comments") == 0  # a commit note is not kept


def test_gitlab_pushes_tags_and_pipelines(service: Service) -> None:
    delivered(service, "gitlab/push_45_commits")
    assert count(service, "commits") == 20  # GitLab lists 20 of the 45; the sync finds the rest
    delivered(service, "gitlab/push_branch_deleted", "gitlab/tag_push", "gitlab/pipeline_success")
    assert count(service, "commits") == 20
    jobs = rows(service, "SELECT DISTINCT repository_id FROM service_jobs")
    assert jobs == [{"repository_id": GL}]


def test_gitlab_system_and_test_hooks_are_read_by_their_payload(service: Service) -> None:
    answers = delivered(
        service,
        "gitlab/system_hook_push",
        "gitlab/system_hook_merge_request",
        "gitlab/system_hook_repository_update",
        "gitlab/test_hook_push",
        "gitlab/system_hook_project_create",
    )
    assert [a.json()["status"] for a in answers] == [
        "queued",
        "queued",
        "queued",
        "queued",
        "recorded",
    ]
    shas = rows(service, "SELECT sha FROM commits ORDER BY sha")
    assert shas == [
        {"sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"},
        {"sha": "eb5a2c1f0d9e8c7b6a5f4e3d2c1b0a9f8e7d6c5b"},
    ]
    assert rows(service, "SELECT number, title FROM pull_requests") == [
        {"number": 19, "title": "System-hook MR"}
    ]


def test_gitlab_before_idempotency_keys_dedupes_on_the_event_uuid(service: Service) -> None:
    first = deliver(service, "gitlab/push_gitlab_16")
    assert first.status_code == 202, first.text
    assert first.json()["delivery_id"].startswith("0f6c2d1e-3a4b-4c5d-8e9f-")
    again = deliver(service, "gitlab/push_gitlab_16")
    assert again.json()["status"] == "duplicate"


# -- Bitbucket Cloud --------------------------------------------------------------------------
def test_bitbucket_cloud_pull_request_lifecycle(service: Service) -> None:
    delivered(
        service,
        *(
            f"bitbucket_cloud/{n}"
            for n in (
                "pullrequest_created",
                "pullrequest_updated",
                "pullrequest_approved",
                "pullrequest_unapproved",
                "pullrequest_changes_request_created",
                "pullrequest_comment_created",
                "pullrequest_comment_deleted",
                "pullrequest_fulfilled",
                "pullrequest_rejected",
            )
        ),
    )
    got = rows(
        service,
        "SELECT number, title, state, author, merged_by, head_ref, base_ref FROM pull_requests "
        "ORDER BY number",
    )
    assert got == [
        {
            "number": 310,
            "title": "Invoices: round half-even — «€»",
            "state": "merged",
            "author": "emma",
            "merged_by": "sam",
            "head_ref": "rounding",
            "base_ref": "main",
        },
        {
            "number": 311,
            "title": "Try HALF_UP",
            "state": "closed",
            "author": "emma",
            "merged_by": None,
            "head_ref": "rounding",
            "base_ref": "main",
        },
    ]
    # the unapproval carries the withdrawn approval: it is not recorded as one more approval
    reviews = rows(service, "SELECT author, state FROM pr_reviews ORDER BY state")
    assert reviews == [
        {"author": "sam", "state": "APPROVED"},
        {"author": "sam", "state": "CHANGES_REQUESTED"},
    ]
    comment = rows(
        service, "SELECT body, path, line, deleted_at IS NOT NULL AS deleted FROM pr_comments"
    )
    assert comment == [
        {
            "body": "Half-even is right here ✔",
            "path": "billing/rounding.py",
            "line": 42,
            "deleted": True,
        }
    ]


def test_bitbucket_cloud_merge_and_decline_times_come_with_their_events(service: Service) -> None:
    delivered(
        service,
        "bitbucket_cloud/pullrequest_created",
        "bitbucket_cloud/pullrequest_fulfilled",
        "bitbucket_cloud/pullrequest_rejected",
    )
    merged = datetime(2024, 3, 6, 9, 0, 4, tzinfo=UTC)
    declined = datetime(2024, 3, 6, 10, tzinfo=UTC)
    got = rows(service, "SELECT number, state, merged_at, closed_at FROM pull_requests ORDER BY 1")
    assert got == [
        {"number": 310, "state": "merged", "merged_at": merged, "closed_at": merged},
        {"number": 311, "state": "closed", "merged_at": None, "closed_at": declined},
    ]
    # a comment after the merge moves updated_on, not the merge time
    _, _, raw = recorded("bitbucket_cloud/pullrequest_comment_created")
    later = json.loads(raw)
    later["pullrequest"] |= {"state": "MERGED", "updated_on": "2024-03-07T08:00:00+00:00"}
    name = "bitbucket_cloud/pullrequest_comment_created"
    assert post_signed(service, name, json.dumps(later).encode()).status_code == 202
    got = rows(service, "SELECT merged_at, closed_at FROM pull_requests WHERE number = 310")
    assert got == [{"merged_at": merged, "closed_at": merged}]


def test_a_bitbucket_cloud_comment_deletion_is_a_deletion_whatever_its_flag_says(
    service: Service,
) -> None:
    delivered(service, "bitbucket_cloud/pullrequest_comment_created")
    _, _, raw = recorded("bitbucket_cloud/pullrequest_comment_deleted")
    payload = json.loads(raw)
    del payload["comment"]["deleted"]  # the comment as it was, content already emptied
    name = "bitbucket_cloud/pullrequest_comment_deleted"
    answer = post_signed(service, name, json.dumps(payload).encode())
    assert answer.status_code == 202, answer.text
    got = rows(service, "SELECT body, deleted_at IS NOT NULL AS deleted FROM pr_comments")
    assert got == [{"body": "Half-even is right here ✔", "deleted": True}]


def test_bitbucket_cloud_pushes(service: Service) -> None:
    delivered(service, "bitbucket_cloud/repo_push_truncated")
    assert count(service, "commits") == 5  # Bitbucket lists 5 and says "truncated"
    delivered(service, "bitbucket_cloud/repo_push_branch_deleted_and_tag")
    assert count(service, "commits") == 5
    assert rows(service, "SELECT DISTINCT repository_id FROM service_jobs") == [
        {"repository_id": BBC}
    ]


# -- Bitbucket Server / Data Center -----------------------------------------------------------
def test_bitbucket_server_pull_request_lifecycle(service: Service) -> None:
    delivered(
        service,
        *(
            f"bitbucket_server/{n}"
            for n in (
                "pr_opened",
                "pr_reviewer_approved",
                "pr_reviewer_needs_work",
                "pr_comment_added",
                "pr_comment_edited",
                "pr_comment_deleted",
                "pr_merged",
                "pr_declined",
                "pr_deleted",
            )
        ),
    )
    got = rows(
        service,
        "SELECT number, title, state, author, merged_at, closed_at, "
        "deleted_at IS NOT NULL AS deleted FROM pull_requests ORDER BY number",
    )
    merged = datetime(2024, 3, 6, 9, 0, 4, tzinfo=UTC)
    declined = datetime(2024, 3, 6, 10, 0, tzinfo=UTC)
    assert got == [
        {
            "number": 1207,
            "title": "LEDGER-88: idempotent postings — «ünïcode»",
            "state": "merged",
            "author": "jane.doe",
            "merged_at": merged,
            "closed_at": merged,
            "deleted": False,
        },
        {
            "number": 1208,
            "title": "LEDGER-89: try optimistic locking",
            "state": "closed",
            "author": "jane.doe",
            "merged_at": None,
            "closed_at": declined,
            "deleted": False,
        },
        {
            "number": 1209,
            "title": "oops, wrong branch",
            "state": "open",
            "author": "jane.doe",
            "merged_at": None,
            "closed_at": None,
            "deleted": True,
        },
    ]
    comment = rows(
        service, "SELECT comment_id, body, deleted_at IS NOT NULL AS deleted FROM pr_comments"
    )
    assert comment == [
        {"comment_id": "90001", "body": "Should the key be a UUIDv7?", "deleted": True}
    ]


def test_bitbucket_server_changes_requested_updates_the_pull_request(service: Service) -> None:
    """Data Center 9 sends ``pr:reviewer:changes_requested`` where 8 sent ``needs_work``."""
    delivered(service, "bitbucket_server/pr_reviewer_changes_requested")
    assert rows(service, "SELECT number, state, updated_at FROM pull_requests") == [
        {
            "number": 1207,
            "state": "open",
            "updated_at": datetime(2024, 3, 5, 17, 31, 40, tzinfo=UTC),
        }
    ]


def test_bitbucket_server_pushes_queue_the_sync_of_the_server_they_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[str, str | None]] = []

    def collector(store: Any, specs: list[Any], opts: Any, progress: Any) -> Any:
        synced.extend((str(s), opts.api_url) for s in specs)
        return fake_forge(store, specs, opts, progress)

    monkeypatch.setitem(FORGE_COLLECTORS, "bitbucket-server", collector)
    hosts = "bitbucket.corp.example=bitbucket-server"
    with running_service(tmp_path, FORGELENS_FORGE_HOSTS=hosts) as service:
        answers = delivered(
            service,
            "bitbucket_server/repo_refs_changed",
            "bitbucket_server/repo_refs_changed_personal_repository",
        )
        personal = "bitbucket-server:~JANE.DOE/scratch"
        assert [a.json()["repository_id"] for a in answers] == [BBS, personal]
        for repository in (BBS, personal):
            assert service.wait_idle(repository)["status"] == "completed"
    api = "https://bitbucket.corp.example"
    assert sorted(synced) == [(BBS, api), (personal, api)]


def test_bitbucket_server_test_connection_is_answered_and_stores_nothing(
    service: Service,
) -> None:
    """ "Test connection" sends ``diagnostics:ping`` without a signature (even when the webhook
    has a secret): it is answered so the button shows success, and nothing is written."""
    answer = deliver(service, "bitbucket_server/diagnostics_ping")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ping"
    empty = service.client.post(
        "/api/v1/webhooks/bitbucket",
        content=b"",
        headers={"X-Event-Key": "diagnostics:ping", "X-Request-Id": "empty-ping"},
    )
    assert (empty.status_code, empty.json()["status"]) == (200, "ping")
    assert count(service, "webhook_deliveries") == 0
    assert count(service, "service_jobs") == 0
    # a signed ping must carry the right signature: a wrong secret is reported at once
    forged = deliver(
        service, "bitbucket_server/diagnostics_ping", X_Hub_Signature="sha256=" + "0" * 64
    )
    assert forged.status_code == 401
    # anything else unsigned is still refused
    for event in ("repo:refs_changed", "pr:opened"):
        unsigned = deliver(
            service, "bitbucket_server/repo_refs_changed", X_Hub_Signature=None, X_Event_Key=event
        )
        assert unsigned.status_code == 401


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


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("gitlab/note_on_merge_request", "Confidential Note Hook"),  # an internal note
        ("gitlab/note_on_issue", "Confidential Note Hook"),
    ],
)
def test_gitlab_confidential_hooks_are_stored_and_synced_like_the_others(
    service: Service, name: str, event: str
) -> None:
    answer = deliver(service, name, X_Gitlab_Event=event)
    assert (answer.status_code, answer.json()["status"]) == (202, "queued"), answer.text
    assert answer.json()["event"] == event
    assert count(service, "pr_comments") + count(service, "issue_comments") == 1
