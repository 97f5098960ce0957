"""The in-process queue: jobs run on this process's event loop (collect in a thread).

One command and nothing else to start: ``forgelens serve`` without ``REDIS_URL``. The schedule
runs here too (every ``sync_interval_minutes``, aligned on the hour; backfill likewise).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from forgelens.engine.queue import (
    JobInfo,
    JobRequest,
    MemoryStatusBoard,
    QueueConfig,
    StatusBoard,
    execute_job,
    next_tick,
    schedule_backfill,
    schedule_retention,
    schedule_sync,
)
from forgelens.engine.store_access import StoreAccess
from forgelens.logs import get_logger

log = get_logger(__name__)


class InProcessQueue:
    def __init__(self, config: QueueConfig, access: StoreAccess) -> None:
        self.config = config
        self.access = access
        self.board: StatusBoard = MemoryStatusBoard()
        self._pending: asyncio.Queue[JobRequest] | None = None
        self._active: dict[str, JobRequest] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._pending = asyncio.Queue()
        for _ in range(max(1, self.config.workers)):
            self._tasks.append(asyncio.create_task(self._run()))
        if self.config.schedule:
            self._tasks.append(asyncio.create_task(self._every(self.config.sync_interval_minutes)))
            self._tasks.append(
                asyncio.create_task(self._every(self.config.backfill_interval_minutes, "backfill"))
            )
            if self.config.retention:
                self._tasks.append(asyncio.create_task(self._every(24 * 60, "retention")))

    async def enqueue(self, req: JobRequest) -> JobInfo:
        if self._pending is None:
            raise RuntimeError("queue not started")
        current = self._active.get(req.repository_id)
        if current is not None:
            row = await self.board.get(req.repository_id) or {}
            status = str(row.get("status", "queued"))
            return JobInfo(
                current.job_id,
                req.repository_id,
                status,
                False,
                current.enqueued_at,
                current.full_sync,
            )
        req = req.stamped()
        self._active[req.repository_id] = req
        await self.board.mark_queued(req)
        self._pending.put_nowait(req)
        return JobInfo(
            req.job_id, req.repository_id, "queued", True, req.enqueued_at, req.full_sync
        )

    async def _run(self) -> None:
        assert self._pending is not None
        while True:
            req = await self._pending.get()
            try:
                await execute_job(req, 1, self.access, self.board, self.config)
            except Exception as exc:  # recorded on the board and in the log
                log.debug("in-process job ended with an error", error=type(exc).__name__)
            finally:
                self._active.pop(req.repository_id, None)
                self._pending.task_done()

    async def join(self) -> None:
        """Wait until every queued job has finished (tests, benchmarks)."""
        if self._pending is not None:
            await self._pending.join()

    async def _every(self, minutes: int, what: str = "sync") -> None:
        while True:
            now = datetime.now(UTC)
            await asyncio.sleep((next_tick(now, minutes) - now).total_seconds())
            try:
                if what == "backfill":
                    await schedule_backfill(self.access)
                elif what == "retention":
                    await schedule_retention(self.access, self.config.retention)
                else:
                    await schedule_sync(self, self.access)
            except Exception as exc:  # a failed tick must not stop the schedule
                log.warning("scheduled task failed", error=str(exc)[:300])

    async def depth(self) -> int:
        return self._pending.qsize() if self._pending is not None else 0

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
