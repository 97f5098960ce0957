"""Reads of the DORA tables for the ``/dora`` page, the HTML report and the API: each figure is
selected here once (definitions: ``docs/metrics.md``, "DORA"). The page shows the repository
rows (``team = '*'``); the per-team rows are in the tables for queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from forgelens.store import Store


def scopes(store: Store) -> list[tuple[str, str, int]]:
    """(repo_name, environment, deployments) with DORA rows, busiest first."""
    rows = store.query(
        "SELECT repo_name, environment, sum(deployments) AS n FROM dora_metrics_monthly "
        "WHERE team = '*' GROUP BY repo_name, environment "
        "ORDER BY n DESC, repo_name, environment LIMIT 2000"
    )
    return [(str(r), str(e), int(n or 0)) for r, e, n in rows]


def latest_month(store: Store, repo: str, env: str) -> dict[str, Any] | None:
    rows = store.query_dicts(
        "SELECT * FROM dora_metrics_monthly WHERE repo_name = ? AND environment = ? "
        "AND team = '*' ORDER BY month_start DESC LIMIT 1",
        [repo, env],
    )
    return rows[0] if rows else None


def weeks(store: Store, repo: str, env: str, count: int) -> list[dict[str, Any]]:
    """The last ``count`` weeks' rows (weeks without a deployment have none)."""
    latest = store.query(
        "SELECT max(week_start) FROM dora_metrics_weekly WHERE repo_name = ? AND environment = ? "
        "AND team = '*'",
        [repo, env],
    )[0][0]
    if latest is None:
        return []
    return store.query_dicts(
        "SELECT * FROM dora_metrics_weekly WHERE repo_name = ? AND environment = ? "
        "AND team = '*' AND week_start >= ? ORDER BY week_start",
        [repo, env, latest - timedelta(weeks=count - 1)],
    )


def deployments(store: Store, repo: str, env: str, limit: int) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT deployment_id, deployed_at, sha, status, baseline, changes, lead_time_hours_p50, "
        "failed, failure_kinds, unplanned_kinds, recovery_hours, counted, duplicate_of "
        "FROM dora_deployments WHERE repo_name = ? AND environment = ? "
        "ORDER BY deployed_at DESC, deployment_id LIMIT ?",
        [repo, env, limit],
    )


def failures(store: Store, repo: str, env: str, limit: int = 200) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT f.deployment_id, f.kind, f.evidence_id, f.evidence, f.link, f.detected_at "
        "FROM change_failures f JOIN dora_deployments d ON d.repository_id = f.repository_id "
        "AND d.deployment_id = f.deployment_id WHERE d.repo_name = ? AND f.environment = ? "
        "ORDER BY f.detected_at DESC LIMIT ?",
        [repo, env, limit],
    )


def shipped_commits(
    store: Store, repo: str, dep_id: str, limit: int = 500
) -> list[tuple[Any, ...]]:
    """(sha, committed_at, lead_time_hours, author, message) of one deployment's commits."""
    return store.query(
        "SELECT dc.sha, dc.committed_at, dc.lead_time_hours, c.author_name, c.message "
        "FROM deployment_commits dc JOIN dora_deployments d ON d.repository_id = dc.repository_id "
        "AND d.deployment_id = dc.deployment_id LEFT JOIN commits c ON c.repository_id = "
        "dc.repository_id AND c.sha = dc.sha WHERE d.repo_name = ? AND dc.deployment_id = ? "
        "ORDER BY dc.committed_at DESC LIMIT ?",
        [repo, dep_id, limit],
    )


def shipped_prs(store: Store, repo: str, dep_id: str) -> list[tuple[Any, ...]]:
    """(number, title, author, merged_at, deployed_at) of the PRs one deployment put in
    production first."""
    return store.query(
        "SELECT pr_number, title, author, merged_at, deployed_at FROM repo_prs "
        "WHERE repo_name = ? AND deployment_id = ? ORDER BY pr_number",
        [repo, dep_id],
    )
