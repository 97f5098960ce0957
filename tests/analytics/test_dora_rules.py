"""DORA rules a user relies on, one by one: three incidents make one failed deployment, an
incident before the first deployment links nowhere, issues become incidents by label or title,
bad rules and bad inputs are refused with what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
from forgelens.analytics.dora_link import Deploy
from forgelens.analytics.dora_metrics import MONTHLY, metric_rows
from forgelens.analytics.dora_model import Change, Incident, Rules, analyze_repo
from forgelens.engine.deployments import normalize_status
from forgelens.errors import BadInput
from forgelens.records import environment_kind
from forgelens.store import Store

T = datetime(2026, 3, 2, tzinfo=UTC)
H = timedelta(hours=1)
PARENTS = {"a": [], "b": ["a"], "c": ["b"]}
COMMITS = {s: Change(s, T - 10 * H) for s in PARENTS}


def _deploys() -> list[Deploy]:
    return [
        Deploy("d1", "production", "a", "success", T, kind="production"),
        Deploy("d2", "production", "b", "success", T + 24 * H, kind="production"),
        Deploy("d3", "production", "c", "success", T + 48 * H, kind="production"),
    ]


def _seed(store: Store, rid: str, *extra: object) -> None:
    """The repository, its commits a <- b <- c, the three deployments, and ``extra`` records."""
    store.write_records(
        [
            R.Repository(id=rid, source="github", full_name="o/app", name="app"),
            *(
                R.Commit(
                    rid, s, "A", "a@x", T - 10 * H, "A", "a@x", T - 10 * H, "m", 1, 0, 1, False, p
                )
                for s, p in PARENTS.items()
            ),
            *extra,
        ]
    )
    store.upsert(
        "deployments",
        [
            {
                "repository_id": rid,
                "deployment_id": d.id,
                "environment": d.environment,
                "environment_kind": d.kind,
                "sha": d.sha,
                "status": d.status,
                "finished_at": d.at,
                "source": "api",
            }
            for d in _deploys()
        ],
    )


def test_three_incidents_are_one_failed_deployment() -> None:
    incs = [Incident(f"i{k}", T + 25 * H + k * H, T + 30 * H) for k in range(3)]
    dora = analyze_repo(PARENTS, COMMITS, _deploys(), incs)
    assert [f.deployment_id for f in dora.failures] == ["d2", "d2", "d2"]
    assert {k for k, f in dora.facts.items() if f.failed} == {"d2"}
    (row,) = metric_rows("app", dora, COMMITS, [], MONTHLY)
    assert (row["failed_deployments"], row["terminal_deployments"]) == (1, 3)
    assert row["change_fail_rate"] == pytest.approx(1 / 3)
    assert row["recovery_hours_p50"] == pytest.approx(6.0)  # the last incident's resolution
    assert dora.facts["d3"].unplanned is False  # after the incidents were resolved


def test_an_incident_before_the_first_deployment_links_nowhere() -> None:
    dora = analyze_repo(PARENTS, COMMITS, _deploys(), [Incident("early", T - 5 * H, T - 4 * H)])
    assert dora.incident_links == {}
    assert dora.failures == []


def test_the_baseline_links_nothing_and_later_ones_only_their_new_commits() -> None:
    dora = analyze_repo(PARENTS, COMMITS, _deploys())
    assert dora.links.commits == {"d1": [], "d2": ["b"], "d3": ["c"]}
    assert dora.links.baseline == {"d1"}


def test_rules_are_checked() -> None:
    assert Rules.from_mapping({"failure_window": 48}).failure_window == timedelta(hours=48)
    with pytest.raises(BadInput, match="unknown setting"):
        Rules.from_mapping({"hotfix": "x"})
    with pytest.raises(BadInput, match="not a regex"):
        Rules.from_mapping({"hotfix_branch": "("})
    with pytest.raises(BadInput, match="give hours"):
        Rules.from_mapping({"dedupe_window": -1})


def test_environment_kinds_and_statuses() -> None:
    assert [environment_kind(n) for n in ("prod-eu", "Production", "staging", "review/x")] == [
        "production",
        "production",
        "staging",
        "other",
    ]
    assert environment_kind("eu-1", production=True) == "production"
    assert normalize_status("Failed") == "failure"
    with pytest.raises(BadInput, match="is not known"):
        normalize_status("fine")


def test_issues_become_incidents_by_label_or_title(store: Store) -> None:
    rid = "github:o/app"
    _seed(
        store,
        rid,
        R.Issue(
            rid,
            1,
            "checkout down",
            "closed",
            T + 25 * H,
            T,
            closed_at=T + 27 * H,
            labels=["Incident"],
        ),
        R.Issue(rid, 2, "Outage: login", "open", T + 26 * H, T),
        R.Issue(rid, 3, "a feature request", "open", T + 26 * H, T, labels=["bug"]),
    )
    analyze(store, AnalyzeOptions(target="dora"))
    assert store.query("SELECT incident_id, source FROM incidents ORDER BY 1") == [
        ("issue:1", "issue"),
        ("issue:2", "issue"),
    ]
    assert store.query(
        "SELECT deployment_id, kind, evidence_id, link FROM change_failures ORDER BY evidence_id"
    ) == [
        ("d2", "incident", "issue:1", "time"),
        ("d2", "incident", "issue:2", "time"),
    ]
    # a different title rule (from --config [dora]) drops the outage and recomputes
    cfg = AnalyticsConfig(dora={"incident_title": "^never$"})
    res = analyze(store, AnalyzeOptions(target="dora", config=cfg))
    assert res.dora["repositories"] == 1
    assert store.query("SELECT incident_id FROM incidents") == [("issue:1",)]


def test_gitlab_issues_of_type_incident_are_incidents(store: Store) -> None:
    """GitLab's issue type says incident although no label or title does; a task does not."""
    rid = "gitlab:o/app"
    _seed(
        store,
        rid,
        R.Issue(rid, 6, "502s after deploy", "closed", T + 25 * H, T, issue_type="incident"),
        R.Issue(rid, 8, "rotate keys", "open", T + 26 * H, T, issue_type="task"),
        R.Issue(rid, 9, "plain issue", "open", T + 26 * H, T, issue_type=None),
    )
    analyze(store, AnalyzeOptions(target="dora"))
    assert store.query("SELECT incident_id FROM incidents") == [("issue:6",)]
    assert store.query("SELECT deployment_id, kind FROM change_failures") == [("d2", "incident")]
    cfg = AnalyticsConfig(dora={"incident_issue_types": []})  # the rule can be turned off
    analyze(store, AnalyzeOptions(target="dora", config=cfg))
    assert store.query("SELECT count(*) FROM incidents") == [(0,)]


def test_repo_prs_get_the_production_deployment_that_shipped_them(store: Store) -> None:
    rid = "github:o/app"
    _seed(
        store,
        rid,
        R.PullRequest(
            rid,
            7,
            "feature",
            "merged",
            T - 9 * H,
            T,
            author="ann",
            merged_at=T + H,
            base_ref="main",
        ),
        R.PrCommit(rid, 7, "b"),
        R.PullRequest(
            rid,
            8,
            "old work",
            "merged",
            T - 9 * H,
            T,
            author="ann",
            merged_at=T - H,
            base_ref="main",
        ),
        R.PrCommit(rid, 8, "a"),  # shipped before the baseline: no deployment known
    )
    want = [(7, T + 24 * H, "d2"), (8, None, None)]

    def deployed() -> list[tuple[object, ...]]:
        return [
            (n, at if at is None or at.tzinfo else at.replace(tzinfo=UTC), d)
            for n, at, d in store.query(
                "SELECT pr_number, deployed_at, deployment_id FROM repo_prs ORDER BY pr_number"
            )
        ]

    analyze(store, AnalyzeOptions(target="all"))
    assert deployed() == want
    # What Shipped rewrites repo_prs without the column; the next DORA run fills it again
    analyze(store, AnalyzeOptions(target="what_shipped", force_refresh=True))
    assert deployed()[0][1] is None
    analyze(store, AnalyzeOptions(target="dora"))
    assert deployed() == want


def test_a_release_describing_a_forge_deployment_or_a_tag_is_deduped_by_precedence() -> None:
    """One shipment seen as a GitHub deployment, a release, a pushed deployment and a tag within
    the window: the forge's deployment is kept; without it the release is; a release and the
    same tag pushed a day later stay two deployments."""
    from forgelens.analytics.dora_model import dedupe

    at = datetime(2026, 3, 2, 9, tzinfo=UTC)

    def d(dep_id: str, source: str, minutes: int = 0) -> Deploy:
        return Deploy(
            dep_id, "production", "a" * 40, "success", at + timedelta(minutes=minutes), source
        )

    seen = [d("tag:v1", "tag", 5), d("release:7", "release", 20), d("api:x", "api", 10)]
    assert dedupe([*seen, d("github:1", "github", 30)], timedelta(hours=1)) == {
        "tag:v1": "github:1",
        "release:7": "github:1",
        "api:x": "github:1",
    }
    assert dedupe(seen, timedelta(hours=1)) == {"tag:v1": "release:7", "api:x": "release:7"}
    later = d("tag:v1", "tag", 24 * 60)
    assert dedupe([d("release:7", "release"), later], timedelta(hours=1)) == {}
