"""A plain-Python reference of every metric in docs/metrics.md, written from the definitions
(not from the SQL) so that property tests can check the SQL against it.

Path classes and feature rules are hand-labelled for the small pools the generator draws from.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from forgelens import records as R
from forgelens.analytics.config import DEFAULT_BOTS, AnalyticsConfig
from forgelens.analytics.risk import FACTORS  # the names only; every value is computed here

# path -> (sensitive category, is_test, is_doc)
PATHS: dict[str, tuple[str | None, bool, bool]] = {
    "src/app.py": (None, False, False),
    "src/core/engine.py": (None, False, False),
    "src/auth/tokens.py": ("auth", False, False),
    "db/migrations/0001_init.sql": ("migrations", False, False),
    ".github/workflows/ci.yml": ("ci", False, False),
    "package-lock.json": ("lockfiles", False, False),
    "tests/test_app.py": (None, True, False),
    "tests/test_login.py": (None, True, False),
    "docs/guide.md": (None, False, True),
    "README.md": (None, False, True),
}
# title -> (rule, confidence) when neither labels nor branch decide
TITLES: dict[str, tuple[str, float]] = {
    "feat: add search": ("conventional_commit", 0.9),
    "fix(api): crash": ("conventional_commit", 0.05),
    "Add export button": ("title", 0.6),
    "Update dependencies": ("none", 0.2),
    "Revert the big change": ("title", 0.1),
}
LABELS: dict[str, tuple[str, float] | None] = {
    "": None,
    "enhancement": ("label", 0.95),
    "bug": ("label", 0.05),
}
BRANCHES: dict[str, tuple[str, float] | None] = {
    "feature/x": ("branch", 0.8),
    "misc": None,
    "hotfix/y": ("branch", 0.1),
}


def username(login: str | None) -> str:
    return "ghost" if login is None or login.strip().lower() == "ghost" else login.strip().lower()


def is_bot(user: str) -> bool:
    return user.endswith("[bot]") or user.removesuffix("[bot]") in DEFAULT_BOTS


def counted(user: str) -> bool:
    return user != "ghost" and not is_bot(user)


def ms(ts: datetime) -> int:
    return int(ts.timestamp()) * 1000 + ts.microsecond // 1000


def day(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def week(ts: datetime) -> date:
    d = day(ts)
    return d - timedelta(days=d.weekday())


def hours(a: datetime, b: datetime) -> float:
    return (b.timestamp() - a.timestamp()) / 3600.0


def round_to(x: float, places: int) -> float:
    return float(Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


@dataclass
class Fact:
    repo: str
    pr: R.PullRequest
    user: str
    lines: int
    files: list[R.PrFile]
    approvals: int = 0
    self_approved: bool = False
    first_review: datetime | None = None
    last_review: datetime | None = None
    rounds: int = 0
    risk: float = 0.0
    high_risk: bool = False
    low_own: bool = False
    feature: tuple[str, float] = ("none", 0.2)
    start: datetime | None = None  # min(first commit authored, opened)
    reasons: dict[str, float] = field(default_factory=dict)


def compute(recs: list[Any], cfg: AnalyticsConfig) -> dict[tuple[str, int], Fact]:
    repos = {r.id: r.full_name for r in recs if isinstance(r, R.Repository)}
    prs = [r for r in recs if isinstance(r, R.PullRequest)]
    files: dict[tuple[str, int], list[R.PrFile]] = defaultdict(list)
    for f in recs:
        if isinstance(f, R.PrFile):
            files[(f.repository_id, f.pr_number)].append(f)
    reviews: dict[tuple[str, int], list[R.Review]] = defaultdict(list)
    for v in recs:
        if isinstance(v, R.Review):
            reviews[(v.repository_id, v.pr_number)].append(v)
    first_commit: dict[tuple[str, int], datetime] = {}
    for c in recs:
        if isinstance(c, R.PrCommit) and c.authored_at is not None:
            k = (c.repository_id, c.pr_number)
            first_commit[k] = min(first_commit.get(k, c.authored_at), c.authored_at)
    facts: dict[tuple[str, int], Fact] = {}
    for p in prs:
        fl = files[(p.repository_id, p.number)]
        adds = p.additions if p.additions is not None else sum(f.additions or 0 for f in fl)
        dels = p.deletions if p.deletions is not None else sum(f.deletions or 0 for f in fl)
        user = username(p.author)
        fact = Fact(repos[p.repository_id], p, user, adds + dels, fl)
        fc = first_commit.get((p.repository_id, p.number))
        fact.start = fc if fc is not None and fc < p.created_at else p.created_at
        others = []
        for v in reviews[(p.repository_id, p.number)]:
            ok = (
                v.state.upper() in ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
                and v.submitted_at is not None
                and (p.merged_at is None or v.submitted_at <= p.merged_at)
            )
            if not ok:
                continue
            me = (
                v.author is not None
                and username(v.author) != "ghost"
                and (username(v.author) == user)
            )
            if me:
                fact.self_approved |= v.state.upper() == "APPROVED"
            else:
                others.append(v)
        if others:
            fact.first_review = min(v.submitted_at for v in others)  # type: ignore[type-var]
            fact.last_review = max(v.submitted_at for v in others)  # type: ignore[type-var]
            fact.rounds = 1 + sum(v.state.upper() == "CHANGES_REQUESTED" for v in others)
        fact.approvals = len(
            {
                username(v.author) if username(v.author) != "ghost" else "#" + v.review_id
                for v in others
                if v.state.upper() == "APPROVED"
            }
        )
        facts[(p.repository_id, p.number)] = fact
    for fact in facts.values():
        _risk(fact, facts, cfg)
        fact.feature = _feature(fact.pr)
    return facts


def _risk(fact: Fact, facts: dict[tuple[str, int], Fact], cfg: AnalyticsConfig) -> None:
    p = fact.pr
    span = cfg.history_days * 86_400_000
    t = ms(p.created_at) - 1
    n_files = hist = low = hot = sens = 0
    test_lines = code_lines = 0
    for f in fact.files:
        lines = (f.additions or 0) + (f.deletions or 0)
        cat, is_test, is_doc = PATHS[f.path]
        total = own = changes = 0
        for other in facts.values():
            q = other.pr
            if q.repository_id != p.repository_id or q.merged_at is None:
                continue
            for g in other.files:
                if g.path == f.path and t - span <= ms(q.merged_at) <= t:
                    gl = (g.additions or 0) + (g.deletions or 0)
                    total += gl
                    changes += 1
                    own += gl if other.user == fact.user else 0
        n_files += 1
        hist += total > 0
        low += total > 0 and own < cfg.low_ownership_share * total
        hot += changes >= cfg.hotspot_changes
        sens += cat is not None
        test_lines += lines if is_test else 0
        code_lines += lines if not is_test and not is_doc else 0
    values = {
        "size_lines": min(1.0, fact.lines / cfg.size_lines_cap),
        "size_files": min(
            1.0,
            (p.changed_files if p.changed_files is not None else len(fact.files))
            / cfg.size_files_cap,
        ),
        "sensitive_paths": 1.0 if sens else 0.0,
        "few_tests": 1.0
        if code_lines >= cfg.few_tests_min_code_lines
        and test_lines < cfg.few_tests_ratio * code_lines
        else 0.0,
        "no_approval": 1.0
        if fact.approvals == 0
        else (
            0.5
            if p.merged_at is not None
            and p.merged_by is not None
            and username(p.merged_by) == fact.user
            and username(p.merged_by) != "ghost"
            else 0.0
        ),
        "low_ownership": low / hist if hist else 0.0,
        "hotspot": hot / n_files if n_files else 0.0,
        "large_revert": 1.0
        if p.title.lower().startswith("revert") and fact.lines >= cfg.large_revert_lines
        else 0.0,
    }
    contrib = {k: cfg.risk_weights[k] * values[k] for k in FACTORS}
    total_score = 0.0
    for k in FACTORS:
        total_score += contrib[k]
    fact.reasons = {k: v for k, v in contrib.items() if v > 0}
    fact.risk = round_to(min(1.0, total_score), 6)
    fact.high_risk = fact.risk >= cfg.high_risk_threshold
    fact.low_own = hist > 0 and low > 0


def _feature(p: R.PullRequest) -> tuple[str, float]:
    labels = [lab.lower() for lab in p.labels]
    if any("feature" in lab or "enhancement" in lab for lab in labels):
        return ("label", 0.95)
    if any(LABELS.get(lab) for lab in labels):
        return LABELS[next(lab for lab in labels if LABELS.get(lab))]  # type: ignore[return-value]
    rule = TITLES[p.title]
    if rule[0] == "conventional_commit":
        return rule
    branch = BRANCHES.get(p.head_ref or "")
    if branch:
        return branch
    return rule


def daily(facts: dict[tuple[str, int], Fact], cfg: AnalyticsConfig) -> dict[tuple, tuple]:
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for f in facts.values():
        if not counted(f.user):
            continue
        out[(f.user, f.repo, day(f.pr.created_at))][0] += 1
        if f.pr.merged_at is not None:
            row = out[(f.user, f.repo, day(f.pr.merged_at))]
            row[1] += 1
            row[2] += f.lines
            row[3] += f.high_risk
            row[4] += f.feature[1] >= cfg.feature_threshold
    return {k: tuple(v) for k, v in out.items()}


def windows(facts: dict[tuple[str, int], Fact], cfg: AnalyticsConfig, end: date) -> dict:
    metrics: dict[tuple, list[float]] = {}
    prs: set[tuple] = set()
    for w in cfg.windows:
        start = end - timedelta(days=w - 1)
        for f in facts.values():
            if not counted(f.user):
                continue
            key = (f.user, f.repo, w)
            c_in = start <= day(f.pr.created_at) <= end
            m_in = f.pr.merged_at is not None and start <= day(f.pr.merged_at) <= end
            if c_in or m_in:
                prs.add((f.user, f.repo, w, int(f.pr.forge_id or 0)))
                row = metrics.setdefault(key, [0, 0, 0, 0, 0])
                row[0] += c_in
                if m_in:
                    row[1] += 1
                    row[2] += f.high_risk
                    row[3] += f.lines
                    row[4] += not f.high_risk and not f.low_own
    out = {
        k: (v[0], v[1], v[2], v[2] / v[1] if v[1] else 0.0, v[3], v[4]) for k, v in metrics.items()
    }
    return {"metrics": out, "prs": prs}


def ownership(facts: dict[tuple[str, int], Fact], cfg: AnalyticsConfig, end: date) -> dict:
    out = {}
    for w in cfg.windows:
        start = end - timedelta(days=w - 1)
        owned: dict[tuple, int] = defaultdict(int)
        for f in facts.values():
            if (
                counted(f.user)
                and f.pr.merged_at is not None
                and start <= day(f.pr.merged_at) <= end
            ):
                for g in f.files:
                    owned[(f.user, f.repo, g.path)] += (g.additions or 0) + (g.deletions or 0)
        totals: dict[tuple, int] = defaultdict(int)
        for (_u, repo, path), n in owned.items():
            totals[(repo, path)] += n
        for (u, repo, path), n in owned.items():
            total = totals[(repo, path)]
            if total > 0:
                out[(u, repo, w, path)] = (float(n) * 100.0 / total, n, total)
    return out


def delivery(facts: dict[tuple[str, int], Fact]) -> dict[tuple, dict[str, Any]]:
    merged: dict[tuple, list[Fact]] = defaultdict(list)
    opened: dict[tuple, int] = defaultdict(int)
    for f in facts.values():
        if not counted(f.user):
            continue
        opened[(f.repo, week(f.pr.created_at))] += 1
        if f.pr.merged_at is not None:
            merged[(f.repo, week(f.pr.merged_at))].append(f)
    out = {}
    for key in set(merged) | set(opened):
        fs = merged.get(key, [])
        row: dict[str, Any] = {"prs_opened": opened.get(key, 0), "prs_merged": len(fs)}
        if fs:
            cyc, pick, merge = [], [], []
            for f in fs:
                cyc.append(hours(f.start, f.pr.merged_at))  # type: ignore[arg-type]
                if f.first_review is not None:
                    pick.append(hours(f.pr.created_at, f.first_review))
                    merge.append(hours(f.last_review, f.pr.merged_at))  # type: ignore[arg-type]
                else:
                    merge.append(hours(f.pr.created_at, f.pr.merged_at))  # type: ignore[arg-type]
            row["cycle_time_hours_p50"] = statistics.median(cyc)
            row["pickup_hours_p50"] = statistics.median(pick) if pick else None
            row["merge_hours_p50"] = statistics.median(merge)
            row["merged_without_review"] = sum(f.first_review is None for f in fs)
            row["review_rounds_avg"] = sum(f.rounds for f in fs) / len(fs)
        out[key] = row
    return out


def policy(recs: list[Any], facts: dict[tuple[str, int], Fact]) -> dict[tuple, dict[str, Any]]:
    prot = {(b.repository_id, b.branch): b for b in recs if isinstance(b, R.BranchProtection)}
    runs = [c for c in recs if isinstance(c, R.CiRun)]
    out = {}
    for (rid, number), f in facts.items():
        b = prot.get((rid, f.pr.base_ref or ""))
        if f.pr.merged_at is None or b is None:
            continue
        required = b.required_approvals or 0
        failing = []
        for name in sorted(set(b.required_checks)):
            mine = [
                c
                for c in runs
                if c.repository_id == rid
                and c.head_branch == f.pr.head_ref
                and c.name == name
                and c.created_at is not None
                and c.created_at <= f.pr.merged_at
            ]
            if mine:
                last = max(mine, key=lambda c: (c.created_at, c.run_id))
                if (last.conclusion or "").lower() not in ("success", "neutral", "skipped"):
                    failing.append(name)
        if f.approvals < required or f.self_approved or failing:
            out[(f.repo, number)] = {
                "approvals": f.approvals,
                "fewer": f.approvals < required,
                "self": f.self_approved,
                "failing": failing,
            }
    return out
