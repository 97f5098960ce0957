"""Tables of AI-assisted work (issue #19; every column defined in docs/metrics.md).

- ``commit_coauthors`` [repository_id, sha, position]: the ``Co-authored-by`` trailers the git
  miner read (``forgelens.trailers``), one row per distinct co-author of a commit, in order.
- ``ai_attribution`` [repository_id, kind, key]: the AI evidence of a commit (key = sha), PR
  (key = number) or review (key = ``<pr number>:<review id>``). Only keys with evidence have
  a row; ``owner`` is the person a PR counts for (the human behind an agent PR).
- ``ai_impact_weekly`` [scope_kind, scope, week_start]: shares and AI-vs-other comparisons
  per repository, team and author.
- ``ai_state`` [name]: the incremental watermark and the rules' digest of ``analyze ai``.
"""

from __future__ import annotations

from dataclasses import replace

from forgelens.store import schema_analytics as _schema_analytics  # noqa: F401  (pr_facts)
from forgelens.store.schema import TABLES, MigrationTarget, _spec, migration, register_table

COMMIT_COAUTHORS = register_table(
    _spec(
        "commit_coauthors",
        ("repository_id", "sha", "position"),
        """
        repository_id text
        sha text
        position int
        name text
        email text
        """,
    )
)

AI_ATTRIBUTION = register_table(
    _spec(
        "ai_attribution",
        ("repository_id", "kind", "key"),
        """
        repository_id text
        kind text
        key text
        pr_number bigint
        tool text
        mode text
        confidence text
        evidence_kind text
        evidence text
        author text
        owner text
        at ts
        updated_at ts
        """,
    )
)

AI_IMPACT_WEEKLY = register_table(
    _spec(
        "ai_impact_weekly",
        ("scope_kind", "scope", "week_start"),
        """
        scope_kind text
        scope text
        week_start date
        prs_merged int
        ai_prs int
        ai_prs_assistant int
        ai_prs_agent int
        ai_pr_share double
        commits int
        ai_commits int
        ai_commit_share double
        lines_changed bigint
        ai_lines_changed bigint
        ai_line_share double
        ai_tools json
        ai_cycle_hours_p50 double
        other_cycle_hours_p50 double
        ai_coding_hours_p50 double
        other_coding_hours_p50 double
        ai_pickup_hours_p50 double
        other_pickup_hours_p50 double
        ai_review_hours_p50 double
        other_review_hours_p50 double
        ai_merge_hours_p50 double
        other_merge_hours_p50 double
        ai_size_p50 double
        other_size_p50 double
        ai_review_rounds_avg double
        other_review_rounds_avg double
        ai_risk_avg double
        other_risk_avg double
        ai_revert_rate double
        other_revert_rate double
        ai_rework_rate double
        other_rework_rate double
        ai_change_fail_rate double
        other_change_fail_rate double
        updated_at ts
        """,
        key_index=False,
    )
)

AI_STATE = register_table(
    _spec(
        "ai_state",
        ("name",),
        """
        name text
        value text
        updated_at ts
        """,
    )
)


@migration("0090_ai_tables")
def _ai_tables(db: MigrationTarget) -> None:
    for spec in (COMMIT_COAUTHORS, AI_ATTRIBUTION, AI_IMPACT_WEEKLY, AI_STATE):
        db.create_table(spec)


# the per-engineer PR rows say which PRs an agent made for the person they count for
AI_AGENT_COLUMN = ("ai_agent", "bool")
AI_AGENT_TABLES = ("pr_facts", "author_prs_window")
for _name in AI_AGENT_TABLES:
    _table = TABLES[_name]
    register_table(replace(_table, columns=(*_table.columns, AI_AGENT_COLUMN)))


@migration("0091_ai_agent_marks")
def _ai_agent_marks(db: MigrationTarget) -> None:
    """``pr_facts.ai_agent`` and ``author_prs_window.ai_agent``."""
    from forgelens.store.sql import add_column_sql

    for name in AI_AGENT_TABLES:
        db.execute(add_column_sql(db.dialect, TABLES[name], AI_AGENT_COLUMN[0]))


# an approval by the human behind an agent PR: a review-policy violation of its own kind
OWNER_APPROVED_COLUMNS = {
    "review_policy_violations": ("agent_owner_approved", "bool"),
    "review_policy_weekly": ("agent_owner_approved", "int"),
}
for _name, _column in OWNER_APPROVED_COLUMNS.items():
    _table = TABLES[_name]
    register_table(replace(_table, columns=(*_table.columns, _column)))


@migration("0092_agent_owner_approvals")
def _agent_owner_approvals(db: MigrationTarget) -> None:
    """``agent_owner_approved`` of ``review_policy_violations`` and ``review_policy_weekly``."""
    from forgelens.store.sql import add_column_sql

    for name, (column, _) in OWNER_APPROVED_COLUMNS.items():
        db.execute(add_column_sql(db.dialect, TABLES[name], column))
