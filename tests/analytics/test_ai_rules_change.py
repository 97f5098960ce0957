"""A change of AI rules recomputes every analytics row that depends on them (issues #16/#19):
an agent PR whose evidence the new rules take away leaves no ``ai_attribution`` row to say
so, and an incremental run still gives what ``--force-refresh`` gives -- the PR counts for
its author again, no longer marked ``ai_agent``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store
from tests.analytics.test_ai_attribution import GH, pr

END = date(2026, 4, 30)
TABLES = ("pr_facts", "author_prs_window", "author_metrics_daily", "authors")
WHEN = ("updated_at", "_version", "_source", "id")  # when a row was written, not what it holds


def table(store: Store, name: str) -> list[tuple[Any, ...]]:
    rows = store.query_dicts(f"SELECT * FROM {name}")
    return sorted(tuple((k, str(v)) for k, v in sorted(r.items()) if k not in WHEN) for r in rows)


def facts(store: Store) -> dict[int, tuple[str, bool]]:
    got = store.query("SELECT pr_number, username, ai_agent FROM pr_facts")
    return {int(n): (str(u), bool(a)) for n, u, a in got}


def test_rules_that_take_evidence_away_recompute_the_prs_incrementally(
    every_store: Store, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text('agents:\n  - {tool: Devin, logins: ["build-helper"]}\n', encoding="utf-8")
    every_store.write_records(
        [
            R.Repository(id=GH, source="github", full_name="octo/app", name="app"),
            pr(1, "build-helper", assignees=["alice"]),
            pr(2, "bob"),
            pr(3, "alice"),
        ]
    )
    analyze(every_store, AnalyzeOptions(target="all", end_date=END, ai_rules=rules))
    assert facts(every_store)[1] == ("alice", True)  # the agent PR counts for who asked

    analyze(every_store, AnalyzeOptions(target="all", end_date=END))  # the shipped rules
    assert facts(every_store)[1] == ("build-helper", False)
    incremental = {t: table(every_store, t) for t in TABLES}
    analyze(every_store, AnalyzeOptions(target="all", end_date=END, force_refresh=True))
    assert {t: table(every_store, t) for t in TABLES} == incremental
