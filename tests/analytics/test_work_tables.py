"""Work tables and session settings on embedded ClickHouse (chDB): the scratch tables of a run
live on disk, not in the process, and each sort, aggregation and join spills beyond a bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgelens.store import open_store
from forgelens.store import sql as _sql

pytest.importorskip("chdb")


def test_chdb_work_tables_on_disk_and_spill_settings(tmp_path: Path) -> None:
    store = open_store(f"chdb:///{tmp_path / 'chdb'}?database=work_tables")
    try:
        _sql.tune_session(store, "3GB")
        settings = dict(
            store.query(
                "SELECT name, value FROM system.settings WHERE name IN "
                "('max_bytes_before_external_group_by', 'max_bytes_before_external_sort', "
                "'max_bytes_before_external_join', 'max_bytes_before_external_distinct')"
            )
        )
        assert settings == dict.fromkeys(settings, str(_sql.CH_SPILL_BYTES))
        assert len(settings) == 4
        _sql.create_work_table(store, "_fl_t", "SELECT number AS n FROM numbers(3)")
        engine = store.query(
            "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = '_fl_t'"
        )
        assert engine == [("Log",)]
        assert store.query("SELECT sum(n) FROM _fl_t") == [(3,)]
        _sql.drop_work_table(store, "_fl_t")
    finally:
        store.close()
