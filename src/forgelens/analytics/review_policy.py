"""Review policy: PRs merged into a protected branch against its rules.

A branch is protected when ``branch_protections`` has a row for it requiring approvals
(``required_approvals >= 1``) or status checks. A merged PR into it violates the policy when:

- ``fewer_approvals``: fewer distinct approvers other than its author (up to the merge) than
  required;
- ``self_approved``: its author approved it (possible on GitLab / Bitbucket);
- ``agent_owner_approved``: an agent PR (``pr_facts.ai_agent``) approved by the human behind it
  (its owner, ``ai_attribution``): as GitHub rules for Copilot's PRs, that approval is no
  approval (it is left out of ``approvals``) and is reported apart from ``self_approved``;
- ``failing_checks``: for a required check, the latest CI run of that name on the PR's head
  branch started before the merge did not conclude success, neutral or skipped.

``review_policy_violations`` lists the violating PRs; ``review_policy_weekly`` counts per
repository and week (Monday, UTC, of the merge).
"""

from __future__ import annotations

from forgelens.analytics._ctx import DIRTY, DIRTY_WEEKS, Ctx
from forgelens.store import sql as _sql

OK_CONCLUSIONS = "('success', 'neutral', 'skipped')"


def write_review_policy(ctx: Ctx) -> None:
    store = ctx.store
    checks_text = "CAST(bp.required_checks AS VARCHAR)"
    protected = (
        f"(COALESCE(bp.required_approvals, 0) >= 1 OR "
        f"COALESCE({checks_text}, '[]') NOT IN ('[]', 'null'))"
    )
    candidates = f"""
        SELECT f.repo_name AS repo_name, f.pr_number AS pr_number,
            f.repository_id AS repository_id, f.merged_week AS merged_week,
            f.base_ref AS base_ref, f.username AS username, f.merged_at AS merged_at,
            COALESCE(bp.required_approvals, 0) AS required, f.approvals AS approvals,
            f.self_approved AND NOT COALESCE(f.ai_agent, FALSE) AS self_approved,
            f.self_approved AND COALESCE(f.ai_agent, FALSE) AS owner_approved,
            {checks_text} AS checks, p.head_ref AS head_ref
        FROM pr_facts f
        JOIN {DIRTY} d ON d.repo_name = f.repo_name AND d.number = f.pr_number
        JOIN pull_requests p ON p.repository_id = f.repository_id AND p.number = f.pr_number
        JOIN branch_protections bp
          ON bp.repository_id = f.repository_id AND bp.branch = f.base_ref
        WHERE f.is_merged AND {protected}
    """
    # The candidates are read twice (their failing checks, then themselves): computed once.
    c_cte = _sql.materialized(store, "c", candidates)
    c = _sql.materialized_name(store, "c")
    failing = f"""
        SELECT repo_name, pr_number,
            '[' || {_sql.string_agg(store, _sql.json_str("name", store), ",", "name")} || ']'
                AS failing
        FROM (
            SELECT c.repo_name AS repo_name, c.pr_number AS pr_number, cr.name AS name,
                cr.conclusion AS conclusion,
                row_number() OVER (PARTITION BY c.repo_name, c.pr_number, cr.name
                                   ORDER BY cr.created_at DESC, cr.run_id DESC) AS rn
            FROM {c} c JOIN ci_runs cr
              ON cr.repository_id = c.repository_id AND cr.head_branch = c.head_ref
             AND cr.created_at <= c.merged_at
             AND position('"' || cr.name || '"' IN c.checks) > 0
        ) q
        WHERE rn = 1 AND (conclusion IS NULL OR lower(conclusion) NOT IN {OK_CONCLUSIONS})
        GROUP BY repo_name, pr_number
    """
    with store.transaction():
        t = "review_policy_violations"
        store.execute(
            f"DELETE FROM {t} WHERE "
            + _sql.key_in(
                store, [f"{t}.repo_name", f"{t}.pr_number"], DIRTY, ["repo_name", "number"]
            )
        )
        _sql.insert_select(
            store,
            "review_policy_violations",
            [
                "repo_name",
                "pr_number",
                "week_start",
                "base_ref",
                "author",
                "merged_at",
                "required_approvals",
                "approvals",
                "fewer_approvals",
                "self_approved",
                "failing_checks",
                "agent_owner_approved",
                "updated_at",
                "_version",
                "_source",
            ],
            f"""
            WITH {c_cte} fl AS ({failing})
            SELECT c.repo_name, c.pr_number, c.merged_week, c.base_ref, c.username,
                c.merged_at, c.required, c.approvals, c.approvals < c.required,
                c.self_approved, {_sql.as_json(store, "COALESCE(fl.failing, '[]')")},
                c.owner_approved, {ctx.stamp()}
            FROM {c} c LEFT JOIN fl ON fl.repo_name = c.repo_name AND fl.pr_number = c.pr_number
            WHERE c.approvals < c.required OR c.self_approved OR c.owner_approved
                OR fl.failing IS NOT NULL
            """,
        )
        if c != "c":
            _sql.drop_work_table(store, c)
        t = "review_policy_weekly"
        weeks = ["repo_name", "week_start"]
        store.execute(
            f"DELETE FROM {t} WHERE "
            + _sql.key_in(store, [f"{t}.repo_name", f"{t}.week_start"], DIRTY_WEEKS, weeks)
        )
        _sql.insert_select(
            store,
            "review_policy_weekly",
            [
                "repo_name",
                "week_start",
                "prs_merged_protected",
                "violations",
                "fewer_approvals",
                "self_approved",
                "failing_checks",
                "agent_owner_approved",
                "updated_at",
                "_version",
                "_source",
            ],
            f"""
            SELECT f.repo_name, f.merged_week, count(*), count(v.pr_number),
                count(*) FILTER (WHERE v.fewer_approvals),
                count(*) FILTER (WHERE v.self_approved),
                count(*) FILTER (WHERE CAST(v.failing_checks AS VARCHAR) <> '[]'),
                count(*) FILTER (WHERE v.agent_owner_approved),
                {ctx.stamp()}
            FROM pr_facts f
            JOIN branch_protections bp
              ON bp.repository_id = f.repository_id AND bp.branch = f.base_ref
            LEFT JOIN review_policy_violations v
              ON v.repo_name = f.repo_name AND v.pr_number = f.pr_number
            WHERE f.is_merged AND {protected}
              AND {_sql.key_in(store, ["f.repo_name", "f.merged_week"], DIRTY_WEEKS, weeks)}
            GROUP BY f.repo_name, f.merged_week
            """,
        )
