"""DORA benchmark: linking deployments to commits by ancestry, and ``analyze dora`` full and
incremental, on a generated store of REPOS repositories (COMMITS commits in all, each history a
main line with merged topic branches and a maintenance line with backports) and DEPLOYS
deployments (production and staging; a few failed, in progress, rollbacks) plus incidents.

    nice -n 10 .venv/bin/python benchmarks/dora.py                 # 1M commits, 20k deployments
    .venv/bin/python benchmarks/dora.py --commits 100000 --deploys 2000 --repos 50

Goals (issue #18, 2-core machine): linking 1,000,000 commits to 20,000 deployments across 500
repositories <= 10 s; ``analyze dora`` full <= 10 s, incremental <= 1 s after 100 new
deployments ("full" is the first analysis of the store, "--force-refresh" a forced one of
the analysed store: it recomputes everything and writes what differs). The reference figure
is the naive linking (every deployment's whole ancestor set minus the earlier ones'), timed
on a few repositories and scaled: the ratio says what the walk that stops at shipped commits
saves. CPU seconds are printed beside wall time: on a shared machine they say more.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.analytics.dora_link import Deploy, link
from forgelens.store import open_store

HERE = Path(__file__).resolve().parent
DORA_OUTPUTS = (
    "deployment_commits",
    "change_failures",
    "dora_deployments",
    "dora_metrics_weekly",
    "dora_metrics_monthly",
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _sha(*parts: object) -> str:
    return hashlib.sha1("-".join(map(str, parts)).encode()).hexdigest()


def gen_repo(
    r: int, n: int, deploys: int, rnd: random.Random
) -> tuple[dict[str, list[str]], list[datetime], list[Deploy]]:
    parents: dict[str, list[str]] = {}
    times: list[datetime] = []
    order: list[str] = []
    main: str | None = None
    maint: str | None = None
    for i in range(n):
        sha = _sha(r, i)
        roll = rnd.random()
        if main is None:
            ps: list[str] = []
        elif roll < 0.1 and len(order) > 10:  # merge a topic branch made of recent commits
            ps = [main, order[-rnd.randint(2, 10)]]
        elif roll < 0.15 and maint is not None:  # a backport on the maintenance line
            ps = [maint]
        else:
            ps = [main]
        parents[sha] = ps
        times.append(T0 + timedelta(minutes=30 * i))
        order.append(sha)
        if ps and maint is not None and ps[0] == maint:
            maint = sha
        else:
            main = sha
        if i == n // 3:
            maint = sha
    deps = []
    for k in range(deploys):
        i = min(n - 1, int((k + 1) * n / deploys) - 1 + rnd.randint(-3, 0))
        env = "production" if k % 3 else "staging"
        status = rnd.choice(["success"] * 18 + ["failure", "in_progress"])
        sha = order[i]
        if rnd.random() < 0.02 and k > 2:  # a rollback to an older sha
            sha = order[max(0, i - 50)]
        deps.append(
            Deploy(f"d{r}-{k}", env, sha, status, times[i] + timedelta(hours=2), "api", env)
        )
    return parents, times, deps


def naive(parents: dict[str, list[str]], deps: list[Deploy]) -> int:
    total = 0
    for env in {d.environment for d in deps}:
        before: set[str] = set()
        for d in sorted(
            (x for x in deps if x.environment == env and x.status == "success"),
            key=lambda x: (x.at, x.id),
        ):
            seen = {d.sha}
            todo = [d.sha]
            while todo:
                for p in parents.get(todo.pop(), ()):
                    if p not in seen:
                        seen.add(p)
                        todo.append(p)
            total += len(seen - before)
            before |= seen
    return total


def write_store(
    db: Path, repos: list[tuple[dict[str, list[str]], list[datetime], list[Deploy]]]
) -> None:
    store = open_store(f"duckdb:///{db}")
    try:
        store.write_records([])
        store.upsert(
            "repositories",
            [
                {"id": f"git:r{r}", "source": "git", "full_name": f"r{r}", "name": f"r{r}"}
                for r in range(len(repos))
            ],
        )
        for r, (parents, times, deps) in enumerate(repos):
            shas = list(parents)
            n = len(shas)
            table = pa.table(
                {
                    "repository_id": pa.array([f"git:r{r}"] * n),
                    "sha": pa.array(shas),
                    "committed_at": pa.array(times, type=pa.timestamp("us", tz="UTC")),
                    "message": pa.array(["change"] * n),
                    "files_changed": pa.array([1] * n, type=pa.int64()),
                    "is_merge": pa.array([len(parents[s]) > 1 for s in shas]),
                    "parents": pa.array([json.dumps(parents[s]) for s in shas]),
                    "_version": pa.array([1] * n, type=pa.int64()),
                    "_source": pa.array(["git"] * n),
                }
            )
            store.query("SELECT 1")
            con = store._con  # type: ignore[attr-defined]  # bulk load, benchmark only
            con.register("_b", table)
            con.execute(
                "INSERT INTO commits (repository_id, sha, committed_at, message, files_changed, "
                "is_merge, parents, _version, _source) SELECT * FROM _b"
            )
            con.unregister("_b")
            store.upsert("deployments", [_dep_row(r, d) for d in deps], version=1)
    finally:
        store.close()


def _dep_row(r: int, d: Deploy) -> dict[str, object]:
    return {
        "repository_id": f"git:r{r}",
        "deployment_id": d.id,
        "environment": d.environment,
        "environment_kind": d.kind,
        "sha": d.sha,
        "status": d.status,
        "created_at": d.at - timedelta(minutes=5),
        "finished_at": d.at,
        "source": d.source,
    }


def analyze_runs(db: Path, rnd: random.Random) -> dict[str, float]:
    """``analyze dora`` full (no DORA rows yet), forced, after 100 new production deployments
    (each the latest of a random repository, at its newest commit) and with nothing new."""
    store = open_store(f"duckdb:///{db}")
    out: dict[str, float] = {}
    try:
        for table in DORA_OUTPUTS:  # a first analysis: no DORA rows yet (not timed)
            store.execute(f"DELETE FROM {table}")
        store.execute("DELETE FROM analytics_state WHERE target = 'dora'")
        full = analyze(store, AnalyzeOptions(target="dora"))
        out["full_s"], out["full_cpu_s"] = full.seconds, sum(full.phases_cpu.values())
        print(
            f"analyze dora full: {full.seconds:.2f} s wall, {out['full_cpu_s']:.2f} s CPU",
            file=sys.stderr,
        )
        forced = analyze(store, AnalyzeOptions(target="dora", force_refresh=True))
        out["force_refresh_s"] = forced.seconds
        out["force_refresh_cpu_s"] = sum(forced.phases_cpu.values())
        newest = store.query(
            "SELECT repository_id, arg_max(sha, committed_at), max(committed_at) FROM commits "
            "GROUP BY repository_id ORDER BY repository_id"
        )
        stamp = int(time.time())
        new = []
        for k in range(100):
            rid, sha, at = newest[rnd.randrange(len(newest))]
            r = int(str(rid).removeprefix("git:r"))
            when = at + timedelta(days=1, minutes=k)
            new.append(
                _dep_row(
                    r,
                    Deploy(
                        f"new-{stamp}-{k}", "production", sha, "success", when, "api", "production"
                    ),
                )
            )
        store.upsert("deployments", new)
        inc = analyze(store, AnalyzeOptions(target="dora"))
        out["incremental_100_s"] = inc.seconds
        out["incremental_100_cpu_s"] = sum(inc.phases_cpu.values())
        noop = analyze(store, AnalyzeOptions(target="dora"))
        out["nothing_new_s"] = noop.seconds
        out["load_average_1m"] = os.getloadavg()[0]
    finally:
        store.close()
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description="forgelens DORA benchmark")
    ap.add_argument("--commits", type=int, default=1_000_000)
    ap.add_argument("--deploys", type=int, default=20_000)
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--db", type=Path, default=Path("/tmp/forgelens-dora-bench.duckdb"))
    ap.add_argument("--sample", type=int, default=10, help="repositories timed the naive way")
    ap.add_argument("--reuse", action="store_true", help="keep the store --db if it exists")
    ap.add_argument(
        "--previous",
        type=Path,
        help="a src/ directory of the previous code: its analysis runs on a copy of the store "
        "in the same run, for the ratio (e.g. `git archive main src | tar -x -C /tmp/prev`)",
    )
    ap.add_argument("--analyze-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    rnd = random.Random(18)
    if args.analyze_only:  # the --previous child: the analysis figures as one JSON line
        print(json.dumps(analyze_runs(args.db, rnd)))
        return
    t = time.perf_counter()
    repos = [
        gen_repo(r, args.commits // args.repos, args.deploys // args.repos, rnd)
        for r in range(args.repos)
    ]
    print(
        f"generated {args.commits:,} commits, {args.deploys:,} deployments, "
        f"{args.repos} repositories in {time.perf_counter() - t:.1f} s"
    )

    t, c = time.perf_counter(), time.process_time()
    linked = 0
    for parents, _times, deps in repos:
        linked += sum(len(v) for v in link(parents, deps).commits.values())
    link_s, link_cpu = time.perf_counter() - t, time.process_time() - c
    c = time.process_time()
    for parents, _times, deps in repos[: args.sample]:
        naive(parents, deps)
    naive_cpu = (time.process_time() - c) * args.repos / args.sample
    print(
        f"linking: {link_s:.2f} s wall, {link_cpu:.2f} s CPU ({linked:,} commits linked); "
        f"naive reference (CPU, scaled from {args.sample} repos): {naive_cpu:.1f} s; "
        f"ratio {naive_cpu / link_cpu:.1f}x"
    )

    if not (args.reuse and args.db.exists()):
        for p in (args.db, args.db.with_suffix(".duckdb.wal")):
            p.unlink(missing_ok=True)
        t = time.perf_counter()
        write_store(args.db, repos)
        print(f"store written in {time.perf_counter() - t:.1f} s: {args.db}")

    figures = analyze_runs(args.db, rnd)
    previous: dict[str, float] = {}
    if args.previous is not None:  # the same runs with the previous code, on a copy
        copy = args.db.with_name(args.db.stem + "-previous.duckdb")
        shutil.copy(args.db, copy)
        env = {**os.environ, "PYTHONPATH": str(args.previous)}
        done = subprocess.run(
            [sys.executable, __file__, "--analyze-only", "--db", str(copy)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        previous = json.loads(done.stdout.strip().splitlines()[-1])
        copy.unlink(missing_ok=True)
        print(f"previous code ({args.previous}): {previous}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "commits": args.commits,
        "deployments": args.deploys,
        "repositories": args.repos,
        "linking_s": round(link_s, 3),
        "linking_cpu_s": round(link_cpu, 3),
        "linked_commits": linked,
        "naive_linking_cpu_s_scaled": round(naive_cpu, 3),
        "ratio_naive_over_linking_cpu": round(naive_cpu / link_cpu, 2),
        **{f"analyze_dora_{k}": v for k, v in figures.items() if k != "load_average_1m"},
        "load_average_1m": round(os.getloadavg()[0], 1),
        "load_average_1m_during_analysis": figures["load_average_1m"],
        "previous_code": {
            **{f"analyze_dora_{k}": v for k, v in previous.items() if k != "load_average_1m"},
            "load_average_1m": previous.get("load_average_1m"),
        }
        if previous
        else None,
        "ratio_previous_over_new_cpu": {
            k: round(previous[k] / figures[k], 2)
            for k in ("full_cpu_s", "force_refresh_cpu_s", "incremental_100_cpu_s")
            if previous and figures.get(k)
        }
        or None,
        "peak_rss_mb": round(rss_mb),
        "goals": {"linking_s": 10, "full_s": 10, "incremental_s": 1},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dora.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
