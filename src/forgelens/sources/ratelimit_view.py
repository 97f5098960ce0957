"""A rate-limit view shared by every process that spends one forge budget.

The forge HTTP client reports what each answer said (``update``) and asks before spending
(``take``); with Redis, all workers see one view, so together they don't overrun one token's
budget. Keys follow the seed: ``git:ratelimit:{platform}:{scope}`` where ``scope`` is a
repository id or, for a token's budget, ``token:{fingerprint}`` (``token_fingerprint``: a short
hash, never the token).

    view = open_ratelimit_view(redis_url)            # MemoryRateLimitView() without Redis
    view.update("github", token_scope(token), remaining=4990, limit=5000, reset_at=1767225600)
    wait = view.take("github", token_scope(token))   # 0.0: go; > 0: seconds until the reset
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from forgelens.logs import get_logger

log = get_logger(__name__)


def token_fingerprint(token: str) -> str:
    """8 hex characters of the token's SHA-256: tells tokens apart, reveals nothing."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def token_scope(token: str) -> str:
    return f"token:{token_fingerprint(token)}"


@dataclass(frozen=True, slots=True)
class RateLimitState:
    platform: str
    scope: str
    remaining: int
    limit: int
    reset_at: float  # epoch seconds


class RateLimitView(Protocol):
    def update(
        self, platform: str, scope: str, *, remaining: int, limit: int, reset_at: float
    ) -> None: ...

    def get(self, platform: str, scope: str) -> RateLimitState | None: ...

    def take(self, platform: str, scope: str, n: int = 1) -> float: ...

    def all(self) -> list[RateLimitState]: ...


class MemoryRateLimitView:
    """One process's view (no Redis)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], RateLimitState] = {}
        self._lock = threading.Lock()

    def update(
        self, platform: str, scope: str, *, remaining: int, limit: int, reset_at: float
    ) -> None:
        with self._lock:
            old = self._states.get((platform, scope))
            if old is not None and old.reset_at == reset_at:
                remaining = min(remaining, old.remaining)
            self._states[(platform, scope)] = RateLimitState(
                platform, scope, remaining, limit, reset_at
            )

    def get(self, platform: str, scope: str) -> RateLimitState | None:
        state = self._states.get((platform, scope))
        if state is not None and state.reset_at < time.time():
            return None
        return state

    def take(self, platform: str, scope: str, n: int = 1) -> float:
        with self._lock:
            state = self.get(platform, scope)
            if state is None:
                return 0.0
            if state.remaining >= n:
                self._states[(platform, scope)] = RateLimitState(
                    platform, scope, state.remaining - n, state.limit, state.reset_at
                )
                return 0.0
            return max(0.0, state.reset_at - time.time())

    def all(self) -> list[RateLimitState]:
        now = time.time()
        return [s for s in self._states.values() if s.reset_at >= now]


FIRST_WAIT = 0.05  # seconds a worker waits for the first answer of a new window

# remaining only goes down within one window (several workers report out of order); a new
# window (another reset time) replaces it. TTL: until a minute after the reset.
_UPDATE = """
local old_reset = redis.call('HGET', KEYS[1], 'reset_at')
local remaining = tonumber(ARGV[1])
if old_reset == ARGV[3] then
  local old = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
  if old ~= nil and old < remaining then remaining = old end
end
redis.call('HSET', KEYS[1], 'remaining', remaining, 'limit', ARGV[2], 'reset_at', ARGV[3])
redis.call('EXPIREAT', KEYS[1], math.floor(tonumber(ARGV[3])) + 60)
return remaining
"""
# Unknown window (none yet, or its reset has passed): one request goes first and reports the
# new window; the others wait a moment for it instead of spending points nobody counts.
_TAKE = (
    """
local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining'))
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset_at'))
if remaining == nil or reset == nil or reset <= tonumber(ARGV[2]) then
  if redis.call('SET', KEYS[2], '1', 'NX', 'PX', 2000) then return '0' end
  return '"""
    + str(FIRST_WAIT)
    + """'
end
local n = tonumber(ARGV[1])
if remaining >= n then
  redis.call('HINCRBY', KEYS[1], 'remaining', -n)
  return '0'
end
local wait = reset - tonumber(ARGV[2])
if wait < 0 then wait = 0 end
return tostring(wait)
"""
)


class RedisRateLimitView:
    """The view on Redis: every worker on every machine shares it."""

    def __init__(self, redis: Any, prefix: str = "") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, platform: str, scope: str) -> str:
        return f"{self.prefix}git:ratelimit:{platform}:{scope}"

    def update(
        self, platform: str, scope: str, *, remaining: int, limit: int, reset_at: float
    ) -> None:
        self.redis.eval(_UPDATE, 1, self._key(platform, scope), remaining, limit, repr(reset_at))

    def get(self, platform: str, scope: str) -> RateLimitState | None:
        raw = self.redis.hgetall(self._key(platform, scope))
        return _state(platform, scope, raw) if raw else None

    def take(self, platform: str, scope: str, n: int = 1) -> float:
        # the first-request marker lives outside ``git:ratelimit:*`` (``all`` reads hashes there)
        first = f"{self.prefix}git:ratelimit-first:{platform}:{scope}"
        return float(self.redis.eval(_TAKE, 2, self._key(platform, scope), first, n, time.time()))

    def all(self) -> list[RateLimitState]:
        out = []
        head = f"{self.prefix}git:ratelimit:"
        for key in self.redis.scan_iter(match=head + "*", count=500):
            name = key.decode() if isinstance(key, bytes) else key
            platform, _, scope = name[len(head) :].partition(":")
            raw = self.redis.hgetall(name)
            if raw:
                out.append(_state(platform, scope, raw))
        return out


def _state(platform: str, scope: str, raw: dict[Any, Any]) -> RateLimitState:
    get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}
    return RateLimitState(
        platform, scope, int(get["remaining"]), int(get["limit"]), float(get["reset_at"])
    )


def open_ratelimit_view(redis_url: str | None, prefix: str = "") -> RateLimitView:
    """Redis-backed when ``redis_url`` is set, else this process's memory."""
    if not redis_url:
        return MemoryRateLimitView()
    import redis

    return RedisRateLimitView(redis.Redis.from_url(redis_url), prefix)


class TolerantView:
    """A Redis view that a Redis outage cannot break: the client carries on with its own
    budget view (logged once) instead of failing a collection."""

    def __init__(self, view: RateLimitView) -> None:
        self.view = view
        self._warned = False

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("shared rate-limit view unavailable", error=str(exc)[:200])

    def update(
        self, platform: str, scope: str, *, remaining: int, limit: int, reset_at: float
    ) -> None:
        try:
            self.view.update(platform, scope, remaining=remaining, limit=limit, reset_at=reset_at)
        except Exception as exc:  # any Redis error degrades, never fails
            self._failed(exc)

    def get(self, platform: str, scope: str) -> RateLimitState | None:
        try:
            return self.view.get(platform, scope)
        except Exception as exc:  # any Redis error degrades, never fails
            self._failed(exc)
            return None

    def take(self, platform: str, scope: str, n: int = 1) -> float:
        try:
            return self.view.take(platform, scope, n)
        except Exception as exc:  # any Redis error degrades, never fails
            self._failed(exc)
            return 0.0

    def all(self) -> list[RateLimitState]:
        try:
            return self.view.all()
        except Exception as exc:  # any Redis error degrades, never fails
            self._failed(exc)
            return []


_SHARED: dict[tuple[str, str], RateLimitView] = {}
_SHARED_LOCK = threading.Lock()


def shared_view() -> RateLimitView | None:
    """The view the forge clients of this process share with every worker: Redis at
    ``REDIS_URL`` (keys under ``FORGELENS_REDIS_PREFIX``), or None without Redis."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    prefix = os.environ.get("FORGELENS_REDIS_PREFIX", "")
    with _SHARED_LOCK:
        view = _SHARED.get((url, prefix))
        if view is None:
            view = _SHARED[(url, prefix)] = TolerantView(open_ratelimit_view(url, prefix))
        return view
