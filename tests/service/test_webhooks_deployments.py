"""Deployment webhooks through the app, signatures verified: GitHub ``deployment`` and
``deployment_status`` (the latest status delivered decides, whatever the order of delivery;
``inactive`` decides nothing), GitHub and Gitea ``release`` (a published release is a deployment
of its tag's commit; a payload naming a branch, not a sha, leaves it to the sync it queues) and
malformed payloads (400, nothing stored)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from forgelens.sources.gitea.webhook import sign
from tests.service.conftest import Service, running_service
from tests.service.test_webhooks import FIXTURES, github_headers
from tests.service.test_webhooks_gitea import SECRET as GITEA_SECRET

REPO = "github:octocat/Hello-World"
DEP_ID = "github:1834567890"


def payload(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return doc


def send(service: Service, event: str, body: dict[str, Any]) -> httpx.Response:
    raw = json.dumps(body).encode()
    return service.client.post(
        "/api/v1/webhooks/github", content=raw, headers=github_headers(raw, event)
    )


def deployments(service: Service) -> list[dict[str, Any]]:
    return service.store().query_dicts(
        "SELECT deployment_id, environment, environment_kind, sha, ref, status, created_at, "
        "finished_at, source, creator, production_environment, url FROM deployments "
        "ORDER BY deployment_id"
    )


def status_event(state: str, at: str, status_id: int) -> dict[str, Any]:
    body = payload("github_deployment_status")
    body["deployment_status"].update(state=state, created_at=at, updated_at=at, id=status_id)
    return body


def test_a_deployment_then_its_statuses_store_what_a_collection_would(service: Service) -> None:
    assert send(service, "deployment", payload("github_deployment")).status_code == 202
    [created] = deployments(service)
    assert created["deployment_id"] == DEP_ID
    assert (created["status"], created["finished_at"]) == ("in_progress", None)
    assert created["environment_kind"] == "production"
    assert created["creator"] == "monalisa"
    answer = send(service, "deployment_status", payload("github_deployment_status"))
    assert answer.status_code == 202, answer.text
    [done] = deployments(service)
    assert done["status"] == "success"
    assert done["finished_at"].astimezone(UTC) == datetime(2026, 5, 4, 10, 21, 47, tzinfo=UTC)
    assert done["sha"] == "7638417db6d59f3c431d3e1f261cc637155684cd"
    assert done["url"] == "https://github.com/octocat/Hello-World/actions/runs/8899001122"
    assert (done["source"], done["ref"], done["production_environment"]) == ("github", "main", True)


def test_statuses_delivered_out_of_order_leave_the_latest_one_deciding(service: Service) -> None:
    failed = status_event("failure", "2026-05-04T10:19:00Z", 1)
    ok = status_event("success", "2026-05-04T10:25:00Z", 2)
    late_progress = status_event("in_progress", "2026-05-04T10:16:00Z", 3)
    inactive = status_event("inactive", "2026-05-05T08:00:00Z", 4)
    for body in (ok, failed, late_progress, inactive):
        assert send(service, "deployment_status", body).status_code == 202
    # the deployment event, delivered last, is older than every status: it changes nothing
    assert send(service, "deployment", payload("github_deployment")).status_code == 202
    [row] = deployments(service)
    assert row["status"] == "success"
    assert row["finished_at"].astimezone(UTC) == datetime(2026, 5, 4, 10, 25, tzinfo=UTC)


def test_a_published_release_naming_its_commit_is_a_production_deployment(
    service: Service,
) -> None:
    body = payload("github_release")
    body["release"]["target_commitish"] = "A" * 40  # a release drafted from a commit
    assert send(service, "release", body).status_code == 202
    [row] = deployments(service)
    assert row["deployment_id"] == "release:156789012"
    assert (row["source"], row["environment"], row["status"]) == (
        "release",
        "production",
        "success",
    )
    assert row["sha"] == "a" * 40
    assert row["ref"] == "refs/tags/v2.4.0"
    assert row["created_at"].astimezone(UTC) == datetime(2026, 5, 4, 10, 30, tzinfo=UTC)
    assert row["creator"] == "monalisa"


def test_a_release_naming_a_branch_or_a_draft_stores_nothing_and_syncs(service: Service) -> None:
    branch = payload("github_release")  # target_commitish "main": the tag's commit is unknown
    draft = copy.deepcopy(branch)
    draft["release"].update(draft=True, target_commitish="b" * 40)
    deleted = copy.deepcopy(branch)
    deleted.update(action="deleted")
    deleted["release"]["target_commitish"] = "c" * 40
    for body in (branch, draft, deleted):
        answer = send(service, "release", body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"  # the sync resolves the tag
    assert deployments(service) == []


def test_malformed_deployment_payloads_are_refused_and_nothing_is_stored(
    service: Service,
) -> None:
    no_status = payload("github_deployment_status")
    del no_status["deployment_status"]
    no_sha = payload("github_deployment")
    del no_sha["deployment"]["sha"]
    bad_time = status_event("success", "yesterday", 9)
    no_release = payload("github_release")
    no_release["release"] = "v2.4.0"
    for event, body in (
        ("deployment_status", no_status),
        ("deployment", no_sha),
        ("deployment_status", bad_time),
        ("release", no_release),
    ):
        answer = send(service, event, body)
        assert answer.status_code == 400, (event, answer.text)
        assert event in answer.json()["detail"]
    assert deployments(service) == []


def test_a_deployment_event_with_a_wrong_signature_is_refused(service: Service) -> None:
    raw = json.dumps(payload("github_deployment")).encode()
    headers = github_headers(raw, "deployment")
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    answer = service.client.post("/api/v1/webhooks/github", content=raw, headers=headers)
    assert answer.status_code == 401
    assert deployments(service) == []


def test_a_gitea_release_event_is_a_deployment(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "gitea" / "release_published.json").read_text("utf-8"))
    raw = json.dumps(doc["body"]).encode()
    headers = {
        k: sign(GITEA_SECRET, raw) if v == "<signed>" else v
        for k, v in doc["headers"].items()
        if k.startswith(("X-Gitea", "Content"))
    }
    with running_service(
        tmp_path,
        FORGELENS_GITEA_WEBHOOK_SECRET=GITEA_SECRET,
        FORGELENS_FORGE_HOSTS="gitea.example.com=gitea",
    ) as service:
        answer = service.client.post("/api/v1/webhooks/gitea", content=raw, headers=headers)
        assert answer.status_code == 202, answer.text
        [row] = deployments(service)
        wrong = {**headers, "X-Gitea-Signature": sign("not-the-secret", raw)}
        refused = service.client.post("/api/v1/webhooks/gitea", content=raw, headers=wrong)
        assert refused.status_code == 401
    assert row["deployment_id"] == "release:88"
    assert row["sha"] == "9c1e0f4a2b7d8e3f6a5b4c3d2e1f0a9b8c7d6e5f"
    assert (row["environment"], row["status"], row["source"]) == (
        "production",
        "success",
        "release",
    )
    assert row["created_at"].astimezone(UTC) == datetime(2026, 5, 4, 10, 5, 31, tzinfo=UTC)
