"""A full recompute split into batches of repositories (``AnalyzeOptions.batch_prs``, how a
warehouse-size store is analysed) writes every analytics row the one-batch run writes,
including the rows that span repositories: a team's weekly delivery rows and the AI impact."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from forgelens import records as R
from forgelens.analytics import AnalyzeOptions, analyze
from forgelens.store import open_store
from tests.analytics.test_incremental_stateful import compared_tables, table_rows
from tests.analytics.test_postgres import dataset, later_records

END = date(2026, 3, 31)


def test_batched_full_recompute_equals_one_batch(tmp_path: Path) -> None:
    recs = [
        *dataset(),
        *later_records(),
        # one team with a member in each repository's forge: its rows read both batches
        R.TeamMember(source="github", org="octo", team_slug="web", login="alice"),
        R.TeamMember(source="gitlab", org="octo", team_slug="web", login="asmith"),
    ]
    one, split = (open_store(f"duckdb:///{tmp_path / f'{n}.duckdb'}") for n in ("one", "split"))
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
