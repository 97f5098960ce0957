"""The audit log: who (key id), what, when, from which address, outcome.

Every trigger, webhook delivery, key change and denied attempt writes one row. Writes never
raise into the request: a store that cannot take the row is logged loudly instead.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from forgelens.logs import get_logger, redact
from forgelens.store import Store

log = get_logger(__name__)


def audit_row(
    action: str,
    outcome: str,
    *,
    key_id: str | None = None,
    target: str | None = None,
    address: str | None = None,
    detail: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "occurred_at": datetime.now(UTC),
        "key_id": key_id,
        "action": action,
        "target": redact(target or "")[:500] or None,
        "address": address,
        "outcome": outcome,
        "detail": redact(detail)[:1000] if detail else None,
        "request_id": request_id,
    }


def write_audit(store: Store, row: dict[str, Any]) -> None:
    try:
        store.upsert("audit_log", [row])
    except Exception as exc:  # the request's answer matters more; say so in the log
        log.error("audit row not written", action=row["action"], error=redact(str(exc)))
    log.info(
        "audit",
        action=row["action"],
        outcome=row["outcome"],
        key_id=row["key_id"],
        target=row["target"],
        address=row["address"],
    )


def recent(store: Store, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
    where, params = "", []
    if action:
        where, params = "WHERE action = ?", [action]
    return store.query_dicts(
        "SELECT event_id, occurred_at, key_id, action, target, address, outcome, detail, "
        f"request_id FROM audit_log {where} ORDER BY occurred_at DESC LIMIT {int(limit)}",
        params,
    )
