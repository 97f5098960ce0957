"""The run ledger's reports (``forgelens runs``, ``GET /api/v1/runs``, the ``/runs`` dashboard)
give the same figures on every store, ClickHouse included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forgelens.engine import run_reports
from forgelens.store import Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _run(run_id: str, status: str, minutes: float | None, prs: int, calls: int) -> dict:
    done = None if minutes is None else T0 + timedelta(minutes=minutes)
    return {
        "run_id": run_id,
        "started_at": T0,
        "completed_at": done,
        "status": status,
        "prs_collected": prs,
        "api_calls": calls,
        "commits_collected": 10,
        "errors": 0,
        "settings": "{}",
        "data_source": "github",
    }


def test_recent_runs_and_stats_agree_on_every_store(every_store: Store) -> None:
    every_store.upsert(
        "git_collection_runs",
        [
            _run("a", "completed", 2, 40, 10),
            _run("b", "failed", 0.5, 0, 7),
            _run("c", "running", None, 5, 3),
        ],
    )
    recent = {r["run_id"]: r for r in run_reports.recent_runs(every_store, limit=10)}
    assert float(recent["a"]["duration_s"]) == pytest.approx(120.0)
    assert float(recent["b"]["duration_s"]) == pytest.approx(30.0)
    assert recent["c"]["duration_s"] is None  # still running
    assert float(recent["a"]["api_calls_per_pr"]) == pytest.approx(0.25)
    assert recent["b"]["api_calls_per_pr"] is None  # no PRs
    assert [r["run_id"] for r in run_reports.recent_runs(every_store, 10, status="failed")] == ["b"]
    (stats,) = run_reports.run_stats(every_store)
    assert (stats["total_runs"], stats["completed"], stats["failed"], stats["running"]) == (
        3,
        1,
        1,
        1,
    )
    assert float(stats["success_rate"]) == pytest.approx(0.5)  # of the finished runs
    assert float(stats["api_calls_per_pr"]) == pytest.approx(20 / 45)
    assert float(stats["avg_duration_s"]) == pytest.approx(75.0)
    assert float(stats["max_duration_s"]) == pytest.approx(120.0)
