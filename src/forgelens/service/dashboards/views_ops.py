"""``/delivery``, ``/runs`` and ``/pipeline-runs``: delivery metrics (weekly, per repository or
team), the collection-run ledger with backfills (seed 004) and pipeline runs (seed 003)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.analytics import reads
from forgelens.engine import run_reports
from forgelens.engine.backfill_status import backfill_status
from forgelens.engine.reconcile import completeness
from forgelens.pipeline_runs.reports import load_rows, pipeline_report
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

WEEKS = (4, 12, 26, 52)
RUN_LIMIT = 100
VIOLATIONS_LIMIT = 100
HISTORY_LIMIT = 200
FRESH_HOURS = 12
STATUSES = ("running", "completed", "failed")


def delivery(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    v = view("delivery", "Delivery", "Cycle time, reviews and throughput, weekly")
    scopes = reads.delivery_scopes(store)
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
    first, rows = reads.delivery_weeks(store, scope_repo, scope_team, weeks)
    policy = {}
    if not team and first is not None:
        policy = {r["week_start"]: r for r in reads.review_policy_weeks(store, repo, first)}
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
    if not team and first is not None:
        found = reads.review_policy_violations(store, repo, first, VIOLATIONS_LIMIT)
        names = reads.columns("review_policy_violations", "repo_name")
        add_table(
            v,
            "violations",
            f"Review-policy violations (latest {VIOLATIONS_LIMIT})",
            names,
            [[parse_json(r[c]) if c == "failing_checks" else r[c] for c in names] for r in found],
            empty="No review-policy violations in these weeks.",
        )
    return v


def runs(store: Store, params: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    v = view("runs", "Collection runs", "The git_collection_runs ledger, backfills, completeness")
    now = now or datetime.now(UTC)
    status = params.get("status", "")
    status = status if status in STATUSES else ""
    stats = run_reports.run_stats(store)
    sources = [r["data_source"] for r in stats]
    source = params.get("source", "")
    source = source if source in sources else ""
    add_filter(v, "status", "Status", status, [("", "any"), *((s, s) for s in STATUSES)])
    add_filter(v, "source", "Source", source, [("", "any"), *((s, s or "—") for s in sources)])
    ledger = run_reports.recent_runs(store, RUN_LIMIT, source or None, status or None)
    add_card(v, "runs", "Runs", sum(int(r["total_runs"]) for r in stats))
    for s in STATUSES:
        add_card(v, s, s.capitalize(), sum(int(r[s] or 0) for r in stats))
    rows = []
    for r in ledger:
        duration = r["duration_s"]
        if duration is None and r["status"] == "running" and r["started_at"]:
            duration = (now - r["started_at"]).total_seconds()  # so far
        per_pr = r["api_calls_per_pr"]
        rows.append(
            [
                r["run_id"],
                r["data_source"],
                r["status"],
                r["started_at"],
                None if duration is None else round(float(duration), 1),
                r["repos_processed"],
                r["commits_collected"],
                int(r["prs_collected"] or 0),
                r["api_calls"],
                r["errors"],
                None if per_pr is None else round(float(per_pr), 2),
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
    elif not stats:
        set_empty(
            v,
            "No collection runs yet",
            "Run `forgelens collect git:PATH` or `forgelens collect github:owner/repo` "
            "(or POST /api/v1/collect/trigger) and reload this page.",
        )
    _backfills(v, store, now)
    return v


def _backfills(v: dict[str, Any], store: Store, now: datetime) -> None:
    """What ``forgelens backfill status`` and ``forgelens completeness`` print."""
    status = backfill_status(store, now)
    add_table(
        v,
        "backfills",
        "Active backfills (ETA at the pace of the last day's chunks)",
        ["repository", "progress", "progress_pct", "chunk_size", "chunks", "updated_at", "eta"],
        [
            [
                s["repository"],
                s["progress"],
                s["percentage"],
                s["chunk_size"],
                s["chunks"],
                s["updated_at"],
                s["eta"],
            ]
            for s in status["active"]
        ],
        empty="No backfill is running. Start one with "
        "`forgelens backfill --repository-id github:owner/repo`.",
    )
    add_table(
        v,
        "paused",
        "Paused repositories",
        ["repository", "status", "reason", "consecutive_errors", "resume_at", "progress"],
        [
            [
                s["repository"],
                s["status"],
                s["pause_reason"],
                s["consecutive_errors"],
                s["resume_at"],
                s["progress"],
            ]
            for s in status["paused"]
        ],
        empty="No repository is paused.",
    )
    add_table(
        v,
        "failed_chunks",
        "Failed backfill chunks (latest 10)",
        ["repository", "chunk", "error", "started_at"],
        [
            [c["repository"], c["chunk_number"], c["error"], c["started_at"]]
            for c in status["failed_chunks"]
        ],
        empty="No backfill chunk failed.",
    )
    add_table(
        v,
        "completeness",
        "Completeness per repository (stored / reported by the forge)",
        [
            "repository",
            "stored_prs",
            "forge_prs",
            "prs_pct",
            "stored_issues",
            "forge_issues",
            "issues_pct",
            "backfill_status",
            "last_sweep_at",
        ],
        [
            [
                c["repository_id"],
                c["stored_prs"],
                c["forge_prs"],
                c["prs_pct"],
                c["stored_issues"],
                c["forge_issues"],
                c["issues_pct"],
                c["backfill_status"],
                c["last_sweep_at"],
            ]
            for c in completeness(store)
        ],
        empty="No repository collected yet.",
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
    period = load_rows(store, pipeline=pipeline, since=now - timedelta(days=days))
    total = len(period)
    rows = period[-HISTORY_LIMIT:]  # the latest runs of the period, oldest first
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
