"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from forgelens.store import Store, open_store


@pytest.fixture(params=["duckdb", "postgres", "chdb"])
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, migrated store of each backend: DuckDB, PostgreSQL (a schema of its own) and
    embedded ClickHouse (chDB)."""
    if request.param == "chdb":
        yield request.getfixturevalue("chdb_store")
        return
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'every.duckdb'}"
    else:
        url = request.getfixturevalue("pg_url")
    store = open_store(url)
    yield store
    store.close()
