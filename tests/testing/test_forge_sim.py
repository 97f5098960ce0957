"""The simulated forge: deterministic data, GitHub REST + GraphQL shapes, budgets, ETags, faults."""

from __future__ import annotations

import json

import httpx
import pytest

from forgelens.sources.github._graphql import PULL_REQUESTS
from forgelens.testing.forge_sim import Budgets, Faults, SimSize, generate
from tests.sources.simhelp import running, sim_for

QUERY = {
    "operationName": "PullRequests",
    "query": PULL_REQUESTS,  # the real document: the simulator prices it
    "variables": {
        "owner": "acme",
        "name": "service-0",
        "first": 5,
        "after": None,
        "files": 3,
        "reviews": 2,
        "reviewComments": 2,
        "comments": 2,
        "commits": 2,
    },
}


def test_same_seed_same_data_other_seed_other_data() -> None:
    size = SimSize(repos=2, prs_per_repo=20)
    a, b, c = generate(5, size), generate(5, size), generate(6, size)
    assert [p.title for r in a.repos for p in r.prs] == [p.title for r in b.repos for p in r.prs]
    assert [p.title for r in a.repos for p in r.prs] != [p.title for r in c.repos for p in r.prs]


def test_sizes_are_what_was_asked_for() -> None:
    ds = generate(1, SimSize(repos=1, prs_per_repo=2000))
    prs = ds.repos[0].prs
    avg = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert len(prs) == 2000
    assert 2.7 < avg([len(p.reviews) for p in prs]) < 3.3
    assert 4.5 < avg([len(p.comments) + len(p.review_comments) for p in prs]) < 5.5
    assert 7.0 < avg([len(p.files) for p in prs]) < 9.0


def test_rest_pagination_rate_headers_and_etags() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=7), budgets=Budgets(limit=100))
    with (
        running(sim) as url,
        httpx.Client(base_url=url, headers={"Authorization": "Bearer t"}) as c,
    ):
        first = c.get("/repos/acme/service-0/pulls", params={"per_page": 3, "state": "all"})
        assert first.status_code == 200
        assert len(first.json()) == 3
        assert 'rel="next"' in first.headers["link"]
        assert first.headers["x-ratelimit-remaining"] == "99"
        assert first.headers["x-ratelimit-resource"] == "core"
        updated = [p["updated_at"] for p in first.json()]
        assert updated == sorted(updated, reverse=True)
        again = c.get(first.request.url, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.headers["x-ratelimit-remaining"] == "99"  # a 304 is free
        assert c.get("/api/v3/repos/acme/service-0").json()["full_name"] == "acme/service-0"


def test_graphql_pages_carry_nested_lists_and_their_cost() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=12))
    with running(sim) as url, httpx.Client(base_url=url) as c:
        body = c.post("/graphql", json=QUERY).json()
        conn = body["data"]["repository"]["pullRequests"]
        assert len(conn["nodes"]) == 5
        assert conn["pageInfo"]["hasNextPage"]
        node = conn["nodes"][0]
        assert {"files", "reviews", "comments", "commits"} <= node.keys()
        assert len(node["files"]["nodes"]) <= 3
        rate = body["data"]["rateLimit"]
        assert rate["cost"] >= 1
        assert rate["remaining"] == 5000 - rate["cost"]
        nxt = {**QUERY, "variables": {**QUERY["variables"], "after": conn["pageInfo"]["endCursor"]}}
        second = c.post("/graphql", json=nxt).json()["data"]["repository"]["pullRequests"]
        assert second["nodes"][0]["number"] != node["number"]
        missing = {**QUERY, "variables": {**QUERY["variables"], "name": "nope"}}
        errors = c.post("/graphql", json=missing).json()["errors"]
        assert errors[0]["type"] == "NOT_FOUND"


def test_graphql_budget_spent_is_a_rate_limited_error_not_an_http_error() -> None:
    budgets = Budgets()
    budgets.set("t", "graphql", remaining=0, reset_in=600)
    sim = sim_for(budgets=budgets)
    with (
        running(sim) as url,
        httpx.Client(base_url=url, headers={"Authorization": "bearer t"}) as c,
    ):
        answer = c.post("/graphql", json=QUERY)
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["type"] == "RATE_LIMITED"


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(error_rate=1.0), 502),
        (Faults(secondary_rate=1.0), 403),
        (Faults(revoke_after={"t": 0}), 401),
    ],
)
def test_injected_faults(faults: Faults, status: int) -> None:
    with (
        running(sim_for(faults=faults)) as url,
        httpx.Client(base_url=url, headers={"Authorization": "token t"}) as c,
    ):
        assert c.get("/repos/acme/service-0").status_code == status


def test_truncated_bodies_are_not_json() -> None:
    with running(sim_for(faults=Faults(truncate_rate=1.0))) as url, httpx.Client(base_url=url) as c:
        body = c.get("/repos/acme/service-0").content
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)


def test_renamed_repository_redirects_and_deleted_is_gone() -> None:
    sim = sim_for(SimSize(repos=2, prs_per_repo=1))
    sim.dataset.rename("acme/service-0", "moved")
    sim.dataset.delete("acme/service-1")
    with running(sim) as url, httpx.Client(base_url=url) as c:
        moved = c.get("/repos/acme/service-0")
        assert moved.status_code == 301
        assert c.get(moved.headers["location"]).json()["full_name"] == "acme/moved"
        assert c.get("/repos/acme/service-1").status_code == 404
