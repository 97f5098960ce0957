"""``ai_impact_weekly`` incrementally (issues #16/#19): a run recomputes only the weeks its new
data can change — including earlier weeks whose PRs a new PR reverts or reworks — and holds the
same rows as ``--force-refresh`` afterwards, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store
from tests.analytics.test_ai_attribution import CLAUDE, GH, T0, commit, pc, pr
from tests.analytics.test_ai_impact import impact_dataset

END = date(2026, 4, 30)
FAR = date(2026, 1, 19)  # a week no change below reaches (more than 30 days before any)
STAMP = ("updated_at", "_version", "_source")


def later(number: int, author: str, days: int, **kw: Any) -> R.PullRequest:
    """A PR opened ``days`` after T0 and merged an hour later."""
    at = T0 + timedelta(days=days)
    return replace(pr(number, author), created_at=at, merged_at=at + timedelta(hours=1), **kw)


def first_records() -> list[Any]:
    return [
        *impact_dataset(),
        R.TeamMember(source="github", org="octo", team_slug="core", login="alice"),
        R.TeamMember(source="github", org="octo", team_slug="core", login="bob"),
        later(30, "bob", (FAR - T0.date()).days + 1),  # the far week's only PR
        later(31, "alice", 20),  # a Sunday
        R.PrFile(GH, 31, "c.py", 5, 0, "modified"),
        later(32, "bob", 9),
    ]


def changes() -> list[Any]:
    """New PRs and commits whose effects reach back into weeks already analysed."""
    return [
        later(40, "bob", 35, title='Revert "PR 31"'),  # PR 31 (two weeks before) reverted
        later(41, "carol", 22),  # reworks PR 31's c.py two days after it, with Claude's help
        R.PrFile(GH, 41, "c.py", 1, 1, "modified"),
        pc(41, "d1" * 20, "Tidy c\n\n" + CLAUDE, login="carol", email="c@x.org"),
        later(42, "alice", 1),  # late data for the first week
        dated(commit("e1" * 20, "More\n\n" + CLAUDE), 8),
        later(32, "bob", 10, title="Update deps"),  # an edited PR: merged a day later
    ]


def table(store: Store) -> list[tuple[Any, ...]]:
    rows = store.query_dicts("SELECT * FROM ai_impact_weekly")
    out = [tuple((k, str(v)) for k, v in sorted(r.items()) if k not in STAMP) for r in rows]
    return sorted(out)


def versions(store: Store, week: date) -> set[int]:
    got = store.query("SELECT _version FROM ai_impact_weekly WHERE week_start = ?", [week])
    return {int(v) for (v,) in got}


def same_as_full(store: Store) -> None:
    incremental = table(store)
    analyze(store, AnalyzeOptions(target="all", end_date=END, force_refresh=True))
    assert table(store) == incremental


def dated(rec: R.Commit, days: int) -> R.Commit:
    return replace(rec, authored_at=T0 + timedelta(days=days))


def check(store: Store) -> None:
    store.write_records(first_records())
    analyze(store, AnalyzeOptions(target="all", end_date=END))
    far = versions(store, FAR)
    assert far, "the far week has rows"
    before = table(store)
    store.write_records(changes())
    analyze(store, AnalyzeOptions(target="all", end_date=END))
    assert table(store) != before
    assert versions(store, FAR) == far  # a week no change reaches is not rewritten
    # PR 31's week (no new PR in it) now counts it reverted and reworked (the new PRs are
    # merged in later weeks)
    week31 = (T0 + timedelta(days=14)).date()
    got = store.query(
        "SELECT other_revert_rate, other_rework_rate FROM ai_impact_weekly "
        "WHERE scope_kind = 'repository' AND week_start = ?",
        [week31],
    )
    assert len(got) == 1
    reverted, reworked = got[0]
    assert reverted > 0  # 0 before the change
    assert reworked > 0
    same_as_full(store)
    # analyze ai alone: a new AI commit in an old week
    store.write_records([dated(commit("f1" * 20, "X\n\n" + CLAUDE), 2)])
    analyze(store, AnalyzeOptions(target="ai", end_date=END))
    same_as_full(store)
    # team membership changed
    store.write_records(
        [R.TeamMember(source="github", org="octo", team_slug="core", login="carol")]
    )
    analyze(store, AnalyzeOptions(target="all", end_date=END))
    same_as_full(store)


def test_incremental_equals_force_refresh(every_store: Store) -> None:
    check(every_store)
