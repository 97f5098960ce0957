"""Analytics benchmark: full ``analyze all`` on a synthetic store, then an incremental run
after 1,000 new PRs, then another after 1,000 more on the next day (a daily run: the window and
ownership snapshots move to a new end date), then one after 1,000 PRs of the last 90 days
changed late (checked equal, table by table, to a --force-refresh of a copy). Prints each
phase's wall and CPU time, peak RSS, and the ratio against seed 002's reported 30-60 minutes
per 10,000 PRs; writes benchmarks/results/analytics.json.

    nice -n 10 .venv/bin/python benchmarks/analytics.py            # 1M PRs (generates once)
    .venv/bin/python benchmarks/analytics.py --prs 20000 --repos 50 --authors 2000

Goals (issues #6 and #16, 2-core machine): full <= 40 s, incremental and next day <= 3 s, late
data <= 5 s and equal to full, peak RSS <= 4 GB.
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
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from forgelens.analytics import AnalyzeOptions, AnalyzeResult, analyze
from forgelens.store import open_store

HERE = Path(__file__).resolve().parent
SEED_MIN_PER_10K = (30.0, 60.0)  # seed 002: "Large Repository (> 10K PRs): 30-60 minutes"


def _run(db: Path, force: bool, days_later: int = 0) -> tuple[AnalyzeResult, float]:
    """The analysis, and the seconds closing the store took after it (DuckDB checkpoints
    there what the run left in its write-ahead log; shown apart, not in the total)."""
    store = open_store(f"duckdb:///{db}")
    try:
        end = datetime.now(UTC).date() + timedelta(days=days_later)
        result = analyze(store, AnalyzeOptions(target="all", force_refresh=force, end_date=end))
    except BaseException:
        store.close()
        raise
    started = time.perf_counter()
    store.close()
    return result, time.perf_counter() - started


def _print(title: str, result: AnalyzeResult, close_s: float) -> None:
    print(f"\n{title}: {result.prs:,} PRs, {result.repositories} repositories")
    print(f"  {'phase':<16}{'wall s':>9}{'cpu s':>9}")
    for name, wall in result.phases.items():
        print(f"  {name:<16}{wall:>9.2f}{result.phases_cpu.get(name, 0.0):>9.2f}")
    print(f"  {'total':<16}{result.seconds:>9.2f}{sum(result.phases_cpu.values()):>9.2f}")
    print(f"  (then closing the store, checkpoint included: {close_s:.2f} s)")


ANALYTICS_TABLES = (
    "repo_prs",
    "pr_facts",
    "authors",
    "author_metrics_daily",
    "author_metrics_window",
    "author_prs_window",
    "author_file_ownership",
    "delivery_metrics_weekly",
    "review_policy_violations",
    "review_policy_weekly",
)
WHEN = ("updated_at", "_version", "_source", "id")  # when a row was written, not what it holds


def _late_data(db: Path, prs: int, days_later: int) -> None:
    """``prs`` PRs opened in the last 90 days, spread evenly over them, change: a new title and
    a merge an hour later, written with a newer ``_version`` (what a re-collection does)."""
    import duckdb

    from forgelens.store._arrow import now_version

    con = duckdb.connect(str(db))
    try:
        con.execute(
            f"""
            UPDATE pull_requests SET title = 'feat: ' || title,
                merged_at = merged_at + INTERVAL 1 HOUR, _version = {now_version()}
            WHERE (repository_id, number) IN (
                SELECT repository_id, number FROM (
                    SELECT repository_id, number, row_number() OVER (ORDER BY hash(number,
                        repository_id)) AS rn
                    FROM pull_requests
                    WHERE created_at >= now() + INTERVAL {days_later} DAY - INTERVAL 90 DAY
                ) q WHERE rn <= {int(prs)})
            """
        )
    finally:
        con.close()


def _differences(a: Path, b: Path) -> dict[str, int]:
    """Rows of each analytics table in one store and not the other (both ways)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        out = {}
        for t in ANALYTICS_TABLES:
            cols = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = 'a' "
                    "AND table_name = ? ORDER BY column_index",
                    [t],
                ).fetchall()
                if c not in WHEN
            ]
            sel = ", ".join(cols)
            n = con.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {sel} FROM a.{t} EXCEPT ALL "
                f"SELECT {sel} FROM b.{t})) + (SELECT count(*) FROM (SELECT {sel} FROM b.{t} "
                f"EXCEPT ALL SELECT {sel} FROM a.{t}))"
            ).fetchone()
            out[t] = int(n[0]) if n else 0
        return out
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description="forgelens analytics benchmark")
    ap.add_argument("--prs", type=int, default=1_000_000)
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--authors", type=int, default=20_000)
    ap.add_argument("--new-prs", type=int, default=1_000)
    ap.add_argument("--late-prs", type=int, default=1_000, help="PRs changed late (90 days).")
    ap.add_argument("--base", type=Path, default=None, help="Generated store to reuse.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/forgelens-bench-analytics.duckdb"))
    args = ap.parse_args()
    base = args.base or Path(f"/tmp/forgelens-bench-base-{args.prs}-{args.repos}.duckdb")
    gen = [sys.executable, str(HERE / "gen_store.py")]
    sizes = ["--repos", str(args.repos), "--authors", str(args.authors)]
    if not base.exists():
        subprocess.run([*gen, "--out", str(base), "--prs", str(args.prs), *sizes], check=True)
    shutil.copyfile(base, args.work)
    load_before = os.getloadavg()

    full, full_close = _run(args.work, force=True)
    _print("full analyze all", full, full_close)
    subprocess.run(
        [*gen, "--out", str(args.work), "--add-prs", str(args.new_prs), *sizes], check=True
    )
    incr, incr_close = _run(args.work, force=False)
    _print(f"incremental after {args.new_prs:,} new PRs", incr, incr_close)
    subprocess.run(
        [*gen, "--out", str(args.work), "--add-prs", str(args.new_prs), *sizes], check=True
    )
    daily, daily_close = _run(args.work, force=False, days_later=1)
    _print(f"next day: incremental after {args.new_prs:,} more PRs", daily, daily_close)
    _late_data(args.work, args.late_prs, days_later=1)
    late, late_close = _run(args.work, force=False, days_later=1)
    _print(f"late data: {args.late_prs:,} PRs of the last 90 days changed", late, late_close)
    full_copy = args.work.with_suffix(".full.duckdb")
    shutil.copyfile(args.work, full_copy)
    refresh, _ = _run(full_copy, force=True, days_later=1)
    diffs = _differences(args.work, full_copy)
    full_copy.unlink(missing_ok=True)
    late_equal = not any(diffs.values())
    print(f"  equal to --force-refresh ({refresh.seconds:.1f} s): {late_equal} {diffs}")
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024

    per_10k = full.seconds / (args.prs / 10_000)
    ref_low, ref_high = (m * 60 for m in SEED_MIN_PER_10K)
    print(f"\npeak RSS {peak_rss_gb:.2f} GB; load average before {load_before[0]:.1f}")
    print(
        f"{per_10k:.2f} s per 10,000 PRs vs seed 002's {ref_low:.0f}-{ref_high:.0f} s: "
        f"{ref_low / per_10k:,.0f}x-{ref_high / per_10k:,.0f}x faster"
    )
    print(
        f"goals: full {full.seconds:.1f} s (<= 40: {full.seconds <= 40}), incremental "
        f"{incr.seconds:.2f} s (<= 3: {incr.seconds <= 3}), next day {daily.seconds:.2f} s "
        f"(<= 3: {daily.seconds <= 3}), late data {late.seconds:.2f} s (<= 5: "
        f"{late.seconds <= 5}, equal to full: {late_equal}), RSS {peak_rss_gb:.2f} GB "
        f"(<= 4: {peak_rss_gb <= 4})"
    )
    out = {
        "command": " ".join(["benchmarks/analytics.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
        },
        "dataset": {"prs": args.prs, "repos": args.repos, "authors": args.authors},
        "full": {
            "seconds": full.seconds,
            "cpu_seconds": sum(full.phases_cpu.values()),
            "phases": full.phases,
            "phases_cpu": full.phases_cpu,
            "prs": full.prs,
            "close_seconds": full_close,
        },
        "incremental": {
            "new_prs": args.new_prs,
            "seconds": incr.seconds,
            "cpu_seconds": sum(incr.phases_cpu.values()),
            "phases": incr.phases,
            "phases_cpu": incr.phases_cpu,
            "prs": incr.prs,
            "repositories": incr.repositories,
            "close_seconds": incr_close,
        },
        "next_day_incremental": {
            "new_prs": args.new_prs,
            "seconds": daily.seconds,
            "cpu_seconds": sum(daily.phases_cpu.values()),
            "phases": daily.phases,
            "phases_cpu": daily.phases_cpu,
            "prs": daily.prs,
            "repositories": daily.repositories,
            "close_seconds": daily_close,
        },
        "late_data": {
            "changed_prs": args.late_prs,
            "seconds": late.seconds,
            "cpu_seconds": sum(late.phases_cpu.values()),
            "phases": late.phases,
            "phases_cpu": late.phases_cpu,
            "prs": late.prs,
            "close_seconds": late_close,
            "force_refresh_seconds": refresh.seconds,
            "rows_differing_from_force_refresh": diffs,
            "equal_to_force_refresh": late_equal,
        },
        "load_average_after": os.getloadavg(),
        "peak_rss_gb": peak_rss_gb,
        "reference": {
            "seed_002_seconds_per_10k_prs": [ref_low, ref_high],
            "ours_seconds_per_10k_prs": per_10k,
            "speedup": [ref_low / per_10k, ref_high / per_10k],
        },
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "analytics.json").write_text(json.dumps(out, indent=2) + "\n")
    args.work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
