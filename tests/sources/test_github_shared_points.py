"""Two workers of one token share its GraphQL points through Redis: each takes a query's
expected cost (the points GitHub reported for that shape of query) before sending it, so
together they wait for the reset instead of overspending -- the forge never refuses one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from forgelens.records import PullRequest
from forgelens.sources.base import RepoRef
from forgelens.sources.ratelimit_view import RedisRateLimitView
from forgelens.testing.forge_sim import Budgets, ForgeSim, SimSize, generate
from tests.redis_fixtures import REDIS_URL, isolated_prefix
from tests.sources.simhelp import github, running

TOKEN = "ghp_one_token_two_workers"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with isolated_prefix() as prefix:
        yield prefix


def test_two_workers_sharing_one_budget_through_redis_never_overspend(redis_prefix: str) -> None:
    import redis

    ds = generate(5, SimSize(repos=2, prs_per_repo=60, issues_per_repo=0, reviews=1))
    # 12 points per (scaled) hour of 1.5 s; a page of 10 PRs costs 3 points (1 + 10*5 + 10*20)
    budgets = Budgets(limit=12, window=1.5)
    sim = ForgeSim(ds, budgets=budgets, tokens={TOKEN})
    got: dict[str, list[int]] = {}
    with running(sim) as url:

        def worker(name: str) -> None:
            with github(url, TOKEN, fast=False) as source:
                source.client.policy = replace(source.client.policy, reserve=0)
                source.client.ratelimits = RedisRateLimitView(
                    redis.Redis.from_url(REDIS_URL), redis_prefix
                )
                source.pr_page = source.pr_page_max = 10
                got[name] = [
                    r.number
                    for page in source.pull_requests(RepoRef("acme", name), None)
                    for r in page.records
                    if isinstance(r, PullRequest)
                ]

        threads = [threading.Thread(target=worker, args=(r.name,)) for r in ds.repos]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert {k: sorted(v) for k, v in got.items()} == {r.name: list(range(1, 61)) for r in ds.repos}
    assert sim.over_budget == 0  # never a RATE_LIMITED answer: no point overspent
    spent = [limit - left for _t, res, _at, limit, left in budgets.ended if res == "graphql"]
    assert len(spent) >= 2  # the work needed several windows: the budget was the bottleneck
    assert all(s <= 12 for s in spent)
