"""The Bitbucket Server / Data Center source against the simulated forge on a real socket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from forgelens.errors import BadInput, ForgeError
from forgelens.records import PullRequest, Review
from forgelens.sources import bitbucket_server
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.bitbucket_server import BitbucketServerRenderer
from forgelens.testing.forge_sim.dataset import SimComment
from forgelens.testing.forge_sim.github import GitHubRenderer
from tests.sources.forgehelp import pr_comments, source_for

REF = RepoRef("ACME", "service-0")


def bbs_sim(size: SimSize, version: str = "8.19.1") -> ForgeSim:
    ds = generate(1, size)
    return ForgeSim(ds, renderers=[BitbucketServerRenderer(ds, version=version)])


def test_api_url_is_required() -> None:
    from forgelens.engine.collect import CollectOptions

    with pytest.raises(BadInput, match="needs --api-url"):
        bitbucket_server.from_options(CollectOptions())


def test_no_update_filter_so_newest_first_stops_at_the_cursor() -> None:
    sim = bbs_sim(SimSize(repos=1, prs_per_repo=30))
    with serve(sim) as url, source_for("bitbucket-server", url) as source:
        source.page_params = {"limit": 10}
        pages = list(source.pull_requests(REF, None))
        newest = max(p.high for p in pages if p.high)
        listed = sum(1 for _, p, _ in sim.log if p.endswith("/pull-requests"))
        assert listed == 3  # every page on a full pass
        sim.log.clear()
        again = list(source.pull_requests(REF, newest))
    assert [p.items for p in again] == [0]
    assert again[0].resume is None
    assert [p for _, p, _ in sim.log] == [
        "/rest/api/1.0/projects/ACME/repos/service-0/pull-requests"
    ]  # one page read, no activities/diff/commits fetched


def test_declined_is_closed_and_needs_work_is_changes_requested() -> None:
    sim = bbs_sim(SimSize(repos=1, prs_per_repo=40))
    states = {p.number: p.state for p in sim.dataset.repos[0].prs}
    wanted = {
        (p.number, r.id): r.state
        for p in sim.dataset.repos[0].prs
        for r in p.reviews
        if r.state != "COMMENTED"
    }
    with serve(sim) as url, source_for("bitbucket-server", url) as source:
        records = [r for p in source.pull_requests(REF, None) for r in p.records]
    prs = {r.number: r.state for r in records if isinstance(r, PullRequest)}
    assert prs == states
    assert "closed" in prs.values()
    reviews = {(r.pr_number, int(r.review_id)): r.state for r in records if isinstance(r, Review)}
    assert reviews == wanted
    assert "CHANGES_REQUESTED" in reviews.values()


def test_wrong_api_url_says_where_the_rest_api_was_expected() -> None:
    ds = generate(1, SimSize(repos=1))
    with (
        serve(ForgeSim(ds, renderers=[GitHubRenderer(ds)])) as url,
        source_for("bitbucket-server", url) as source,
        pytest.raises(ForgeError) as err,
    ):
        source.list_repositories("ACME")
    assert "has no Bitbucket Server REST API" in str(err.value)
    assert "--api-url" in str(err.value)


def test_old_server_is_named_with_its_version() -> None:
    with (
        serve(bbs_sim(SimSize(repos=1), version="6.10.0")) as url,
        source_for("bitbucket-server", url) as source,
        pytest.raises(ForgeError) as err,
    ):
        source.repository(RepoRef("ACME", "missing"))
    assert "Bitbucket Server 6.10.0 at 127.0.0.1 is older than the oldest supported 7.0" in str(
        err.value
    )


def test_a_deleted_comment_is_kept_and_marked_deleted() -> None:
    sim = bbs_sim(SimSize(repos=1, prs_per_repo=10))
    renderer = sim.renderers[0]
    assert isinstance(renderer, BitbucketServerRenderer)
    pr = next(p for p in sim.dataset.repos[0].prs if len(p.comments) >= 2)
    gone = pr.comments[0]
    when = (gone.updated_at + timedelta(hours=1)).replace(microsecond=0)  # epoch ms on the wire
    render = renderer.comment_activity

    def deleting(c: SimComment) -> dict[str, Any]:
        out = render(c)
        if c.id == gone.id:
            out |= {"commentAction": "DELETED", "createdDate": int(when.timestamp() * 1000)}
        return out

    renderer.comment_activity = deleting  # type: ignore[method-assign]
    comments = pr_comments(sim, "bitbucket-server", REF, pr)
    assert comments[str(gone.id)].deleted_at == when
    assert [k for k, c in comments.items() if c.deleted_at] == [str(gone.id)]
