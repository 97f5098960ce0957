"""What every request handler shares: settings, the store, the queue, metrics, auth state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from redis.exceptions import RedisError

from forgelens.engine.queue import Queue
from forgelens.engine.store_access import StoreAccess
from forgelens.logs import get_logger
from forgelens.service.audit import audit_row, write_audit
from forgelens.service.keys import Principal, hash_key, verify_key
from forgelens.service.metrics import ServiceMetrics
from forgelens.service.settings import ServiceSettings
from forgelens.sources.ratelimit_view import RateLimitView
from forgelens.store import Store

log = get_logger(__name__)
T = TypeVar("T")
KEY_CACHE_SECONDS = 30.0


class RequestLimiter:
    """Requests per key per minute: fixed one-minute windows, in Redis when there is one (all
    API replicas share the count), else in this process."""

    def __init__(self, per_minute: int, redis: Any = None, prefix: str = "") -> None:
        self.per_minute = per_minute
        self.redis = redis
        self.prefix = prefix
        self._windows: dict[str, tuple[int, int]] = {}
        self._warned = -1  # the window in which Redis was last found away

    async def hit(self, key_id: str) -> float:
        """0 when the request may go on, else seconds until the next window."""
        if self.per_minute <= 0:
            return 0.0
        now = time.time()
        window = int(now // 60)
        count = 0
        if self.redis is not None:
            name = f"{self.prefix}forgelens:reqlimit:{key_id}:{window}"
            try:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, 61)
                    count = int((await pipe.execute())[0])
            except (RedisError, OSError) as exc:  # Redis away: this replica counts alone
                if self._warned != window:
                    self._warned = window
                    log.warning("request limit counted per replica", error=type(exc).__name__)
        if not count:
            start, count = self._windows.get(key_id, (window, 0))
            count = count + 1 if start == window else 1
            self._windows[key_id] = (window, count)
        return 0.0 if count <= self.per_minute else (window + 1) * 60 - now


@dataclass
class ServiceContext:
    settings: ServiceSettings
    access: StoreAccess
    queue: Queue
    metrics: ServiceMetrics
    ratelimits: RateLimitView
    limiter: RequestLimiter
    denied: RequestLimiter
    _keys: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    async def with_store(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` in a thread with the store (opened per call when shared)."""

        def call() -> T:
            with self.access.session() as store:
                return fn(store)

        return await asyncio.to_thread(call)

    async def authenticate(self, key: str) -> Principal | None:
        digest = hash_key(key)
        hit = self._keys.get(digest)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        principal = await self.with_store(lambda s: verify_key(s, key))
        if principal is not None:
            self._keys[digest] = (time.monotonic() + KEY_CACHE_SECONDS, principal)
        return principal

    def forget_key(self, key_id: str) -> None:
        for digest, (_, principal) in list(self._keys.items()):
            if principal.key_id == key_id:
                del self._keys[digest]

    async def deny(
        self, request: Request, action: str, detail: str, target: str | None = None
    ) -> None:
        """Audit a refused attempt; past the per-address budget answer 429 (and write nothing)."""
        address = request.client.host if request.client else "unknown"
        wait = await self.denied.hit(f"addr:{address}")
        if wait > 0:
            raise HTTPException(
                429,
                "too many refused attempts from this address; wait and check the key or secret",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        await self.audit(request, action, "denied", target=target, detail=detail)

    async def audit(
        self,
        request: Request,
        action: str,
        outcome: str,
        *,
        target: str | None = None,
        detail: str | None = None,
        key_id: str | None = None,
    ) -> None:
        principal = getattr(request.state, "principal", None)
        row = audit_row(
            action,
            outcome,
            key_id=key_id or (principal.key_id if principal else None),
            target=target,
            address=request.client.host if request.client else None,
            detail=detail,
            request_id=getattr(request.state, "request_id", None),
        )
        await self.with_store(lambda s: write_audit(s, row))


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx
