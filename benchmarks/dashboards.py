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

from tests.e2e.chromium import launch  # noqa: E402
from tests.service._server import serving  # noqa: E402

from forgelens.analytics import AnalyzeOptions, analyze  # noqa: E402
from forgelens.service.app import create_app  # noqa: E402
from forgelens.service.dashboards.routes import ViewCache  # noqa: E402
from forgelens.service.keys import create_key  # noqa: E402
from forgelens.service.settings import ServiceSettings  # noqa: E402
from forgelens.store import open_store  # noqa: E402

COUNTS: dict[str, int] = {}
API_GOAL_MS = 300.0
RENDER_GOAL_MS = 1000.0


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
        COUNTS.update(counts)
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
        browser = launch(pw)
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
    app = create_app(settings)
    with serving(app) as url:
        todo = cases(url, key)
        paths = [p for _, p in todo]
        cold_api = {}
        for path in paths:  # the first request after an analysis: nothing cached
            app.state.dashboard_views = ViewCache()
            cold_api[path] = time_api(url, key, path, 1)[0]
        app.state.dashboard_views = ViewCache()
        renders = time_render(url, key, paths, args.repeat)  # first load of each is cold
        print(f"\n{'page':<32}{'API cold':>9}{'API p50':>9}{'render cold':>12}{'render p50':>11}")
        for name, path in todo:
            api = time_api(url, key, path, args.repeat)
            render = renders[path]
            row = {
                "page": name,
                "path": path,
                "api_ms_cold": round(cold_api[path], 1),
                "api_ms_p50": round(statistics.median(api), 1),
                "render_ms_cold": round(render[0], 1),
                "render_ms_p50": round(statistics.median(render[1:] or render), 1),
            }
            row["api_cold_ratio_to_goal"] = round(row["api_ms_cold"] / API_GOAL_MS, 3)
            row["render_cold_ratio_to_goal"] = round(row["render_ms_cold"] / RENDER_GOAL_MS, 3)
            results.append(row)
            print(
                f"{name:<32}{row['api_ms_cold']:>9.0f}{row['api_ms_p50']:>9.0f}"
                f"{row['render_ms_cold']:>12.0f}{row['render_ms_p50']:>11.0f}"
            )
    load_after = os.getloadavg()
    worst = {
        k: max(r[k] for r in results)
        for k in ("api_ms_cold", "api_ms_p50", "render_ms_cold", "render_ms_p50")
    }
    print(
        f"\nworst API: cold {worst['api_ms_cold']:.0f} ms "
        f"({worst['api_ms_cold'] / API_GOAL_MS:.2f} x the 300 ms goal), "
        f"p50 {worst['api_ms_p50']:.0f} ms ({worst['api_ms_p50'] / API_GOAL_MS:.2f} x)"
    )
    print(
        f"worst render: cold {worst['render_ms_cold']:.0f} ms "
        f"({worst['render_ms_cold'] / RENDER_GOAL_MS:.2f} x the 1 s goal), "
        f"p50 {worst['render_ms_p50']:.0f} ms ({worst['render_ms_p50'] / RENDER_GOAL_MS:.2f} x)"
    )
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (2 shared cores)")
    out = {
        "command": " ".join(["benchmarks/dashboards.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "dataset": {
            "store": str(args.store) if args.store else "generated",
            **COUNTS,
            "collection_runs": 5000,
            "pipeline_runs": 2000,
        },
        "goals_ms": {"api": API_GOAL_MS, "render": RENDER_GOAL_MS},
        "repeat": args.repeat,
        "pages": results,
        "worst": worst,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "dashboards.json").write_text(json.dumps(out, indent=2) + "\n")
    work.unlink(missing_ok=True)
    Path(f"{work}.wal").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
