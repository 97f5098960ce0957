"""GitHub Deployments collected from the simulated forge: each deployment's status is decided by
its latest terminal status, the environment flags are kept, and an unchanged repository costs
one request for them (the listing, a 304) on an incremental run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forgelens.config import Settings
from forgelens.engine.collect import collect
from forgelens.engine.sync import StoreEtagCache, sync_forge
from forgelens.records import environment_kind
from forgelens.sources.base import RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github import from_options
from forgelens.sources.github._deployments import rest_status
from forgelens.sources.http import ClientPolicy
from forgelens.store import open_store
from forgelens.testing.forge_sim import SimSize
from forgelens.testing.forge_sim.dataset import SimDeployment, SimDeploymentStatus, SimRepo
from forgelens.testing.forge_sim.faults import Faults
from tests.sources.simhelp import github, options, running, sim_for

SIZE = SimSize(repos=3, prs_per_repo=30, issues_per_repo=2, runs_per_repo=2)


def _expected(d: SimDeployment) -> tuple[str, datetime | None]:
    """The rule as docs/metrics.md states it, written from the simulator's own data."""
    ends = [s for s in d.statuses if s.state in ("success", "failure", "error")]
    if ends:
        last = max(ends, key=lambda s: (s.created_at, s.id))
        at = last.created_at.replace(microsecond=0)  # GitHub stamps whole seconds
        return ("success" if last.state == "success" else "failure"), at
    return "in_progress", None


def _stored(store: Any, repo: SimRepo) -> dict[str, dict[str, Any]]:
    rows = store.query_dicts(
        "SELECT * FROM deployments WHERE repository_id = ? AND source = 'github'",  # no release
        [f"github:{repo.full_name}"],
    )
    return {r["deployment_id"]: r for r in rows}


def _deploy_requests(log: list[tuple[str, str, int]], since: int) -> int:
    return sum("/deployments" in path for _, path, _ in log[since:])


def test_deployments_and_their_statuses_are_collected(store: Any) -> None:
    sim = sim_for(SIZE)
    deploying = [r for r in sim.dataset.repos if r.deployments]
    assert deploying
    assert len(deploying) < len(sim.dataset.repos)
    with running(sim) as url:
        collect(store, ["github:acme"], options(url, api="graphql"))
    for repo in deploying:
        got = _stored(store, repo)
        assert len(got) == len(repo.deployments)
        for d in repo.deployments:
            row = got[f"github:{d.id}"]
            status, finished = _expected(d)
            assert row["status"] == status, d
            assert (row["finished_at"].astimezone(UTC) if row["finished_at"] else None) == finished
            assert row["sha"] == d.sha
            assert row["environment"] == d.environment
            assert row["environment_kind"] == environment_kind(d.environment, d.production)
            assert row["production_environment"] is d.production
            assert row["transient_environment"] is d.transient
            assert row["creator"] == d.creator
            assert row["source"] == "github"
    statuses = {r[0] for r in store.query("SELECT DISTINCT status FROM deployments")}
    assert {"success", "failure", "in_progress"} <= statuses
    kinds = {r[0] for r in store.query("SELECT DISTINCT environment_kind FROM deployments")}
    assert kinds == {"production", "staging", "other"}  # previews are "other"


@pytest.mark.parametrize(("api", "asked"), [("graphql", 0), ("rest", 1)])
def test_an_unchanged_repository_costs_at_most_one_deployment_request(
    store: Any, api: str, asked: int
) -> None:
    """GraphQL: the repository probe sees the newest deployments unchanged, nothing is asked;
    REST: the listing, answered 304 (not charged); never a statuses request."""
    sim = sim_for(SIZE)
    repos = sim.dataset.repos
    with running(sim) as url:
        collect(store, ["github:acme"], options(url, api=api))
        mark = len(sim.log)
        collect(store, ["github:acme"], options(url, api=api))
        assert _deploy_requests(sim.log, mark) == asked * len(repos)
        for repo in repos:
            mine = [(p, s) for _, p, s in sim.log[mark:] if f"/{repo.full_name}/deployments" in p]
            assert mine == [(f"/repos/{repo.full_name}/deployments", 304)] * asked


def test_incremental_run_reads_new_deployments_and_new_statuses(store: Any) -> None:
    sim = sim_for(SIZE)
    repo = next(r for r in sim.dataset.repos if r.deployments)
    with running(sim) as url:
        collect(store, ["github:acme"], options(url))
        now = datetime.now(UTC).replace(microsecond=0)
        # an older deployment still in progress fails now; a new deployment succeeds
        pending = max(
            (d for d in repo.deployments if _expected(d)[0] == "in_progress"),
            key=lambda d: d.created_at,
        )
        pending.add_status(SimDeploymentStatus(99_000_001, "failure", now, "dev1"))
        new = SimDeployment(99_000_000, "production", "ab" * 20, "main", "dev2", now, now, True)
        new.add_status(SimDeploymentStatus(99_000_002, "success", now + timedelta(seconds=5), None))
        repo.deployments.append(new)
        mark = len(sim.log)
        collect(store, ["github:acme"], options(url))
        statuses = [p for _, p, _ in sim.log[mark:] if p.endswith("/statuses")]
    got = _stored(store, repo)
    assert got[f"github:{pending.id}"]["status"] == "failure"
    assert got["github:99000000"]["status"] == "success"
    assert got["github:99000000"]["environment_kind"] == "production"
    # only what changed (and what shares the watermark's second, on a changed listing) asks
    assert len(statuses) <= 3


def test_the_latest_terminal_status_decides_and_inactive_does_not() -> None:
    def status(i: int, state: str, minute: int) -> dict[str, Any]:
        return {"id": i, "state": state, "created_at": f"2026-03-01T10:{minute:02d}:00Z"}

    d = {"id": 5, "sha": "AB" * 20, "environment": "prod-eu", "created_at": "2026-03-01T10:00:00Z"}
    # GitHub lists statuses newest first; the order given must not matter
    failed_then_ok = [status(3, "inactive", 30), status(2, "success", 20), status(1, "error", 10)]
    dep = m.deployment("github:o/r", d, failed_then_ok)
    assert (dep.status, dep.finished_at) == ("success", datetime(2026, 3, 1, 10, 20, tzinfo=UTC))
    assert dep.sha == "ab" * 20
    assert dep.environment_kind == "production"
    ok_then_failed = [status(1, "success", 10), status(2, "failure", 20)]
    assert m.deployment("github:o/r", d, ok_then_failed).status == "failure"
    assert m.deployment("github:o/r", d, [status(1, "in_progress", 5)]).status == "in_progress"
    assert m.deployment("github:o/r", d, []).status == "in_progress"
    assert m.deployment("github:o/r", d, [status(1, "inactive", 5)]).status == "canceled"


def test_a_listed_deployment_deleted_before_its_statuses_is_counted_not_fatal() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=6, issues_per_repo=0, runs_per_repo=0))
    repo = sim.dataset.repos[0]
    with running(sim) as url, github(url) as source:
        real = sim.renderers[0].deployment_statuses  # type: ignore[attr-defined]
        gone = repo.deployments[-1].id

        def statuses(req: Any, owner: str, name: str, did: str) -> Any:
            return real(req, owner, name, "0" if int(did) == gone else did)

        for i, (method, pattern, fn) in enumerate(sim.renderers[0].routes):  # type: ignore[attr-defined]
            if getattr(fn, "__name__", "") == "deployment_statuses":
                sim.renderers[0].routes[i] = (method, pattern, statuses)  # type: ignore[attr-defined]
        pages = list(source.deployments(RepoRef("acme", "service-0"), None))
    assert sum(p.errors for p in pages) == 1
    assert sum(p.items for p in pages) == len(repo.deployments) - 1


def test_recorded_github_deployment_and_statuses() -> None:
    """Answers api.github.com gave (recorded 2020-08-26 in PyGithub's tests/ReplayData:
    ``Deployment.setUp`` -- the deployment, here as the one item of the listing -- and
    ``DeploymentStatus.testGetStatuses``): a transient, non-production ``test`` environment whose
    three statuses are all ``queued``, newest first."""
    from tests.sources.recordedhelp import replayed

    base = "/repos/jacquev6/PyGithub/deployments"
    extra = [
        {"path": base, "responses": [{"body": "deployments-pygithub.json"}]},
        {
            "path": f"{base}/263877258/statuses",
            "responses": [{"body": "deployment-statuses-pygithub.json"}],
        },
    ]
    with replayed("github", "github", extra, api="rest") as (source, replay):
        pages = list(source.deployments(RepoRef("jacquev6", "PyGithub"), None))
    assert replay.unmatched == []
    records = [r for p in pages for r in p.records]
    (dep,) = [r for r in records if type(r).__name__ == "Deployment"]
    assert dep.deployment_id == "github:263877258"
    assert dep.sha == "743f5a58b0bce91c4eab744ff7e39dfca9e6e8a5"
    assert (dep.environment, dep.environment_kind) == ("test", "other")
    assert (dep.transient_environment, dep.production_environment) == (True, False)
    assert (dep.status, dep.finished_at) == ("in_progress", None)  # queued only: not terminal
    assert dep.creator == "jacquev6"
    assert dep.url == "https://example.com/deployment.log"
    assert dep.created_at == datetime(2020, 8, 26, 11, 44, 53, tzinfo=UTC)
    assert {r.login for r in records if type(r).__name__ == "Person"} == {"jacquev6"}


# -- statuses through GraphQL (one nodes(ids:) query per listing page) -----------------------
STATUSES_QUERY = "POST /graphql DeploymentStatuses"
REST_STATUSES = "GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"


def _sync(store: Any, url: str, token: str | None, **extra: Any) -> dict[str, int]:
    """One ``collect github:acme`` run through a source with or without a token; the
    requests it made by endpoint."""
    opts = options(url, **extra)
    etags = StoreEtagCache(store)
    source = from_options(opts, etags, settings=Settings(github_token=token))
    source.client._sleep = lambda _s: None
    try:
        sync_forge(store, source, ["acme"], opts, etags=etags)
        return source.requests_by_endpoint
    finally:
        source.close()


def _rows(store: Any) -> list[dict[str, Any]]:
    rows = store.query_dicts("SELECT * FROM deployments ORDER BY deployment_id")
    return [{k: v for k, v in r.items() if k != "_version"} for r in rows]


def _tie(repo: SimRepo) -> SimDeployment:
    """A deployment whose success and failure share a second: only REST's status ids (the
    failure came second) say which is the latest."""
    at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    d = SimDeployment(98_000_000, "production", "cd" * 20, "main", "dev1", at, at, True)
    d.add_status(SimDeploymentStatus(98_000_001, "success", at + timedelta(minutes=3), None))
    d.add_status(SimDeploymentStatus(98_000_002, "failure", at + timedelta(minutes=3), None))
    repo.deployments.append(d)
    return d


def test_graphql_statuses_store_the_same_rows_as_rest(tmp_path: Any) -> None:
    sim = sim_for(SIZE)
    deploying = [r for r in sim.dataset.repos if r.deployments]
    _tie(deploying[0])
    total = sum(len(r.deployments) for r in deploying)
    rest, graphql = (open_store(f"duckdb:///{tmp_path / n}.duckdb") for n in ("rest", "gql"))
    try:
        with running(sim) as url:
            by_rest = _sync(rest, url, None)  # no token: GraphQL is not asked
            by_graphql = _sync(graphql, url, "t0ken")
        assert by_rest[REST_STATUSES] == total
        assert STATUSES_QUERY not in by_rest
        assert by_graphql[STATUSES_QUERY] == len(deploying)  # one page of them per repository
        assert by_graphql[REST_STATUSES] == 1  # the tie: its order is REST's to tell
        assert _rows(graphql) == _rows(rest)
        ids = {f"github:{d.id}" for r in deploying for d in r.deployments}
        assert ids <= {r["deployment_id"] for r in _rows(rest)}  # releases are rows too
        tie = graphql.query(
            "SELECT status FROM deployments WHERE deployment_id = 'github:98000000'"
        )
        assert tie == [("failure",)]
    finally:
        rest.close()
        graphql.close()


def test_rest_mode_and_an_unchanged_repository_do_not_query_graphql(store: Any) -> None:
    sim = sim_for(SIZE)
    with running(sim) as url:
        by_rest_mode = _sync(store, url, "t0ken", api="rest")
        assert STATUSES_QUERY not in by_rest_mode
        assert by_rest_mode[REST_STATUSES] == sum(len(r.deployments) for r in sim.dataset.repos)
        _sync(store, url, "t0ken")  # graphql: the listing answered 304, nothing changed
        mark = len(sim.log)
        again = _sync(store, url, "t0ken")
    assert STATUSES_QUERY not in again
    assert _deploy_requests(sim.log, mark) <= len(sim.dataset.repos)  # at most the listings
    assert not [p for _, p, _ in sim.log[mark:] if p.endswith("/statuses")]


def test_a_null_node_or_a_null_status_falls_back_to_rest_for_that_deployment_only() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=12, issues_per_repo=0, runs_per_repo=0))
    repo = sim.dataset.repos[0]
    graphql = sim.renderers[0].graphql  # type: ignore[attr-defined]
    real = graphql.op_DeploymentStatuses
    lost, broken = repo.deployments[-1].id, repo.deployments[-2].id

    def answer(owner: Any, v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        data, cost = real(owner, v)
        for i, node in enumerate(data["nodes"]):
            if node["databaseId"] == lost:  # GitHub could not resolve it just now
                data["nodes"][i] = None
                data["__errors__"] = [{"type": "INTERNAL", "path": ["nodes", i], "message": "x"}]
            elif node["databaseId"] == broken:  # partial data inside the connection
                node["statuses"]["nodes"][0] = None
        return data, cost

    graphql.op_DeploymentStatuses = answer
    with running(sim) as url, github(url, token="t0ken") as source:
        got = list(source.deployments(RepoRef("acme", "service-0"), None))
        asked = source.requests_by_endpoint
        by_rest = {p for _, p, _ in sim.log if p.endswith("/statuses")}
    with running(sim) as url, github(url) as plain:
        want = list(plain.deployments(RepoRef("acme", "service-0"), None))
    assert asked[STATUSES_QUERY] == 1
    assert asked[REST_STATUSES] == 2
    assert by_rest == {f"/repos/acme/service-0/deployments/{i}/statuses" for i in (lost, broken)}
    assert [r for p in got for r in p.records] == [r for p in want for r in p.records]
    assert sum(p.errors for p in got) == 0


def test_a_failing_graphql_query_falls_back_to_rest_for_the_page() -> None:
    sim = sim_for(
        SimSize(repos=1, prs_per_repo=12, issues_per_repo=0, runs_per_repo=0),
        faults=Faults(error_rate=1.0, only_paths=("/graphql",)),
    )
    repo = sim.dataset.repos[0]
    with running(sim) as url, github(url, token="t0ken") as source:
        source.client.policy = ClientPolicy(**{**source.client.policy.__dict__, "max_attempts": 2})
        got = list(source.deployments(RepoRef("acme", "service-0"), None))
        asked = source.requests_by_endpoint
    assert asked[REST_STATUSES] == len(repo.deployments)
    assert sum(p.items for p in got) == len(repo.deployments)
    assert sum(p.errors for p in got) == 0


def test_a_deployment_with_more_than_100_statuses_is_paged_through_graphql() -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=6, issues_per_repo=0, runs_per_repo=0))
    repo = sim.dataset.repos[0]
    at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    busy = SimDeployment(97_000_000, "staging", "ef" * 20, "main", "dev1", at, at, False)
    states = ("pending", "queued", "in_progress", "failure", "error", "success", "inactive")
    for k in range(130):  # the 126th, a success, is the latest terminal one
        state = states[k % len(states)] if k < 126 else ("success" if k == 126 else "inactive")
        busy.add_status(SimDeploymentStatus(97_000_001 + k, state, at + timedelta(minutes=k), None))
    never = SimDeployment(97_100_000, "preview-1", "ef" * 20, "main", None, at, at, False, True)
    never.add_status(SimDeploymentStatus(97_100_001, "queued", at, None))
    never.add_status(SimDeploymentStatus(97_100_002, "inactive", at + timedelta(hours=1), None))
    repo.deployments += [busy, never]
    with running(sim) as url, github(url, token="t0ken") as source:
        got = list(source.deployments(RepoRef("acme", "service-0"), None))
        asked = source.requests_by_endpoint
    with running(sim) as url, github(url) as plain:
        want = list(plain.deployments(RepoRef("acme", "service-0"), None))
    assert asked["POST /graphql DeploymentStatusPages"] == 1  # statuses 101..130
    assert REST_STATUSES not in asked
    records = [r for p in got for r in p.records]
    assert records == [r for p in want for r in p.records]
    by_id = {r.deployment_id: r for r in records if type(r).__name__ == "Deployment"}
    assert by_id["github:97000000"].status == "success"
    assert by_id["github:97000000"].finished_at == at + timedelta(minutes=126)
    assert by_id["github:97100000"].status == "canceled"


def test_graphql_status_states_read_as_rest_states() -> None:
    for state in ("PENDING", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "ERROR", "INACTIVE"):
        shaped = rest_status(3, {"state": state, "createdAt": "2026-03-01T10:00:00Z"})
        assert shaped == {
            "id": 3,
            "state": state.lower(),
            "created_at": "2026-03-01T10:00:00Z",
            "log_url": None,
        }
    assert {"success", "failure", "error", "queued", "pending", "in_progress"} <= set(
        m.DEPLOYMENT_STATES
    )
