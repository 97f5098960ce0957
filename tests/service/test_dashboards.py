"""Dashboards over HTTP: sign-in and its cookie, redirects without a key, viewers kept from
operator actions, numbers equal to the store, CSV downloads, empty states and bad filters."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.conftest import Service, running_service
from tests.service.dashboard_store import PIPELINE, STUCK_RUN, dashboard_service, dashboard_store

PAGES = ("engineering-lens", "what-shipped", "delivery", "ai-impact", "runs", "pipeline-runs")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with dashboard_service(tmp_path_factory) as service:
        yield service


OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def signed_in(svc: Service, role: str) -> httpx.Client:
    """A client holding the cookie the login sets (sent by hand: the cookie is Secure and the
    test server speaks plain HTTP on loopback, which browsers allow and httpx's jar does not)."""
    answer = svc.client.post(
        "/login",
        content=f"key={svc.keys[role]}&next=/runs",
        follow_redirects=False,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/runs"
    cookie = answer.headers["set-cookie"]
    name, value = cookie.split(";")[0].split("=", 1)
    client = httpx.Client(base_url=svc.client.base_url, cookies={name: value}, timeout=30)
    OPEN.append(client)
    return client


def page_view(client: httpx.Client, path: str) -> dict[str, Any]:
    """The view a page embeds for its script (what the browser renders)."""
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    found = re.search(
        r'<script type="application/json" data-view="[^"]+">(.*?)</script>', answer.text, re.S
    )
    assert found
    view: dict[str, Any] = json.loads(found.group(1))
    return view


def cards(view: dict[str, Any]) -> dict[str, Any]:
    return {c["key"]: c["value"] for c in view["cards"]}


def test_without_a_key_pages_redirect_to_login_and_data_is_refused(svc: Service) -> None:
    for name in PAGES:
        answer = svc.client.get(f"/{name}?window=7", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/login?next=/{name}%3Fwindow%3D7"
        assert svc.client.get(f"/api/v1/dashboards/{name}").status_code == 401
    assert svc.client.get("/login").status_code == 200
    with httpx.Client(base_url=svc.client.base_url, cookies={"forgelens_key": "fl_no"}) as bogus:
        assert bogus.get("/runs", follow_redirects=False).status_code == 303


def test_login_sets_a_secure_http_only_samesite_cookie(svc: Service) -> None:
    answer = svc.client.post(
        "/login", data={"key": svc.keys["viewer"], "next": "//evil.example"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/engineering-lens"  # never off-site
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "secure" in cookie
    assert "samesite=strict" in cookie
    wrong = svc.client.post("/login", data={"key": "fl_wrong"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "unknown or revoked" in wrong.text
    assert "set-cookie" not in wrong.headers


def test_every_page_renders_for_a_viewer(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    for name in PAGES:
        view = page_view(client, f"/{name}")
        assert view["page"] == name
        assert view["empty"] is None, name  # the test store has data for every page
        assert "/dashboards/static/vendor/chart-4.6.1.umd.min.js" in client.get(f"/{name}").text
    assert client.get("/dashboards/static/vendor/chart-4.6.1.umd.min.js").status_code == 200
    assert client.get("/dashboards/static/../keys.py").status_code == 404


def test_viewer_cannot_reach_operator_actions(svc: Service) -> None:
    viewer = signed_in(svc, "viewer")
    assert 'data-action="cleanup-stuck"' not in viewer.get("/runs").text
    refused = viewer.post("/runs/cleanup-stuck", follow_redirects=False)
    assert refused.status_code == 403
    assert "needs an operator key" in refused.text
    status = svc.store().query(
        "SELECT status FROM git_collection_runs WHERE run_id = ?", [STUCK_RUN]
    )[0][0]
    assert status == "running"
    operator = signed_in(svc, "operator")
    assert 'data-action="cleanup-stuck"' in operator.get("/runs").text
    done = operator.post("/runs/cleanup-stuck", follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/runs?cleaned=1"
    status = svc.store().query(
        "SELECT status FROM git_collection_runs WHERE run_id = ?", [STUCK_RUN]
    )[0][0]
    assert status == "failed"
    audit = svc.store().query(
        "SELECT count(*) FROM audit_log WHERE action = 'runs.cleanup' AND outcome = 'ok'"
    )[0][0]
    assert audit == 1


def test_engineering_lens_numbers_equal_the_store(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    store = svc.store()
    repo = store.query("SELECT min(repo_name) FROM repo_prs")[0][0]
    view = page_view(client, f"/engineering-lens?repo={repo}&window=90")
    user = next(f["value"] for f in view["filters"] if f["name"] == "user")
    end = store.query("SELECT max(end_date) FROM author_metrics_window")[0][0]
    merged, submitted, lines = store.query(
        "SELECT count(*) FILTER (WHERE is_merged AND merged_day > ? - 90 AND merged_day <= ?), "
        "count(*) FILTER (WHERE created_day > ? - 90 AND created_day <= ?), "
        "sum(lines_changed) FILTER (WHERE is_merged AND merged_day > ? - 90 AND merged_day <= ?) "
        "FROM pr_facts WHERE counted AND username = ? AND repo_name = ?",
        [end, end, end, end, end, end, user, repo],
    )[0]
    got = cards(view)
    assert (got["prs_merged"], got["prs_submitted"], got["lines_changed"]) == (
        merged,
        submitted,
        lines,
    )
    trend = view["tables"]["trend"]
    assert len(trend["rows"]) == 90
    assert sum(r[2] for r in trend["rows"]) == merged
    assert view["tables"]["prs"]["rows"]  # the engineer's PRs, riskiest first
    scores = [r[3] for r in view["tables"]["prs"]["rows"]]
    assert scores == sorted(scores, reverse=True)


def test_what_shipped_numbers_and_csv_equal_the_store(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    store = svc.store()
    repo = store.query("SELECT min(full_name) FROM repositories WHERE full_name LIKE 'org%'")[0][0]
    view = page_view(client, f"/what-shipped?repo={repo}&days=90")
    shipped = store.query(
        "SELECT count(*) FROM pull_requests p JOIN repositories r ON r.id = p.repository_id "
        "WHERE r.full_name = ? AND p.merged_at >= CAST(current_date - 89 AS TIMESTAMPTZ)",
        [repo],
    )[0][0]
    got = cards(view)
    assert got["merged"] == shipped
    assert got["features"] + got["fixes"] + got["other"] == shipped
    answer = client.get(f"/api/v1/dashboards/what-shipped/weekly.csv?repo={repo}&days=90")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sum(int(r["features"]) + int(r["fixes"]) + int(r["other"]) for r in rows) == shipped
    features = view["tables"]["features"]["rows"]
    flags = [r[7] for r in features]
    assert flags == sorted(flags, reverse=True)  # high-risk first
    missing = client.get("/api/v1/dashboards/what-shipped/nope.csv")
    assert missing.status_code == 404
    assert "weekly" in missing.json()["detail"]


def test_delivery_runs_and_pipeline_runs_equal_the_store(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    store = svc.store()
    view = client.get("/api/v1/dashboards/delivery?weeks=4").json()
    repo = next(f["value"] for f in view["filters"] if f["name"] == "repo")
    weekly = store.query(
        "SELECT week_start, prs_merged FROM delivery_metrics_weekly WHERE repo_name = ? "
        "AND team = '*' ORDER BY week_start DESC LIMIT 4",
        [repo],
    )
    assert cards(view)["prs_merged"] == sum(r[1] for r in weekly)
    assert [r[0] for r in view["tables"]["cycle"]["rows"]] == sorted(
        r[0].isoformat() for r in weekly
    )
    runs = client.get("/api/v1/dashboards/runs", headers={}).json()
    ids = {r[0] for r in runs["tables"]["ledger"]["rows"]}
    assert ids == {r[0] for r in store.query("SELECT run_id FROM git_collection_runs")}
    pipe = client.get(f"/api/v1/dashboards/pipeline-runs?pipeline={PIPELINE}&days=7").json()
    assert cards(pipe)["runs"] == 3
    assert cards(pipe)["freshness"] == "fresh"  # the last run is 6 hours old
    api = svc.client.get("/api/v1/dashboards/runs", headers=svc.headers("viewer"))
    assert api.status_code == 200  # the JSON also takes the API-key header


def test_bad_filters_say_what_to_use(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    page = client.get("/engineering-lens?window=5")
    assert page.status_code == 400
    assert "window must be one of 7, 14, 30, 90" in page.text
    assert client.get("/api/v1/dashboards/delivery?weeks=x").status_code == 400
    assert client.get("/api/v1/dashboards/nope").status_code == 404


def test_a_repository_without_pull_requests_says_what_to_do(svc: Service) -> None:
    client = signed_in(svc, "viewer")
    tiny = svc.store().query(
        "SELECT repo_name FROM analytics_state WHERE repo_name NOT LIKE 'org%'"
    )[0][0]
    view = page_view(client, f"/what-shipped?repo={tiny}")
    assert view["empty"]["title"] == f"{tiny} has no pull requests"
    assert "forgelens collect github:" in view["empty"]["next"]
    lens = page_view(client, f"/engineering-lens?repo={tiny}")
    assert lens["empty"]["title"].startswith(f"No pull requests in {tiny}")


def test_an_empty_store_says_what_to_do_next(tmp_path: Path) -> None:
    with running_service(tmp_path) as empty:
        client = signed_in(empty, "viewer")
        for name in PAGES:
            view = page_view(client, f"/{name}")
            assert view["empty"], name
            assert "forgelens" in view["empty"]["next"], name
            assert not view["charts"], name


def test_analytics_views_follow_the_next_analysis(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    dashboard_store(tmp_path_factory, tmp_path / "svc.duckdb")
    with running_service(tmp_path) as fresh:
        client = signed_in(fresh, "viewer")
        view = client.get("/api/v1/dashboards/delivery?weeks=4").json()
        repo = next(f["value"] for f in view["filters"] if f["name"] == "repo")
        before = cards(view)["prs_merged"]
        store = fresh.store()
        store.execute(
            "UPDATE delivery_metrics_weekly SET prs_merged = prs_merged + 1000 "
            "WHERE repo_name = ? AND team = '*' AND week_start = "
            "(SELECT max(week_start) FROM delivery_metrics_weekly WHERE repo_name = ?)",
            [repo, repo],
        )
        again = client.get("/api/v1/dashboards/delivery?weeks=4").json()
        assert cards(again)["prs_merged"] == before  # kept until the next analysis
        store.execute("UPDATE analytics_state SET analyzed_at = analyzed_at + INTERVAL 1 SECOND")
        after = client.get("/api/v1/dashboards/delivery?weeks=4").json()
        assert cards(after)["prs_merged"] == before + 1000


def test_runs_page_shows_backfills_as_the_cli_reports_them(svc: Service) -> None:
    """The /runs backfill and completeness tables are ``forgelens backfill status`` and
    ``forgelens completeness``: same rows, same ETA (the pace of the last day's chunks)."""
    now = datetime.now(UTC)
    store = svc.store()
    repo = store.query("SELECT id FROM repositories ORDER BY id LIMIT 1")[0][0]
    store.upsert(
        "backfill_state",
        [
            {
                "repository_id": repo,
                "status": "active",
                "total_prs": 1000,
                "processed_prs": 250,
                "chunk_size": 25,
                "next_chunk_number": 11,
                "started_at": now - timedelta(hours=1),
                "updated_at": now,
            },
            {
                "repository_id": "github:acme/web",
                "status": "paused",
                "total_prs": 50,
                "processed_prs": 10,
                "pause_reason": "5 consecutive errors",
                "updated_at": now,
            },
        ],
    )
    store.upsert(  # 250 PRs in the last 10 minutes: 750 to go take 30 more
        "backfill_chunks",
        [
            {
                "repository_id": repo,
                "chunk_number": n,
                "status": "completed",
                "prs_processed": 25,
                "started_at": now - timedelta(minutes=10) + timedelta(minutes=n - 1),
                "completed_at": now - timedelta(minutes=10) + timedelta(minutes=n),
            }
            for n in range(1, 11)
        ],
    )
    client = signed_in(svc, "viewer")
    view = client.get("/api/v1/dashboards/runs").json()
    active = view["tables"]["backfills"]["rows"]
    assert [r[:5] for r in active] == [[repo, "250/1000", 25.0, 25, 10]]
    assert active[0][6] == "0:30:00"
    assert view["tables"]["paused"]["rows"][0][:3] == [
        "github:acme/web",
        "paused",
        "5 consecutive errors",
    ]
    stored = store.query("SELECT count(*) FROM pull_requests WHERE repository_id = ?", [repo])[0][0]
    complete = {r[0]: r for r in view["tables"]["completeness"]["rows"]}
    assert complete[repo][1] == stored
    assert complete[repo][7] == "active"


def test_what_shipped_features_are_the_ones_analyze_decided(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Analysed with a feature threshold other than the default, What Shipped counts as
    features exactly the merged PRs ``analyze`` marked ``is_feature`` (the Engineering Lens's
    ``features_merged`` counts the same), not its own idea of the threshold."""
    from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
    from forgelens.service.dashboards.views_lens import what_shipped
    from forgelens.store import open_store

    store = open_store(dashboard_store(tmp_path_factory, tmp_path / "t.duckdb"))
    try:
        analyze(store, AnalyzeOptions(config=AnalyticsConfig(feature_threshold=0.65)))
        repo = store.query("SELECT min(repo_name) FROM repo_prs WHERE repo_name LIKE 'org%'")
        repo = repo[0][0]
        now = datetime.now(UTC)
        since = datetime.combine(now.date() - timedelta(days=89), datetime.min.time(), UTC)
        decided, by_old_rule = store.query(
            "SELECT count(*) FILTER (WHERE f.is_feature), "
            "count(*) FILTER (WHERE r.feature_confidence >= 0.5) "
            "FROM repo_prs r JOIN pr_facts f USING (repo_name, pr_number) "
            "WHERE r.repo_name = ? AND r.is_merged AND r.merged_at >= ?",
            [repo, since],
        )[0]
        assert decided != by_old_rule  # the data tells the two apart
        view = what_shipped(store, {"repo": repo, "days": "90"}, now=now)
        assert cards(view)["features"] == decided
    finally:
        store.close()
