"""Locked doors: every role against every endpoint, revoked keys, hashes only, rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgelens.engine.store_access import StoreAccess
from forgelens.service.app import create_app
from forgelens.service.keys import create_key
from tests.service._server import serving
from tests.service.conftest import Service, service_settings, within_one_minute

# (method, path, body, least role); None = open to all.
ENDPOINTS: list[tuple[str, str, dict[str, object] | None, str | None]] = [
    ("GET", "/health", None, None),
    ("GET", "/health/ready", None, None),
    ("GET", "/metrics", None, "viewer"),
    ("GET", "/api/v1/collect/status/github%3Ao%2Fr", None, "viewer"),
    ("GET", "/api/v1/runs", None, "viewer"),
    ("GET", "/api/v1/runs/no-such-run", None, "viewer"),
    ("POST", "/api/v1/collect/trigger", {"repository_url": "https://github.com/o/r"}, "operator"),
    ("GET", "/api/v1/keys", None, "admin"),
    ("POST", "/api/v1/keys", {"role": "viewer", "name": "x"}, "admin"),
    ("DELETE", "/api/v1/keys/000000000000", None, "admin"),
    ("GET", "/api/v1/settings", None, "admin"),
    ("GET", "/api/v1/audit", None, "admin"),
]
RANK = {None: 0, "viewer": 1, "operator": 2, "admin": 3}


@pytest.mark.parametrize(("method", "path", "body", "least"), ENDPOINTS)
@pytest.mark.parametrize("role", [None, "bad", "viewer", "operator", "admin"])
def test_authorization_matrix(
    shared_service: Service,
    role: str | None,
    method: str,
    path: str,
    body: dict[str, object] | None,
    least: str | None,
) -> None:
    service = shared_service
    headers = {"X-API-Key": "fl_000000000000_not-a-real-key"} if role == "bad" else {}
    if role in RANK and role is not None:
        headers = service.headers(role)
    response = service.client.request(method, path, json=body, headers=headers)
    if least is None:
        assert response.status_code == 200
    elif role in (None, "bad"):
        assert response.status_code == 401
        assert "fl_" not in response.text or role is None
    elif RANK[role] < RANK[least]:
        assert response.status_code == 403
        assert least in response.json()["detail"]
    else:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500


def test_denied_attempts_are_audited(service: Service) -> None:
    service.client.post("/api/v1/collect/trigger", json={"repository_url": "x"})
    service.client.get("/api/v1/keys", headers=service.headers("operator"))
    rows = service.store().query_dicts(
        "SELECT key_id, action, target, outcome, address, detail FROM audit_log "
        "WHERE outcome = 'denied' ORDER BY occurred_at"
    )
    assert [r["target"] for r in rows] == ["POST /api/v1/collect/trigger", "GET /api/v1/keys"]
    assert rows[0]["key_id"] is None
    assert rows[0]["address"] == "127.0.0.1"
    assert rows[1]["key_id"] is not None
    assert "lacks admin" in rows[1]["detail"]


def test_bearer_header_works_too(service: Service) -> None:
    headers = {"Authorization": f"Bearer {service.keys['viewer']}"}
    assert service.client.get("/api/v1/runs", headers=headers).status_code == 200


def test_keys_are_stored_as_hashes_only_and_shown_once(service: Service) -> None:
    created = service.client.post(
        "/api/v1/keys", json={"role": "operator", "name": "ci"}, headers=service.headers("admin")
    )
    assert created.status_code == 201
    key = created.json()["key"]
    stored = service.store().query_dicts("SELECT * FROM api_keys")
    assert all(key not in str(row.values()) for row in stored)
    listing = service.client.get("/api/v1/keys", headers=service.headers("admin")).text
    assert key not in listing
    assert "key_hash" not in listing
    assert (
        service.client.post(
            "/api/v1/collect/trigger",
            json={"repository_url": "https://github.com/o/r"},
            headers={"X-API-Key": key},
        ).status_code
        == 202
    )


def test_a_revoked_key_stops_working_at_once(service: Service) -> None:
    admin = service.headers("admin")
    made = service.client.post("/api/v1/keys", json={"role": "viewer"}, headers=admin).json()
    headers = {"X-API-Key": made["key"]}
    assert service.client.get("/api/v1/runs", headers=headers).status_code == 200
    gone = service.client.delete(f"/api/v1/keys/{made['key_id']}", headers=admin)
    assert gone.status_code == 204
    assert service.client.get("/api/v1/runs", headers=headers).status_code == 401
    actions = [
        r[0] for r in service.store().query("SELECT action FROM audit_log ORDER BY occurred_at")
    ]
    assert "keys.create" in actions
    assert "keys.revoke" in actions


def test_settings_never_show_secrets(service: Service) -> None:
    text = service.client.get("/api/v1/settings", headers=service.headers("admin")).text
    assert "gh-hook-secret" not in text
    assert "gl-hook-token" not in text
    assert '"github_webhook_secret":"(set)"' in text


def test_per_key_rate_limit(tmp_path: Path) -> None:
    import httpx

    settings = service_settings(tmp_path, FORGELENS_RATE_LIMIT_PER_MINUTE=3)
    access = StoreAccess(settings.database_url)
    key = create_key(access.get(), "viewer")[1]
    other = create_key(access.get(), "viewer")[1]
    app = create_app(settings, access=access)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        within_one_minute()
        codes = [
            client.get("/api/v1/runs", headers={"X-API-Key": key}).status_code for _ in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        limited = client.get("/api/v1/runs", headers={"X-API-Key": key})
        assert int(limited.headers["Retry-After"]) >= 1
        assert client.get("/api/v1/runs", headers={"X-API-Key": other}).status_code == 200


def test_metrics_can_be_made_public_and_docs_hidden(tmp_path: Path) -> None:
    import httpx

    settings = service_settings(tmp_path, FORGELENS_METRICS_PUBLIC=True, FORGELENS_DOCS=False)
    app = create_app(settings)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/v1/runs").status_code == 401
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404


def test_refused_attempts_per_address_are_limited(tmp_path: Path) -> None:
    import httpx

    settings = service_settings(tmp_path, FORGELENS_DENIED_PER_MINUTE=2)
    access = StoreAccess(settings.database_url)
    key = create_key(access.get(), "viewer")[1]
    app = create_app(settings, access=access)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        bad = {"X-API-Key": "fl_000000000000_guess"}
        within_one_minute()
        codes = [client.get("/api/v1/runs", headers=bad).status_code for _ in range(4)]
        assert codes == [401, 401, 429, 429]
        assert client.get("/api/v1/runs", headers={"X-API-Key": key}).status_code == 200
        hook = client.post(
            "/api/v1/webhooks/github",
            content=b"{}",
            headers={
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": "d",
                "X-Hub-Signature-256": "x",
            },
        )
        assert hook.status_code == 429
    denied = access.get().query("SELECT count(*) FROM audit_log WHERE outcome = 'denied'")
    assert denied[0][0] == 2  # a flood of refusals does not flood the audit log
