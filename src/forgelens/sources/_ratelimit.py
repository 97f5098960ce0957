"""Rate-limit bookkeeping shared by every forge: token budgets, the pool that picks a token,
and the one backoff function.

A ``Budget`` is what a forge told us about one token and one resource (``core``, ``graphql``,
``search`` ...): how much is left and when it resets. ``TokenPool`` holds every credential of a
run, hands out the one with the most budget, and drops credentials the forge rejected.
Servers without limits (GitHub Enterprise with limits off sends ``0``/no headers) are treated as
unlimited; resets in the past or absurdly far ahead are never waited for.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import SecretStr

MAX_RESET_WAIT = 3900.0  # a primary window is one hour; anything longer is a bogus reset
UNKNOWN = -1


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**attempt))."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return (rng or random).uniform(0, ceiling)


@dataclass
class Budget:
    """One token's budget for one resource, as last reported by the forge."""

    limit: int = UNKNOWN
    remaining: int = UNKNOWN
    reset_at: float | None = None  # epoch seconds

    @property
    def unlimited(self) -> bool:
        return self.limit == 0 or (self.limit == UNKNOWN and self.remaining == UNKNOWN)

    def usable(self, reserve: int, now: float, cost: int = 1) -> bool:
        """True when a request of ``cost`` may be sent without eating into the reserve --
        ``reserve`` points, but never more than 1 % of the budget (a small budget is not
        mostly held back)."""
        if self.unlimited or self.remaining == UNKNOWN:
            return True
        if self.reset_at is not None and self.reset_at <= now:
            return True  # the window rolled over since the forge last told us
        if self.limit > 0:
            reserve = min(reserve, self.limit // 100)
        return self.remaining - reserve >= max(1, cost)

    def wait_seconds(self, now: float) -> float | None:
        """How long until this budget refills, or None when the reset is unknown or bogus."""
        if self.reset_at is None:
            return None
        wait = self.reset_at - now
        if wait > MAX_RESET_WAIT or wait < -60:
            return None  # far future or long past (0, 0001-01-01): not a real reset
        return max(wait, 1.0)  # just passed (clock skew, whole-second resets): a short pause


@dataclass
class Credential:
    """A secret the HTTP client sends; ``label`` is what logs may show (never the secret)."""

    secret: str
    label: str
    budgets: dict[str, Budget] = field(default_factory=dict)
    expires_at: float | None = None

    def budget(self, resource: str) -> Budget:
        return self.budgets.setdefault(resource, Budget())

    def score(self, resource: str, now: float) -> float:
        b = self.budget(resource)
        if b.unlimited or b.remaining == UNKNOWN:
            return float("inf")
        if b.reset_at is not None and b.reset_at <= now:
            return float(b.limit if b.limit > 0 else 10**9)
        return float(b.remaining)


class NoCredentialsLeft(Exception):
    """Every credential of the pool was rejected."""


class TokenPool:
    """The credentials of one run; thread-safe. No secrets = one anonymous credential."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.credentials: list[Credential] = [
            Credential(s, f"token#{i + 1}") for i, s in enumerate(secrets or []) if s
        ]
        self.anonymous = not self.credentials
        if self.anonymous:  # requests without a secret still have a budget to track
            self.credentials = [Credential("", "anonymous")]
        self.dropped: list[str] = []

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> TokenPool:
        """A token setting: ``t1,t2,...`` (the comma-separated ``GITHUB_TOKEN`` form)."""
        text = value.get_secret_value() if value else ""
        return cls([t.strip() for t in text.split(",") if t.strip()])

    def secrets(self) -> list[str]:
        with self._lock:
            return [c.secret for c in self.credentials if c.secret]

    def pick(self, resource: str, now: float | None = None) -> Credential | None:
        """The credential with the most budget left for ``resource``."""
        now = time.time() if now is None else now
        with self._lock:
            if not self.credentials:
                raise NoCredentialsLeft
            return max(self.credentials, key=lambda c: c.score(resource, now))

    def all_exhausted(self, resource: str, reserve: int, now: float, cost: int = 1) -> bool:
        with self._lock:
            return bool(self.credentials) and not any(
                c.budget(resource).usable(reserve, now, cost) for c in self.credentials
            )

    def earliest_reset(self, resource: str, now: float) -> float | None:
        with self._lock:
            waits = [c.budget(resource).wait_seconds(now) for c in self.credentials]
        known = [w for w in waits if w is not None]
        return min(known) if known else None

    def drop(self, cred: Credential) -> int:
        """Remove a rejected credential; return how many are left."""
        with self._lock:
            if cred in self.credentials:
                self.credentials.remove(cred)
                self.dropped.append(cred.label)
            return len(self.credentials)

    def replace_secret(self, cred: Credential, secret: str, expires_at: float | None) -> None:
        with self._lock:
            cred.secret, cred.expires_at = secret, expires_at


def best_budget(credentials: list[Credential], resource: str) -> tuple[int | None, datetime | None]:
    """(points left, reset time) of the credential with the most ``resource`` left; (None,
    None) while no forge answer said (or the server runs without limits)."""
    best: tuple[int | None, datetime | None] = (None, None)
    for cred in credentials:
        b = cred.budget(resource)
        if b.remaining < 0 or b.limit == 0:
            continue  # unknown, or a server with limits off
        if best[0] is None or b.remaining > best[0]:
            reset = datetime.fromtimestamp(b.reset_at, UTC) if b.reset_at else None
            best = (b.remaining, reset)
    return best
