"""GitLab and Bitbucket Cloud deployments collected from the simulated forge: full, incremental
(an unchanged repository costs one listing request), a changed status read again, and what the
forges send that cannot be mapped (skipped, counted, the rest kept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forgelens.engine.collect import collect
from forgelens.records import environment_kind
from forgelens.store import Store
from forgelens.testing.forge_sim import SimSize
from forgelens.testing.forge_sim.bitbucket_cloud import BitbucketCloudRenderer
from forgelens.testing.forge_sim.dataset import SimDeployment, SimDeploymentStatus, SimRepo
from forgelens.testing.forge_sim.gitlab import GitLabRenderer
from tests.sources.forgehelp import account_logins, options
from tests.sources.simhelp import running, sim_for

SIZE = SimSize(repos=3, prs_per_repo=30, issues_per_repo=2, runs_per_repo=2)
KINDS = ("gitlab", "bitbucket")
LISTING = {"gitlab": "/deployments", "bitbucket": "/deployments/"}


def expected(d: SimDeployment) -> tuple[str, datetime | None]:
    """docs/metrics.md's rule, from the simulator's own data: the latest terminal status."""
    ends = [s for s in d.statuses if s.state in ("success", "failure", "error")]
    if ends:
        last = max(ends, key=lambda s: (s.created_at, s.id))
        return ("success" if last.state == "success" else "failure"), last.created_at
    return "in_progress", None


def deployment_id(kind: str, d: SimDeployment) -> str:
    return f"gitlab:{d.id}" if kind == "gitlab" else f"bitbucket:{{dep-{d.id}}}"


def stored(store: Store, kind: str, repo: SimRepo) -> dict[str, dict[str, Any]]:
    rows = store.query_dicts(
        "SELECT * FROM deployments WHERE repository_id = ?", [f"{kind}:{repo.full_name}"]
    )
    return {r["deployment_id"]: r for r in rows}


def utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value else None


def ms(value: datetime | None) -> datetime | None:
    """GitLab and Bitbucket stamp milliseconds."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if value else None


def listing_requests(log: list[tuple[str, str, int]], since: int) -> list[tuple[str, int]]:
    return [(p, s) for _m, p, s in log[since:] if "/deployments" in p or "/environments" in p]


@pytest.mark.parametrize("kind", KINDS)
def test_every_deployment_is_collected_with_its_status_and_kind(store: Store, kind: str) -> None:
    sim = sim_for(SIZE)
    logins = account_logins(kind, sim.dataset)
    with running(sim) as url:
        collect(store, [f"{kind}:acme"], options(kind, url))
    deploying = [r for r in sim.dataset.repos if r.deployments]
    assert deploying
    for repo in deploying:
        got = stored(store, kind, repo)
        assert len(got) == len(repo.deployments)
        for d in repo.deployments:
            row = got[deployment_id(kind, d)]
            status, finished = expected(d)
            assert (row["status"], utc(row["finished_at"])) == (status, ms(finished)), d
            assert utc(row["created_at"]) == ms(d.created_at)
            assert row["sha"] == d.sha
            assert row["environment"] == d.environment
            assert row["environment_kind"] == environment_kind(d.environment, d.production)
            assert logins.get(row["creator"], row["creator"]) == d.creator
            assert row["source"] == kind
            assert row["ref"] == (d.ref if kind == "gitlab" else None)  # Bitbucket has none
            assert row["url"]
    kinds = {r[0] for r in store.query("SELECT DISTINCT environment_kind FROM deployments")}
    assert kinds == {"production", "staging", "other"}


@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_repository_costs_one_request_and_a_change_is_read(
    store: Store, kind: str
) -> None:
    sim = sim_for(SIZE)
    repo = next(r for r in sim.dataset.repos if r.deployments)
    with running(sim) as url:
        collect(store, [f"{kind}:acme"], options(kind, url))
        mark = len(sim.log)
        collect(store, [f"{kind}:acme"], options(kind, url))
        unchanged = listing_requests(sim.log, mark)
        # an older deployment still in progress fails now; a new one succeeds
        now = datetime.now(UTC).replace(microsecond=0)
        pending = max(
            (d for d in repo.deployments if expected(d)[0] == "in_progress"),
            key=lambda d: d.created_at,
        )
        pending.add_status(SimDeploymentStatus(99_000_001, "failure", now, "dev1"))
        new = SimDeployment(99_000_000, "production", "ab" * 20, "main", "dev2", now, now, True)
        new.add_status(SimDeploymentStatus(99_000_002, "success", now + timedelta(seconds=5), None))
        repo.deployments.append(new)
        mark = len(sim.log)
        collect(store, [f"{kind}:acme"], options(kind, url))
        changed = listing_requests(sim.log, mark)
    assert len(unchanged) == len(sim.dataset.repos)  # one listing request each, nothing else
    assert all(p.endswith(LISTING[kind]) and s == 200 for p, s in unchanged), unchanged
    got = stored(store, kind, repo)
    assert got[deployment_id(kind, pending)]["status"] == "failure"
    assert utc(got[deployment_id(kind, pending)]["finished_at"]) == now
    assert got[deployment_id(kind, new)]["status"] == "success"
    mine = [p for p, _ in changed if repo.full_name in p or f"/{repo.id}/" in p]
    assert len(mine) <= 2, mine  # the listing (+ Bitbucket's environments, once)


def test_gitlab_incremental_listing_asks_for_updates_after_the_watermark(store: Store) -> None:
    """GitLab answers 400 to ``updated_after`` without ``order_by=updated_at``: the simulator
    does as well, so this run passing proves the pair is sent."""
    sim = sim_for(SIZE)
    with running(sim) as url:
        collect(store, ["gitlab:acme/service-0"], options("gitlab", url))
        mark = len(sim.log)
        collect(store, ["gitlab:acme/service-0"], options("gitlab", url))
    assert [s for _m, p, s in sim.log[mark:] if p.endswith("/deployments")] == [200]
    assert store.query("SELECT count(*) FROM git_collection_runs WHERE errors > 0") == [(0,)]


def _broken(renderer_type: type[Any], monkeypatch: pytest.MonkeyPatch, bad: dict[int, Any]) -> None:
    """Make the renderer send ``bad[id]`` (a change to the JSON) for those deployments."""
    real = renderer_type.deployment_json

    def patched(self: Any, repo: SimRepo, d: SimDeployment) -> dict[str, Any]:
        body = real(self, repo, d)
        change = bad.get(d.id)
        return change(body) if change else body

    monkeypatch.setattr(renderer_type, "deployment_json", patched)


def _gitlab_unknown(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": "teleported"}


def _gitlab_no_sha(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "sha": None}


def _bitbucket_unknown(body: dict[str, Any]) -> dict[str, Any]:
    state = {**body["state"], "name": "COMPLETED", "status": {"name": "EXPLODED"}}
    return {**body, "state": state}


def _bitbucket_undeployed(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "state": {"type": "deployment_state_undeployed", "name": "UNDEPLOYED"}}


def _bitbucket_no_commit(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "release": None}


@pytest.mark.parametrize(
    ("kind", "renderer", "changes", "errors"),
    [
        ("gitlab", GitLabRenderer, (_gitlab_unknown, _gitlab_no_sha), 2),
        ("bitbucket", BitbucketCloudRenderer, (_bitbucket_unknown, _bitbucket_no_commit), 2),
        ("bitbucket", BitbucketCloudRenderer, (_bitbucket_undeployed,), 0),  # not deployed
    ],
)
def test_what_cannot_be_mapped_is_skipped_and_counted_the_rest_kept(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    renderer: type[Any],
    changes: tuple[Any, ...],
    errors: int,
) -> None:
    sim = sim_for(SimSize(repos=1, prs_per_repo=20, issues_per_repo=0, runs_per_repo=0))
    repo = sim.dataset.repos[0]
    broken = repo.deployments[: len(changes)]
    _broken(renderer, monkeypatch, {d.id: c for d, c in zip(broken, changes, strict=True)})
    with running(sim) as url:
        collect(store, [f"{kind}:acme/service-0"], options(kind, url))
    got = stored(store, kind, repo)
    assert len(got) == len(repo.deployments) - len(broken)
    assert not {deployment_id(kind, d) for d in broken} & set(got)
    run = store.query_dicts("SELECT status, errors FROM git_collection_runs")[0]
    assert run == {"status": "completed", "errors": errors}


def test_gitlab_listing_moves_to_updated_before_windows_under_the_offset_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitLab answers 405 past 50,000 rows of an offset listing (the simulator past
    ``offset_cap``): the listing restarts before the oldest update seen well before that, and
    every deployment is still read."""
    from forgelens.sources.gitlab import source as gitlab_source

    sim = sim_for(SimSize(repos=1, prs_per_repo=200, issues_per_repo=0, runs_per_repo=0))
    renderer = next(r for r in sim.renderers if isinstance(r, GitLabRenderer))
    renderer.offset_cap = 250  # rows: page 4 of 100 would be refused
    monkeypatch.setattr(gitlab_source, "OFFSET_WINDOW", 150)  # a new window from page 3 on
    repo = sim.dataset.repos[0]
    assert len(repo.deployments) > 300  # one offset listing would need page 4: a 405
    with running(sim) as url:
        collect(store, ["gitlab:acme/service-0"], options("gitlab", url))
    listings = [s for _m, p, s in sim.log if p.endswith("/deployments")]
    assert set(listings) == {200}  # never a 405
    assert len(listings) == 4  # two windows of two pages (one listing: 4 pages, the 4th a 405)
    assert len(stored(store, "gitlab", repo)) == len(repo.deployments)
    assert store.query("SELECT status, errors FROM git_collection_runs") == [("completed", 0)]
