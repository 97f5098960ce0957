"""GitHub Deployments collected from the simulated forge: each deployment's status is decided by
its latest terminal status, the environment flags are kept, and an unchanged repository costs
one request for them (the listing, a 304) on an incremental run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.engine.collect import collect
from forgelens.records import environment_kind
from forgelens.sources.base import RepoRef
from forgelens.sources.github import _map as m
from forgelens.testing.forge_sim import SimSize
from forgelens.testing.forge_sim.dataset import SimDeployment, SimDeploymentStatus, SimRepo
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


def test_an_unchanged_repository_costs_one_deployment_request(store: Any) -> None:
    sim = sim_for(SIZE)
    repos = sim.dataset.repos
    with running(sim) as url:
        collect(store, ["github:acme"], options(url))
        mark = len(sim.log)
        collect(store, ["github:acme"], options(url))
        assert _deploy_requests(sim.log, mark) == len(repos)
        for repo in repos:  # the listing, answered 304; no statuses asked for
            mine = [(p, s) for _, p, s in sim.log[mark:] if f"/{repo.full_name}/deployments" in p]
            assert mine == [(f"/repos/{repo.full_name}/deployments", 304)]


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
