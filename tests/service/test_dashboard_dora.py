"""``/dora``: tiles, trends, the deployment list opening into its commits and PRs, failures
with evidence; numbers equal the store's; and the page is in ``forgelens report --html``."""

from __future__ import annotations

from pathlib import Path

from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.engine.deployments import IncidentIn, record_incidents
from forgelens.engine.git_collect import GitCollectOptions, collect_git
from forgelens.service.dashboards.report import build_report
from tests.analytics.test_dora_git import release_history
from tests.service.conftest import Service


def test_dora_page_shows_the_store(service: Service, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = service.store()
    empty = service.client.get("/api/v1/dashboards/dora", headers=service.headers("viewer"))
    assert empty.status_code == 200
    assert empty.json()["empty"]["title"] == "No deployments analysed yet"
    repo = make_repo("app")
    release_history(repo)
    res = collect_git(
        store, [f"git:{repo}"], GitCollectOptions(cache_dir=tmp_path / "c", deploy_tags="v*")
    )
    name = store.query("SELECT full_name FROM repositories")[0][0]
    record_incidents(  # 30 min after v2.0.0 (T0 + 10 h, its commit's date)
        store,
        [IncidentIn(res.repositories[0], "PD-1", "2023-11-15T08:43:20Z", "2023-11-15T10:00:00Z")],
    )
    analyze(store, AnalyzeOptions(target="dora"))
    answer = service.client.get(
        f"/api/v1/dashboards/dora?repo={name}&deployment=tag:v2.0.0&weeks=4",
        headers=service.headers("viewer"),
    )
    assert answer.status_code == 200, answer.text
    view = answer.json()
    month = store.query_dicts("SELECT * FROM dora_metrics_monthly WHERE repo_name = ?", [name])
    assert len(month) == 1
    cards = {c["key"]: c["value"] for c in view["cards"]}
    assert cards["deployments"] == month[0]["deployments"] == 5
    assert cards["change_fail_rate"] == round(month[0]["change_fail_rate"] * 100, 1) == 20.0
    shipped = {
        r[0][:12]
        for r in store.query(
            "SELECT sha FROM deployment_commits WHERE deployment_id = 'tag:v2.0.0'"
        )
    }
    assert {r[0] for r in view["tables"]["commits"]["rows"]} == shipped
    assert len(shipped) == 2  # feature b, feature c
    failures = view["tables"]["failures"]["rows"]
    assert [(f[0], f[1], f[3]) for f in failures] == [("tag:v2.0.0", "incident", "time")]
    page = service.client.get("/dora", headers=service.headers("viewer"))
    assert page.status_code == 200
    html = build_report(store)
    assert "DORA" in html
    assert "tag:v2.0.0" in html
    assert service.client.get("/api/v1/dashboards/dora").status_code == 401
