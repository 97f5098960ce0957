"""``forgelens backfill status`` (engine/backfill_status.py): progress and ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgelens.engine.backfill_status import backfill_status
from forgelens.store import Store

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_eta_is_the_remaining_prs_at_the_last_days_pace(store: Store) -> None:
    repo = "github:acme/big"
    store.upsert(
        "backfill_state",
        [
            {
                "repository_id": repo,
                "status": "active",
                "total_prs": 400,
                "processed_prs": 50,
                "next_chunk_number": 3,
                "chunk_size": 25,
                "updated_at": NOW,
            }
        ],
    )
    # two chunks of 25 PRs over 100 seconds: 0.5 PR/s, so 350 PRs to go take 700 s
    start = NOW - timedelta(hours=1)
    store.upsert(
        "backfill_chunks",
        [
            {
                "repository_id": repo,
                "chunk_number": n,
                "status": "completed",
                "prs_processed": 25,
                "started_at": start + timedelta(seconds=50 * (n - 1)),
                "completed_at": start + timedelta(seconds=50 * n),
            }
            for n in (1, 2)
        ],
    )
    [row] = backfill_status(store, NOW)["active"]
    assert row["progress"] == "50/400"
    assert row["eta"] == "0:11:40"


def test_no_eta_without_a_pace(store: Store) -> None:
    store.upsert(
        "backfill_state",
        [
            {
                "repository_id": "github:acme/x",
                "status": "active",
                "total_prs": 9,
                "processed_prs": 0,
                "updated_at": NOW,
            }
        ],
    )
    [row] = backfill_status(store, NOW)["active"]
    assert row["eta"] is None
