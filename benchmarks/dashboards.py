"""Dashboards benchmark: every page's data API and its render in headless Chromium, over the
1,000,000-PR synthetic store of the analytics benchmark (gen_store.py, then ``analyze all``),
plus 5,000 collection runs and 2,000 pipeline runs. Prints median/max per page and the ratio
to the issue's goals (API < 300 ms, render < 1 s); writes benchmarks/results/dashboards.json.

    nice -n 10 .venv/bin/python benchmarks/dashboards.py               # generates + analyses
    nice -n 10 .venv/bin/python benchmarks/dashboards.py --store /tmp/fl_bench.duckdb  # reuse

``--store`` takes an already analysed store and works on a copy of it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.service._server: uvicorn on a loopback socket

from tests.service._server import serving  # noqa: E402

from forgelens.analytics import AnalyzeOptions, analyze  # noqa: E402
from forgelens.service.app import create_app  # noqa: E402
from forgelens.service.keys import create_key  # noqa: E402
from forgelens.service.settings import ServiceSettings  # noqa: E402
from forgelens.store import open_store  # noqa: E402

API_GOAL_MS = 300.0
RENDER_GOAL_MS = 1000.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def prepare(args: argparse.Namespace) -> Path:
    work: Path = args.work
    if args.store:
        print(f"copying {args.store} -> {work}")
        shutil.copyfile(args.store, work)
    else:
        gen = [sys.executable, str(HERE / "gen_store.py"), "--out", str(work)]
        sizes = ["--prs", str(args.prs), "--repos", str(args.repos), "--authors", str(args.authors)]
        subprocess.run([*gen, *sizes], check=True)
        store = open_store(f"duckdb:///{work}")
        try:
            started = time.perf_counter()
            analyze(store, AnalyzeOptions(target="all"))
            print(f"analyze all: {time.perf_counter() - started:.1f}s")
        finally:
            store.close()
    store = open_store(f"duckdb:///{work}")
    try:
        now = datetime.now(UTC)
        store.upsert(
            "git_collection_runs",
            [
                {
                    "run_id": f"bench-{i}",
                    "started_at": now - timedelta(hours=i),
                    "completed_at": now - timedelta(hours=i) + timedelta(seconds=30 + i % 50),
                    "status": "failed" if i % 17 == 0 else "completed",
                    "repos_processed": 1,
                    "commits_collected": i % 300,
                    "prs_collected": i % 40,
                    "api_calls": i % 120,
                    "errors": int(i % 17 == 0),
                    "data_source": ("github", "gitlab", "git")[i % 3],
                }
                for i in range(5000)
            ],
        )
        store.upsert(
            "pipeline_runs",
            [
                {
                    "run_id": (now - timedelta(hours=6 * i)).strftime("%Y%m%d_%H%M%S"),
                    "pipeline": "nightly",
                    "timestamp": now - timedelta(hours=6 * i),
                    "schema_version": "2.0",
                    "sources_processed": 5,
                    "total_duration_seconds": 3000.0 + i % 600,
                    "total_records": 13000 + i,
                    "throughput_rpm": 11000.0 + i % 900,
                    "throughput_computed": False,
                    "quality_pass_rate": 0.66,
                    "retries": i % 3,
                    "errors": int(i % 29 == 0),
                    "_synthetic": False,
                    "status": "completed",
                    "recorded_at": now,
                }
                for i in range(2000)
            ],
        )
        counts = {
            t: store.query(f"SELECT count(*) FROM {t}")[0][0]
            for t in (
                "pull_requests",
                "repo_prs",
                "author_metrics_window",
                "author_metrics_daily",
                "delivery_metrics_weekly",
            )
        }
        print("store:", ", ".join(f"{k}={v:,}" for k, v in counts.items()))
    finally:
        store.close()
    return work


def cases(url: str, key: str) -> list[tuple[str, str]]:
    """(name, path): each page by default and with a repository / narrower filter."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
        lens = c.get("/api/v1/dashboards/engineering-lens").json()
    repo = lens["filters"][0]["options"][1][0]
    user = next(f["value"] for f in lens["filters"] if f["name"] == "user")
    return [
        ("engineering-lens", "/engineering-lens"),
        ("engineering-lens repo+user 90d", f"/engineering-lens?repo={repo}&user={user}&window=90"),
        ("what-shipped", "/what-shipped"),
        ("what-shipped repo 90d", f"/what-shipped?repo={repo}&days=90"),
        ("delivery", "/delivery"),
        ("delivery 52 weeks", f"/delivery?repo={repo}&weeks=52"),
        ("runs", "/runs"),
        ("pipeline-runs 365d", "/pipeline-runs?days=365"),
    ]


def time_api(url: str, key: str, path: str, repeat: int) -> list[float]:
    page, _, query = path[1:].partition("?")
    times = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
        for _ in range(repeat):
            started = time.perf_counter()
            answer = c.get(f"/api/v1/dashboards/{page}" + (f"?{query}" if query else ""))
            times.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
    return times


def time_render(url: str, key: str, paths: list[str], repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(base_url=url, viewport={"width": 1360, "height": 900})
        page.goto("/login")
        page.fill("input[name=key]", key)
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-rendered]")
        for path in paths:
            out[path] = []
            for _ in range(repeat):
                started = time.perf_counter()
                page.goto(path)
                page.wait_for_selector("body[data-rendered]", timeout=30_000)
                out[path].append((time.perf_counter() - started) * 1000)
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="forgelens dashboards benchmark")
    ap.add_argument("--prs", type=int, default=1_000_000)
    ap.add_argument("--repos", type=int, default=500)
    ap.add_argument("--authors", type=int, default=20_000)
    ap.add_argument("--store", type=Path, help="An analysed store to reuse (copied first).")
    ap.add_argument("--work", type=Path, default=Path("/tmp/forgelens-bench-dashboards.duckdb"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    load_before = os.getloadavg()
    work = prepare(args)
    settings = ServiceSettings(  # type: ignore[call-arg]
        _env_file=None,
        FORGELENS_DATABASE_URL=f"duckdb:///{work}",
        FORGELENS_SCHEDULE=False,
        FORGELENS_RATE_LIMIT_PER_MINUTE=0,
        FORGELENS_CACHE_DIR=str(work.parent / "forgelens-bench-dashboards-cache"),
    )
    store = open_store(settings.database_url)
    key = create_key(store, "viewer", "dashboards benchmark")[1]
    store.close()
    results: list[dict[str, Any]] = []
    with serving(create_app(settings)) as url:
        todo = cases(url, key)
        renders = time_render(url, key, [p for _, p in todo], args.repeat)
        print(f"\n{'page':<34}{'API p50':>9}{'API max':>9}{'render p50':>12}{'render max':>12}")
        for name, path in todo:
            api = time_api(url, key, path, args.repeat)
            render = renders[path]
            row = {
                "page": name,
                "path": path,
                "api_ms_p50": round(statistics.median(api), 1),
                "api_ms_max": round(max(api), 1),
                "render_ms_p50": round(statistics.median(render), 1),
                "render_ms_max": round(max(render), 1),
            }
            row["api_ratio_to_goal"] = round(row["api_ms_p50"] / API_GOAL_MS, 3)
            row["render_ratio_to_goal"] = round(row["render_ms_p50"] / RENDER_GOAL_MS, 3)
            results.append(row)
            print(
                f"{name:<34}{row['api_ms_p50']:>9.0f}{row['api_ms_max']:>9.0f}"
                f"{row['render_ms_p50']:>12.0f}{row['render_ms_max']:>12.0f}"
            )
    worst_api = max(r["api_ms_p50"] for r in results)
    worst_render = max(r["render_ms_p50"] for r in results)
    print(
        f"\nworst API p50 {worst_api:.0f} ms = {worst_api / API_GOAL_MS:.2f} x the 300 ms goal; "
        f"worst render p50 {worst_render:.0f} ms = "
        f"{worst_render / RENDER_GOAL_MS:.2f} x the 1 s goal"
    )
    out = {
        "command": " ".join(["benchmarks/dashboards.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
        },
        "dataset": {
            "prs": args.prs if not args.store else "from --store",
            "collection_runs": 5000,
            "pipeline_runs": 2000,
        },
        "goals_ms": {"api": API_GOAL_MS, "render": RENDER_GOAL_MS},
        "repeat": args.repeat,
        "pages": results,
        "worst_api_ms_p50": worst_api,
        "worst_render_ms_p50": worst_render,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dashboards.json").write_text(json.dumps(out, indent=2) + "\n")
    work.unlink(missing_ok=True)
    Path(f"{work}.wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
