"""``ai_impact_weekly`` incrementally (issues #16/#19): the ``ai_impact`` phase's CPU seconds in
an ``analyze all`` after 1,000 new PRs on the 1M-PR store, against the reference — the whole-table
rebuild every run made before (``write_impact(full=True)``) — on the same store in the same run,
as a ratio; and the incremental table checked equal to that rebuild row by row (floats within
1e-9 relative: two whole rebuilds differ in the last bits, DuckDB sums in no fixed order).

    PYTHONPATH=src python benchmarks/ai_impact_incremental.py \\
        --base /tmp/forgelens-bench-base-1000000-500.duckdb --work /tmp/ai-impact-work.duckdb

Writes benchmarks/results/ai_impact_incremental.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgelens.analytics import AnalyzeOptions, AnalyzeResult, ai_impact, analyze
from forgelens.analytics._ctx import Ctx
from forgelens.analytics.config import AnalyticsConfig
from forgelens.store import Store, now_version, open_store

HERE = Path(__file__).resolve().parent
ROWS = "SELECT * EXCLUDE (updated_at, _version, _source) FROM ai_impact_weekly"


def _analyze(db: Path, force: bool) -> AnalyzeResult:
    store = open_store(f"duckdb:///{db}")
    try:
        return analyze(store, AnalyzeOptions(target="all", force_refresh=force))
    finally:
        store.close()


def _rows(store: Store) -> list[tuple[Any, ...]]:
    return sorted(store.query(ROWS), key=lambda r: repr(r[:3]))


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    def eq(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
        return bool(x == y)

    return len(a) == len(b) and all(
        len(r) == len(s) and all(eq(x, y) for x, y in zip(r, s, strict=True))
        for r, s in zip(a, b, strict=True)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--base", type=Path, default=Path("/tmp/forgelens-bench-base-1000000-500.duckdb")
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/forgelens-bench-ai-impact.duckdb"))
    ap.add_argument("--new-prs", type=int, default=1_000)
    args = ap.parse_args()
    if not args.base.exists():
        sys.exit(f"no store {args.base}: generate it with benchmarks/analytics.py first")
    shutil.copyfile(args.base, args.work)
    full = _analyze(args.work, force=True)
    gen = [sys.executable, str(HERE / "gen_store.py"), "--out", str(args.work)]
    sizes = ["--repos", "500", "--authors", "20000", "--add-prs", str(args.new_prs)]
    subprocess.run([*gen, *sizes], check=True)
    load = os.getloadavg()
    incr = _analyze(args.work, force=False)
    store = open_store(f"duckdb:///{args.work}")
    try:
        incremental_rows = _rows(store)
        now = datetime.now(UTC)
        ctx = Ctx(store, AnalyticsConfig(), now_version(), now, now.date())
        cpu, wall = time.process_time(), time.perf_counter()
        ai_impact.write_impact(ctx, full=True)
        ref_cpu, ref_wall = time.process_time() - cpu, time.perf_counter() - wall
        equal = _same(incremental_rows, _rows(store))
    finally:
        store.close()
    new_cpu = incr.phases_cpu["ai_impact"]
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"full analyze all: ai_impact {full.phases_cpu['ai_impact']:.2f} CPU s")
    print(
        f"after {args.new_prs:,} new PRs: ai_impact {new_cpu:.2f} CPU s "
        f"({incr.phases['ai_impact']:.2f} s wall), whole analyze all "
        f"{sum(incr.phases_cpu.values()):.2f} CPU s"
    )
    print(f"reference, the whole-table rebuild: {ref_cpu:.2f} CPU s ({ref_wall:.2f} s wall)")
    print(
        f"ratio {new_cpu / ref_cpu:.3f}; equal to the rebuild: {equal} "
        f"({len(incremental_rows):,} rows)"
    )
    out = {
        "when": now.isoformat(),
        "load_average": load,
        "new_prs": args.new_prs,
        "ai_impact_cpu_seconds": new_cpu,
        "ai_impact_seconds": incr.phases["ai_impact"],
        "analyze_all_cpu_seconds": sum(incr.phases_cpu.values()),
        "reference_whole_rebuild_cpu_seconds": ref_cpu,
        "reference_whole_rebuild_seconds": ref_wall,
        "ratio": new_cpu / ref_cpu,
        "equal_to_rebuild": equal,
        "rows": len(incremental_rows),
    }
    (HERE / "results" / "ai_impact_incremental.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
