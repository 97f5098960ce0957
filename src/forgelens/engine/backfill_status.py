"""``forgelens backfill status``: the seed's monitoring queries -- active backfills with
progress and ETA, recent failed chunks, paused repositories."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from forgelens.store import Store

ACTIVE_SQL = """
SELECT s.repository_id AS repository,
       CAST(s.processed_prs AS VARCHAR) || '/' || CAST(s.total_prs AS VARCHAR) AS progress,
       ROUND(CAST(s.processed_prs AS DOUBLE) * 100 / NULLIF(s.total_prs, 0), 2) AS percentage,
       s.status, s.chunk_size, s.next_chunk_number - 1 AS chunks, s.updated_at
FROM backfill_state s
WHERE s.status = 'active'
ORDER BY s.updated_at DESC
"""

FAILED_SQL = """
SELECT repository_id AS repository, chunk_number, status, error, started_at
FROM backfill_chunks
WHERE status = 'failed'
ORDER BY started_at DESC
LIMIT 10
"""

PAUSED_SQL = """
SELECT repository_id AS repository, status, pause_reason, resume_at, consecutive_errors,
       CAST(processed_prs AS VARCHAR) || '/' || CAST(total_prs AS VARCHAR) AS progress
FROM backfill_state
WHERE status IN ('paused', 'graphql_rate_limit_low')
ORDER BY updated_at DESC
"""

RATE_SQL = """
SELECT sum(prs_processed), min(started_at), max(completed_at)
FROM backfill_chunks
WHERE repository_id = ? AND status = 'completed' AND completed_at >= ?
"""


def eta(store: Store, row: dict[str, Any], now: datetime) -> str | None:
    """Time to 100% at the pace of the last day's chunks (None without a pace yet)."""
    done, total = row["progress"].split("/")  # "processed/total", as the status shows it
    remaining = max(0, int(total) - int(done))
    prs, first, last = store.query(RATE_SQL, [row["repository"], now - timedelta(days=1)])[0]
    if not prs or first is None or last is None or last <= first:
        return None
    per_second = float(prs) / (last - first).total_seconds()
    return f"{timedelta(seconds=round(remaining / per_second))}" if per_second > 0 else None


def backfill_status(store: Store, now: datetime) -> dict[str, list[dict[str, Any]]]:
    active = store.query_dicts(ACTIVE_SQL)
    for row in active:
        row["eta"] = eta(store, row, now)
    return {
        "active": active,
        "failed_chunks": store.query_dicts(FAILED_SQL),
        "paused": store.query_dicts(PAUSED_SQL),
    }
