"""Jobs on Redis: an arq queue, the seed's status keys, and the worker that takes jobs.

Keys (each prefixed with ``QueueConfig.prefix``):
- ``git:status:{repository_id}``   hash: status, job_id, spec, enqueued_at, started_at, tries ...
- ``git:last_sync:{repository_id}`` ISO time of the last completed sync
- ``forgelens:queue``               the arq queue (sorted set) - its size is the queue depth
- ``arq:job:{prefix}forgelens:job:collect:{repository_id}`` arq's job: one queued or running job per
  repository, so a second trigger returns the first job (arq refuses a second job id).

A worker killed mid-job (``kill -9``) leaves the job in the queue; once arq's in-progress lease
(job timeout + 10 s) lapses another worker runs it again, and idempotent upserts converge.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Worker, func
from redis.exceptions import RedisError

from forgelens.engine.queue import (
    JobInfo,
    JobRequest,
    QueueConfig,
    StatusBoard,
    execute_job,
    queued_row,
    schedule_backfill,
    schedule_retention,
    schedule_sync,
)
from forgelens.engine.store_access import StoreAccess
from forgelens.errors import ForgeError, RateLimited, StoreError, StoreLocked, StoreUnavailable
from forgelens.logs import get_logger

log = get_logger(__name__)

_MARK_QUEUED = """
if redis.call('HGET', KEYS[1], 'job_id') == ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""
RETRIABLE = (RateLimited, ForgeError, StoreLocked, StoreUnavailable)
STORE_RETRY_SECONDS = 10.0  # a store that cannot be reached is usually back within seconds
BOARD_PATIENCE_SECONDS = 60.0  # how long a status write waits out a Redis outage


async def _patiently(write: Any) -> None:
    """Run the status write ``write()`` (a coroutine factory), retrying while Redis cannot be
    reached for up to ``BOARD_PATIENCE_SECONDS``: a job that ran must not stay ``running`` on
    the board, nor be failed by arq, because Redis blinked as it ended."""
    deadline = asyncio.get_running_loop().time() + BOARD_PATIENCE_SECONDS
    delay = 0.2
    while True:
        try:
            await write()
            return
        except (RedisError, OSError):
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=str).encode()


def _loads(raw: bytes) -> Any:
    return json.loads(raw)


def queue_name(config: QueueConfig) -> str:
    return f"{config.prefix}forgelens:queue"


def arq_job_id(config: QueueConfig, repository_id: str) -> str:
    """One id per repository: arq refuses a second job with an id that is queued or running."""
    return f"{config.prefix}forgelens:job:collect:{repository_id}"


def _flat(row: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for k, v in row.items():
        out += [k, json.dumps(v) if isinstance(v, bool) else ("" if v is None else str(v))]
    return out


def _mapping(row: dict[str, Any]) -> dict[str, str]:
    flat = _flat(row)
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStatusBoard:
    def __init__(self, redis: ArqRedis, prefix: str = "") -> None:
        self.redis = redis
        self.prefix = prefix

    def _status(self, repo: str) -> str:
        return f"{self.prefix}git:status:{repo}"

    def _last(self, repo: str) -> str:
        return f"{self.prefix}git:last_sync:{repo}"

    def _counts(self) -> str:
        return f"{self.prefix}forgelens:jobs:outcomes"

    async def get(self, repository_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(self._status(repository_id))  # type: ignore[misc]
        if not raw:
            return None
        row: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
        row["full_sync"] = row.get("full_sync") == "true"
        return row

    async def mark_queued(self, req: JobRequest) -> None:
        row = queued_row(req)
        await self.redis.eval(  # type: ignore[misc]
            _MARK_QUEUED, 1, self._status(req.repository_id), req.job_id, *_flat(row)
        )

    async def mark_running(self, req: JobRequest, try_no: int) -> None:
        row = {
            **queued_row(req),
            "status": "running",
            "started_at": datetime.now(UTC).isoformat(),
            "tries": try_no,
        }
        name, mapping = self._status(req.repository_id), _mapping(row)
        await _patiently(lambda: self.redis.hset(name, mapping=mapping))

    async def mark_finished(self, req: JobRequest, ok: bool, detail: dict[str, Any]) -> None:
        now = datetime.now(UTC).isoformat()
        outcome = "completed" if ok else "failed"
        row = {"status": outcome, "finished_at": now, **detail}

        async def write() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._status(req.repository_id), mapping=_mapping(row))
                pipe.hincrby(self._counts(), outcome, 1)
                if ok:
                    pipe.set(self._last(req.repository_id), now)
                await pipe.execute()

        await _patiently(write)

    async def last_sync(self, repository_id: str) -> str | None:
        raw = await self.redis.get(self._last(repository_id))
        return raw.decode() if raw else None

    async def counts(self) -> dict[str, int]:
        raw = await self.redis.hgetall(self._counts())  # type: ignore[misc]
        return {k.decode(): int(v) for k, v in raw.items()}


async def connect(config: QueueConfig) -> ArqRedis:
    assert config.redis_url
    return await create_pool(
        RedisSettings.from_dsn(config.redis_url),
        default_queue_name=queue_name(config),
        job_serializer=_dumps,
        job_deserializer=_loads,
    )


class RedisQueue:
    """Enqueue side (the service). ``forgelens worker`` runs the jobs (``build_worker``)."""

    def __init__(
        self, config: QueueConfig, access: StoreAccess, redis: ArqRedis | None = None
    ) -> None:
        self.config = config
        self.access = access
        self._redis = redis
        self._own = redis is None
        self.board: StatusBoard = RedisStatusBoard(redis, config.prefix)  # type: ignore[arg-type]

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            raise RuntimeError("queue not started")
        return self._redis

    async def start(self) -> None:
        if self._redis is None:
            self._redis = await connect(self.config)
        self.board = RedisStatusBoard(self._redis, self.config.prefix)

    async def enqueue(self, req: JobRequest) -> JobInfo:
        req = req.stamped()
        try:
            job = await self.redis.enqueue_job(
                "collect_job",
                asdict(req),
                _job_id=arq_job_id(self.config, req.repository_id),
                _queue_name=queue_name(self.config),
            )
        except (RedisError, OSError) as exc:
            raise StoreError(
                f"the job queue (Redis) is unreachable: {type(exc).__name__}. Check REDIS_URL "
                "and that Redis runs; nothing was queued"
            ) from exc
        if job is None:  # one is queued or running already: hand that one back
            row = await self.board.get(req.repository_id) or {}
            return JobInfo(
                str(row.get("job_id", "")),
                req.repository_id,
                str(row.get("status", "queued")),
                False,
                str(row.get("enqueued_at", "")),
                bool(row.get("full_sync")),
            )
        await self.board.mark_queued(req)
        return JobInfo(
            req.job_id, req.repository_id, "queued", True, req.enqueued_at, req.full_sync
        )

    async def depth(self) -> int:
        return int(await self.redis.zcard(queue_name(self.config)))

    async def ping(self) -> bool:
        return bool(await self.redis.ping())  # type: ignore[misc]

    async def close(self) -> None:
        if self._own and self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def _minutes(every: int) -> dict[str, Any]:
    """arq cron fields for "every N minutes" (N divides 60, or is a whole number of hours)."""
    if every >= 60:
        return {"hour": set(range(0, 24, max(1, every // 60))), "minute": {0}}
    step = every if 60 % every == 0 else next(d for d in range(every, 61) if 60 % d == 0)
    return {"minute": set(range(0, 60, step))}


def build_worker(
    config: QueueConfig, access: StoreAccess, *, burst: bool = False, max_jobs: int = 2
) -> Worker:
    """An arq worker that runs collection jobs and (once across all workers) the schedule."""

    async def startup(ctx: dict[str, Any]) -> None:
        ctx["queue"] = RedisQueue(config, access, ctx["redis"])
        await ctx["queue"].start()

    async def collect_job(ctx: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        queue: RedisQueue = ctx["queue"]
        req = JobRequest.from_payload(payload)
        try:
            return await execute_job(req, int(ctx["job_try"]), access, queue.board, config)
        except RETRIABLE as exc:
            if int(ctx["job_try"]) < config.max_tries:
                delay = getattr(exc, "reset_at", None)
                wait = max(5.0, float(delay) - datetime.now(UTC).timestamp()) if delay else 30.0
                if isinstance(exc, StoreUnavailable):
                    wait = STORE_RETRY_SECONDS
                raise Retry(defer=min(wait, 3600.0)) from exc
            raise

    async def sync_tick(ctx: dict[str, Any]) -> int:
        return len(await schedule_sync(ctx["queue"], access))

    async def backfill_tick(ctx: dict[str, Any]) -> int:
        return len(await schedule_backfill(access))

    async def retention_tick(ctx: dict[str, Any]) -> int:
        return len(await schedule_retention(access, config.retention))

    cron_jobs = []
    if config.schedule:
        cron_jobs = [
            cron(
                sync_tick,
                name=f"{config.prefix}forgelens:sync",
                **_minutes(config.sync_interval_minutes),
            ),  # type: ignore[arg-type]
            cron(
                backfill_tick,
                name=f"{config.prefix}forgelens:backfill",
                **_minutes(config.backfill_interval_minutes),
            ),  # type: ignore[arg-type]
        ]
        if config.retention:
            name = f"{config.prefix}forgelens:retention"
            cron_jobs.append(cron(retention_tick, name=name, hour={3}, minute={17}))  # type: ignore[arg-type]
    worker = Worker(
        functions=[func(collect_job, name="collect_job", max_tries=config.max_tries)],  # type: ignore[arg-type]
        cron_jobs=cron_jobs,
        redis_settings=RedisSettings.from_dsn(config.redis_url or ""),
        queue_name=queue_name(config),
        on_startup=startup,
        burst=burst,
        max_jobs=max_jobs,
        job_timeout=config.job_timeout_seconds,
        keep_result=0,
        max_tries=config.max_tries,
        poll_delay=0.2,
        job_serializer=_dumps,
        job_deserializer=_loads,
        handle_signals=not burst,
    )
    worker.in_progress_timeout_s = config.job_timeout_seconds + config.lease_extra_seconds
    return worker


def run_worker(
    config: QueueConfig, access: StoreAccess, *, burst: bool = False, max_jobs: int = 2
) -> None:
    """``forgelens worker``: run jobs until stopped. Losing Redis (a restart, a failover) ends
    arq's poll loop with a connection error; the worker then lets the jobs it runs finish (their
    status writes wait Redis out), pauses and starts again, instead of exiting."""
    delay = 1.0
    while True:
        worker = build_worker(config, access, burst=burst, max_jobs=max_jobs)
        try:
            worker.run()
            return
        except (RedisError, OSError) as exc:
            log.warning(
                "Redis unreachable; the worker starts again", error=type(exc).__name__, pause=delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


async def drain(config: QueueConfig, access: StoreAccess, *, max_jobs: int = 2) -> Worker:
    """Run a burst worker in this event loop until the queue is empty; close it cleanly."""
    worker = build_worker(config, access, burst=True, max_jobs=max_jobs)
    try:
        await worker.async_run()
    finally:
        await asyncio.gather(*worker.tasks.values())
        if worker._pool is not None:  # arq's close() calls redis' deprecated close()
            await worker.pool.delete(worker.health_check_key)
            await worker.pool.aclose()
            worker._pool = None
    return worker
