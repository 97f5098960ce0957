"""What Shipped: ``repo_prs`` (seed 002) and our ``pr_facts``, one row per PR, upserted."""

from __future__ import annotations

from datetime import UTC, datetime, time

from forgelens.analytics._ctx import DIRTY, DIRTY_DAYS, PR, REV, RISK, Ctx
from forgelens.store import sql as _sql

REPO_PRS_COLUMNS = [
    "repo_name",
    "pr_number",
    "title",
    "pr_summary",
    "author",
    "created_at",
    "merged_at",
    "is_merged",
    "additions",
    "deletions",
    "changed_files",
    "labels_full",
    "feature_rule",
    "feature_confidence",
    "risk_score",
    "high_risk",
    "risk_reasons",
    "top_risky_files",
    "updated_at",
    "_version",
    "_source",
]

PR_FACTS_COLUMNS = [
    "repo_name",
    "pr_number",
    "repository_id",
    "pr_id",
    "username",
    "counted",
    "created_at",
    "merged_at",
    "is_merged",
    "created_day",
    "merged_day",
    "merged_week",
    "lines_changed",
    "base_ref",
    "first_commit_at",
    "first_review_at",
    "last_review_at",
    "reviewed",
    "review_rounds",
    "approvals",
    "self_approved",
    "risk_score",
    "high_risk",
    "low_ownership",
    "is_feature",
    "content_hash",
    "linked_issue",
    "n_files",
    "ai_agent",
    "_version",
    "_source",
]

# The risk rows (long texts: reasons, top files, summary) are read through, the PR rows joined
# to them: ClickHouse holds a join's right side whole (at 1M PRs RISK there took 2.8 GB).
_JOINS = f"""
    FROM {RISK} k
    JOIN {PR} b ON b.pk = k.pk
    LEFT JOIN {REV} rv ON rv.pk = b.pk
"""


def _match(ctx: Ctx) -> str:
    """The rows of ``{t}`` (a target table) of the dirty PRs."""
    return _sql.key_in(
        ctx.store, ["{t}.repo_name", "{t}.pr_number"], DIRTY, ["repo_name", "number"]
    )


def write_what_shipped(ctx: Ctx) -> int:
    """Upsert ``repo_prs`` and ``pr_facts`` for every dirty PR; return the PR count."""
    store = ctx.store

    def j(expr: str) -> str:
        return _sql.as_json(store, expr)

    # The dirty PRs' first day (old or new row) bounds the rows to replace: a cheap filter
    # before the key match, for the common case of recent PRs in a large table.
    first = store.query(f"SELECT min(day) FROM {DIRTY_DAYS}")[0][0]
    match = _match(ctx)
    if first is not None:
        since = _sql.timestamp(store, datetime.combine(first, time(), UTC))
        match = f"{{t}}.created_at >= {since} AND {match}"
    with store.transaction():
        _sql.replace_select(
            store,
            "repo_prs",
            REPO_PRS_COLUMNS,
            f"""
            SELECT b.repo_name, b.pr_number, b.title, k.pr_summary, b.username, b.created_at,
                b.merged_at, b.is_merged, b.additions, b.deletions, b.changed_files,
                {j("CAST(b.labels AS VARCHAR)")}, k.feature_rule, k.feature_confidence,
                k.risk_score, k.high_risk, {j("k.risk_reasons")}, {j("k.top_risky_files")},
                {ctx.stamp()}
            {_JOINS}
            """,
            match,
        )
        _sql.replace_select(
            store,
            "pr_facts",
            PR_FACTS_COLUMNS,
            f"""
            SELECT b.repo_name, b.pr_number, b.repository_id, b.pr_id, b.username, b.counted,
                b.created_at, b.merged_at, b.is_merged, b.created_day, b.merged_day,
                b.merged_week, b.additions + b.deletions, b.base_ref,
                CASE WHEN b.first_commit_at < b.created_at THEN b.first_commit_at
                     ELSE b.created_at END,
                rv.first_review_at, rv.last_review_at, COALESCE(rv.reviews, 0) > 0,
                CASE WHEN COALESCE(rv.reviews, 0) > 0 THEN 1 + rv.changes_requested ELSE 0 END,
                COALESCE(rv.approvals, 0), COALESCE(rv.self_approved, FALSE),
                k.risk_score, k.high_risk, k.low_own, k.is_feature, k.content_hash,
                k.linked_issue, b.n_files, b.ai_agent, {ctx.version}, 'analytics'
            {_JOINS}
            """,
            match,
        )
    return ctx.count(PR)
