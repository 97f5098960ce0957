"""``forgelens record-pipeline-run`` and ``forgelens pipeline-runs report`` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from forgelens.cli import main
from forgelens.store import open_store
from tests.pipeline_runs.conftest import FIXTURES, make_run, seed_example

SEED_BASIC = FIXTURES / "seed_run_data.json"
SEED_FULL = FIXTURES / "seed_complete_v2.json"
THROUGHPUT_WARNING = (
    "warning: throughput_rpm: 11,876 differs by 4867% from total_records / "
    "(total_duration_seconds / 60) = 13,198 / (3,312 / 60) = 239.1; recorded as supplied"
)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'runs.duckdb'}"


def rows(db: str) -> list[dict[str, Any]]:
    store = open_store(db)
    try:
        return store.query_dicts("SELECT * FROM pipeline_runs ORDER BY run_id")
    finally:
        store.close()


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone."""
    return " ".join(text.split())


def cli(*args: str) -> int:
    return main(list(args))


def test_the_seed_examples_are_recorded_exactly_with_the_throughput_warning(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "dashboard" / "data" / "pipeline_run_history.json"
    assert cli("record-pipeline-run", "-i", str(SEED_BASIC), "-o", str(history), "--db", db) == 0
    out = capsys.readouterr()
    assert THROUGHPUT_WARNING in out.err
    assert "recorded 1 run(s)" in out.out
    # the full example has the same run_id: the seed's own duplicate rule applies
    assert cli("record-pipeline-run", "-i", str(SEED_FULL), "-o", str(history), "--db", db) == 2
    err = flat(capsys.readouterr().err)
    assert "20251108_190000 is already recorded in the store and" in err
    assert "nothing was recorded" in err
    assert (
        cli("record-pipeline-run", "-i", str(SEED_FULL), "-o", str(history), "--db", db, "--upsert")
        == 0
    )
    assert THROUGHPUT_WARNING in capsys.readouterr().err
    assert json.loads(history.read_text()) == [seed_example("seed_complete_v2")]
    (row,) = rows(db)
    assert (row["throughput_rpm"], row["total_records"], row["memory_peak_mb"]) == (
        11876,
        13198,
        2048,
    )


def test_a_list_input_is_recorded_all_or_nothing(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = make_run(run_id="20251109_070000", total_records=2_000_000, colour="red")
    runs = write(tmp_path / "runs.json", [make_run(), bad])
    assert cli("record-pipeline-run", "-i", str(runs), "--db", db) == 2
    err = capsys.readouterr().err
    assert "  - run[1].colour: unknown field" in err
    assert "  - run[1].total_records: must be between 0 and 1,000,000 (got 2,000,000)" in err
    assert f"error: {runs}: 2 problem(s) listed above; nothing was recorded" in flat(err)
    assert rows(db) == []
    runs = write(tmp_path / "runs.json", [make_run(), make_run(run_id="20251109_070000")])
    assert cli("record-pipeline-run", "-i", str(runs), "--db", db) == 0
    assert [r["run_id"] for r in rows(db)] == ["20251109_060000", "20251109_070000"]


def test_dry_run_validates_and_prints_but_writes_nothing(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.json"
    run = write(tmp_path / "run.json", make_run(throughput_rpm=None))
    assert (
        cli("record-pipeline-run", "-i", str(run), "-o", str(history), "--dry-run", "--db", db) == 0
    )
    out = capsys.readouterr()
    assert json.loads(out.out) == make_run(throughput_rpm=1200.0)
    assert "dry run: 1 valid run(s); nothing was written" in out.err
    assert not history.exists()
    assert not (tmp_path / "runs.duckdb").exists()
    bad = write(tmp_path / "bad.json", make_run(quality_pass_rate=7))
    assert cli("record-pipeline-run", "-i", str(bad), "--dry-run", "--db", db) == 2
    assert "quality_pass_rate: must be between 0 and 1 (got 7)" in capsys.readouterr().err


def test_unreadable_input_is_a_one_line_error(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "run.json"
    broken.write_text('{"run_id": ')
    assert cli("record-pipeline-run", "-i", str(broken), "--db", db) == 2
    assert "is not valid JSON (line 1" in flat(capsys.readouterr().err)
    assert cli("record-pipeline-run", "-i", str(tmp_path / "missing.json"), "--db", db) == 2
    assert "cannot read" in flat(capsys.readouterr().err)
    assert cli("record-pipeline-run", "--db", db, "echo", "hi") == 2
    assert "--exec -- CMD ARGS" in flat(capsys.readouterr().err)


def test_report_as_json_and_table(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [
        make_run(run_id="20251109_060000", timestamp="2025-11-09T06:00:00Z"),
        make_run(run_id="20251109_070000", timestamp="2025-11-09T07:00:00Z", _synthetic=True),
    ]
    assert cli("record-pipeline-run", "-i", str(write(tmp_path / "r.json", runs)), "--db", db) == 0
    capsys.readouterr()
    assert cli("pipeline-runs", "report", "--format", "json", "--db", db) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["pipeline"] == "default"
    assert report["runs"] == 1
    assert report["fresh"] is False
    assert report["success_rate"] == 1
    assert cli("pipeline-runs", "report", "--include-synthetic", "-f", "json", "--db", db) == 0
    assert json.loads(capsys.readouterr().out)[0]["runs"] == 2
    assert cli("pipeline-runs", "report", "--db", db) == 0
    table = capsys.readouterr().out
    assert "pipeline default" in table
    assert "success_rate" in table
    assert cli("pipeline-runs", "report", "--fail-if-stale", "--db", db) == 1
    assert cli("pipeline-runs", "report", "--fail-if-stale", "--max-age", "10000d", "--db", db) == 0


def test_report_reads_a_history_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = write(tmp_path / "h.json", [seed_example("seed_run_data")])
    assert cli("pipeline-runs", "report", "--history", str(history), "-f", "json") == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["throughput_rpm_last"] == 11876


def test_commands_have_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["record-pipeline-run", "--help"], ["pipeline-runs", "report", "--help"]):
        assert cli(*args) == 0
        assert "forgelens" in capsys.readouterr().out


def forgelens(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forgelens", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_exec_records_a_real_process_and_passes_its_exit_status_on(tmp_path: Path, db: str) -> None:
    script = (
        "import sys, time\n"
        "block = bytearray(100 * 1024 * 1024)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        "time.sleep(1)\n"
        "sys.exit(5)\n"
    )
    done = forgelens(
        "record-pipeline-run",
        "--db",
        db,
        "--sample-seconds",
        "0.2",
        "--pipeline",
        "etl",
        "--set",
        "total_records=300",
        "--set",
        "sources_processed=2",
        "--exec",
        "--",
        sys.executable,
        "-c",
        script,
        cwd=tmp_path,
    )
    assert done.returncode == 5, done.stderr
    assert "recorded 1 run(s)" in done.stdout
    assert "quality_pass_rate not reported" in done.stderr
    (row,) = rows(db)
    assert (row["pipeline"], row["status"], row["exit_status"]) == ("etl", "failed", 5)
    assert (row["total_records"], row["sources_processed"]) == (300, 2)
    assert 100 <= row["memory_peak_mb"] <= 200
    assert json.loads(row["command"])[-1] == script


def test_exec_of_a_command_killed_by_a_signal_exits_like_a_shell(db: str) -> None:
    code = cli(
        "record-pipeline-run", "--db", db, "--sample-seconds", "0.2",
        "--exec", "--", "sh", "-c", "kill -TERM $$",
    )  # fmt: skip
    assert code == 128 + 15
    (row,) = rows(db)
    assert (row["exit_status"], row["status"]) == (-15, "failed")


def test_exec_of_a_missing_command_records_nothing(db: str, capsys: Any) -> None:
    assert cli("record-pipeline-run", "--db", db, "--exec", "--", "no-such-cmd-xyz") == 2
    assert "command not found: no-such-cmd-xyz" in flat(capsys.readouterr().err)
    assert rows(db) == []


# -- interactive mode, through a pseudo-terminal ---------------------------------------------


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., pexpect.spawn]]:
    """Start ``forgelens record-pipeline-run ARGS`` on a pseudo-terminal; always cleaned up."""
    children: list[pexpect.spawn] = []

    def start(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "forgelens", "record-pipeline-run", *args],
            cwd=str(tmp_path),
            env={**os.environ, "COLUMNS": "200"},
            encoding="utf-8",
            timeout=60,  # generous: the machine is shared
        )
        children.append(child)
        return child

    yield start
    for child in children:
        child.close(force=True)


def answer(child: pexpect.spawn, prompt: str, text: str, *, then: str | None = None) -> None:
    child.expect_exact(prompt)
    child.sendline(text)
    if then is not None:
        child.expect_exact(then)


def test_interactive_mode_asks_with_defaults_and_re_asks_on_bad_answers(
    tmp_path: Path, db: str, spawn: Callable[..., pexpect.spawn]
) -> None:
    history = tmp_path / "history.json"
    child = spawn("-o", str(history), "--db", db, "--sample-seconds", "0.2")
    answer(child, "Run ID (YYYYMMDD_HHMMSS) [", "2025-11-08", then="must be YYYYMMDD_HHMMSS")
    answer(child, "Run ID (YYYYMMDD_HHMMSS) [", "20251108_190000")
    answer(child, "Timestamp (ISO 8601) [2025-11-08T19:00:00Z]: ", "")
    answer(child, "Schema version (1.0/2.0) [2.0]: ", "3", then='must be "1.0" or "2.0"')
    answer(child, "Schema version (1.0/2.0) [2.0]: ", "")
    answer(child, "Sources processed (1-10) [1]: ", "11", then="must be between 1 and 10")
    answer(child, "Sources processed (1-10) [1]: ", "5")
    answer(child, "Total duration in seconds (0-86400): ", "", then="an answer is required")
    answer(child, "Total duration in seconds (0-86400): ", "3312")
    answer(child, "Total records (0-1000000): ", "lots", then="must be a whole number")
    answer(child, "Total records (0-1000000): ", "13198")
    answer(child, "Throughput, records per minute (0-100000) [239.1]: ", "11876")
    answer(child, "Quality pass rate (0-1): ", "1.2", then="must be between 0 and 1")
    answer(child, "Quality pass rate (0-1): ", "0.661")
    answer(child, "Retries [0]: ", "1")
    answer(child, "Errors [0]: ", "")
    answer(child, "Collect resource metrics? (y/n) [n]: ", "perhaps", then="answer y or n")
    answer(child, "Collect resource metrics? (y/n) [n]: ", "y")
    # defaults: this machine sampled with psutil; the answers override them
    child.expect_exact("sampling this machine's CPU, memory and disk (psutil)")
    answer(child, "CPU peak % [", "87.3")
    answer(child, "CPU average % [", "90", then="must not exceed the peak")
    answer(child, "CPU average % [", "45.2")
    answer(child, "Memory peak MB [", "2048")
    answer(child, "Memory average MB [", "1536")
    answer(child, "Disk read MB [", "145.3")
    answer(child, "Disk write MB [", "89.7")
    answer(child, "Synthetic (test) run? (y/n) [n]: ", "")
    answer(child, "Record this run? (y/n) [y]: ", "", then="recorded 1 run(s)")
    assert "warning: throughput_rpm: 11,876 differs by 4867%" in flat(child.before or "")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    (entry,) = json.loads(history.read_text())
    expected = seed_example("seed_complete_v2")
    assert entry["environment"]["cpu_cores"] == os.cpu_count()
    entry.pop("environment"), expected.pop("environment")
    assert entry == expected
    (row,) = rows(db)
    assert (row["cpu_peak_percent"], row["memory_avg_mb"], row["retries"]) == (87.3, 1536, 1)


def test_interactive_mode_refuses_a_recorded_run_id_and_can_be_declined(
    db: str, spawn: Callable[..., pexpect.spawn]
) -> None:
    assert cli("record-pipeline-run", "-i", str(SEED_BASIC), "--db", db) == 0
    child = spawn("--db", db)
    answer(child, "Run ID (YYYYMMDD_HHMMSS) [", "20251108_190000", then="already recorded")
    answer(child, "Run ID (YYYYMMDD_HHMMSS) [", "20251108_200000")
    for prompt, text in [
        ("Timestamp (ISO 8601) [2025-11-08T20:00:00Z]: ", ""),
        ("Schema version (1.0/2.0) [2.0]: ", "1.0"),
        ("Sources processed (1-10) [1]: ", ""),
        ("Total duration in seconds (0-86400): ", "60"),
        ("Total records (0-1000000): ", "100"),
        ("Throughput, records per minute (0-100000) [100]: ", ""),
        ("Quality pass rate (0-1): ", "1"),
        ("Retries [0]: ", ""),
        ("Errors [0]: ", ""),
        ("Synthetic (test) run? (y/n) [n]: ", "y"),
    ]:
        answer(child, prompt, text)
    answer(child, "Record this run? (y/n) [y]: ", "n", then="nothing recorded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [r["run_id"] for r in rows(db)] == ["20251108_190000"]


def test_interactive_mode_stopped_with_ctrl_d_records_nothing(
    db: str, spawn: Callable[..., pexpect.spawn]
) -> None:
    child = spawn("--db", db)
    answer(child, "Run ID (YYYYMMDD_HHMMSS) [", "20251108_190000")
    child.expect_exact("Timestamp (ISO 8601)")
    child.sendeof()
    child.expect_exact("input ended before the run was complete; nothing was recorded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert rows(db) == []


# -- forgelens recording its own runs --------------------------------------------------------


def test_collect_records_its_own_run(make_repo: Any, tmp_path: Path, db: str) -> None:
    from tests.conftest import git

    repo = make_repo("repo")
    for name in ("a.txt", "b.txt"):
        (repo / name).write_text("hello\n")
        git(repo, "add", name)
        git(repo, "commit", "-q", "-m", f"add {name}")
    # in a process of its own, as a user runs it -- here measured by --exec too, which must
    # leave the store free for the command while it runs
    done = forgelens(
        "record-pipeline-run", "--db", db, "--pipeline", "wrapper", "--exec", "--",
        sys.executable, "-m", "forgelens", "collect", f"git:{repo}", "--db", db,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    failed_run = forgelens("collect", f"git:{tmp_path / 'not-a-repo'}", "--db", db, cwd=tmp_path)
    assert failed_run.returncode != 0
    (wrapper,) = [r for r in rows(db) if r["pipeline"] == "wrapper"]
    assert (wrapper["exit_status"], wrapper["status"]) == (0, "success")
    own = [r for r in rows(db) if r["pipeline"] != "wrapper"]
    ok, failed = sorted(own, key=lambda r: r["status"] != "success")
    assert (ok["pipeline"], ok["status"]) == ("forgelens.collect", "success")
    # 2 commits + 2 commit_files rows, from one repository
    assert (ok["total_records"], ok["sources_processed"], ok["errors"]) == (4, 1, 0)
    assert ok["memory_peak_mb"] > 0
    assert ok["environment"] is not None
    assert (failed["pipeline"], failed["status"]) == ("forgelens.collect", "failed")
    assert "not-a-repo" in failed["failure_reason"]
