"""Stores: where collected records live. ``open_store(url)`` picks the backend."""

from __future__ import annotations

from forgelens.store.base import DEFAULT_DB_URL, Store, open_store

__all__ = ["DEFAULT_DB_URL", "Store", "open_store"]
