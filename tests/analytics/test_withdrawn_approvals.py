"""An approval taken back before the merge never counts: collected from a recorded Bitbucket
Server pull request whose reviewer approved and withdrew the approval 39 s later, the merged PR
has no approval in ``pr_facts``, breaks a one-approval review policy and carries the risk
factor of a PR nobody approved -- where the same PR with the approval standing does not."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.records import BranchProtection
from forgelens.sources.base import RepoRef
from forgelens.store import Store, open_store
from tests.sources.recordedhelp import replayed

REF = RepoRef("PRJ", "my-repo")
REPO_ID = "bitbucket-server:PRJ/my-repo"
ACTIVITIES = "/rest/api/1.0/projects/PRJ/repos/my-repo/pull-requests/101/activities"
WITHDRAWN = [
    {"path": ACTIVITIES, "responses": [{"body": "activities-101-unapproved.json"}]},
    {
        "path": ACTIVITIES,
        "query": {"start": "5"},
        "responses": [{"body": "activities-101-p3.json"}],
    },
]


def collected(tmp_path: Path, extra: list[dict[str, Any]] | None) -> Store:
    """PR #101 (merged into main by bob's approval, or not) in a store, main protected by
    one required approval, analysed."""
    with replayed("bitbucket_server", "bitbucket-server", extra) as (source, replay):
        snap = source.repository(REF)
        records = [r for p in source.pull_requests(REF, None) for r in p.records]
    assert replay.unmatched == []
    store = open_store(f"duckdb:///{tmp_path / 'withdrawn.duckdb'}")
    store.write_records([snap.repository, *records], source="bitbucket-server")
    store.write_records(
        [BranchProtection(repository_id=REPO_ID, branch="main", required_approvals=1)],
        source="bitbucket-server",
    )
    analyze(store, AnalyzeOptions(end_date=date(2024, 3, 31)))
    return store


@pytest.mark.parametrize("withdrawn", [False, True], ids=["standing", "withdrawn"])
def test_an_approval_withdrawn_before_the_merge_never_counts(
    tmp_path: Path, withdrawn: bool
) -> None:
    store = collected(tmp_path, WITHDRAWN if withdrawn else None)
    try:
        [review] = [
            r
            for r in store.query_dicts("SELECT * FROM pr_reviews WHERE pr_number = 101")
            if r["author"] == "bob"
        ]
        assert review["state"] == ("DISMISSED" if withdrawn else "APPROVED")
        [facts] = store.query_dicts(
            "SELECT approvals, reviewed FROM pr_facts WHERE pr_number = 101"
        )
        assert facts["approvals"] == (0 if withdrawn else 1)
        violations = store.query_dicts(
            "SELECT required_approvals, approvals, fewer_approvals "
            "FROM review_policy_violations WHERE pr_number = 101"
        )
        if withdrawn:
            assert violations == [
                {"required_approvals": 1, "approvals": 0, "fewer_approvals": True}
            ]
        else:
            assert violations == []
        [risk] = store.query_dicts("SELECT risk_reasons FROM repo_prs WHERE pr_number = 101")
        assert ("no_approval" in str(risk["risk_reasons"])) is withdrawn
    finally:
        store.close()
