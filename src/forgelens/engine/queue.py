"""Collection jobs: in-process by default, Redis + arq workers when ``REDIS_URL`` is set.

    queue = open_queue(QueueConfig(redis_url=None), StoreAccess(url))
    await queue.start()
    info = await queue.enqueue(JobRequest("github:owner/repo", "github:owner/repo"))
    await queue.board.get("github:owner/repo")   # {"status": "queued", ...}

A trigger for a repository that is already queued or running returns that job
(``JobInfo.created`` is False) instead of queuing a second one. Every job calls the one engine
entry point, ``collect(store, [spec], CollectOptions(full=...))``. Status lives on a
``StatusBoard`` (memory, or the seed's Redis keys ``git:status:{repo}`` and
``git:last_sync:{repo}``). The schedule syncs tracked repositories incrementally every
``sync_interval_minutes``, calls the backfill hooks every ``backfill_interval_minutes`` and
applies the retention policy once a day.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from forgelens.engine.collect import CollectOptions, collect
from forgelens.engine.store_access import StoreAccess
from forgelens.logs import get_logger, redact
from forgelens.sources import forges
from forgelens.sources.spec import SourceSpec
from forgelens.store import Store

log = get_logger(__name__)

STATUSES = ("idle", "queued", "running", "completed", "failed")
ACTIVE = ("queued", "running")

# Hooks: observers see (outcome, seconds) of every finished job (metrics); backfill hooks are
# called by the schedule with a store (the backfill engine registers itself here).
JobObserver = Callable[[str, float], None]
JOB_OBSERVERS: list[JobObserver] = []
BackfillHook = Callable[[Store], object]
BACKFILL_HOOKS: dict[str, BackfillHook] = {}


def register_backfill(name: str, hook: BackfillHook) -> BackfillHook:
    """Have the schedule call ``hook(store)`` every ``backfill_interval_minutes``."""
    BACKFILL_HOOKS[name] = hook
    return hook


def _progressive_backfill(store: Store) -> object:
    from forgelens.engine.backfill import scheduled_backfill

    return scheduled_backfill(store)


register_backfill("progressive", _progressive_backfill)  # seed 004, engine/backfill.py


@dataclass
class QueueConfig:
    redis_url: str | None = None
    prefix: str = ""  # prepended to every Redis key: several deployments (or tests) on one Redis
    job_timeout_seconds: int = 3600
    # A job whose worker died is retried once its lease (timeout + this) lapses.
    lease_extra_seconds: int = 10
    max_tries: int = 5
    sync_interval_minutes: int = 60
    backfill_interval_minutes: int = 30
    schedule: bool = True
    retention: str = ""  # policy applied once a day by the schedule (engine/retention.py)
    cache_dir: Path = Path.home() / ".cache" / "forgelens"
    flush_seconds: float = 5.0
    workers: int = 1  # in-process job runners
    # Jobs connect only to public addresses (checked at connection), except at these hosts.
    private_hosts: tuple[str, ...] = ()


@dataclass
class JobRequest:
    """What to collect. ``repository_id`` is the key of dedupe and status."""

    spec: SourceSpec  # whole: kind, target and the API root of a self-hosted forge
    repository_id: str
    full_sync: bool = False
    reason: str = "trigger"  # trigger | webhook | schedule
    job_id: str = ""
    enqueued_at: str = ""

    @classmethod
    def for_spec(cls, spec: SourceSpec | str, **kw: Any) -> JobRequest:
        parsed = SourceSpec.of(spec)
        return cls(spec=parsed, repository_id=str(parsed), **kw)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> JobRequest:
        """The request a worker reads back (``asdict`` of one, as queued). A payload queued
        before the spec travelled whole names it as text with a separate ``api_url``."""
        fields = dict(payload)
        api_url = fields.pop("api_url", None)
        spec = SourceSpec.of(fields.pop("spec"))
        if api_url and not spec.api_url:
            spec = replace(spec, api_url=api_url)
        return cls(spec=spec, **fields)

    def stamped(self) -> JobRequest:
        now = datetime.now(UTC)
        return replace(self, job_id=uuid.uuid4().hex, enqueued_at=now.isoformat())


@dataclass
class JobInfo:
    job_id: str
    repository_id: str
    status: str
    created: bool
    enqueued_at: str = ""
    full_sync: bool = False


def next_tick(now: datetime, every_minutes: int) -> datetime:
    """The next time a schedule of "every N minutes, aligned on the hour" fires after ``now``."""
    every = max(1, every_minutes)
    base = now.replace(second=0, microsecond=0)
    minutes = base.hour * 60 + base.minute
    step = (minutes // every + 1) * every
    return base.replace(hour=0, minute=0) + timedelta(minutes=step)


class StatusBoard(Protocol):
    """Where job status is kept. Memory for one process; Redis for many."""

    async def get(self, repository_id: str) -> dict[str, Any] | None: ...

    async def mark_queued(self, req: JobRequest) -> None: ...

    async def mark_running(self, req: JobRequest, try_no: int) -> None: ...

    async def mark_finished(self, req: JobRequest, ok: bool, detail: dict[str, Any]) -> None: ...

    async def last_sync(self, repository_id: str) -> str | None: ...

    async def counts(self) -> dict[str, int]: ...


class MemoryStatusBoard:
    def __init__(self) -> None:
        self._status: dict[str, dict[str, Any]] = {}
        self._last: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    async def get(self, repository_id: str) -> dict[str, Any] | None:
        row = self._status.get(repository_id)
        return dict(row) if row else None

    async def mark_queued(self, req: JobRequest) -> None:
        self._status[req.repository_id] = queued_row(req)

    async def mark_running(self, req: JobRequest, try_no: int) -> None:
        row = self._status.setdefault(req.repository_id, queued_row(req))
        row.update(status="running", started_at=_now(), tries=try_no, job_id=req.job_id)

    async def mark_finished(self, req: JobRequest, ok: bool, detail: dict[str, Any]) -> None:
        row = self._status.setdefault(req.repository_id, queued_row(req))
        outcome = "completed" if ok else "failed"
        row.update(status=outcome, finished_at=_now(), **detail)
        self._counts[outcome] = self._counts.get(outcome, 0) + 1
        if ok:
            self._last[req.repository_id] = row["finished_at"]

    async def last_sync(self, repository_id: str) -> str | None:
        return self._last.get(repository_id)

    async def counts(self) -> dict[str, int]:
        return dict(self._counts)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def queued_row(req: JobRequest) -> dict[str, Any]:
    return {
        "status": "queued",
        "job_id": req.job_id,
        "spec": str(req.spec),
        "full_sync": req.full_sync,
        "reason": req.reason,
        "enqueued_at": req.enqueued_at,
    }


class Queue(Protocol):
    board: StatusBoard

    async def start(self) -> None: ...

    async def enqueue(self, req: JobRequest) -> JobInfo: ...

    async def depth(self) -> int: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


async def execute_job(
    req: JobRequest, try_no: int, access: StoreAccess, board: StatusBoard, config: QueueConfig
) -> dict[str, Any]:
    """Run one job: status running -> collect -> completed | failed. Re-raises failures."""
    await board.mark_running(req, try_no)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    opts = CollectOptions(
        full=req.full_sync,
        cache_dir=config.cache_dir,
        flush_seconds=config.flush_seconds,
        extra={"private_hosts": config.private_hosts},
    )

    def work() -> dict[str, Any]:
        with access.session() as store:
            results = collect(store, [req.spec], opts)
            run_id = results[0].run_id if results else None
            _record_job(store, req, "completed", try_no, run_id, started_at=started_at)
        return {
            "run_id": ",".join(r.run_id for r in results),
            "repos_processed": sum(len(r.repositories) for r in results),
            "commits": sum(r.commits for r in results),
            "prs": sum(r.prs for r in results),
            "api_calls": sum(r.api_calls for r in results),
            "errors": sum(r.errors for r in results),
        }

    try:
        detail = await asyncio.to_thread(work)
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")[:500]
        await board.mark_finished(req, False, {"error": reason})
        _observe("failed", time.monotonic() - started)
        log.warning("job failed", repository_id=req.repository_id, job_id=req.job_id, error=reason)
        await asyncio.to_thread(_record_failure, access, req, try_no, reason)
        raise
    await board.mark_finished(req, True, {**detail, "error": ""})
    _observe("completed", time.monotonic() - started)
    log.info("job completed", repository_id=req.repository_id, job_id=req.job_id, **detail)
    return detail


def _observe(outcome: str, seconds: float) -> None:
    for observer in JOB_OBSERVERS:
        observer(outcome, seconds)


def _record_job(
    store: Store,
    req: JobRequest,
    status: str,
    tries: int,
    run_id: str | None,
    error: str = "",
    started_at: datetime | None = None,
) -> None:
    now = datetime.now(UTC)
    store.upsert(
        "service_jobs",
        [
            {
                "job_id": req.job_id,
                "repository_id": req.repository_id,
                "spec": json.dumps(req.spec.as_dict()),  # whole: a re-sync asks the same API
                "full_sync": req.full_sync,
                "reason": req.reason,
                "status": status,
                "enqueued_at": datetime.fromisoformat(req.enqueued_at) if req.enqueued_at else now,
                "started_at": started_at,
                "finished_at": now,
                "tries": tries,
                "run_id": run_id,
                "error": error or None,
            }
        ],
    )


def _record_failure(access: StoreAccess, req: JobRequest, tries: int, reason: str) -> None:
    try:
        with access.session() as store:
            _record_job(store, req, "failed", tries, None, reason)
    except Exception as exc:  # the job's own failure is what matters; log this one
        log.warning("cannot record job failure", error=redact(str(exc)))


def tracked_specs(store: Store) -> list[SourceSpec]:
    """Repositories the schedule keeps in sync: forge repositories collected so far and every
    spec a job was ever queued for, whole (a self-hosted repository keeps the API root its
    newest job named, so its re-sync asks that server, not the forge's public API)."""
    kinds = ", ".join(f"'{k}'" for k in forges.kinds())
    forge = store.query(
        f"SELECT source || ':' || full_name FROM repositories "
        f"WHERE source IN ({kinds}) AND deleted_at IS NULL"
    )
    found = {text: SourceSpec.of(text) for (text,) in forge}
    queued = store.query(
        "SELECT spec FROM service_jobs WHERE spec IS NOT NULL ORDER BY enqueued_at"
    )
    for (text,) in queued:
        spec = stored_spec(text)
        if spec.api_url or str(spec) not in found:
            found[str(spec)] = spec
    return [found[k] for k in sorted(found)]


def stored_spec(text: str) -> SourceSpec:
    """The spec of a ``service_jobs`` row: its JSON (``SourceSpec.as_dict``), or the text a job
    recorded before specs were stored whole."""
    return SourceSpec.of(json.loads(text) if text.startswith("{") else text)


async def schedule_sync(queue: Queue, access: StoreAccess) -> list[JobInfo]:
    """Queue an incremental sync of every tracked repository (duplicates merge)."""

    def specs() -> list[SourceSpec]:
        with access.session() as store:
            return tracked_specs(store)

    infos = []
    for spec in await asyncio.to_thread(specs):
        infos.append(await queue.enqueue(JobRequest.for_spec(spec, reason="schedule")))
    log.info("scheduled sync", repositories=len(infos))
    return infos


async def schedule_backfill(access: StoreAccess) -> list[str]:
    """Call every registered backfill hook; return the names called."""
    if not BACKFILL_HOOKS:
        log.info("scheduled backfill: no backfill registered yet")
        return []

    def run() -> list[str]:
        with access.session() as store:
            for hook in BACKFILL_HOOKS.values():
                hook(store)
            return list(BACKFILL_HOOKS)

    return await asyncio.to_thread(run)


async def schedule_retention(access: StoreAccess, policy: str) -> list[dict[str, object]]:
    """Apply the retention policy (daily, from the schedule)."""
    from forgelens.engine.retention import apply_retention, parse_policy

    rules = parse_policy(policy)
    if not rules:
        return []

    def run() -> list[dict[str, object]]:
        with access.session() as store:
            return apply_retention(store, rules)

    report = await asyncio.to_thread(run)
    log.info("retention applied", report=report)
    return report


def open_queue(config: QueueConfig, access: StoreAccess) -> Queue:
    """Redis + arq when ``config.redis_url`` is set, else an in-process queue."""
    if config.redis_url:
        from forgelens.engine.queue_redis import RedisQueue

        return RedisQueue(config, access)
    from forgelens.engine.queue_local import InProcessQueue

    return InProcessQueue(config, access)
