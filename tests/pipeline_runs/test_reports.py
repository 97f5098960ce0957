from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forgelens.pipeline_runs import record_runs, validate_runs
from forgelens.pipeline_runs.reports import build_report, load_rows, rows_from_history
from forgelens.store import Store
from tests.pipeline_runs.conftest import make_run

NOW = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)


def at(hours_ago: float, **changes: Any) -> dict[str, Any]:
    when = NOW - timedelta(hours=hours_ago)
    return make_run(
        run_id=when.strftime("%Y%m%d_%H%M%S"),
        timestamp=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        throughput_rpm=None,
        **changes,
    )


def put(store: Store, *runs: dict[str, Any]) -> None:
    record_runs(store, validate_runs(list(runs)), origin="test")


def report_of(store: Store, **kw: Any) -> dict[str, Any]:
    (report,) = build_report(load_rows(store, **kw), now=NOW)
    return report


def test_freshness_is_the_last_successful_run_within_12_hours(store: Store) -> None:
    put(store, at(30), at(11, status="failed"), at(13, total_duration_seconds=1800))
    report = report_of(store)
    # the run 13 h ago lasted 30 min: it ended 12.5 h ago; the newer one failed
    assert report["last_success_at"] == "2025-11-09T23:30:00+00:00"
    assert report["hours_since_success"] == 12.5
    assert report["fresh"] is False
    put(store, at(2))
    assert report_of(store)["fresh"] is True


def test_no_successful_run_is_not_fresh(store: Store) -> None:
    put(store, at(1, exit_status=1))
    report = report_of(store)
    assert report["fresh"] is False
    assert report["last_success_at"] is None
    assert report["success_rate"] == 0


def test_success_rate_counts_failed_runs(store: Store) -> None:
    put(store, at(4), at(3, exit_status=2), at(2, status="failed"), at(1))
    report = report_of(store)
    assert (report["runs"], report["successful"], report["failed"]) == (4, 2, 2)
    assert report["success_rate"] == 0.5


def test_throughput_trend_compares_newer_runs_with_older(store: Store) -> None:
    # 600 s each: 6000, 6000 then 12000, 12000 records -> 600, 600, 1200, 1200 per minute
    put(
        store,
        at(4, total_records=6000),
        at(3, total_records=6000),
        at(2, total_records=12000),
        at(1, total_records=12000),
    )
    report = report_of(store)
    assert report["throughput_trend"] == "up"
    assert report["throughput_change_pct"] == 100.0
    assert report["throughput_rpm_last"] == 1200
    assert [r["throughput_rpm"] for r in report["throughput_recent"]] == [600, 600, 1200, 1200]
    put(store, at(0.5, total_records=3000), at(0.25, total_records=3000))
    (down,) = build_report(load_rows(store), now=NOW, trend_runs=4)
    assert down["throughput_trend"] == "down"


def test_flat_trend_within_ten_percent(store: Store) -> None:
    put(store, at(2, total_records=10000), at(1, total_records=10500))
    assert report_of(store)["throughput_trend"] == "flat"


def test_resource_peaks_are_the_highest_recorded(store: Store, seed_full: dict[str, Any]) -> None:
    high = {**seed_full, "run_id": "20251110_100000", "timestamp": "2025-11-10T10:00:00Z"}
    low = json.loads(json.dumps(high))
    low.update(run_id="20251110_110000", timestamp="2025-11-10T11:00:00Z")
    low["resource_metrics"]["cpu"] = {"peak_percent": 20.0, "avg_percent": 10.0}
    low["resource_metrics"]["memory"] = {"peak_mb": 4096, "avg_mb": 100}
    put(store, high, low, at(0.5))
    report = report_of(store)
    assert report["cpu_peak_percent"] == 87.3
    assert report["memory_peak_mb"] == 4096
    assert report["disk_read_mb_max"] == 145.3
    assert report["completeness"] == round(2 / 3, 4)


def test_synthetic_runs_are_left_out_unless_asked_for(store: Store) -> None:
    put(store, at(1), at(0.5, _synthetic=True, status="failed"))
    assert report_of(store)["runs"] == 1
    assert report_of(store, include_synthetic=True)["runs"] == 2


def test_one_report_per_pipeline(store: Store) -> None:
    put(store, at(2, pipeline="b"), at(1, pipeline="a"), at(0.5, pipeline="a"))
    reports = build_report(load_rows(store), now=NOW)
    assert [(r["pipeline"], r["runs"]) for r in reports] == [("a", 2), ("b", 1)]
    only = build_report(load_rows(store, pipeline="b"), now=NOW)
    assert [r["pipeline"] for r in only] == ["b"]


def test_no_runs_no_report(store: Store) -> None:
    assert build_report(load_rows(store), now=NOW) == []


def test_reports_read_history_files_upgrading_v1(tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    v1 = at(3, schema_version="1.0", retries=None, errors=None)
    broken = {"run_id": "nope"}
    history.write_text(json.dumps([v1, broken, at(1), at(0.5, _synthetic=True)]))
    rows, problems = rows_from_history(history)
    assert [r["run_id"] for r in rows] == [v1["run_id"], at(1)["run_id"]]
    assert rows[0]["schema_version"] == "2.0"
    assert problems
    assert all(str(p).startswith("h.json[1]") for p in problems)
    (report,) = build_report(rows, now=NOW)
    assert report["runs"] == 2
    assert report["fresh"] is True
