"""What an incremental run of unchanged repositories costs, REST against GraphQL (issue #20).

    nice -n 10 .venv/bin/python benchmarks/unchanged_runs.py [--prs 2000] [--repos 300]

Two organisations on the simulated forge (a real socket): one repository of ``--prs`` pull
requests and no issue (GitHub's /issues then lists pull requests only), and ``--repos``
repositories of 3 pull requests and 1 issue each. Each is collected in full, then twice more
unchanged, through REST and through GraphQL (the reference: 2 requests per repository); the
figures are the requests the simulator answered, per repository, and the ratio REST /
GraphQL. Goal: an unchanged REST run <= 5 requests per repository whatever its size, besides
the deployments step (GitHub Deployments and Releases listings, one conditional request each,
answered 304: issue #18 allows that step <= 2 per unchanged repository), counted apart as
``deployment_step_per_repository``. Prints the table and writes
benchmarks/results/unchanged_runs.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import structlog

from forgelens.engine.collect import CollectOptions, collect
from forgelens.store import open_store
from forgelens.testing.forge_sim import Budgets, ForgeSim, SimSize, generate, serve

RESULTS = Path(__file__).parent / "results" / "unchanged_runs.json"


def run(url: str, db: Path, api: str, concurrency: int) -> dict[str, Any]:
    store = open_store(f"duckdb:///{db}")
    opts = CollectOptions(api_url=url, extra={"api": api, "concurrency": concurrency})
    started = time.perf_counter()
    try:
        result = collect(store, ["github:acme"], opts)[0]
    finally:
        store.close()
    return {"prs": result.prs, "seconds": round(time.perf_counter() - started, 2)}


def measure(size: SimSize, api: str, tmp: Path, concurrency: int) -> dict[str, Any]:
    sim = ForgeSim(generate(1, size), budgets=Budgets(limit=10_000_000))  # budget not measured
    db = tmp / f"{api}-{size.repos}-{size.prs_per_repo}.duckdb"
    out: dict[str, Any] = {}
    with serve(sim) as url:
        for name in ("full", "unchanged", "unchanged_again"):
            sim.requests, sim.log = 0, []
            row = run(url, db, api, concurrency)
            org_level = sum(1 for _m, p, _s in sim.log if p.startswith("/orgs/"))
            delivery = sum(1 for _m, p, _s in sim.log if p.endswith(("/deployments", "/releases")))
            row.update(
                requests=sim.requests,
                org_level_requests=org_level,  # the org's repository and team lists
                requests_per_repository=round(
                    (sim.requests - org_level - delivery) / size.repos, 2
                ),
                deployment_step_per_repository=round(delivery / size.repos, 2),
                by_endpoint=dict(Counter(_shape(p) for _m, p, _s in sim.log).most_common(8)),
            )
            out[name] = row
    return out


def _shape(path: str) -> str:
    """``/repos/acme/service-7/pulls/12`` -> ``/repos/{owner}/{repo}/pulls/{n}``."""
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "repos":
        parts[2:4] = ["{owner}", "{repo}"]
    return "/".join("{n}" if p.isdigit() else p for p in parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prs", type=int, default=2000, help="PRs of the one big repository")
    parser.add_argument("--repos", type=int, default=300, help="repositories of the org")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ.pop("GITHUB_TOKEN", None)
    tmp = Path(tempfile.mkdtemp(prefix="fl-bench-unchanged-"))
    cases = {
        f"one repository, {args.prs} PRs, no issue": SimSize(
            repos=1, prs_per_repo=args.prs, issues_per_repo=0, teams=0
        ),
        f"{args.repos} repositories, 3 PRs + 1 issue each": SimSize(
            repos=args.repos, prs_per_repo=3, issues_per_repo=1, runs_per_repo=2, teams=0
        ),
    }
    rows: dict[str, Any] = {}
    for label, size in cases.items():
        rows[label] = {
            api: measure(size, api, tmp, args.concurrency) for api in ("rest", "graphql")
        }
        rest, gql = rows[label]["rest"]["unchanged"], rows[label]["graphql"]["unchanged"]
        rows[label]["rest_vs_graphql_unchanged"] = round(
            rest["requests"] / max(1, gql["requests"]), 2
        )
        print(label, json.dumps(rows[label]), flush=True)  # each case once it is measured
    print(
        f"unchanged incremental runs, simulated GitHub on a local socket, --concurrency "
        f"{args.concurrency}"
    )
    print(
        f"{'case':<42}{'api':<9}{'full req':>10}{'unchanged':>11}{'again':>8}"
        f"{'org-level':>10}{'per repo':>10}{'+ deploy step':>14}"
    )
    for label, row in rows.items():
        for api in ("rest", "graphql"):
            r = row[api]
            print(
                f"{label:<42}{api:<9}{r['full']['requests']:>10}{r['unchanged']['requests']:>11}"
                f"{r['unchanged_again']['requests']:>8}"
                f"{r['unchanged_again']['org_level_requests']:>10}"
                f"{r['unchanged_again']['requests_per_repository']:>10}"
                f"{r['unchanged_again']['deployment_step_per_repository']:>14}"
            )
        print(f"{'':<42}REST / GraphQL unchanged: {row['rest_vs_graphql_unchanged']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"concurrency": args.concurrency, "cases": rows}, indent=2) + "\n"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
