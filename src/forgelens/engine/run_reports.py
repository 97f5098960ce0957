"""Monitoring and efficiency queries over ``git_collection_runs`` (seed 000): the CLI's
``forgelens runs``, ``GET /api/v1/runs`` and the ``/runs`` dashboard all read these."""

from __future__ import annotations

from typing import Any

from forgelens.store import Store
from forgelens.store import sql as _sql


def _duration(store: Store) -> str:
    """Seconds from start to completion (NULL while running)."""
    return f"({_sql.epoch('completed_at', store)} - {_sql.epoch('started_at', store)})"


def recent_runs(
    store: Store, limit: int = 20, data_source: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    where, params = ["1 = 1"], []
    if data_source:
        where.append("data_source = ?")
        params.append(data_source)
    if status:
        where.append("status = ?")
        params.append(status)
    return store.query_dicts(
        f"""
        SELECT run_id, data_source, status, started_at, completed_at,
               {_duration(store)} AS duration_s,
               repos_processed, commits_collected, prs_collected, api_calls, errors,
               api_calls * 1.0 / NULLIF(prs_collected, 0) AS api_calls_per_pr,
               failure_reason
        FROM git_collection_runs
        WHERE {" AND ".join(where)}
        ORDER BY started_at DESC
        LIMIT ?
        """,
        [*params, int(limit)],
    )


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM git_collection_runs WHERE run_id = ?", [run_id])
    return rows[0] if rows else None


def run_stats(store: Store) -> list[dict[str, Any]]:
    """Per data source: runs, success rate, commits per run, API calls per PR, durations."""
    return store.query_dicts(
        f"""
        SELECT data_source,
               COUNT(*) AS total_runs,
               SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS completed,
               SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
               SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END) AS running,
               AVG(CASE WHEN status = 'completed' THEN 1.0 ELSE 0.0 END)
                   FILTER (WHERE status <> 'running') AS success_rate,
               AVG(commits_collected) AS commits_per_run,
               AVG(prs_collected) AS prs_per_run,
               SUM(api_calls) * 1.0 / NULLIF(SUM(prs_collected), 0) AS api_calls_per_pr,
               AVG({_duration(store)}) AS avg_duration_s,
               MAX({_duration(store)}) AS max_duration_s,
               SUM(errors) AS errors
        FROM git_collection_runs
        GROUP BY data_source
        ORDER BY data_source
        """
    )
