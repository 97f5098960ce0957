"""Progressive backfill figures against the simulated forge (real socket, simulated time).

    nice -n 10 .venv/bin/python benchmarks/backfill.py [--prs 20000] [--chunk-size 100]
        [--max-chunks 100] [--every-minutes 30] [--budget 5000] [--reference-prs 2000]

A repository of N pull requests (avg 3 reviews, 5 comments, 8 files, 3 commits) behind a
GraphQL budget of ``--budget`` points per simulated hour. ``forgelens backfill`` runs on a
schedule every ``--every-minutes`` simulated minutes (the simulator's budget clock and the
backfill's clock are one simulated clock: it advances with wall time and jumps to the next
tick between invocations). Prints and writes benchmarks/results/backfill.json:
- invocations (scheduled ticks) until the repository is complete, and those that did work;
- API calls per PR, and the ratio to a plain full sync (``collect``) of ``--reference-prs`` PRs
  of the same shape measured in the same run;
- total simulated time to 100%, and the rate-limit pauses on the way;
- completeness: stored / forge-reported PRs (must be exactly 100%), and every PR's reviews,
  comments, files and commits compared with the simulator's own data.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from forgelens.config import Settings
from forgelens.engine._backfill_report import BackfillSettings
from forgelens.engine.backfill import BackfillOptions, SourcePair, backfill
from forgelens.engine.collect import CollectOptions, collect
from forgelens.sources import forges
from forgelens.sources.github import from_options
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import Budgets, ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.dataset import GITHUB_FILE_CAP

RESULTS = Path(__file__).parent / "results" / "backfill.json"
TOKEN = "bench-token"


class SimClock:
    """Wall time plus jumps: what the simulator's budgets and the backfill both read."""

    def __init__(self) -> None:
        self.base = time.time()
        self.offset = 0.0

    def epoch(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch(), UTC)

    def jump_to(self, when: datetime) -> None:
        self.offset += max(0.0, when.timestamp() - self.epoch())

    def elapsed(self) -> timedelta:
        return timedelta(seconds=self.epoch() - self.base)


def sources(url: str) -> Any:
    def make(kind: str) -> SourcePair:
        opts = CollectOptions(api_url=url, extra={"concurrency": 1})
        src = from_options(opts, settings=Settings(github_token=TOKEN))
        return src, forges.BY_KIND[kind].backfill(src)  # type: ignore[misc]

    return make


def expected_counts(sim: ForgeSim) -> dict[int, tuple[int, int, int, int]]:
    out = {}
    for p in sim.dataset.repos[0].prs:
        comments = len(p.comments) + sum(len(r.comments) for r in p.reviews)
        files = len({f.path for f in p.files[:GITHUB_FILE_CAP]})
        out[p.number] = (len(p.reviews), comments, files, len(p.commits[:250]))
    return out


def stored_counts(store: Store) -> dict[int, tuple[int, int, int, int]]:
    sql = """
    SELECT p.number,
      (SELECT count(*) FROM pr_reviews r WHERE r.repository_id = p.repository_id
         AND r.pr_number = p.number),
      (SELECT count(*) FROM pr_comments c WHERE c.repository_id = p.repository_id
         AND c.pr_number = p.number),
      (SELECT count(*) FROM pr_files f WHERE f.repository_id = p.repository_id
         AND f.pr_number = p.number),
      (SELECT count(*) FROM pr_commits m WHERE m.repository_id = p.repository_id
         AND m.pr_number = p.number)
    FROM pull_requests p
    """
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in store.query(sql)}


def reference_full_sync(prs: int, tmp: Path) -> dict[str, Any]:
    sim = ForgeSim(
        generate(
            11, SimSize(repos=1, prs_per_repo=prs, issues_per_repo=0, runs_per_repo=0, teams=0)
        )
    )
    store = open_store(f"duckdb:///{tmp / 'reference.duckdb'}")
    with serve(sim) as url:
        started = time.monotonic()
        result = collect(
            store,
            [f"github:{sim.dataset.repos[0].full_name}"],
            CollectOptions(api_url=url, extra={"concurrency": 1}),
        )[0]
        seconds = time.monotonic() - started
    store.close()
    pr_calls = sum(1 for m, p, _ in sim.log if m == "POST" and p == "/graphql")
    return {
        "prs": prs,
        "api_calls": result.api_calls,
        "graphql_calls": pr_calls,
        "api_calls_per_pr": round(result.api_calls / prs, 4),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prs", type=int, default=20_000)
    ap.add_argument("--chunk-size", type=int, default=100)
    ap.add_argument("--max-chunks", type=int, default=100)
    ap.add_argument("--every-minutes", type=int, default=30)
    ap.add_argument("--budget", type=int, default=5000)
    ap.add_argument("--reference-prs", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    clock = SimClock()
    t0 = time.monotonic()
    size = SimSize(repos=1, prs_per_repo=args.prs, issues_per_repo=0, runs_per_repo=0, teams=0)
    sim = ForgeSim(
        generate(7, size),
        tokens={TOKEN},
        budgets=Budgets(limit=args.budget, window=3600.0, clock=clock.epoch),
    )
    generated = time.monotonic() - t0
    repo = f"github:{sim.dataset.repos[0].full_name}"
    tick = timedelta(minutes=args.every_minutes)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        store = open_store(f"duckdb:///{tmp / 'backfill.duckdb'}")
        opts = BackfillOptions(
            repository_id=repo,
            chunk_size=args.chunk_size,
            max_chunks=args.max_chunks,
            sweep=False,
            settings=BackfillSettings(),
            clock=clock.now,
        )
        ticks, working, pauses, calls = 0, 0, [], 0
        wall = time.monotonic()
        with serve(sim) as url:
            while True:
                ticks += 1
                result = backfill(store, opts, sources(url))
                calls += result.api_calls
                working += result.chunks > 0
                state = store.query_dicts(
                    "SELECT status, resume_at, processed_prs FROM backfill_state"
                )[0]
                print(
                    f"tick {ticks:3d} at +{clock.elapsed()}: {result.chunks} chunks, "
                    f"{result.prs} PRs, {result.api_calls} calls -> {state['status']} "
                    f"({state['processed_prs']}/{args.prs})",
                    flush=True,
                )
                if state["status"] == "graphql_rate_limit_low":
                    pauses.append(
                        {"at": str(clock.elapsed()), "resume_at": str(state["resume_at"])}
                    )
                if state["status"] == "completed":
                    break
                if state["status"] == "paused" or ticks > 10_000:
                    raise SystemExit(f"backfill stopped: {state}")
                clock.jump_to(clock.now() + tick)  # the next scheduled run
        wall_s = time.monotonic() - wall
        total = clock.elapsed()
        forge = len(sim.dataset.repos[0].prs)
        stored = int(store.query("SELECT count(*) FROM pull_requests")[0][0])
        want, got = expected_counts(sim), stored_counts(store)
        mismatched = [n for n, counts in want.items() if got.get(n) != counts]
        chunk_rows = store.query_dicts(
            "SELECT status, count(*) AS n FROM backfill_chunks GROUP BY status"
        )
        store.close()
        reference = reference_full_sync(args.reference_prs, tmp)
    per_pr = calls / args.prs
    out = {
        "prs": args.prs,
        "budget_points_per_simulated_hour": args.budget,
        "chunk_size": args.chunk_size,
        "max_chunks_per_invocation": args.max_chunks,
        "schedule_every_minutes": args.every_minutes,
        "invocations": ticks,
        "invocations_that_did_work": working,
        "rate_limit_pauses": pauses,
        "api_calls": calls,
        "api_calls_per_pr": round(per_pr, 4),
        "reference_full_sync": reference,
        "api_calls_per_pr_ratio_to_full_sync": round(per_pr / reference["api_calls_per_pr"], 2),
        "simulated_time_to_100_percent": str(total),
        "simulated_hours_to_100_percent": round(total.total_seconds() / 3600, 2),
        "wall_seconds": round(wall_s, 1),
        "dataset_generation_seconds": round(generated, 1),
        "completeness_percent": round(100.0 * stored / forge, 4),
        "prs_with_all_reviews_comments_files_commits": forge - len(mismatched),
        "prs_missing_something": len(mismatched),
        "chunks_by_status": {r["status"]: r["n"] for r in chunk_rows},
        "command": "nice -n 10 .venv/bin/python benchmarks/backfill.py "
        f"--prs {args.prs} --chunk-size {args.chunk_size} --max-chunks {args.max_chunks} "
        f"--every-minutes {args.every_minutes} --budget {args.budget} "
        f"--reference-prs {args.reference_prs}",
    }
    print(json.dumps(out, indent=2))
    if stored != forge or mismatched:
        raise SystemExit("completeness is not exactly 100%")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
