"""The API with REDIS_URL: triggers go to Redis, a worker takes them, status comes from Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from forgelens.engine.queue_redis import drain
from forgelens.engine.store_access import StoreAccess
from forgelens.service.app import create_app
from forgelens.service.keys import create_key
from tests.engine.collecthelp import swap_collector
from tests.redis_fixtures import REDIS_URL, isolated_prefix
from tests.service._server import serving
from tests.service.conftest import fake_forge, service_settings


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with isolated_prefix() as prefix:
        yield prefix


def test_triggers_queue_on_redis_and_a_worker_completes_them(
    tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    swap_collector(monkeypatch, "github", fake_forge)
    settings = service_settings(
        tmp_path,
        REDIS_URL=REDIS_URL,
        FORGELENS_REDIS_PREFIX=redis_prefix,
        FORGELENS_RATE_LIMIT_PER_MINUTE=100,
    )
    access = StoreAccess(settings.database_url, shared=True)  # the API and the worker take turns
    with access.session() as store:
        operator = create_key(store, "operator")[1]
    headers = {"X-API-Key": operator}
    app = create_app(settings, access=access)
    with serving(app) as url, httpx.Client(base_url=url, headers=headers) as client:
        body = {"repository_url": "https://github.com/o/r"}
        first = client.post("/api/v1/collect/trigger", json=body).json()
        second = client.post("/api/v1/collect/trigger", json={**body, "full_sync": True}).json()
        assert first["status"] == "queued"
        assert (second["job_id"], second["deduplicated"]) == (first["job_id"], True)
        assert "trigger again once it has finished for a full sync" in second["message"]
        queued = client.get("/api/v1/collect/status/github%3Ao%2Fr").json()
        assert (queued["status"], queued["job_id"]) == ("queued", first["job_id"])
        metrics = client.get("/metrics").text
        assert "git_collector_queue_depth 1.0" in metrics
        assert client.get("/health/ready").json()["checks"]["redis"] == {"ok": True}

        asyncio.run(drain(settings.queue_config(), access))

        done = client.get("/api/v1/collect/status/github%3Ao%2Fr").json()
        assert done["status"] == "completed"
        assert done["last_sync"].endswith("Z")
        assert done["run"]["repos_processed"] == 1
        assert (
            'git_collector_collections_total{status="completed"} 1.0' in client.get("/metrics").text
        )
    client_redis = redis.Redis.from_url(REDIS_URL)
    assert client_redis.hget(f"{redis_prefix}git:status:github:o/r", "status") == b"completed"
    assert list(client_redis.scan_iter(match=f"{redis_prefix}forgelens:reqlimit:*"))
    client_redis.close()
    with access.session() as store:
        assert store.query("SELECT full_name FROM repositories") == [("o/r",)]
        assert store.query("SELECT count(*) FROM service_jobs")[0][0] == 1
