"""The forge HTTP client reports its calls to telemetry and spends a token's budget through the
view every worker shares on Redis: two clients of one token together stop at its budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forgelens import telemetry
from forgelens.errors import RateLimited
from forgelens.sources._ratelimit import TokenPool
from forgelens.sources.http import ClientPolicy, HttpClient
from forgelens.sources.ratelimit_view import RedisRateLimitView, shared_view, token_scope
from forgelens.testing.forge_sim.app import ForgeSim
from forgelens.testing.forge_sim.dataset import SimSize, generate
from forgelens.testing.forge_sim.faults import Budgets
from forgelens.testing.forge_sim.server import serve
from tests.redis_fixtures import REDIS_URL, isolated_prefix

TOKEN = "ghp_shared_token_of_two_workers"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    with isolated_prefix() as prefix:
        yield prefix


@pytest.fixture
def calls() -> Iterator[list[tuple[str, int]]]:
    seen: list[tuple[str, int]] = []

    def listen(forge: str, status: int) -> None:
        seen.append((forge, status))

    telemetry.FORGE_CALL_LISTENERS.append(listen)
    yield seen
    telemetry.FORGE_CALL_LISTENERS.remove(listen)


def view(prefix: str) -> RedisRateLimitView:
    import redis

    return RedisRateLimitView(redis.Redis.from_url(REDIS_URL), prefix)


def test_two_clients_of_one_token_take_turns_on_its_budget(
    redis_prefix: str, calls: list[tuple[str, int]]
) -> None:
    ds = generate(3, SimSize(repos=1, prs_per_repo=1, issues_per_repo=0, runs_per_repo=0))
    sim = ForgeSim(ds, budgets=Budgets(limit=10))
    path = f"/repos/{ds.repos[0].full_name}"
    policy = ClientPolicy(reserve=0, no_wait=True)
    with serve(sim) as url:
        # two workers: separate clients, separate Redis connections, one token
        workers = [
            HttpClient(url, tokens=TokenPool([TOKEN]), policy=policy, ratelimits=view(redis_prefix))
            for _ in range(2)
        ]
        sent = [0, 0]
        with pytest.raises(RateLimited) as stopped:
            for turn in range(30):
                workers[turn % 2].get(path, "GET /repos/{owner}/{repo}")
                sent[turn % 2] += 1
        for client in workers:
            client.close()
    assert sent == [5, 5]  # they took turns until the budget was spent, together
    assert "shared by every worker" in stopped.value.message
    assert [status for _, _, status in sim.log] == [200] * 10  # the forge never said "over"
    state = view(redis_prefix).get("github", token_scope(TOKEN))
    assert state is not None
    assert (state.remaining, state.limit) == (0, 10)
    assert calls == [("github", 200)] * 10


def test_without_redis_the_client_keeps_its_own_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert shared_view() is None
    client = HttpClient("http://127.0.0.1:9")
    assert client.ratelimits is None
    client.close()


def test_with_redis_url_every_client_shares_one_view(
    monkeypatch: pytest.MonkeyPatch, redis_prefix: str
) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("FORGELENS_REDIS_PREFIX", redis_prefix)
    first, second = HttpClient("http://127.0.0.1:9"), HttpClient("http://127.0.0.1:9")
    assert first.ratelimits is not None
    assert first.ratelimits is second.ratelimits
    first.ratelimits.update("github", "token:abcd", remaining=7, limit=10, reset_at=4e9)
    state = view(redis_prefix).get("github", "token:abcd")
    assert state is not None
    assert state.remaining == 7
    first.close()
    second.close()
