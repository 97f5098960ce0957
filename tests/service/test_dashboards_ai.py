"""``/ai-impact``: the view equals the store's ai_impact_weekly and ai_attribution rows."""

from __future__ import annotations

from datetime import date

import pytest

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.errors import BadInput
from forgelens.store import Store
from tests.analytics.test_ai_impact import impact_dataset

pytest.importorskip("jinja2")

from forgelens.service.dashboards.report import build_report
from forgelens.service.dashboards.views_ai import ai_impact


@pytest.fixture
def analysed(store: Store) -> Store:
    store.write_records(impact_dataset())
    analyze(store, AnalyzeOptions(target="all", end_date=date(2026, 3, 31)))
    return store


def test_ai_impact_view_numbers_and_evidence(analysed: Store) -> None:
    v = ai_impact(analysed, {"kind": "repository", "scope": "octo/app", "weeks": "4"})
    cards = {c["key"]: c["value"] for c in v["cards"]}
    assert cards["ai_pr_share"] == "75%"
    assert cards["ai_commit_share"] == "75%"
    assert (cards["ai_prs_agent"], cards["ai_prs_assistant"]) == (3, 3)
    assert "lower bound" in v["subtitle"]
    trend = v["tables"]["trend"]
    assert trend["columns"] == [
        "week",
        "prs_merged",
        "ai_share",
        "Claude Code",
        "Copilot coding agent",
        "Cursor",
    ]
    assert trend["rows"] == [["2026-03-02", 8, 0.75, 0.375, 0.25, 0.125]]
    comparison = {r[0]: r[1:] for r in v["tables"]["comparison"]["rows"]}
    assert comparison["reverted within 30 days"] == [0.1667, 0.0]  # shown to 4 places
    assert comparison["change fail rate"] == [None, None]
    prs = {r[0]: r for r in v["tables"]["prs"]["rows"]}
    assert set(prs) == {f"octo/app#{n}" for n in (1, 2, 3, 4, 5, 7)}
    assert prs["octo/app#2"][2:4] == ["Copilot coding agent", "autonomous_agent"]
    assert prs["octo/app#2"][7] == "bob"
    one = ai_impact(analysed, {"scope": "octo/app", "weeks": "4", "pr": "octo/app#5"})
    assert one["tables"]["prs"]["rows"][0][0] == "octo/app#5"
    none = ai_impact(analysed, {"scope": "octo/app", "weeks": "4", "pr": "octo/app#6"})
    assert {c["key"]: c["value"] for c in none["cards"]}["pr_evidence"] == "no AI evidence"
    bob = ai_impact(analysed, {"kind": "author", "scope": "bob", "weeks": "4"})
    assert [r[0] for r in bob["tables"]["prs"]["rows"]] == ["octo/app#2"]


def test_ai_impact_empty_and_bad_filters(store: Store) -> None:
    v = ai_impact(store, {})
    assert v["empty"]["title"] == "No AI-assisted work analysed yet"
    with pytest.raises(BadInput, match="weeks must be one of"):
        ai_impact(store, {"weeks": "5"})


def test_the_html_report_has_the_ai_section(analysed: Store) -> None:
    html = build_report(analysed, repos=["octo/app"], window=30)
    assert "AI impact" in html
    assert "Copilot coding agent" in html
