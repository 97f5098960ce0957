"""``ai_impact_weekly`` after ``analyze all``: shares by mode and tool, AI vs other PRs,
per repository and per author (an agent PR counted for the human behind it)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store
from tests.analytics.test_ai_attribution import GH, T0, dataset, pr

WEEK = date(2026, 3, 2)


def impact_dataset() -> list[Any]:
    return [
        *dataset(),
        pr(1, "alice", additions=10, deletions=0),
        pr(6, "alice", head_ref="feature/copilot", additions=30, deletions=0),
        R.PullRequest(
            repository_id=GH,
            number=8,
            title='Revert "PR 3"',
            state="merged",  # PR 3
            created_at=T0 + timedelta(hours=20),
            updated_at=T0,
            author="alice",
            merged_at=T0 + timedelta(hours=21),
            additions=0,
            deletions=0,
        ),
        R.PrFile(GH, 1, "a.py", 10, 0, "modified"),
        R.PrFile(GH, 4, "a.py", 1, 1, "modified"),  # PR 1's file again 3 hours later
        R.PrFile(GH, 6, "b.py", 30, 0, "modified"),
    ]


def row(store: Store, kind: str, scope: str) -> dict[str, Any]:
    rows = store.query_dicts(
        "SELECT * FROM ai_impact_weekly WHERE scope_kind = ? AND scope = ? AND week_start = ?",
        [kind, scope, WEEK],
    )
    assert len(rows) == 1, rows
    return rows[0]


def check(store: Store) -> None:
    store.write_records(impact_dataset())
    result = analyze(store, AnalyzeOptions(target="all", end_date=date(2026, 3, 31)))
    assert result.ai_work["pr rows written"] == 6
    repo = row(store, "repository", "octo/app")
    assert (repo["prs_merged"], repo["ai_prs"], repo["ai_prs_assistant"], repo["ai_prs_agent"]) == (
        8,
        6,
        3,
        3,
    )
    assert repo["ai_pr_share"] == pytest.approx(0.75)
    assert (repo["commits"], repo["ai_commits"]) == (4, 3)
    assert (repo["lines_changed"], repo["ai_lines_changed"]) == (42, 12)
    assert json.loads(repo["ai_tools"]) == {
        "Claude Code": 3,
        "Copilot coding agent": 2,
        "Cursor": 1,
    }
    assert repo["ai_revert_rate"] == pytest.approx(1 / 6)
    assert repo["other_revert_rate"] == 0
    assert repo["ai_rework_rate"] == pytest.approx(1 / 6)
    assert repo["other_rework_rate"] == 0
    assert repo["ai_cycle_hours_p50"] is not None
    assert repo["ai_change_fail_rate"] is None  # no deployments in this store
    carol = row(store, "author", "carol")  # PR 7: the agent's, pushed to by carol
    assert (carol["prs_merged"], carol["ai_prs_agent"]) == (1, 1)
    bob = row(store, "author", "bob")  # PR 2: the agent's, asked for by bob
    assert (bob["prs_merged"], bob["ai_prs_agent"]) == (1, 1)
    facts = {
        n: (u, rev, appr, selfa)
        for n, u, rev, appr, selfa in store.query(
            "SELECT pr_number, username, reviewed, approvals, self_approved FROM pr_facts"
        )
    }
    # an AI reviewer's review is no review; the agent owner's approval is a self-approval
    assert facts[3] == ("alice", False, 0, False)
    assert facts[2] == ("bob", False, 0, True)  # nobody but its owner and Copilot reviewed
    assert facts[7][0] == "carol"
    # the per-engineer PR rows mark the PRs an agent made for the person they count for
    # (PR 4: alice's from a cursor/ branch, the agent's for her)
    marked = {n: bool(a) for n, a in store.query("SELECT pr_number, ai_agent FROM pr_facts")}
    assert {n for n, a in marked.items() if a} == {2, 4, 7}
    listed = store.query(
        "SELECT DISTINCT username, pr_number, ai_agent FROM author_prs_window "
        "WHERE pr_number IN (1, 2, 4, 7)"
    )
    assert sorted((u, n, bool(a)) for u, n, a in listed) == [
        ("alice", 1, False),
        ("alice", 4, True),
        ("bob", 2, True),
        ("carol", 7, True),
    ]
    alice = row(store, "author", "alice")
    assert (alice["prs_merged"], alice["ai_prs"]) == (6, 4)


def test_impact_duckdb(store: Store) -> None:
    check(store)


@pytest.mark.integration
def test_impact_postgres(pg_url: str) -> None:
    from forgelens.store import open_store

    s = open_store(pg_url)
    try:
        check(s)
    finally:
        s.close()


def test_impact_chdb(chdb_store: Store) -> None:
    check(chdb_store)


def test_a_rules_change_moves_an_agent_pr_to_its_new_owner_incrementally(
    store: Store, tmp_path: Path
) -> None:
    """The owner comes from ``analyze ai``: when new rules name another one, the next
    incremental run counts the PR for them, as ``--force-refresh`` would."""
    store.write_records(impact_dataset())
    end = date(2026, 3, 31)
    analyze(store, AnalyzeOptions(target="all", end_date=end))
    owner = "SELECT username FROM pr_facts WHERE pr_number = 2"
    assert store.query(owner) == [("bob",)]
    rules = tmp_path / "rules.yaml"
    rules.write_text("agent_owner: [merged_by]\n")
    analyze(store, AnalyzeOptions(target="all", end_date=end, ai_rules=rules))
    assert store.query(owner) == [("dave",)]
    windows = "SELECT DISTINCT username FROM author_prs_window WHERE pr_number = 2"
    assert store.query(windows) == [("dave",)]
