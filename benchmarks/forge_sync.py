"""Every forge side by side against the simulated forge (a separate process, real socket).

    nice -n 10 .venv/bin/python benchmarks/forge_sync.py [--prs 1000] [--concurrency 4]

One repository of N pull requests (avg 3 reviews, 5 comments, 8 files) rendered through
GitHub (GraphQL), GitLab, Bitbucket Server, Bitbucket Cloud, Gitea / Forgejo and Gerrit. Per
forge: API requests per PR for a full sync and for an incremental sync of the unchanged
repository, and end-to-end
PRs/s into DuckDB; GitHub is the reference each ratio is taken against. "deploy req. incr." is
what the deployments step costs the unchanged repository (issue #18: at most 2). Prints the
table and writes benchmarks/results/forge_sync.json.
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
import structlog

from forgelens.config import Settings
from forgelens.engine.collect import CollectOptions
from forgelens.engine.sync import StoreEtagCache, sync_forge
from forgelens.sources import bitbucket_cloud, bitbucket_server, gerrit, gitea, github, gitlab
from forgelens.store import open_store

RESULTS = Path(__file__).parent / "results" / "forge_sync.json"
FORGES: dict[str, tuple[Any, str, str]] = {  # kind -> (factory, api-url suffix, target)
    "github": (github.from_options, "", "bench/service-0"),
    "gitlab": (gitlab.from_options, "/api/v4", "bench/service-0"),
    "bitbucket-server": (bitbucket_server.from_options, "", "BENCH/service-0"),
    "bitbucket": (bitbucket_cloud.from_options, "/2.0", "bench/service-0"),
    "gitea": (gitea.from_options, "/api/v1", "bench/service-0"),
    "gerrit": (gerrit.from_options, "/gerrit", "bench/service-0"),  # changes, anonymously
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(prs: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "forgelens", "sim", "serve", "--port", str(port)]
    cmd += ["--org", "bench", "--repos", "1", "--prs", str(prs), "--rate-limit", "10000000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/rate_limit", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the simulator did not start")


def sync(kind: str, url: str, db: Path, concurrency: int) -> dict[str, Any]:
    factory, suffix, target = FORGES[kind]
    store = open_store(f"duckdb:///{db}")
    opts = CollectOptions(api_url=url + suffix, extra={"concurrency": concurrency})
    etags = StoreEtagCache(store)
    # GitHub's GraphQL API needs a token (deployment statuses take GraphQL only with one); the
    # simulator accepts any, the other forges run anonymously
    settings = Settings(github_token="sim-token") if kind == "github" else Settings()
    source = factory(opts, etags, settings=settings)
    started = time.perf_counter()
    try:
        result = sync_forge(store, source, [target], opts, etags=etags)
        elapsed = time.perf_counter() - started
    finally:
        source.close()
        store.close()
    return {
        "prs": result.prs,
        "requests": result.api_calls,
        "seconds": round(elapsed, 3),
        "prs_per_second": round(result.prs / elapsed, 1) if elapsed and result.prs else None,
        "by_endpoint": dict(source.client.stats.by_endpoint.most_common(6)),
        "deployment_requests": sum(
            n
            for endpoint, n in source.client.stats.by_endpoint.items()
            if any(part in endpoint for part in DEPLOYMENT_STEP)
        ),
    }


# endpoints of the deployments step: deployments and their statuses / environments, releases and
# their tags, and the compare API that links deployments of repositories not mined locally
DEPLOYMENT_STEP = (
    "/deployments",
    "/environments",
    "/releases",
    "/tags/",
    "/compare/",
    "/git/commits/",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=1000)
    parser.add_argument(
        "--concurrency", type=int, default=4, help="requests in flight (the CLI default: 4)"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for var in (
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "BITBUCKET_TOKEN",
        "GITEA_TOKEN",
        "GERRIT_USERNAME",
        "GERRIT_TOKEN",
    ):
        os.environ.pop(var, None)
    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-forges-"))
    rows: dict[str, dict[str, Any]] = {}
    proc, url = start_sim(args.prs)
    try:
        for kind in FORGES:
            db = tmp / f"{kind}.duckdb"
            full = sync(kind, url, db, args.concurrency)
            again = sync(kind, url, db, args.concurrency)
            rows[kind] = {
                "full": full,
                "incremental_unchanged": again,
                "requests_per_pr_full": round(full["requests"] / max(1, full["prs"]), 4),
                "requests_per_pr_incremental": round(again["requests"] / args.prs, 4),
                "prs_per_second": full["prs_per_second"],
            }
    finally:
        proc.terminate()
        proc.wait(10)
    gh = rows["github"]
    for row in rows.values():
        row["full_requests_vs_github"] = round(
            row["requests_per_pr_full"] / max(1e-9, gh["requests_per_pr_full"]), 1
        )
        row["speed_vs_github"] = round(
            (row["prs_per_second"] or 0) / (gh["prs_per_second"] or 1), 2
        )
    header = (
        f"{'forge':<18}{'PRs':>6}{'req/PR full':>13}{'x GitHub':>10}"
        f"{'incr. requests':>16}{'req/PR incr.':>14}{'PRs/s':>9}{'deploy req. incr.':>19}"
    )
    load = [round(x, 1) for x in os.getloadavg()]
    print(
        f"one repository, {args.prs} pull requests, simulated forge on a local socket, "
        f"--concurrency {args.concurrency}; load average {load} (PRs/s are wall-clock)"
    )
    print(header)
    for kind, row in rows.items():
        print(
            f"{kind:<18}{row['full']['prs']:>6}{row['requests_per_pr_full']:>13}"
            f"{row['full_requests_vs_github']:>10}{row['incremental_unchanged']['requests']:>16}"
            f"{row['requests_per_pr_incremental']:>14}{row['prs_per_second'] or 0:>9}"
            f"{row['incremental_unchanged']['deployment_requests']:>19}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "prs": args.prs,
                "concurrency": args.concurrency,
                "load_average": load,
                "forges": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
