"""Releases as deployments (``sources/_release``), GitHub and Gitea against the simulator: every
published release is a successful deployment of its tag's commit (through an annotated tag
too, although ``target_commitish`` names a branch), drafts are none, prereleases go to the
``prerelease`` environment; an unchanged repository costs GitHub one 304 and Gitea no request;
a release published since costs its tag and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from forgelens.config import Settings
from forgelens.engine.collect import CollectResult
from forgelens.engine.sync import StoreEtagCache, sync_forge
from forgelens.sources._release import ReleaseRule, release_deployment
from forgelens.store import Store
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.dataset import SimRelease, SimRepo
from tests.sources.forgehelp import FACTORIES, ORG_TARGET, options

SIZE = SimSize(repos=3, prs_per_repo=30, issues_per_repo=1, runs_per_repo=1, teams=0)
KINDS = ("github", "gitea")


def sync(
    store: Store, kind: str, url: str, target: str | None = None, **extra: Any
) -> tuple[CollectResult, Any]:
    """One collection as ``forgelens collect`` runs it: ETags kept in the store across runs."""
    etags = StoreEtagCache(store)
    opts = options(kind, url, **extra)
    settings = Settings(github_token="t1", gitea_token="t1")
    source = FACTORIES[kind](opts, etags, settings=settings)
    source.client._sleep = lambda _s: None
    try:
        return sync_forge(store, source, [target or ORG_TARGET[kind]], opts, etags=etags), source
    finally:
        source.close()


def new_sim() -> ForgeSim:
    return ForgeSim(generate(1, SIZE))


def stored(store: Store, kind: str, repo: SimRepo) -> dict[str, dict[str, Any]]:
    rows = store.query_dicts(
        "SELECT * FROM deployments WHERE repository_id = ? AND source = 'release'",
        [f"{kind}:{repo.full_name}"],
    )
    return {r["deployment_id"]: r for r in rows}


def release_requests(log: list[tuple[str, str, int]], since: int = 0) -> list[tuple[str, int]]:
    return [
        (p, s) for _m, p, s in log[since:] if "/releases" in p or "/tags/" in p or "/git/ref" in p
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_published_releases_are_deployments_of_their_tags_commits(store: Store, kind: str) -> None:
    sim = new_sim()
    releasing = [r for r in sim.dataset.repos if r.releases]
    assert releasing
    assert any(r.annotated for repo in releasing for r in repo.releases)
    with serve(sim) as url:
        result, _ = sync(store, kind, url)
    assert result.errors == 0
    for repo in releasing:
        got = stored(store, kind, repo)
        published = [r for r in repo.releases if not r.draft]
        assert any(r.draft for r in repo.releases)  # the newest is a draft: no deployment
        assert set(got) == {f"release:{r.id}" for r in published}
        for r in published:
            row = got[f"release:{r.id}"]
            assert r.target_commitish == "main"  # the sha comes from the tag, not from here
            assert row["sha"] == r.sha
            assert row["ref"] == f"refs/tags/{r.tag}"
            assert row["status"] == "success"
            assert row["environment"] == ("prerelease" if r.prerelease else "production")
            assert row["environment_kind"] == ("other" if r.prerelease else "production")
            at = (r.published_at or r.created_at).replace(microsecond=0)
            assert row["created_at"].astimezone(UTC) == at
            assert row["finished_at"].astimezone(UTC) == at
            assert row["creator"] == r.author
    assert not stored(store, kind, next(r for r in sim.dataset.repos if not r.releases))


@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_releases_cost_little_and_a_new_one_only_its_tag(store: Store, kind: str) -> None:
    sim = new_sim()
    repo = sim.dataset.repos[0]
    assert repo.releases
    with serve(sim) as url:
        sync(store, kind, url, repo.full_name)
        mark = len(sim.log)
        sync(store, kind, url, repo.full_name)
        unchanged = release_requests(sim.log, mark)
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
        sha = repo.history()[-1].sha
        repo.releases.append(
            SimRelease(9_999_001, "v7.0.0", sha, "main", "dev1", now, now, annotated=True)
        )
        mark = len(sim.log)
        sync(store, kind, url, repo.full_name)
        changed = release_requests(sim.log, mark)
    base = f"/repos/{repo.full_name}" if kind == "github" else f"/api/v1/repos/{repo.full_name}"
    if kind == "github":
        assert unchanged == []  # the GraphQL probe saw no new release: the listing is not asked
        assert changed == [
            (f"{base}/releases", 200),
            (f"{base}/git/ref/tags/v7.0.0", 200),
            (f"{base}/git/tags/{repo.releases[-1].tag_object}", 200),
        ]
    else:
        assert unchanged == []  # release_counter unchanged: the listing is not asked for
        assert changed == [(f"{base}/releases", 200), (f"{base}/tags/v7.0.0", 200)]
    row = stored(store, kind, repo)["release:9999001"]
    assert (row["sha"], row["environment"]) == (sha, "production")


def test_a_release_whose_tag_is_gone_falls_back_to_a_commit_id_or_is_skipped(
    store: Store,
) -> None:
    sim = new_sim()
    repo = sim.dataset.repos[0]
    first, second, *_ = (r for r in repo.releases if not r.draft and not r.prerelease)
    # their tags were deleted (GitHub answers 404); one was drafted from a commit id
    first.tag_deleted = second.tag_deleted = True
    first.target_commitish = first.sha.upper()
    with serve(sim) as url:
        result, _ = sync(store, "github", url, repo.full_name)
    got = stored(store, "github", repo)
    assert got[f"release:{first.id}"]["sha"] == first.sha
    assert f"release:{second.id}" not in got  # "main" names no commit: skipped and counted
    assert result.errors >= 1


def test_the_release_environment_is_configurable(store: Store) -> None:
    sim = new_sim()
    repo = sim.dataset.repos[0]
    with serve(sim) as url:
        sync(store, "github", url, repo.full_name, release_environment="prod-eu")
    envs = {r["environment"] for r in stored(store, "github", repo).values()}
    assert envs == {"prod-eu", "prerelease"}


def test_the_release_rule_refuses_drafts_and_releases_without_a_commit() -> None:
    release = {
        "id": 7,
        "tag_name": "v1.0.0",
        "draft": False,
        "prerelease": False,
        "published_at": "2026-05-04T10:30:00Z",
        "author": {"login": "ana"},
        "name": "",
        "html_url": "https://example/r/7",
    }
    dep = release_deployment("github:o/r", release, "AB" * 20, ReleaseRule("live"))
    assert (dep.sha, dep.environment, dep.environment_kind) == ("ab" * 20, "live", "production")
    assert dep.description is None  # an empty name says nothing
    for bad, sha in (
        ({**release, "draft": True}, "ab" * 20),
        ({**release, "published_at": None}, "ab" * 20),
        ({**release, "tag_name": ""}, "ab" * 20),
        (release, "main"),
    ):
        with pytest.raises(ValueError):
            release_deployment("github:o/r", bad, sha)
