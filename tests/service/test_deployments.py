"""``POST /api/v1/deployments`` and ``/api/v1/incidents``: operator key, validation with a
message saying what to do, idempotent by the caller's id, and DORA sees what was pushed."""

from __future__ import annotations

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from tests.service.conftest import Service

SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


def _repo(service: Service) -> None:
    service.store().write_records(
        [R.Repository(id="github:octo/app", source="github", full_name="octo/app", name="app")]
    )


def test_a_cd_system_records_a_deployment_once_per_id(service: Service) -> None:
    _repo(service)
    body = {
        "repository": "octo/app",
        "sha": SHA,
        "environment": "prod-eu",
        "status": "succeeded",
        "started_at": "2026-03-01T10:00:00Z",
        "finished_at": "2026-03-01T10:05:00Z",
        "id": "argo-42",
    }
    for _ in range(2):
        answer = service.client.post(
            "/api/v1/deployments", json=body, headers=service.headers("operator")
        )
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"ids": ["api:argo-42"]}
    rows = service.store().query_dicts("SELECT * FROM deployments")
    assert len(rows) == 1
    row = rows[0]
    assert (row["repository_id"], row["environment_kind"], row["status"], row["source"]) == (
        "github:octo/app",
        "production",
        "success",
        "api",
    )
    analyze(service.store(), AnalyzeOptions(target="dora"))
    facts = service.store().query("SELECT deployment_id, counted FROM dora_deployments")
    assert facts == [("api:argo-42", True)]


def test_bad_reports_are_refused_with_what_to_do(service: Service) -> None:
    _repo(service)
    ok = {"repository": "github:octo/app", "sha": SHA}
    cases = [
        ({**ok, "repository": "nobody/else"}, "collect it first"),
        ({**ok, "sha": "main"}, "full hex sha"),
        ({**ok, "status": "great"}, "is not known"),
        (
            {**ok, "started_at": "2026-03-02T00:00:00Z", "finished_at": "2026-03-01T00:00:00Z"},
            "before started_at",
        ),
    ]
    for body, words in cases:
        answer = service.client.post(
            "/api/v1/deployments", json=body, headers=service.headers("operator")
        )
        assert answer.status_code == 400, (body, answer.text)
        assert words in answer.text
    viewer = service.client.post("/api/v1/deployments", json=ok, headers=service.headers("viewer"))
    assert viewer.status_code == 403
    assert service.store().query("SELECT count(*) FROM deployments") == [(0,)]


def test_an_incident_tool_records_an_incident(service: Service) -> None:
    _repo(service)
    body = {
        "repository": "github:octo/app",
        "id": "PD-7",
        "created_at": "2026-03-01T11:00:00Z",
        "resolved_at": "2026-03-01T12:30:00Z",
        "title": "checkout errors",
    }
    answer = service.client.post(
        "/api/v1/incidents", json=body, headers=service.headers("operator")
    )
    assert answer.status_code == 201, answer.text
    bad = service.client.post(
        "/api/v1/incidents",
        json={**body, "resolved_at": "2026-03-01T10:00:00Z"},
        headers=service.headers("operator"),
    )
    assert bad.status_code == 400
    assert service.store().query("SELECT incident_id, source FROM incidents") == [
        ("api:PD-7", "api")
    ]
