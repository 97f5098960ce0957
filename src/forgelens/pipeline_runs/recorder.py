"""Recording validated runs: the ``pipeline_runs`` table and the JSON history file.

All or nothing: every run is validated and checked for duplicate ``run_id``s (in the input,
the store and the history file) before anything is written; the store rows are written in one
transaction and the history file is replaced atomically (temp file + ``os.replace``) inside it,
so a failure leaves both as they were.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgelens.errors import BadInput, StoreError
from forgelens.pipeline_runs.validate import (
    PipelineRunInvalid,
    Problem,
    ValidatedRun,
    ValidationReport,
)
from forgelens.store import Store

TABLE = "pipeline_runs"
DEFAULT_PIPELINE = "default"


@dataclass
class History:
    """A history file: a JSON list of run objects (or an object with a ``runs`` list)."""

    path: Path
    entries: list[Any] = field(default_factory=list)
    wrapper: dict[str, Any] | None = None

    def run_ids(self) -> set[str]:
        return {e["run_id"] for e in self.entries if isinstance(e, dict) and "run_id" in e}


def load_history(path: Path) -> History:
    if not path.exists():
        return History(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}): fix it or pass "
            "another -o file; nothing was recorded"
        ) from exc
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    if isinstance(data, list):
        return History(path, data)
    if isinstance(data, dict) and isinstance(data.get("runs"), list):
        return History(path, list(data["runs"]), data)
    raise BadInput(
        f"{path} is not a run history (a JSON list of runs, or an object with a 'runs' list)"
    )


def _write_atomically(path: Path, payload: Any) -> Path:
    """Write ``payload`` as JSON to a temp file next to ``path``; return it (not yet moved)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    # mkstemp makes the file private (0600): keep the mode the history file had, or 0644
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    os.chmod(tmp, mode)
    return Path(tmp)


def to_row(validated: ValidatedRun, pipeline: str | None = None) -> dict[str, Any]:
    """The ``pipeline_runs`` row of a validated run."""
    run = validated.run
    res = run.resource_metrics
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline or pipeline or DEFAULT_PIPELINE,
        "timestamp": run.timestamp,
        "schema_version": run.schema_version,
        "sources_processed": run.sources_processed,
        "total_duration_seconds": float(run.total_duration_seconds),
        "total_records": run.total_records,
        "throughput_rpm": run.throughput_rpm,
        "throughput_computed": validated.throughput_computed,
        "quality_pass_rate": float(run.quality_pass_rate),
        "retries": run.retries,
        "errors": run.errors,
        "cpu_peak_percent": res.cpu.peak_percent if res else None,
        "cpu_avg_percent": res.cpu.avg_percent if res else None,
        "memory_peak_mb": res.memory.peak_mb if res else None,
        "memory_avg_mb": res.memory.avg_mb if res else None,
        "disk_read_mb": res.disk.read_mb if res and res.disk else None,
        "disk_write_mb": res.disk.write_mb if res and res.disk else None,
        "environment": run.environment.model_dump(exclude_none=True) if run.environment else None,
        "_synthetic": run.synthetic,
        "status": "success" if run.succeeded else "failed",
        "exit_status": run.exit_status,
        "command": run.command,
        "failure_reason": run.failure_reason,
        "recorded_at": datetime.now(UTC),
    }


def stored_run_ids(store: Store, run_ids: Sequence[str]) -> set[str]:
    if not run_ids:
        return set()
    marks = ", ".join("?" for _ in run_ids)
    rows = store.query(f"SELECT run_id FROM {TABLE} WHERE run_id IN ({marks})", list(run_ids))
    return {r[0] for r in rows}


@dataclass
class RecordResult:
    runs: list[ValidatedRun]
    warnings: list[Problem]
    written: int = 0
    replaced: list[str] = field(default_factory=list)
    history: Path | None = None


def record_runs(
    store: Store | None,
    report: ValidationReport,
    *,
    origin: str,
    history: Path | None = None,
    upsert: bool = False,
    dry_run: bool = False,
    pipeline: str | None = None,
    source: str = "record-pipeline-run",
) -> RecordResult:
    """Write the runs of a clean ``report`` to ``store`` (and ``history``), or raise.

    Raises ``PipelineRunInvalid`` listing every problem (validation, duplicates) before
    anything is written. ``dry_run`` checks everything and writes nothing; ``store`` may then
    be None (no store to check against).
    """
    problems = list(report.problems)
    ids = [v.run.run_id for v in report.runs]
    hist = load_history(history) if history is not None else None
    taken = stored_run_ids(store, ids) if store is not None else set()
    in_history = hist.run_ids() & set(ids) if hist is not None else set()
    if not upsert:
        for run_id in ids:
            where = [
                w
                for w, hit in (("the store", run_id in taken), (str(history), run_id in in_history))
                if hit
            ]
            if where:
                problems.append(
                    Problem(
                        "run_id",
                        f"{run_id} is already recorded in {' and '.join(where)}: use another "
                        "run_id, or --upsert to replace it",
                    )
                )
    if problems:
        raise PipelineRunInvalid(origin, problems)
    result = RecordResult(report.runs, report.warnings, replaced=sorted(taken | in_history))
    if dry_run:
        return result
    if store is None:
        raise StoreError("no store to record into")
    rows = [to_row(v, pipeline) for v in report.runs]
    tmp: Path | None = None
    if hist is not None:
        objs = {v.run.run_id: v.run.to_json_obj() for v in report.runs}
        entries = [
            objs.pop(e["run_id"]) if isinstance(e, dict) and e.get("run_id") in objs else e
            for e in hist.entries
        ]
        entries += list(objs.values())
        payload: Any = {**hist.wrapper, "runs": entries} if hist.wrapper is not None else entries
        tmp = _write_atomically(hist.path, payload)
    try:
        with store.transaction():
            result.written = store.upsert(TABLE, rows, source=source)
            if tmp is not None and hist is not None:
                os.replace(tmp, hist.path)
                result.history = hist.path
                tmp = None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return result
