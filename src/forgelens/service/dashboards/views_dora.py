"""``/dora``: the five DORA metrics of one repository and environment (tiles with the 2025
report's buckets, weekly trends), its deployments, their failures with evidence, and one
deployment opened into the commits and PRs it shipped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forgelens.analytics import dora_reads as reads
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
from forgelens.store import Store

WEEKS = (4, 12, 26, 52)
DEPLOY_LIMIT = 100
NO_DORA = (
    "Record deployments (forgelens collect git:. --deploy-tags 'v*', "
    "POST /api/v1/deployments or forgelens deployments record), then run forgelens analyze dora."
)


def _pct(x: Any) -> Any:
    return None if x is None else round(float(x) * 100, 1)


def dora(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    v = view("dora", "DORA", "Deployments, change lead time, failures, recovery and rework")
    scopes = reads.scopes(store)
    repos = sorted({str(r[0]) for r in scopes})
    repo = params.get("repo", "")
    repo = repo if repo in repos else (str(scopes[0][0]) if scopes else "")
    envs = [str(r[1]) for r in scopes if r[0] == repo]
    env = params.get("environment", "")
    env = env if env in envs else ("production" if "production" in envs else (envs or [""])[0])
    weeks = choice(params, "weeks", WEEKS, 12)
    add_filter(v, "repo", "Repository", repo, [(r, r) for r in repos])
    add_filter(v, "environment", "Environment", env, [(e, e) for e in envs])
    add_filter(v, "weeks", "Weeks", weeks, [(w, f"last {w} weeks") for w in WEEKS])
    if not scopes:
        set_empty(v, "No deployments analysed yet", NO_DORA)
        return v
    v["subtitle"] = f"{repo} · {env} · last {weeks} weeks (weeks start on Monday, UTC)"
    month = reads.latest_month(store, repo, env) or {}
    note = f"month of {month['month_start']}"
    add_card(
        v,
        "deployments",
        "Deployment frequency",
        month["deployments"],
        f"{month['bucket_deployment_frequency']} · {note}",
    )
    add_card(
        v,
        "lead_time",
        "Change lead time p50 (h)",
        month["lead_time_hours_p50"],
        str(month["bucket_lead_time"] or "no changes linked"),
    )
    add_card(
        v,
        "change_fail_rate",
        "Change fail rate (%)",
        _pct(month["change_fail_rate"]),
        str(month["bucket_change_fail_rate"] or ""),
        "bad" if (month["change_fail_rate"] or 0) > 0.16 else "",
    )
    add_card(
        v,
        "recovery",
        "Failed deployment recovery p50 (h)",
        month["recovery_hours_p50"],
        str(month["bucket_recovery_time"] or "no restored failures"),
    )
    add_card(
        v,
        "rework_rate",
        "Deployment rework rate (%)",
        _pct(month["rework_rate"]),
        str(month["bucket_rework_rate"] or ""),
    )
    rows = reads.weeks(store, repo, env, weeks)
    add_table(
        v,
        "weekly",
        "Weekly",
        [
            "week",
            "deployments",
            "lead_time_p50_h",
            "change_fail_rate_pct",
            "recovery_p50_h",
            "rework_rate_pct",
            "changes",
            "failed",
        ],
        [
            [
                r["week_start"],
                r["deployments"],
                r["lead_time_hours_p50"],
                _pct(r["change_fail_rate"]),
                r["recovery_hours_p50"],
                _pct(r["rework_rate"]),
                r["changes"],
                r["failed_deployments"],
            ]
            for r in rows
        ],
    )
    add_chart(v, "weekly", "bar", "week", ["deployments", "failed"], title="Deployments per week")
    add_chart(
        v,
        "weekly",
        "line",
        "week",
        ["lead_time_p50_h", "recovery_p50_h"],
        title="Lead time and recovery, median hours",
    )
    deps = reads.deployments(store, repo, env, DEPLOY_LIMIT)
    add_table(
        v,
        "deployments",
        f"Latest {DEPLOY_LIMIT} deployments (pick one above to open it)",
        [
            "deployment",
            "deployed_at",
            "sha",
            "status",
            "changes",
            "lead_time_p50_h",
            "failed",
            "failure_kinds",
            "unplanned",
            "recovery_h",
            "note",
        ],
        [
            [
                d["deployment_id"],
                d["deployed_at"],
                str(d["sha"])[:12],
                d["status"],
                d["changes"],
                d["lead_time_hours_p50"],
                d["failed"],
                parse_json(d["failure_kinds"]),
                parse_json(d["unplanned_kinds"]),
                d["recovery_hours"],
                "baseline"
                if d["baseline"]
                else (f"duplicate of {d['duplicate_of']}" if not d["counted"] else ""),
            ]
            for d in deps
        ],
    )
    ids = [str(d["deployment_id"]) for d in deps]
    chosen = params.get("deployment", "")
    chosen = chosen if chosen in ids else ""
    add_filter(v, "deployment", "Open deployment", chosen, [("", "—"), *((i, i) for i in ids)])
    failures = reads.failures(store, repo, env)
    add_table(
        v,
        "failures",
        "Failures with their evidence",
        ["deployment", "kind", "evidence", "link", "detected_at"],
        [
            [f["deployment_id"], f["kind"], f["evidence"], f["link"], f["detected_at"]]
            for f in failures
            if not chosen or f["deployment_id"] == chosen
        ],
        empty="No failed deployments.",
    )
    if chosen:
        _open(v, store, repo, chosen)
    return v


def _open(v: dict[str, Any], store: Store, repo: str, dep_id: str) -> None:
    commits = reads.shipped_commits(store, repo, dep_id)
    add_table(
        v,
        "commits",
        f"Commits {dep_id} shipped",
        ["sha", "committed_at", "lead_time_h", "author", "subject"],
        [[s[:12], at, h, a, (m or "").split("\n", 1)[0][:120]] for s, at, h, a, m in commits],
        empty="None: a baseline, a re-deploy or a rollback ships no new commits.",
    )
    prs = reads.shipped_prs(store, repo, dep_id)
    add_table(
        v,
        "prs",
        f"PRs {dep_id} put in production",
        ["number", "title", "author", "merged_at", "deployed_at"],
        [list(p) for p in prs],
        empty="No PR reached production first with this deployment.",
    )
