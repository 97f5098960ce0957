"""The GitLab source against the simulated forge on a real socket: what differs from the
other forges (groups, old servers, self-hosted TLS, auth headers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forgelens.errors import AuthError, ForgeError
from forgelens.records import PrFile
from forgelens.sources.base import RepoRef
from forgelens.testing.forge_sim import ForgeSim, SimSize, generate, serve
from forgelens.testing.forge_sim.github import GitHubRenderer
from forgelens.testing.forge_sim.gitlab import GitLabRenderer
from tests.sources.forgehelp import self_signed_cert, source_for

REF = RepoRef("acme", "service-0")


def gitlab_sim(size: SimSize, version: str = "17.5.0", **kwargs: Any) -> ForgeSim:
    ds = generate(1, size)
    return ForgeSim(ds, renderers=[GitLabRenderer(ds, version=version)], **kwargs)


def test_group_with_hundreds_of_projects_is_paged_by_keyset() -> None:
    sim = gitlab_sim(SimSize(repos=230, prs_per_repo=0, issues_per_repo=0, runs_per_repo=0))
    with serve(sim) as url, source_for("gitlab", url) as source:
        refs = source.list_repositories("acme")
    assert len(refs) == 230
    listing = [p for m, p, s in sim.log if p.endswith("/groups/acme/projects")]
    assert len(listing) == 3  # 100 + 100 + 30, never one huge answer


def test_renamed_project_is_followed() -> None:
    sim = gitlab_sim(SimSize(repos=1, prs_per_repo=2))
    sim.dataset.rename("acme/service-0", "renamed")
    with serve(sim) as url, source_for("gitlab", url) as source:
        snap = source.repository(REF)
        prs = [p for page in source.pull_requests(snap.ref, None) for p in page.records]
    assert snap.ref == RepoRef("acme", "renamed")
    assert snap.repository.id == "gitlab:acme/renamed"
    assert any(type(p).__name__ == "PullRequest" for p in prs)


def test_gitlab_before_15_7_reads_changes_instead_of_diffs() -> None:
    size = SimSize(repos=1, prs_per_repo=4)
    files: dict[str, list[tuple[str, int | None, int | None]]] = {}
    for version in ("17.5.0", "15.0.0"):
        sim = gitlab_sim(size, version=version)
        with serve(sim) as url, source_for("gitlab", url) as source:
            records = [r for p in source.pull_requests(REF, None) for r in p.records]
        files[version] = sorted(
            (f.path, f.additions, f.deletions) for f in records if isinstance(f, PrFile)
        )
        assert any(p.endswith("/changes") for _, p, _ in sim.log) == (version == "15.0.0")
    assert files["15.0.0"] == files["17.5.0"]
    assert len(files["17.5.0"]) > 4


def test_old_gitlab_is_named_with_its_version() -> None:
    with (
        serve(gitlab_sim(SimSize(repos=1), version="8.17.0")) as url,
        source_for("gitlab", url) as source,
        pytest.raises(ForgeError) as err,
    ):
        source.repository(REF)
    assert "GitLab 8.17.0 at 127.0.0.1 is older than the oldest supported version 13.0" in str(
        err.value
    )


def test_a_server_without_api_v4_says_check_api_url() -> None:
    ds = generate(1, SimSize(repos=1))
    with (
        serve(ForgeSim(ds, renderers=[GitHubRenderer(ds)])) as url,
        source_for("gitlab", url) as source,
        pytest.raises(ForgeError) as err,
    ):
        source.list_repositories("acme/service-0")
    assert "has no GitLab API v4" in str(err.value)
    assert "--api-url" in str(err.value)


@pytest.mark.parametrize("token", ["s3cret", "Bearer s3cret"])
def test_private_token_and_bearer_are_accepted(token: str) -> None:
    sim = gitlab_sim(SimSize(repos=1, prs_per_repo=1), tokens={"s3cret"})
    with serve(sim) as url, source_for("gitlab", url, token) as source:
        assert source.repository(REF).repository.full_name == "acme/service-0"


def test_rejected_token_names_the_variable() -> None:
    sim = gitlab_sim(SimSize(repos=1), tokens={"s3cret"})
    with (
        serve(sim) as url,
        source_for("gitlab", url, "wrong") as source,
        pytest.raises(AuthError) as err,
    ):
        source.repository(REF)
    assert "GITLAB_TOKEN" in str(err.value)


def test_self_signed_certificate_needs_ca_bundle(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    sim = gitlab_sim(SimSize(repos=1, prs_per_repo=1))
    with serve(sim, tls=(cert, key)) as url:
        assert url.startswith("https://")
        with source_for("gitlab", url) as source, pytest.raises(ForgeError) as err:
            source.repository(REF)
        assert "TLS certificate of 127.0.0.1 was not accepted" in str(err.value)
        assert "--ca-bundle" in str(err.value)
        with source_for("gitlab", url, ca_bundle=cert) as trusted:
            assert trusted.repository(REF).repository.name == "service-0"


def test_assignees_and_reviewers_of_a_merge_request() -> None:
    """GitLab's ``assignees`` and ``reviewers`` (every reviewer set on the MR, reviewed or not);
    a server that sends no list leaves them unknown."""
    from forgelens.sources.gitlab import _map as m

    base = {"iid": 7, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}
    mr = m.merge_request(
        "r", {**base, "assignees": [{"username": "ann"}], "reviewers": [{"username": "bob"}]}
    )
    assert (mr.assignees, mr.requested_reviewers) == (["ann"], ["bob"])
    bare = m.merge_request("r", base)
    assert (bare.assignees, bare.requested_reviewers) == (None, None)
