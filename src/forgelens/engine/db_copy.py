"""``forgelens db copy``: move every table of one store into another, resumably.

Each table is read in key order, ``batch_size`` rows at a time (``iter_batches``, Arrow), and
upserted into the destination together with a watermark row in ``db_copy_progress`` (same
transaction). A copy that stops (Ctrl-C, crash, lost connection) resumes after the last key it
committed; a finished table is skipped. Each table ends verified by row counts: the destination
must hold at least the source's rows (more only if it held rows of its own before).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from forgelens.engine.progress import NullProgress, Progress
from forgelens.errors import BadInput, StoreError
from forgelens.store import Store, writable_columns
from forgelens.store.schema import TABLES, TableSpec
from forgelens.store.schema_sinks import DB_COPY_PROGRESS
from forgelens.store.sql import quote

SKIP = {DB_COPY_PROGRESS.name, "schema_migrations"}


@dataclass
class TableCopy:
    table: str
    source_rows: int
    copied: int
    destination_rows: int
    status: str  # copied | already copied | verified with extra rows | missing in source


def _encode_key(values: Sequence[Any]) -> str:
    return json.dumps([v.isoformat() if isinstance(v, date) else v for v in values])


def _decode_key(spec: TableSpec, text: str) -> list[Any]:
    types = dict(spec.all_columns())
    out: list[Any] = []
    for name, value in zip(spec.key, json.loads(text), strict=True):
        if types[name] == "ts" and value is not None:
            out.append(datetime.fromisoformat(value))
        elif types[name] == "date" and value is not None:
            out.append(date.fromisoformat(value))
        else:
            out.append(value)
    return out


def _source_columns(source: Store, spec: TableSpec) -> list[str] | None:
    try:
        present = set(source.query_arrow(f"SELECT * FROM {quote(spec.name)} LIMIT 0").column_names)
    except StoreError:
        return None  # the source predates this table
    return [c for c, _ in writable_columns(spec) if c in present]


def copy_table(
    source: Store,
    dest: Store,
    spec: TableSpec,
    *,
    batch_size: int,
    progress: Progress,
) -> TableCopy:
    cols = _source_columns(source, spec)
    if cols is None:
        return TableCopy(spec.name, 0, 0, 0, "missing in source")
    table = quote(spec.name)
    source_rows = int(source.query(f"SELECT count(*) FROM {table}")[0][0])
    mark = dest.query_dicts(
        "SELECT last_key, rows_copied, source_rows, status FROM db_copy_progress "
        "WHERE source_url = ? AND table_name = ?",
        [source.url, spec.name],
    )
    copied = int(mark[0]["rows_copied"] or 0) if mark else 0
    last_key: str | None = mark[0]["last_key"] if mark else None
    status = "copied"
    if mark and mark[0]["status"] == "done" and mark[0]["source_rows"] == source_rows:
        status = "already copied"
    else:
        keys = ", ".join(quote(k) for k in spec.key)
        where, params = "", []
        if last_key:
            where = f" WHERE ({keys}) > ({', '.join('?' for _ in spec.key)})"
            params = _decode_key(spec, last_key)
        sql = f"SELECT {', '.join(quote(c) for c in cols)} FROM {table}{where} ORDER BY {keys}"
        progress.start(f"copying {spec.name}", source_rows)
        progress.advance(copied)
        for batch in source.iter_batches(sql, params, batch_size=batch_size):
            if batch.num_rows == 0:
                continue
            last_key = _encode_key([batch.column(k)[batch.num_rows - 1].as_py() for k in spec.key])
            copied += batch.num_rows
            with dest.transaction():
                dest.upsert(spec.name, pa.Table.from_batches([batch]))
                _mark(dest, source.url, spec.name, last_key, copied, source_rows, "copying")
            progress.advance(batch.num_rows)
        progress.finish()
    dest_rows = int(dest.query(f"SELECT count(*) FROM {table}")[0][0])
    if dest_rows < source_rows:
        raise StoreError(
            f"copy of {spec.name} incomplete: source has {source_rows} rows, destination "
            f"{dest_rows}; run `forgelens db copy` again to resume, or add --restart to copy "
            "the table whole again"
        )
    if dest_rows > source_rows and status == "copied":
        status = "verified with extra rows"
    _mark(dest, source.url, spec.name, last_key, copied, source_rows, "done")
    return TableCopy(spec.name, source_rows, copied, dest_rows, status)


def _mark(
    dest: Store,
    source_url: str,
    table: str,
    last_key: str | None,
    copied: int,
    source_rows: int,
    status: str,
) -> None:
    dest.upsert(
        DB_COPY_PROGRESS.name,
        [
            {
                "source_url": source_url,
                "table_name": table,
                "last_key": last_key,
                "rows_copied": copied,
                "source_rows": source_rows,
                "status": status,
                "updated_at": datetime.now(UTC),
            }
        ],
    )


def copy_store(
    source: Store,
    dest: Store,
    *,
    tables: Sequence[str] = (),
    batch_size: int = 50_000,
    restart: bool = False,
    progress: Progress | None = None,
) -> list[TableCopy]:
    """Copy ``tables`` (default: every known table) from ``source`` into ``dest``."""
    if source.url == dest.url:
        raise BadInput(f"--from and --to name the same store ({source.url}): pick another --to")
    unknown = [t for t in tables if t not in TABLES or t in SKIP]
    if unknown:
        raise BadInput(f"unknown table(s) {', '.join(unknown)}: see `forgelens db status`")
    names = sorted(tables or (t for t in TABLES if t not in SKIP))
    if restart:
        marks = ", ".join("?" for _ in names)
        dest.execute(
            f"DELETE FROM db_copy_progress WHERE source_url = ? AND table_name IN ({marks})",
            [source.url, *names],
        )
    progress = progress or NullProgress()
    return [
        copy_table(source, dest, TABLES[n], batch_size=batch_size, progress=progress) for n in names
    ]
