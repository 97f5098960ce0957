"""The ``git_collection_runs`` ledger (seed 000): start, periodic stat flush, complete/fail,
and cleanup of runs a dead process left ``running``.

    with start_run(store, "custom_etl", settings) as run:
        run.add(commits_collected=500)
        run.flush_if_due()
    # -> completed; an exception (or Ctrl-C) -> failed, with the reason in failure_reason
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.engine._owner import Owner
from forgelens.logs import get_logger, redact
from forgelens.sinks import Sink, failed_records
from forgelens.sinks.topics import Row
from forgelens.store import Store, now_version

log = get_logger(__name__)

COUNTERS = ("repos_processed", "commits_collected", "prs_collected", "api_calls", "errors")
SETTINGS_FIELDS = (
    "since",
    "until",
    "repositories",
    "collect_commits",
    "collect_prs",
    "collect_reviews",
    "collect_comments",
    "branches",
    "force_refetch",
    "batch_size",
)


def run_settings(**values: Any) -> dict[str, Any]:
    """A settings dict with every field of seed 000, in its order, plus any extras."""
    base: dict[str, Any] = {
        "since": None,
        "until": None,
        "repositories": [],
        "collect_commits": False,
        "collect_prs": False,
        "collect_reviews": False,
        "collect_comments": False,
        "branches": "all",
        "force_refetch": False,
        "batch_size": 100,
    }
    base.update(values)
    return base


_version_lock = threading.Lock()
_last_version = 0


def next_version() -> int:
    """A strictly increasing ``_version`` within this process (epoch ms, bumped on ties)."""
    global _last_version
    with _version_lock:
        _last_version = max(now_version(), _last_version + 1)
        return _last_version


@dataclass
class Run:
    store: Store
    run_id: str
    data_source: str
    settings: dict[str, Any]
    started_at: datetime
    flush_seconds: float = 5.0
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    status: str = "running"
    failure_reason: str | None = None
    completed_at: datetime | None = None
    _last_flush: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    sink: Sink | None = None  # the ledger row is published too (git.collection_runs)
    _sink_failed: int = 0  # the sink's failures before this run began

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self.counters[name] += delta

    def set(self, **values: int) -> None:
        with self._lock:
            self.counters.update(values)

    def flush_if_due(self) -> bool:
        """Write the counters if ``flush_seconds`` passed since the last write."""
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        me = Owner.me()
        with self._lock:
            row: dict[str, Any] = {
                "run_id": self.run_id,
                "started_at": self.started_at,
                "completed_at": self.completed_at,
                "status": self.status,
                **self.counters,
                "settings": json.dumps(self.settings, default=str),
                "data_source": self.data_source,
                "failure_reason": self.failure_reason,
                "heartbeat_at": datetime.now(UTC),
                "pid": me.pid,
                "hostname": me.host,
                "process_started": me.start,
            }
            self._last_flush = time.monotonic()
        version = next_version()
        self.store.upsert("git_collection_runs", [row], version=version)
        if self.sink is not None:
            self.sink.publish(
                [Row("git_collection_runs", {**row, "_version": version})],
                source=self.data_source,
            )

    def complete(self) -> None:
        if self.sink is not None:
            self.sink.flush()  # completed only once every message is acknowledged (or spooled)
            self.add(errors=failed_records(self.sink) - self._sink_failed)
        self.status, self.completed_at = "completed", datetime.now(UTC)
        self.flush()
        if self.sink is not None:
            self.sink.flush()
        log.info("run completed", run_id=self.run_id, **self.counters)

    def fail(self, reason: str) -> None:
        self.status, self.completed_at = "failed", datetime.now(UTC)
        self.failure_reason = redact(reason)[:2000]
        self.flush()
        log.info("run failed", run_id=self.run_id, reason=self.failure_reason)


def new_run_id(store: Store, data_source: str, now: datetime) -> str:
    """``{data_source}-{YYYY-MM-DD}-{HHMMSS}``, with ``-2``, ``-3`` ... if the second is taken.

    On stores with compare-and-set (``INSERT ... ON CONFLICT DO NOTHING RETURNING``) the id is
    claimed atomically (a placeholder ``running`` row), so workers starting in the same second
    never share a run id.
    """
    base = f"{data_source}-{now:%Y-%m-%d-%H%M%S}"
    taken = {
        r[0]
        for r in store.query(
            "SELECT run_id FROM git_collection_runs WHERE run_id = ? OR run_id LIKE ?",
            [base, base + "-%"],
        )
    }
    n = 1
    while True:
        candidate = base if n == 1 else f"{base}-{n}"
        n += 1
        if candidate in taken:
            continue
        if not store.capabilities.compare_and_set or _claim(store, candidate, data_source, now):
            return candidate


def _claim(store: Store, run_id: str, data_source: str, now: datetime) -> bool:
    """Insert the run's first row unless ``run_id`` exists; True when this call inserted it."""
    me = Owner.me()
    claimed = store.query(
        "INSERT INTO git_collection_runs (run_id, started_at, status, settings, data_source, "
        "pid, hostname, process_started, heartbeat_at, _version) "
        "VALUES (?, ?, 'running', '{}', ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id) DO NOTHING RETURNING run_id",
        [run_id, now, data_source, me.pid, me.host, me.start, now, next_version()],
    )
    return bool(claimed)


def _owner(row: dict[str, Any]) -> Owner | None:
    if not (row.get("hostname") and row.get("pid")):
        return None
    return Owner(str(row["hostname"]), int(row["pid"]), row.get("process_started"))


def cleanup_stuck_runs(store: Store, stuck_after: timedelta) -> list[str]:
    """Mark as ``failed`` the runs left ``running`` by a process that is gone.

    A run is stuck when its process on this host no longer exists (its PID is free or held by
    a newer process), or when its last heartbeat (or start) is older than ``stuck_after``.
    Returns the run ids it failed.
    """
    now = datetime.now(UTC)
    rows = store.query_dicts(
        "SELECT * FROM git_collection_runs WHERE status = 'running' ORDER BY started_at"
    )
    failed: list[str] = []
    for row in rows:
        beat = row.get("heartbeat_at") or row["started_at"]
        reason = None
        owner = _owner(row)
        if owner is not None and owner.gone():
            reason = f"{owner} ended without finishing the run (killed?)"
        elif beat is not None and now - beat > stuck_after:
            reason = (
                f"no progress since {beat:%Y-%m-%d %H:%M:%S} UTC (stuck more than {stuck_after})"
            )
        if reason is None:
            continue
        row.update(status="failed", completed_at=now, failure_reason=reason)
        row.pop("id", None)
        store.upsert("git_collection_runs", [row], version=next_version())
        failed.append(row["run_id"])
        log.warning("stuck run marked failed", run_id=row["run_id"], reason=reason)
    return failed


@contextmanager
def start_run(
    store: Store,
    data_source: str,
    settings: dict[str, Any],
    *,
    flush_seconds: float = 5.0,
    stuck_after: timedelta = timedelta(hours=2),
    sink: Sink | None = None,
) -> Iterator[Run]:
    """Open a run row, yield it, and close it as completed or failed."""
    cleanup_stuck_runs(store, stuck_after)
    now = datetime.now(UTC)
    run = Run(
        store=store,
        run_id=new_run_id(store, data_source, now),
        data_source=data_source,
        settings=settings,
        started_at=now,
        flush_seconds=flush_seconds,
        sink=sink,
        _sink_failed=failed_records(sink),
    )
    run.flush()
    try:
        yield run
    except KeyboardInterrupt:
        run.fail("interrupted by the user (Ctrl-C)")
        raise
    except BaseException as exc:
        run.add(errors=1)
        run.fail(f"{type(exc).__name__}: {exc}")
        raise
    else:
        run.complete()
