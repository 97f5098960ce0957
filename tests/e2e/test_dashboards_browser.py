"""The dashboards in real headless Chromium (Debian's, driven by Playwright; never a downloaded
browser): sign in, open every page, change filters, compare the numbers shown with the store,
download a CSV, screenshot each page into ``test-artifacts/dashboards/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.chromium import CHROMIUM, launch
from tests.service.conftest import Service
from tests.service.dashboard_store import dashboard_service

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
PAGES = ("engineering-lens", "what-shipped", "delivery", "ai-impact", "runs", "pipeline-runs")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install 'forgelens[e2e]'"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with dashboard_service(tmp_path_factory) as service:
        yield service


@pytest.fixture
def page(browser: Any, svc: Service) -> Iterator[Any]:
    context = browser.new_context(
        base_url=str(svc.client.base_url),
        viewport={"width": 1360, "height": 900},
        accept_downloads=True,
    )
    errors: list[str] = []
    p = context.new_page()
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.set_default_timeout(10_000)
    yield p
    context.close()
    assert errors == [], errors


def sign_in(page: Any, key: str, path: str) -> None:
    page.goto(path)
    assert "/login" in page.url  # no key yet: the page sends us to sign in
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-rendered]")


def card(page: Any, key: str) -> str:
    return str(page.inner_text(f".card[data-key={key}] .value"))


def test_every_page_renders_after_sign_in(page: Any, svc: Service) -> None:
    sign_in(page, svc.keys["viewer"], "/what-shipped")
    assert page.url.endswith("/what-shipped")  # back where we were going
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        page.goto(f"/{name}")
        page.wait_for_selector("body[data-rendered]")
        assert page.locator("h1").first.inner_text()
        charts = page.locator("section[data-chart] canvas")
        for i in range(charts.count()):  # Chart.js drew every chart
            assert charts.nth(i).evaluate("c => c.width > 0 && !!Chart.getChart(c)")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert page.locator("[data-action=cleanup-stuck]").count() == 0  # viewer: no operator action


def test_filters_live_in_the_url_and_numbers_match_the_store(page: Any, svc: Service) -> None:
    sign_in(page, svc.keys["viewer"], "/engineering-lens")
    store = svc.store()
    repo = store.query("SELECT min(repo_name) FROM repo_prs")[0][0]
    page.select_option("select[name=repo]", repo)
    page.wait_for_url(f"**repo={repo.replace('/', '%2F')}**")
    page.select_option("select[name=window]", "90")
    page.wait_for_url("**window=90**")
    page.wait_for_selector("body[data-rendered]")
    user = page.eval_on_selector("select[name=user]", "s => s.value")
    end = store.query("SELECT max(end_date) FROM author_metrics_window")[0][0]
    merged, submitted = store.query(
        "SELECT count(*) FILTER (WHERE is_merged AND merged_day > ? - 90 AND merged_day <= ?), "
        "count(*) FILTER (WHERE created_day > ? - 90 AND created_day <= ?) "
        "FROM pr_facts WHERE counted AND username = ? AND repo_name = ?",
        [end, end, end, end, user, repo],
    )[0]
    assert card(page, "prs_merged") == f"{merged:,}"
    assert card(page, "prs_submitted") == f"{submitted:,}"
    shared = page.url  # a shared link shows the same view
    page.goto("/runs")
    page.goto(shared)
    page.wait_for_selector("body[data-rendered]")
    assert card(page, "prs_merged") == f"{merged:,}"

    page.goto(f"/what-shipped?repo={repo}&days=90")
    page.wait_for_selector("body[data-rendered]")
    shipped = store.query(
        "SELECT count(*) FROM pull_requests p JOIN repositories r ON r.id = p.repository_id "
        "WHERE r.full_name = ? AND p.merged_at >= CAST(current_date - 89 AS TIMESTAMPTZ)",
        [repo],
    )[0][0]
    assert card(page, "merged") == f"{shipped:,}"


def test_csv_download_holds_the_chart_numbers(page: Any, svc: Service, tmp_path: Path) -> None:
    sign_in(page, svc.keys["viewer"], "/what-shipped?days=90")
    with page.expect_download() as info:
        page.click("section[data-chart=weekly] a.csv")
    saved = tmp_path / "weekly.csv"
    info.value.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == "week,features,fixes,other"
    total = sum(sum(int(x) for x in line.split(",")[1:]) for line in lines[1:])
    assert card(page, "merged") == f"{total:,}"


def test_operator_sees_and_uses_the_action(page: Any, svc: Service) -> None:
    sign_in(page, svc.keys["operator"], "/runs")
    page.click("[data-action=cleanup-stuck]")
    page.wait_for_selector(".notice")
    assert page.inner_text(".notice") == "Stuck runs marked failed: 1."
    page.screenshot(path=str(ARTIFACTS / "runs-operator.png"), full_page=True)


def test_the_html_report_renders_offline(browser: Any, svc: Service, tmp_path: Path) -> None:
    from forgelens.service.dashboards.report import build_report

    out = tmp_path / "report.html"
    out.write_text(build_report(svc.store(), window=30))
    context = browser.new_context(viewport={"width": 1360, "height": 900}, offline=True)
    requests: list[str] = []
    errors: list[str] = []
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-rendered]")
    drawn = page.eval_on_selector_all("canvas", "cs => cs.filter(c => !!Chart.getChart(c)).length")
    assert drawn == page.locator("canvas").count() > 0
    assert [u for u in requests if not u.startswith("file:")] == []
    assert errors == []
    csv_link = page.get_attribute("section[data-chart=weekly] a.csv", "href")
    assert csv_link.startswith("data:text/csv")  # the numbers travel with the file
    page.screenshot(path=str(ARTIFACTS / "report.png"))
    context.close()
