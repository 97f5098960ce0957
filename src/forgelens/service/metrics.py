"""Prometheus metrics of the service (and of a worker, with ``forgelens worker --metrics-port``).

Seed 001 names, exactly:
- ``git_collector_requests_total{method,route,status}``   requests the service answered
- ``git_collector_requests_failed{method,route,status}``  of those, answered with >= 400
  (untyped: the seed's name has no ``_total``)
- ``git_collector_collections_total{status}``             finished collection jobs (all workers,
  read from the status board: Redis when workers run elsewhere)
- ``git_collector_processing_duration_seconds``           job durations run in this process
Ours: ``git_collector_forge_api_calls_total{forge,status}``,
``git_collector_ratelimit_remaining{forge,token}`` (token = 8-hex fingerprint, never the token),
``git_collector_queue_depth``, ``git_collector_webhook_deliveries_total{forge,event,outcome}``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric

from forgelens import telemetry
from forgelens.engine import queue as jobs
from forgelens.sources.ratelimit_view import RateLimitState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServiceMetrics:
    """One registry per app (several apps in one test process don't collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.forge_calls: Counter[tuple[str, str]] = Counter()
        self.webhooks: Counter[tuple[str, str, str]] = Counter()
        self.collections: dict[str, int] = {}
        self.queue_depth = 0
        self.ratelimits: list[RateLimitState] = []
        self.duration = Histogram(
            "git_collector_processing_duration_seconds",
            "Time spent processing a collection job",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf")),
            registry=self.registry,
        )
        self.registry.register(self)  # type: ignore[arg-type]

    def attach(self) -> ServiceMetrics:
        """Start listening to engine events (jobs finished, forge calls made)."""
        jobs.JOB_OBSERVERS.append(self.observe_job)
        telemetry.FORGE_CALL_LISTENERS.append(self.forge_call)
        return self

    def detach(self) -> None:
        """Stop listening to engine events (app shutdown)."""
        if self.observe_job in jobs.JOB_OBSERVERS:
            jobs.JOB_OBSERVERS.remove(self.observe_job)
        if self.forge_call in telemetry.FORGE_CALL_LISTENERS:
            telemetry.FORGE_CALL_LISTENERS.remove(self.forge_call)

    def observe_job(self, outcome: str, seconds: float) -> None:
        self.duration.observe(seconds)

    def forge_call(self, forge: str, status: int) -> None:
        with self._lock:
            self.forge_calls[(forge, str(status))] += 1

    def request(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1

    def webhook(self, forge: str, event: str, outcome: str) -> None:
        with self._lock:
            self.webhooks[(forge, event[:60], outcome)] += 1

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            requests = dict(self.requests)
            forge_calls = dict(self.forge_calls)
            webhooks = dict(self.webhooks)
        total = Metric("git_collector_requests", "Total API requests made", "counter")
        failed = Metric("git_collector_requests_failed", "Failed API requests", "unknown")
        for (method, route, status), n in sorted(requests.items()):
            labels = {"method": method, "route": route, "status": status}
            total.add_sample("git_collector_requests_total", labels, n)
            if int(status) >= 400:
                failed.add_sample("git_collector_requests_failed", labels, n)
        yield total
        yield failed
        coll = Metric("git_collector_collections", "Total collection jobs", "counter")
        for status, n in sorted(self.collections.items()):
            coll.add_sample("git_collector_collections_total", {"status": status}, n)
        yield coll
        calls = Metric("git_collector_forge_api_calls", "Forge API calls", "counter")
        for (forge, status), n in sorted(forge_calls.items()):
            labels = {"forge": forge, "status": status}
            calls.add_sample("git_collector_forge_api_calls_total", labels, n)
        yield calls
        remaining = Metric(
            "git_collector_ratelimit_remaining", "Forge rate-limit budget left", "gauge"
        )
        for state in self.ratelimits:
            if state.scope.startswith("token:"):
                labels = {"forge": state.platform, "token": state.scope[len("token:") :]}
                remaining.add_sample("git_collector_ratelimit_remaining", labels, state.remaining)
        yield remaining
        depth = Metric("git_collector_queue_depth", "Collection jobs waiting", "gauge")
        depth.add_sample("git_collector_queue_depth", {}, self.queue_depth)
        yield depth
        hooks = Metric("git_collector_webhook_deliveries", "Webhook deliveries", "counter")
        for (forge, event, outcome), n in sorted(webhooks.items()):
            labels = {"forge": forge, "event": event, "outcome": outcome}
            hooks.add_sample("git_collector_webhook_deliveries_total", labels, n)
        yield hooks

    def render(self) -> bytes:
        return generate_latest(self.registry)
