"""``make demo`` shows what the product is for: after the demo, today's Engineer Lens windows
hold the simulated organization, and the Engineer Lens, What Shipped and Delivery pages served
over it show engineers, high-risk pull requests, features and fixes, and ``/dora`` the
simulated organization's GitHub Deployments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forgelens.engine.demo import run_demo
from forgelens.engine.git_collect import GitCollectOptions
from forgelens.engine.progress import NullProgress
from forgelens.store import Store, open_store
from forgelens.testing.forge_sim import SimSize, generate
from forgelens.testing.forge_sim.realistic import anchored, realistic
from tests.conftest import one_commit_repo
from tests.service.conftest import Service, running_service
from tests.service.test_dashboards import cards, page_view, signed_in

WINDOW_TABLES = ("author_metrics_window", "author_prs_window", "author_file_ownership")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """The demo run as ``forgelens demo`` runs it, over a one-commit repository."""
    work = tmp_path_factory.mktemp("demo")
    repo = one_commit_repo(work / "repo")
    store = open_store(f"duckdb:///{work / 'svc.duckdb'}")
    try:
        summary = run_demo(store, GitCollectOptions(), NullProgress(), repo)
    finally:
        store.close()
    return work, dict(summary.lines)


@pytest.fixture(scope="module")
def svc(demo: tuple[Path, Any]) -> Iterator[Service]:
    with running_service(demo[0]) as service:
        yield service


def test_todays_windows_hold_the_simulated_organization(svc: Service) -> None:
    store: Store = svc.store()
    today = datetime.now(UTC).date()
    for table in WINDOW_TABLES:
        ends = store.query(f"SELECT DISTINCT end_date FROM {table}")
        assert ends == [(today,)], table
        for days in (7, 30, 90):
            n = store.query(f"SELECT count(*) FROM {table} WHERE window_days = ?", [days])[0][0]
            assert n > 0, (table, days)
    high, features = store.query(
        "SELECT count(*) FILTER (WHERE high_risk), "
        "count(*) FILTER (WHERE feature_confidence >= 0.5) FROM repo_prs WHERE merged_at >= ?",
        [datetime.now(UTC) - timedelta(days=30)],
    )[0]
    assert high > 0
    assert features > 0


def test_the_summary_reports_high_risk_pull_requests(demo: tuple[Path, Any]) -> None:
    prs, high, features = demo[1]["analyze all (PRs, high-risk, features)"].split(", ")
    assert int(prs) == 600
    assert 0 < int(high) < int(prs) // 2
    assert 0 < int(features) < int(prs)


def test_the_dashboards_show_engineers_risky_work_features_and_fixes(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    lens = page_view(client, "/engineering-lens?window=30")
    assert cards(lens)["prs_merged"] > 0
    assert lens["tables"]["prs"]["rows"]  # the engineer's PRs, riskiest first
    shipped = page_view(client, "/what-shipped?days=30")
    got = cards(shipped)
    assert got["merged"] > 0
    assert got["features"] > 0
    assert got["fixes"] > 0
    rows = shipped["tables"]["features"]["rows"]
    assert any(r[7] for r in rows)  # high-risk features are flagged
    delivery = client.get("/api/v1/dashboards/delivery?weeks=4").json()
    assert cards(delivery)["prs_merged"] > 0
    assert delivery["tables"]["cycle"]["rows"]


def test_the_dora_page_shows_the_simulated_deployments(
    svc: Service, demo: tuple[Path, Any]
) -> None:
    deployed, failed = demo[1]["production deployments (failed)"].rstrip(")").split(" (")
    assert 0 < int(failed) < int(deployed)
    client = signed_in(svc, "viewer")
    dora = page_view(client, "/dora?weeks=12")
    assert not dora.get("empty")
    assert dora["filters"]  # a repository of the simulated organization is picked
    assert cards(dora)["deployments"] > 0
    weekly = dora["tables"]["weekly"]["rows"]
    assert sum(r[1] for r in weekly) > 0
    assert sum(r[7] for r in weekly) > 0  # some deployments failed
    assert dora["tables"]["deployments"]["rows"]
    # the forge repositories are not mined: lead times come through the compare API
    assert any(r[2] is not None and r[2] > 0 for r in weekly)  # lead_time_p50_h
    assert sum(r[6] for r in weekly) > 0  # changes linked
    assert any(r[4] for r in dora["tables"]["deployments"]["rows"])  # a deployment's changes
    store: Store = svc.store()
    sources = {r[0] for r in store.query("SELECT DISTINCT source FROM deployments")}
    assert {"github", "release"} <= sources
    kinds = {r[0] for r in store.query("SELECT DISTINCT kind FROM change_failures")}
    assert "status" in kinds or "rollback" in kinds, kinds


def test_the_ai_impact_page_shows_the_simulated_ai_work(svc: Service) -> None:
    """The simulated organization's agent PRs (squash-merged, counted for who asked the agent),
    assistant co-authored PRs and AI reviews reach ``/ai-impact``."""
    client = signed_in(svc, "viewer")
    view = page_view(client, "/ai-impact?kind=repository&scope=acme/service-0&weeks=12")
    got = cards(view)
    assert got["ai_prs_agent"] > 0
    assert got["ai_prs_assistant"] > 0
    assert view["tables"]["prs"]["rows"]
    store: Store = svc.store()
    owners = store.query(
        "SELECT count(*), count(owner) FILTER (WHERE owner <> 'Copilot') FROM ai_attribution "
        "WHERE mode = 'autonomous_agent' AND kind = 'pr'"
    )[0]
    assert owners[0] > 0
    assert owners[1] == owners[0]  # every agent PR counts for a person
    reviews = store.query("SELECT count(*) FROM ai_attribution WHERE kind = 'review'")[0][0]
    assert reviews > 0


def test_the_history_ends_at_the_anchor_deterministically() -> None:
    """The same seed and anchor give the same data; the newest pull request, issue and CI
    run each fall in the day before the anchor, whatever day the demo runs."""
    size = SimSize(repos=2, prs_per_repo=30)
    ends = datetime(2031, 5, 17, 9, 30, tzinfo=UTC)
    one = realistic(anchored(generate(1, size), ends))
    two = realistic(anchored(generate(1, size), ends))
    assert [(p.title, p.head, p.updated_at) for r in one.repos for p in r.prs] == [
        (p.title, p.head, p.updated_at) for r in two.repos for p in r.prs
    ]
    for kind in ("prs", "issues", "runs"):
        items = [x for r in one.repos for x in getattr(r, kind)]
        newest = max(x.updated_at for x in items)
        assert ends - timedelta(days=1) < newest <= ends, kind
    for r in one.repos:  # deployments ship merged work, and none lies after the anchor
        merges = [p.merged_at for p in r.prs if p.merged_at]
        for d in r.deployments:
            assert min(merges) < d.created_at <= d.updated_at <= ends
    assert all(r.created_at < min(p.created_at for p in r.prs) for r in one.repos)
    assert date(2031, 5, 17) - max(p.created_at for r in one.repos for p in r.prs).date() < (
        timedelta(days=60)
    )
