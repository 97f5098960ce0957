"""Recorded GitLab deliveries (``tests/fixtures/webhooks/recorded/gitlab``) through the app:
merge requests, notes, pushes, System and Test hooks, GitLab without idempotency keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from forgelens.records import Person
from tests.service.conftest import Service
from tests.service.test_webhooks_recorded import (
    GL,
    count,
    deliver,
    delivered,
    post_signed,
    recorded,
    rows,
    test_collectors,  # noqa: F401 - the autouse fixture: syncs run the test collector
)


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


# -- Deployment Hook --------------------------------------------------------------------------
DEPLOY_SQL = (
    "SELECT deployment_id, environment, environment_kind, sha, ref, status, created_at, "
    "finished_at, source, creator, url FROM deployments"
)


def test_gitlab_deployment_hooks_upsert_one_deployment_whatever_the_order(
    service: Service,
) -> None:
    """running then success: one row, started and finished; the running hook delivered again
    afterwards (a retry arriving late) does not overwrite the newer status."""
    job = "https://gitlab.example.com/platform/observability/exporter/-/jobs/99117"
    want = {
        "deployment_id": "gitlab:2207",
        "environment": "production",
        "environment_kind": "production",
        "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",  # from commit_url: no full sha
        "ref": "main",
        "status": "success",
        "created_at": datetime(2024, 3, 5, 16, 2, 11, tzinfo=UTC),  # +01:00 in the hook
        "finished_at": datetime(2024, 3, 5, 16, 6, 40, tzinfo=UTC),
        "source": "gitlab",
        "creator": "bob",
        "url": job,
    }
    answers = delivered(service, "gitlab/deployment_running", "gitlab/deployment_success")
    assert [a.json()["status"] for a in answers] == ["queued", "queued"]
    late = deliver(service, "gitlab/deployment_running", Idempotency_Key="late-retry")
    assert late.status_code == 202, late.text
    got = rows(service, DEPLOY_SQL)
    for r in got:
        for k in ("created_at", "finished_at"):
            r[k] = r[k].astimezone(UTC) if r[k] else None
    assert got == [want]
    assert rows(service, "SELECT login, name FROM people WHERE login = 'bob'") == [
        {"login": "bob", "name": "Bob Deployer"}
    ]


def _deployment_hook(**changes: Any) -> bytes:
    _, _, raw = recorded("gitlab/deployment_running")
    body = json.loads(raw)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "changes",
    [
        {"deployment_id": None},
        {"status_changed_at": "yesterday"},
        {"environment": ""},
        {"status": "exploded"},  # a status GitLab may add one day: refused, not guessed
    ],
)
def test_gitlab_deployment_hook_that_cannot_be_stored_is_recorded_malformed(
    service: Service, changes: dict[str, Any]
) -> None:
    answer = post_signed(service, "gitlab/deployment_running", _deployment_hook(**changes))
    assert answer.status_code == 202, answer.text  # GitLab disables hooks after 4xx answers
    assert answer.json()["status"] == "malformed"
    assert count(service, "deployments") == 0


def test_gitlab_deployment_hook_without_tier_or_full_sha(service: Service) -> None:
    body = _deployment_hook(environment_tier=None, commit_url=None, environment="prod-eu")
    answer = post_signed(service, "gitlab/deployment_running", body)
    assert answer.status_code == 202, answer.text
    got = rows(service, "SELECT environment_kind, sha, status, finished_at FROM deployments")
    assert got == [
        {
            "environment_kind": "production",
            "sha": None,
            "status": "in_progress",
            "finished_at": None,
        }
    ]
