"""The five DORA metrics (dora.dev, 2025 report) per repository and environment, and per
team within a repository, weekly (Monday, UTC) and monthly, with the report's buckets; plain
Python over ``RepoDora``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from forgelens.analytics.dora_model import Change, Fact, Pr, RepoDora, hours, percentile

WEEKLY = "week_start"
MONTHLY = "month_start"

# Answer scales of the 2025 report (docs/metrics.md "DORA buckets"): upper bounds, label.
_TIME_BUCKETS = (
    (1.0, "less than one hour"),
    (24.0, "less than one day"),
    (24.0 * 7, "one day to one week"),
    (24.0 * 30, "one week to one month"),
    (24.0 * 182, "one to six months"),
)
_TIME_LAST = "more than six months"
_RATE_BUCKETS = (
    (0.02, "0-2%"),
    (0.04, "2-4%"),
    (0.08, "4-8%"),
    (0.16, "8-16%"),
    (0.32, "16-32%"),
    (0.64, "32-64%"),
)
_RATE_LAST = "64-100%"
# Average days between deployments: upper bound, label.
_FREQ_BUCKETS = (
    (1.0, "on demand (several a day)"),
    (7.0, "daily to weekly"),
    (30.0, "weekly to monthly"),
    (182.0, "monthly to every six months"),
)
_FREQ_LAST = "less than every six months"


def period_start(at: datetime, period: str) -> date:
    day = at.date()
    if period == WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_days(start: date, period: str) -> int:
    if period == WEEKLY:
        return 7
    nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (nxt - start).days


def _bucket(value: float | None, scale: tuple[tuple[float, str], ...], last: str) -> str | None:
    if value is None:
        return None
    for bound, label in scale:
        if value < bound:
            return label
    return last


def time_bucket(h: float | None) -> str | None:
    return _bucket(h, _TIME_BUCKETS, _TIME_LAST)


def rate_bucket(r: float | None) -> str | None:
    if r is None:
        return None
    for bound, label in _RATE_BUCKETS:
        if r <= bound:
            return label
    return _RATE_LAST


def frequency_bucket(deployments: int, days: int) -> str:
    if deployments == 0:
        return _FREQ_LAST
    interval = days / deployments
    if interval < 1.0:
        return _FREQ_BUCKETS[0][1]
    for bound, label in _FREQ_BUCKETS[1:]:
        if interval <= bound:
            return label
    return _FREQ_LAST


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def metric_rows(
    repo_name: str,
    dora: RepoDora,
    commits: Mapping[str, Change],
    prs: list[Pr],
    period: str,
    team: str = "*",
    team_prs: set[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per (environment, period) with at least one counted deployment. With a
    ``team`` (its members' merged PRs ``team_prs``): over the team's deployments only, those
    that shipped a commit of one of these PRs, and these PRs' lead times."""
    pr_deploys = dora.pr_deploys
    facts = list(dora.facts.values())
    if team_prs is not None:
        pr_deploys = {k: d for k, d in pr_deploys.items() if k[1] in team_prs}
        shas = {s for p in prs if p.number in team_prs for s in p.shas}
        facts = [
            f for f in facts if any(s in shas for s in dora.links.commits.get(f.deploy.id, ()))
        ]
    groups: dict[tuple[str, date], list[Fact]] = {}
    for f in facts:
        if f.terminal:
            groups.setdefault((f.deploy.environment, period_start(f.deploy.at, period)), []).append(
                f
            )
    merged = {p.number: p.merged_at for p in prs}
    pr_groups: dict[tuple[str, date], list[float]] = {}
    for (env, number), d in pr_deploys.items():
        at = merged.get(number)
        if at is not None:
            key = (env, period_start(d.at, period))
            pr_groups.setdefault(key, []).append(hours(d.at - at))
    rows = []
    for (env, start), facts in sorted(groups.items()):
        ok = [f for f in facts if f.success]
        lead = sorted(h for f in ok for h in f.lead_hours)  # sorted once for both percentiles
        failed = [f for f in facts if f.failed]
        recovery = [h for f in failed if (h := f.recovery_hours) is not None]
        unplanned = sum(1 for f in ok if f.unplanned)
        pr_lead = pr_groups.get((env, start), [])
        lead_p50 = percentile(lead, 0.5)
        rec_p50 = percentile(recovery, 0.5)
        cfr = _ratio(len(failed), len(facts))
        rework = _ratio(unplanned, len(ok))
        rows.append(
            {
                "repo_name": repo_name,
                "team": team,
                "environment": env,
                period: start,
                "environment_kind": facts[0].deploy.kind,
                "deployments": len(ok),
                "deploy_days": len({f.deploy.at.date() for f in ok}),
                "terminal_deployments": len(facts),
                "failed_deployments": len(failed),
                "change_fail_rate": cfr,
                "changes": sum(len(dora.links.commits.get(f.deploy.id, ())) for f in ok),
                "lead_time_hours_p50": lead_p50,
                "lead_time_hours_p75": percentile(lead, 0.75),
                "prs_deployed": len(pr_lead),
                "pr_lead_time_hours_p50": percentile(pr_lead, 0.5),
                "recovered_failures": len(recovery),
                "recovery_hours_p50": rec_p50,
                "unplanned_deployments": unplanned,
                "rework_rate": rework,
                "bucket_deployment_frequency": frequency_bucket(
                    len(ok), period_days(start, period)
                ),
                "bucket_lead_time": time_bucket(lead_p50),
                "bucket_change_fail_rate": rate_bucket(cfr),
                "bucket_recovery_time": time_bucket(rec_p50),
                "bucket_rework_rate": rate_bucket(rework),
            }
        )
    return rows
