"""Property tests: on small generated stores the SQL agrees with the plain-Python reference."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
from forgelens.store import Store, open_store
from tests.analytics import reference as ref

END = date(2026, 3, 31)
BASE = datetime(2025, 12, 1, tzinfo=UTC)
AUTHORS = ["alice", "Bob", "carol", "dependabot[bot]", None, "ghost"]
REVIEWERS = ["alice", "bob", "carol", "rita", None]
CFG = AnalyticsConfig(
    hotspot_changes=2,
    size_lines_cap=200,
    few_tests_min_code_lines=20,
    large_revert_lines=50,
    low_ownership_share=0.5,
    high_risk_threshold=0.3,
)


@st.composite
def datasets(draw: st.DrawFn) -> list[Any]:
    repos = [
        R.Repository(
            id=R.repository_id("github", f"o/r{i}"),
            source="github",
            full_name=f"o/r{i}",
            name=f"r{i}",
        )
        for i in range(draw(st.integers(1, 2)))
    ]
    recs: list[Any] = [*repos]
    recs.append(
        R.BranchProtection(
            repository_id=repos[0].id, branch="main", required_approvals=2, required_checks=["ci"]
        )
    )
    for number in range(1, draw(st.integers(0, 12)) + 1):
        rid = draw(st.sampled_from([r.id for r in repos]))
        zone = timezone(timedelta(hours=draw(st.integers(-11, 12))))
        created = (BASE + timedelta(seconds=draw(st.integers(0, 120 * 86400)))).astimezone(zone)
        wait = draw(st.one_of(st.none(), st.integers(60, 20 * 86400)))
        merged = created + timedelta(seconds=wait) if wait else None
        author = draw(st.sampled_from(AUTHORS))
        paths = draw(st.lists(st.sampled_from(list(ref.PATHS)), max_size=4, unique=True))
        sized = draw(st.booleans())
        label = draw(st.sampled_from(list(ref.LABELS)))
        head = draw(st.sampled_from(list(ref.BRANCHES)))
        recs.append(
            R.PullRequest(
                repository_id=rid,
                number=number,
                title=draw(st.sampled_from(list(ref.TITLES))),
                state="merged" if merged else draw(st.sampled_from(["open", "closed"])),
                created_at=created,
                updated_at=created,
                forge_id=str(1000 + number),
                author=author,
                merged_at=merged,
                closed_at=created + timedelta(hours=1) if draw(st.booleans()) else None,  # reopened
                base_ref=draw(st.sampled_from(["main", "dev"])),
                head_ref=head,
                additions=draw(st.integers(0, 300)) if sized else None,
                deletions=draw(st.integers(0, 60)) if sized else None,
                changed_files=len(paths) if sized else None,
                labels=[label] if label else [],
                merged_by=draw(st.sampled_from([author, "carol", None])) if merged else None,
            )
        )
        for path in paths:
            recs.append(
                R.PrFile(
                    repository_id=rid,
                    pr_number=number,
                    path=path,
                    additions=draw(st.integers(0, 150)),
                    deletions=draw(st.integers(0, 50)),
                    change_type="modified",
                )
            )
        for k in range(draw(st.integers(0, 3))):
            late = draw(st.one_of(st.none(), st.integers(0, 25 * 86400)))
            recs.append(
                R.Review(
                    repository_id=rid,
                    pr_number=number,
                    review_id=f"{number}-{k}",
                    author=draw(st.sampled_from([*REVIEWERS, author])),
                    state=draw(
                        st.sampled_from(
                            ["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "PENDING", "DISMISSED"]
                        )
                    ),
                    submitted_at=None if late is None else created + timedelta(seconds=late),
                )
            )
        for k in range(draw(st.integers(0, 2))):
            recs.append(
                R.PrCommit(
                    repository_id=rid,
                    pr_number=number,
                    sha=f"{number}{k}",
                    authored_at=created + timedelta(seconds=draw(st.integers(-5 * 86400, 3600))),
                )
            )
        if draw(st.booleans()):
            recs.append(
                R.CiRun(
                    repository_id=rid,
                    run_id=f"{number}",
                    name="ci",
                    status="completed",
                    conclusion=draw(st.sampled_from(["success", "failure", None])),
                    created_at=created + timedelta(seconds=draw(st.integers(0, 86400))),
                    head_branch=head,
                )
            )
    return recs


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def fresh_store(recs: list[Any]) -> Store:
    store = open_store("duckdb:///:memory:")
    store.write_records(recs)
    return store


def check_all(store: Store, recs: list[Any], cfg: AnalyticsConfig = CFG) -> None:
    facts = ref.compute(recs, cfg)
    by_key = {(f.repo, f.pr.number): f for f in facts.values()}

    rows = store.query_dicts("SELECT * FROM repo_prs")
    assert len(rows) == len(facts)
    for row in rows:
        f = by_key[(row["repo_name"], row["pr_number"])]
        assert row["author"] == f.user
        assert close(row["risk_score"], f.risk), (row, f.reasons)
        assert row["high_risk"] == f.high_risk
        reasons = {r["factor"]: r["contribution"] for r in json.loads(row["risk_reasons"])}
        assert reasons.keys() == f.reasons.keys()
        assert all(abs(reasons[k] - v) <= 0.0005 + 1e-12 for k, v in f.reasons.items())
        assert (row["feature_rule"], row["feature_confidence"]) == f.feature
        assert row["is_merged"] == (f.pr.merged_at is not None)

    daily = {
        (r[0], r[1], r[2]): tuple(r[3:])
        for r in store.query(
            "SELECT username, repo_name, day, prs_submitted, prs_merged, lines_changed, "
            "high_risk_prs, features_merged FROM author_metrics_daily"
        )
    }
    assert daily == ref.daily(facts, cfg)

    win = ref.windows(facts, cfg, END)
    got = {
        (r[0], r[1], r[2]): r[3:]
        for r in store.query(
            "SELECT username, repo_name, window_days, prs_submitted, prs_merged, high_risk_prs, "
            "high_risk_rate, lines_changed, ownership_low_risk_prs FROM author_metrics_window "
            "WHERE end_date = ?",
            [END],
        )
    }
    assert got.keys() == win["metrics"].keys()
    for k, v in win["metrics"].items():
        assert got[k][:3] == v[:3], k
        assert close(got[k][3], v[3]), k
        assert got[k][4:] == v[4:], k
    prs = set(
        store.query(
            "SELECT username, repo_name, window_days, pr_id FROM author_prs_window "
            "WHERE end_date = ?",
            [END],
        )
    )
    assert prs == win["prs"]

    own = ref.ownership(facts, cfg, END)
    got_own = {
        (r[0], r[1], r[2], r[3]): r[4:]
        for r in store.query(
            "SELECT username, repo_name, window_days, file_path, ownership_pct, lines_owned, "
            "total_lines FROM author_file_ownership WHERE end_date = ? AND window_days > 0",
            [END],
        )
    }
    assert got_own.keys() == own.keys()
    for k, v in own.items():
        assert close(got_own[k][0], v[0])
        assert got_own[k][1:] == v[1:]

    deliv = ref.delivery(facts)
    got_d = {
        (r["repo_name"], r["week_start"]): r
        for r in store.query_dicts("SELECT * FROM delivery_metrics_weekly WHERE team = '*'")
    }
    assert got_d.keys() == deliv.keys()
    for k, v in deliv.items():
        for col, want in v.items():
            assert close(got_d[k][col], want), (k, col, got_d[k][col], want)

    pol = ref.policy(recs, facts)
    got_p = {
        (r["repo_name"], r["pr_number"]): r
        for r in store.query_dicts("SELECT * FROM review_policy_violations")
    }
    assert got_p.keys() == pol.keys()
    for k, v in pol.items():
        row = got_p[k]
        assert (row["approvals"], row["fewer_approvals"], row["self_approved"]) == (
            v["approvals"],
            v["fewer"],
            v["self"],
        )
        assert json.loads(row["failing_checks"]) == v["failing"]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recs=datasets())
def test_sql_agrees_with_reference(recs: list[Any]) -> None:
    store = fresh_store(recs)
    try:
        analyze(store, AnalyzeOptions(config=CFG, end_date=END))
        check_all(store, recs)
    finally:
        store.close()


def shifted(first: list[Any], more: list[Any]) -> list[Any]:
    """``more``'s PRs (and their files, reviews, commits) renumbered after ``first``'s, in
    ``first``'s repositories."""
    out = [
        dataclasses.replace(r, number=r.number + 100, forge_id=str(1100 + r.number))
        if isinstance(r, R.PullRequest)
        else dataclasses.replace(r, pr_number=r.pr_number + 100)
        if isinstance(r, R.PrFile | R.Review | R.PrCommit)
        else r
        for r in more
        if not isinstance(r, R.Repository | R.BranchProtection | R.CiRun)
    ]
    repo_ids = {r.id for r in first if isinstance(r, R.Repository)}
    return [r for r in out if r.repository_id in repo_ids]


def check_incremental(store: Store, first: list[Any], more: list[Any]) -> None:
    """On ``store`` holding ``first``: analyse, add ``more``'s PRs, analyse incrementally, and
    check everything against the reference."""
    added = shifted(first, more)
    analyze(store, AnalyzeOptions(config=CFG, end_date=END))
    store.write_records(added)
    result = analyze(store, AnalyzeOptions(config=CFG, end_date=END))
    assert "full" not in result.modes  # really incremental
    check_all(store, first + added)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(first=datasets(), more=datasets())
def test_incremental_equals_full(first: list[Any], more: list[Any]) -> None:
    """Analyse, add PRs (and reviews), analyse incrementally: same as a fresh full analysis."""
    store = fresh_store(first)
    try:
        check_incremental(store, first, more)
    finally:
        store.close()
