"""Which API replica handles a webhook delivery: the one whose claim row lands first.

Each delivery id is claimed in the shared store before it is mapped, written or queued: an
``INSERT ... ON CONFLICT DO NOTHING`` of its ``webhook_deliveries`` row with the outcome
``processing`` (atomic on PostgreSQL across processes and on DuckDB within one). The replica
that inserted it handles the delivery and overwrites the row with the outcome; any other copy
-- a forge's retry of a slow delivery that a load balancer sent to another replica -- waits
for that outcome and answers ``duplicate``. A replica that fails releases its claim so that
the forge's next retry is handled; a claim left by a replica that died is taken over once it
is ``STALE`` old. Stores without ``ON CONFLICT`` (ClickHouse) keep the read-then-write check.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from forgelens.engine.runs import next_version
from forgelens.service.webhooks import Delivery
from forgelens.store import Store

PROCESSING = "processing"
STALE = timedelta(minutes=5)
Claim = Literal["mine", "busy", "done"]


def claim(store: Store, d: Delivery, size: int) -> Claim:
    """``mine``: this call took the delivery; ``busy``: another replica is handling it;
    ``done``: it was handled already."""
    key = [d.forge, d.delivery_id]
    if store.dialect not in ("duckdb", "postgres"):
        return "done" if _outcome(store, d) is not None else "mine"
    now = datetime.now(UTC)
    taken = store.query(
        "INSERT INTO webhook_deliveries (forge, delivery_id, event, repository_id, "
        "received_at, outcome, bytes, _version) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING delivery_id",
        [*key, d.event, d.spec, now, PROCESSING, size, next_version()],
    )
    if taken:
        return "mine"
    stale = store.query(
        "UPDATE webhook_deliveries SET received_at = ?, _version = ? "
        "WHERE forge = ? AND delivery_id = ? AND outcome = ? AND received_at < ? "
        "RETURNING delivery_id",
        [now, next_version(), *key, PROCESSING, now - STALE],
    )
    if stale:
        return "mine"
    return "busy" if _outcome(store, d) == PROCESSING else "done"


def release(store: Store, d: Delivery) -> None:
    """Drop this replica's claim after a failure: the forge's retry is handled afresh."""
    store.execute(
        "DELETE FROM webhook_deliveries WHERE forge = ? AND delivery_id = ? AND outcome = ?",
        [d.forge, d.delivery_id, PROCESSING],
    )


def _outcome(store: Store, d: Delivery) -> str | None:
    rows = store.query(
        "SELECT outcome FROM webhook_deliveries WHERE forge = ? AND delivery_id = ?",
        [d.forge, d.delivery_id],
    )
    return str(rows[0][0]) if rows else None
