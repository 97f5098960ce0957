"""Service fixtures: an app on a fresh DuckDB store, keys of every role, a
test-only GitHub collector, and Redis isolation (a unique key prefix per test)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from forgelens.engine.collect import CollectOptions, CollectResult
from forgelens.engine.progress import Progress
from forgelens.engine.runs import run_settings, start_run
from forgelens.engine.store_access import StoreAccess
from forgelens.records import Repository, repository_id
from forgelens.service.app import create_app
from forgelens.service.keys import create_key
from forgelens.service.settings import ServiceSettings
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store
from tests.engine.collecthelp import swap_collector
from tests.service._server import serving

SECRETS = {"github": "gh-hook-secret", "gitlab": "gl-hook-token", "bitbucket": "bb-hook-secret"}


def fake_forge(
    store: Store, specs: list[SourceSpec], opts: CollectOptions, progress: Progress
) -> CollectResult:
    """Test-only forge collector: writes the Repository row of each spec inside a real run."""
    kind = specs[0].kind
    with start_run(store, kind, run_settings(repositories=[str(s) for s in specs])) as run:
        for n, spec in enumerate(specs):
            owner, _, name = spec.target.partition("/")
            store.write_records(
                [
                    Repository(
                        id=repository_id(kind, spec.target),
                        source=kind,
                        full_name=spec.target,
                        name=name,
                        owner=owner,
                        forge_id=str(1000 + n),
                        updated_at=datetime.now(UTC),
                    )
                ],
                source=kind,
            )
            run.add(repos_processed=1, api_calls=1)
    return CollectResult(kind, run.run_id, [s.target for s in specs], api_calls=len(specs))


@pytest.fixture
def github_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    swap_collector(monkeypatch, "github", fake_forge)


def within_one_minute(seconds: float = 10.0) -> None:
    """Wait for the next clock minute when fewer than ``seconds`` are left in this one: the
    request limits count in fixed one-minute windows, and a test that sends more requests than
    a window allows must send them inside one window (else its count starts again)."""
    left = 60.0 - time.time() % 60.0
    if left < seconds:
        time.sleep(left + 0.05)


def service_settings(tmp_path: Path, **overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "FORGELENS_DATABASE_URL": f"duckdb:///{tmp_path / 'svc.duckdb'}",
        "FORGELENS_CACHE_DIR": str(tmp_path / "cache"),
        "FORGELENS_SCHEDULE": False,
        "FORGELENS_GITHUB_WEBHOOK_SECRET": SECRETS["github"],
        "FORGELENS_GITLAB_WEBHOOK_TOKEN": SECRETS["gitlab"],
        "FORGELENS_BITBUCKET_WEBHOOK_SECRET": SECRETS["bitbucket"],
        "FORGELENS_WEBHOOK_MAX_BYTES": 64 * 1024,
        "FORGELENS_RUN_FLUSH_SECONDS": 0.1,
        **overrides,
    }
    return ServiceSettings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Service:
    client: httpx.Client
    access: StoreAccess
    keys: dict[str, str]  # role -> key

    def headers(self, role: str | None) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]} if role else {}

    def store(self) -> Store:
        return self.access.get()

    def wait_idle(self, repository_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll the status endpoint until the repository's job has finished."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.client.get(
                f"/api/v1/collect/status/{quote(repository_id, safe='')}",
                headers=self.headers("viewer"),
            ).json()
            if answer["status"] not in ("queued", "running") or time.monotonic() > deadline:
                return dict(answer)
            time.sleep(0.05)


@contextlib.contextmanager
def running_service(path: Path, **overrides: Any) -> Iterator[Service]:
    """The service on a real socket, a fresh store, one key per role, the test collector."""
    settings = service_settings(path, **overrides)
    access = StoreAccess(settings.database_url)
    store = access.get()
    roles = ("viewer", "operator", "admin")
    keys = {role: create_key(store, role, f"test {role}")[1] for role in roles}
    app = create_app(settings, access=access)
    with (
        pytest.MonkeyPatch.context() as mp,
        serving(app) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        swap_collector(mp, "github", fake_forge)
        yield Service(client, access, keys)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running_service(tmp_path) as svc:
        yield svc


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for a whole module (tests that do not depend on a fresh store)."""
    with running_service(tmp_path_factory.mktemp("svc")) as svc:
        yield svc
