"""``/ai-impact``: AI-assisted work, from ``ai_impact_weekly`` and ``ai_attribution``
(``forgelens analyze ai``; rules in docs/metrics.md "AI-assisted work").

A scope (repository, team or author) over the last weeks: the share of PRs and commits with AI
evidence (a lower bound), the AI PRs per tool each week, AI vs other PRs side by side, and the
AI PRs with the evidence that decided each (``pr`` = ``owner/repo#number`` shows one PR's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

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
KINDS = {"repository": "Repository", "team": "Team", "author": "Engineer"}
PR_LIMIT = 200
LOWER_BOUND = "a lower bound: work that left no AI marker counts as other"
COMPARED = (
    ("cycle_hours_p50", "cycle time p50 (h)"),
    ("coding_hours_p50", "coding p50 (h)"),
    ("pickup_hours_p50", "pickup p50 (h)"),
    ("review_hours_p50", "review p50 (h)"),
    ("merge_hours_p50", "merge p50 (h)"),
    ("size_p50", "size p50 (lines)"),
    ("review_rounds_avg", "review rounds (avg)"),
    ("risk_avg", "risk score (avg)"),
    ("revert_rate", "reverted within 30 days"),
    ("rework_rate", "reworked within 21 days"),
    ("change_fail_rate", "change fail rate"),
)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def ai_impact(store: Store, params: Mapping[str, str]) -> dict[str, Any]:
    v = view("ai-impact", "AI impact", "AI-assisted work and how it compares")
    kind = params.get("kind", "repository")
    kind = kind if kind in KINDS else "repository"
    scopes = [
        r[0]
        for r in store.query(
            "SELECT scope, sum(prs_merged) AS n FROM ai_impact_weekly WHERE scope_kind = ? "
            "GROUP BY scope ORDER BY n DESC, scope LIMIT 1000",
            [kind],
        )
    ]
    scope = params.get("scope") or params.get("repo") or ""
    scope = scope if scope in scopes else (scopes[0] if scopes else "")
    weeks = choice(params, "weeks", WEEKS, 12)
    add_filter(v, "kind", "Per", kind, list(KINDS.items()))
    add_filter(v, "scope", KINDS[kind], scope, [(s, s) for s in scopes])
    add_filter(v, "weeks", "Weeks", weeks, [(w, f"last {w} weeks") for w in WEEKS])
    if not scopes:
        set_empty(
            v,
            "No AI-assisted work analysed yet",
            "Collect repositories, then run `forgelens analyze all` (or `forgelens analyze ai`) "
            "and reload this page.",
        )
        return v
    latest = store.query(
        "SELECT max(week_start) FROM ai_impact_weekly WHERE scope_kind = ? AND scope = ?",
        [kind, scope],
    )[0][0]
    first = latest - timedelta(weeks=weeks - 1)
    v["subtitle"] = f"{scope} · last {weeks} weeks (Monday, UTC) · every share is {LOWER_BOUND}"
    rows = store.query_dicts(
        "SELECT * FROM ai_impact_weekly WHERE scope_kind = ? AND scope = ? AND week_start >= ? "
        "ORDER BY week_start",
        [kind, scope, first],
    )
    total = {
        k: sum(int(r[k] or 0) for r in rows)
        for k in (
            "prs_merged",
            "ai_prs",
            "ai_prs_assistant",
            "ai_prs_agent",
            "commits",
            "ai_commits",
            "lines_changed",
            "ai_lines_changed",
        )
    }
    add_card(
        v,
        "ai_pr_share",
        "PRs with AI evidence",
        _share(total["ai_prs"], total["prs_merged"]),
        f"{total['ai_prs']} of {total['prs_merged']} merged (lower bound)",
    )
    add_card(
        v,
        "ai_commit_share",
        "Commits with AI evidence",
        _share(total["ai_commits"], total["commits"]),
        f"{total['ai_commits']} of {total['commits']} (lower bound)",
    )
    add_card(
        v,
        "ai_line_share",
        "Lines in AI PRs",
        _share(total["ai_lines_changed"], total["lines_changed"]),
        "of lines changed",
    )
    add_card(v, "ai_prs_agent", "Agent PRs", total["ai_prs_agent"], "autonomous agents")
    add_card(
        v, "ai_prs_assistant", "Assisted PRs", total["ai_prs_assistant"], "assistant co-authored"
    )
    tools = sorted({t for r in rows for t in (parse_json(r["ai_tools"]) or {})})
    trend = []
    for r in rows:
        per_tool = parse_json(r["ai_tools"]) or {}
        merged = int(r["prs_merged"] or 0)
        trend.append(
            [
                r["week_start"],
                merged,
                r["ai_pr_share"],
                *(round(int(per_tool.get(t, 0)) / merged, 4) if merged else 0 for t in tools),
            ]
        )
    add_table(
        v,
        "trend",
        "Share of merged PRs with AI evidence, by tool",
        ["week", "prs_merged", "ai_share", *tools],
        trend,
    )
    if tools:
        add_chart(v, "trend", "bar", "week", tools, stacked=True)
    latest_row = rows[-1] if rows else {}
    add_table(
        v,
        "comparison",
        f"AI-assisted vs other PRs (week of {latest.isoformat()}; every week in the CSV)",
        ["metric", "ai", "other"],
        [[label, latest_row.get(f"ai_{k}"), latest_row.get(f"other_{k}")] for k, label in COMPARED],
    )
    _evidence(store, v, kind, scope, first, params.get("pr", ""))
    return v


def _evidence(
    store: Store, v: dict[str, Any], kind: str, scope: str, first: Any, wanted: str
) -> None:
    """The AI PRs of the scope with their evidence; ``wanted`` (``repo#number``) first."""
    cond = {"repository": "r.full_name = ?", "author": "COALESCE(a.owner, a.author) = ?"}
    where, args = (cond[kind], [scope]) if kind in cond else ("1 = 1", [])
    rows = store.query(
        "SELECT r.full_name || '#' || CAST(a.pr_number AS VARCHAR), p.title, a.tool, a.mode, "
        "a.confidence, a.evidence_kind, a.evidence, a.owner "
        "FROM ai_attribution a JOIN repositories r ON r.id = a.repository_id "
        "JOIN pull_requests p ON p.repository_id = a.repository_id AND p.number = a.pr_number "
        f"WHERE a.kind = 'pr' AND a.at >= ? AND {where} ORDER BY a.at DESC LIMIT {PR_LIMIT}",
        [first, *args],
    )
    if wanted and "#" in wanted:
        repo, _, number = wanted.rpartition("#")
        if number.isdigit():
            one = store.query(
                "SELECT r.full_name || '#' || CAST(a.pr_number AS VARCHAR), p.title, a.tool, "
                "a.mode, a.confidence, a.evidence_kind, a.evidence, a.owner "
                "FROM ai_attribution a JOIN repositories r ON r.id = a.repository_id "
                "JOIN pull_requests p ON p.repository_id = a.repository_id "
                "AND p.number = a.pr_number WHERE a.kind = 'pr' AND r.full_name = ? "
                "AND a.pr_number = ?",
                [repo, int(number)],
            )
            rows = [*one, *(r for r in rows if r[0] != wanted)] if one else rows
            if not one:
                add_card(v, "pr_evidence", wanted, "no AI evidence", LOWER_BOUND)
    add_table(
        v,
        "prs",
        f"AI PRs and the evidence that decided (latest {PR_LIMIT})",
        ["pr", "title", "tool", "mode", "confidence", "evidence_kind", "evidence", "owner"],
        rows,
        empty="No PR with AI evidence in these weeks.",
    )
