"""Organisation scale on GitHub's budget (issue #20): a long-tailed org collected through
GraphQL on one token, three tokens and one App installation, by 1 and by 4 workers sharing the
budget through Redis, then a daily incremental run with 1 % of the repositories changed.

    nice -n 10 .venv/bin/python benchmarks/org_scale.py [--repos 1000] [--prs 200000]
        [--hour-seconds 60] [--workers 4]

The simulated forge (``forge_sim.org``: repositories of log-normal sizes, PRs generated on
demand) prices every query with GitHub's rule (``forge_sim.github_cost``), keeps a budget per
token of ``--budget`` points (5,000; 12,500 for the App) per *simulated hour* of
``--hour-seconds`` real seconds (the client honours it through ``x-ratelimit-reset`` and
``rateLimit.resetAt``, as on GitHub), and enforces the secondary limits (``forge_sim.secondary``,
minutes of ``hour-seconds / 60``). Workers are processes: each takes the next repository from
one Redis list filled largest first (the org listing's ``size``) -- a batch of them, up to a
32nd of the org's PRs or 50 repositories (one probe query) -- and runs
``collect`` on it,
with the rate-limit view shared on Redis (``REDIS_URL``); each writes its own DuckDB file (the
store is not what is measured here).

Figures: points and requests, points per PR, simulated hours to complete against the
budget-bound minimum (total points / points per hour of every token; the collector is not the
bottleneck when the ratio is near 1), unused points of every hour that ended with work queued,
403/429/RATE_LIMITED answers, peak RSS per worker; the incremental run's points and wall
seconds. Writes benchmarks/results/org_scale.json. The simulated hour must be long enough for
the machine to spend a budget in it (the script prints the collector's own CPU seconds per
hour of budget): on a shared 2-core machine the org is run smaller with ``--prs`` and the
per-PR and per-repository costs reported with it.

Scaled down, keep the two ratios of the real org: 100-200 PRs per repository (at 20, the REST
requests every repository costs -- CI runs, contributors, deployments, releases: GitHub has no
GraphQL for the first two -- were half a request per point instead of ~0.05, and the REST
budget, scaled like the points, bound the tail), and an hourly budget of a few hundred points
at least (a page of 50 PRs costs 13 points: at 100 points an hour, up to a tenth of every
hour cannot be spent by any client; at GitHub's 5,000 it is 0.3 %):

    .venv/bin/python benchmarks/org_scale.py --repos 100 --prs 10000 --budget 500 \
        --app-budget 1250 --hour-seconds 60
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

RESULTS = Path(__file__).parent / "results" / "org_scale.json"
REDIS_URL = os.environ.get("FORGELENS_BENCH_REDIS", "redis://127.0.0.1:6379/0")
ORG = "bigorg"
BATCHES = 32  # the org is taken in about this many batches (a giant is a batch of its own)


# -- one worker process ----------------------------------------------------------------------
def worker(url: str, queue: str, db: str) -> None:
    """Take repositories from the Redis list ``queue`` until it is empty; print one JSON line."""
    import redis

    from forgelens.engine.collect import CollectOptions, collect
    from forgelens.store import open_store

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    r = redis.Redis.from_url(REDIS_URL)
    store = open_store(f"duckdb:///{db}")
    opts = CollectOptions(api_url=url, extra={"api": "graphql", "concurrency": 1})
    done = prs = errors = 0
    started = time.process_time()
    batch_weight = int(r.get(queue + ":batch") or 1)
    try:
        while True:
            # a batch: repositories from the head of the largest-first list until their size
            # reaches the batch weight (a giant is a batch of its own) or 50 of them (one
            # probe query); each repository's cursors are its own: resumable per repository
            specs, weight = [], 0
            while weight < batch_weight and len(specs) < 50:
                raw = r.lpop(queue)
                if raw is None:
                    break
                name, _, size = raw.decode().partition(" ")
                specs.append(f"github:{name}")
                weight += int(size or 1)
            if not specs:
                break
            result = collect(store, specs, opts)[0]
            done, prs, errors = done + len(specs), prs + result.prs, errors + result.errors
    finally:
        store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu = time.process_time() - started
    print(json.dumps({"repos": done, "prs": prs, "errors": errors, "rss_mb": rss_mb, "cpu": cpu}))


# -- the orchestration -----------------------------------------------------------------------
def _schedule(url: str, queue: str) -> int:
    """List the org (REST, as a run does), largest first, onto the Redis list."""
    import redis

    from forgelens.config import Settings
    from forgelens.engine.collect import CollectOptions
    from forgelens.sources.github import from_options

    source = from_options(CollectOptions(api_url=url), settings=Settings(github_token=None))
    try:
        refs = source.list_repositories(ORG)
    finally:
        source.close()
    refs.sort(key=lambda ref: -ref.weight)
    r = redis.Redis.from_url(REDIS_URL)
    r.delete(queue)
    r.rpush(queue, *[f"{ref.full_name} {max(1, ref.weight)}" for ref in refs])
    total = sum(max(1, ref.weight) for ref in refs)
    # the same batches whatever the number of workers (8 each at 4), so 1 and 4 workers send
    # the same queries and their points compare
    r.set(queue + ":batch", max(1, total // BATCHES))
    return len(refs)


def run_workers(
    url: str, n: int, tokens: list[str], tmp: Path, name: str, prefix: str
) -> dict[str, Any]:
    queue = f"{prefix}bench:orgscale:{name}"
    repos = _schedule(url, queue)
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "FORGELENS_REDIS_PREFIX": prefix,
        "GITHUB_TOKEN": ",".join(tokens),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, queue, str(tmp / f"{name}-w{k}.duckdb")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    rows = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed ({p.returncode})")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return {"repos": repos, "workers": rows}


def scenario(
    ds: Any,
    *,
    name: str,
    limit: int,
    tokens: list[str],
    workers: int,
    hour: float,
    tmp: Path,
    reuse_db: str | None = None,
) -> dict[str, Any]:
    from forgelens.testing.forge_sim import Budgets, ForgeSim, SecondaryLimits, serve

    budgets = Budgets(limit=limit, window=hour)
    sim = ForgeSim(ds, budgets=budgets, secondary=SecondaryLimits(minute=hour / 60))
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    wall0, load = time.perf_counter(), os.getloadavg()[0]
    with serve(sim) as url:
        out = run_workers(url, workers, tokens, tmp, reuse_db or name, prefix)
    wall = time.perf_counter() - wall0
    gql = [(t, lim, rem) for t, res, _at, lim, rem in budgets.ended if res == "graphql"]
    now_spent = 0
    for (_token, res), b in budgets._state.items():
        if res == "graphql":
            now_spent += b.limit - b.remaining
    points = sum(lim - rem for _t, lim, rem in gql) + now_spent
    statuses = Counter(status for _m, _p, status in sim.log)
    prs = sum(w["prs"] for w in out["workers"])
    hours = wall / hour
    minimum = points / (limit * len(tokens))
    return {
        "name": name,
        "tokens": len(tokens),
        "points_per_hour_per_token": limit,
        "workers": workers,
        "repositories": out["repos"],
        "prs": prs,
        "points": points,
        "requests": sim.requests,
        "graphql_requests": sum(1 for _m, p, _s in sim.log if p.endswith("graphql")),
        "points_per_pr": round(points / max(1, prs), 4),
        "simulated_hours": round(hours, 3),
        "budget_bound_minimum_hours": round(minimum, 3),
        "hours_vs_minimum": round(hours / max(minimum, 1e-9), 3),
        "unused_points_of_ended_hours": [rem for _t, _lim, rem in gql],
        "refused_403_429": statuses[403] + statuses[429],
        "rate_limited_over_budget": sim.over_budget,  # the forge refused: a client overspent
        "secondary_refused": sim.secondary.refused if sim.secondary else 0,
        "server_errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "peak_rss_mb_per_worker": [round(w["rss_mb"], 1) for w in out["workers"]],
        "worker_cpu_seconds": [round(w["cpu"], 1) for w in out["workers"]],
        "errors": sum(w["errors"] for w in out["workers"]),
        "wall_seconds": round(wall, 1),
        "load_average_at_start": round(load, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=3, metavar=("URL", "QUEUE", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--prs", type=int, default=200_000)
    parser.add_argument("--hour-seconds", type=float, default=60.0, help="one simulated hour")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--budget", type=int, default=5000, help="points per hour per token")
    parser.add_argument("--app-budget", type=int, default=12_500)
    parser.add_argument("--only", default="", help="scenario names separated by ;")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON is written")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ.pop("GITHUB_TOKEN", None)
    from forgelens.testing.forge_sim import org_dataset, touch

    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-orgscale-"))
    hour = args.hour_seconds
    plan = [
        ("1 token, 1 worker", args.budget, ["tok-a"], 1),
        ("1 token, 4 workers", args.budget, ["tok-a"], args.workers),
        ("3 tokens, 4 workers", args.budget, ["tok-a", "tok-b", "tok-c"], args.workers),
        ("App installation, 4 workers", args.app_budget, ["ghs-app"], args.workers),
    ]
    only = {s.strip() for s in args.only.split(";") if s.strip()}
    rows: list[dict[str, Any]] = []
    for name, limit, tokens, n in plan:
        if only and name not in only:
            continue
        ds = org_dataset(args.repos, args.prs)
        row = scenario(ds, name=name, limit=limit, tokens=tokens, workers=n, hour=hour, tmp=tmp)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if name == "1 token, 1 worker":
            # the next day: 1 % of the repositories changed, collected incrementally
            changed = touch(ds, 0.01, datetime.now(UTC).replace(microsecond=0))
            inc = scenario(
                ds,
                name="daily incremental, 1 % changed",
                limit=limit,
                tokens=tokens,
                workers=1,
                hour=hour,
                tmp=tmp,
                reuse_db=name,
            )
            inc["changed_repositories"] = len(changed)
            rows.append(inc)
            print(json.dumps(inc), flush=True)
    one = next((r for r in rows if r["name"] == "1 token, 1 worker"), None)
    four = next((r for r in rows if r["name"] == "1 token, 4 workers"), None)
    summary: dict[str, Any] = {}
    if one and four:
        summary["4_vs_1_workers_points_ratio"] = round(four["points"] / max(1, one["points"]), 4)
    print(f"org scale: {args.repos} repositories, {args.prs} PRs, 1 simulated hour = {hour} s")
    head = f"{'scenario':<34}{'points':>8}{'reqs':>7}{'pts/PR':>8}{'hours':>7}{'min':>7}"
    print(head + f"{'ratio':>7}{'403/429':>8}{'rss MB':>8}{'wall s':>8}")
    for r in rows:
        print(
            f"{r['name']:<34}{r['points']:>8}{r['requests']:>7}{r['points_per_pr']:>8}"
            f"{r['simulated_hours']:>7}{r['budget_bound_minimum_hours']:>7}"
            f"{r['hours_vs_minimum']:>7}{r['refused_403_429']:>8}"
            f"{max(r['peak_rss_mb_per_worker']):>8}{r['wall_seconds']:>8}"
        )
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "repos": args.repos,
                "prs": args.prs,
                "hour_seconds": hour,
                "scenarios": rows,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
