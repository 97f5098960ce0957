"""Gitea / Forgejo webhooks through the app: ``X-Gitea-Signature`` and ``X-Forgejo-Signature``
(hex HMAC-SHA256 of the raw body), dedupe by ``X-Gitea-Delivery``, what each event stores and
which sync it queues (``tests/fixtures/webhooks/gitea/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.service.webhooks import Delivery, parse_delivery, receiver, self_hosted_api_url
from forgelens.sources.gitea.webhook import sign
from tests.engine.collecthelp import swap_collector
from tests.service.conftest import Service, fake_forge, running_service

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks" / "gitea"
SECRET = "gt-hook-secret"
SPEC = "gitea:infra/deploy-tools"
ANA, BEN = "7", "9"  # the accounts' ids: Gitea people are keyed by id, not login


def load(name: str, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    raw = json.dumps(doc["body"], ensure_ascii=False).encode()
    signature = sign(secret, raw)
    headers = {}
    for key, value in doc["headers"].items():
        if value == "<signed>":
            value = signature
        elif value == "sha256=<signed>":
            value = "sha256=" + signature
        headers[key] = value
    return headers, raw


def post(service: Service, headers: dict[str, str], raw: bytes) -> httpx.Response:
    return service.client.post("/api/v1/webhooks/gitea", content=raw, headers=headers)


@pytest.fixture
def gitea_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    swap_collector(monkeypatch, "gitea", fake_forge)
    with running_service(
        tmp_path,
        FORGELENS_GITEA_WEBHOOK_SECRET=SECRET,
        FORGELENS_FORGE_HOSTS="gitea.example.com=gitea",
    ) as svc:
        yield svc


def rows(service: Service, sql: str) -> list[dict[str, Any]]:
    return service.store().query_dicts(sql)


@pytest.mark.parametrize("name", ["pull_request_opened", "pull_request_merged"])
def test_gitea_and_forgejo_signatures_are_both_accepted(gitea_service: Service, name: str) -> None:
    headers, raw = load(name)
    forgejo = "X-Forgejo-Signature" in headers
    if forgejo:  # Forgejo's own header alone is enough
        del headers["X-Gitea-Signature"]
    answer = post(gitea_service, headers, raw)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    assert answer.json()["repository_id"] == SPEC


@pytest.mark.parametrize("header", ["X-Gitea-Signature", "X-Forgejo-Signature"])
def test_a_wrong_secret_is_refused_and_nothing_is_stored(
    gitea_service: Service, header: str
) -> None:
    headers, raw = load("pull_request_merged", secret="not-the-secret")
    headers.pop("X-Gitea-Signature" if header == "X-Forgejo-Signature" else "X-Forgejo-Signature")
    answer = post(gitea_service, headers, raw)
    assert answer.status_code == 401
    detail = answer.json()["detail"]
    assert header in detail
    assert "FORGELENS_GITEA_WEBHOOK_SECRET" in detail
    assert SECRET not in answer.text
    assert rows(gitea_service, "SELECT * FROM pull_requests") == []
    assert rows(gitea_service, "SELECT * FROM webhook_deliveries") == []


def test_an_unsigned_delivery_names_the_headers_to_send(gitea_service: Service) -> None:
    headers, raw = load("issues_opened")
    del headers["X-Gitea-Signature"]
    answer = post(gitea_service, headers, raw)
    assert answer.status_code == 401
    assert "X-Gitea-Signature or X-Forgejo-Signature" in answer.json()["detail"]


def test_a_redelivery_is_a_duplicate_and_changes_nothing(gitea_service: Service) -> None:
    headers, raw = load("pull_request_opened")
    first, again = post(gitea_service, headers, raw), post(gitea_service, headers, raw)
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    got = rows(gitea_service, "SELECT forge, delivery_id, event FROM webhook_deliveries")
    assert got == [
        {
            "forge": "gitea",
            "delivery_id": "5b1f3c1e-9d0a-4a8e-8f51-0c7a2d6e4b01",
            "event": "pull_request",
        }
    ]


def test_a_pull_request_lifecycle_is_stored_from_the_payloads(gitea_service: Service) -> None:
    for name in (
        "pull_request_opened",
        "pull_request_comment",
        "pull_request_review_approved",
        "pull_request_merged",
    ):
        answer = post(gitea_service, *load(name))
        assert answer.status_code == 202, f"{name}: {answer.text}"
    [pr] = rows(
        gitea_service,
        "SELECT number, title, state, author, merged_by, merged_at, closed_at, base_ref, "
        "head_ref, labels, additions, changed_files FROM pull_requests",
    )
    assert pr["number"] == 17
    assert pr["title"] == "Räumt die Rollback-Skripte auf"
    assert (pr["state"], pr["author"], pr["merged_by"]) == ("merged", ANA, BEN)
    assert pr["merged_at"].isoformat().startswith("2026-05-04T09:30:00")  # +02:00 -> UTC
    assert pr["closed_at"] == pr["merged_at"]
    assert (pr["base_ref"], pr["head_ref"]) == ("main", "ana/rollback")
    assert json.loads(pr["labels"]) == ["kind/cleanup"]
    assert (pr["additions"], pr["changed_files"]) == (42, 3)
    [comment] = rows(gitea_service, "SELECT comment_id, author, kind, body FROM pr_comments")
    assert comment == {
        "comment_id": "4410",
        "author": BEN,
        "kind": "conversation",
        "body": "Could the lock path come from the config? 🙏",
    }
    # the review event names no review id: the queued sync reads the review itself
    assert rows(gitea_service, "SELECT * FROM pr_reviews") == []
    events = {r["event"] for r in rows(gitea_service, "SELECT event FROM webhook_deliveries")}
    assert "pull_request_review_approved" in events  # the fine event type, not the coarse one


def test_issue_comment_and_push_are_stored(gitea_service: Service) -> None:
    for name in ("issues_opened", "issue_comment", "push"):
        answer = post(gitea_service, *load(name))
        assert answer.status_code == 202, f"{name}: {answer.text}"
    [issue] = rows(gitea_service, "SELECT number, author, state, labels FROM issues")
    issue["labels"] = json.loads(issue["labels"])
    assert issue == {"number": 12, "author": None, "state": "open", "labels": ["kind/bug"]}
    [c] = rows(gitea_service, "SELECT issue_number, comment_id, author FROM issue_comments")
    assert c == {"issue_number": 12, "comment_id": "4402", "author": ANA}
    [commit] = rows(
        gitea_service, "SELECT sha, author_login, author_email, files_changed FROM commits"
    )
    assert commit == {
        "sha": "9c1e0f4a2b7d8e3f6a5b4c3d2e1f0a9b8c7d6e5f",
        "author_login": "ana",
        "author_email": "ana@example.org",
        "files_changed": 3,
    }
    people = {r["login"] for r in rows(gitea_service, "SELECT login FROM people")}
    assert "Ghost" not in people  # a deleted account is no one


def _delivery(name: str) -> Delivery:
    headers, raw = load(name)
    lowered = {k.lower(): v for k, v in headers.items()}
    return parse_delivery(receiver("gitea", lowered), lowered, raw)


def test_a_self_hosted_delivery_syncs_from_its_own_server() -> None:
    d = _delivery("pull_request_merged")
    assert (d.event, d.delivery_id, d.spec) == (
        "pull_request",
        "0a6c4e2f-3b5d-4c7e-8f90-1a2b3c4d5e03",
        SPEC,
    )
    hosts = {"gitea.example.com": "gitea"}
    assert self_hosted_api_url(d, hosts) == "https://gitea.example.com/api/v1"
    assert self_hosted_api_url(d, {}) is None  # an unknown host: no API URL taken from a payload


def test_a_payload_that_cannot_be_stored_is_a_clear_400_and_recorded_malformed(
    gitea_service: Service,
) -> None:
    headers, raw = load("pull_request_opened")
    doc = json.loads(raw)
    del doc["pull_request"]["created_at"]
    body = json.dumps(doc).encode()
    headers = {**headers, "X-Gitea-Signature": sign(SECRET, body)}
    headers.pop("X-Hub-Signature-256")
    answer = post(gitea_service, headers, body)
    assert answer.status_code == 400
    assert "gitea pull_request payload cannot be stored" in answer.json()["detail"]
    got = rows(gitea_service, "SELECT outcome FROM webhook_deliveries")
    assert got == [{"outcome": "malformed"}]
    assert rows(gitea_service, "SELECT * FROM pull_requests") == []
