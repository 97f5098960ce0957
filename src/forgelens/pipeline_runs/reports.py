"""The seed's data-quality goals over recorded runs, per pipeline.

- freshness: the last successful run ended less than 12 hours ago (``max_age``);
- success rate: successful runs / runs;
- records-per-minute trend: mean throughput of the newer half of the last ``trend_runs`` runs
  against the older half (``up``/``down`` beyond 10%, else ``flat``);
- resource peaks: the highest CPU, memory and disk figures recorded;
- completeness: the share of runs with resource metrics and environment (schema v2 in full).

Runs marked ``_synthetic`` are left out unless asked for. Rows come from the store
(``load_rows``) or from a history file (``rows_from_history``, v1 entries upgraded on read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forgelens.pipeline_runs.recorder import TABLE, load_history, to_row
from forgelens.pipeline_runs.validate import Problem, validate_run
from forgelens.store import Store

TREND_TOLERANCE = 0.10


def load_rows(
    store: Store,
    *,
    pipeline: str | None = None,
    since: datetime | None = None,
    include_synthetic: bool = False,
) -> list[dict[str, Any]]:
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if pipeline:
        where.append("pipeline = ?")
        params.append(pipeline)
    if since:
        where.append('"timestamp" >= ?')
        params.append(since)
    if not include_synthetic:
        where.append('NOT COALESCE("_synthetic", FALSE)')
    return store.query_dicts(
        f'SELECT * FROM {TABLE} WHERE {" AND ".join(where)} ORDER BY "timestamp", run_id', params
    )


def rows_from_history(
    path: Path,
    *,
    pipeline: str | None = None,
    since: datetime | None = None,
    include_synthetic: bool = False,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows of the valid entries of a history file, and the problems of the others."""
    rows, problems = [], []
    for i, entry in enumerate(load_history(path).entries):
        validated, errs, _ = validate_run(entry, prefix=f"{path.name}[{i}]", check_ranges=False)
        problems += errs
        if validated is None:
            continue
        row = to_row(validated)
        if pipeline and row["pipeline"] != pipeline:
            continue
        if since and row["timestamp"] < since:
            continue
        if row["_synthetic"] and not include_synthetic:
            continue
        rows.append(row)
    rows.sort(key=lambda r: (r["timestamp"], r["run_id"]))
    return rows, problems


def _trend(values: Sequence[float]) -> tuple[str, float | None]:
    if len(values) < 2:
        return "n/a", None
    half = len(values) // 2
    older, newer = values[:half], values[-half:]
    before, after = sum(older) / len(older), sum(newer) / len(newer)
    if before == 0:
        return ("up" if after > 0 else "flat"), None
    change = (after - before) / before
    if change > TREND_TOLERANCE:
        return "up", round(change * 100, 1)
    if change < -TREND_TOLERANCE:
        return "down", round(change * 100, 1)
    return "flat", round(change * 100, 1)


def _peak(rows: Sequence[dict[str, Any]], column: str) -> float | None:
    values = [r[column] for r in rows if r.get(column) is not None]
    return max(values) if values else None


def _ended(row: dict[str, Any]) -> datetime:
    started: datetime = row["timestamp"]
    return started + timedelta(seconds=float(row["total_duration_seconds"] or 0))


def pipeline_report(
    name: str,
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime,
    max_age: timedelta = timedelta(hours=12),
    trend_runs: int = 10,
) -> dict[str, Any]:
    """The quality report of one pipeline's runs (oldest first)."""
    ok = [r for r in rows if r["status"] != "failed"]
    last_ok = max((_ended(r) for r in ok), default=None)
    age = (now - last_ok) if last_ok else None
    recent = list(rows[-trend_runs:])
    rpm = [float(r["throughput_rpm"]) for r in recent if r["throughput_rpm"] is not None]
    trend, change = _trend(rpm)
    complete = [r for r in rows if r["cpu_peak_percent"] is not None and r["environment"]]
    return {
        "pipeline": name,
        "runs": len(rows),
        "successful": len(ok),
        "failed": len(rows) - len(ok),
        "success_rate": round(len(ok) / len(rows), 4) if rows else None,
        "last_run_at": rows[-1]["timestamp"].astimezone(UTC).isoformat() if rows else None,
        "last_success_at": last_ok.astimezone(UTC).isoformat() if last_ok else None,
        "hours_since_success": round(age.total_seconds() / 3600, 2) if age else None,
        "fresh": age is not None and age < max_age,
        "max_age_hours": max_age.total_seconds() / 3600,
        "throughput_rpm_last": rpm[-1] if rpm else None,
        "throughput_rpm_mean": round(sum(rpm) / len(rpm), 1) if rpm else None,
        "throughput_trend": trend,
        "throughput_change_pct": change,
        "throughput_recent": [
            {"run_id": r["run_id"], "throughput_rpm": r["throughput_rpm"]} for r in recent
        ],
        "cpu_peak_percent": _peak(rows, "cpu_peak_percent"),
        "memory_peak_mb": _peak(rows, "memory_peak_mb"),
        "disk_read_mb_max": _peak(rows, "disk_read_mb"),
        "disk_write_mb_max": _peak(rows, "disk_write_mb"),
        "completeness": round(len(complete) / len(rows), 4) if rows else None,
        "errors": sum(int(r["errors"] or 0) for r in rows),
    }


def build_report(
    rows: Sequence[dict[str, Any]],
    *,
    now: datetime | None = None,
    max_age: timedelta = timedelta(hours=12),
    trend_runs: int = 10,
) -> list[dict[str, Any]]:
    """One report per pipeline, pipelines in name order."""
    now = now or datetime.now(UTC)
    by_pipeline: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_pipeline.setdefault(row["pipeline"] or "default", []).append(row)
    return [
        pipeline_report(name, by_pipeline[name], now=now, max_age=max_age, trend_runs=trend_runs)
        for name in sorted(by_pipeline)
    ]
