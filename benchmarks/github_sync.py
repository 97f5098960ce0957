"""GitHub sync figures against the simulated forge (a separate process, real socket).

    nice -n 10 .venv/bin/python benchmarks/github_sync.py [--prs 5000] [--rest-prs 1000]

Prints and writes benchmarks/results/github_sync.json:
- API requests per PR, full sync of N PRs (avg 3 reviews, 5 comments, 8 files): GraphQL (goal
  <= 0.05) and REST beside it, with the ratio;
- requests for an incremental sync of the unchanged repository (goal <= 2);
- end-to-end PRs/s into DuckDB (goal >= 1,000) and where the time goes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import structlog

from forgelens.config import Settings
from forgelens.engine.collect import CollectOptions
from forgelens.engine.sync import StoreEtagCache, sync_forge
from forgelens.sources.github import from_options
from forgelens.store import open_store

RESULTS = Path(__file__).parent / "results" / "github_sync.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(prs: int, org: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "forgelens",
        "sim",
        "serve",
        "--port",
        str(port),
        "--org",
        org,
        "--repos",
        "1",
        "--prs",
        str(prs),
        "--rate-limit",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # generating 5,000 PRs takes minutes on a loaded machine
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/rate_limit", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the simulator did not start")


class TimedStore:
    """Store proxy that accounts the time spent writing."""

    def __init__(self, store: Any) -> None:
        self._store, self.seconds = store, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write_records(self, records: Any, *, source: str | None = None) -> int:
        t = time.perf_counter()
        try:
            return int(self._store.write_records(records, source=source))
        finally:
            self.seconds += time.perf_counter() - t


def sync(url: str, db: Path, target: str, api: str, full: bool = False) -> dict[str, Any]:
    store = open_store(f"duckdb:///{db}")
    timed = TimedStore(store)
    opts = CollectOptions(
        api_url=url, full=full, extra={"api": api, "concurrency": 1, "no_wait": True}
    )
    etags = StoreEtagCache(store)
    # a token, as GitHub's GraphQL API needs one (deployment statuses go through GraphQL only
    # with one); the simulator accepts any
    source = from_options(opts, etags, settings=Settings(github_token="sim-token"))
    started = time.perf_counter()
    cpu = time.process_time()
    try:
        result = sync_forge(timed, source, [target], opts, etags=etags)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        prs = store.query("SELECT count(*) FROM pull_requests")[0][0]
    finally:
        source.close()
        store.close()
    http = source.client.stats.seconds
    return {
        "api": api,
        "prs_in_run": result.prs,
        "prs_in_store": prs,
        "requests": result.api_calls,
        "requests_per_pr": round(result.api_calls / max(1, result.prs), 4),
        "seconds": round(elapsed, 3),
        "prs_per_second": round(result.prs / elapsed, 1) if elapsed else None,
        "collector_cpu_seconds": round(cpu, 3),
        "prs_per_collector_cpu_second": round(result.prs / cpu, 1) if cpu else None,
        # pages are fetched + mapped in a prefetch thread while the main thread writes, so
        # these overlap: wall time < their sum
        "time_breakdown_s": {
            "wall": round(elapsed, 3),
            "fetch thread: HTTP (simulator, network)": round(http, 3),
            "main thread: DuckDB upserts": round(timed.seconds, 3),
        },
        "by_endpoint": dict(source.client.stats.by_endpoint.most_common(8)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=5000)
    parser.add_argument("--rest-prs", type=int, default=1000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ.pop("GITHUB_TOKEN", None)
    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-gh-"))
    out: dict[str, Any] = {
        "prs": args.prs,
        "rest_prs": args.rest_prs,
        "load_average_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    proc, url = start_sim(args.prs, "bench")
    try:
        sim_cpu = sum(psutil.Process(proc.pid).cpu_times()[:2])
        full = sync(url, tmp / "gql.duckdb", "bench/service-0", "graphql")
        sim_cpu = sum(psutil.Process(proc.pid).cpu_times()[:2]) - sim_cpu
        full["simulator_cpu_seconds"] = round(sim_cpu, 3)
        full["prs_per_cpu_second_collector_plus_simulator"] = round(
            full["prs_in_run"] / (sim_cpu + full["collector_cpu_seconds"]), 1
        )
        incremental = sync(url, tmp / "gql.duckdb", "bench/service-0", "graphql")
    finally:
        proc.terminate()
        proc.wait(10)
    proc, url = start_sim(args.rest_prs, "bench")
    try:
        rest = sync(url, tmp / "rest.duckdb", "bench/service-0", "rest")
    finally:
        proc.terminate()
        proc.wait(10)
    out.update(
        graphql_full=full,
        graphql_incremental_unchanged={"requests": incremental["requests"], "goal": "<= 2"},
        rest_full=rest,
        graphql_requests_per_pr=full["requests_per_pr"],
        graphql_goal="<= 0.05",
        rest_requests_per_pr=rest["requests_per_pr"],
        rest_to_graphql_ratio=round(
            rest["requests_per_pr"] / max(1e-9, full["requests_per_pr"]), 1
        ),
        end_to_end_prs_per_second=full["prs_per_second"],
        throughput_goal=">= 1000 PRs/s",
    )
    print(
        f"GraphQL full sync of {full['prs_in_run']} PRs: {full['requests']} requests = "
        f"{full['requests_per_pr']} per PR (goal <= 0.05)"
    )
    print(
        f"REST full sync of {rest['prs_in_run']} PRs: {rest['requests']} requests = "
        f"{rest['requests_per_pr']} per PR -> REST needs {out['rest_to_graphql_ratio']}x more"
    )
    print(
        f"incremental sync of the unchanged repository: {incremental['requests']} requests "
        "(goal <= 2)"
    )
    print(
        f"end to end into DuckDB: {full['prs_per_second']} PRs/s in {full['seconds']} s "
        "(goal >= 1000)"
    )
    print(
        f"  collector CPU: {full['collector_cpu_seconds']} s = "
        f"{full['prs_per_collector_cpu_second']} PRs per CPU-second; "
        f"load average at start {out['load_average_at_start'][0]:.1f} on {out['cpus']} CPUs"
    )
    print(
        f"  simulator CPU: {full['simulator_cpu_seconds']} s; collector + simulator: "
        f"{full['prs_per_cpu_second_collector_plus_simulator']} PRs per CPU-second"
    )
    for what, seconds in full["time_breakdown_s"].items():
        print(f"  {what}: {seconds} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
