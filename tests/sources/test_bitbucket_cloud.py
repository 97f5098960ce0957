"""The Bitbucket Cloud source against the simulated forge on a real socket."""

from __future__ import annotations

from typing import Any

import pytest

from forgelens.sources._forge_common import ts
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.bitbucket_cloud import BitbucketCloudRenderer
from forgelens.testing.forge_sim.dataset import SimComment
from tests.sources.forgehelp import pr_comments, source_for

REF = RepoRef("acme", "service-0")


def cloud_sim(size: SimSize, issues: bool = True, **kwargs: Any) -> ForgeSim:
    ds = generate(1, size)
    return ForgeSim(ds, renderers=[BitbucketCloudRenderer(ds, issues=issues)], **kwargs)


@pytest.mark.parametrize("token", ["me:app-password", "access-token"])
def test_app_password_as_basic_and_access_token_as_bearer(token: str) -> None:
    sim = cloud_sim(SimSize(repos=1, prs_per_repo=1), tokens={token})
    with serve(sim) as url, source_for("bitbucket", url, token) as source:
        assert source.repository(REF).repository.full_name == "acme/service-0"


def test_pull_requests_are_paged_fifty_at_a_time_in_every_state() -> None:
    sim = cloud_sim(SimSize(repos=1, prs_per_repo=120))
    with serve(sim) as url, source_for("bitbucket", url) as source:
        pages = list(source.pull_requests(REF, None))
    assert sum(p.items for p in pages) == 120  # merged and declined too, not only open
    assert len(pages) == 3
    assert sum(1 for _, p, _ in sim.log if p.endswith("/pullrequests")) == 3


def test_repository_without_issue_tracker_has_no_issues() -> None:
    sim = cloud_sim(SimSize(repos=1, prs_per_repo=1), issues=False)
    with serve(sim) as url, source_for("bitbucket", url) as source:
        snap = source.repository(REF)
        assert list(source.issues(snap.ref, None)) == []
    assert not any("/issues" in p for _, p, _ in sim.log)


def test_a_deleted_comment_is_kept_and_marked_deleted() -> None:
    sim = cloud_sim(SimSize(repos=1, prs_per_repo=10))
    renderer = sim.renderers[0]
    assert isinstance(renderer, BitbucketCloudRenderer)
    pr = next(p for p in sim.dataset.repos[0].prs if len(p.comments) >= 2)
    gone = pr.comments[0]
    render = renderer.comment_json

    def deleting(c: SimComment) -> dict[str, Any]:
        out = render(c)
        if c.id == gone.id:  # what Bitbucket Cloud answers for a deleted comment
            out |= {"deleted": True, "content": {"raw": "", "markup": "markdown", "html": ""}}
        return out

    renderer.comment_json = deleting  # type: ignore[method-assign]
    comments = pr_comments(sim, "bitbucket", REF, pr)
    assert comments[str(gone.id)].deleted_at == ts(render(gone)["updated_on"])
    assert [k for k, c in comments.items() if c.deleted_at] == [str(gone.id)]
