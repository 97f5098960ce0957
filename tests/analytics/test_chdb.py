"""The analytics on ClickHouse (embedded chDB) give the same tables as on DuckDB: the
PostgreSQL comparison's data set, and the property tests' generated stores checked against the
plain-Python reference (a fresh chDB database each)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from forgelens import records as R
from forgelens.analytics import AnalyticsConfig, AnalyzeOptions, analyze
from forgelens.cli import main
from forgelens.errors import BadInput
from forgelens.store import Store, open_store
from tests.analytics.test_analyze import (  # noqa: F401 - collected here, on chDB
    llm_server,
    test_extractive_summary_names_first_sentence_and_areas,
    test_force_refresh_touches_one_repository_only,
    test_identities_follow_new_evidence_between_runs,
    test_identities_merge_logins_emails_and_flag_bots,
    test_incremental_run_skips_unchanged_repositories,
    test_llm_summaries_are_cached_by_content,
    test_merged_across_midnight_counts_on_utc_days,
    test_top_risky_files_rank_by_score_then_path_and_reasons_are_json,
    test_window_before_history_is_empty_not_an_error,
)
from tests.analytics.test_postgres import COMPARED, dataset, rows
from tests.analytics.test_reference import CFG, END, check_all, check_incremental, datasets
from tests.analytics.test_sync import (  # noqa: F401 - collected here, on chDB
    test_incremental_after_changes_equals_force_refresh,
    test_rows_that_did_not_change_keep_their_version,
)

pytest.importorskip("chdb")


@pytest.fixture(scope="module")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb-analytics")


def open_chdb(chdb_dir: Path) -> Store:
    """A fresh database in the module's chDB directory (chDB opens one directory a process)."""
    return open_store(f"chdb:///{chdb_dir}?database=a{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(chdb_dir: Path) -> Iterator[Store]:
    """The analytics tests imported above run on this chDB store."""
    s = open_chdb(chdb_dir)
    yield s
    s.close()


def test_chdb_and_duckdb_agree(store: Store, tmp_path: Path) -> None:
    ch, duck = store, open_store(f"duckdb:///{tmp_path / 'ref.duckdb'}")
    recs = dataset()
    try:
        for target in (ch, duck):
            target.write_records(recs)
            analyze(target, AnalyzeOptions(end_date=date(2026, 3, 31)))
        for table in COMPARED:
            assert rows(ch, table) == rows(duck, table), table
    finally:
        duck.close()
    assert rows(ch, "review_policy_violations")  # the data exercises the policy


# chDB analyses each example in ~10-20 s on an idle 2-core machine; a busy one takes longer,
# and a timeout mid-example leaves chDB's one session open for every later test of the worker
@pytest.mark.timeout(600)
@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(recs=datasets())
def test_chdb_agrees_with_reference(chdb_dir: Path, recs: list[Any]) -> None:
    store = open_chdb(chdb_dir)
    try:
        store.write_records(recs)
        analyze(store, AnalyzeOptions(config=CFG, end_date=END))
        check_all(store, recs)
    finally:
        store.close()


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(first=datasets(), more=datasets())
def test_chdb_incremental_equals_full(chdb_dir: Path, first: list[Any], more: list[Any]) -> None:
    """Analyse, add PRs, analyse incrementally (lightweight deletes and newer ``_version``
    rows): the same as the reference over everything."""
    store = open_chdb(chdb_dir)
    try:
        store.write_records(first)
        check_incremental(store, first, more)
    finally:
        store.close()


def test_cli_analyze_all_on_chdb(tmp_path: Path) -> None:
    """``forgelens analyze all --db chdb://...`` as a user runs it (its own process)."""
    url = f"chdb:///{tmp_path / 'cli'}"
    recs = dataset()
    prs = {(r.repository_id, r.number) for r in recs if isinstance(r, R.PullRequest)}
    s = open_store(url)
    try:
        s.write_records(recs)
    finally:
        s.close()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "forgelens",
            "analyze",
            "all",
            "--db",
            url,
            "--end-date",
            "2026-03-31",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    s = open_store(url)
    try:
        assert s.query("SELECT count() FROM repo_prs")[0][0] == len(prs)
        assert s.query("SELECT count() FROM review_policy_violations")[0][0] >= 1
    finally:
        s.close()


def test_ai_features_are_refused_up_front_naming_the_stores(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ai-features`` needs ``UPDATE ... FROM``: on ClickHouse it fails before any work,
    saying where it runs (the [ai] extra need not be installed to learn that)."""
    store.write_records(dataset())
    opts = AnalyzeOptions(config=AnalyticsConfig(ai_features=True), end_date=date(2026, 3, 31))
    with pytest.raises(BadInput, match=r"ClickHouse does not have.*DuckDB.*PostgreSQL"):
        analyze(store, opts)
    assert store.query("SELECT count() FROM repo_prs") == [(0,)]
    url = store.url
    store.close()
    assert main(["analyze", "what-shipped", "--db", url, "--ai-features"]) == 2
    err = capsys.readouterr().err
    assert "--ai-features" in err
    assert "DuckDB" in err
    assert "PostgreSQL" in err
