"""A small store for the dashboard tests: a generated PR history (``benchmarks/gen_store.py``)
analysed by ``analyze all``, a real git collection run, a stuck run and recorded pipeline runs.

Built once per test session and copied for each user (``dashboard_store``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from forgelens.analytics.runner import AnalyzeOptions, analyze
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.store import open_store
from tests.conftest import one_commit_repo
from tests.service.conftest import Service, running_service

ROOT = Path(__file__).resolve().parents[2]
STUCK_RUN = "stuck-run-1"
PIPELINE = "nightly-etl"


def _build(path: Path, work: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gen_store.py"),
            "--out",
            str(path),
            "--prs",
            "1200",
            "--repos",
            "2",
            "--authors",
            "6",
            "--years",
            "0.4",
        ],
        check=True,
        capture_output=True,
    )
    repo = one_commit_repo(work / "tiny")
    store = open_store(f"duckdb:///{path}")
    try:
        collect_git(store, [str(repo)], GitCollectOptions())
        analyze(store, AnalyzeOptions())
        now = datetime.now(UTC)
        store.upsert(
            "git_collection_runs",
            [
                {
                    "run_id": STUCK_RUN,
                    "started_at": now - timedelta(hours=3),
                    "status": "running",
                    "repos_processed": 0,
                    "commits_collected": 0,
                    "prs_collected": 0,
                    "api_calls": 7,
                    "errors": 0,
                    "data_source": "github",
                    "heartbeat_at": now - timedelta(hours=3),
                    "pid": 2**22 + 12345,
                    "hostname": os.uname().nodename,
                }
            ],
        )
        store.upsert(
            "pipeline_runs",
            [
                {
                    "run_id": (now - timedelta(hours=h)).strftime("%Y%m%d_%H%M%S"),
                    "pipeline": PIPELINE,
                    "timestamp": now - timedelta(hours=h),
                    "schema_version": "2.0",
                    "sources_processed": 3,
                    "total_duration_seconds": 600.0 + h,
                    "total_records": 1000 * h,
                    "throughput_rpm": 100.0 * h,
                    "throughput_computed": False,
                    "quality_pass_rate": 0.9,
                    "retries": 0,
                    "errors": h % 2,
                    "_synthetic": False,
                    "status": "completed",
                    "recorded_at": now,
                }
                for h in (30, 20, 6)
            ],
        )
    finally:
        store.close()


def dashboard_store(factory: pytest.TempPathFactory, dest: Path) -> str:
    """Copy the session's dashboard store to ``dest``; return its URL."""
    template = factory.getbasetemp() / "dashboard-template.duckdb"
    if not template.exists():
        _build(template, factory.mktemp("dash-work"))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, dest)
    return f"duckdb:///{dest}"


@contextlib.contextmanager
def dashboard_service(factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service on a real socket over a copy of the dashboard store."""
    path = factory.mktemp("dash")
    dashboard_store(factory, path / "svc.duckdb")
    with running_service(path) as service:
        yield service
