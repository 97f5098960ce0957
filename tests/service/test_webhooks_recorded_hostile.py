"""Hostile and odd deliveries: bodies that are not JSON objects, oversized bodies, bad or missing
signatures, replays, forms, numbers no record can hold, and redeliveries that must not corrupt
what is stored. Each answer is a 4xx with a message that says what to do, never a 500."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.service.conftest import SECRETS, Service, within_one_minute
from tests.service.test_webhooks_recorded import (
    count,
    deliver,
    delivered,
    post_signed,
    recorded,
    rows,
    test_collectors,  # noqa: F401 - the autouse fixture: syncs run the test collector
)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>not json</html>", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'"a string"', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"[" * 20_000 + b"]" * 20_000, "not JSON"),  # nested past the parser's depth
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_refused_clearly(
    service: Service, body: bytes, says: str
) -> None:
    answer = post_signed(service, "github/push_tag", body)
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"]
    assert count(service, "webhook_deliveries") == 0


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("github/pull_request_opened", ("pull_request", "number"), 1e400),
        ("github/pull_request_opened", ("pull_request", "number"), 10**30),
        ("bitbucket_server/pr_opened", ("pullRequest", "updatedDate"), 10**30),
        ("bitbucket_server/pr_opened", ("pullRequest", "id"), -(10**25)),
        ("github/push_25_commits", ("commits",), [{"id": "x" * 5000, "timestamp": "nope"}]),
    ],
)
def test_values_no_record_can_hold_are_refused_not_crashed_on(
    service: Service, name: str, path: tuple[str, ...], value: Any
) -> None:
    _, _, raw = recorded(name)
    payload = json.loads(raw)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    body = json.dumps(payload).encode()
    answer = post_signed(service, name, body)
    assert answer.status_code == 400, answer.text
    assert "payload cannot be stored" in answer.json()["detail"]
    assert rows(service, "SELECT outcome FROM webhook_deliveries") == [{"outcome": "malformed"}]
    for table in ("pull_requests", "commits", "service_jobs"):
        assert count(service, table) == 0


def test_a_body_over_the_cap_is_refused_before_anything_else(service: Service) -> None:
    _, _, raw = recorded("github/push_25_commits")
    payload = json.loads(raw)
    payload["commits"] = payload["commits"] * 40  # ~ 1 MB, the service allows 64 KB here
    body = json.dumps(payload).encode()
    answer = post_signed(service, "github/push_25_commits", body)
    assert answer.status_code == 413
    assert "larger than 65536 bytes" in answer.json()["detail"]
    assert count(service, "webhook_deliveries") == 0
    assert count(service, "commits") == 0


@pytest.mark.parametrize(
    ("name", "header", "value", "says"),
    [
        (
            "github/pull_request_opened",
            "X-Hub-Signature-256",
            None,
            "no X-Hub-Signature-256 header: give the webhook the secret of "
            "FORGELENS_GITHUB_WEBHOOK_SECRET",
        ),
        (
            "github/pull_request_opened",
            "X-Hub-Signature-256",
            "sha256=" + "0" * 64,
            "X-Hub-Signature-256 does not match the body: the webhook's secret is not "
            "FORGELENS_GITHUB_WEBHOOK_SECRET",
        ),
        ("github/pull_request_opened", "X-Hub-Signature-256", "sha256=deadbeef", "not FORGE"),
        (
            "gitlab/merge_request_open",
            "X-Gitlab-Token",
            None,
            "X-Gitlab-Token does not match FORGELENS_GITLAB_WEBHOOK_TOKEN",
        ),
        ("gitlab/merge_request_open", "X-Gitlab-Token", "GL-HOOK-TOKEN", "does not match"),
        (
            "bitbucket_cloud/pullrequest_created",
            "X-Hub-Signature",
            None,
            "no X-Hub-Signature header: give the webhook the secret of "
            "FORGELENS_BITBUCKET_WEBHOOK_SECRET",
        ),
        ("bitbucket_server/pr_opened", "X-Hub-Signature", "sha1=abc", "does not match the body"),
    ],
)
def test_a_wrong_or_missing_signature_stores_nothing_and_says_what_to_check(
    service: Service, name: str, header: str, value: str | None, says: str
) -> None:
    answer = deliver(service, name, **{header.replace("-", "_"): value})
    assert answer.status_code == 401
    detail = answer.json()["detail"]
    assert "webhook refused" in detail
    assert says in detail
    for secret in SECRETS.values():
        assert secret not in detail
    assert count(service, "webhook_deliveries") == 0
    assert count(service, "pull_requests") == 0


def test_a_replayed_delivery_id_with_another_body_changes_nothing(service: Service) -> None:
    delivered(service, "github/pull_request_closed_merged")
    before = rows(service, "SELECT * FROM pull_requests")
    # the same delivery id again, now carrying an older state (signed: a replay by the sender)
    _, headers, _ = recorded("github/pull_request_closed_merged")
    _, _, older = recorded("github/pull_request_opened")
    replay = post_signed(
        service,
        "github/pull_request_opened",
        older,
        X_GitHub_Delivery=headers["X-GitHub-Delivery"],
    )
    assert (replay.status_code, replay.json()["status"]) == (200, "duplicate")
    assert rows(service, "SELECT * FROM pull_requests") == before


def test_github_form_encoded_deliveries_are_read(service: Service) -> None:
    """A hook created with content type ``application/x-www-form-urlencoded`` sends the JSON
    in a ``payload`` form field; GitHub signs the form body as sent."""
    _, _, raw = recorded("github/pull_request_opened")
    form = urlencode({"payload": raw.decode()}).encode()
    answer = post_signed(
        service,
        "github/pull_request_opened",
        form,
        Content_Type="application/x-www-form-urlencoded",
    )
    assert (answer.status_code, answer.json()["status"]) == (202, "queued"), answer.text
    assert rows(service, "SELECT number, title FROM pull_requests") == [
        {"number": 42, "title": "Add retry with jitter to the exporter"}
    ]
    bad = post_signed(
        service,
        "github/pull_request_opened",
        b"payload=%7Bnot-json",
        Content_Type="application/x-www-form-urlencoded",
    )
    assert bad.status_code == 400
    assert "not JSON" in bad.json()["detail"]


def test_gitlab_recursive_hooks_without_idempotency_keys_are_not_taken_for_redeliveries(
    service: Service,
) -> None:
    """GitLab before 17.4 sends no ``Idempotency-Key``; its ``X-Gitlab-Event-UUID`` is shared by
    every hook a webhook-triggered API call fires (a bot labelling a merge request on "open").
    The second, different, delivery is new data, not a redelivery."""
    uuid = "0f6c2d1e-3a4b-4c5d-8e9f-000000000abc"
    no_key = {"Idempotency_Key": None, "X_Gitlab_Webhook_UUID": None, "X_Gitlab_Event_UUID": uuid}
    first = deliver(service, "gitlab/merge_request_open", **no_key)
    second = deliver(service, "gitlab/merge_request_update_title_labels", **no_key)
    assert [first.json()["status"], second.json()["status"]] == ["queued", "queued"]
    assert rows(service, "SELECT title, labels FROM pull_requests") == [
        {"title": "Exporter: retry with jitter ✓", "labels": '["backend"]'}
    ]
    again = deliver(service, "gitlab/merge_request_update_title_labels", **no_key)
    assert again.json()["status"] == "duplicate"  # the very same delivery is still one
    # a GitLab older still sends no id at all: the body's digest is the delivery id
    bare = deliver(
        service, "gitlab/push_45_commits", Idempotency_Key=None, X_Gitlab_Event_UUID=None
    )
    assert (bare.status_code, bare.json()["delivery_id"][:7]) == (202, "sha256:")


def test_a_delivery_without_its_event_or_id_header_says_which(service: Service) -> None:
    answer = deliver(service, "github/pull_request_opened", X_GitHub_Event=None)
    assert answer.status_code == 400
    assert "event or delivery id header" in answer.json()["detail"]
    answer = deliver(service, "bitbucket_cloud/pullrequest_created", X_Request_UUID=None)
    assert answer.status_code == 400
    assert count(service, "webhook_deliveries") == 0


def test_unsigned_requests_cannot_grow_the_metrics_without_bound(service: Service) -> None:
    """The event header of a refused request is the sender's word: it must not become a label
    (each new value would be one more series kept for the life of the process)."""
    for n in range(20):
        answer = deliver(
            service, "github/pull_request_opened", X_Hub_Signature_256=None, X_GitHub_Event=f"e{n}"
        )
        assert answer.status_code == 401
    text = service.client.get("/metrics", headers=service.headers("viewer")).text
    refused = [line for line in text.splitlines() if 'outcome="refused"' in line]
    assert len(refused) == 1, refused
    assert 'forge="github"' in refused[0]
    assert refused[0].endswith(" 20.0")


def test_oversized_bodies_are_throttled_like_other_refusals(service: Service) -> None:
    """Unsigned and over the cap: refused 413, and past the per-address budget of refusals 429,
    so a client cannot make the service write one audit row per request without limit."""
    big = b'{"pad": "' + b"x" * 70_000 + b'"}'
    within_one_minute(20.0)
    answers = [
        service.client.post(
            "/api/v1/webhooks/github",
            content=big,
            headers={"X-GitHub-Event": "push", "Content-Type": "application/json"},
        ).status_code
        for _ in range(65)
    ]
    assert set(answers[:60]) == {413}
    assert set(answers[60:]) == {429}
    audited = service.store().query(
        "SELECT count(*) FROM audit_log WHERE action = 'webhook.github'"
    )[0][0]
    assert audited == 60


@pytest.mark.parametrize("full_name", ["../etc", "octo-org/..", "octo-org/a b", "x" * 300 + "/y"])
def test_records_are_never_stored_under_a_name_no_repository_has(
    service: Service, full_name: str
) -> None:
    _, _, raw = recorded("github/pull_request_opened")
    payload = json.loads(raw)
    payload["repository"]["full_name"] = full_name
    answer = post_signed(service, "github/pull_request_opened", json.dumps(payload).encode())
    assert answer.status_code == 400, answer.text
    assert "names no valid repository" in answer.json()["detail"]
    assert count(service, "pull_requests") == 0
    assert count(service, "people") == 0
    assert count(service, "service_jobs") == 0


def test_gitlab_payloads_it_cannot_store_do_not_get_the_hook_disabled(service: Service) -> None:
    """GitLab disables a webhook after 4 failed deliveries in a row, 4xx included (before 17.x
    for good): a payload forgelens cannot read is recorded ``malformed`` and answered 202 with
    the reason, so the merge requests and pushes that follow still arrive."""
    _, _, raw = recorded("gitlab/note_on_merge_request")
    payload = json.loads(raw)
    del payload["object_attributes"]["id"]
    for n in range(4):
        answer = post_signed(
            service,
            "gitlab/note_on_merge_request",
            json.dumps(payload).encode(),
            Idempotency_Key=f"unreadable-{n}",
        )
        assert answer.status_code == 202, answer.text
        got = answer.json()
        assert got["status"] == "malformed"
        assert "Note Hook payload cannot be stored (missing 'id')" in got["detail"]
    outcomes = rows(service, "SELECT DISTINCT outcome FROM webhook_deliveries")
    assert outcomes == [{"outcome": "malformed"}]
    assert count(service, "pr_comments") == 0
    assert deliver(service, "gitlab/merge_request_open").json()["status"] == "queued"


def test_a_delivery_sent_again_while_the_first_is_in_flight_is_one_delivery(
    service: Service,
) -> None:
    """A forge retrying a slow delivery (Bitbucket after 10 s) sends it again while the first
    is still being handled: exactly one is recorded and syncs, the others are duplicates."""
    forge, headers, raw = recorded("github/pull_request_opened")

    def post(_: int) -> str:
        with httpx.Client(base_url=str(service.client.base_url), timeout=30) as client:
            answer = client.post(f"/api/v1/webhooks/{forge}", content=raw, headers=headers)
            return str(answer.json()["status"])

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(post, range(8)))
    assert outcomes == ["duplicate"] * 7 + ["queued"]
    assert service.wait_idle("github:octo-org/forgelens-demo")["status"] == "completed"
    assert count(service, "service_jobs") == 1
