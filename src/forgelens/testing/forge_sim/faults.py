"""Fault injection and rate-limit budgets shared by every renderer of the simulator.

``Faults`` decides, per request and deterministically from a seed, whether to answer with a
5xx, a secondary rate limit (429/403 + message), a slow response or a truncated body, and
whether a token has been revoked. ``Budgets`` keeps a primary rate-limit budget per token and
resource with a reset time; renderers turn it into their forge's headers.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Faults:
    seed: int = 7
    error_rate: float = 0.0  # share of requests answered 502/503
    secondary_rate: float = 0.0  # share answered with a secondary rate limit
    secondary_retry_after: float | None = 0.01  # None: no retry-after header (GitHub often)
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    truncate_rate: float = 0.0  # share of 200 bodies cut in half
    graphql_error_rate: float = 0.0  # share of GraphQL answers with errors + partial data
    html_rate: float = 0.0  # share answered 200 with an HTML page (self-hosted proxy/portal)
    login_rate: float = 0.0  # share redirected to a sign-in page (SSO in front of the API)
    revoke_after: dict[str, int] = field(default_factory=dict)  # token -> requests it survives
    graphql_max_first: int | None = None  # larger GraphQL pages time out (502), like GitHub's
    graphql_max_nodes: int | None = None  # answers with more nodes: 502 stream error CANCEL
    only_paths: tuple[str, ...] = ()  # limit 5xx/secondary/truncation to these path prefixes
    requests: int = 0
    by_token: dict[str, int] = field(default_factory=dict)
    _rng: random.Random | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _roll(self) -> float:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng.random()

    def pick(self, path: str, token: str | None) -> str | None:
        """The fault to inject into this request (or None): 'revoked', 'error', 'secondary',
        'slow', 'truncate', 'graphql_error', 'html', 'login'."""
        with self._lock:
            self.requests += 1
            if token is not None:
                self.by_token[token] = self.by_token.get(token, 0) + 1
                limit = self.revoke_after.get(token)
                if limit is not None and self.by_token[token] > limit:
                    return "revoked"
            if self.only_paths and not path.startswith(self.only_paths):
                return None
            for name, rate in (
                ("error", self.error_rate),
                ("secondary", self.secondary_rate),
                ("slow", self.slow_rate),
                ("truncate", self.truncate_rate),
                ("graphql_error", self.graphql_error_rate),
                ("html", self.html_rate),
                ("login", self.login_rate),
            ):
                if rate and self._roll() < rate:
                    return name
            return None


@dataclass
class Budget:
    limit: int
    remaining: int
    reset_at: float


@dataclass
class Budgets:
    """Primary budgets per (token, resource). ``limit=0`` models GHES with limits off."""

    limit: int = 5000
    window: float = 3600.0
    limits: dict[str, int] = field(default_factory=dict)  # per-resource override
    clock: Callable[[], float] = time.time  # a simulated clock makes windows simulated hours
    # every window that ended: (token, resource, reset_at, limit, remaining) -- unused budget
    ended: list[tuple[str, str, float, int, int]] = field(default_factory=list)
    _state: dict[tuple[str, str], Budget] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, token: str, resource: str) -> Budget:
        with self._lock:
            now = self.clock()
            b = self._state.get((token, resource))
            limit = self.limits.get(resource, self.limit)
            if b is None or b.reset_at <= now:
                if b is not None:
                    self.ended.append((token, resource, b.reset_at, b.limit, b.remaining))
                b = Budget(limit, limit, now + self.window)
                self._state[(token, resource)] = b
            return b

    def spend(self, token: str, resource: str, cost: int = 1) -> Budget:
        b = self.get(token, resource)
        with self._lock:
            if b.limit:
                b.remaining = max(0, b.remaining - cost)
        return b

    def exhausted(self, token: str, resource: str, cost: int = 1) -> bool:
        b = self.get(token, resource)
        return bool(b.limit) and b.remaining < cost

    def set(self, token: str, resource: str, remaining: int, reset_in: float) -> None:
        with self._lock:
            limit = self.limits.get(resource, self.limit)
            self._state[(token, resource)] = Budget(limit, remaining, self.clock() + reset_in)
