"""Redis going away for a few seconds (a restart, a failover) behind a loopback proxy: the
API's request limit keeps answering (each replica counts alone meanwhile) and a job's status
write waits Redis out instead of leaving the job ``running`` for ever."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from forgelens.engine.queue import JobRequest
from forgelens.engine.queue_redis import RedisStatusBoard
from forgelens.service.context import RequestLimiter
from forgelens.sources.spec import parse_spec
from forgelens.testing.fault_proxy import FaultProxy
from tests.redis_fixtures import isolated_prefix


def test_the_request_limit_counts_per_replica_while_redis_is_away() -> None:
    async def scenario(port: int, proxy: FaultProxy, prefix: str) -> tuple[float, list[float]]:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        limiter = RequestLimiter(3, client, prefix=prefix)
        try:
            shared = await limiter.hit("before")
            proxy.outage(2)
            away = [await limiter.hit("during") for _ in range(4)]
        finally:
            await client.aclose()
        return shared, away

    with isolated_prefix() as prefix, FaultProxy(6379) as proxy:
        shared, away = asyncio.run(scenario(proxy.port, proxy, prefix))
        assert proxy.connections >= 1  # the first hit went through Redis
    assert shared == 0.0
    assert away[:3] == [0.0, 0.0, 0.0]  # answered, not a 500
    assert away[3] > 0  # the limit still holds, counted in this process


def test_a_finished_job_is_recorded_once_redis_is_back() -> None:
    req = JobRequest(parse_spec("github:o/r"), "github:o/r", False, "trigger").stamped()

    async def scenario(port: int, proxy: FaultProxy, prefix: str) -> dict[str, object] | None:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        board = RedisStatusBoard(client, prefix)  # type: ignore[arg-type]
        try:
            await board.mark_running(req, 1)
            proxy.outage(1.5)
            began = time.monotonic()
            await board.mark_finished(req, True, {"prs": 3})
            assert time.monotonic() - began >= 1.0  # it waited the outage out
            return await board.get(req.repository_id)
        finally:
            await client.aclose()

    with isolated_prefix() as prefix, FaultProxy(6379) as proxy:
        row = asyncio.run(scenario(proxy.port, proxy, prefix))
    assert row is not None
    assert (row["status"], row["prs"]) == ("completed", "3")
