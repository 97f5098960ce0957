"""``--exec``: a real child process, sampled while it runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from forgelens.errors import BadInput
from forgelens.pipeline_runs.execute import METRICS_ENV, parse_assignments, run_and_measure
from forgelens.pipeline_runs.sampler import TreeSampler
from forgelens.pipeline_runs.validate import validate_runs

# Allocates 200 MiB, touches every page (so it is resident), holds it for a while.
ALLOCATE = """
import os, sys, time
block = bytearray(200 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep(1.5)
sys.exit(int(sys.argv[1]))
"""


def test_a_child_holding_200_mb_is_measured_near_the_truth() -> None:
    execution = run_and_measure([sys.executable, "-c", ALLOCATE, "0"], interval=0.2)
    metrics = execution.obj["resource_metrics"]
    # 200 MiB of data plus the interpreter (~10-30 MiB); never below the data itself.
    assert 200 <= metrics["memory"]["peak_mb"] <= 300
    assert metrics["memory"]["avg_mb"] <= metrics["memory"]["peak_mb"]
    assert metrics["cpu"]["avg_percent"] <= metrics["cpu"]["peak_percent"]
    assert execution.obj["total_duration_seconds"] >= 1.5
    assert execution.exit_status == 0
    assert execution.obj["exit_status"] == 0
    report = validate_runs(execution.obj)
    assert report.ok, report.problems


def test_the_sampler_alone_sees_the_memory_of_a_running_tree(tmp_path: Path) -> None:
    # A shell whose child does the allocating: the tree, not just the root, is summed.
    import subprocess

    proc = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "$0" 0', ALLOCATE])
    sampler = TreeSampler(proc.pid, interval=0.2).start()
    proc.wait()
    usage = sampler.stop(final_sample=False)
    assert usage.samples >= 3
    assert 200 <= usage.memory_peak_mb <= 300


def test_exit_status_and_reported_counts_are_recorded(tmp_path: Path) -> None:
    script = (
        "import json, os, sys, time\n"
        "time.sleep(0.2)\n"
        "counts = {'total_records': 50, 'sources_processed': 2}\n"
        f"json.dump(counts, open(os.environ['{METRICS_ENV}'], 'w'))\n"
        "sys.exit(3)\n"
    )
    execution = run_and_measure(
        [sys.executable, "-c", script], interval=0.5, base={"quality_pass_rate": 0.75}
    )
    obj = execution.obj
    assert execution.exit_status == 3
    assert obj["exit_status"] == 3
    assert (obj["total_records"], obj["sources_processed"]) == (50, 2)
    assert obj["quality_pass_rate"] == 0.75
    assert obj["command"][0] == sys.executable
    assert execution.notes == []
    run = validate_runs(obj).runs[0].run
    assert not run.succeeded


def test_missing_counts_fall_back_to_defaults_with_a_note() -> None:
    execution = run_and_measure(["true"], interval=0.5)
    assert execution.obj["total_records"] == 0
    assert execution.obj["quality_pass_rate"] == 1.0
    assert [n.split()[0] for n in execution.notes] == [
        "sources_processed",
        "total_records",
        "quality_pass_rate",
    ]


def test_user_fields_win_over_what_the_command_reports() -> None:
    script = (
        "import json, os\n"
        f"json.dump({{'total_records': 5}}, open(os.environ['{METRICS_ENV}'], 'w'))\n"
    )
    execution = run_and_measure(
        [sys.executable, "-c", script], interval=0.5, base={"total_records": 7}
    )
    assert execution.obj["total_records"] == 7


def test_a_broken_metrics_file_is_noted_and_ignored() -> None:
    script = f"import os; open(os.environ['{METRICS_ENV}'], 'w').write('{{oops')"
    execution = run_and_measure([sys.executable, "-c", script], interval=0.5)
    assert any("not valid JSON" in n for n in execution.notes)


def test_a_missing_command_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="command not found: no-such-command-xyz"):
        run_and_measure(["no-such-command-xyz"], interval=0.5)
    with pytest.raises(BadInput, match="needs a command"):
        run_and_measure([], interval=0.5)


def test_assignments_parse_json_values() -> None:
    assert parse_assignments(["total_records=5", "quality_pass_rate=0.5", "pipeline=etl"]) == {
        "total_records": 5,
        "quality_pass_rate": 0.5,
        "pipeline": "etl",
    }
    with pytest.raises(BadInput, match="KEY=VALUE"):
        parse_assignments(["total_records"])


def test_sampler_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TreeSampler(1, interval=0)


def test_environment_is_recorded() -> None:
    obj = run_and_measure(["true"], interval=0.5).obj
    env = obj["environment"]
    assert env["os"] == sys.platform
    assert env["cpu_cores"] >= 1
    assert env["total_memory_mb"] > 0
    assert json.loads(json.dumps(env)) == env


def test_a_short_command_is_sampled_even_with_the_default_interval() -> None:
    # holds 100 MiB for under a second: the 5 s interval alone would never see it
    script = ALLOCATE.replace("200 *", "100 *").replace("time.sleep(1.5)", "time.sleep(0.8)")
    execution = run_and_measure([sys.executable, "-c", script, "0"], interval=5.0)
    assert 100 <= execution.obj["resource_metrics"]["memory"]["peak_mb"] <= 200
