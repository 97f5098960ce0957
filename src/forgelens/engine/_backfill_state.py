"""The SQL of ``backfill_state`` / ``backfill_chunks``: create, claim, finish, fail, pause,
resume and recover -- the one place that writes those tables.

Claim protocol (atomic on DuckDB within a process and on PostgreSQL across processes): one
compare-and-set ``UPDATE ... RETURNING`` takes the repository's lease and bumps
``next_chunk_number`` only when the backfill is ``active`` and no live lease belongs to someone
else; the chunk row is inserted in the same transaction and its primary key
(repository_id, chunk_number) refuses a second row with the same number. On PostgreSQL a
concurrent claimer blocks on the row lock and re-evaluates the condition after the first
commits, so it sees the lease and gets nothing; on DuckDB the store's lock serializes the
transactions. A chunk's data, its ``completed`` status and the advanced cursor commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from forgelens.engine._owner import Owner
from forgelens.errors import BadInput
from forgelens.store import Store

ACTIVE, PAUSED, RATE_LOW, COMPLETED = "active", "paused", "graphql_rate_limit_low", "completed"
STATUSES = (ACTIVE, PAUSED, RATE_LOW, COMPLETED)


def require_compare_and_set(store: Store) -> None:
    """Refuse a store without the claim protocol's compare-and-set ``UPDATE`` (ClickHouse: its
    updates are asynchronous mutations, with no ``RETURNING`` and no row lock)."""
    if not store.capabilities.compare_and_set:
        raise BadInput(
            "backfill needs compare-and-set updates (UPDATE ... WHERE state = ... RETURNING), "
            "which ClickHouse does not have: run it on DuckDB (--db duckdb:///path) or "
            "PostgreSQL (--db postgresql://...), then copy the data to ClickHouse with "
            "`forgelens db copy`"
        )


def worker_id() -> str:
    """``host:pid:start:nonce`` -- who holds a lease (host, PID and process start time let a
    successor on the same host see a killed holder at once instead of waiting for the lease
    to lapse, even when the PID was given to another process since)."""
    me = Owner.me()
    return f"{me.host}:{me.pid}:{me.start or ''}:{uuid.uuid4().hex[:8]}"


def _holder_dead(owner: str | None) -> bool:
    if not owner:
        return True
    parts = owner.split(":")  # host:pid:start:nonce (host:pid:nonce before start times)
    if len(parts) < 2 or not parts[1].isdigit():
        return False
    return Owner(parts[0], int(parts[1]), parts[2] if len(parts) > 3 else None).gone()


@dataclass
class Claim:
    repository_id: str
    chunk_number: int
    cursor: str | None
    size: int
    since: datetime | None = None  # a catch-up pass: PRs updated since then only


def get_state(store: Store, repo_id: str) -> dict[str, Any] | None:
    rows = store.query_dicts("SELECT * FROM backfill_state WHERE repository_id = ?", [repo_id])
    return rows[0] if rows else None


def create_state(store: Store, repo_id: str, total: int, size: int, now: datetime) -> None:
    """A new ``active`` backfill (a concurrent creator's row wins; nothing is overwritten)."""
    store.execute(
        "INSERT INTO backfill_state (repository_id, status, total_prs, processed_prs, "
        "next_chunk_number, chunk_size, clean_chunks, consecutive_errors, pass_started_at, "
        "pass_stored, started_at, updated_at) VALUES (?, ?, ?, 0, 1, ?, 0, 0, ?, 0, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [repo_id, ACTIVE, total, size, now, now, now],
    )


def claim(store: Store, repo_id: str, owner: str, now: datetime, lease: timedelta) -> Claim | None:
    """Allocate the next chunk of ``repo_id`` to ``owner`` (None: not active, or leased)."""
    with store.transaction():
        rows = store.query(
            "UPDATE backfill_state SET next_chunk_number = next_chunk_number + 1, "
            "lease_owner = ?, lease_until = ?, updated_at = ? "
            "WHERE repository_id = ? AND status = ? "
            "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?) "
            "RETURNING next_chunk_number - 1, last_cursor, chunk_size, since_at",
            [owner, now + lease, now, repo_id, ACTIVE, owner, now],
        )
        if not rows:
            return None
        number, cursor, size = int(rows[0][0]), rows[0][1], int(rows[0][2])
        store.execute(
            "INSERT INTO backfill_chunks (repository_id, chunk_number, status, cursor_start, "
            "chunk_size, prs_processed, api_calls, worker, started_at) "
            "VALUES (?, ?, 'processing', ?, ?, 0, 0, ?, ?)",
            [repo_id, number, cursor, size, owner, now],
        )
    return Claim(repo_id, number, cursor, size, rows[0][3])


MORE, DONE, RESTART = "more", "done", "restart"


def finish_chunk(
    store: Store,
    c: Claim,
    owner: str,
    *,
    cursor_end: str | None,
    prs: int,
    api_calls: int,
    run_id: str | None,
    next_size: int,
    now: datetime,
    outcome: str = MORE,
    stored: int = 0,
) -> bool:
    """Mark the chunk completed and advance the state (inside the caller's transaction, with
    the chunk's records). ``outcome``: ``more`` chunks follow; the pass ended and the backfill
    is ``done``; or a catch-up pass follows (``restart``: PRs updated since this pass began,
    which moved ahead of the cursor while it ran; ``stored`` = PRs stored now). False when the
    lease was lost: the caller rolls back."""
    rows = store.query(
        "UPDATE backfill_state SET last_cursor = ?, processed_prs = processed_prs + ?, "
        "consecutive_errors = 0, clean_chunks = clean_chunks + 1, chunk_size = ?, "
        "status = ?, completed_at = ?, last_error = NULL, updated_at = ?, "
        "since_at = CASE WHEN ? THEN pass_started_at ELSE since_at END, "
        "pass_started_at = CASE WHEN ? THEN ? ELSE pass_started_at END, "
        "pass_stored = CASE WHEN ? THEN ? ELSE pass_stored END "
        "WHERE repository_id = ? AND lease_owner = ? RETURNING processed_prs",
        [
            cursor_end if outcome == MORE else None,
            prs,
            next_size,
            COMPLETED if outcome == DONE else ACTIVE,
            now if outcome == DONE else None,
            now,
            outcome == RESTART,
            outcome == RESTART,
            now,
            outcome == RESTART,
            stored,
            c.repository_id,
            owner,
        ],
    )
    if not rows:
        return False
    store.execute(
        "UPDATE backfill_chunks SET status = 'completed', cursor_end = ?, prs_processed = ?, "
        "api_calls = ?, run_id = ?, completed_at = ?, error = NULL "
        "WHERE repository_id = ? AND chunk_number = ?",
        [cursor_end, prs, api_calls, run_id, now, c.repository_id, c.chunk_number],
    )
    return True


def fail_chunk(
    store: Store,
    c: Claim,
    error: str,
    *,
    run_id: str | None,
    api_calls: int,
    next_size: int,
    max_errors: int,
    now: datetime,
) -> dict[str, Any]:
    """Mark the chunk failed, count the error, shrink the chunk size and trip the breaker;
    return the state after (``status`` is ``paused`` once the breaker tripped)."""
    with store.transaction():
        store.execute(
            "UPDATE backfill_chunks SET status = 'failed', error = ?, api_calls = ?, "
            "run_id = ?, completed_at = ? WHERE repository_id = ? AND chunk_number = ?",
            [error[:2000], api_calls, run_id, now, c.repository_id, c.chunk_number],
        )
        store.execute(
            "UPDATE backfill_state SET consecutive_errors = consecutive_errors + 1, "
            "clean_chunks = 0, chunk_size = ?, last_error = ?, updated_at = ? "
            "WHERE repository_id = ?",
            [next_size, error[:2000], now, c.repository_id],
        )
        store.execute(
            "UPDATE backfill_state SET status = ?, pause_reason = ? "
            "WHERE repository_id = ? AND status = ? AND consecutive_errors >= ?",
            [
                PAUSED,
                f"{max_errors} consecutive errors; last: {error[:500]}",
                c.repository_id,
                ACTIVE,
                max_errors,
            ],
        )
    state = get_state(store, c.repository_id)
    assert state is not None
    return state


def pause(
    store: Store, repo_id: str, status: str, reason: str, now: datetime, resume_at: datetime | None
) -> None:
    store.execute(
        "UPDATE backfill_state SET status = ?, pause_reason = ?, resume_at = ?, updated_at = ? "
        "WHERE repository_id = ? AND status <> ?",
        [status, reason[:1000], resume_at, now, repo_id, COMPLETED],
    )


def wake_rate_limited(store: Store, now: datetime) -> None:
    """``graphql_rate_limit_low`` backfills whose resume time has come are ``active`` again."""
    store.execute(
        "UPDATE backfill_state SET status = ?, pause_reason = NULL, resume_at = NULL, "
        "updated_at = ? WHERE status = ? AND (resume_at IS NULL OR resume_at <= ?)",
        [ACTIVE, now, RATE_LOW, now],
    )


def resume(store: Store, repo_id: str, now: datetime) -> dict[str, Any] | None:
    """``backfill resume``: the seed's recovery SQL (reset the error counter, ``active``)."""
    require_compare_and_set(store)
    store.execute(
        "UPDATE backfill_state SET consecutive_errors = 0, status = ?, pause_reason = NULL, "
        "resume_at = NULL, updated_at = ? WHERE repository_id = ? AND status IN (?, ?)",
        [ACTIVE, now, repo_id, PAUSED, RATE_LOW],
    )
    return get_state(store, repo_id)


def release(store: Store, repo_id: str, owner: str) -> None:
    store.execute(
        "UPDATE backfill_state SET lease_owner = NULL, lease_until = NULL "
        "WHERE repository_id = ? AND lease_owner = ?",
        [repo_id, owner],
    )


def recover_stuck(store: Store, now: datetime, stuck_after: timedelta) -> list[dict[str, Any]]:
    """Before each run: chunks ``processing`` for longer than ``stuck_after`` (or whose process
    on this host is gone) become ``recovered`` and their repository's lease is freed, so the
    chunk is retried from the stored cursor. Returns the recovered chunks."""
    rows = store.query_dicts(
        "SELECT repository_id, chunk_number, worker, started_at FROM backfill_chunks "
        "WHERE status = 'processing' ORDER BY repository_id, chunk_number"
    )
    out: list[dict[str, Any]] = []
    for row in rows:
        old = row["started_at"] is not None and now - row["started_at"] > stuck_after
        if not (old or _holder_dead(row["worker"])):
            continue
        why = f"processing for more than {stuck_after}" if old else f"worker {row['worker']} died"
        with store.transaction():
            store.execute(
                "UPDATE backfill_chunks SET status = 'recovered', error = ?, completed_at = ? "
                "WHERE repository_id = ? AND chunk_number = ? AND status = 'processing'",
                [
                    f"recovered: {why}; retried from the stored cursor",
                    now,
                    row["repository_id"],
                    row["chunk_number"],
                ],
            )
            store.execute(
                "UPDATE backfill_state SET lease_owner = NULL, lease_until = NULL "
                "WHERE repository_id = ? AND lease_owner = ?",
                [row["repository_id"], row["worker"]],
            )
        out.append({**row, "reason": why})
    for row in store.query_dicts(
        "SELECT repository_id, lease_owner, lease_until FROM backfill_state "
        "WHERE lease_owner IS NOT NULL"
    ):
        lapsed = row["lease_until"] is not None and row["lease_until"] < now
        if lapsed or _holder_dead(row["lease_owner"]):
            release(store, row["repository_id"], row["lease_owner"])
    return out
