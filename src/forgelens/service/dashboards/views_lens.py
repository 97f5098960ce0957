"""``/engineering-lens`` and ``/what-shipped`` (seed 002), read from the tables ``analyze`` writes.

Window figures come from the latest ``author_metrics_window`` snapshot (its ``end_date``); the
daily trend from ``author_metrics_daily``; PR lists from ``author_prs_window`` / ``repo_prs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from forgelens.analytics import reads
from forgelens.service.dashboards._view import (
    ALL,
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
from forgelens.store import sql as _sql

WINDOWS = (7, 14, 30, 90)
PR_LIMIT = 200
REASONS_LIMIT = 20
SHIPPED_LIMIT = 100
GROUPS = {"feature": "features", "fix": "fixes", "other": "other"}  # group -> table/card key
NO_ANALYTICS = (
    "Collect a repository (`forgelens collect github:owner/repo` or `forgelens collect git:PATH`), "
    "then run `forgelens analyze all` and reload this page."
)


def repo_options(store: Store) -> list[tuple[str, str]]:
    return [(ALL, "All repositories"), *((r, r) for r in reads.analysed_repos(store))]


def _repo(params: Mapping[str, str], options: list[tuple[str, str]]) -> str:
    repo = params.get("repo", ALL)
    return repo if any(o[0] == repo for o in options) else ALL


def _repo_sql(repo: str, column: str = "repo_name") -> tuple[str, list[Any]]:
    return (f" AND {column} = ?", [repo]) if repo else ("", [])


def engineering_lens(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    v = view("engineering-lens", "Engineering Lens", "One engineer's work over a window")
    repos = repo_options(store)
    repo = _repo(params, repos)
    window = choice(params, "window", WINDOWS, 30)
    add_filter(v, "repo", "Repository", repo, repos)
    end = store.query("SELECT max(end_date) FROM author_metrics_window")[0][0]
    if end is None:
        add_filter(v, "user", "Engineer", "", [])
        add_filter(v, "window", "Window (days)", window, [(w, f"{w} days") for w in WINDOWS])
        set_empty(v, "No engineer metrics yet", NO_ANALYTICS)
        return v
    rsql, rparams = _repo_sql(repo)
    people = store.query(
        "SELECT username, sum(prs_submitted) AS n FROM author_metrics_window "
        f"WHERE end_date = ? AND window_days = ?{rsql} GROUP BY username "
        "ORDER BY n DESC, username LIMIT 500",
        [end, window, *rparams],
    )
    names = [p[0] for p in people]
    user = params.get("user") or (names[0] if names else "")
    if user and user not in names:
        names.insert(0, user)
    add_filter(v, "user", "Engineer", user, [(n, n) for n in names])
    add_filter(v, "window", "Window (days)", window, [(w, f"{w} days") for w in WINDOWS])
    first = end - timedelta(days=window - 1)
    v["subtitle"] = f"{user or 'nobody'} · {first.isoformat()} to {end.isoformat()} (UTC days)"
    if not names:
        scope = f"in {repo}" if repo else "in any repository"
        set_empty(
            v,
            f"No pull requests {scope} in the last {window} days",
            "Pick a longer window or another repository; if PRs were merged recently, collect "
            "them and run `forgelens analyze all`.",
        )
        return v
    totals = store.query_dicts(
        "SELECT COALESCE(sum(prs_submitted), 0) AS submitted, "
        "COALESCE(sum(prs_merged), 0) AS merged, COALESCE(sum(lines_changed), 0) AS lines, "
        "COALESCE(sum(high_risk_prs), 0) AS risky "
        f"FROM author_metrics_window WHERE end_date = ? AND window_days = ? AND username = ?{rsql}",
        [end, window, user, *rparams],
    )[0]
    daily = store.query(
        "SELECT day, sum(prs_submitted), sum(prs_merged), sum(lines_changed), sum(high_risk_prs), "
        "sum(features_merged) FROM author_metrics_daily "
        f"WHERE username = ? AND day >= ? AND day <= ?{rsql} GROUP BY day ORDER BY day",
        [user, first, end, *rparams],
    )
    by_day = {r[0]: r[1:] for r in daily}
    trend = [
        [d, *(by_day.get(d) or (0, 0, 0, 0, 0))]
        for d in (first + timedelta(days=i) for i in range(window))
    ]
    merged = int(totals["merged"])
    add_card(v, "prs_submitted", "PRs submitted", int(totals["submitted"]))
    add_card(v, "prs_merged", "PRs merged", merged)
    add_card(v, "lines_changed", "Lines changed", int(totals["lines"]), "in merged PRs")
    add_card(v, "high_risk_prs", "High-risk PRs", int(totals["risky"]), "merged")
    add_card(
        v,
        "high_risk_rate",
        "High-risk rate",
        f"{(int(totals['risky']) / merged if merged else 0):.0%}",
        "of merged PRs",
    )
    add_card(v, "features_merged", "Features merged", sum(int(r[5]) for r in trend))
    coauthored, co_lines = reads.coauthored_commits(store, user, first, end, repo)
    add_card(
        v,
        "coauthored_commits",
        "Co-authored commits",
        coauthored,
        f"{co_lines} lines; others' commits crediting them",
    )
    add_table(
        v,
        "trend",
        "By day",
        ["day", "submitted", "merged", "lines_changed", "high_risk", "features"],
        trend,
    )
    add_chart(v, "trend", "bar", "day", ["submitted", "merged", "high_risk", "features"])
    owned = store.query(
        "SELECT file_path, repo_name, ownership_pct, lines_owned, total_lines "
        "FROM author_file_ownership WHERE end_date = ? AND window_days = ? AND username = ?"
        f"{rsql} ORDER BY lines_owned DESC, file_path LIMIT 20",
        [end, window, user, *rparams],
    )
    add_table(
        v,
        "ownership",
        "File ownership (top 20 files by lines owned)",
        ["file", "repository", "share", "lines_owned", "total_lines"],
        owned,
        empty="No files owned in this window.",
    )
    if owned:
        label = "file" if repo else ["repository", "file"]
        add_chart(v, "ownership", "hbar", label, ["share"], title="File ownership: share (%)")
    prs = store.query(
        "SELECT repo_name, pr_number, title, risk_score, high_risk, is_merged, created_at, "
        "merged_at, pr_summary FROM author_prs_window "
        f"WHERE end_date = ? AND window_days = ? AND username = ?{rsql} "
        "ORDER BY risk_score DESC, created_at DESC LIMIT ?",
        [end, window, user, *rparams, PR_LIMIT],
    )
    reasons = risk_reasons(store, [(r[0], r[1]) for r in prs if r[4]][:REASONS_LIMIT])
    add_table(
        v,
        "prs",
        f"Pull requests in the window (riskiest first, up to {PR_LIMIT}; risk reasons of the "
        f"{REASONS_LIMIT} riskiest)",
        [
            "repository",
            "pr",
            "title",
            "risk_score",
            "high_risk",
            "merged",
            "created_at",
            "merged_at",
            "risk_reasons",
            "summary",
        ],
        [[*r[:8], reasons.get((r[0], r[1])), r[8]] for r in prs],
    )
    return v


def risk_reasons(store: Store, keys: list[tuple[str, int]]) -> dict[tuple[str, int], Any]:
    """``risk_reasons`` of a few PRs by primary key: their rows are scattered through
    ``repo_prs``, where a join would read every row group."""
    if not keys:
        return {}
    rows = store.query(
        "SELECT repo_name, pr_number, risk_reasons FROM repo_prs WHERE "
        + " OR ".join(["(repo_name = ? AND pr_number = ?)"] * len(keys)),
        [x for key in keys for x in key],
    )
    return {(r[0], r[1]): parse_json(r[2]) for r in rows}


def _group_sql() -> str:
    """A merged PR's group: a feature as ``analyze`` decided (``pr_facts.is_feature``, by the
    threshold it ran with), else a fix by its labels and title, else other."""
    labels = "lower(CAST(r.labels_full AS VARCHAR))"
    title = "lower(r.title)"
    return (
        "CASE WHEN COALESCE(f.is_feature, FALSE) THEN 'feature' "
        f"WHEN {labels} LIKE '%bug%' OR {labels} LIKE '%fix%' OR {title} LIKE 'fix%' "
        f"OR {title} LIKE '%bug%' OR {title} LIKE '%hotfix%' OR {title} LIKE 'revert%' "
        "THEN 'fix' ELSE 'other' END"
    )


def what_shipped(
    store: Store, params: Mapping[str, str], now: datetime | None = None
) -> dict[str, Any]:
    v = view("what-shipped", "What Shipped", "Merged pull requests, features first")
    repos = repo_options(store)
    repo = _repo(params, repos)
    days = choice(params, "days", WINDOWS, 30)
    add_filter(v, "repo", "Repository", repo, repos)
    add_filter(v, "days", "Period", days, [(w, f"last {w} days") for w in WINDOWS])
    end = (now or datetime.now(UTC)).date()
    since = datetime.combine(end - timedelta(days=days - 1), datetime.min.time(), UTC)
    v["subtitle"] = f"{repo or 'All repositories'} · merged since {since.date().isoformat()}"
    rsql, rparams = _repo_sql(repo)
    base = (  # pr_facts filtered by the period too: the join then reads only its rows
        "FROM repo_prs r LEFT JOIN pr_facts f ON f.repo_name = r.repo_name "
        "AND f.pr_number = r.pr_number AND f.merged_at >= ? "
        f"WHERE r.is_merged AND r.merged_at >= ?{_repo_sql(repo, 'r.repo_name')[0]}"
    )
    group = _group_sql()
    weekly = store.query(
        f"SELECT {_sql.utc_week('r.merged_at')} AS week, "
        f"sum(CASE WHEN {group} = 'feature' THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {group} = 'fix' THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN {group} = 'other' THEN 1 ELSE 0 END), "
        f"sum(CASE WHEN r.high_risk THEN 1 ELSE 0 END) {base} GROUP BY week ORDER BY week",
        [since, since, *rparams],
    )
    counts = {
        key: sum(int(w[i + 1]) for w in weekly) for i, key in enumerate(("feature", "fix", "other"))
    }
    if not weekly:
        any_prs = store.query(
            f"SELECT count(*) FROM (SELECT 1 FROM repo_prs WHERE 1 = 1{rsql} LIMIT 1) x", rparams
        )[0][0]
        if not any_prs and not repo:
            set_empty(v, "Nothing analysed yet", NO_ANALYTICS)
        elif not any_prs:
            set_empty(
                v,
                f"{repo} has no pull requests",
                "Its history came from git alone: collect it from its forge "
                "(`forgelens collect github:owner/repo`), then run `forgelens analyze all`.",
            )
        else:
            where = repo or "these repositories"
            set_empty(
                v,
                f"Nothing merged in {where} in the last {days} days",
                "Pick a longer period or another repository; collect again "
                "(`forgelens collect ...`) and run `forgelens analyze all` if PRs were merged "
                "since the last collection.",
            )
        return v
    for key, label in (("feature", "Features"), ("fix", "Fixes"), ("other", "Other")):
        add_card(v, GROUPS[key], label, counts[key])
    add_card(v, "merged", "Merged PRs", sum(counts.values()))
    add_card(v, "high_risk", "High-risk merged", sum(int(w[4]) for w in weekly))
    add_table(
        v,
        "weekly",
        "Shipped per week",
        ["week", "features", "fixes", "other"],
        [w[:4] for w in weekly],
    )
    add_chart(v, "weekly", "bar", "week", ["features", "fixes", "other"], stacked=True)
    prs = store.query(
        f"SELECT r.repo_name, r.pr_number, {group} AS g, r.title, r.author, r.merged_at, "
        "r.risk_score, r.high_risk, r.risk_reasons, r.top_risky_files, r.feature_rule, "
        f"r.feature_confidence, r.labels_full, r.pr_summary {base} "
        "ORDER BY r.high_risk DESC, r.risk_score DESC, r.merged_at DESC LIMIT ?",
        [since, since, *rparams, SHIPPED_LIMIT],
    )
    columns = [
        "repository",
        "pr",
        "group",
        "title",
        "author",
        "merged_at",
        "risk_score",
        "high_risk",
        "risk_reasons",
        "top_risky_files",
        "feature_rule",
        "feature_confidence",
        "labels",
        "summary",
    ]
    rows = [
        [*r[:8], parse_json(r[8]), parse_json(r[9]), r[10], r[11], _labels(r[12]), r[13]]
        for r in prs
    ]
    for key, title in (("feature", "Features"), ("fix", "Fixes"), ("other", "Other")):
        add_table(
            v,
            GROUPS[key],
            f"{title} (high-risk first; the {SHIPPED_LIMIT} riskiest PRs of the period)",
            columns,
            [r for r in rows if r[2] == key],
        )
    return v


def _labels(raw: Any) -> list[str]:
    labels = parse_json(raw) or []
    out = []
    for label in labels if isinstance(labels, list) else []:
        out.append(str(label.get("name", label)) if isinstance(label, dict) else str(label))
    return out
