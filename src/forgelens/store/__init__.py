"""Stores: where collected records live. ``open_store(url)`` picks the backend; ``sql`` holds
the SQL that differs between them (for collection and analytics alike); ``ARROW_TYPES``,
``now_version``, ``to_arrow`` and ``writable_columns`` shape rows the way every store writes
them."""

from __future__ import annotations

from forgelens.store import sql
from forgelens.store._arrow import ARROW_TYPES, now_version, to_arrow, writable_columns
from forgelens.store.base import (
    DEFAULT_DB_URL,
    Capabilities,
    Store,
    is_single_writer,
    open_store,
)

__all__ = [
    "ARROW_TYPES",
    "DEFAULT_DB_URL",
    "Capabilities",
    "Store",
    "is_single_writer",
    "now_version",
    "open_store",
    "sql",
    "to_arrow",
    "writable_columns",
]
