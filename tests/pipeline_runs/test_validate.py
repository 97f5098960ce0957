from __future__ import annotations

from typing import Any

import pytest

from forgelens.pipeline_runs import PipelineRun, upgrade_v1, validate_runs
from forgelens.pipeline_runs.validate import validate_run
from tests.pipeline_runs.conftest import make_run


def problems_of(obj: Any, **kw: Any) -> list[str]:
    return [str(p) for p in validate_runs(obj, **kw).problems]


def test_a_valid_run_has_no_problems_and_no_warnings() -> None:
    report = validate_runs(make_run())
    assert report.ok
    assert report.warnings == []
    assert report.runs[0].run.run_id == "20251109_060000"


@pytest.mark.parametrize(
    "field",
    [
        "run_id",
        "timestamp",
        "sources_processed",
        "total_duration_seconds",
        "total_records",
        "quality_pass_rate",
    ],
)
def test_each_required_field_is_reported_when_missing(field: str) -> None:
    obj = make_run()
    del obj[field]
    assert problems_of(obj) == [f"{field}: required field is missing"]


def test_retries_and_errors_default_to_zero() -> None:
    obj = make_run()
    del obj["retries"], obj["errors"]
    run = validate_runs(obj).runs[0].run
    assert (run.retries, run.errors) == (0, 0)


@pytest.mark.parametrize(
    ("version", "ok"), [("1.0", True), ("2.0", True), ("3.0", False), (2, False)]
)
def test_schema_version_must_be_1_0_or_2_0(version: Any, ok: bool) -> None:
    problems = problems_of(make_run(schema_version=version))
    assert problems == ([] if ok else [f'schema_version: must be "1.0" or "2.0" (got {version!r})'])


@pytest.mark.parametrize(
    ("run_id", "ok"),
    [
        ("20251108_190000", True),
        ("20251108-190000", False),
        ("2025110_190000", False),
        ("20251308_190000", False),  # month 13
        ("20251108_250000", False),  # hour 25
        (20251108190000, False),
    ],
)
def test_run_id_format_is_yyyymmdd_hhmmss(run_id: Any, ok: bool) -> None:
    problems = problems_of(make_run(run_id=run_id))
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith("run_id: must be")
        assert "YYYYMMDD_HHMMSS" in problems[0]


@pytest.mark.parametrize(
    ("timestamp", "ok"),
    [
        ("2025-11-08T19:00:00Z", True),
        ("2025-11-08T19:00:00+02:00", True),
        ("2025-11-08T19:00:00.250Z", True),
        ("2025-11-08 19:00", True),
        ("08/11/2025 19:00", False),
        ("yesterday", False),
        (1731092400, False),
    ],
)
def test_timestamp_must_be_iso_8601(timestamp: Any, ok: bool) -> None:
    problems = problems_of(make_run(timestamp=timestamp))
    assert (problems == []) is ok
    if not ok:
        assert problems[0].startswith("timestamp: must be")
        assert "ISO 8601" in problems[0]


def test_timestamps_are_kept_in_utc() -> None:
    run = validate_runs(make_run(timestamp="2025-11-08T21:00:00+02:00")).runs[0].run
    assert run.to_json_obj()["timestamp"] == "2025-11-08T19:00:00Z"


# Each range of the seed: the two bounds pass, one step beyond each fails.
RANGE_CASES = [
    ("sources_processed", 1, 10, 0, 11),
    ("total_duration_seconds", 0, 86400, -1, 86401),
    ("total_records", 0, 1_000_000, -1, 1_000_001),
    ("throughput_rpm", 0, 100_000, -0.5, 100_001),
    ("quality_pass_rate", 0, 1, -0.01, 1.01),
]


@pytest.mark.parametrize(("field", "lo", "hi", "below", "above"), RANGE_CASES)
def test_ranges_are_the_seeds(field: str, lo: Any, hi: Any, below: Any, above: Any) -> None:
    for ok_value in (lo, hi):
        report = validate_runs(make_run(**{field: ok_value}))
        assert report.ok, (field, ok_value, report.problems)
    for bad in (below, above):
        assert problems_of(make_run(**{field: bad})) == [
            f"{field}: must be between {lo:,} and {hi:,} (got {bad:,})"
        ]


def test_negative_retries_and_errors_are_rejected() -> None:
    assert problems_of(make_run(retries=-1, errors=-2)) == [
        "retries: must not be negative (got -1)",
        "errors: must not be negative (got -2)",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sources_processed", "5", "must be a whole number (got '5')"),
        ("sources_processed", 2.5, "must be a whole number (got 2.5)"),
        ("total_records", True, "must be a whole number (got True)"),
        ("total_duration_seconds", "3312", "must be a number (got '3312')"),
        ("quality_pass_rate", None, "required field is missing"),
        ("_synthetic", "no", "must be true or false (got 'no')"),
    ],
)
def test_types_get_a_message_per_field(field: str, value: Any, message: str) -> None:
    assert problems_of(make_run(**{field: value})) == [f"{field}: {message}"]


def test_unknown_fields_are_reported_with_a_suggestion() -> None:
    obj = make_run(total_record=5, colour="blue")
    assert problems_of(obj) == [
        "total_record: unknown field (did you mean 'total_records'?)",
        "colour: unknown field",
    ]


def test_resource_metrics_peaks_must_cover_averages(seed_full: dict[str, Any]) -> None:
    assert validate_runs(seed_full).ok
    seed_full["resource_metrics"]["cpu"] = {"peak_percent": 40.0, "avg_percent": 45.2}
    seed_full["resource_metrics"]["memory"] = {"peak_mb": 1000, "avg_mb": 1536}
    assert problems_of(seed_full) == [
        "resource_metrics.cpu: CPU peak_percent (40.0) must be >= avg_percent (45.2)",
        "resource_metrics.memory: memory peak_mb (1000) must be >= avg_mb (1536)",
    ]


def test_peak_equal_to_average_is_fine(seed_full: dict[str, Any]) -> None:
    seed_full["resource_metrics"]["cpu"] = {"peak_percent": 45.2, "avg_percent": 45.2}
    assert validate_runs(seed_full).ok


def test_nested_unknown_and_missing_fields_name_their_path(seed_full: dict[str, Any]) -> None:
    seed_full["resource_metrics"]["disk"] = {"read_mb": 1, "written_mb": 2}
    del seed_full["environment"]["hostname"]
    assert problems_of(seed_full) == [
        "resource_metrics.disk.write_mb: required field is missing",
        "resource_metrics.disk.written_mb: unknown field (did you mean 'write_mb'?)",
        "environment.hostname: required field is missing",
    ]


def test_v1_objects_may_not_carry_v2_fields(seed_full: dict[str, Any]) -> None:
    seed_full["schema_version"] = "1.0"
    assert problems_of(seed_full) == [
        'resource_metrics: needs schema_version "2.0" (this object is v1.0)',
        'environment: needs schema_version "2.0" (this object is v1.0)',
    ]


def test_v1_is_upgraded_to_v2_on_read() -> None:
    v1 = make_run(schema_version="1.0", retries=None, errors=None)
    assert "retries" not in v1
    upgraded = upgrade_v1(v1)
    assert upgraded == {**v1, "schema_version": "2.0", "retries": 0, "errors": 0}
    run = validate_runs(v1).runs[0].run
    assert isinstance(run, PipelineRun)
    assert run.schema_version == "2.0"
    assert run.resource_metrics is None
    assert run.environment is None
    assert run.to_json_obj() == upgraded


def test_a_run_without_schema_version_is_v1() -> None:
    obj = make_run(schema_version=None)
    assert validate_runs(obj).runs[0].run.schema_version == "2.0"
    obj["environment"] = {}
    assert problems_of(obj) == ['environment: needs schema_version "2.0" (this object is v1.0)']


def test_throughput_is_computed_when_absent() -> None:
    report = validate_runs(
        make_run(throughput_rpm=None, total_records=1000, total_duration_seconds=90)
    )
    validated = report.runs[0]
    assert validated.throughput_computed
    assert validated.run.throughput_rpm == pytest.approx(666.7)
    assert report.warnings == []


def test_computed_throughput_is_range_checked_too() -> None:
    obj = make_run(throughput_rpm=None, total_records=200_000, total_duration_seconds=60)
    assert problems_of(obj) == ["throughput_rpm: must be between 0 and 100,000 (got 200,000.0)"]


def test_throughput_cannot_be_computed_from_zero_duration() -> None:
    obj = make_run(throughput_rpm=None, total_duration_seconds=0)
    assert problems_of(obj) == ["throughput_rpm: cannot be computed from a zero duration"]
    empty = make_run(throughput_rpm=None, total_duration_seconds=0, total_records=0)
    assert validate_runs(empty).runs[0].run.throughput_rpm == 0


@pytest.mark.parametrize(
    ("supplied", "warned"), [(1200, False), (1319, False), (1321, True), (1079, True)]
)
def test_supplied_throughput_is_kept_but_warned_beyond_ten_percent(
    supplied: int, warned: bool
) -> None:
    report = validate_runs(make_run(throughput_rpm=supplied))  # computed: 1200 per minute
    assert report.ok
    assert report.runs[0].run.throughput_rpm == supplied
    assert bool(report.warnings) is warned


def test_the_seed_example_throughput_triggers_the_warning(seed_basic: dict[str, Any]) -> None:
    report = validate_runs(seed_basic)
    assert report.ok
    assert [str(w) for w in report.warnings] == [
        "throughput_rpm: 11,876 differs by 4867% from total_records / "
        "(total_duration_seconds / 60) = 13,198 / (3,312 / 60) = 239.1; recorded as supplied"
    ]


def test_the_seed_examples_validate_to_themselves(
    seed_basic: dict[str, Any], seed_full: dict[str, Any]
) -> None:
    for example in (seed_basic, seed_full):
        report = validate_runs(example)
        assert report.ok
        assert report.runs[0].run.to_json_obj() == example
        assert list(report.runs[0].run.to_json_obj()) == list(example)  # same key order


def test_a_list_names_each_run_and_reports_duplicates() -> None:
    good = make_run()
    bad = make_run(run_id="20251109_070000", sources_processed=0)
    report = validate_runs([good, bad, dict(good)])
    assert [str(p) for p in report.problems] == [
        "run[1].sources_processed: must be between 1 and 10 (got 0)",
        "run_id: 20251109_060000 appears 2 times in the input",
    ]


@pytest.mark.parametrize("data", [[], "a run", 5, [1]])
def test_input_that_is_not_runs_is_reported(data: Any) -> None:
    assert problems_of(data)


def test_ranges_can_be_skipped_for_measured_runs() -> None:
    obj = make_run(sources_processed=40, total_duration_seconds=100_000)
    assert not validate_runs(obj).ok
    validated, problems, _ = validate_run(obj, check_ranges=False)
    assert validated is not None
    assert problems == []
