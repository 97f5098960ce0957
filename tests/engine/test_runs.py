from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from forgelens.engine.runs import SETTINGS_FIELDS, cleanup_stuck_runs, run_settings, start_run
from forgelens.store import Store

SEED_QUERIES = [
    # seed 000, "Usage Examples", verbatim
    """SELECT 
    run_id,
    started_at,
    completed_at,
    status,
    repos_processed,
    commits_collected,
    prs_collected,
    api_calls,
    errors
FROM git_collection_runs
WHERE data_source = 'insight_github'
ORDER BY started_at DESC
LIMIT 10;""",
    """SELECT 
    run_id,
    started_at,
    completed_at,
    EXTRACT(EPOCH FROM (completed_at - started_at)) / 60 as duration_minutes,
    status,
    repos_processed,
    commits_collected,
    prs_collected
FROM git_collection_runs
WHERE completed_at IS NOT NULL
  AND data_source = 'insight_github'
ORDER BY started_at DESC
LIMIT 20;""",
    """SELECT 
    run_id,
    started_at,
    completed_at,
    errors,
    settings
FROM git_collection_runs
WHERE status = 'failed'
  AND data_source = 'insight_github'
ORDER BY started_at DESC;""",
    """SELECT 
    run_id,
    repos_processed,
    commits_collected,
    prs_collected,
    api_calls,
    ROUND(commits_collected::FLOAT / NULLIF(api_calls, 0), 2) as commits_per_call,
    ROUND(prs_collected::FLOAT / NULLIF(api_calls, 0), 2) as prs_per_call,
    EXTRACT(EPOCH FROM (completed_at - started_at)) / 60 as duration_minutes
FROM bitbucket_collection_runs
WHERE status = 'completed'
  AND completed_at IS NOT NULL
  AND data_source = 'insight_github'
ORDER BY started_at DESC
LIMIT 20;""",
    """SELECT 
    data_source,
    COUNT(*) as total_runs,
    AVG(repos_processed) as avg_repos,
    AVG(commits_collected) as avg_commits,
    AVG(prs_collected) as avg_prs,
    AVG(api_calls) as avg_api_calls,
    AVG(EXTRACT(EPOCH FROM (completed_at - started_at)) / 60) as avg_duration_minutes,
    SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) as failed_count
FROM bitbucket_collection_runs
WHERE started_at >= '2026-01-01'
  AND completed_at IS NOT NULL
GROUP BY data_source;""",
    """SELECT 
    run_id,
    started_at,
    completed_at,
    EXTRACT(EPOCH FROM (completed_at - started_at)) / 60 as duration_minutes,
    repos_processed,
    commits_collected,
    prs_collected
FROM bitbucket_collection_runs
WHERE completed_at IS NOT NULL
  AND EXTRACT(EPOCH FROM (completed_at - started_at)) / 60 > 30
ORDER BY duration_minutes DESC
LIMIT 20;""",
    """SELECT 
    run_id,
    started_at,
    status,
    settings
FROM bitbucket_collection_runs
WHERE run_id = 'github-2026-02-13-120000';""",
    """SELECT 
    run_id,
    JSONExtractString(settings, 'since') as since_date,
    JSONExtractString(settings, 'branches') as branches,
    JSONExtractBool(settings, 'force_refetch') as force_refetch
FROM bitbucket_collection_runs
WHERE data_source = 'insight_github'
ORDER BY started_at DESC
LIMIT 10;""",
    """SELECT 
    AVG(errors::FLOAT / NULLIF(api_calls, 0)) * 100 as error_rate_percent
FROM bitbucket_collection_runs
WHERE status = 'completed';""",
]


def _runs(store: Store) -> list[dict[str, object]]:
    return store.query_dicts("SELECT * FROM git_collection_runs ORDER BY id")


def test_run_lifecycle_and_seed_format(store: Store) -> None:
    settings = run_settings(since="2026-01-01", repositories=["r"], collect_prs=True)
    with start_run(store, "insight_github", settings) as run:
        assert re.fullmatch(r"insight_github-\d{4}-\d\d-\d\d-\d{6}", run.run_id)
        assert _runs(store)[0]["status"] == "running"
        run.add(prs_collected=3, api_calls=7)
    row = _runs(store)[0]
    assert row["status"] == "completed"
    assert (row["prs_collected"], row["api_calls"], row["errors"]) == (3, 7, 0)
    assert row["completed_at"] is not None
    assert list(json.loads(str(row["settings"])))[: len(SETTINGS_FIELDS)] == list(SETTINGS_FIELDS)
    assert row["data_source"] == "insight_github"


def test_two_runs_in_one_second_get_distinct_ids(store: Store) -> None:
    ids = []
    for _ in range(3):
        with start_run(store, "custom_etl", run_settings()) as run:
            ids.append(run.run_id)
    assert len(set(ids)) == 3
    assert len(_runs(store)) == 3


def test_failure_keeps_counters_and_reason(store: Store) -> None:
    with pytest.raises(ValueError), start_run(store, "custom_etl", run_settings()) as run:
        run.add(commits_collected=5)
        run.flush()
        raise ValueError("disk on fire")
    row = _runs(store)[0]
    assert row["status"] == "failed"
    assert row["commits_collected"] == 5
    assert row["errors"] == 1
    assert "disk on fire" in str(row["failure_reason"])


def test_counters_are_flushed_while_running(store: Store) -> None:
    with start_run(store, "custom_etl", run_settings(), flush_seconds=0) as run:
        run.add(commits_collected=10)
        assert run.flush_if_due()
        assert _runs(store)[0]["commits_collected"] == 10
        assert _runs(store)[0]["status"] == "running"


def test_dead_process_run_is_failed_by_cleanup_and_next_run(store: Store) -> None:
    with start_run(store, "custom_etl", run_settings()) as run:
        pass
    # simulate a run whose process was killed: running, on this host, with a dead pid
    store.execute(
        "UPDATE git_collection_runs SET status = 'running', completed_at = NULL, pid = 999999999"
    )
    assert cleanup_stuck_runs(store, timedelta(hours=2)) == [run.run_id]
    row = _runs(store)[0]
    assert row["status"] == "failed"
    assert "ended without finishing" in str(row["failure_reason"])
    store.execute("UPDATE git_collection_runs SET status = 'running', hostname = 'elsewhere'")
    old = datetime.now(UTC) - timedelta(hours=3)
    store.execute("UPDATE git_collection_runs SET heartbeat_at = ?", [old])
    with start_run(store, "custom_etl", run_settings()):
        pass
    rows = _runs(store)
    assert rows[0]["status"] == "failed"
    assert "no progress since" in str(rows[0]["failure_reason"])


@pytest.mark.parametrize("sql", SEED_QUERIES)
def test_seed_000_queries_run_verbatim(store: Store, sql: str) -> None:
    with start_run(store, "insight_github", run_settings(since="2026-01-01")) as run:
        run.add(commits_collected=4, api_calls=2, prs_collected=1)
    rows = store.query(sql.rstrip(";"))
    assert isinstance(rows, list)
    if "JSONExtractString" in sql:
        assert rows[0][1:] == ("2026-01-01", "all", False)


def test_workers_starting_in_the_same_second_never_share_a_run_id(pg_url: str) -> None:
    """Several writers on one PostgreSQL store: each run keeps its own row (no overwrite)."""
    import threading

    from forgelens.engine.runs import new_run_id
    from forgelens.store import open_store

    store = open_store(pg_url)
    now = datetime.now(UTC)
    ids: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        run_id = new_run_id(store, "insight_github", now)
        with lock:
            ids.append(run_id)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.query("SELECT run_id FROM git_collection_runs")
    store.close()
    assert len(set(ids)) == 6
    assert sorted(r[0] for r in rows) == sorted(ids)
