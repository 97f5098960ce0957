"""Recorded Bitbucket Cloud and Server / Data Center deliveries through the app: pull request
lifecycles, pushes, personal repositories and the "Test connection" ping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.engine.collecthelp import swap_collector
from tests.service.conftest import Service, fake_forge, running_service
from tests.service.test_webhooks_recorded import (
    BBC,
    BBS,
    count,
    deliver,
    delivered,
    post_signed,
    recorded,
    rows,
    test_collectors,  # noqa: F401 - the autouse fixture: syncs run the test collector
)

# -- Bitbucket Cloud --------------------------------------------------------------------------
EMMA = "557058:00000001-1111-4222-8333-000000000001"  # people are keyed by account id
SAM = "557058:00000002-1111-4222-8333-000000000002"


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
            "author": EMMA,
            "merged_by": SAM,
            "head_ref": "rounding",
            "base_ref": "main",
        },
        {
            "number": 311,
            "title": "Try HALF_UP",
            "state": "closed",
            "author": EMMA,
            "merged_by": None,
            "head_ref": "rounding",
            "base_ref": "main",
        },
    ]
    # the unapproval carries the withdrawn approval: that approval is DISMISSED, not one more
    reviews = rows(service, "SELECT author, state FROM pr_reviews ORDER BY state")
    assert reviews == [
        {"author": SAM, "state": "CHANGES_REQUESTED"},
        {"author": SAM, "state": "DISMISSED"},
    ]
    names = rows(service, "SELECT login, name FROM people ORDER BY name")
    assert names == [{"login": EMMA, "name": "Emma Šimková"}, {"login": SAM, "name": "Sam"}]
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

    swap_collector(monkeypatch, "bitbucket-server", collector)
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


def test_bitbucket_data_center_10_iso_times_are_accepted(service: Service) -> None:
    """Data Center 10 sends ``createdDate`` / ``updatedDate`` as ISO-8601 text where earlier
    versions sent epoch milliseconds: both shapes store the same pull request."""
    delivered(service, "bitbucket_server/pr_opened_dc10", "bitbucket_server/pr_deleted_dc10")
    got = rows(
        service,
        "SELECT number, created_at, updated_at, deleted_at IS NOT NULL AS deleted "
        "FROM pull_requests ORDER BY number",
    )
    opened = datetime(2024, 3, 5, 16, 41, 2, 180000, tzinfo=UTC)
    gone = datetime(2024, 3, 6, 10, 13, 20, tzinfo=UTC)
    assert got == [
        {"number": 1207, "created_at": opened, "updated_at": opened, "deleted": False},
        {"number": 1209, "created_at": gone, "updated_at": gone, "deleted": True},
    ]
