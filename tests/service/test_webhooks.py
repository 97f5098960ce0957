"""Webhooks: signatures per forge with real-format payloads, dedupe, size limits, mappers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.records import PullRequest
from forgelens.service.webhooks import Delivery, self_hosted_api_url
from forgelens.sources import bitbucket_server, forges, github
from forgelens.sources.gitlab import webhook as gitlab_hooks
from forgelens.sources.webhook import hub_signature
from tests.engine.collecthelp import swap_collector
from tests.service.conftest import SECRETS, Service, fake_forge, running_service

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"


def body_of(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def github_headers(body: bytes, event: str, delivery: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "109948940",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-Hub-Signature-256": hub_signature(SECRETS["github"], body),
    }


def counts(service: Service) -> tuple[int, int]:
    store = service.store()
    deliveries = store.query("SELECT count(*) FROM webhook_deliveries")[0][0]
    repos = store.query("SELECT count(*) FROM repositories")[0][0]
    return deliveries, repos


def test_a_signed_github_push_is_recorded_and_syncs_the_repository(service: Service) -> None:
    body = body_of("github_push")
    answer = service.client.post(
        "/api/v1/webhooks/github", content=body, headers=github_headers(body, "push", "d-1")
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    assert answer.json()["repository_id"] == "github:octocat/Hello-World"
    assert service.wait_idle("github:octocat/Hello-World")["status"] == "completed"
    rows = service.store().query_dicts("SELECT * FROM webhook_deliveries")
    assert [(r["delivery_id"], r["event"], r["outcome"]) for r in rows] == [
        ("d-1", "push", "queued")
    ]
    assert rows[0]["job_id"] == answer.json()["job_id"]
    assert service.store().query("SELECT full_name FROM repositories") == [("octocat/Hello-World",)]
    again = service.client.post(
        "/api/v1/webhooks/github", content=body, headers=github_headers(body, "push", "d-1")
    )
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert service.store().query("SELECT count(*) FROM service_jobs")[0][0] == 1
    assert counts(service)[0] == 1


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "no header", "body changed", "sha1 header", "empty signature"],
)
def test_a_bad_github_signature_is_refused_and_nothing_stored(
    service: Service, tamper: str
) -> None:
    body = body_of("github_pull_request")
    headers = github_headers(body, "pull_request")
    if tamper == "wrong secret":
        headers["X-Hub-Signature-256"] = hub_signature("not-the-secret", body)
    elif tamper == "no header":
        del headers["X-Hub-Signature-256"]
    elif tamper == "body changed":
        body = body.replace(b'"opened"', b'"closed"')
    elif tamper == "sha1 header":
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"].replace("sha256", "sha1")
    else:
        headers["X-Hub-Signature-256"] = ""
    answer = service.client.post("/api/v1/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 401
    assert counts(service) == (0, 0)
    assert service.store().query("SELECT count(*) FROM service_jobs")[0][0] == 0
    audit = service.store().query("SELECT action, outcome FROM audit_log")
    assert ("webhook.github", "denied") in audit


def test_a_ping_is_recorded_without_a_sync(service: Service) -> None:
    body = body_of("github_ping")
    answer = service.client.post(
        "/api/v1/webhooks/github", content=body, headers=github_headers(body, "ping")
    )
    assert (answer.status_code, answer.json()["status"]) == (202, "recorded")
    assert service.store().query("SELECT count(*) FROM service_jobs")[0][0] == 0


def test_payload_mappers_upsert_what_the_payload_carries(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def pr_from_payload(payload: dict[str, Any]) -> list[PullRequest]:
        pr = payload["pull_request"]
        return [
            PullRequest(
                repository_id=f"github:{payload['repository']['full_name']}",
                number=pr["number"],
                title=pr["title"],
                state=pr["state"],
                created_at=datetime.fromisoformat(pr["created_at"]),
                updated_at=datetime.fromisoformat(pr["updated_at"]),
            )
        ]

    assert github.FORGE.webhooks is not None
    monkeypatch.setitem(github.FORGE.webhooks.mappers, "pull_request", pr_from_payload)
    body = body_of("github_pull_request")
    answer = service.client.post(
        "/api/v1/webhooks/github", content=body, headers=github_headers(body, "pull_request")
    )
    assert answer.status_code == 202
    assert service.store().query("SELECT repository_id, number, title FROM pull_requests") == [
        ("github:octocat/Hello-World", 2, "Update the README with new information.")
    ]


def gitlab_headers(body: bytes, event: str, token: str, key: str | None = None) -> dict[str, str]:
    idem = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Instance": "https://gitlab.com",
        "Idempotency-Key": idem,
        "User-Agent": "GitLab/17.5.0",
    }
    if key:
        stamp = str(int(datetime.now(UTC).timestamp()))
        headers.update(
            {
                "webhook-id": idem,
                "webhook-timestamp": stamp,
                "webhook-signature": gitlab_hooks.sign(key, idem, stamp, body),
            }
        )
    return headers


def test_gitlab_token_is_checked(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    swap_collector(monkeypatch, "gitlab", fake_forge)
    body = body_of("gitlab_merge_request")
    bad = service.client.post(
        "/api/v1/webhooks/gitlab",
        content=body,
        headers=gitlab_headers(body, "Merge Request Hook", "wrong"),
    )
    assert bad.status_code == 401
    assert counts(service) == (0, 0)
    headers = gitlab_headers(body, "Merge Request Hook", SECRETS["gitlab"])
    good = service.client.post("/api/v1/webhooks/gitlab", content=body, headers=headers)
    assert (good.status_code, good.json()["status"]) == (202, "queued")
    assert good.json()["repository_id"] == "gitlab:gitlabhq/gitlab-test"
    assert good.json()["delivery_id"] == headers["Idempotency-Key"]
    retry = dict(headers, **{"X-Gitlab-Event-UUID": str(uuid.uuid4())})  # a retry: same key
    dup = service.client.post("/api/v1/webhooks/gitlab", content=body, headers=retry)
    assert dup.json()["status"] == "duplicate"
    assert service.wait_idle("gitlab:gitlabhq/gitlab-test")["status"] == "completed"


def test_gitlab_signed_webhooks(tmp_path: Path) -> None:
    key = "whsec_" + "c2lnbmluZy1rZXktZm9yLXRlc3Rz"
    with running_service(tmp_path, FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY=key) as service:
        body = body_of("gitlab_push")
        unsigned = gitlab_headers(body, "Push Hook", SECRETS["gitlab"])
        assert (
            service.client.post(
                "/api/v1/webhooks/gitlab", content=body, headers=unsigned
            ).status_code
            == 401
        )
        other_key = gitlab_headers(body, "Push Hook", SECRETS["gitlab"], "whsec_b3RoZXI=")
        assert (
            service.client.post(
                "/api/v1/webhooks/gitlab", content=body, headers=other_key
            ).status_code
            == 401
        )
        signed = gitlab_headers(body, "Push Hook", SECRETS["gitlab"], key)
        answer = service.client.post("/api/v1/webhooks/gitlab", content=body, headers=signed)
        assert answer.status_code == 202, answer.text
        assert counts(service)[0] == 1


def test_bitbucket_cloud_and_server_header_sets(service: Service) -> None:
    cloud = body_of("bitbucket_cloud_push")
    answer = service.client.post(
        "/api/v1/webhooks/bitbucket",
        content=cloud,
        headers={
            "Content-Type": "application/json",
            "X-Event-Key": "repo:push",
            "X-Request-UUID": "4b8f2c56-0d1e-4f6b-9d3c-2d3c7a1e9f00",
            "X-Attempt-Number": "1",
            "X-Hook-UUID": "{0c0f2f8a-3f5e-4a2f-9c1d-7f0a3c9b8e11}",
            "X-Hub-Signature": hub_signature(SECRETS["bitbucket"], cloud),
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["repository_id"] == "bitbucket:atlassian_tutorial/helloworld"
    server = body_of("bitbucket_server_pr_opened")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Event-Key": "pr:opened",
        "X-Request-Id": "b0a6e5ba-4a8d-4b3e-9f4d-1e9bd6a3f7c2",
        "X-Hub-Signature": hub_signature(SECRETS["bitbucket"], server),
    }
    answer = service.client.post("/api/v1/webhooks/bitbucket", content=server, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["repository_id"] == "bitbucket-server:PROJ/repository"
    headers["X-Hub-Signature"] = hub_signature("wrong", server)
    headers["X-Request-Id"] = "another"
    assert (
        service.client.post(
            "/api/v1/webhooks/bitbucket", content=server, headers=headers
        ).status_code
        == 401
    )
    assert counts(service) == (2, 0)  # no collector for bitbucket: recorded, not synced


def test_a_payload_over_the_limit_is_refused_with_413(service: Service) -> None:
    big = json.dumps({"repository": {"full_name": "o/r"}, "pad": "x" * 70_000}).encode()
    headers = github_headers(big, "push")
    answer = service.client.post("/api/v1/webhooks/github", content=big, headers=headers)
    assert answer.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size counts
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = service.client.post("/api/v1/webhooks/github", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert counts(service) == (0, 0)


def test_webhook_deliveries_are_counted_in_metrics(service: Service) -> None:
    body = body_of("github_ping")
    service.client.post(
        "/api/v1/webhooks/github", content=body, headers=github_headers(body, "ping")
    )
    service.client.post("/api/v1/webhooks/github", content=body, headers={"X-GitHub-Event": "x"})
    text = service.client.get("/metrics", headers=service.headers("viewer")).text
    assert (
        'git_collector_webhook_deliveries_total{event="ping",forge="github",outcome="recorded"} 1.0'
        in text
    )
    assert 'outcome="refused"' in text


def test_unknown_forge_is_404ish(service: Service) -> None:
    answer = service.client.post("/api/v1/webhooks/sourcehut", content=b"{}")
    assert answer.status_code == 422
    assert isinstance(httpx.codes(answer.status_code), int)


def test_a_bitbucket_server_delivery_names_its_servers_api_for_the_sync() -> None:
    payload = json.loads((FIXTURES / "bitbucket_server_pr_opened.json").read_text())
    repo = payload["pullRequest"]["toRef"]["repository"]
    repo["links"] = {
        "self": [
            {"href": "https://bb.corp.example/bitbucket/projects/PROJ/repos/repository/browse"}
        ]
    }
    hooks = bitbucket_server.FORGE.webhooks
    assert hooks is not None
    spec = "bitbucket-server:PROJ/repository"
    delivery = Delivery("bitbucket", "pr:opened", "d1", spec, payload, hooks)
    hosts = {"bb.corp.example": "bitbucket-server"}
    assert self_hosted_api_url(delivery, hosts) == "https://bb.corp.example/bitbucket"
    assert self_hosted_api_url(delivery, {}) is None  # not a configured host: no API named
    other = Delivery("bitbucket", "pr:opened", "d2", "bitbucket-server:PROJ/other", payload, hooks)
    assert self_hosted_api_url(other, hosts) is None  # the link names another repository


def test_every_forge_with_webhooks_has_an_endpoint_that_names_its_secret_setting(
    tmp_path: Path,
) -> None:
    """The endpoints come from the forge registry: each forge's route refuses a delivery while
    no secret is configured, naming the setting its descriptor reads, and stores nothing."""
    routes = forges.webhook_routes()
    assert {"github", "gitlab", "bitbucket"} <= set(routes)
    unset = {name: None for name in forges.setting_names() if "WEBHOOK" in name}
    with running_service(tmp_path, **unset) as service:
        for route in routes:
            hooks = forges.webhooks_for(route, {})
            assert hooks is not None
            setting = hooks.secret_names()[0]
            answer = service.client.post(f"/api/v1/webhooks/{route}", content=b"{}")
            assert answer.status_code == 401, (route, answer.text)
            assert f"{route} webhook refused: no webhook" in answer.text
            assert f"set {setting}" in answer.text
        assert counts(service) == (0, 0)
