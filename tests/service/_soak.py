"""The soak harness: two ``forgelens serve`` processes and two ``forgelens worker`` processes on
one PostgreSQL store and one Redis, each reached through a ``FaultProxy``; mixed triggers,
signed webhook deliveries (some sent to both replicas) and status reads for ``seconds``, while
Redis is cut once for 10 s, workers are ``kill -9``ed twice and PostgreSQL refuses connections
for 10 s. The forge is the simulator on a loopback TLS socket. ``run_soak`` returns what every
request got and what the store holds at the end; the test asserts on it, benchmarks/soak.py
prints it."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psutil

import forgelens
from forgelens.service.keys import create_key
from forgelens.sources.webhook import hub_signature
from forgelens.store import open_store
from forgelens.testing.fault_proxy import FaultProxy
from forgelens.testing.forge_sim.app import ForgeSim
from forgelens.testing.forge_sim.dataset import Dataset, SimSize, generate
from forgelens.testing.forge_sim.faults import Faults
from forgelens.testing.forge_sim.server import serve
from tests.sources.forgehelp import self_signed_cert

SECRET = "soak-hook-secret"
SIZE = SimSize(repos=4, prs_per_repo=12, issues_per_repo=3, runs_per_repo=2, people=6, teams=0)
JOB_TIMEOUT = 30  # a killed worker's job runs again once its lease (this + 10 s) lapses
TERMINAL = ("completed", "failed")


@dataclass
class SoakReport:
    seconds: float
    triggers: list[tuple[int, float, dict[str, Any]]] = field(default_factory=list)
    webhooks: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    status_reads: list[int] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # service_jobs by job id
    final_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # by repository
    stored: dict[str, dict[str, int]] = field(default_factory=dict)  # rows per table and repo
    expected: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicate_rows: dict[str, int] = field(default_factory=dict)
    settled_seconds: float = 0.0
    crashed: list[str] = field(default_factory=list)  # processes that died on their own

    def accepted_jobs(self) -> set[str]:
        ids = {b["job_id"] for code, _, b in self.triggers if code == 202 and b.get("job_id")}
        ids |= {b["job_id"] for _, code, b in self.webhooks if code == 202 and b.get("job_id")}
        return ids

    def trigger_p99(self) -> float:
        times = sorted(seconds for _, seconds, _ in self.triggers)
        return times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0

    def summary(self) -> dict[str, Any]:
        codes: dict[str, int] = {}
        for code, _, _ in self.triggers:
            codes[str(code)] = codes.get(str(code), 0) + 1
        outcomes: dict[str, int] = {}
        for row in self.jobs.values():
            outcomes[row["status"]] = outcomes.get(row["status"], 0) + 1
        accepted = self.accepted_jobs()
        return {
            "seconds_of_load": self.seconds,
            "triggers": len(self.triggers),
            "trigger_answers": codes,
            "trigger_p50_s": round(
                sorted(s for _, s, _ in self.triggers)[len(self.triggers) // 2], 4
            )
            if self.triggers
            else None,
            "trigger_p99_s": round(self.trigger_p99(), 4),
            "webhook_deliveries": len({d for d, _, _ in self.webhooks}),
            "webhook_answers": len(self.webhooks),
            "status_reads": len(self.status_reads),
            "faults": [f"{t:.1f}s {what}" for t, what in self.faults],
            "accepted_jobs": len(accepted),
            "lost_jobs": len(accepted - self.jobs.keys()),
            "job_outcomes": outcomes,
            "duplicate_rows": sum(self.duplicate_rows.values()),
            "jobs_run_again_after_a_kill": sum(1 for r in self.jobs.values() if r["tries"] > 1),
            "settled_after_load_s": round(self.settled_seconds, 1),
            "crashed_processes": self.crashed,
        }


def _body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {"text": answer.text[:500]}
    return body if isinstance(body, dict) else {"body": body}


@dataclass
class _Forge:
    url: str
    cert: str
    dataset: Dataset


def _proxied(url: str, port: int) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")
    netloc = f"{host[0]}{host[1]}127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Fleet:
    """The four processes; ``kill(i)`` is a ``kill -9`` of worker i, started again at once."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.apis: list[tuple[subprocess.Popen[bytes], str]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()  # pids we killed

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "forgelens", *args],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def start(self) -> None:
        for n in range(2):
            with socket_port() as port:
                pass
            proc = self._spawn(f"api{n}", "serve", "--port", str(port))
            self.apis.append((proc, f"http://127.0.0.1:{port}"))
        self.workers = [self._spawn(f"worker{n}", "worker", "--jobs", "2") for n in range(2)]
        deadline = time.monotonic() + 90
        for proc, url in self.apis:
            while True:
                try:
                    httpx.get(url + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(self.tail("api0") + self.tail("api1")) from None
                    time.sleep(0.2)

    def kill(self, forge_port: int) -> str:
        """``kill -9`` the first worker seen mid-job (it holds a connection to the forge)
        within 30 s, else worker 0; start it again. Says which and whether it was mid-job."""
        deadline = time.monotonic() + 30
        busy: int | None = None
        while busy is None and time.monotonic() < deadline:
            for n, proc in enumerate(self.workers):
                try:
                    conns = psutil.Process(proc.pid).net_connections(kind="tcp")
                except psutil.Error:
                    continue
                if any(c.raddr and c.raddr.port == forge_port for c in conns):
                    busy = n
                    break
            time.sleep(0.02)
        n = 0 if busy is None else busy
        proc = self.workers[n]
        self.killed.add(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.workers[n] = self._spawn(f"worker{n}", "worker", "--jobs", "2")
        return f"worker{n} {'idle' if busy is None else 'mid-job'}"

    def crashed(self) -> list[str]:
        dead = [f"api{n}" for n, (p, _) in enumerate(self.apis) if p.poll() is not None]
        dead += [f"worker{n}" for n, p in enumerate(self.workers) if p.poll() is not None]
        return [f"{name}: {self.tail(name)}" for name in dead]

    def tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-1500:] if path.exists() else ""

    def stop(self) -> None:
        procs = [p for p, _ in self.apis] + self.workers
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def _webhook(
    forge: httpx.Client, sim: _Forge, repo: Any, number: int, delivery: str
) -> tuple[bytes, dict[str, str]]:
    """A signed ``pull_request`` ``edited`` delivery for a PR as the forge serves it, retitled."""
    pr = forge.get(f"{sim.url}/repos/{repo.full_name}/pulls/{number}").json()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    pr.update(title=f"{pr['title']} (edited {delivery[:8]})", updated_at=stamp)
    payload = {
        "action": "edited",
        "number": number,
        "pull_request": pr,
        "repository": {"full_name": repo.full_name, "html_url": f"{sim.url}/{repo.full_name}"},
        "sender": {"login": "someone"},
    }
    body = json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": hub_signature(SECRET, body),
    }


def run_soak(
    tmp_path: Path, pg_url: str, redis_url: str, prefix: str, seconds: float
) -> SoakReport:
    report = SoakReport(seconds)
    cert, key = self_signed_cert(tmp_path)
    dataset = generate(23, SIZE)
    sim = ForgeSim(dataset, faults=Faults(slow_rate=1.0, slow_seconds=0.1))  # jobs take a while
    redis_port = urlsplit(redis_url).port or 6379
    pg_port = urlsplit(pg_url).port or 5432
    with (
        serve(sim, tls=(cert, key)) as forge_url,
        FaultProxy(redis_port) as redis_proxy,
        FaultProxy(pg_port) as pg_proxy,
    ):
        forge = _Forge(forge_url, cert, dataset)
        store_url = _proxied(pg_url, pg_proxy.port)
        with contextlib.closing(
            open_store(pg_url)
        ) as store:  # the schema, and the keys the load uses
            operator = create_key(store, "operator", "soak")[1]
        env = {
            **os.environ,
            "SSL_CERT_FILE": cert,
            "FORGELENS_DATABASE_URL": store_url,
            "REDIS_URL": _proxied(redis_url, redis_proxy.port),
            "FORGELENS_REDIS_PREFIX": prefix,
            "FORGELENS_CACHE_DIR": str(tmp_path / "cache"),
            "FORGELENS_SCHEDULE": "false",
            "FORGELENS_FORGE_HOSTS": "127.0.0.1=github",
            "FORGELENS_FORGE_PRIVATE_HOSTS": "127.0.0.1",
            "FORGELENS_GITHUB_WEBHOOK_SECRET": SECRET,
            "FORGELENS_RATE_LIMIT_PER_MINUTE": "100000",
            "FORGELENS_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT),
            "FORGELENS_RUN_FLUSH_SECONDS": "0.2",
            "PYTHONPATH": str(Path(forgelens.__file__).parents[1]),  # the code under test
        }
        env.pop("GITHUB_TOKEN", None)
        logs = tmp_path / "logs"
        logs.mkdir()
        fleet = _Fleet(env, logs)
        try:
            fleet.start()
            _load(report, fleet, forge, operator, redis_proxy, pg_proxy)
            report.crashed = fleet.crashed()
            _settle(report, fleet, forge, operator)
            report.crashed += [c for c in fleet.crashed() if c not in report.crashed]
        finally:
            fleet.stop()
        _inspect(report, pg_url, dataset)
    return report


def _load(
    report: SoakReport,
    fleet: _Fleet,
    sim: _Forge,
    operator: str,
    redis_proxy: FaultProxy,
    pg_proxy: FaultProxy,
) -> None:
    rng = random.Random(7)
    repos = sim.dataset.repos
    start = time.monotonic()
    stop = threading.Event()
    lock = threading.Lock()
    headers = {"X-API-Key": operator}

    def api() -> str:
        return fleet.apis[rng.randrange(2)][1]

    def triggers() -> None:
        with httpx.Client(timeout=30, headers=headers) as client:
            while not stop.is_set():
                repo = rng.choice(repos)
                body = {
                    "repository_url": f"{sim.url}/{repo.full_name}",
                    "full_sync": rng.random() < 0.3,
                }
                began = time.monotonic()
                try:
                    answer = client.post(api() + "/api/v1/collect/trigger", json=body)
                    code, payload = answer.status_code, _body(answer)
                except httpx.HTTPError as exc:
                    code, payload = 0, {"error": repr(exc)}
                payload["_at"] = round(began - start, 2)
                with lock:
                    report.triggers.append((code, time.monotonic() - began, payload))
                stop.wait(0.25)

    def webhooks() -> None:
        with (
            httpx.Client(timeout=30) as client,
            httpx.Client(timeout=30, verify=ssl.create_default_context(cafile=sim.cert)) as forge,
        ):
            while not stop.is_set():
                repo = rng.choice(repos)
                delivery = str(uuid.uuid4())
                number = rng.choice(repo.prs).number
                body, hook_headers = _webhook(forge, sim, repo, number, delivery)
                copies = [api()] if rng.random() < 0.6 else [u for _, u in fleet.apis]
                for url in copies:  # a forge's retry may reach either replica
                    try:
                        answer = client.post(
                            url + "/api/v1/webhooks/github", content=body, headers=hook_headers
                        )
                        code, payload = answer.status_code, _body(answer)
                    except httpx.HTTPError as exc:
                        code, payload = 0, {"error": repr(exc)}
                    payload["_at"] = round(time.monotonic() - start, 2)
                    with lock:
                        report.webhooks.append((delivery, code, payload))
                stop.wait(0.5)

    def reads() -> None:
        with httpx.Client(timeout=30, headers=headers) as client:
            while not stop.is_set():
                rid = quote(f"github:{rng.choice(repos).full_name}", safe="")
                try:
                    code = client.get(api() + f"/api/v1/collect/status/{rid}").status_code
                except httpx.HTTPError:
                    code = 0
                with lock:
                    report.status_reads.append(code)
                stop.wait(0.2)

    threads = [threading.Thread(target=f, daemon=True) for f in (triggers, webhooks, reads)]
    for t in threads:
        t.start()
    forge_port = int(urlsplit(sim.url).port or 443)

    def kill() -> str:
        return fleet.kill(forge_port)

    def cut(proxy: FaultProxy) -> str:
        proxy.outage(10)
        return ""

    plan: list[tuple[float, str, Callable[[], str]]] = [
        (0.15, "Redis cut for 10 s", lambda: cut(redis_proxy)),
        (0.35, "kill -9", kill),
        (0.55, "PostgreSQL refuses connections for 10 s", lambda: cut(pg_proxy)),
        (0.75, "kill -9", kill),
    ]
    for at, what, act in plan:
        stop.wait(max(0.0, start + at * report.seconds - time.monotonic()))
        how = act()
        report.faults.append((time.monotonic() - start, f"{what} {how}".strip()))
    stop.wait(max(0.0, start + report.seconds - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(60)


def _settle(report: SoakReport, fleet: _Fleet, sim: _Forge, operator: str) -> None:
    """Wait until every repository's latest job has ended (a killed worker's job runs again
    once its lease lapses), then one last trigger per repository must complete."""
    began = time.monotonic()
    deadline = began + JOB_TIMEOUT + 10 + 120
    rids = [f"github:{r.full_name}" for r in sim.dataset.repos]
    with httpx.Client(timeout=30, headers={"X-API-Key": operator}) as client:
        url = fleet.apis[0][1]
        while time.monotonic() < deadline:
            states = {
                rid: client.get(url + f"/api/v1/collect/status/{quote(rid, safe='')}").json()
                for rid in rids
            }
            if all(s.get("status") in TERMINAL for s in states.values()):
                break
            time.sleep(0.5)
        report.settled_seconds = time.monotonic() - began
        report.final_status = states


def _inspect(report: SoakReport, pg_url: str, dataset: Any) -> None:
    with contextlib.closing(open_store(pg_url)) as store:
        for row in store.query_dicts("SELECT job_id, status, error, tries FROM service_jobs"):
            report.jobs[str(row["job_id"])] = row
        for table in ("pull_requests", "pr_reviews", "pr_files"):
            counts = store.query(
                f"SELECT repository_id, count(*) FROM {table} GROUP BY repository_id"
            )
            report.stored[table] = {str(rid): int(n) for rid, n in counts}
    handled: dict[str, int] = {}  # deliveries answered as processed (not ``duplicate``)
    for delivery, code, _ in report.webhooks:
        if code == 202:
            handled[delivery] = handled.get(delivery, 0) + 1
    report.duplicate_rows["webhook deliveries handled twice"] = sum(
        1 for n in handled.values() if n > 1
    )
    for repo in dataset.repos:
        rid = f"github:{repo.full_name}"
        report.expected.setdefault("pull_requests", {})[rid] = len(repo.prs)
        report.expected.setdefault("pr_reviews", {})[rid] = sum(len(p.reviews) for p in repo.prs)
        report.expected.setdefault("pr_files", {})[rid] = sum(len(p.files) for p in repo.prs)
