"""Gerrit in the service: webhook deliveries of the ``webhooks`` plugin at
``/api/v1/webhooks/gerrit`` (a shared secret as ``?token=`` or ``Authorization: Bearer``, the
body's digest as delivery id, what each event stores and queues; real deliveries in
``tests/fixtures/webhooks/gerrit/``) and trigger URLs of configured Gerrit hosts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.errors import BadInput
from forgelens.service.ssrf import validate_repository_url
from forgelens.service.webhooks import parse_delivery, receiver, self_hosted_api_url
from tests.engine.collecthelp import swap_collector
from tests.service.conftest import Service, fake_forge, running_service

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks" / "gerrit"
SECRET = "gerrit-hook-secret"
HOSTS = {"gerrit.example.com": "gerrit"}


def load(name: str) -> tuple[dict[str, str], bytes]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return dict(doc["headers"]), json.dumps(doc["body"], ensure_ascii=False).encode()


def post(service: Service, name: str, token: str | None = SECRET, **kw: Any) -> httpx.Response:
    headers, raw = load(name)
    params = {"token": token} if token is not None else {}
    return service.client.post(
        "/api/v1/webhooks/gerrit",
        content=kw.get("body", raw),
        headers={**headers, **kw.get("headers", {})},
        params=params,
    )


@pytest.fixture
def gerrit_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    swap_collector(monkeypatch, "gerrit", fake_forge)
    with running_service(
        tmp_path,
        FORGELENS_GERRIT_WEBHOOK_SECRET=SECRET,
        FORGELENS_FORGE_HOSTS="gerrit.example.com=gerrit",
    ) as svc:
        yield svc


def rows(service: Service, sql: str) -> list[dict[str, Any]]:
    return service.store().query_dicts(sql)


def test_the_token_in_the_url_or_a_bearer_header_is_accepted(gerrit_service: Service) -> None:
    answer = post(gerrit_service, "patchset_created")
    assert answer.status_code == 202, answer.text
    assert (answer.json()["status"], answer.json()["repository_id"]) == (
        "queued",
        "gerrit:TestRepo1",
    )
    bearer = post(
        gerrit_service,
        "change_abandoned",
        token=None,
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert bearer.status_code == 202, bearer.text


@pytest.mark.parametrize("token", [None, "not-the-secret"])
def test_a_missing_or_wrong_token_is_refused_and_nothing_is_stored(
    gerrit_service: Service, token: str | None
) -> None:
    answer = post(gerrit_service, "change_merged", token=token)
    assert answer.status_code == 401
    detail = answer.json()["detail"]
    assert "FORGELENS_GERRIT_WEBHOOK_SECRET" in detail
    assert SECRET not in answer.text
    assert rows(gerrit_service, "SELECT * FROM pull_requests") == []
    assert rows(gerrit_service, "SELECT * FROM webhook_deliveries") == []


def test_a_retry_of_the_plugin_is_a_duplicate(gerrit_service: Service) -> None:
    first, again = post(gerrit_service, "comment_added"), post(gerrit_service, "comment_added")
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    [got] = rows(gerrit_service, "SELECT forge, delivery_id, event FROM webhook_deliveries")
    assert (got["forge"], got["event"]) == ("gerrit", "comment-added")
    assert got["delivery_id"].startswith("sha256:")


def test_a_change_lifecycle_is_stored_from_the_events(gerrit_service: Service) -> None:
    for name in ("comment_added", "change_merged"):
        answer = post(gerrit_service, name)
        assert answer.status_code == 202, f"{name}: {answer.text}"
    [pr] = rows(
        gerrit_service,
        "SELECT repository_id, number, title, state, author, created_at, merged_at, closed_at, "
        "base_ref, url FROM pull_requests",
    )
    assert (pr["repository_id"], pr["number"], pr["state"]) == ("gerrit:TestRepo", 1, "merged")
    assert pr["title"].startswith("updates to the test branch 2")
    assert pr["author"] is None  # events name no account id: the queued sync sets the owner
    assert pr["created_at"].isoformat().startswith("2023-11-17T14:01:27")  # createdOn 1700229687
    assert pr["merged_at"] == pr["closed_at"]
    assert pr["merged_at"].isoformat().startswith("2023-11-17T14:34:58")  # eventCreatedOn
    assert (pr["base_ref"], pr["url"]) == ("test_branch", "http://959be7129610/c/TestRepo/+/1")
    # the vote in comment-added names no message id: the sync reads the review itself
    assert rows(gerrit_service, "SELECT * FROM pr_reviews") == []
    post(gerrit_service, "change_abandoned")
    states = rows(gerrit_service, "SELECT number, state FROM pull_requests ORDER BY number")
    assert states == [{"number": 1, "state": "merged"}, {"number": 21, "state": "closed"}]


def test_a_new_patch_set_stores_its_commit(gerrit_service: Service) -> None:
    assert post(gerrit_service, "patchset_created").status_code == 202
    [commit] = rows(
        gerrit_service,
        "SELECT pr_number, sha, patch_set, author_name, author_email FROM pr_commits",
    )
    assert commit == {
        "pr_number": 2,
        "sha": "b59138869113bfd9d3e7fbf9439d74e1ae6c54b8",
        "patch_set": 1,
        "author_name": "Administrator",
        "author_email": "admin@example.com",
    }


def test_an_older_server_event_without_creation_time_queues_the_sync_only(
    gerrit_service: Service,
) -> None:
    answer = post(gerrit_service, "comment_added_legato")
    assert answer.status_code == 202, answer.text
    assert answer.json()["repository_id"] == "gerrit:Legato/platformAdaptor/at"
    assert answer.json()["status"] == "queued"
    assert rows(gerrit_service, "SELECT * FROM pull_requests") == []


def test_a_payload_without_its_change_number_is_a_clear_400(gerrit_service: Service) -> None:
    _, raw = load("change_merged")
    doc = json.loads(raw)
    del doc["change"]["number"]
    answer = post(gerrit_service, "change_merged", body=json.dumps(doc).encode())
    assert answer.status_code == 400
    assert "gerrit change-merged payload cannot be stored" in answer.json()["detail"]
    assert rows(gerrit_service, "SELECT outcome FROM webhook_deliveries") == [
        {"outcome": "malformed"}
    ]


def test_a_configured_gerrit_host_delivery_syncs_from_that_server() -> None:
    _, raw = load("change_merged")
    doc = json.loads(raw)
    doc["change"]["url"] = "https://gerrit.example.com/r/c/TestRepo/+/1"
    d = parse_delivery(receiver("gerrit", {}), {}, json.dumps(doc).encode())
    assert (d.event, d.spec) == ("change-merged", "gerrit:TestRepo")
    assert self_hosted_api_url(d, HOSTS) == "https://gerrit.example.com/r"
    assert self_hosted_api_url(d, {}) is None


# -- trigger URLs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "spec", "api_url"),
    [
        ("https://gerrit.example.com/c/platform/build/+/123", "gerrit:platform/build", ""),
        ("https://gerrit.example.com/r/c/tools/gerrit/+/4711/2", "gerrit:tools/gerrit", "/r"),
        ("https://gerrit.example.com/c/solo/+/9", "gerrit:solo", ""),
        ("https://gerrit.example.com/q/project:platform/build", "gerrit:platform/build", ""),
        (
            "https://gerrit.example.com/r/q/status:open+project:platform/build+branch:main",
            "gerrit:platform/build",
            "/r",
        ),
    ],
)
def test_gerrit_change_and_query_urls_name_the_project_and_the_server(
    url: str, spec: str, api_url: str
) -> None:
    found = validate_repository_url(url, self_hosted=HOSTS)
    assert (str(found), found.api_url) == (spec, "https://gerrit.example.com" + api_url)


@pytest.mark.parametrize(
    "url",
    [
        "https://gerrit.example.com/c/../etc/+/1",
        "https://gerrit.example.com/q/status:open",
        "https://gerrit.example.com/admin/repos",
    ],
)
def test_gerrit_urls_without_a_project_are_refused(url: str) -> None:
    with pytest.raises(BadInput):
        validate_repository_url(url, self_hosted=HOSTS)


def test_an_unconfigured_gerrit_host_is_refused() -> None:
    with pytest.raises(BadInput, match="not a configured forge host"):
        validate_repository_url("https://gerrit.other.example/c/p/+/1")


def test_the_trigger_queues_a_gerrit_project_from_a_change_url(gerrit_service: Service) -> None:
    answer = gerrit_service.client.post(
        "/api/v1/collect/trigger",
        json={"repository_url": "https://gerrit.example.com/r/c/platform/build/+/12"},
        headers=gerrit_service.headers("operator"),
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["repository_id"] == "gerrit:platform/build"
    done = gerrit_service.wait_idle("gerrit:platform/build")
    assert done["status"] == "completed", done
