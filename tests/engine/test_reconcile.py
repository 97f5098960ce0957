"""The reconciliation sweep and the completeness report (engine/reconcile.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgelens.engine._backfill_report import ErrorSummary
from forgelens.engine.backfill import backfill
from forgelens.engine.collect import collect
from forgelens.engine.queue import BACKFILL_HOOKS
from forgelens.engine.reconcile import completeness, sweep
from forgelens.store import Store
from tests.engine.backfillhelp import big_sim, options, pairs, repo_id, sources
from tests.sources.simhelp import options as collect_options
from tests.sources.simhelp import running


def _open(store: Store, table: str) -> list[int]:
    rows = store.query(
        f"SELECT number FROM {table} WHERE state = 'open' AND deleted_at IS NULL ORDER BY number"
    )
    return [r[0] for r in rows]


def test_sweep_fixes_stuck_open_prs_and_marks_deleted_items(store: Store) -> None:
    sim = big_sim(30)
    repo = repo_id(sim)
    simrepo = sim.dataset.repos[0]
    with running(sim) as url:
        collect(store, [repo], collect_options(url))
        open_prs, open_issues = _open(store, "pull_requests"), _open(store, "issues")
        assert len(open_prs) >= 3
        assert len(open_issues) >= 1
        # on the forge: one open PR got merged without its update reaching us, another PR and
        # an issue were deleted
        merged, gone_pr, gone_issue = open_prs[0], open_prs[1], open_issues[0]
        pr = simrepo.pr(merged)
        assert pr is not None
        pr.state, pr.merged_at, pr.closed_at = "merged", pr.updated_at, pr.updated_at
        simrepo.prs = [p for p in simrepo.prs if p.number != gone_pr]
        simrepo._by_updated = None
        simrepo.issues = [i for i in simrepo.issues if i.number != gone_issue]
        before = store.query("SELECT count(*) FROM pull_requests")[0][0]
        summary = ErrorSummary()
        opts = options(settings={"sweep_budget": 100, "sweep_stale_hours": 0})
        with pairs(url) as pair:
            done = sweep(store, pair, opts, summary)
    assert done["checked"] == len(open_prs) + len(open_issues)
    assert done["deleted"] == 2
    assert summary.total_errors == 0
    assert store.query("SELECT state FROM pull_requests WHERE number = ?", [merged]) == [
        ("merged",)
    ]
    # never a silent removal: the rows stay, marked
    assert store.query("SELECT count(*) FROM pull_requests")[0][0] == before
    deleted = store.query("SELECT number FROM pull_requests WHERE deleted_at IS NOT NULL")
    assert deleted == [(gone_pr,)]
    assert store.query("SELECT number FROM issues WHERE deleted_at IS NOT NULL") == [(gone_issue,)]
    report = completeness(store, repo)[0]
    assert report["marked_deleted"] == 2
    assert report["last_sweep_at"] is not None


def test_sweep_is_bounded_by_its_budget_and_continues_where_it_stopped(store: Store) -> None:
    sim = big_sim(40)
    repo = repo_id(sim)
    with running(sim) as url:
        collect(store, [repo], collect_options(url))
        open_prs = _open(store, "pull_requests")
        assert len(open_prs) > 4
        sim.requests = 0
        opts = options(settings={"sweep_budget": 3, "sweep_stale_hours": 0})
        with pairs(url) as pair:
            first = sweep(store, pair, opts, ErrorSummary())
            assert first["checked"] == 3
            assert sim.requests == 3  # one request per item, no more
            second = sweep(store, pair, opts, ErrorSummary())
        assert second["checked"] == 3
    cursor = store.get_cursor(repo, "sweep:pull_requests")
    assert cursor == str(open_prs[5])  # the second sweep took the next three


def test_completeness_report_and_backfill_selection_use_forge_totals(store: Store) -> None:
    sim = big_sim(110)
    repo = repo_id(sim)
    with running(sim) as url:
        backfill(store, options(repository_id=repo, max_chunks=2, chunk_size=25), sources(url))
        row = completeness(store, repo)[0]
        assert row["forge_prs"] == 110
        assert row["stored_prs"] == 50
        assert row["prs_pct"] == 45.45
        assert row["forge_issues"] == 8
        assert row["backfill_status"] == "active"
        assert row["last_full_verification_at"] is None
        while completeness(store, repo)[0]["backfill_status"] != "completed":
            backfill(store, options(repository_id=repo, max_chunks=10, chunk_size=25), sources(url))
    row = completeness(store, repo)[0]
    assert row["prs_pct"] == 100.0
    assert row["last_full_verification_at"] is not None


def test_the_service_schedule_runs_the_backfill(store: Store) -> None:
    result = BACKFILL_HOOKS["progressive"](store)  # nothing to backfill: a run all the same
    run_id = getattr(result, "run_id", None)
    assert run_id is not None
    rows = store.query("SELECT status FROM git_collection_runs WHERE run_id = ?", [run_id])
    assert rows == [("completed",)]


def test_sweep_skips_recently_updated_items(store: Store) -> None:
    sim = big_sim(20)
    repo = repo_id(sim)
    with running(sim) as url:
        collect(store, [repo], collect_options(url))
        future = datetime.now(UTC) + timedelta(days=1)
        opts = options(settings={"sweep_budget": 50, "sweep_stale_hours": 1}, clock=lambda: future)
        store.execute("UPDATE pull_requests SET updated_at = ?", [future - timedelta(minutes=5)])
        store.execute("UPDATE issues SET updated_at = ?", [future - timedelta(minutes=5)])
        with pairs(url) as pair:
            assert sweep(store, pair, opts, ErrorSummary())["checked"] == 0
