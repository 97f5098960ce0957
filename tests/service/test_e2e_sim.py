"""End to end: the service collects a repository from the simulated forge (a self-hosted GitHub
on a real TLS socket, explicitly allowed), in-process and through Redis with one
``forgelens worker``; then a webhook for a pull request update lands in the store at once."""

from __future__ import annotations

import contextlib
import json
import math
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from forgelens.engine import collect as collect_module
from forgelens.engine.store_access import StoreAccess
from forgelens.service.app import create_app
from forgelens.service.keys import create_key
from forgelens.sources.webhook import hub_signature
from forgelens.store import Store
from forgelens.testing.forge_sim.app import ForgeSim
from forgelens.testing.forge_sim.dataset import Dataset, SimSize, generate
from forgelens.testing.forge_sim.server import serve
from tests.engine.collecthelp import REAL_COLLECT_FORGE
from tests.redis_fixtures import REDIS_URL, isolated_prefix
from tests.service._server import serving
from tests.service.conftest import SECRETS, running_service, service_settings
from tests.sources.forgehelp import self_signed_cert

SIZE = SimSize(repos=1, prs_per_repo=20, issues_per_repo=3, runs_per_repo=2, people=6, teams=0)


@contextlib.contextmanager
def simulated_forge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The simulator over HTTPS with a self-signed certificate the collectors trust."""
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # how a deployment trusts its own CA
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    sim = ForgeSim(generate(11, SIZE))
    with serve(sim, tls=(cert, key)) as url:
        sim.url, sim.cert = url, cert
        yield sim


def hosts(sim: Any) -> str:
    return f"{httpx.URL(sim.url).host}=github"


def trigger_and_wait(client: httpx.Client, sim: Any, headers: dict[str, str]) -> dict[str, Any]:
    repo = sim.dataset.repos[0].full_name
    answer = client.post(
        "/api/v1/collect/trigger",
        json={"repository_url": f"{sim.url}/{repo}"},
        headers=headers,
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    status_url = f"/api/v1/collect/status/{quote('github:' + repo, safe='')}"
    deadline = time.monotonic() + 90
    while True:
        status = client.get(status_url, headers=headers).json()
        if status["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return dict(status)
        time.sleep(0.1)


def check_collected(store: Store, ds: Dataset, requests: int) -> None:
    repo = ds.repos[0]
    rid = f"github:{repo.full_name}"
    prs = store.query("SELECT number FROM pull_requests WHERE repository_id = ?", [rid])
    assert sorted(n for (n,) in prs) == sorted(p.number for p in repo.prs)
    reviews = store.query("SELECT count(*) FROM pr_reviews WHERE repository_id = ?", [rid])
    assert reviews[0][0] == sum(len(p.reviews) for p in repo.prs)
    files = store.query("SELECT count(*) FROM pr_files WHERE repository_id = ?", [rid])
    assert files[0][0] == sum(len(p.files) for p in repo.prs)
    runs = store.query_dicts("SELECT status, api_calls FROM git_collection_runs")
    assert runs == [{"status": "completed", "api_calls": requests}]  # exactly what the forge saw


def pr_update_lands_at_once(client: httpx.Client, sim: Any, store: Any) -> None:
    repo = sim.dataset.repos[0]
    number = repo.prs[0].number
    with httpx.Client(verify=ssl.create_default_context(cafile=sim.cert)) as forge:
        pr = forge.get(f"{sim.url}/repos/{repo.full_name}/pulls/{number}").json()
    # edited after the collection (GitHub stamps whole seconds: the next one)
    stamp = datetime.fromtimestamp(math.floor(time.time()) + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pr.update(title="Retitled by a webhook", updated_at=stamp)
    for key in ("additions", "deletions", "changed_files"):
        pr.pop(key, None)  # as in a review event's "simple" pull request
    payload = {
        "action": "edited",
        "number": number,
        "pull_request": pr,
        "repository": {"full_name": repo.full_name, "html_url": f"{sim.url}/{repo.full_name}"},
        "sender": {"login": "someone"},
    }
    body = json.dumps(payload).encode()
    rid = f"github:{repo.full_name}"
    before = store().query(
        "SELECT additions, (SELECT count(*) FROM pr_files f WHERE f.repository_id = p.repository_id"
        " AND f.pr_number = p.number) FROM pull_requests p WHERE repository_id = ? AND number = ?",
        [rid, number],
    )
    answer = client.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": hub_signature(SECRETS["github"], body),
        },
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"  # the targeted sync of what it lacks
    after = store().query(
        "SELECT title, additions FROM pull_requests WHERE repository_id = ? AND number = ?",
        [rid, number],
    )
    assert after == [("Retitled by a webhook", before[0][0])]  # at once; sizes kept


def test_the_service_collects_from_the_simulated_forge_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        simulated_forge(tmp_path, monkeypatch) as sim,
        running_service(
            tmp_path, FORGELENS_FORGE_HOSTS=hosts(sim), FORGELENS_FORGE_PRIVATE_HOSTS="127.0.0.1"
        ) as service,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(collect_module, "collect_forge", REAL_COLLECT_FORGE)  # the real one
        status = trigger_and_wait(service.client, sim, service.headers("operator"))
        assert status["status"] == "completed", status
        assert status["run"]["api_calls"] == sim.requests
        check_collected(service.store(), sim.dataset, sim.requests)
        pr_update_lands_at_once(service.client, sim, service.store)
        rid = f"github:{sim.dataset.repos[0].full_name}"
        assert service.wait_idle(rid, timeout=60)["status"] == "completed"  # on the simulator


@pytest.mark.slow
def test_the_service_and_a_worker_collect_through_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with isolated_prefix() as prefix, simulated_forge(tmp_path, monkeypatch) as sim:
        settings = service_settings(
            tmp_path,
            REDIS_URL=REDIS_URL,
            FORGELENS_REDIS_PREFIX=prefix,
            FORGELENS_FORGE_HOSTS=hosts(sim),
            FORGELENS_FORGE_PRIVATE_HOSTS="127.0.0.1",
        )
        access = StoreAccess(settings.database_url, shared=True)  # service and worker take turns
        with access.session() as store:
            key = create_key(store, "operator")[1]
        env = {
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "FORGELENS_REDIS_PREFIX": prefix,
            "FORGELENS_DATABASE_URL": settings.database_url,
            "FORGELENS_CACHE_DIR": str(tmp_path / "cache"),
            "FORGELENS_SCHEDULE": "false",
            "FORGELENS_FORGE_HOSTS": hosts(sim),
            "FORGELENS_FORGE_PRIVATE_HOSTS": "127.0.0.1",  # the simulator is on loopback
            "FORGELENS_RUN_FLUSH_SECONDS": "0.1",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "forgelens", "worker", "--jobs", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        app = create_app(settings, access=access)
        try:
            with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
                status = trigger_and_wait(client, sim, {"X-API-Key": key})
                assert status["status"] == "completed", status
                with access.session() as store:
                    check_collected(store, sim.dataset, sim.requests)
                assert status["run"]["api_calls"] == sim.requests
                pr_update_lands_at_once(client, sim, lambda: _Reader(access))
        finally:
            worker.terminate()
            worker.wait(20)
            if worker.stderr is not None:
                worker.stderr.close()


class _Reader:
    """Queries through a short store session (the worker shares the DuckDB file)."""

    def __init__(self, access: StoreAccess) -> None:
        self.access = access

    def query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self.access.session() as store:
            return store.query(sql, params)
