"""Recorded deliveries of every forge (``tests/fixtures/webhooks/recorded/<forge>/*.json``: the
headers each forge sends and its payload) through the real app: what is accepted, what lands in
the store, what sync is queued, and that a redelivery changes nothing.

A fixture is ``{"headers": {...}, "body": ...}``; ``<signed>`` / ``<token>`` in a header stand
for the signature or token the forge computes from the configured secret (filled in here).
This module holds the helpers and the corpus-wide contract; what each forge's deliveries store
is in ``test_webhooks_recorded_{github,gitlab,bitbucket}.py``, hostile input in ``..._hostile``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.sources.webhook import hub_signature
from tests.engine.collecthelp import swap_collector
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
            value = hub_signature(SECRETS[forge], raw)
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
        headers["X-Hub-Signature-256"] = hub_signature(SECRETS[forge], body)
    elif forge == "bitbucket":
        headers["X-Hub-Signature"] = hub_signature(SECRETS[forge], body)
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
        swap_collector(monkeypatch, kind, fake_forge)


@pytest.fixture(scope="module")
def corpus_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the corpus-wide contract (each delivery id is delivered once)."""
    with pytest.MonkeyPatch.context() as mp:
        for kind in ("github", "gitlab", "bitbucket", "bitbucket-server"):
            swap_collector(mp, kind, fake_forge)
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
    "gitlab/deployment_running": ("queued", GL),
    "gitlab/deployment_success": ("queued", GL),
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
            "pr_opened_dc10",  # Data Center 10: ISO-8601 createdDate / updatedDate
            "pr_deleted_dc10",
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
