"""What Shipped's data with features as ``analyze`` decided them (``repo_prs`` joined to
``pr_facts.is_feature``) against the earlier form of the same page (``repo_prs`` alone, a
feature by ``feature_confidence >= 0.5`` written into the dashboard), on one synthetic store,
in one run. Prints the median per form and their ratio; writes
benchmarks/results/what_shipped_features.json.

    nice -n 10 .venv/bin/python benchmarks/what_shipped_features.py --prs 200000
    nice -n 10 .venv/bin/python benchmarks/what_shipped_features.py --store /tmp/fl_bench.duckdb

``--store`` takes an already analysed store (e.g. the dashboards benchmark's) as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.service.dashboards.views_lens import what_shipped
from forgelens.store import Store, open_store

HERE = Path(__file__).resolve().parent

# The page's two queries as they were before features came from pr_facts (the reference).
EARLIER_GROUP = (
    "CASE WHEN COALESCE(feature_confidence, 0) >= 0.5 THEN 'feature' "
    "WHEN lower(CAST(labels_full AS VARCHAR)) LIKE '%bug%' "
    "OR lower(CAST(labels_full AS VARCHAR)) LIKE '%fix%' OR lower(title) LIKE 'fix%' "
    "OR lower(title) LIKE '%bug%' OR lower(title) LIKE '%hotfix%' "
    "OR lower(title) LIKE 'revert%' THEN 'fix' ELSE 'other' END"
)


def earlier_queries(since: datetime) -> list[tuple[str, list[object]]]:
    base = "FROM repo_prs WHERE is_merged AND merged_at >= ?"
    return [
        (
            "SELECT CAST(date_trunc('week', merged_at AT TIME ZONE 'UTC') AS DATE) AS week, "
            f"sum(CASE WHEN {EARLIER_GROUP} = 'feature' THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {EARLIER_GROUP} = 'fix' THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN {EARLIER_GROUP} = 'other' THEN 1 ELSE 0 END), "
            f"sum(CASE WHEN high_risk THEN 1 ELSE 0 END) {base} GROUP BY week ORDER BY week",
            [since],
        ),
        (
            f"SELECT repo_name, pr_number, {EARLIER_GROUP} AS g, title, author, merged_at, "
            "risk_score, high_risk, risk_reasons, top_risky_files, feature_rule, "
            f"feature_confidence, labels_full, pr_summary {base} "
            "ORDER BY high_risk DESC, risk_score DESC, merged_at DESC LIMIT ?",
            [since, 100],
        ),
    ]


class Recorder:
    """The store, noting each query the page makes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, list[object]]] = []

    def query(self, sql: str, params: list[object] | tuple[()] = ()) -> list[tuple[object, ...]]:
        self.calls.append((sql, list(params)))
        return self.store.query(sql, list(params))

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


def run_all(store: Store, queries: list[tuple[str, list[object]]]) -> None:
    for sql, params in queries:
        store.query(sql, params)


def timed(fn: Callable[..., object], *args: object, repeat: int = 1, **kw: object) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(*args, **kw)
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prs", type=int, default=200_000)
    ap.add_argument("--store", type=Path, help="an analysed DuckDB store to use as it is")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fl_ws_"))
    path = args.store
    if path is None:
        path = work / "bench.duckdb"
        gen = [sys.executable, str(HERE / "gen_store.py"), "--out", str(path)]
        subprocess.run([*gen, "--prs", str(args.prs)], check=True)
        store = open_store(f"duckdb:///{path}")
        started = time.perf_counter()
        analyze(store, AnalyzeOptions(target="all"))
        print(f"analyze all: {time.perf_counter() - started:.1f}s", flush=True)
        store.close()
    store = open_store(f"duckdb:///{path}", read_only=True)
    prs = store.query("SELECT count(*) FROM repo_prs")[0][0]
    out: dict[str, object] = {"prs": prs, "repeat": args.repeat}
    for days in (30, 90):
        now = datetime.now(UTC)
        since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
        params = {"days": str(days)}  # every repository: the widest page
        recorder = Recorder(store)
        what_shipped(recorder, params, now=now)  # type: ignore[arg-type]
        page_queries = [c for c in recorder.calls if "FROM repo_prs r " in c[0]]
        assert len(page_queries) == 2, [c[0][:60] for c in recorder.calls]
        reference = earlier_queries(since)
        for _ in range(2):  # warm the cache, both forms
            run_all(store, page_queries)
            run_all(store, reference)
        new, ref = [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit both alike
            new += timed(run_all, store, page_queries)
            ref += timed(run_all, store, reference)
        page = statistics.median(timed(what_shipped, store, params, now=now, repeat=5))
        med_new, med_ref = statistics.median(new), statistics.median(ref)
        out[f"days_{days}"] = {
            "queries_ms_median": round(med_new * 1000, 1),
            "earlier_queries_ms_median": round(med_ref * 1000, 1),
            "ratio": round(med_new / med_ref, 2),
            "whole_page_ms_median": round(page * 1000, 1),
        }
        print(
            f"{prs:,} PRs, last {days} days, all repositories: the page's two queries "
            f"{med_new * 1000:.1f} ms, the earlier two {med_ref * 1000:.1f} ms, ratio "
            f"{med_new / med_ref:.2f}; whole page {page * 1000:.1f} ms",
            flush=True,
        )
    store.close()
    out["command"] = " ".join(["benchmarks/what_shipped_features.py", *sys.argv[1:]])
    out["load_avg"] = os.getloadavg()[0]
    out["machine"] = platform.machine()
    out["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    dest = HERE / "results" / "what_shipped_features.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
