"""Tables of the sinks / store-moving area.

``db_copy_progress``: one row per (source store, table) that ``forgelens db copy`` is moving,
kept in the destination and written in the same transaction as each batch, so an interrupted
copy resumes after the last key it committed.
"""

from __future__ import annotations

from forgelens.store.schema import MigrationTarget, TableSpec, migration, register_table

DB_COPY_PROGRESS = register_table(
    TableSpec(
        "db_copy_progress",
        (
            ("source_url", "text"),
            ("table_name", "text"),
            ("last_key", "text"),
            ("rows_copied", "bigint"),
            ("source_rows", "bigint"),
            ("status", "text"),
            ("updated_at", "ts"),
        ),
        ("source_url", "table_name"),
    )
)


@migration("0060_db_copy_progress")
def _db_copy_progress(db: MigrationTarget) -> None:
    db.create_table(DB_COPY_PROGRESS)


@migration("0061_postgres_compat_functions")
def _postgres_compat_functions(db: MigrationTarget) -> None:
    from forgelens.store.sql import FUNCTION_COMPAT_SQL

    for stmt in FUNCTION_COMPAT_SQL.get(db.dialect, []):
        db.execute(stmt)
