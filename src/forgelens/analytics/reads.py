"""Reads of the tables ``analyze`` writes, for the dashboards, the HTML report and the API.

Each figure is selected here once, so every page that shows it shows the same number; the
columns of a table come from its ``TableSpec`` (``store/schema_analytics.py``), so a column
added there reaches every reader. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from forgelens.store import Store
from forgelens.store import sql as _sql
from forgelens.store.schema import TABLES

STAMPS = ("updated_at", "_version", "_source")


def columns(table: str, *leave_out: str) -> list[str]:
    """The columns of an analytics table a reader shows: all but the write stamps."""
    return [c for c in TABLES[table].column_names if c not in (*STAMPS, *leave_out)]


def analysed_repos(store: Store) -> list[str]:
    """Repositories ``analyze`` has run over, by name."""
    rows = store.query("SELECT DISTINCT repo_name FROM analytics_state ORDER BY repo_name")
    return [r[0] for r in rows]


def analysis_stamp(store: Store) -> tuple[Any, ...]:
    """(latest ``analyzed_at``, rows of ``analytics_state``): changes with every ``analyze``."""
    return tuple(store.query("SELECT max(analyzed_at), count(*) FROM analytics_state")[0])


def delivery_scopes(store: Store) -> list[tuple[str, str, int]]:
    """``(repo_name, team, PRs merged)`` of every delivery scope: a repository (team ``*``)
    or a team (repo_name ``*``); teams first, then by PRs merged (at most 1,000)."""
    rows = store.query(
        "SELECT repo_name, team, sum(prs_merged) AS n FROM delivery_metrics_weekly "
        "GROUP BY repo_name, team ORDER BY (team <> '*'), n DESC, repo_name, team LIMIT 1000"
    )
    return [(r[0], r[1], int(r[2] or 0)) for r in rows]


def delivery_weeks(
    store: Store, repo_name: str, team: str, weeks: int
) -> tuple[date | None, list[dict[str, Any]]]:
    """The first week of the latest ``weeks`` of a scope (``None`` without data) and its
    ``delivery_metrics_weekly`` rows since then, oldest first."""
    latest = store.query(
        "SELECT max(week_start) FROM delivery_metrics_weekly WHERE repo_name = ? AND team = ?",
        [repo_name, team],
    )[0][0]
    if latest is None:
        return None, []
    first: date = latest - timedelta(weeks=weeks - 1)
    cols = ", ".join(columns("delivery_metrics_weekly"))
    rows = store.query_dicts(
        f"SELECT {cols} FROM delivery_metrics_weekly WHERE repo_name = ? AND team = ? "
        "AND week_start >= ? ORDER BY week_start",
        [repo_name, team, first],
    )
    return first, rows


def review_policy_weeks(store: Store, repo_name: str, since: date) -> list[dict[str, Any]]:
    """``review_policy_weekly`` rows of a repository from the week ``since``, oldest first."""
    cols = ", ".join(columns("review_policy_weekly"))
    return store.query_dicts(
        f"SELECT {cols} FROM review_policy_weekly WHERE repo_name = ? AND week_start >= ? "
        "ORDER BY week_start",
        [repo_name, since],
    )


def review_policy_violations(
    store: Store, repo_name: str, since: date, limit: int = 100
) -> list[dict[str, Any]]:
    """The latest ``limit`` violating PRs of a repository merged from the week ``since``,
    newest first (``failing_checks`` as stored: JSON text)."""
    cols = ", ".join(columns("review_policy_violations", "repo_name"))
    return store.query_dicts(
        f"SELECT {cols} FROM review_policy_violations WHERE repo_name = ? AND week_start >= ? "
        "ORDER BY merged_at DESC, pr_number DESC LIMIT ?",
        [repo_name, since, limit],
    )


def coauthored_commits(
    store: Store, username: str, first: date, last: date, repo_name: str = ""
) -> tuple[int, int]:
    """(commits, lines) ``username`` co-authored from day ``first`` to ``last`` (UTC), in one
    repository or all: the non-merge commits whose ``Co-authored-by`` trailer's address is
    theirs in the identity map, authored by someone else (docs/metrics.md, Engineer Lens)."""
    day = _sql.utc_day("c.authored_at", store)
    repo = " AND r.full_name = ?" if repo_name else ""
    found = store.query(
        f"""
        SELECT count(*), COALESCE(sum(lines), 0) FROM (
            SELECT DISTINCT c.repository_id, c.sha,
                COALESCE(c.additions, 0) + COALESCE(c.deletions, 0) AS lines
            FROM commit_coauthors ca
            JOIN analytics_identity_map m ON m.alias = 'email:' || lower(trim(ca.email))
            JOIN commits c ON c.repository_id = ca.repository_id AND c.sha = ca.sha
            JOIN repositories r ON r.id = c.repository_id
            LEFT JOIN analytics_identity_map am
              ON am.alias = 'email:' || lower(trim(c.author_email))
            WHERE m.username = ? AND NOT COALESCE(c.is_merge, FALSE)
              AND {day} >= ? AND {day} <= ?{repo} AND COALESCE(am.username, '') <> ?
        ) q
        """,
        [username, first, last, *([repo_name] if repo_name else []), username],
    )
    return int(found[0][0]), int(found[0][1])
