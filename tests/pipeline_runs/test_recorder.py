from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forgelens.errors import BadInput
from forgelens.pipeline_runs import PipelineRunInvalid, record_runs, validate_runs
from forgelens.store import Store
from tests.pipeline_runs.conftest import make_run


def record(store: Store | None, data: Any, **kw: Any):  # type: ignore[no-untyped-def]
    return record_runs(store, validate_runs(data), origin="test", **kw)


def stored(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts("SELECT * FROM pipeline_runs ORDER BY run_id")


def test_the_seed_examples_are_recorded_exactly(
    store: Store, tmp_path: Path, seed_basic: dict[str, Any], seed_full: dict[str, Any]
) -> None:
    history = tmp_path / "pipeline_run_history.json"
    seed_full["run_id"] = "20251108_200000"
    result = record(store, [seed_basic, seed_full], history=history)
    assert result.written == 2
    assert len(result.warnings) == 2  # both carry the seed's 11,876 rpm
    assert json.loads(history.read_text()) == [seed_basic, seed_full]
    rows = stored(store)
    basic, full = rows
    assert basic["throughput_rpm"] == 11876
    assert basic["throughput_computed"] is False
    assert basic["total_duration_seconds"] == 3312
    assert basic["total_records"] == 13198
    assert basic["quality_pass_rate"] == pytest.approx(0.661)
    assert (basic["retries"], basic["errors"], basic["_synthetic"]) == (1, 0, False)
    assert basic["cpu_peak_percent"] is None
    assert basic["environment"] is None
    assert basic["schema_version"] == "2.0"
    assert basic["status"] == "success"
    assert basic["_source"] == "record-pipeline-run"
    assert basic["_version"] > 0
    assert (full["cpu_peak_percent"], full["cpu_avg_percent"]) == (87.3, 45.2)
    assert (full["memory_peak_mb"], full["memory_avg_mb"]) == (2048, 1536)
    assert (full["disk_read_mb"], full["disk_write_mb"]) == (145.3, 89.7)
    assert json.loads(full["environment"]) == seed_full["environment"]
    assert full["timestamp"].isoformat() == "2025-11-08T19:00:00+00:00"


def test_a_duplicate_run_id_is_rejected_unless_upsert(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    record(store, make_run(), history=history)
    with pytest.raises(PipelineRunInvalid) as info:
        record(store, make_run(total_records=1), history=history)
    assert [str(p) for p in info.value.problems] == [
        f"run_id: 20251109_060000 is already recorded in the store and {history}: "
        "use another run_id, or --upsert to replace it"
    ]
    assert stored(store)[0]["total_records"] == 12000
    result = record(
        store, make_run(total_records=11000, throughput_rpm=None), history=history, upsert=True
    )
    assert result.replaced == ["20251109_060000"]
    assert [r["total_records"] for r in stored(store)] == [11000]
    entries = json.loads(history.read_text())
    assert [e["total_records"] for e in entries] == [11000]


def test_a_run_id_only_in_the_history_file_is_a_duplicate(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    history.write_text(json.dumps([make_run()]))
    with pytest.raises(PipelineRunInvalid, match=r"already recorded in .*h\.json"):
        record(store, make_run(), history=history)
    assert stored(store) == []


def test_nothing_is_written_unless_every_run_is_valid(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    history.write_text(json.dumps([make_run(run_id="20251101_000000")], indent=2))
    before = history.read_bytes()
    bad = make_run(run_id="20251109_070000", quality_pass_rate=1.5)
    with pytest.raises(PipelineRunInvalid) as info:
        record(store, [make_run(), bad], history=history)
    assert "run[1].quality_pass_rate" in str(info.value)
    assert stored(store) == []
    assert history.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if "h.json" in p.name] == ["h.json"]


def test_history_is_appended_and_keeps_other_entries_untouched(
    store: Store, tmp_path: Path
) -> None:
    history = tmp_path / "h.json"
    old = {"run_id": "20240101_000000", "legacy": "kept as it was"}  # not ours to judge
    history.write_text(json.dumps([old]))
    record(store, make_run(), history=history)
    assert json.loads(history.read_text()) == [old, make_run()]


def test_history_wrapped_in_an_object_keeps_its_shape(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    history.write_text(json.dumps({"generated_by": "dashboard", "runs": []}))
    record(store, make_run(), history=history)
    assert json.loads(history.read_text()) == {"generated_by": "dashboard", "runs": [make_run()]}


def test_a_new_history_file_and_its_directory_are_created(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "dashboard" / "data" / "pipeline_run_history.json"
    record(store, make_run(), history=history)
    assert json.loads(history.read_text()) == [make_run()]


@pytest.mark.parametrize("content", ["[{", '{"not": "runs"}', "42"])
def test_a_broken_history_file_stops_the_recording(
    store: Store, tmp_path: Path, content: str
) -> None:
    history = tmp_path / "h.json"
    history.write_text(content)
    with pytest.raises(BadInput, match=r"h\.json"):
        record(store, make_run(), history=history)
    assert stored(store) == []
    assert history.read_text() == content


def test_a_failed_store_write_leaves_the_history_file_as_it_was(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = tmp_path / "h.json"
    history.write_text("[]")

    def broken(*_a: Any, **_k: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "upsert", broken)
    with pytest.raises(RuntimeError):
        record(store, make_run(), history=history)
    assert history.read_text() == "[]"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".h.json")] == []


def test_dry_run_checks_duplicates_but_writes_nothing(store: Store, tmp_path: Path) -> None:
    history = tmp_path / "h.json"
    record(store, make_run(run_id="20251101_000000"))
    result = record(store, make_run(), history=history, dry_run=True)
    assert [v.run.run_id for v in result.runs] == ["20251109_060000"]
    assert not history.exists()
    assert [r["run_id"] for r in stored(store)] == ["20251101_000000"]
    with pytest.raises(PipelineRunInvalid):
        record(store, make_run(run_id="20251101_000000"), dry_run=True)


def test_pipeline_name_defaults_and_can_be_given(store: Store) -> None:
    record(store, make_run(run_id="20251101_000000"))
    record(store, make_run(run_id="20251101_000001"), pipeline="nightly-etl")
    record(store, make_run(run_id="20251101_000002", pipeline="hourly"), pipeline="nightly-etl")
    assert [r["pipeline"] for r in stored(store)] == ["default", "nightly-etl", "hourly"]


def test_status_follows_exit_status_or_explicit_status(store: Store) -> None:
    record(store, make_run(run_id="20251101_000000", exit_status=0))
    record(store, make_run(run_id="20251101_000001", exit_status=2, command=["etl", "--x"]))
    record(store, make_run(run_id="20251101_000002", status="failed"))
    rows = stored(store)
    assert [r["status"] for r in rows] == ["success", "failed", "failed"]
    assert json.loads(rows[1]["command"]) == ["etl", "--x"]


def test_the_history_file_keeps_its_permissions(store: Store, tmp_path: Path) -> None:
    fresh = tmp_path / "new.json"
    record(store, make_run(), history=fresh)
    assert fresh.stat().st_mode & 0o777 == 0o644
    shared = tmp_path / "shared.json"
    shared.write_text("[]")
    shared.chmod(0o664)
    record(store, make_run(run_id="20251101_000000"), history=shared)
    assert shared.stat().st_mode & 0o777 == 0o664
