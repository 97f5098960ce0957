"""Small pieces every store backend shares (grouping records, cursor rows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from forgelens.store._arrow import to_arrow, writable_columns
from forgelens.store.schema import TableSpec


def group_by_table(records: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Records grouped by their ``TABLE``, tables in name order.

    A fixed table order means concurrent writers take row locks in the same order.
    """
    by_table: dict[str, list[Any]] = {}
    for rec in records:
        by_table.setdefault(rec.TABLE, []).append(rec)
    return sorted(by_table.items())


def cursor_row(repository_id: str, entity: str, cursor: str, run_id: str | None) -> dict[str, Any]:
    """The ``collection_cursors`` row that ``set_cursor`` writes."""
    return {
        "repository_id": repository_id,
        "entity": entity,
        "cursor": cursor,
        "run_id": run_id,
        "updated_at": datetime.now(UTC),
    }


CURSOR_SQL = "SELECT cursor FROM collection_cursors WHERE repository_id = ? AND entity = ?"


def as_batch(
    spec: TableSpec, rows: Sequence[Any] | pa.Table, version: int | None, source: str | None
) -> pa.Table:
    """What an ``upsert`` writes: ``rows`` as an Arrow table with only ``spec``'s writable
    columns (an Arrow table passes through and may leave columns out: those keep their stored
    values)."""
    batch = (
        rows if isinstance(rows, pa.Table) else to_arrow(spec, rows, version=version, source=source)
    )
    writable = [c for c, _ in writable_columns(spec)]
    return batch.select([c for c in writable if c in batch.column_names])
