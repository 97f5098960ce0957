"""A plain-Python reference for DORA, written from the definitions in docs/metrics.md ("DORA")
and independent of ``forgelens.analytics.dora*``: linking by ancestor sets (no walk that stops
early), failures, recovery, unplanned deployments and the weekly / monthly metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

WINDOW = timedelta(days=7)
DEDUPE = timedelta(hours=1)
PREFERENCE = {"release": 1, "api": 2, "ci": 3, "tag": 4}  # any forge's deployments: 0


@dataclass
class Dep:
    id: str
    env: str
    kind: str
    sha: str
    status: str
    at: datetime
    source: str


@dataclass
class Inc:
    id: str
    created: datetime
    resolved: datetime | None
    sha: str | None = None
    deployment_id: str | None = None


@dataclass
class PullRequest:
    number: int
    merged_at: datetime | None
    head_ref: str | None
    labels: list[str]
    shas: list[str]
    author: str | None = None


@dataclass
class Commit:
    sha: str
    parents: list[str]
    at: datetime
    message: str


@dataclass
class Ref:
    duplicate: set[str] = field(default_factory=set)
    shipped: dict[str, set[str]] = field(default_factory=dict)  # deployment -> commits
    baseline: set[str] = field(default_factory=set)
    failures: dict[str, set[str]] = field(default_factory=dict)  # deployment -> kinds
    unplanned: dict[str, set[str]] = field(default_factory=dict)
    team_weekly: dict[tuple[str, str, date], dict[str, Any]] = field(default_factory=dict)
    team_monthly: dict[tuple[str, str, date], dict[str, Any]] = field(default_factory=dict)
    restored: dict[str, datetime | None] = field(default_factory=dict)  # failed deployments
    incident_link: dict[str, tuple[str, str]] = field(default_factory=dict)
    weekly: dict[tuple[str, date], dict[str, Any]] = field(default_factory=dict)
    monthly: dict[tuple[str, date], dict[str, Any]] = field(default_factory=dict)


def ancestors(commits: dict[str, Commit], sha: str) -> set[str]:
    if sha not in commits:
        return set()
    seen = {sha}
    todo = [sha]
    while todo:
        for p in commits[todo.pop()].parents:
            if p in commits and p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    f = int(k)
    c = min(f + 1, len(v) - 1)
    return v[f] * (1 - (k - f)) + v[c] * (k - f)


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def compute(
    commits: dict[str, Commit],
    deps: list[Dep],
    incs: list[Inc],
    prs: list[PullRequest],
    teams: dict[str, set[str]] | None = None,
) -> Ref:
    """``teams``: team -> its members' logins (lower case)."""
    r = Ref()
    pref = {d.id: PREFERENCE.get(d.source, 0) for d in deps}
    for d in deps:
        for k in deps:
            if (
                k.source != d.source
                and k.env == d.env
                and k.sha == d.sha
                and abs(k.at - d.at) <= DEDUPE
                and (pref[k.id], k.at, k.id) < (pref[d.id], d.at, d.id)
            ):
                r.duplicate.add(d.id)
    live = sorted((d for d in deps if d.id not in r.duplicate), key=lambda d: (d.at, d.id))
    ok = [d for d in live if d.status == "success"]
    envs = sorted({d.env for d in ok})
    owner: dict[tuple[str, str], str] = {}  # (env, sha) -> deployment that shipped it
    rollback_of: dict[str, str] = {}
    for env in envs:
        mine = [d for d in ok if d.env == env]
        before: set[str] = set()
        first_known = next((d.id for d in mine if d.sha in commits), None)
        for i, d in enumerate(mine):
            anc = ancestors(commits, d.sha)
            if d.sha in before and i > 0 and mine[i - 1].sha != d.sha:
                rollback_of[d.id] = mine[i - 1].id
            new = anc - before
            for s in new:
                owner[(env, s)] = d.id
            if d.id == first_known:
                r.baseline.add(d.id)
                new = set()
            r.shipped[d.id] = new
            before |= anc
    by_id = {d.id: d for d in live}
    prev_ok = {}
    next_ok: dict[str, Dep | None] = {}
    for env in envs:
        mine = [d for d in ok if d.env == env]
        for i, d in enumerate(mine):
            prev_ok[d.id] = mine[i - 1] if i else None
    for d in live:
        later = [x for x in ok if x.env == d.env and (x.at, x.id) > (d.at, d.id)]
        next_ok[d.id] = later[0] if later else None

    def fail(dep_id: str, kind: str) -> None:
        r.failures.setdefault(dep_id, set()).add(kind)

    def unplanned(dep_id: str, kind: str) -> None:
        r.unplanned.setdefault(dep_id, set()).add(kind)

    for d in live:
        if d.status == "failure":
            fail(d.id, "status")
    prod = [d for d in ok if d.kind == "production"]
    for inc in incs:
        if inc.deployment_id in by_id:
            r.incident_link[inc.id] = (str(inc.deployment_id), "explicit")
        elif inc.sha and any(d.sha == inc.sha for d in prod):
            r.incident_link[inc.id] = (next(d.id for d in prod if d.sha == inc.sha), "explicit")
        else:
            earlier = [d for d in prod if d.at <= inc.created]
            if earlier:
                r.incident_link[inc.id] = (earlier[-1].id, "time")
    for dep_id, _ in r.incident_link.values():
        fail(dep_id, "incident")
    for rb, prev in rollback_of.items():
        fail(prev, "rollback")
        unplanned(rb, "rollback")
    for c in commits.values():
        m = re.search(r"This reverts commit ([0-9a-f]{40})", c.message)
        if not m:
            continue
        for env in envs:
            target_dep = owner.get((env, m.group(1)))
            if target_dep is None or target_dep in r.baseline:
                continue
            if timedelta(0) <= c.at - by_id[target_dep].at <= WINDOW:
                fail(target_dep, "revert")
            shipper = owner.get((env, c.sha))
            if shipper and shipper != target_dep and shipper not in r.baseline:
                unplanned(shipper, "revert")
    hot = {
        c.sha
        for c in commits.values()
        if c.message.lower().startswith(("hotfix", "hot fix", "hot-fix"))
    }
    for pr in prs:
        if pr.merged_at is None:
            continue  # only merged PRs are read
        if (pr.head_ref or "").lower().startswith(("hotfix/", "hotfix-", "hotfix_")) or any(
            lab.lower() == "hotfix" for lab in pr.labels
        ):
            hot |= set(pr.shas)
    for d in ok:
        if d.id in r.baseline or not (r.shipped.get(d.id, set()) & hot):
            continue
        unplanned(d.id, "hotfix")
        p = prev_ok[d.id]
        if p is not None and d.at - p.at <= WINDOW:
            fail(p.id, "hotfix")
    for inc in incs:
        if inc.id not in r.incident_link:
            continue
        env = by_id[r.incident_link[inc.id][0]].env
        after = [d for d in ok if d.env == env and d.at >= inc.created]
        if after and (inc.resolved is None or after[0].at <= inc.resolved):
            unplanned(after[0].id, "incident")
    for dep_id in [k for k in r.failures if by_id[k].status not in ("success", "failure")]:
        del r.failures[dep_id]  # only deployments that finished can have failed
    for dep_id in r.failures:
        mine = [i for i in incs if r.incident_link.get(i.id, ("",))[0] == dep_id]
        if mine:
            res = [i.resolved for i in mine]
            r.restored[dep_id] = None if None in res else max(x for x in res if x)
        else:
            n = next_ok[dep_id]
            r.restored[dep_id] = n.at if n else None
    pr_dep: dict[tuple[str, int], Dep] = {}
    for env in envs:
        for pr in prs:
            cands = [
                by_id[owner[(env, s)]]
                for s in pr.shas
                if (env, s) in owner and owner[(env, s)] not in r.baseline
            ]
            if cands:
                pr_dep[(env, pr.number)] = min(cands, key=lambda d: (d.at, d.id))
    for period, out in (("week", r.weekly), ("month", r.monthly)):
        _metrics(r, live, commits, prs, pr_dep, period, out)
    for team, logins in (teams or {}).items():
        # a team's deployments: those that shipped a commit of a merged PR by a member
        mine = {p.number for p in prs if p.merged_at and (p.author or "").lower() in logins}
        shas = {s for p in prs if p.number in mine for s in p.shas}
        team_live = [d for d in live if r.shipped.get(d.id, set()) & shas]
        team_pr_dep = {k: v for k, v in pr_dep.items() if k[1] in mine}
        for period, rows in (("week", r.team_weekly), ("month", r.team_monthly)):
            out: dict[tuple[str, date], dict[str, Any]] = {}
            _metrics(r, team_live, commits, prs, team_pr_dep, period, out)
            rows.update({(team, *k): v for k, v in out.items()})
    return r


def _start(at: datetime, period: str) -> date:
    d = at.date()
    return d - timedelta(days=d.weekday()) if period == "week" else date(d.year, d.month, 1)


def _days(start: date, period: str) -> int:
    if period == "week":
        return 7
    nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return (nxt - start).days


def time_bucket(h: float | None) -> str | None:
    if h is None:
        return None
    if h < 1:
        return "less than one hour"
    if h < 24:
        return "less than one day"
    if h < 168:
        return "one day to one week"
    if h < 720:
        return "one week to one month"
    if h < 4368:
        return "one to six months"
    return "more than six months"


def rate_bucket(x: float | None) -> str | None:
    if x is None:
        return None
    for top, label in (
        (2, "0-2%"),
        (4, "2-4%"),
        (8, "4-8%"),
        (16, "8-16%"),
        (32, "16-32%"),
        (64, "32-64%"),
    ):
        if x * 100 <= top + 1e-9:
            return label
    return "64-100%"


def freq_bucket(n: int, days: int) -> str:
    if n == 0:
        return "less than every six months"
    if n > days:
        return "on demand (several a day)"
    if days / n <= 7:
        return "daily to weekly"
    if days / n <= 30:
        return "weekly to monthly"
    if days / n <= 182:
        return "monthly to every six months"
    return "less than every six months"


def _metrics(
    r: Ref,
    live: list[Dep],
    commits: dict[str, Commit],
    prs: list[PullRequest],
    pr_dep: dict[tuple[str, int], Dep],
    period: str,
    out: dict[tuple[str, date], dict[str, Any]],
) -> None:
    terminal = [d for d in live if d.status in ("success", "failure")]
    keys = sorted({(d.env, _start(d.at, period)) for d in terminal})
    merged = {p.number: p.merged_at for p in prs}
    for env, start in keys:
        ds = [d for d in terminal if d.env == env and _start(d.at, period) == start]
        ok = [d for d in ds if d.status == "success"]
        failed = [d for d in ds if d.id in r.failures]
        lead = [_hours(commits[s].at, d.at) for d in ok for s in r.shipped.get(d.id, ())]
        rec = [_hours(d.at, t) for d in failed if (t := r.restored.get(d.id)) is not None]
        unpl = [d for d in ok if d.id in r.unplanned]
        prl = [
            _hours(m, dep.at)
            for (e, n), dep in pr_dep.items()
            if e == env and _start(dep.at, period) == start and (m := merged.get(n)) is not None
        ]
        cfr = len(failed) / len(ds)
        rework = len(unpl) / len(ok) if ok else None
        out[(env, start)] = {
            "deployments": len(ok),
            "deploy_days": len({d.at.date() for d in ok}),
            "terminal_deployments": len(ds),
            "failed_deployments": len(failed),
            "change_fail_rate": cfr,
            "changes": len(lead),
            "lead_time_hours_p50": _pct(lead, 0.5),
            "lead_time_hours_p75": _pct(lead, 0.75),
            "prs_deployed": len(prl),
            "pr_lead_time_hours_p50": _pct(prl, 0.5),
            "recovered_failures": len(rec),
            "recovery_hours_p50": _pct(rec, 0.5),
            "unplanned_deployments": len(unpl),
            "rework_rate": rework,
            "bucket_deployment_frequency": freq_bucket(len(ok), _days(start, period)),
            "bucket_lead_time": time_bucket(_pct(lead, 0.5)),
            "bucket_change_fail_rate": rate_bucket(cfr),
            "bucket_recovery_time": time_bucket(_pct(rec, 0.5)),
            "bucket_rework_rate": rate_bucket(rework),
        }
