"""``GET /health`` (seed 001) and ``GET /health/ready`` (store, Redis, Kafka, each on its own)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from forgelens import __version__
from forgelens.logs import redact
from forgelens.service.context import context

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    timestamp: str


def utc_z(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers. No key needed."""
    return Health(status="healthy", version=__version__, timestamp=utc_z(datetime.now(UTC)))


async def _tcp(host: str, port: int) -> None:
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2.0)
    writer.close()
    await writer.wait_closed()


async def _check(coro: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(coro, timeout=5.0)
    except Exception as exc:  # each check reports its own failure
        return {"ok": False, "detail": redact(f"{type(exc).__name__}: {exc}")[:300]}
    return {"ok": True}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: store, Redis and Kafka reachability, each on its own. 503 if one fails."""
    ctx = context(request)
    checks: dict[str, dict[str, Any]] = {
        "store": await _check(ctx.with_store(lambda s: s.query("SELECT 1")))
    }
    if ctx.settings.redis_url:
        checks["redis"] = await _check(ctx.queue.ping())
    else:
        checks["redis"] = {"ok": True, "detail": "not configured (jobs run in-process)"}
    if ctx.settings.kafka_brokers:
        host, _, port = ctx.settings.kafka_brokers.split(",")[0].strip().rpartition(":")
        checks["kafka"] = await _check(_tcp(host or "localhost", int(port or 9092)))
    else:
        checks["kafka"] = {"ok": True, "detail": "not configured"}
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
