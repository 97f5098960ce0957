"""Tables of the pipeline area: pipeline_runs (seed 003).

One row per recorded pipeline run, keyed by the seed's ``run_id`` (YYYYMMDD_HHMMSS). Every field
of the seed's schema v2 has a column (``resource_metrics`` flattened into six columns,
``environment`` kept as JSON); v1 runs are upgraded before they are written, so their resource
columns are NULL. ``pipeline``, ``status``, ``exit_status``, ``command`` and ``failure_reason``
are ours: which pipeline ran, whether it succeeded, and for ``--exec`` / forgelens's own runs the
exit status and the command line.
"""

from __future__ import annotations

from forgelens.store.schema import MigrationTarget, TableSpec, migration, register_table

PIPELINE_RUNS = register_table(
    TableSpec(
        "pipeline_runs",
        (
            ("run_id", "text"),
            ("pipeline", "text"),
            ("timestamp", "ts"),
            ("schema_version", "text"),
            ("sources_processed", "bigint"),
            ("total_duration_seconds", "double"),
            ("total_records", "bigint"),
            ("throughput_rpm", "double"),
            ("throughput_computed", "bool"),
            ("quality_pass_rate", "double"),
            ("retries", "bigint"),
            ("errors", "bigint"),
            ("cpu_peak_percent", "double"),
            ("cpu_avg_percent", "double"),
            ("memory_peak_mb", "double"),
            ("memory_avg_mb", "double"),
            ("disk_read_mb", "double"),
            ("disk_write_mb", "double"),
            ("environment", "json"),
            ("_synthetic", "bool"),
            ("status", "text"),
            ("exit_status", "bigint"),
            ("command", "json"),
            ("failure_reason", "text"),
            ("recorded_at", "ts"),
        ),
        ("run_id",),
    )
)


@migration("0010_pipeline_runs")
def _pipeline_runs(db: MigrationTarget) -> None:
    db.create_table(PIPELINE_RUNS)
