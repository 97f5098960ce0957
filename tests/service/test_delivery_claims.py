"""Claims of webhook deliveries in the shared store (service/_delivery_claims.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forgelens.service import _delivery_claims as claims
from forgelens.service.webhooks import Delivery
from forgelens.sources.github import FORGE
from forgelens.store import Store

assert FORGE.webhooks is not None
D = Delivery("github", "ping", "d-1", "github:o/r", {}, FORGE.webhooks)


def test_a_claim_is_taken_once_and_released_after_a_failure(store: Store) -> None:
    assert claims.claim(store, D, 10) == "mine"
    assert claims.claim(store, D, 10) == "busy"  # another replica is handling it
    claims.release(store, D)  # that replica failed: the forge's retry is handled afresh
    assert claims.claim(store, D, 10) == "mine"
    store.execute("UPDATE webhook_deliveries SET outcome = 'recorded'")
    assert claims.claim(store, D, 10) == "done"
    claims.release(store, D)  # a handled delivery is never released
    assert claims.claim(store, D, 10) == "done"


def test_the_claim_of_a_replica_that_died_is_taken_over_once_stale(store: Store) -> None:
    assert claims.claim(store, D, 10) == "mine"
    old = datetime.now(UTC) - claims.STALE - timedelta(seconds=1)
    store.execute("UPDATE webhook_deliveries SET received_at = ?", [old])
    assert claims.claim(store, D, 10) == "mine"
    assert claims.claim(store, D, 10) == "busy"
