"""GitHub's secondary rate limits, as the simulator enforces them when asked to.

GitHub's documented secondary limits ("Rate limits for the REST API" / "... GraphQL API"):
no more than 100 concurrent requests; no more than 2,000 secondary points per minute on the
GraphQL endpoint (a query is 1 point, a mutation 5 -- not the primary cost) and 900 per REST
endpoint; no more than 60 seconds of server CPU per 60 seconds of real time. Over any of them
GitHub answers 403 (or 429) "You have exceeded a secondary rate limit", with ``retry-after``
when it says how long (often it does not).

The server CPU a request takes is modelled from its answer: ``cpu_base`` plus ``cpu_per_node``
for every node of a GraphQL answer (big nested pages are what costs GitHub time). ``minute``
is the length of a minute in real seconds: a simulated hour of ``Budgets.window`` seconds has
minutes of ``window / 60`` -- the same work is allowed per simulated minute.

    ForgeSim(ds, budgets=Budgets(window=36.0), secondary=SecondaryLimits(minute=0.6))
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SecondaryLimits:
    concurrent: int = 100
    graphql_points_per_minute: int = 2000
    rest_points_per_minute: int = 900  # per endpoint; the simulator counts all REST together
    cpu_seconds_per_minute: float = 60.0
    cpu_base: float = 0.02  # modelled server seconds of any request
    cpu_per_node: float = 0.0005  # and of each node of a GraphQL answer
    minute: float = 60.0  # real seconds of one (simulated) minute
    retry_after: bool = True  # send retry-after (GitHub often does not)
    clock: Callable[[], float] = time.monotonic
    refused: int = 0  # how many requests were refused
    _log: dict[tuple[str, str], deque[tuple[float, int, float]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cpu(self, nodes: int) -> float:
        return self.cpu_base + nodes * self.cpu_per_node

    def check(
        self, who: str, resource: str, in_flight: int, points: int, cpu: float
    ) -> float | None:
        """None: the request may be answered (and is recorded); else the seconds until it
        would be (the request is refused and not recorded)."""
        kind = "graphql" if resource == "graphql" else "rest"
        limit = self.graphql_points_per_minute if kind == "graphql" else self.rest_points_per_minute
        now = self.clock()
        with self._lock:
            if in_flight > self.concurrent:
                self.refused += 1
                return self.minute / 60  # a second: the others finish meanwhile
            log = self._log.setdefault((who, kind), deque())
            while log and log[0][0] <= now - self.minute:
                log.popleft()
            used_points = sum(p for _, p, _ in log)
            used_cpu = sum(c for _, _, c in log)
            if used_points + points > limit or used_cpu + cpu > self.cpu_seconds_per_minute:
                self.refused += 1
                return max(0.0, log[0][0] + self.minute - now) if log else self.minute
            log.append((now, points, cpu))
            return None
