from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from forgelens.errors import SourceError, StoreError
from forgelens.pipeline_runs.self_record import counts_from_result, record_own_run, recorded
from forgelens.store import Store


@dataclass
class FakeResult:  # the shape of engine.collect.CollectResult
    repositories: list[str] = field(default_factory=list)
    commits: int = 0
    prs: int = 0
    files: int = 0
    errors: int = 0


def own_rows(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts("SELECT * FROM pipeline_runs ORDER BY run_id")


def test_a_successful_run_is_recorded_with_counts_and_resources(store: Store) -> None:
    results = [FakeResult(["r1", "r2"], commits=10, files=30), FakeResult(["r3"], prs=5, errors=1)]
    out = recorded(store, "collect", lambda: results, sample_seconds=0.1)
    assert out is results
    (row,) = own_rows(store)
    assert row["pipeline"] == "forgelens.collect"
    assert row["status"] == "success"
    assert (row["total_records"], row["sources_processed"], row["errors"]) == (45, 3, 1)
    assert row["quality_pass_rate"] == pytest.approx(44 / 45, abs=1e-4)
    assert row["memory_peak_mb"] > 10
    assert row["memory_avg_mb"] <= row["memory_peak_mb"]
    assert row["cpu_avg_percent"] <= row["cpu_peak_percent"]
    assert json.loads(row["environment"])["cpu_cores"] >= 1
    assert row["_source"] == "forgelens"
    assert row["_synthetic"] is False


def test_a_failed_run_is_recorded_and_the_error_still_raised(store: Store) -> None:
    def boom() -> None:
        raise SourceError("git log failed: token ghp_abcdefghijklmnopqrstuvwxyz0123 refused")

    with pytest.raises(SourceError):
        recorded(store, "backfill", boom, sample_seconds=0.1)
    (row,) = own_rows(store)
    assert row["pipeline"] == "forgelens.backfill"
    assert row["status"] == "failed"
    assert row["failure_reason"].startswith("SourceError: git log failed")
    assert "ghp_" not in row["failure_reason"]
    assert row["errors"] == 1
    assert row["quality_pass_rate"] == 0


def test_runs_in_the_same_second_get_distinct_run_ids(store: Store) -> None:
    for _ in range(3):
        with record_own_run(store, "analyze", sample_seconds=0.1) as own:
            own.set_counts(total_records=1, sources_processed=1)
    ids = [r["run_id"] for r in own_rows(store)]
    assert len(set(ids)) == 3


def test_measured_runs_are_not_held_to_the_hand_entry_ranges(store: Store) -> None:
    with record_own_run(store, "collect", sample_seconds=0.1) as own:
        own.set_counts(total_records=2_000_000, sources_processed=40)
    (row,) = own_rows(store)
    assert (row["total_records"], row["sources_processed"]) == (2_000_000, 40)


def test_a_store_that_cannot_record_does_not_change_the_outcome(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> int:
        raise StoreError("the store is read-only")

    monkeypatch.setattr(store, "upsert", broken)
    assert recorded(store, "collect", lambda: 42, sample_seconds=0.1) == 42
    with pytest.raises(ZeroDivisionError):
        recorded(store, "collect", lambda: 1 // 0, sample_seconds=0.1)


def test_counts_from_results_and_lists() -> None:
    assert counts_from_result(FakeResult(["a"], commits=2, prs=3, files=4, errors=1)) == {
        "total_records": 9,
        "errors": 1,
        "sources_processed": 1,
    }
    assert counts_from_result(None) == {"total_records": 0, "errors": 0, "sources_processed": 0}
