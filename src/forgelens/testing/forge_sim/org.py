"""An organisation at scale for the simulator: 1,000 repositories, ~200,000 pull requests with
their reviews, comments, files and commits -- generated lazily, so the simulator's memory stays
small whatever the size.

Repository sizes follow a long tail (a log-normal's quantiles, rescaled to the total): most
repositories hold a handful of pull requests, a few hold 20,000 or more. A pull request is a pure
function of (seed, repository, number): ordering a repository's PRs needs only their stamps
(created, updated, state), drawn from their own small random stream, and the full PR (reviews,
comments, files, commits through ``dataset._pr``) is generated when a page shows it and kept in a
bounded cache. ``touch`` moves PRs' ``updated_at`` (a daily run's changes) as an overlay.

    ds = org_dataset(repos=1000, prs=200_000, seed=1)
    ForgeSim(ds, budgets=Budgets(window=30.0))   # a simulated hour of 30 s
"""

from __future__ import annotations

import math
import random
import statistics
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import cast, overload

from forgelens.testing.forge_sim.dataset import (
    END,
    Dataset,
    SimPerson,
    SimPR,
    SimRepo,
    SimSize,
    _issue,
    _pr,
)

SPAN_DAYS = 600  # every repository's PRs spread over the 600 days before ``END``
_PER_PR_IDS = 64  # ids of a PR's reviews and comments: a block of its own


def repo_sizes(repos: int, prs: int, median: float = 8.0) -> list[int]:
    """PRs per repository, largest first: log-normal quantiles (median ``median``) scaled so
    they add up to ``prs``; every repository has at least one."""
    if repos <= 0:
        return []
    normal = statistics.NormalDist()
    # sigma such that mean / median = prs / (repos * median)  (log-normal: mean = med * e^(s^2/2))
    ratio = max(1.0, prs / (repos * median))
    sigma = math.sqrt(2 * math.log(ratio))
    raw = [median * math.exp(sigma * normal.inv_cdf((i + 0.5) / repos)) for i in range(repos)]
    scale = prs / sum(raw)
    sizes = sorted((max(1, round(x * scale)) for x in raw), reverse=True)
    sizes[0] += prs - sum(sizes)  # rounding lands on the largest
    return sizes


class OrgRepo(SimRepo):
    """A repository whose pull requests are generated on demand."""

    size: int
    seed: int
    logins: list[str]
    sim_size: SimSize
    touched: dict[int, datetime]
    cache: OrderedDict[int, SimPR]
    _stamps: list[tuple[datetime, datetime, str]] | None
    _open: int | None

    def stamps(self, n: int) -> tuple[datetime, datetime, str]:
        if self._stamps is None:
            self._stamps = [self._draw(k) for k in range(1, self.size + 1)]
        created, updated, state = self._stamps[n - 1]
        return created, self.touched.get(n, updated), state

    def _draw(self, n: int) -> tuple[datetime, datetime, str]:
        rng = random.Random(f"stamps-{self.seed}-{self.id}-{n}")
        start = END - timedelta(days=SPAN_DAYS)
        created = start + timedelta(
            seconds=SPAN_DAYS * 86400 * (n - 1) // max(1, self.size) + rng.randint(0, 86399)
        )
        updated = created + timedelta(hours=rng.randint(1, 200), seconds=rng.randint(0, 3599))
        roll = rng.random()
        return created, updated, "merged" if roll < 0.7 else ("closed" if roll < 0.85 else "open")

    def pr(self, number: int) -> SimPR | None:
        if not 1 <= number <= self.size:
            return None
        pr = self.cache.get(number)
        if pr is None:
            created, updated, state = self.stamps(number)
            rng = random.Random(f"pr-{self.seed}-{self.id}-{number}")
            first_id = 10**9 + (self.id * 100_000 + number) * _PER_PR_IDS
            ids = range(first_id, first_id + _PER_PR_IDS)
            pr = _pr(rng, self, number, self.logins, ids, self.sim_size, (created, updated, state))
            self.cache[number] = pr
            if len(self.cache) > 2_000:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(number)
            pr.updated_at = self.stamps(number)[1]
        return pr

    def prs_by_updated(self) -> list[SimPR]:
        if self._by_updated is None:
            order = sorted(
                range(1, self.size + 1), key=lambda n: (self.stamps(n)[1], n), reverse=True
            )
            self._by_updated = cast(list[SimPR], _LazyPRs(self, order))
        return self._by_updated

    def open_prs(self) -> int:
        if self._open is None:
            self._open = sum(self.stamps(n)[2] == "open" for n in range(1, self.size + 1))
        return self._open

    def touch(self, number: int, at: datetime) -> None:
        self.touched[number] = at
        self.updated_at = max(self.updated_at, at)
        self._by_updated = None


class _LazyPRs(Sequence[SimPR]):
    """Pull requests in a fixed order of numbers, generated as they are read."""

    def __init__(self, repo: OrgRepo, numbers: list[int]) -> None:
        self.repo, self.numbers = repo, numbers

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, index: int) -> SimPR: ...

    @overload
    def __getitem__(self, index: slice) -> list[SimPR]: ...

    def __getitem__(self, index: int | slice) -> SimPR | list[SimPR]:
        if isinstance(index, slice):
            return [self._get(n) for n in self.numbers[index]]
        return self._get(self.numbers[index])

    def _get(self, number: int) -> SimPR:
        pr = self.repo.pr(number)
        assert pr is not None
        return pr

    def __iter__(self) -> Iterator[SimPR]:
        return (self._get(n) for n in self.numbers)


def org_dataset(
    repos: int = 1000, prs: int = 200_000, seed: int = 1, org: str = "bigorg", people: int = 60
) -> Dataset:
    """An organisation of ``repos`` repositories and ``prs`` pull requests in all (long tail),
    with two issues per repository; deterministic for a seed."""
    size = SimSize(repos=repos, people=people)
    persons = [
        SimPerson(1000 + i, f"dev{i}", f"Developer {i}", f"dev{i}@{org}.example")
        for i in range(people)
    ]
    logins = [p.login for p in persons]
    out: list[SimRepo] = []
    for r, count in enumerate(repo_sizes(repos, prs)):
        created = END - timedelta(days=SPAN_DAYS + 1)
        repo = OrgRepo(
            id=500 + r,
            owner=org,
            name=f"repo-{r:04d}",
            description=f"Repository {r} ({count} pull requests)",
            default_branch="main",
            private=r % 2 == 1,
            language="Python",
            stars=count,
            created_at=created,
            updated_at=created,
            pushed_at=created,
        )
        repo.size, repo.seed, repo.logins, repo.sim_size = count, seed, logins, size
        repo.touched, repo.cache, repo._stamps, repo._open = {}, OrderedDict(), None, None
        repo.prs = cast(list[SimPR], _LazyPRs(repo, list(range(1, count + 1))))
        rng = random.Random(f"issues-{seed}-{r}")
        ids = range(2 * 10**9 + r * 1000, 2 * 10**9 + (r + 1) * 1000)
        repo.issues = [_issue(rng, repo, count + 1 + k, logins, ids) for k in range(2)]
        repo.updated_at = repo.pushed_at = END
        out.append(repo)
    return Dataset(org, True, persons, out, [])


def touch(ds: Dataset, share: float, at: datetime, per_repo: int = 3) -> list[str]:
    """A day's changes: ``per_repo`` pull requests updated at ``at`` in every ``1/share``-th
    repository (deterministic); returns the changed repositories' full names."""
    step = max(1, round(1 / share)) if share > 0 else 0
    changed = []
    for k, repo in enumerate(ds.repos):
        if not step or k % step or not isinstance(repo, OrgRepo):
            continue
        for n in range(1, min(per_repo, repo.size) + 1):
            repo.touch(n, at)
        changed.append(repo.full_name)
    return changed


__all__ = ["OrgRepo", "org_dataset", "repo_sizes", "touch"]
