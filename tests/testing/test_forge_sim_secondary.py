"""GitHub's secondary limits in the simulator -- queries per minute, server CPU per minute --
answer 403 "secondary rate limit" with retry-after; the collector waits as told and finishes
with every pull request, and the refused requests cost no points."""

from __future__ import annotations

import pytest

from forgelens.records import PullRequest
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import ForgeSim, SecondaryLimits, SimSize, generate
from tests.sources.simhelp import github, running


@pytest.mark.parametrize(
    "limits",
    [
        SecondaryLimits(graphql_points_per_minute=2, minute=0.3),  # 2 queries per 0.3 s
        SecondaryLimits(cpu_seconds_per_minute=0.25, cpu_base=0.1, minute=0.3),  # server CPU
    ],
    ids=["queries-per-minute", "cpu-per-minute"],
)
def test_secondary_limit_then_recovery(limits: SecondaryLimits) -> None:
    sim = ForgeSim(generate(1, SimSize(repos=1, prs_per_repo=30)), secondary=limits)
    with running(sim) as url, github(url, fast=False) as source:
        source.pr_page = source.pr_page_max = 5
        records = [
            r
            for page in source.pull_requests(RepoRef("acme", "service-0"), None)
            for r in page.records
        ]
        refused = source.client.stats.by_status[403]
    assert sorted(r.number for r in records if isinstance(r, PullRequest)) == list(range(1, 31))
    assert refused > 0
    assert limits.refused == refused
    statuses = [s for _m, p, s in sim.log if p == "/graphql"]
    assert statuses.count(403) == refused
    # refused queries are free: the budget went down by the answered queries' cost only
    budget = sim.budgets.get("anonymous", "graphql")
    answered = statuses.count(200)
    assert budget.limit - budget.remaining == answered * 1  # pages of 5 PRs cost 1 point


def test_too_many_concurrent_requests_are_refused() -> None:
    sim = ForgeSim(generate(1, SimSize(repos=1, prs_per_repo=3)), secondary=SecondaryLimits())
    sim.in_flight = 100  # 100 requests already running at GitHub for this user
    with running(sim) as url:
        import httpx

        answer = httpx.get(url + "/repos/acme/service-0")
    assert answer.status_code == 403
    assert "secondary rate limit" in answer.json()["message"]
    assert float(answer.headers["retry-after"]) > 0
