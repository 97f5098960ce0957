"""Turning records and row dicts into Arrow tables shaped like a store table."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import is_dataclass
from typing import Any

import pyarrow as pa

from forgelens.records import now_version as now_version
from forgelens.store.schema import SERIAL, TableSpec

ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "ts": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "json": pa.string(),
}


def _json(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)


def writable_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """The columns a write supplies: everything but generated ids."""
    return [(n, t) for n, t in spec.all_columns() if t != SERIAL]


def to_arrow(
    spec: TableSpec,
    rows: Sequence[Any],
    *,
    version: int | None = None,
    source: str | None = None,
) -> pa.Table:
    """Build an Arrow table for ``spec`` from records (dataclasses) or mappings.

    ``_version`` defaults to now; a row may carry its own ``_version`` (mappings only).
    """
    version = now_version() if version is None else version
    getters: list[Any]
    if rows and is_dataclass(rows[0]):
        getters = [lambda r, c=c: getattr(r, c, None) for c, _ in writable_columns(spec)]
    else:
        getters = [lambda r, c=c: r.get(c) for c, _ in writable_columns(spec)]
    arrays: list[pa.Array] = []
    names: list[str] = []
    for (name, logical), get in zip(writable_columns(spec), getters, strict=True):
        if name == "_version":
            values: list[Any] = [
                (r.get("_version") if isinstance(r, Mapping) else None) or version for r in rows
            ]
        elif name == "_source":
            values = [
                (r.get("_source") if isinstance(r, Mapping) else None) or source for r in rows
            ]
        else:
            values = [get(r) for r in rows]
            if logical == "json":
                values = [_json(v) for v in values]
        arrays.append(pa.array(values, type=ARROW_TYPES[logical]))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)
