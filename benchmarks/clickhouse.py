"""chDB (embedded ClickHouse) against DuckDB on the same data, through the same Store API.

1. Insert N ``commit_files`` rows (default 10,000,000) in 1,000,000-row Arrow blocks
   (``store.upsert``: DuckDB's INSERT ... ON CONFLICT, ClickHouse's append-only insert).
2. Load N pull requests (plus 10% re-written with a newer ``_version``, so reads must dedupe) and
   N/5 commits, then run seed-002-style aggregations with the same SQL on both engines:
   per-author daily PR counts, 7/14/30/90-day window sums over them, per-file ownership shares.
   (``forgelens.analytics`` is not on this branch: ``analyze all`` on ClickHouse remains for the
   integration.)
3. On chDB, the cost of deduplicating reads: ``FINAL`` (what the store does) against an
   ``argMax`` rewrite and against no deduplication at all.

    nice -n 10 .venv/bin/python benchmarks/clickhouse.py            # 10M, writes results JSON
    .venv/bin/python benchmarks/clickhouse.py --rows 200000 --no-save  # a quick look

``--analyze``: the full analytics (``analyze all``, the CLI's entry point) on a store generated
by ``benchmarks/gen_store.py`` with ``--prs`` PRs (default 10,000,000) on chDB, and on DuckDB
with ``--duckdb-prs`` PRs (default the same; DuckDB at 10M needs a large disk file and a long
generation, so ``--duckdb-prs 1000000`` gives its 1M figure for reference). Each engine runs in
a process of its own (peak RSS is its own) on a fresh copy of the generated store; phase times
are printed side by side; results go to ``results/clickhouse_analytics.json``.

    nice -n 10 .venv/bin/python benchmarks/clickhouse.py --analyze
    .venv/bin/python benchmarks/clickhouse.py --analyze --prs 200000 --repos 50 --no-save
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forgelens.analytics.runner import BATCH_PRS
from forgelens.store import Store, open_store
from forgelens.store._arrow import ARROW_TYPES, writable_columns

BLOCK = 1_000_000
REPOS = 200
AUTHORS = 5_000
START = int(datetime(2025, 7, 1, tzinfo=UTC).timestamp())
RESULTS = Path(__file__).parent / "results" / "clickhouse.json"
ANALYTICS_RESULTS = Path(__file__).parent / "results" / "clickhouse_analytics.json"
GEN = Path(__file__).parent / "gen_store.py"


def _prefixed(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _full(store: Store, table: str, cols: dict[str, Any]) -> pa.Table:
    """``cols`` plus every other writable column as nulls (so no store merges stored values)."""
    n = len(next(iter(cols.values())))
    arrays = {
        c: cols[c] if c in cols else pa.nulls(n, ARROW_TYPES[t])
        for c, t in writable_columns(store.table_spec(table))
    }
    return pa.table(arrays)


def commit_files_block(store: Store, start: int, n: int, rng: np.random.Generator) -> pa.Table:
    i = np.arange(start, start + n)
    return _full(
        store,
        "commit_files",
        {
            "repository_id": _prefixed("github:org/repo", i % REPOS),
            "sha": _prefixed("c", i // 5),
            "path": _prefixed("src/module/file_", (i % 5) * 1000 + (i // 5) % 997),
            "additions": pa.array(rng.integers(0, 200, n)),
            "deletions": pa.array(rng.integers(0, 100, n)),
            "change_type": pa.array(np.where(i % 7 == 0, "added", "modified")),
            "_version": pa.array(np.full(n, 1_000, dtype=np.int64)),
        },
    )


def commits_block(store: Store, start: int, n: int, rng: np.random.Generator) -> pa.Table:
    c = np.arange(start, start + n)
    authors = _prefixed("dev", rng.zipf(1.3, n) % AUTHORS)
    when = pa.array((START + rng.integers(0, 365 * 86400, n)) * 1_000_000).cast(
        pa.timestamp("us", tz="UTC")
    )
    return _full(
        store,
        "commits",
        {
            # commit c touched the five commit_files rows 5c..5c+4 (all in repo (5c) % REPOS)
            "repository_id": _prefixed("github:org/repo", (c * 5) % REPOS),
            "sha": _prefixed("c", c),
            "author_email": pc.binary_join_element_wise(authors, "@example.com", ""),
            "authored_at": when,
            "committed_at": when,
            "message": pa.array(np.full(n, "change")),
            "_version": pa.array(np.full(n, 1_000, dtype=np.int64)),
        },
    )


def prs_block(store: Store, start: int, n: int, rng: np.random.Generator, version: int) -> pa.Table:
    i = np.arange(start, start + n)
    created = START + rng.integers(0, 365 * 86400, n)
    merged = rng.random(n) < 0.6
    ts = pa.timestamp("us", tz="UTC")
    return _full(
        store,
        "pull_requests",
        {
            "repository_id": _prefixed("github:org/repo", i % REPOS),
            "number": pa.array(i // REPOS + 1),
            "title": pa.array(np.full(n, "Improve things")),
            "state": pa.array(np.where(merged, "merged", "open")),
            "created_at": pa.array(created * 1_000_000).cast(ts),
            "updated_at": pa.array(created * 1_000_000).cast(ts),
            "author": _prefixed("dev", rng.zipf(1.3, n) % AUTHORS),
            "merged_at": pa.array(np.where(merged, (created + 86400) * 1_000_000, 0)).cast(ts),
            "additions": pa.array(rng.integers(0, 800, n)),
            "deletions": pa.array(rng.integers(0, 300, n)),
            "changed_files": pa.array(rng.integers(1, 30, n)),
            "labels": pa.array(np.full(n, "[]")),
            "_version": pa.array(np.full(n, version, dtype=np.int64)),
        },
    )


# The same SQL on both engines (the dialects agree on this much).
DAILY = """
    SELECT author, repository_id, CAST(created_at AS DATE) AS day,
           count(*) AS prs_submitted,
           sum(CASE WHEN state = 'merged' THEN 1 ELSE 0 END) AS prs_merged,
           sum(coalesce(additions, 0) + coalesce(deletions, 0)) AS lines_changed,
           sum(CASE WHEN additions + deletions > 900 THEN 1 ELSE 0 END) AS high_risk_prs
    FROM pull_requests
    GROUP BY author, repository_id, CAST(created_at AS DATE)
"""
QUERIES: dict[str, str] = {
    "author_daily_pr_counts": f"""
        SELECT count(*), sum(prs_submitted), sum(prs_merged), sum(lines_changed)
        FROM ({DAILY}) AS d""",
    "author_window_sums_7_14_30_90": f"""
        WITH daily AS ({DAILY}),
             w AS (SELECT 7 AS days UNION ALL SELECT 14 UNION ALL SELECT 30 UNION ALL SELECT 90)
        SELECT count(*), sum(prs), sum(merged), sum(lines), sum(risky) FROM (
            SELECT w.days, daily.author, daily.repository_id,
                   sum(daily.prs_submitted) AS prs, sum(daily.prs_merged) AS merged,
                   sum(daily.lines_changed) AS lines, sum(daily.high_risk_prs) AS risky
            FROM daily CROSS JOIN w
            WHERE daily.day > DATE '2026-06-30' - w.days AND daily.day <= DATE '2026-06-30'
            GROUP BY w.days, daily.author, daily.repository_id
        ) AS x""",
    "file_ownership_shares": """
        WITH lines AS (
            SELECT c.author_email AS author, f.repository_id AS repo, f.path AS path,
                   sum(coalesce(f.additions, 0) + coalesce(f.deletions, 0)) AS n
            FROM commit_files AS f
            JOIN commits AS c ON c.repository_id = f.repository_id AND c.sha = f.sha
            GROUP BY c.author_email, f.repository_id, f.path
        )
        SELECT count(*), round(sum(share), 3) FROM (
            SELECT n * 1.0 / nullif(sum(n) OVER (PARTITION BY repo, path), 0) AS share
            FROM lines
        ) AS s""",
}

# chDB only: the daily aggregation with argMax instead of FINAL, and with no dedup at all.
ARGMAX_DAILY = QUERIES["author_daily_pr_counts"].replace(
    "FROM pull_requests",
    """FROM (SELECT repository_id, number, argMax(author, _version) AS author,
                 argMax(created_at, _version) AS created_at, argMax(state, _version) AS state,
                 argMax(additions, _version) AS additions,
                 argMax(deletions, _version) AS deletions
          FROM pull_requests GROUP BY repository_id, number) AS pr""",
)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def load(store: Store, table: str, total: int, make: Callable[[int, int], pa.Table]) -> float:
    """Upsert ``total`` rows in blocks; seconds spent in the store only (not generating)."""
    spent = 0.0
    for start in range(0, total, BLOCK):
        block = make(start, min(BLOCK, total - start))
        spent += timed(lambda b=block: store.upsert(table, b))[0]
    return spent


def run_engine(name: str, url: str, rows: int) -> dict[str, Any]:
    store = open_store(url)
    out: dict[str, Any] = {}
    try:
        rng = np.random.default_rng(7)
        secs = load(store, "commit_files", rows, lambda s, n: commit_files_block(store, s, n, rng))
        out["insert_commit_files_s"] = round(secs, 2)
        out["insert_commit_files_rows_per_sec"] = round(rows / secs)
        print(f"{name}: inserted {rows:,} commit_files in {secs:.1f}s", flush=True)
        rng = np.random.default_rng(11)
        secs = load(store, "commits", rows // 5, lambda s, n: commits_block(store, s, n, rng))
        secs += load(store, "pull_requests", rows, lambda s, n: prs_block(store, s, n, rng, 1_000))
        # 10% of the PRs written again, newer: reads must see each PR once
        secs += load(
            store,
            "pull_requests",
            rows // 10,
            lambda s, n: prs_block(store, s, n, rng, 2_000),
        )
        out["load_prs_and_commits_s"] = round(secs, 2)
        print(f"{name}: loaded {rows:,} PRs (+10% rewritten), {rows // 5:,} commits", flush=True)
        total = 0.0
        for qname, sql in QUERIES.items():
            secs, result = timed(lambda sql=sql: store.query(sql))
            total += secs
            out[qname + "_s"] = round(secs, 2)
            out[qname + "_result"] = [str(v) for v in result[0]]
            print(f"{name}: {qname} {secs:.2f}s -> {result[0]}", flush=True)
        out["analytics_total_s"] = round(total, 2)
        if store.capabilities.final_reads:
            for label, sql in {
                "daily_final_s": QUERIES["author_daily_pr_counts"],
                "daily_argmax_s": ARGMAX_DAILY,
                "daily_no_dedup_s": QUERIES["author_daily_pr_counts"] + " SETTINGS final = 0",
            }.items():
                out[label] = round(timed(lambda sql=sql: store.query(sql))[0], 2)
                print(f"{name}: {label} {out[label]}", flush=True)
            secs = timed(lambda: store.optimize("pull_requests"))[0]  # type: ignore[attr-defined]
            out["optimize_final_prs_s"] = round(secs, 2)
            secs = timed(lambda: store.query(QUERIES["author_daily_pr_counts"]))[0]
            out["daily_final_after_optimize_s"] = round(secs, 2)
            print(f"{name}: after OPTIMIZE, daily {secs:.2f}s", flush=True)
    finally:
        store.close()
    return out


def _analyzed(result: Any, cpu_before: float) -> dict[str, Any]:
    return {
        "analyzed_prs": result.prs,
        "repositories": result.repositories,
        "batches": result.batches,
        "seconds": round(result.seconds, 2),
        "cpu_seconds": round(sum(result.phases_cpu.values()), 2),
        "process_cpu_seconds": round(time.process_time() - cpu_before, 2),
        "phases": {k: round(v, 2) for k, v in result.phases.items()},
        "phases_cpu": {k: round(v, 2) for k, v in result.phases_cpu.items()},
    }


def analyze_once(url: str, new_prs: int, batch_prs: int) -> dict[str, Any]:
    """``analyze all`` on the store at ``url`` (in this process), then ``new_prs`` new PRs
    written and ``analyze all`` again (incremental); phases and peak RSS."""
    from gen_store import add_to_store  # benchmarks/, this script's directory

    from forgelens.analytics import AnalyzeOptions, analyze

    store = open_store(url)
    try:
        prs = int(store.query("SELECT count(*) FROM pull_requests")[0][0])
        cpu = time.process_time()
        full = _analyzed(analyze(store, AnalyzeOptions(target="all", batch_prs=batch_prs)), cpu)
        rss_full = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        out = {"store_prs": prs, **full, "peak_rss_gb": round(rss_full, 2)}
        if new_prs:
            now_s = int(datetime.now(UTC).timestamp())
            gen = argparse.Namespace(add_prs=new_prs, repos=REPOS_GEN[0], authors=REPOS_GEN[1])
            add_to_store(store, gen, now_s, time.time_ns() // 1_000_000)
            cpu = time.process_time()
            inc = analyze(store, AnalyzeOptions(target="all", batch_prs=batch_prs))
            out["after_new_prs"] = {"new_prs": new_prs, **_analyzed(inc, cpu)}
    finally:
        store.close()
    return out


REPOS_GEN = [500, 20_000]  # --repos, --authors of the generated store (set by main)


def _generated(engine: str, prs: int, repos: int, authors: int) -> Path:
    """The generated store for these sizes (made once, then reused)."""
    if engine == "duckdb":  # the same file benchmarks/analytics.py makes and reuses
        base = Path(f"/tmp/forgelens-bench-base-{prs}-{repos}.duckdb")
        where = ["--out", str(base)]
    else:
        base = Path(f"/tmp/forgelens-bench-chdb-{prs}-{repos}")
        where = ["--target", f"chdb:///{base}"]
    if not base.exists():
        sizes = ["--prs", str(prs), "--repos", str(repos), "--authors", str(authors)]
        started = time.perf_counter()
        subprocess.run([sys.executable, str(GEN), *where, *sizes], check=True)
        print(f"{engine}: generated {prs:,} PRs in {time.perf_counter() - started:.0f}s")
    return base


def analyze_engine(
    engine: str, prs: int, args: argparse.Namespace, batch_prs: int
) -> dict[str, Any]:
    """Copy the generated store, run ``analyze all`` (and the incremental run after
    ``--new-prs``) on the copy in a fresh process."""
    base = _generated(engine, prs, args.repos, args.authors)
    work = Path(tempfile.mkdtemp(prefix=f"fl-bench-analyze-{engine}-"))
    try:
        if engine == "duckdb":
            shutil.copyfile(base, work / "bench.duckdb")
            url = f"duckdb:///{work / 'bench.duckdb'}"
        else:
            shutil.copytree(base, work / "chdb", symlinks=True)  # relative links inside
            url = f"chdb:///{work / 'chdb'}"
        load = os.getloadavg()
        internal = ["--analyze-url", url, "--new-prs", str(args.new_prs)]
        sizes = ["--repos", str(args.repos), "--authors", str(args.authors)]
        done = subprocess.run(
            [sys.executable, __file__, *internal, *sizes, "--batch-prs", str(batch_prs)],
            check=True,
            stdout=subprocess.PIPE,  # its errors go straight to ours
            text=True,
        )
        out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        out["load_average_before"] = [round(x, 2) for x in load]
        out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        inc = out.get("after_new_prs", {})
        print(
            f"{engine} {prs:,} PRs ({out['batches']} batches): analyze all {out['seconds']:.1f}s "
            f"({out['cpu_seconds']:.0f} CPU s, {out['peak_rss_gb']} GB); after "
            f"{inc.get('new_prs', 0):,} new PRs {inc.get('seconds', 0.0):.1f}s",
            flush=True,
        )
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_analytics(args: argparse.Namespace) -> None:
    """chDB at ``--prs`` and at ``--small-prs`` (the per-million reference), in batches of
    ``--batch-prs``; DuckDB at ``--duckdb-prs`` when given."""
    runs = {
        "chdb": analyze_engine("chdb", args.prs, args, args.batch_prs),
        "chdb_small": analyze_engine("chdb", args.small_prs, args, args.batch_prs),
    }
    if args.one_batch:  # the same store in one batch (the code before scope.batches)
        runs["chdb_one_batch"] = analyze_engine("chdb", args.prs, args, 0)
    if args.duckdb_prs:
        runs["duckdb"] = analyze_engine("duckdb", args.duckdb_prs, args, args.batch_prs)
    sizes = {"chdb": args.prs, "chdb_small": args.small_prs, "chdb_one_batch": args.prs}
    sizes["duckdb"] = args.duckdb_prs
    print(f"\n{'phase':16}" + "".join(f"{k + ' ' + f'{sizes[k]:,}':>26}" for k in runs))
    for phase in runs["chdb"]["phases"]:
        print(
            f"{phase:16}" + "".join(f"{r['phases'].get(phase, 0.0):>26.2f}" for r in runs.values())
        )
    for label, key in (
        ("total s", "seconds"),
        ("cpu s", "cpu_seconds"),
        ("peak RSS GB", "peak_rss_gb"),
    ):
        print(f"{label:16}" + "".join(f"{r[key]:>26.2f}" for r in runs.values()))
    cpu_per_m = {k: r["cpu_seconds"] / (sizes[k] / 1e6) for k, r in runs.items()}
    ratio = cpu_per_m["chdb"] / cpu_per_m["chdb_small"]
    inc = runs["chdb"].get("after_new_prs", {})
    print(
        f"CPU s per 1M PRs: {', '.join(f'{k} {v:.1f}' for k, v in cpu_per_m.items())}; "
        f"chDB {args.prs:,} / {args.small_prs:,}: {ratio:.2f}x (goal <= 1.2x: "
        f"{'met' if ratio <= 1.2 else 'not met'}); analyze all after {args.new_prs:,} new PRs "
        f"on {args.prs:,}: {inc.get('seconds', 0.0):.1f}s (goal <= 30 s: "
        f"{'met' if inc and inc['seconds'] <= 30 else 'not met'})"
    )
    result = {
        "benchmark": "clickhouse --analyze",
        "command": " ".join(["benchmarks/clickhouse.py", *sys.argv[1:]]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "dataset": {"repos": args.repos, "authors": args.authors},
        "goals": {
            "cpu_seconds_per_million_large_over_small": 1.2,
            "analyze_all_after_new_prs_seconds": 30,
        },
        "batch_prs": args.batch_prs,
        "prs": sizes,
        "runs": runs,
        "cpu_seconds_per_million_prs": {k: round(v, 2) for k, v in cpu_per_m.items()},
        "cpu_per_million_large_over_small": round(ratio, 3),
        "after_new_prs_seconds": inc.get("seconds"),
    }
    if not args.no_save:
        ANALYTICS_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        ANALYTICS_RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {ANALYTICS_RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--analyze", action="store_true", help="The analyze all comparison.")
    parser.add_argument("--prs", type=int, default=10_000_000)
    parser.add_argument("--small-prs", type=int, default=1_000_000, help="The reference size.")
    parser.add_argument("--duckdb-prs", type=int, default=0, help="Default: no DuckDB run.")
    parser.add_argument("--new-prs", type=int, default=10_000, help="Then analyze all again.")
    parser.add_argument("--batch-prs", type=int, default=BATCH_PRS)
    parser.add_argument("--one-batch", action="store_true", help="Also --prs in one batch.")
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--authors", type=int, default=20_000)
    parser.add_argument("--analyze-url", help=argparse.SUPPRESS)  # one engine's run (internal)
    args = parser.parse_args()
    REPOS_GEN[:] = [args.repos, args.authors]
    if args.analyze_url:
        print(json.dumps(analyze_once(args.analyze_url, args.new_prs, args.batch_prs)))
        return
    if args.analyze:
        bench_analytics(args)
        return
    work = Path(tempfile.mkdtemp(prefix="fl-bench-ch-"))
    try:
        chdb = run_engine("chdb", f"chdb:///{work / 'chdb'}", args.rows)
        duck = run_engine("duckdb", f"duckdb:///{work / 'bench.duckdb'}", args.rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'figure':38} {'chdb':>10} {'duckdb':>10} {'duckdb/chdb':>12}")
    for key in [k for k in chdb if k.endswith("_s") and k in duck]:
        ratio = duck[key] / chdb[key] if chdb[key] else float("nan")
        print(f"{key:38} {chdb[key]:>10.2f} {duck[key]:>10.2f} {ratio:>12.2f}")
    for key in [k for k in chdb if k.endswith("_result")]:
        if chdb[key] != duck[key]:
            print(f"RESULTS DIFFER for {key}: chdb {chdb[key]} duckdb {duck[key]}")
    result = {
        "benchmark": "clickhouse",
        "rows": args.rows,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_version()}",
        "goal": "full analytics on 10,000,000 PRs within 60 s (chDB)",
        "chdb": chdb,
        "duckdb": duck,
        "analytics_speedup_chdb_vs_duckdb": round(
            duck["analytics_total_s"] / chdb["analytics_total_s"], 2
        ),
        "insert_speedup_chdb_vs_duckdb": round(
            duck["insert_commit_files_s"] / chdb["insert_commit_files_s"], 2
        ),
    }
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
