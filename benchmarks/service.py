"""The collector service under load, on loopback (issue #7).

    nice -n 10 .venv/bin/python benchmarks/service.py              # the figures of the README
    nice -n 10 .venv/bin/python benchmarks/service.py --quick      # while developing

In one run:

(a) in-process mode (``forgelens serve`` without Redis, one DuckDB file): throughput and
    p50/p99 latency of ``POST /api/v1/collect/trigger`` and ``GET /api/v1/collect/status``, and
    signed GitHub webhook deliveries per second (HMAC-SHA256 checked, deduped, recorded);
(b) Redis mode: the API plus 2 ``forgelens worker`` processes; 1,000 triggers over 200
    repositories sent as fast as the API takes them; then every job must be done exactly once,
    none lost (every repository completed, with its row in the store), duplicates merged;
(c) peak RSS of the API process and of one worker during (a) and (b), against the seed's
    development budget of 512 MB (ratio in the same run).

In (a) the forge is a stand-in collector registered as "github" (it writes the repository row
and 20 pull requests per job, after a 20 ms pause for the API calls a real sync would make).
In (b) the workers run the real GitHub collector against the forge simulator (its own process,
HTTPS with a self-signed certificate the workers trust through ``SSL_CERT_FILE``, its host
explicitly allowed in ``FORGELENS_FORGE_HOSTS``): 200 repositories of 2 pull requests each;
the workers share the token's rate-limit view on Redis. The load generator runs on the same
machine (2 shared cores), so latencies include its own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(1, str(ROOT))
from tests.sources.forgehelp import self_signed_cert  # noqa: E402 - after the path set-up

BUDGET_MB = 512.0
WEBHOOK_SECRET = "bench-webhook-secret"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


# -- the child processes ------------------------------------------------------------------------
def stand_in_collector(store: Any, specs: list[Any], opts: Any, progress: Any) -> Any:
    """Writes what a small sync would: the repository and 20 pull requests, in one run."""
    from forgelens.engine.collect import CollectResult
    from forgelens.engine.runs import run_settings, start_run
    from forgelens.records import PullRequest, Repository, repository_id

    time.sleep(0.02)
    now = datetime.now(UTC)
    with start_run(store, "github", run_settings(repositories=[str(s) for s in specs])) as run:
        for spec in specs:
            rid = repository_id("github", spec.target)
            owner, _, name = spec.target.partition("/")
            rows: list[Any] = [Repository(rid, "github", spec.target, name, owner, updated_at=now)]
            rows += [
                PullRequest(rid, n, f"change {n}", "open", now, now, author="ann")
                for n in range(1, 21)
            ]
            store.write_records(rows, source="github")
            run.add(repos_processed=1, prs_collected=20, api_calls=3)
    return CollectResult("github", run.run_id, [s.target for s in specs], prs=20, api_calls=3)


SIM_SIZE = {"repos": 200, "prs_per_repo": 2, "issues_per_repo": 0, "runs_per_repo": 0}


def sim_dataset() -> Any:
    from forgelens.testing.forge_sim.dataset import SimSize, generate

    return generate(7, SimSize(**SIM_SIZE, people=10, teams=0))


def serve_sim(port: int) -> None:
    """The forge simulator on HTTPS until terminated (role "sim")."""
    from forgelens.testing.forge_sim.app import ForgeSim
    from forgelens.testing.forge_sim.faults import Budgets
    from forgelens.testing.forge_sim.server import serve

    tls = (os.environ["BENCH_SIM_CERT"], os.environ["BENCH_SIM_KEY"])
    with serve(ForgeSim(sim_dataset(), budgets=Budgets(limit=0)), port=port, tls=tls):
        while True:
            time.sleep(3600)


def child(role: str, db: str, port: int, redis_url: str | None, prefix: str) -> None:
    from forgelens.engine import collect as collect_module
    from forgelens.logs import configure
    from forgelens.service.settings import ServiceSettings

    if role == "sim":
        serve_sim(port)
        return
    if not os.environ.get("FORGELENS_FORGE_HOSTS"):  # (b) collects from the simulator
        real = collect_module.collect_forge

        def collect_forge(kind: str, *args: Any) -> Any:
            return stand_in_collector(*args) if kind == "github" else real(kind, *args)

        collect_module.collect_forge = collect_forge
    configure("WARNING", json=True)
    settings = ServiceSettings(
        _env_file=None,  # type: ignore[call-arg]
        FORGELENS_DATABASE_URL=db,
        REDIS_URL=redis_url,
        FORGELENS_REDIS_PREFIX=prefix,
        FORGELENS_SCHEDULE=False,
        FORGELENS_RATE_LIMIT_PER_MINUTE=0,
        FORGELENS_GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET,
        FORGELENS_LOG_LEVEL="WARNING",
        FORGELENS_FORGE_HOSTS=os.environ.get("FORGELENS_FORGE_HOSTS", ""),
    )
    if role == "api":
        import uvicorn

        from forgelens.service.app import create_app

        app = create_app(settings, resolver=lambda host: ["140.82.112.3"])
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    else:
        from forgelens.engine.queue_redis import build_worker
        from forgelens.engine.store_access import StoreAccess

        access = StoreAccess(db, shared=True)
        build_worker(settings.queue_config(), access, max_jobs=2).run()


# -- the parent ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RssSampler:
    """Peak RSS of some processes, sampled every 50 ms in a thread."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        self.procs = {name: psutil.Process(p.pid) for name, p in procs.items()}
        self.peak = dict.fromkeys(procs, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                with contextlib.suppress(psutil.Error):
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss / 2**20)
            time.sleep(0.05)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {k: round(v, 1) for k, v in self.peak.items()}


@contextlib.contextmanager
def spawn(
    role: str,
    db: str,
    port: int,
    redis_url: str | None,
    prefix: str,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        role,
        "--db",
        db,
        "--port",
        str(port),
        "--prefix",
        prefix,
    ]
    if redis_url:
        cmd += ["--redis", redis_url]
    name = f".{role}-{uuid.uuid4().hex[:6]}.log"
    with open(Path(db.removeprefix("duckdb:///")).with_suffix(name), "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, **(env or {})})
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the service did not start")


def wait_sim(url: str, cert: str) -> None:
    import ssl

    deadline = time.monotonic() + 60
    verify = ssl.create_default_context(cafile=cert)
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/rate_limit", timeout=1, verify=verify).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError("the forge simulator did not start")


def wait_drained(url: str, key: str) -> None:
    """Until the in-process queue is empty (jobs queued by one phase don't load the next)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = httpx.get(f"{url}/metrics", headers={"X-API-Key": key}, timeout=30).text
        if "git_collector_queue_depth 0.0" in text:
            time.sleep(1.0)
            return
        time.sleep(0.5)


def make_keys(db: str) -> dict[str, str]:
    from forgelens.service.keys import create_key
    from forgelens.store import open_store

    store = open_store(db)
    try:
        return {role: create_key(store, role, "bench")[1] for role in ("viewer", "operator")}
    finally:
        store.close()


async def load(
    url: str, requests: list[tuple[str, str, dict[str, Any]]], concurrency: int
) -> dict[str, Any]:
    """Send ``requests`` (method, path, kwargs) with ``concurrency`` in flight."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[Any] = []
    pending = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            for method, path, kwargs in pending:
                t0 = time.perf_counter()
                answer = await client.request(method, path, **kwargs)
                latencies.append(time.perf_counter() - t0)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.headers.get("content-type", "").startswith("application/json"):
                    bodies.append(answer.json())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "statuses": statuses,
        "bodies": bodies,
    }


def strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "bodies"}


def phase_in_process(work: Path, n: int, concurrency: int) -> dict[str, Any]:
    from forgelens.sources.webhook import hub_signature

    db = f"duckdb:///{work / 'inproc.duckdb'}"
    keys = make_keys(db)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with spawn("api", db, port, None, "") as api:
        wait_healthy(url)
        sampler = RssSampler({"api": api})
        op = {"X-API-Key": keys["operator"]}
        view = {"X-API-Key": keys["viewer"]}
        repos = [f"bench/repo-{i}" for i in range(200)]
        triggers = [
            (
                "POST",
                "/api/v1/collect/trigger",
                {
                    "json": {"repository_url": f"https://github.com/{random.choice(repos)}"},
                    "headers": op,
                },
            )
            for _ in range(n)
        ]
        trig = asyncio.run(load(url, triggers, concurrency))
        wait_drained(url, keys["viewer"])
        statuses = [
            ("GET", f"/api/v1/collect/status/github%3A{r.replace('/', '%2F')}", {"headers": view})
            for r in random.choices(repos, k=2 * n)
        ]
        stat = asyncio.run(load(url, statuses, concurrency))
        wait_drained(url, keys["viewer"])
        hooks = []
        for _ in range(n):
            repo = random.choice(repos)
            body = json.dumps(
                {"ref": "refs/heads/main", "repository": {"full_name": repo, "id": 1}}
            ).encode()
            hooks.append(
                (
                    "POST",
                    "/api/v1/webhooks/github",
                    {
                        "content": body,
                        "headers": {
                            "X-GitHub-Event": "push",
                            "X-GitHub-Delivery": str(uuid.uuid4()),
                            "X-Hub-Signature-256": hub_signature(WEBHOOK_SECRET, body),
                            "Content-Type": "application/json",
                        },
                    },
                )
            )
        hook = asyncio.run(load(url, hooks, concurrency))
        peak = sampler.stop()
    return {
        "trigger": strip(trig),
        "status": strip(stat),
        "webhook": strip(hook),
        "peak_rss_mb": peak,
    }


def phase_workers(work: Path, triggers: int, repos_n: int, concurrency: int) -> dict[str, Any]:
    import redis

    db = f"duckdb:///{work / 'redis.duckdb'}"
    keys = make_keys(db)
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client = redis.Redis.from_url(REDIS_URL)
    cert, key = self_signed_cert(work)
    sim_port = free_port()
    sim_url = f"https://127.0.0.1:{sim_port}"
    env = {
        "BENCH_SIM_CERT": cert,
        "BENCH_SIM_KEY": key,
        "SSL_CERT_FILE": cert,
        "FORGELENS_FORGE_HOSTS": "127.0.0.1=github",
        "REDIS_URL": REDIS_URL,  # the workers share the token's rate-limit view
        "FORGELENS_REDIS_PREFIX": prefix,
    }
    try:
        with (
            spawn("sim", db, sim_port, None, prefix, env),
            spawn("api", db, port, REDIS_URL, prefix, env) as api,
            spawn("worker", db, 0, REDIS_URL, prefix, env) as w1,
            spawn("worker", db, 0, REDIS_URL, prefix, env) as w2,
        ):
            wait_healthy(url)
            wait_sim(sim_url, cert)
            sampler = RssSampler({"api": api, "worker": w1, "worker2": w2})
            repos = [r.full_name for r in sim_dataset().repos[:repos_n]]
            order = [repos[i % repos_n] for i in range(triggers)]
            random.shuffle(order)
            op = {"X-API-Key": keys["operator"]}
            started = time.perf_counter()
            sent = asyncio.run(
                load(
                    url,
                    [
                        (
                            "POST",
                            "/api/v1/collect/trigger",
                            {"json": {"repository_url": f"{sim_url}/{r}"}, "headers": op},
                        )
                        for r in order
                    ],
                    concurrency,
                )
            )
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                active = [
                    r
                    for r in repos
                    if client.hget(f"{prefix}git:status:github:{r}", "status")
                    in (b"queued", b"running")
                ]
                if not active:
                    break
                time.sleep(0.2)
            drained = time.perf_counter() - started
            peak = sampler.stop()
            final = {r: client.hget(f"{prefix}git:status:github:{r}", "status") for r in repos}
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()
    from forgelens.store import open_store

    store = open_store(db)
    jobs = store.query_dicts("SELECT job_id, repository_id, status, tries FROM service_jobs")
    repo_rows = store.query("SELECT count(*) FROM repositories")[0][0]
    runs = store.query(
        "SELECT count(*), sum(api_calls) FROM git_collection_runs WHERE status = 'completed'"
    )[0]
    prs = store.query(
        "SELECT count(*), count(DISTINCT (repository_id, number)) FROM pull_requests"
    )[0]
    store.close()
    created = {b["job_id"] for b in sent["bodies"] if "job_id" in b and not b["deduplicated"]}
    merged = sum(1 for b in sent["bodies"] if b.get("deduplicated"))
    done_ids = [j["job_id"] for j in jobs if j["status"] == "completed"]
    return {
        "triggers": strip(sent),
        "repositories": repos_n,
        "jobs_created": len(created),
        "triggers_merged_into_a_queued_or_running_job": merged,
        "jobs_completed": len(done_ids),
        "every_created_job_done_once": sorted(done_ids) == sorted(created),
        "jobs_lost": len(created - set(done_ids)),
        "jobs_retried": sum(1 for j in jobs if (j["tries"] or 0) > 1),
        "repositories_completed": sum(1 for s in final.values() if s == b"completed"),
        "repository_rows": repo_rows,
        "pull_request_rows_and_distinct": list(prs),
        "forge": f"simulator: {SIM_SIZE}",
        "completed_runs_and_api_calls": [runs[0], int(runs[1] or 0)],
        "seconds_until_drained": round(drained, 2),
        "jobs_per_second": round(len(done_ids) / drained, 1),
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--db")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--redis")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.port, args.redis, args.prefix)
        return
    random.seed(7)
    work = ROOT / "benchmarks" / "work" / "service"
    if work.exists():
        for f in work.iterdir():
            f.unlink()
    work.mkdir(parents=True, exist_ok=True)
    n = 200 if args.quick else 1000
    load_before = [round(x, 1) for x in os.getloadavg()]
    inproc = phase_in_process(work, n, args.concurrency)
    workers = phase_workers(work, 1000, 200, args.concurrency)
    peaks = {
        "api_in_process": inproc["peak_rss_mb"]["api"],
        "api_redis_mode": workers["peak_rss_mb"]["api"],
        "worker": max(workers["peak_rss_mb"]["worker"], workers["peak_rss_mb"]["worker2"]),
    }
    result = {
        "benchmark": "service",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": load_before,
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "note": "2 cores shared with other work; latencies include the load generator",
        },
        "command": "nice -n 10 .venv/bin/python benchmarks/service.py"
        + (" --quick" if args.quick else ""),
        "concurrency": args.concurrency,
        "in_process": inproc,
        "two_workers": workers,
        "peak_rss_mb": peaks,
        "rss_vs_512mb_budget": {k: round(v / BUDGET_MB, 3) for k, v in peaks.items()},
    }
    out = ROOT / "benchmarks" / "results" / "service.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    t, s, h = inproc["trigger"], inproc["status"], inproc["webhook"]
    print(
        f"trigger : {t['per_second']:>7} req/s  p50 {t['p50_ms']} ms  p99 {t['p99_ms']} ms  "
        f"{t['statuses']}"
    )
    print(f"status  : {s['per_second']:>7} req/s  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms")
    print(f"webhook : {h['per_second']:>7} deliveries/s (signed)  p99 {h['p99_ms']} ms")
    print(
        f"2 workers: {workers['jobs_created']} jobs from 1000 triggers / 200 repos, "
        f"{workers['jobs_completed']} completed, lost {workers['jobs_lost']}, once: "
        f"{workers['every_created_job_done_once']}, merged "
        f"{workers['triggers_merged_into_a_queued_or_running_job']}, "
        f"{workers['jobs_per_second']} jobs/s; runs/API calls against the simulator "
        f"{workers['completed_runs_and_api_calls']}"
    )
    print(f"peak RSS MB: {peaks}  (ratio to 512 MB: {result['rss_vs_512mb_budget']})")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
