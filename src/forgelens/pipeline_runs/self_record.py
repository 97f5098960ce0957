"""forgelens recording its own runs (collect, backfill, analyze) in ``pipeline_runs``.

Wire a command in one line::

    results = recorded(store, "collect", lambda: collect(store, sources, opts, progress))

or, when the counts come from somewhere else, with the context manager::

    with record_own_run(store, "backfill") as own:
        result = backfill(...)
        own.set_counts(total_records=result.rows, sources_processed=len(result.repos))

Either way this process and its children (git) are sampled for CPU, memory and disk I/O, and a
row is written when the block ends, successful or not (``status`` ``failed`` with the reason).
The row's ``pipeline`` is ``forgelens.<name>``. Recording never changes the outcome of the run:
if the row cannot be written, a warning is logged and the run's result (or error) stands.

Counts: ``counts_from_result`` reads ``commits + prs + files + issues + records + rows`` as
``total_records``, ``errors``, and the number of ``repositories`` as ``sources_processed`` from
a result object or a list of them (``CollectResult`` has those attributes).
``quality_pass_rate`` is the share of records without an error. The seed's ranges (meant for
hand-entered figures) are not applied to these measured runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from forgelens.errors import ForgelensError
from forgelens.logs import get_logger, redact
from forgelens.pipeline_runs.execute import iso_utc, run_id_for
from forgelens.pipeline_runs.recorder import record_runs, stored_run_ids
from forgelens.pipeline_runs.sampler import SelfCpu, TreeSampler, environment_info
from forgelens.pipeline_runs.validate import PipelineRunInvalid, validate_runs
from forgelens.store import Store

log = get_logger(__name__)
T = TypeVar("T")

_RECORD_ATTRS = ("commits", "prs", "files", "issues", "records", "rows")


def counts_from_result(result: object) -> dict[str, int]:
    """``total_records``, ``errors`` and ``sources_processed`` of a result (or a list)."""
    items = result if isinstance(result, list | tuple) else [result]
    records = errors = sources = 0
    for item in items:
        records += sum(int(getattr(item, a, 0) or 0) for a in _RECORD_ATTRS)
        errors += int(getattr(item, "errors", 0) or 0)
        repos = getattr(item, "repositories", None)
        sources += len(repos) if isinstance(repos, list | tuple | set) else 0
    return {"total_records": records, "errors": errors, "sources_processed": sources}


def free_run_id(store: Store, when: datetime) -> str:
    """The run_id of ``when``, moved on by a second at a time while it is taken."""
    for step in range(3600):
        candidate = run_id_for(when + timedelta(seconds=step))
        if not stored_run_ids(store, [candidate]):
            return candidate
    return run_id_for(when)  # pragma: no cover - an hour of runs in the same second


@dataclass
class OwnRun:
    name: str
    started_at: datetime
    counts: dict[str, int] = field(default_factory=dict)

    def set_counts(self, **counts: int) -> None:
        """Set ``total_records``, ``errors``, ``sources_processed``, ``retries``."""
        self.counts.update(counts)

    def set_result(self, result: object) -> None:
        self.counts.update(counts_from_result(result))


def _quality(records: int, errors: int) -> float:
    if records <= 0:
        return 1.0 if errors == 0 else 0.0
    return round(max(0.0, (records - errors) / records), 4)


def _write(
    store: Store, own: OwnRun, usage: dict[str, Any], wall: float, failure: str | None
) -> None:
    records = own.counts.get("total_records", 0)
    errors = own.counts.get("errors", 0) + (1 if failure and not own.counts.get("errors") else 0)
    obj: dict[str, Any] = {
        "run_id": free_run_id(store, own.started_at),
        "timestamp": iso_utc(own.started_at),
        "schema_version": "2.0",
        "sources_processed": own.counts.get("sources_processed", 0),
        "total_duration_seconds": round(wall, 3),
        "total_records": records,
        "quality_pass_rate": _quality(records, errors),
        "retries": own.counts.get("retries", 0),
        "errors": errors,
        "resource_metrics": usage,
        "environment": environment_info(),
        "pipeline": f"forgelens.{own.name}",
        "status": "failed" if failure else "success",
        "failure_reason": failure,
    }
    if failure is None:
        obj.pop("failure_reason")
    report = validate_runs(obj, check_ranges=False)
    try:
        record_runs(store, report, origin=f"forgelens {own.name}", source="forgelens")
    except PipelineRunInvalid as exc:
        log.warning("own run not recorded", pipeline=obj["pipeline"], problems=str(exc))


@contextmanager
def record_own_run(store: Store, name: str, *, sample_seconds: float = 5.0) -> Iterator[OwnRun]:
    """Sample this process while the block runs; record the run when it ends."""
    own = OwnRun(name, datetime.now(UTC))
    cpu = SelfCpu()
    sampler = TreeSampler(os.getpid(), sample_seconds).start()
    failure: str | None = None
    try:
        yield own
    except KeyboardInterrupt:
        failure = "interrupted by the user (Ctrl-C)"
        raise
    except BaseException as exc:
        failure = redact(f"{type(exc).__name__}: {exc}")[:2000]
        raise
    finally:
        usage = sampler.stop(cpu_seconds=cpu.elapsed())
        try:
            _write(store, own, usage.as_metrics(), usage.wall_seconds, failure)
        except ForgelensError as exc:
            log.warning("own run not recorded", pipeline=f"forgelens.{name}", error=str(exc))


def recorded(
    store: Store,
    name: str,
    fn: Callable[[], T],
    *,
    counts: Callable[[T], dict[str, int]] = counts_from_result,
    sample_seconds: float = 5.0,
) -> T:
    """Call ``fn()`` inside ``record_own_run``; counts come from its result."""
    with record_own_run(store, name, sample_seconds=sample_seconds) as own:
        result = fn()
        own.set_counts(**counts(result))
    return result
