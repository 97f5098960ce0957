"""Trigger and status (seed 001), dedupe, request ids, JSON logs, CORS, error mapping."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from forgelens.engine.collect import CollectOptions, CollectResult
from forgelens.engine.progress import Progress
from forgelens.logs import configure
from forgelens.service.app import create_app
from forgelens.sources import forges
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store
from tests.engine.collecthelp import swap_collector
from tests.service._server import serving
from tests.service.conftest import Service, fake_forge, service_settings

TRIGGER = "/api/v1/collect/trigger"


def trigger(service: Service, url: str = "https://github.com/o/r", **body: Any) -> httpx.Response:
    return service.client.post(
        TRIGGER, json={"repository_url": url, **body}, headers=service.headers("operator")
    )


def status(service: Service, repo_id: str) -> dict[str, Any]:
    answer = service.client.get(
        f"/api/v1/collect/status/{repo_id}", headers=service.headers("viewer")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_trigger_answers_as_the_seed_says_and_the_job_completes(service: Service) -> None:
    answer = trigger(service, full_sync=True)
    assert answer.status_code == 202
    body = answer.json()
    assert {k: body[k] for k in ("status", "message", "repository_url")} == {
        "status": "queued",
        "message": "Collection job has been queued for processing",
        "repository_url": "https://github.com/o/r",
    }
    done = service.wait_idle("github:o/r")
    assert done["status"] == "completed"
    assert done["job_id"] == body["job_id"]
    assert done["full_sync"] is True
    assert done["last_sync"] is not None
    assert done["run"]["repos_processed"] == 1
    assert done["run"]["status"] == "completed"
    job = service.store().query_dicts("SELECT * FROM service_jobs")
    assert [(j["repository_id"], j["status"], j["tries"]) for j in job] == [
        ("github:o/r", "completed", 1)
    ]


def test_status_accepts_encoded_ids_urls_and_forge_ids(service: Service) -> None:
    trigger(service)
    service.wait_idle("github:o/r")
    forge_id = service.store().query("SELECT forge_id FROM repositories")[0][0]
    for form in ("github%3Ao%2Fr", "github:o/r", "https%3A%2F%2Fgithub.com%2Fo%2Fr", forge_id):
        assert status(service, form)["repository_id"] == "github:o/r"
        assert status(service, form)["status"] == "completed"
    assert status(service, "github%3Aother%2Frepo")["status"] == "idle"
    missing = service.client.get("/api/v1/collect/status/987654", headers=service.headers("viewer"))
    assert (missing.status_code, missing.json()["error"]) == (404, "NotFound")


def test_a_second_trigger_returns_the_queued_or_running_job(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(
        store: Store, specs: list[SourceSpec], opts: CollectOptions, progress: Progress
    ) -> CollectResult:
        started.set()
        release.wait(20)
        return fake_forge(store, specs, opts, progress)

    swap_collector(monkeypatch, "github", slow)
    first = trigger(service).json()
    assert started.wait(10)
    assert status(service, "github:o/r")["status"] == "running"
    second = trigger(service, "https://github.com/o/r.git").json()
    assert second["job_id"] == first["job_id"]
    assert second["deduplicated"] is True
    assert second["status"] == "running"
    release.set()
    assert service.wait_idle("github:o/r")["status"] == "completed"
    third = trigger(service).json()
    assert third["job_id"] != first["job_id"]
    assert third["deduplicated"] is False
    service.wait_idle("github:o/r")


def test_a_failed_job_reports_failed_with_a_reason(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> CollectResult:
        raise RuntimeError("the forge answered 502 with token ghp_abcdefghijklmnopqrstuvwxyz0123")

    swap_collector(monkeypatch, "github", broken)
    trigger(service)
    failed = service.wait_idle("github:o/r")
    assert failed["status"] == "failed"
    assert "502" in failed["error"]
    assert "ghp_" not in failed["error"]
    assert failed["last_sync"] is None


def test_a_forge_without_a_collector_is_a_clear_400(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(forges.BY_KIND, "gitlab")
    answer = trigger(service, "https://gitlab.com/group/project")
    assert answer.status_code == 400
    assert "not available" in answer.json()["detail"]


def test_bad_bodies_are_422_not_500(service: Service) -> None:
    for body in ({}, {"repository_url": 5}, {"repository_url": "x" * 5000}):
        answer = service.client.post(TRIGGER, json=body, headers=service.headers("operator"))
        assert answer.status_code == 422


def test_request_ids_are_echoed_and_logged_as_json(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure("INFO", json=True)
    try:
        app = create_app(service_settings(tmp_path))
        with serving(app) as url, httpx.Client(base_url=url) as client:
            mine = client.get("/health", headers={"X-Request-ID": "abc-123"})
            fresh = client.get("/health", headers={"X-Request-ID": "bad id\twith space"})
        err = capfd.readouterr().err
    finally:
        configure("INFO", json=False)
    assert mine.headers["x-request-id"] == "abc-123"
    assert fresh.headers["x-request-id"] != "bad id\twith space"
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert {line["request_id"] for line in requests} >= {"abc-123", fresh.headers["x-request-id"]}
    assert all(line["path"] == "/health" and line["status"] == 200 for line in requests)


def test_cors_origins_come_from_settings(tmp_path: Path) -> None:
    settings = service_settings(tmp_path, FORGELENS_CORS_ORIGINS="https://dash.example")
    app = create_app(settings)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        ok = client.get("/health", headers={"Origin": "https://dash.example"})
        other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert ok.headers["access-control-allow-origin"] == "https://dash.example"
    assert "access-control-allow-origin" not in other.headers


def test_metrics_carry_the_seed_names(service: Service) -> None:
    trigger(service)
    service.wait_idle("github:o/r")
    service.client.get("/api/v1/keys", headers=service.headers("viewer"))  # 403
    text = service.client.get("/metrics", headers=service.headers("viewer")).text
    assert (
        'git_collector_requests_total{method="POST",route="/api/v1/collect/trigger",'
        'status="202"} 1.0' in text
    )
    assert (
        'git_collector_requests_failed{method="GET",route="/api/v1/keys",status="403"} 1.0' in text
    )
    assert 'git_collector_collections_total{status="completed"} 1.0' in text
    assert "git_collector_processing_duration_seconds_count 1.0" in text
    assert "git_collector_queue_depth 0.0" in text


def test_forge_calls_and_rate_limits_reach_metrics(service: Service) -> None:
    from forgelens import telemetry
    from forgelens.sources.ratelimit_view import token_scope

    telemetry.forge_call("github", 200)
    telemetry.forge_call("github", 403)
    app_ctx = _app_ctx(service)  # the app's rate-limit view, as the forge client would use it
    token = "ghp_" + "a" * 36
    app_ctx.ratelimits.update(
        "github", token_scope(token), remaining=4321, limit=5000, reset_at=4_102_444_800.0
    )
    text = service.client.get("/metrics", headers=service.headers("viewer")).text
    assert 'git_collector_forge_api_calls_total{forge="github",status="403"} 1.0' in text
    assert 'git_collector_ratelimit_remaining{forge="github",token="' in text
    assert "4321.0" in text
    assert token not in text


def _app_ctx(service: Service) -> Any:
    from tests.service import _server

    return _server.last_app.state.ctx


def test_a_planted_token_reaches_no_answer_row_or_log(
    service: Service, capfd: pytest.CaptureFixture[str]
) -> None:
    token = "ghp_" + "Z9" * 18
    for url in (f"https://x:{token}@github.com/o/r", f"https://{token}@github.com/o/r"):
        answer = trigger(service, url)
        assert answer.status_code == 400
        assert token not in answer.text
    queued = trigger(service, f"https://github.com/o/r?access_token={token}#x")
    assert queued.json()["repository_url"] == "https://github.com/o/r"
    service.client.get("/api/v1/runs", headers={"Authorization": f"token {token}"})
    rows = service.store().query_dicts("SELECT * FROM audit_log")
    assert rows
    assert token not in str(rows)
    assert token not in capfd.readouterr().err
