"""DORA for one repository, in plain Python over plain values: duplicates, linking, incidents,
failures with their evidence, recovery, unplanned deployments and the weekly / monthly metrics.

``forgelens.analytics.dora`` reads the store into these values and writes the results back;
``docs/metrics.md`` ("DORA") defines every number computed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.analytics.dora_link import (
    FAILURE,
    SUCCESS,
    Deploy,
    Graph,
    Links,
    by_environment,
    link,
)
from forgelens.errors import BadInput

REVERT_RE = re.compile(r"This reverts commit ([0-9a-f]{40})")
PRODUCTION = "production"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MICROS_PER_HOUR = 3_600_000_000
# A deployment from a forge's deployments is preferred to a forge release's, a release's to the
# push API's, the API's to a CI run's, a CI run's to a tag's, when several describe the same
# deployment.
_PRECEDENCE = {"release": 1, "api": 2, "ci": 3, "tag": 4}


@dataclass(frozen=True)
class Rules:
    """The tunable parts (``[dora]`` of ``--config``)."""

    failure_window: timedelta = timedelta(days=7)  # revert / hotfix after a deployment
    dedupe_window: timedelta = timedelta(hours=1)  # same env + sha from two sources
    hotfix_branch: str = r"^hotfix[/_-]"
    hotfix_label: str = r"^hotfix$"
    hotfix_prefixes: tuple[str, ...] = ("hotfix", "hot fix", "hot-fix")  # commit subject
    incident_labels: tuple[str, ...] = ("incident",)
    incident_title: str = r"^(incident|outage)\b"
    incident_issue_types: tuple[str, ...] = ("incident",)  # GitLab's issue type

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Rules:
        """Rules from ``[dora]`` of the analytics config (windows in hours, regexes checked)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BadInput(
                f"[dora] unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key.endswith("_window"):
                if not isinstance(value, int | float) or value < 0:
                    raise BadInput(f"[dora] {key} = {value!r}: give hours, a number >= 0")
                out[key] = timedelta(hours=float(value))
            elif key in ("incident_labels", "hotfix_prefixes", "incident_issue_types"):
                out[key] = tuple(str(v) for v in value)
            else:
                try:
                    re.compile(str(value))
                except re.error as exc:
                    raise BadInput(f"[dora] {key} = {value!r} is not a regex: {exc}") from exc
                out[key] = str(value)
        return cls(**out)


@dataclass(frozen=True, slots=True)
class Change:
    sha: str
    committed_at: datetime | None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    created_at: datetime
    resolved_at: datetime | None = None
    sha: str | None = None
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Pr:
    number: int
    merged_at: datetime | None
    head_ref: str | None = None
    labels: tuple[str, ...] = ()
    shas: tuple[str, ...] = ()
    author: str | None = None  # login on the repository's forge


@dataclass(frozen=True, slots=True)
class Failure:
    deployment_id: str
    kind: str  # status | incident | rollback | revert | hotfix
    evidence_id: str
    environment: str
    detected_at: datetime
    evidence: str
    link: str | None = None  # incidents: explicit | time


@dataclass
class Fact:
    """Per deployment."""

    deploy: Deploy
    counted: bool = True
    duplicate_of: str | None = None
    baseline: bool = False
    changes: int = 0
    lead_time_hours_p50: float | None = None
    lead_hours: list[float] = field(default_factory=list)  # per shipped commit with a time
    committed: list[int | None] = field(default_factory=list)  # per shipped commit, epoch micros
    failure_kinds: set[str] = field(default_factory=set)
    unplanned_kinds: set[str] = field(default_factory=set)
    restored_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.counted and self.deploy.status in (SUCCESS, FAILURE)

    @property
    def success(self) -> bool:
        return self.counted and self.deploy.status == SUCCESS

    @property
    def failed(self) -> bool:
        return self.terminal and bool(self.failure_kinds)

    @property
    def unplanned(self) -> bool:
        return self.success and bool(self.unplanned_kinds)

    @property
    def recovery_hours(self) -> float | None:
        if not self.failed or self.restored_at is None:
            return None
        return hours(self.restored_at - self.deploy.at)


@dataclass
class RepoDora:
    facts: dict[str, Fact]
    links: Links
    failures: list[Failure]
    incident_links: dict[str, tuple[str, str]]  # incident id -> (deployment id, explicit|time)
    pr_deploys: dict[tuple[str, int], Deploy]  # (environment, PR) -> first deployment shipping it


Fail = Callable[[Deploy, str, str, datetime, str], None]


def is_hotfix_message(message: str | None, rules: Rules) -> bool:
    text = (message or "").lstrip().lower()
    return any(text.startswith(p.lower()) for p in rules.hotfix_prefixes)


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between the closest ranks (SQL's ``percentile_cont``)."""
    if not values:
        return None
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def dedupe(deploys: Iterable[Deploy], window: timedelta) -> dict[str, str]:
    """``{duplicate id: kept id}``: deployments of one environment and sha from different
    sources within ``window`` of each other describe one deployment; the forge's is kept, then
    the forge release's, the push API's, the CI run's, the tag's (earliest first among
    equals)."""
    groups: dict[tuple[str, str], list[Deploy]] = {}
    for d in deploys:
        groups.setdefault((d.environment, d.sha), []).append(d)
    out: dict[str, str] = {}
    for items in groups.values():
        items.sort(key=lambda d: (_PRECEDENCE.get(d.source, 0), d.at, d.id))
        kept: list[Deploy] = []
        for d in items:
            same = next(
                (k for k in kept if k.source != d.source and abs(k.at - d.at) <= window), None
            )
            if same is None:
                kept.append(d)
            else:
                out[d.id] = same.id
    return out


def analyze_repo(
    parents: Mapping[str, Sequence[str]] | Graph,
    commits: Mapping[str, Change],
    deploys: Sequence[Deploy],
    incidents: Sequence[Incident] = (),
    prs: Sequence[Pr] = (),
    rules: Rules | None = None,
    times: Mapping[str, int | None] | None = None,
) -> RepoDora:
    """DORA of one repository. ``commits`` must hold every commit whose message matters (reverts,
    hotfixes; all may be given); ``times`` is each mined commit's committed_at in epoch
    microseconds (by default those of ``commits``): the store passes the two apart, so a
    million commits need no million objects."""
    rules = rules or Rules()
    if times is None:
        times = {s: micros(c.committed_at) for s, c in commits.items()}
    facts = {d.id: Fact(d) for d in deploys}
    for dup, kept in dedupe(deploys, rules.dedupe_window).items():
        facts[dup].counted, facts[dup].duplicate_of = False, kept
    counted = [f.deploy for f in facts.values() if f.counted]
    links = link(parents, counted)
    for dep_id, shas in links.commits.items():
        f = facts[dep_id]
        f.baseline = dep_id in links.baseline
        f.changes = len(shas)
        f.committed = [times.get(s) for s in shas]
        f.lead_hours = _lead_hours(f.committed, f.deploy)
        f.lead_time_hours_p50 = percentile(f.lead_hours, 0.5)
    failures: list[Failure] = []
    incident_links = _link_incidents(incidents, counted)
    envs = by_environment(counted)
    ok_by_env = {e: [d for d in items if d.status == SUCCESS] for e, items in envs.items()}

    def fail(dep: Deploy, kind: str, evidence_id: str, at: datetime, why: str) -> None:
        if dep.status not in (SUCCESS, FAILURE):
            return  # still in progress (or cancelled): no deployment to count as failed yet
        facts[dep.id].failure_kinds.add(kind)
        how = incident_links[evidence_id][1] if kind == "incident" else None
        failures.append(Failure(dep.id, kind, evidence_id, dep.environment, at, why, how))

    for d in counted:  # 1. its own status
        if d.status == FAILURE:
            fail(d, "status", d.id, d.at, f"deployment status {d.status}")
    by_id = {d.id: d for d in counted}
    for inc in incidents:  # 2. incidents (one failed deployment however many incidents)
        if inc.id in incident_links:
            dep_id, how = incident_links[inc.id]
            fail(by_id[dep_id], "incident", inc.id, inc.created_at, f"incident {inc.id} ({how})")
    for rb_id, prev_id in links.rollback_of.items():  # 3. rollbacks
        rb = by_id[rb_id]
        fail(by_id[prev_id], "rollback", rb_id, rb.at, f"rolled back by {rb_id} to {rb.sha}")
        facts[rb_id].unplanned_kinds.add("rollback")
    _reverts(commits, links, facts, by_id, rules, fail)  # 4. reverts
    _hotfixes(commits, prs, links, facts, ok_by_env, rules, fail)  # 5. hotfixes
    _incident_driven(incidents, incident_links, by_id, ok_by_env, facts)
    for f in facts.values():  # recovery
        if f.failed:
            f.restored_at = _restored(f, incidents, incident_links, ok_by_env)
    return RepoDora(facts, links, failures, incident_links, _pr_deploys(prs, links, by_id))


def micros(at: datetime | None) -> int | None:
    """Epoch microseconds of a zone-aware time."""
    return None if at is None else (at - _EPOCH) // _MICRO


def _lead_hours(committed: Iterable[int | None], d: Deploy) -> list[float]:
    at = micros(d.at)
    assert at is not None
    return [(at - t) / _MICROS_PER_HOUR for t in committed if t is not None]


def _link_incidents(
    incidents: Sequence[Incident], counted: Sequence[Deploy]
) -> dict[str, tuple[str, str]]:
    """An incident links to the deployment it names (id, else the first successful deployment
    of its sha), else to the latest successful production deployment before it started."""
    ids = {d.id for d in counted}
    prod = sorted(
        (d for d in counted if d.status == SUCCESS and d.kind == PRODUCTION),
        key=lambda d: (d.at, d.id),
    )
    out: dict[str, tuple[str, str]] = {}
    for inc in incidents:
        if inc.deployment_id and inc.deployment_id in ids:
            out[inc.id] = (inc.deployment_id, "explicit")
            continue
        named = [d for d in prod if inc.sha and d.sha == inc.sha]
        if named:
            out[inc.id] = (named[0].id, "explicit")
            continue
        before = [d for d in prod if d.at <= inc.created_at]
        if before:
            out[inc.id] = (before[-1].id, "time")
    return out


def _reverts(
    commits: Mapping[str, Change],
    links: Links,
    facts: dict[str, Fact],
    by_id: Mapping[str, Deploy],
    rules: Rules,
    fail: Fail,
) -> None:
    """A commit reverting a change some deployment shipped, within the window after it: that
    deployment failed; the deployment that shipped the revert was unplanned."""
    for c in commits.values():
        if not c.message:
            continue
        m = REVERT_RE.search(c.message)
        if m is None or c.committed_at is None:
            continue
        target = m.group(1)
        for owner in links.shipped_by.values():
            dep_id = owner.get(target)
            if dep_id is None or dep_id in links.baseline:
                continue
            dep = by_id[dep_id]
            if timedelta(0) <= c.committed_at - dep.at <= rules.failure_window:
                fail(dep, "revert", c.sha, c.committed_at, f"{c.sha} reverts {target}")
            shipper = owner.get(c.sha)
            if shipper is not None and shipper != dep_id and shipper not in links.baseline:
                facts[shipper].unplanned_kinds.add("revert")


def _hotfixes(
    commits: Mapping[str, Change],
    prs: Sequence[Pr],
    links: Links,
    facts: dict[str, Fact],
    ok_by_env: Mapping[str, list[Deploy]],
    rules: Rules,
    fail: Fail,
) -> None:
    """A deployment shipping a hotfix (commit message, PR branch or label rule) is unplanned;
    the successful deployment before it in that environment, within the window, failed."""
    branch_re = re.compile(rules.hotfix_branch, re.IGNORECASE)
    label_re = re.compile(rules.hotfix_label, re.IGNORECASE)
    marked: dict[str, str] = {}  # sha -> evidence
    for c in commits.values():
        if c.message and is_hotfix_message(c.message, rules):
            marked.setdefault(c.sha, f"commit:{c.sha}")
    for pr in prs:
        if (pr.head_ref and branch_re.search(pr.head_ref)) or any(
            label_re.search(lab) for lab in pr.labels
        ):
            for sha in pr.shas:
                marked.setdefault(sha, f"pr:{pr.number}")
    if not marked:
        return
    for items in ok_by_env.values():
        for i, h in enumerate(items):
            if h.id in links.baseline:
                continue
            hits = sorted({marked[s] for s in links.commits.get(h.id, ()) if s in marked})
            if not hits:
                continue
            facts[h.id].unplanned_kinds.add("hotfix")
            if i > 0 and h.at - items[i - 1].at <= rules.failure_window:
                fail(items[i - 1], "hotfix", hits[0], h.at, f"hotfix {', '.join(hits)} in {h.id}")


def _incident_driven(
    incidents: Sequence[Incident],
    incident_links: Mapping[str, tuple[str, str]],
    by_id: Mapping[str, Deploy],
    ok_by_env: Mapping[str, list[Deploy]],
    facts: dict[str, Fact],
) -> None:
    """The first successful deployment to the incident's environment after it started (and
    before it was resolved) was made because of it."""
    for inc in incidents:
        if inc.id not in incident_links:
            continue
        env = by_id[incident_links[inc.id][0]].environment
        nxt = next((d for d in ok_by_env.get(env, []) if d.at >= inc.created_at), None)
        if nxt is not None and (inc.resolved_at is None or nxt.at <= inc.resolved_at):
            facts[nxt.id].unplanned_kinds.add("incident")


def _restored(
    f: Fact,
    incidents: Sequence[Incident],
    incident_links: Mapping[str, tuple[str, str]],
    ok_by_env: Mapping[str, list[Deploy]],
) -> datetime | None:
    """With incidents: the last one's resolution (None while one is open); else the next
    successful deployment to the same environment."""
    mine = [i for i in incidents if incident_links.get(i.id, ("",))[0] == f.deploy.id]
    if mine:
        resolved = [i.resolved_at for i in mine if i.resolved_at is not None]
        return max(resolved) if len(resolved) == len(mine) else None
    d = f.deploy
    nxt = next((x for x in ok_by_env.get(d.environment, []) if (x.at, x.id) > (d.at, d.id)), None)
    return nxt.at if nxt is not None else None


def _pr_deploys(
    prs: Sequence[Pr], links: Links, by_id: Mapping[str, Deploy]
) -> dict[tuple[str, int], Deploy]:
    out: dict[tuple[str, int], Deploy] = {}
    for env, owner in links.shipped_by.items():
        for pr in prs:
            deps = [by_id[owner[s]] for s in pr.shas if s in owner]
            deps = [d for d in deps if d.id not in links.baseline]
            if deps:
                out[(env, pr.number)] = min(deps, key=lambda d: (d.at, d.id))
    return out
