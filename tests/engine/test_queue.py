"""The job queue: in-process and on real Redis (arq), status keys, dedupe, schedule, shared
rate-limit view, and a worker killed mid-job (``kill -9``) whose job is retried."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from forgelens.engine import queue as q
from forgelens.engine.collect import CollectResult
from forgelens.engine.queue import JobRequest, QueueConfig, next_tick
from forgelens.engine.queue_local import InProcessQueue
from forgelens.engine.queue_redis import RedisQueue, arq_job_id, drain, queue_name
from forgelens.engine.store_access import StoreAccess
from forgelens.sources.ratelimit_view import (
    MemoryRateLimitView,
    RateLimitView,
    RedisRateLimitView,
    token_fingerprint,
)
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store
from tests.conftest import git
from tests.engine.collecthelp import swap_collector
from tests.redis_fixtures import REDIS_URL, isolated_prefix


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with isolated_prefix() as prefix:
        yield prefix


def repo_with_commits(make_repo: Callable[[str], Path], name: str, n: int = 3) -> Path:
    path = make_repo(name)
    for i in range(n):
        (path / f"f{i}.txt").write_text(f"line {i}\n" * (i + 1))
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", f"commit {i}")
    return path


def config(tmp_path: Path, prefix: str = "", **kw: Any) -> QueueConfig:
    return QueueConfig(
        redis_url=REDIS_URL if prefix else None,
        prefix=prefix,
        schedule=False,
        cache_dir=tmp_path / "cache",
        flush_seconds=0.1,
        **kw,
    )


def test_next_tick_is_aligned_on_the_hour() -> None:
    at = datetime(2026, 1, 1, 10, 7, 30, tzinfo=UTC)
    assert next_tick(at, 30) == datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert next_tick(at, 60) == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    assert next_tick(datetime(2026, 1, 1, 23, 50, tzinfo=UTC), 30) == datetime(
        2026, 1, 2, 0, 0, tzinfo=UTC
    )


def test_in_process_queue_runs_git_jobs_once(tmp_path: Path, make_repo: Any) -> None:
    path = repo_with_commits(make_repo, "alpha")
    access = StoreAccess(f"duckdb:///{tmp_path / 'q.duckdb'}")

    async def go() -> tuple[Any, Any, dict[str, Any] | None]:
        queue = InProcessQueue(config(tmp_path), access)
        await queue.start()
        first = await queue.enqueue(JobRequest.for_spec(f"git:{path}"))
        second = await queue.enqueue(JobRequest.for_spec(f"git:{path}"))
        await queue.join()
        row = await queue.board.get(f"git:{path}")
        await queue.close()
        return first, second, row

    first, second, row = asyncio.run(go())
    assert first.created
    assert not second.created
    assert second.job_id == first.job_id
    assert row is not None
    assert row["status"] == "completed"
    assert row["commits"] == 3
    assert access.get().query("SELECT count(*) FROM commits")[0][0] == 3
    assert access.get().query("SELECT status, tries FROM service_jobs") == [("completed", 1)]
    access.close()


def test_redis_queue_dedupes_and_writes_the_seed_keys(
    tmp_path: Path, make_repo: Any, redis_prefix: str
) -> None:
    path = repo_with_commits(make_repo, "beta")
    spec = f"git:{path}"
    cfg = config(tmp_path, redis_prefix)
    access = StoreAccess(f"duckdb:///{tmp_path / 'r.duckdb'}", shared=True)

    async def go() -> dict[str, Any]:
        queue = RedisQueue(cfg, access)
        await queue.start()
        first = await queue.enqueue(JobRequest.for_spec(spec, full_sync=True))
        again = [await queue.enqueue(JobRequest.for_spec(spec)) for _ in range(5)]
        depth = await queue.depth()
        queued = await queue.board.get(spec)
        await drain(cfg, access)
        done = await queue.board.get(spec)
        last = await queue.board.last_sync(spec)
        after = await queue.enqueue(JobRequest.for_spec(spec))
        counts = await queue.board.counts()
        await queue.close()
        return {
            "first": first,
            "again": again,
            "depth": depth,
            "queued": queued,
            "done": done,
            "last": last,
            "after": after,
            "counts": counts,
        }

    out = asyncio.run(go())
    assert out["first"].created
    assert out["depth"] == 1
    assert all(not a.created and a.job_id == out["first"].job_id for a in out["again"])
    assert out["queued"]["status"] == "queued"
    assert out["queued"]["full_sync"] is True
    assert out["done"]["status"] == "completed"
    assert out["done"]["tries"] == "1"
    assert out["last"] == out["done"]["finished_at"]
    assert out["after"].created
    assert out["after"].job_id != out["first"].job_id
    assert out["counts"] == {"completed": 1}
    client = redis.Redis.from_url(REDIS_URL)
    assert client.hget(f"{redis_prefix}git:status:{spec}", "status") == b"queued"
    assert client.get(f"{redis_prefix}git:last_sync:{spec}") is not None
    assert client.exists("arq:job:" + arq_job_id(cfg, spec)) == 1
    assert client.zcard(queue_name(cfg)) == 1
    with access.session() as store:
        assert store.query("SELECT count(*) FROM commits")[0][0] == 3


def test_a_failed_job_is_marked_failed_on_redis(tmp_path: Path, redis_prefix: str) -> None:
    cfg = config(tmp_path, redis_prefix, max_tries=1)
    access = StoreAccess(f"duckdb:///{tmp_path / 'f.duckdb'}", shared=True)
    spec = f"git:{tmp_path / 'not-a-repo'}"

    async def go() -> dict[str, Any] | None:
        queue = RedisQueue(cfg, access)
        await queue.start()
        await queue.enqueue(JobRequest.for_spec(spec))
        await drain(cfg, access)
        row = await queue.board.get(spec)
        await queue.close()
        return row

    row = asyncio.run(go())
    assert row is not None
    assert row["status"] == "failed"
    assert "not-a-repo" in row["error"]
    with access.session() as store:
        assert store.query("SELECT status FROM service_jobs") == [("failed",)]


def test_the_schedule_queues_tracked_repositories_and_calls_backfill(
    tmp_path: Path, make_repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = repo_with_commits(make_repo, "gamma", 1)
    access = StoreAccess(f"duckdb:///{tmp_path / 's.duckdb'}")
    store = access.get()
    store.upsert(
        "repositories", [{"id": "github:o/r", "source": "github", "full_name": "o/r", "name": "r"}]
    )
    called: list[Store] = []
    monkeypatch.setattr(q, "BACKFILL_HOOKS", {})
    # the scheduled github sync runs the github collector; it must not reach api.github.com
    import forgelens.engine.sync  # noqa: F401  (registers the forge collectors)

    synced_specs: list[str] = []

    def github(store: Store, specs: list[SourceSpec], opts: Any, progress: Any) -> CollectResult:
        synced_specs.extend(f"{s.kind}:{s.target}" for s in specs)
        return CollectResult(kind="github", run_id="r", repositories=[s.target for s in specs])

    swap_collector(monkeypatch, "github", github)

    async def go() -> tuple[list[str], list[str], list[str]]:
        queue = InProcessQueue(config(tmp_path), access)
        await queue.start()
        await queue.enqueue(JobRequest.for_spec(f"git:{path}"))
        await queue.join()
        none = await q.schedule_backfill(access)
        q.register_backfill("test", called.append)
        ran = await q.schedule_backfill(access)
        infos = await q.schedule_sync(queue, access)
        await queue.join()
        await queue.close()
        return none, ran, sorted(i.repository_id for i in infos)

    none, ran, synced = asyncio.run(go())
    assert none == []
    assert ran == ["test"]
    assert called == [store]
    assert synced == sorted(["github:o/r", f"git:{path}"])
    assert synced_specs == ["github:o/r"]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_the_rate_limit_view_is_shared(backend: str, redis_prefix: str) -> None:
    views: list[RateLimitView]
    if backend == "redis":
        views = [
            RedisRateLimitView(redis.Redis.from_url(REDIS_URL), redis_prefix) for _ in range(2)
        ]
    else:
        one = MemoryRateLimitView()
        views = [one, one]
    a, b = views
    reset = time.time() + 600
    scope = f"token:{token_fingerprint('ghp_secret')}"
    assert a.take("github", scope) == 0.0  # nothing known yet: go
    a.update("github", scope, remaining=3, limit=5000, reset_at=reset)
    b.update("github", scope, remaining=10, limit=5000, reset_at=reset)  # older answer: ignored
    state = b.get("github", scope)
    assert state is not None
    assert state.remaining == 3
    assert [a.take("github", scope), b.take("github", scope), a.take("github", scope)] == [0, 0, 0]
    wait = b.take("github", scope)
    assert 590 < wait <= 600  # spent together: wait for the reset
    b.update("github", scope, remaining=5000, limit=5000, reset_at=reset + 3600)  # new window
    assert a.take("github", scope) == 0.0
    assert [s.scope for s in a.all()] == [scope]
    if backend == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        key = f"{redis_prefix}git:ratelimit:github:{scope}"
        assert client.hget(key, "remaining") == b"4999"
        assert client.ttl(key) > 3600


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_retried_and_data_converges(
    tmp_path: Path, make_repo: Any, redis_prefix: str
) -> None:
    path = repo_with_commits(make_repo, "delta", 5)
    spec = "github:o/r"  # the helper's collector mines the local repository for it
    hang, started = tmp_path / "hang", tmp_path / "started"
    hang.touch()
    db = f"duckdb:///{tmp_path / 'k.duckdb'}"
    env = {
        **os.environ,
        "FL_REPO": str(path),
        "REDIS_URL": REDIS_URL,
        "FORGELENS_REDIS_PREFIX": redis_prefix,
        "FORGELENS_DATABASE_URL": db,
        "FORGELENS_CACHE_DIR": str(tmp_path / "cache"),
        "FORGELENS_SCHEDULE": "false",
        "FORGELENS_JOB_TIMEOUT_SECONDS": "20",
        "FORGELENS_JOB_LEASE_EXTRA_SECONDS": "-17",  # a 3 s lease: a dead worker's job returns soon
        "PYTHONPATH": os.pathsep.join(  # the tests, and the tree under test when named
            [str(Path(__file__).parent.parent.parent), os.environ.get("PYTHONPATH", "")]
        ),
        "FL_HANG": str(hang),
        "FL_STARTED": str(started),
    }
    cfg = config(tmp_path, redis_prefix)
    access = StoreAccess(db, shared=True)

    async def enqueue() -> None:
        queue = RedisQueue(cfg, access)
        await queue.start()
        await queue.enqueue(JobRequest.for_spec(spec))
        await queue.close()

    asyncio.run(enqueue())  # the queue layer directly: triggers never accept local repositories
    cmd = [sys.executable, str(Path(__file__).parent / "_hanging_worker.py")]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline, "the first worker never started the job"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    if first.stderr is not None:
        first.stderr.close()
    hang.unlink()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    assert second.returncode == 0, second.stderr[-2000:]
    client = redis.Redis.from_url(REDIS_URL)
    status = {
        k.decode(): v.decode()
        for k, v in client.hgetall(f"{redis_prefix}git:status:{spec}").items()
    }
    assert (status["status"], status["tries"]) == ("completed", "2")
    with access.session() as store:
        assert store.query("SELECT count(*), count(DISTINCT sha) FROM commits") == [(5, 5)]
        runs = store.query("SELECT status FROM git_collection_runs ORDER BY started_at")
        assert runs == [("failed",), ("completed",)]  # the killed run, cleaned up; the retry
        assert store.query("SELECT status, tries FROM service_jobs") == [("completed", 2)]


def test_worker_cron_fields_for_every_n_minutes() -> None:
    from forgelens.engine.queue_redis import _minutes

    assert _minutes(30) == {"minute": {0, 30}}
    assert _minutes(45) == {"minute": {0}}  # rounded up to a divisor of the hour
    assert _minutes(120) == {"hour": set(range(0, 24, 2)), "minute": {0}}


def test_a_job_carries_its_spec_whole_through_the_queue_payload() -> None:
    """What a trigger parsed (kind, target, a self-hosted server's API root) is what the worker
    collects: the payload a Redis worker reads back rebuilds the same spec, and one queued
    before specs travelled whole (text plus a separate api_url) still reads."""
    spec = SourceSpec("gitlab", "group/app", "https://git.corp.example/api/v4")
    req = JobRequest.for_spec(spec, reason="trigger").stamped()
    payload = json.loads(json.dumps(asdict(req)))
    back = JobRequest.from_payload(payload)
    assert back == req
    assert (back.spec.api_url, back.repository_id) == (spec.api_url, "gitlab:group/app")
    old = {
        "spec": "gitlab:group/app",
        "repository_id": "gitlab:group/app",
        "full_sync": False,
        "reason": "webhook",
        "api_url": "https://git.corp.example/api/v4",
        "job_id": "j",
        "enqueued_at": "",
    }
    assert JobRequest.from_payload(old).spec == spec


def test_a_scheduled_resync_of_a_self_hosted_repository_asks_its_server(tmp_path: Path) -> None:
    """A job's spec is stored whole in service_jobs: the schedule's re-sync of a repository
    first queued on a self-hosted server asks that server's API root, not the public API."""
    access = StoreAccess(f"duckdb:///{tmp_path / 'j.duckdb'}")
    store = access.get()
    store.upsert(  # collected before: the repositories row names no API root
        "repositories",
        [{"id": "gitlab:group/app", "source": "gitlab", "full_name": "group/app", "name": "app"}],
    )
    corp = SourceSpec("gitlab", "group/app", "https://git.corp.example/api/v4")
    q._record_job(store, JobRequest.for_spec(corp, reason="trigger").stamped(), "completed", 1, "r")
    q._record_job(store, JobRequest.for_spec("github:o/r").stamped(), "completed", 1, "r")
    asked: list[JobRequest] = []

    class Recording:
        async def enqueue(self, req: JobRequest) -> q.JobInfo:
            asked.append(req)
            return q.JobInfo("j", req.repository_id, "queued", True)

    asyncio.run(q.schedule_sync(Recording(), access))  # type: ignore[arg-type]
    assert sorted((str(r.spec), r.spec.api_url, r.reason) for r in asked) == [
        ("github:o/r", None, "schedule"),
        ("gitlab:group/app", "https://git.corp.example/api/v4", "schedule"),
    ]
