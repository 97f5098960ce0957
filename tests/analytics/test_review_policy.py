"""Review policy and AI: an approval by the human behind an agent PR is reported as a
violation of its own kind (never an approval), and AI reviewers count nowhere as reviews
(cycle-time phases, ``merged_without_review``, approvals, compliance)."""

from __future__ import annotations

from datetime import date
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store
from tests.analytics.test_ai_attribution import GH, pc, pr, review


def policy_dataset() -> list[Any]:
    return [
        R.Repository(id=GH, source="github", full_name="octo/app", name="app"),
        R.BranchProtection(GH, "main", required_approvals=1),
        # 1: the Copilot agent's, asked for by bob (assigned), approved by bob only
        pr(1, "Copilot", base_ref="main", assignees=["Copilot", "bob"]),
        pc(
            1, "a1" * 20, "Fix", login="Copilot", email="198982749+Copilot@users.noreply.github.com"
        ),
        review(1, "r1", "bob"),
        # 2: the agent's, asked for by bob, approved by bob and by carol: compliant but for
        # bob's approval, reported all the same
        pr(2, "Copilot", base_ref="main", assignees=["Copilot", "bob"]),
        review(2, "r2", "bob"),
        review(2, "r3", "carol"),
        # 3: alice's, only AI reviewers "reviewed" it (one even approved)
        pr(3, "alice", base_ref="main"),
        review(3, "r4", "coderabbitai[bot]", "COMMENTED"),
        review(3, "r5", "copilot-pull-request-reviewer[bot]", "APPROVED"),
        # 4: alice's, approved by dave: no violation
        pr(4, "alice", base_ref="main"),
        review(4, "r6", "dave"),
    ]


def check(store: Store) -> None:
    store.write_records(policy_dataset())
    analyze(store, AnalyzeOptions(target="all", end_date=date(2026, 3, 31)))
    facts = {
        n: (u, bool(ai), bool(rev), appr, first)
        for n, u, ai, rev, appr, first in store.query(
            "SELECT pr_number, username, ai_agent, reviewed, approvals, first_review_at "
            "FROM pr_facts"
        )
    }
    assert facts[1] == ("bob", True, False, 0, None)  # bob's own approval is no review
    assert facts[2][:4] == ("bob", True, True, 1)  # carol's approval is the one
    assert facts[3] == ("alice", False, False, 0, None)  # AI reviews are no reviews
    assert facts[4][:4] == ("alice", False, True, 1)
    got = {
        n: (bool(fewer), bool(selfa), bool(owner))
        for n, fewer, selfa, owner in store.query(
            "SELECT pr_number, fewer_approvals, self_approved, agent_owner_approved "
            "FROM review_policy_violations"
        )
    }
    assert got == {
        1: (True, False, True),
        2: (False, False, True),
        3: (True, False, False),
    }
    week = store.query_dicts(
        "SELECT prs_merged_protected, violations, fewer_approvals, self_approved, "
        "agent_owner_approved FROM review_policy_weekly"
    )
    assert week == [
        {
            "prs_merged_protected": 4,
            "violations": 3,
            "fewer_approvals": 2,
            "self_approved": 0,
            "agent_owner_approved": 2,
        }
    ]
    unreviewed = store.query(
        "SELECT sum(merged_without_review) FROM delivery_metrics_weekly "
        "WHERE repo_name = 'octo/app'"
    )[0][0]
    assert unreviewed == 2  # PRs 1 and 3


def test_review_policy(every_store: Store) -> None:
    check(every_store)
