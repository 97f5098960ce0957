"""Stores: where collected records live. ``open_store(url)`` picks the backend; ``sql`` holds
the SQL that differs between them (for collection and analytics alike)."""

from __future__ import annotations

from forgelens.store import sql
from forgelens.store.base import (
    DEFAULT_DB_URL,
    Capabilities,
    Store,
    is_single_writer,
    open_store,
)

__all__ = ["DEFAULT_DB_URL", "Capabilities", "Store", "is_single_writer", "open_store", "sql"]
