"""Tables of the backfill area (seed 004): ``backfill_state``, ``backfill_chunks``, the stored
error summaries and the completeness ledger the reconciliation sweep keeps.

- ``backfill_state`` [repository_id]: one row per repository being backfilled: ``status``
  (``active`` | ``paused`` | ``graphql_rate_limit_low`` | ``completed``), the stored
  ``last_cursor`` the next chunk resumes from, ``next_chunk_number`` (allocated atomically by a
  compare-and-set UPDATE), the current adaptive ``chunk_size``, counts, the current pass
  (``pass_started_at``; a catch-up pass reads only PRs updated since ``since_at``; ``pass_stored``
  = PRs stored when it began), the consecutive-error
  counter of the circuit breaker, the pause reason and ``resume_at``, and the lease
  (``lease_owner`` = ``host:pid:nonce``, ``lease_until``) that keeps two backfillers apart.
- ``backfill_chunks`` [repository_id, chunk_number]: one row per chunk: ``status``
  (``processing`` | ``completed`` | ``failed`` | ``recovered``), cursors, counts, error.
- ``backfill_reports`` [run_id]: the error summary of each invocation (JSON).
- ``repository_completeness`` [repository_id]: what the forge reports (PRs, issues), when it
  was asked, the last reconciliation sweep and the last full verification.

``progressive_backfill_state`` is a view of ``backfill_state`` so the seed's monitoring SQL runs
as written.
"""

from __future__ import annotations

from forgelens.store.schema import MigrationTarget, _spec, migration, register_table

BACKFILL_STATE = register_table(
    _spec(
        "backfill_state",
        ("repository_id",),
        """
        repository_id text
        status text
        total_prs bigint
        processed_prs bigint
        last_cursor text
        next_chunk_number bigint
        chunk_size bigint
        clean_chunks bigint
        consecutive_errors bigint
        pause_reason text
        last_error text
        resume_at ts
        lease_owner text
        lease_until ts
        pass_started_at ts
        pass_stored bigint
        since_at ts
        started_at ts
        updated_at ts
        completed_at ts
        """,
    )
)

BACKFILL_CHUNKS = register_table(
    _spec(
        "backfill_chunks",
        ("repository_id", "chunk_number"),
        """
        repository_id text
        chunk_number bigint
        status text
        cursor_start text
        cursor_end text
        chunk_size bigint
        prs_processed bigint
        api_calls bigint
        error text
        worker text
        run_id text
        started_at ts
        completed_at ts
        """,
    )
)

BACKFILL_REPORTS = register_table(
    _spec(
        "backfill_reports",
        ("run_id",),
        """
        run_id text
        created_at ts
        total_errors bigint
        critical bigint
        warnings bigint
        summary json
        """,
    )
)

REPOSITORY_COMPLETENESS = register_table(
    _spec(
        "repository_completeness",
        ("repository_id",),
        """
        repository_id text
        forge_prs bigint
        forge_issues bigint
        checked_at ts
        last_sweep_at ts
        last_full_verification_at ts
        """,
    )
)


@migration("0030_backfill")
def _backfill(db: MigrationTarget) -> None:
    for spec in (BACKFILL_STATE, BACKFILL_CHUNKS, BACKFILL_REPORTS, REPOSITORY_COMPLETENESS):
        db.create_table(spec)
    db.execute("CREATE OR REPLACE VIEW progressive_backfill_state AS SELECT * FROM backfill_state")
