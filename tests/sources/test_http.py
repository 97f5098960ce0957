"""The shared HTTP client against the simulated forge on a real socket."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import httpx
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from forgelens.engine.collect import collect
from forgelens.errors import AuthError, ForgeError, NotFound, RateLimited
from forgelens.logs import configure
from forgelens.sources._pagination import LinkHeaderPaginator, RequestSpec, parse_link_header
from forgelens.sources._ratelimit import Budget, TokenPool, backoff_delay
from forgelens.sources.http import ClientPolicy, HttpClient, MemoryEtagCache
from forgelens.store import open_store
from forgelens.testing.forge_sim import Budgets, Faults, SimSize
from tests.sources.simhelp import options, running, sim_for


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(url: str, tokens: list[str] | None = None, **policy: object) -> HttpClient:
    base = {"backoff_base": 0.001, "secondary_wait": 0.001, "breaker_cooldown": 0.0}
    return HttpClient(
        url,
        tokens=TokenPool(tokens or []),
        policy=ClientPolicy(**{**base, **policy}),  # type: ignore[arg-type]
        sleep=Sleeps(),
        rng=random.Random(1),
    )


def repos_spec(per_page: int = 2) -> RequestSpec:
    return RequestSpec("GET", "/orgs/acme/repos", "GET /orgs/{org}/repos", {"per_page": per_page})


def test_link_pagination_visits_every_page_and_counts_each_request() -> None:
    with running(sim_for(SimSize(repos=5, prs_per_repo=1))) as url, client(url) as http:
        pages = list(http.paginate(repos_spec(), LinkHeaderPaginator()))
        names = [r["name"] for _, items, _ in pages for r in items]
        assert names == [f"service-{i}" for i in range(5)]
        assert [nxt is None for _, _, nxt in pages] == [False, False, True]
        assert http.stats.total == 3
        assert http.stats.by_endpoint["GET /orgs/{org}/repos"] == 3
        # a resume token continues exactly where it was taken
        resumed = list(
            http.paginate(
                LinkHeaderPaginator().resume(repos_spec(), pages[0][2] or ""), LinkHeaderPaginator()
            )
        )
        assert [r["name"] for _, items, _ in resumed for r in items] == names[2:]


def test_link_header_parsing() -> None:
    links = parse_link_header('<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last"')
    assert links == {"next": "https://a/x?page=2", "last": "https://a/x?page=9"}
    assert parse_link_header(None) == {}


@given(st.integers(0, 40), st.floats(0.01, 5), st.floats(0.1, 120))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, base: float, cap: float) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, rng=random.Random(attempt))
    assert 0 <= delay <= min(cap, base * 2**attempt)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(error_rate=0.4),
        Faults(truncate_rate=0.4),
        Faults(secondary_rate=0.4, secondary_retry_after=0.001),
        Faults(secondary_rate=0.4, secondary_retry_after=None),
    ],
    ids=["5xx", "truncated-json", "secondary-retry-after", "secondary-no-retry-after"],
)
def test_transient_faults_are_retried(faults: Faults) -> None:
    sim = sim_for(SimSize(repos=6, prs_per_repo=1), faults=faults)
    with running(sim) as url, client(url, max_attempts=12) as http:
        items = [
            r for _, page, _ in http.paginate(repos_spec(1), LinkHeaderPaginator()) for r in page
        ]
        assert len(items) == 6
        assert http.stats.total == sim.requests > 6  # every attempt counted
        assert http._sleep.calls  # type: ignore[attr-defined]


def test_secondary_limit_without_retry_after_waits_longer_each_time() -> None:
    sim = sim_for(faults=Faults(secondary_rate=1.0, secondary_retry_after=None))
    with running(sim) as url, client(url, secondary_wait=60.0, max_attempts=3) as http:
        with pytest.raises(RateLimited, match="secondary rate limit"):
            http.get("/orgs/acme/repos", "repos")
        waits = http._sleep.calls  # type: ignore[attr-defined]
    assert waits[:3] == [60.0, 120.0, 240.0]


def test_revoked_token_is_dropped_and_the_next_one_used() -> None:
    sim = sim_for(
        SimSize(repos=4, prs_per_repo=1),
        tokens={"t1", "t2"},
        faults=Faults(revoke_after={"t1": 1, "t2": 100}),
    )
    with running(sim) as url, client(url, ["t1", "t2"]) as http:
        http.tokens.credentials[0].budget("core").remaining = 4999  # t1 looks richest
        items = [
            r for _, page, _ in http.paginate(repos_spec(1), LinkHeaderPaginator()) for r in page
        ]
        assert len(items) == 4
        assert http.tokens.dropped == ["token#1"]


def test_no_token_left_fails_with_the_documented_message() -> None:
    sim = sim_for(tokens={"good"})
    with running(sim) as url, client(url, ["bad1", "bad2"]) as http:
        with pytest.raises(AuthError) as err:
            http.get("/orgs/acme/repos", "repos")
        assert str(err.value) == "GitHub token rejected for 127.0.0.1: check GITHUB_TOKEN"
        assert http.stats.by_status[401] == 2


def test_not_found_message() -> None:
    with (
        running(sim_for()) as url,
        client(url) as http,
        pytest.raises(NotFound, match="repository not found or the token has no access"),
    ):
        http.get("/repos/acme/nope", "repo")


def test_no_wait_fails_fast_when_the_budget_is_spent() -> None:
    budgets = Budgets()
    budgets.set("t1", "core", remaining=0, reset_in=900)
    sim = sim_for(budgets=budgets)
    with running(sim) as url, client(url, ["t1"], no_wait=True) as http:
        with pytest.raises(RateLimited) as err:
            http.get("/orgs/acme/repos", "repos")
        assert "without --no-wait" in str(err.value)
        assert err.value.reset_at is not None
        assert http._sleep.calls == []  # type: ignore[attr-defined]


def test_spent_budget_waits_for_the_reset_and_says_so() -> None:
    budgets = Budgets()
    budgets.set("t1", "core", remaining=0, reset_in=0.5)
    sim = sim_for(budgets=budgets)
    notes: list[str] = []
    with running(sim) as url:
        http = HttpClient(url, tokens=TokenPool(["t1"]))
        http.note = notes.append
        with http:
            assert http.get("/orgs/acme/repos", "repos").status == 200
    assert http.stats.by_status[403] == 1
    assert any(n.startswith("waiting for the GitHub core rate limit until") for n in notes)


def test_reserve_switches_to_the_token_with_budget() -> None:
    budgets = Budgets()
    budgets.set("poor", "core", remaining=10, reset_in=900)
    sim = sim_for(budgets=budgets)
    with running(sim) as url, client(url, ["poor", "rich"], reserve=50) as http:
        http.get("/orgs/acme/repos", "repos")  # learns both budgets over time
        for _ in range(3):
            http.get("/orgs/acme/repos", "repos")
        assert budgets.get("poor", "core").remaining >= 9  # at most one request on it
        assert http._sleep.calls == []  # type: ignore[attr-defined]


def test_enterprise_zero_limits_mean_unlimited_never_a_wait() -> None:
    sim = sim_for(budgets=Budgets(limit=0))
    with running(sim) as url, client(url, ["t1"], no_wait=True) as http:
        for _ in range(5):
            http.get("/orgs/acme/repos", "repos")
        assert http.tokens.credentials[0].budget("core").unlimited
        assert http.stats.waited_seconds == 0


def test_bogus_resets_are_never_waited_for() -> None:
    now = 1_000_000.0
    assert Budget(5000, 0, 0).wait_seconds(now) is None  # epoch 0 (GHES with limits off)
    assert Budget(5000, 0, now - 3600).wait_seconds(now) is None  # long past
    assert Budget(5000, 0, now - 1).wait_seconds(now) == 1.0  # just passed: a short pause
    assert Budget(5000, 0, now + 10 * 86400).wait_seconds(now) is None  # days away
    assert Budget(5000, 0, now + 30).wait_seconds(now) == 30


def test_etag_makes_an_unchanged_resource_a_304_that_costs_no_budget() -> None:
    budgets = Budgets()
    sim = sim_for(budgets=budgets)
    with running(sim) as url:
        http = client(url, ["t1"])
        http.etags = MemoryEtagCache()
        with http:
            first = http.get("/repos/acme/service-0", "repo")
            left = budgets.get("t1", "core").remaining
            second = http.get("/repos/acme/service-0", "repo")
            assert second.from_cache
            assert second.json() == first.json()
            assert budgets.get("t1", "core").remaining == left
            assert http.stats.total == 2
            assert http.stats.not_modified == 1


def test_circuit_breaker_opens_and_half_opens_after_the_cool_down() -> None:
    faults = Faults(error_rate=1.0)
    sim = sim_for(faults=faults)
    with (
        running(sim) as url,
        client(url, max_attempts=4, breaker_threshold=2, breaker_cooldown=30.0) as http,
    ):
        with pytest.raises(ForgeError, match="kept failing"):
            http.get("/orgs/acme/repos", "repos")
        assert 30.0 in [round(s) for s in http._sleep.calls]  # type: ignore[attr-defined]
        faults.error_rate = 0.0
        http._breaker.opened_at = 0.0  # the cool-down has passed: one trial request
        assert http.get("/orgs/acme/repos", "repos").status == 200
        assert http._breaker.failures == 0


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with client(f"http://127.0.0.1:{port}", max_attempts=3) as http:
        with pytest.raises(ForgeError, match="ConnectError"):
            http.get("/x", "x")
        assert http.stats.total == 3


def test_slow_answers_hit_the_explicit_read_timeout() -> None:
    sim = sim_for(faults=Faults(slow_rate=1.0, slow_seconds=1.0))
    with (
        running(sim) as url,
        client(url, read_timeout=0.1, max_attempts=2) as http,
        pytest.raises(ForgeError, match="ReadTimeout"),
    ):
        http.get("/orgs/acme/repos", "repos")


def test_tokens_never_reach_logs_errors_or_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "ghp_" + "S3cr3tT0ken" * 4
    sim = sim_for(
        SimSize(repos=2, prs_per_repo=8),
        tokens={secret},
        faults=Faults(revoke_after={secret: 12}, error_rate=0.1),
    )
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    from forgelens.config import get_settings

    get_settings.cache_clear()
    configure("DEBUG", json=True)
    db = tmp_path / "leak.duckdb"
    store = open_store(f"duckdb:///{db}")
    try:
        with running(sim) as url, pytest.raises(AuthError) as err:
            collect(store, ["github:acme"], options(url))
        rows = store.query_dicts("SELECT * FROM git_collection_runs")
    finally:
        store.close()
        structlog.reset_defaults()
        get_settings.cache_clear()
    logs = capsys.readouterr().err
    assert "http request" in logs  # debug logging was on
    assert rows[0]["status"] == "failed"
    assert "token rejected" in rows[0]["failure_reason"]
    for text in (str(err.value), logs, repr(rows)):
        assert secret not in text
        assert "S3cr3tT0ken" not in text
    assert b"S3cr3tT0ken" not in db.read_bytes()
    assert not any(b"S3cr3tT0ken" in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_anonymous_budget_is_tracked_and_a_stuck_limit_ends_clearly() -> None:
    budgets = Budgets()
    budgets.set("anonymous", "core", remaining=0, reset_in=900)
    sim = sim_for(budgets=budgets)
    with running(sim) as url, client(url, max_attempts=3) as http:
        with pytest.raises(RateLimited, match="still refuses requests"):
            http.get("/orgs/acme/repos", "repos")
        waits = http._sleep.calls  # type: ignore[attr-defined]
        assert waits  # (time does not pass here, so the budget never refills)
        assert all(800 < w <= 901 for w in waits)  # the reset the forge announced, not a guess
        assert http.stats.by_status[403] == 4  # one try plus three waits, then a clear error


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from forgelens.sources.http import _retry_after_headers

    now = 1_780_000_000.0  # 2026-05-28 20:26:40 UTC
    assert _retry_after_headers(httpx.Headers({"retry-after": "7"}), now) == 7.0
    date = "Thu, 28 May 2026 20:27:10 GMT"  # 30 s after ``now``
    assert _retry_after_headers(httpx.Headers({"retry-after": date}), now) == 30.0
    past = "Thu, 28 May 2026 20:00:00 GMT"
    assert _retry_after_headers(httpx.Headers({"retry-after": past}), now) == 0.0
    assert _retry_after_headers(httpx.Headers({"retry-after": "soon"}), now) is None
    assert _retry_after_headers(httpx.Headers({"retry-after": "86400"}), now) == 900.0
    assert _retry_after_headers(httpx.Headers({}), now) is None
