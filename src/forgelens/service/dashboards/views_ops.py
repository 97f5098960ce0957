"""``/delivery``, ``/runs`` and ``/pipeline-runs``: delivery metrics (weekly, per repository or
team), the collection-run ledger with backfills (seed 004) and pipeline runs (seed 003)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.pipeline_runs.reports import pipeline_report
from forgelens.service.dashboards._view import (
    add_card,
    add_chart,
    add_filter,
    add_table,
    choice,
    parse_json,
    set_empty,
    view,
)
from forgelens.service.dashboards.views_lens import NO_ANALYTICS
from forgelens.store import Store
from forgelens.store.schema import TABLES

WEEKS = (4, 12, 26, 52)
RUN_LIMIT = 100
HISTORY_LIMIT = 200
FRESH_HOURS = 12
STATUSES = ("running", "completed", "failed")


def delivery(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    v = view("delivery", "Delivery", "Cycle time, reviews and throughput, weekly")
    scopes = store.query(
        "SELECT repo_name, team, sum(prs_merged) AS n FROM delivery_metrics_weekly "
        "GROUP BY repo_name, team ORDER BY (team <> '*'), n DESC, repo_name, team LIMIT 1000"
    )
    repos = [r[0] for r in scopes if r[1] == "*"]
    teams = [r[1] for r in scopes if r[0] == "*"]
    weeks = choice(params, "weeks", WEEKS, 12)
    team = params.get("team", "")
    team = team if team in teams else ""
    repo = params.get("repo", "")
    repo = repo if repo in repos else (repos[0] if repos and not team else "")
    add_filter(v, "repo", "Repository", repo, [(r, r) for r in repos])
    add_filter(
        v, "team", "Team (instead of repository)", team, [("", "—"), *((t, t) for t in teams)]
    )
    add_filter(v, "weeks", "Weeks", weeks, [(w, f"last {w} weeks") for w in WEEKS])
    if not scopes:
        set_empty(v, "No delivery metrics yet", NO_ANALYTICS)
        return v
    scope_repo, scope_team = (repo, "*") if not team else ("*", team)
    v["subtitle"] = f"{team or repo} · last {weeks} weeks (weeks start on Monday, UTC)"
    latest = store.query(
        "SELECT max(week_start) FROM delivery_metrics_weekly WHERE repo_name = ? AND team = ?",
        [scope_repo, scope_team],
    )[0][0]
    first = latest - timedelta(weeks=weeks - 1)
    rows = store.query_dicts(
        "SELECT * FROM delivery_metrics_weekly WHERE repo_name = ? AND team = ? "
        "AND week_start >= ? ORDER BY week_start",
        [scope_repo, scope_team, first],
    )
    policy = {}
    if not team:
        policy = {
            r["week_start"]: r
            for r in store.query_dicts(
                "SELECT * FROM review_policy_weekly WHERE repo_name = ? AND week_start >= ?",
                [repo, first],
            )
        }
    merged = sum(int(r["prs_merged"] or 0) for r in rows)
    unreviewed = sum(int(r["merged_without_review"] or 0) for r in rows)
    violations = sum(int(p["violations"] or 0) for p in policy.values())
    last = rows[-1] if rows else {}
    add_card(v, "prs_merged", "PRs merged", merged, f"in {weeks} weeks")
    add_card(v, "throughput", "Throughput", round(merged / weeks, 1), "merged per week")
    add_card(
        v, "cycle_time_p50", "Cycle time p50 (h)", last.get("cycle_time_hours_p50"), "latest week"
    )
    add_card(
        v,
        "first_review_p50",
        "First review p50 (h)",
        last.get("time_to_first_review_hours_p50"),
        "latest week",
    )
    add_card(v, "merged_without_review", "Merged without review", unreviewed)
    add_card(
        v,
        "policy_violations",
        "Review-policy violations",
        violations if not team else "—",
        "protected branches" if not team else "per repository only",
    )
    add_table(
        v,
        "cycle",
        "Cycle time by phase, median hours",
        ["week", "coding", "pickup", "review", "merge", "total_p50"],
        [
            [
                r["week_start"],
                r["coding_hours_p50"],
                r["pickup_hours_p50"],
                r["review_hours_p50"],
                r["merge_hours_p50"],
                r["cycle_time_hours_p50"],
            ]
            for r in rows
        ],
    )
    add_chart(v, "cycle", "bar", "week", ["coding", "pickup", "review", "merge"], stacked=True)
    add_table(
        v,
        "throughput",
        "Throughput and reviews",
        [
            "week",
            "opened",
            "merged",
            "first_review_p50_h",
            "review_rounds_avg",
            "merged_without_review",
            "merged_without_review_rate",
            "policy_violations",
        ],
        [
            [
                r["week_start"],
                r["prs_opened"],
                r["prs_merged"],
                r["time_to_first_review_hours_p50"],
                r["review_rounds_avg"],
                r["merged_without_review"],
                r["merged_without_review_rate"],
                (policy.get(r["week_start"]) or {}).get("violations", 0) if not team else None,
            ]
            for r in rows
        ],
    )
    add_chart(
        v,
        "throughput",
        "line",
        "week",
        ["opened", "merged", "merged_without_review", "policy_violations"],
    )
    if not team:
        found = store.query(
            "SELECT pr_number, week_start, base_ref, author, merged_at, required_approvals, "
            "approvals, fewer_approvals, self_approved, failing_checks "
            "FROM review_policy_violations WHERE repo_name = ? AND week_start >= ? "
            "ORDER BY merged_at DESC LIMIT 100",
            [repo, first],
        )
        violations_rows = [[*r[:9], parse_json(r[9])] for r in found]
        add_table(
            v,
            "violations",
            "Review-policy violations (latest 100)",
            [
                "pr",
                "week",
                "branch",
                "author",
                "merged_at",
                "required_approvals",
                "approvals",
                "fewer_approvals",
                "self_approved",
                "failing_checks",
            ],
            violations_rows,
            empty="No review-policy violations in these weeks.",
        )
    return v


def runs(store: Store, params: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    v = view("runs", "Collection runs", "The git_collection_runs ledger, backfills, completeness")
    now = now or datetime.now(UTC)
    status = params.get("status", "")
    status = status if status in STATUSES else ""
    sources = [
        r[0] for r in store.query("SELECT DISTINCT data_source FROM git_collection_runs ORDER BY 1")
    ]
    source = params.get("source", "")
    source = source if source in sources else ""
    add_filter(v, "status", "Status", status, [("", "any"), *((s, s) for s in STATUSES)])
    add_filter(v, "source", "Source", source, [("", "any"), *((s, s or "—") for s in sources)])
    where, args = ["1 = 1"], []
    if status:
        where.append("status = ?")
        args.append(status)
    if source:
        where.append("data_source = ?")
        args.append(source)
    ledger = store.query_dicts(
        f"SELECT * FROM git_collection_runs WHERE {' AND '.join(where)} "
        "ORDER BY started_at DESC LIMIT ?",
        [*args, RUN_LIMIT],
    )
    counts = dict(store.query("SELECT status, count(*) FROM git_collection_runs GROUP BY status"))
    add_card(v, "runs", "Runs", sum(int(c) for c in counts.values()))
    for s in STATUSES:
        add_card(v, s, s.capitalize(), int(counts.get(s, 0)))
    rows = []
    for r in ledger:
        end = r["completed_at"] or (now if r["status"] == "running" else None)
        duration = (end - r["started_at"]).total_seconds() if end and r["started_at"] else None
        prs = int(r["prs_collected"] or 0)
        rows.append(
            [
                r["run_id"],
                r["data_source"],
                r["status"],
                r["started_at"],
                None if duration is None else round(duration, 1),
                r["repos_processed"],
                r["commits_collected"],
                prs,
                r["api_calls"],
                r["errors"],
                round(int(r["api_calls"] or 0) / prs, 2) if prs else None,
                r["failure_reason"],
            ]
        )
    add_table(
        v,
        "ledger",
        f"Runs (newest first, up to {RUN_LIMIT})",
        [
            "run_id",
            "source",
            "status",
            "started_at",
            "duration_s",
            "repos",
            "commits",
            "prs",
            "api_calls",
            "errors",
            "api_calls_per_pr",
            "failure_reason",
        ],
        rows,
        empty="No runs match these filters.",
    )
    if rows:
        chart_rows = list(reversed(rows[:30]))
        add_table(
            v,
            "recent",
            "Last 30 runs",
            ["run_id", "duration_s", "api_calls", "errors", "api_calls_per_pr"],
            [[r[0], r[4], r[8], r[9], r[10]] for r in chart_rows],
            show=False,
        )
        add_chart(
            v,
            "recent",
            "bar",
            "run_id",
            ["api_calls", "errors"],
            title="API calls and errors, last 30 runs",
        )
        add_chart(v, "recent", "bar", "run_id", ["duration_s"], title="Duration (s), last 30 runs")
    elif not counts:
        set_empty(
            v,
            "No collection runs yet",
            "Run `forgelens collect git:PATH` or `forgelens collect github:owner/repo` "
            "(or POST /api/v1/collect/trigger) and reload this page.",
        )
    if "backfill_state" in TABLES:
        _backfills(v, store, now)
    return v


def _backfills(v: dict[str, Any], store: Store, now: datetime) -> None:
    states = store.query_dicts("SELECT * FROM backfill_state ORDER BY updated_at DESC LIMIT 500")
    active, paused, complete = [], [], []
    for s in states:
        total, done = int(s["total_prs"] or 0), int(s["processed_prs"] or 0)
        pct = round(100 * done / total, 1) if total else None
        if s["status"] == "active":
            eta = None
            if s["started_at"] and done and total > done:
                rate = done / max((now - s["started_at"]).total_seconds(), 1)
                eta = now + timedelta(seconds=(total - done) / rate)
            active.append(
                [s["repository_id"], done, total, pct, s["chunk_size"], s["updated_at"], eta]
            )
        elif s["status"] in ("paused", "graphql_rate_limit_low"):
            paused.append(
                [
                    s["repository_id"],
                    s["status"],
                    s["pause_reason"],
                    s["last_error"],
                    s["resume_at"],
                    s["updated_at"],
                ]
            )
        complete.append([s["repository_id"], s["status"], done, total, pct])
    add_table(
        v,
        "backfills",
        "Active backfills",
        [
            "repository",
            "processed_prs",
            "total_prs",
            "progress_pct",
            "chunk_size",
            "updated_at",
            "eta",
        ],
        active,
        empty="No backfill is running. Start one with "
        "`forgelens backfill --repository-id github:owner/repo`.",
    )
    add_table(
        v,
        "paused",
        "Paused repositories",
        ["repository", "status", "reason", "last_error", "resume_at", "updated_at"],
        paused,
        empty="No repository is paused.",
    )
    add_table(
        v,
        "completeness",
        "Completeness per repository (backfilled PRs / PRs on the forge)",
        ["repository", "status", "processed_prs", "total_prs", "complete_pct"],
        complete,
        empty="No repository has been backfilled yet.",
    )


def pipeline_runs(
    store: Store, params: Mapping[str, str], now: datetime | None = None
) -> dict[str, Any]:
    v = view(
        "pipeline-runs", "Pipeline runs", f"Seed 003 history, freshness against {FRESH_HOURS} h"
    )
    now = now or datetime.now(UTC)
    days = choice(params, "days", (7, 30, 90, 365), 30)
    names = [r[0] for r in store.query("SELECT DISTINCT pipeline FROM pipeline_runs ORDER BY 1")]
    pipeline = params.get("pipeline", "")
    pipeline = pipeline if pipeline in names else (names[0] if names else "")
    add_filter(v, "pipeline", "Pipeline", pipeline, [(n, n) for n in names])
    add_filter(v, "days", "Period", days, [(d, f"last {d} days") for d in (7, 30, 90, 365)])
    if not names:
        set_empty(
            v,
            "No pipeline runs recorded yet",
            "Record one with `forgelens record-pipeline-run -i run.json` or wrap a job in "
            "`forgelens record-pipeline-run --exec -- COMMAND`, then reload this page.",
        )
        return v
    rows = store.query_dicts(  # the latest runs of the period, oldest first
        'SELECT * FROM (SELECT * FROM pipeline_runs WHERE pipeline = ? AND "timestamp" >= ? '
        'AND NOT COALESCE("_synthetic", FALSE) ORDER BY "timestamp" DESC LIMIT ?) x '
        'ORDER BY "timestamp", run_id',
        [pipeline, now - timedelta(days=days), HISTORY_LIMIT],
    )
    report = pipeline_report(pipeline, rows, now=now, max_age=timedelta(hours=FRESH_HOURS))
    hours = report["hours_since_success"]
    fresh = "fresh" if report["fresh"] else "STALE"
    add_card(
        v,
        "freshness",
        "Freshness",
        fresh,
        f"{hours} h since the last success (goal < {FRESH_HOURS} h)"
        if hours is not None
        else "no successful run in this period",
        tone="good" if report["fresh"] else "bad",
    )
    total = store.query(
        'SELECT count(*) FROM pipeline_runs WHERE pipeline = ? AND "timestamp" >= ? '
        'AND NOT COALESCE("_synthetic", FALSE)',
        [pipeline, now - timedelta(days=days)],
    )[0][0]
    add_card(v, "runs", "Runs", total, f"in {days} days")
    rate = report["success_rate"]
    latest = f"of the latest {HISTORY_LIMIT}" if total > HISTORY_LIMIT else ""
    add_card(v, "success_rate", "Success rate", None if rate is None else f"{rate:.0%}", latest)
    add_card(
        v,
        "throughput_rpm_mean",
        "Records/min (mean)",
        report["throughput_rpm_mean"],
        f"trend {report['throughput_trend']}",
    )
    add_card(v, "errors", "Errors", report["errors"])
    table = [
        [
            r["run_id"],
            r["timestamp"],
            r["status"],
            r["sources_processed"],
            r["total_duration_seconds"],
            r["total_records"],
            r["throughput_rpm"],
            r["quality_pass_rate"],
            r["retries"],
            r["errors"],
            r["cpu_peak_percent"],
            r["memory_peak_mb"],
        ]
        for r in rows
    ]
    add_table(
        v,
        "history",
        f"Runs in the period (oldest first; the latest {HISTORY_LIMIT})",
        [
            "run_id",
            "timestamp",
            "status",
            "sources",
            "duration_s",
            "records",
            "throughput_rpm",
            "quality_pass_rate",
            "retries",
            "errors",
            "cpu_peak_pct",
            "memory_peak_mb",
        ],
        table,
        empty="No runs in this period: pick a longer one.",
    )
    if table:
        add_table(
            v,
            "throughput",
            "Records per minute and duration per run",
            ["run_id", "throughput_rpm", "duration_s"],
            [[r[0], r[6], r[4]] for r in table],
            show=False,
        )
        add_chart(
            v,
            "throughput",
            "line",
            "run_id",
            ["throughput_rpm"],
            title="Records per minute per run",
        )
    return v
