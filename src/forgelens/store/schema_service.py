"""Tables of the service area: API keys, audit log, webhook deliveries, job state.

- ``api_keys`` [key_id]: only a SHA-256 of each key is kept (keys are 256-bit random, so a
  plain hash cannot be reversed); ``revoked_at`` set means the key no longer opens anything.
- ``audit_log`` [event_id]: who (key id), what (action, target), when, from which address,
  outcome — every trigger, webhook, key change and denied attempt.
- ``webhook_deliveries`` [forge, delivery_id]: every delivery received, for deduplication.
- ``service_jobs`` [job_id]: one row per queued collection job, its outcome and tries.
"""

from __future__ import annotations

from forgelens.store.schema import MigrationTarget, _spec, migration, register_table

API_KEYS = register_table(
    _spec(
        "api_keys",
        ("key_id",),
        """
        key_id text
        name text
        role text
        key_hash text
        created_at ts
        created_by text
        revoked_at ts
        last_used_at ts
        """,
    )
)

AUDIT_LOG = register_table(
    _spec(
        "audit_log",
        ("event_id",),
        """
        event_id text
        occurred_at ts
        key_id text
        action text
        target text
        address text
        outcome text
        detail text
        request_id text
        """,
    )
)

WEBHOOK_DELIVERIES = register_table(
    _spec(
        "webhook_deliveries",
        ("forge", "delivery_id"),
        """
        forge text
        delivery_id text
        event text
        repository_id text
        received_at ts
        outcome text
        bytes bigint
        job_id text
        """,
    )
)

SERVICE_JOBS = register_table(
    _spec(
        "service_jobs",
        ("job_id",),
        """
        job_id text
        repository_id text
        spec text
        full_sync bool
        reason text
        status text
        enqueued_at ts
        started_at ts
        finished_at ts
        tries int
        run_id text
        error text
        """,
    )
)


@migration("0040_service_tables")
def _service_tables(db: MigrationTarget) -> None:
    for spec in (API_KEYS, AUDIT_LOG, WEBHOOK_DELIVERIES, SERVICE_JOBS):
        db.create_table(spec)
