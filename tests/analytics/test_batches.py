"""A full recompute split into batches of repositories (``AnalyzeOptions.batch_prs``, how a
warehouse-size store is analysed) writes every analytics row the one-batch run writes,
including the rows that span repositories: a team's weekly delivery rows and the AI impact."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import Store, open_store
from forgelens.store import sql as _sql
from tests.analytics.test_analyze import GH, GL
from tests.analytics.test_incremental_stateful import compared_tables, table_rows
from tests.analytics.test_postgres import dataset, later_records

END = date(2026, 3, 31)


def two_stores(engine: str, tmp_path: Path) -> tuple[Store, Store]:
    if engine == "chdb":
        pytest.importorskip("chdb")
        tag = uuid.uuid4().hex[:8]  # chDB opens one directory a process: two databases in it
        return tuple(  # type: ignore[return-value]
            open_store(f"chdb:///{tmp_path / 'ch'}?database={n}{tag}") for n in ("one", "split")
        )
    return tuple(  # type: ignore[return-value]
        open_store(f"duckdb:///{tmp_path / f'{n}.duckdb'}") for n in ("one", "split")
    )


@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_batched_full_recompute_equals_one_batch(tmp_path: Path, engine: str) -> None:
    recs = [
        *dataset(),
        *later_records(),
        # one team with a member in each repository's forge: its rows read both batches
        R.TeamMember(source="github", org="octo", team_slug="web", login="alice"),
        R.TeamMember(source="gitlab", org="octo", team_slug="web", login="asmith"),
    ]
    one, split = two_stores(engine, tmp_path)
    try:
        for store in (one, split):
            store.write_records(recs)
        whole = analyze(one, AnalyzeOptions(end_date=END))
        batched = analyze(split, AnalyzeOptions(end_date=END, batch_prs=1))
        assert (whole.batches, batched.batches) == (1, 2)
        assert batched.prs == whole.prs > 0
        team = "SELECT count(*) FROM delivery_metrics_weekly WHERE team = 'octo/web'"
        assert split.query(team)[0][0] > 0
        for table in compared_tables():
            assert table_rows(split, table) == table_rows(one, table), table
        # and the next incremental run of the batched store changes nothing
        again = analyze(split, AnalyzeOptions(end_date=END, batch_prs=1))
        assert (again.prs, again.batches) == (0, 0)
        for table in compared_tables():
            assert table_rows(split, table) == table_rows(one, table), table
    finally:
        one.close()
        split.close()


def test_a_repository_scope_reads_its_repositories_alone_on_chdb(tmp_path: Path) -> None:
    """How a batch reads on ClickHouse: every table keyed by repository shows the batch's rows
    only (filters on the sorted key), and everything again once the batch ends."""
    pytest.importorskip("chdb")
    store = open_store(f"chdb:///{tmp_path / 'ch'}")
    try:
        store.write_records(dataset())
        count = "SELECT count(*) FROM pull_requests WHERE repository_id = ?"
        every = [store.query(count, [r])[0][0] for r in (GH, GL)]
        assert min(every) > 0
        with _sql.repository_scope(store, [GL], ["grp/svc"]):
            assert [store.query(count, [r])[0][0] for r in (GH, GL)] == [0, every[1]]
            assert store.query("SELECT count(*) FROM repositories")[0][0] == 2  # not keyed
        assert [store.query(count, [r])[0][0] for r in (GH, GL)] == every
    finally:
        store.close()
