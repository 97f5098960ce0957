"""``record-pipeline-run --exec -- CMD ARGS...``: run a command, measure it, describe the run.

The command inherits the terminal; its process tree is sampled every ``interval`` seconds. It
may report its own counts by writing a JSON object (``{"total_records": 13198, ...}``) to the
file named in ``$FORGELENS_RUN_METRICS``. Fields it does not report fall back to the ``-i`` file,
``--set KEY=VALUE`` values, and finally to defaults (with a warning naming each one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgelens.errors import BadInput
from forgelens.pipeline_runs.sampler import TreeSampler, environment_info

METRICS_ENV = "FORGELENS_RUN_METRICS"


def run_id_for(when: datetime) -> str:
    """The seed's run_id format, YYYYMMDD_HHMMSS, of a UTC time."""
    return when.astimezone(UTC).strftime("%Y%m%d_%H%M%S")


def iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Execution:
    obj: dict[str, Any]
    exit_status: int
    notes: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    run_id_given: bool = False  # the caller set run_id (--set or -i); else it is the start time


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that is JSON (``5``, ``0.9``, ``true``) is taken as such."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set {pair!r}: write KEY=VALUE, e.g. --set total_records=13198")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def _wait(proc: subprocess.Popen[bytes]) -> tuple[int, Any]:
    while True:
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries for us
            continue
        except KeyboardInterrupt:
            # The child got the same Ctrl-C from the terminal; give it time to finish.
            proc.send_signal(signal.SIGINT)
            continue
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    return code, rusage


def _read_metrics(path: Path, notes: list[str]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        notes.append(f"${METRICS_ENV}: not valid JSON ({exc.msg}); ignored")
        return {}
    if not isinstance(data, dict):
        notes.append(f"${METRICS_ENV}: not a JSON object; ignored")
        return {}
    return data


def run_and_measure(
    command: list[str], *, interval: float = 5.0, base: dict[str, Any] | None = None
) -> Execution:
    """Run ``command`` to its end, sampling it; return the run object to validate and record.

    ``base`` holds fields given by the user (``-i`` object merged with ``--set`` values): they
    win over what the command reports, which wins over the defaults.
    """
    if not command:
        raise BadInput("--exec needs a command: forgelens record-pipeline-run --exec -- CMD ARGS")
    fd, metrics_name = tempfile.mkstemp(prefix="forgelens-run-", suffix=".json")
    os.close(fd)
    metrics_path = Path(metrics_name)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(command, env={**os.environ, METRICS_ENV: metrics_name})
        except FileNotFoundError as exc:
            raise BadInput(f"command not found: {command[0]}; nothing was recorded") from exc
        except PermissionError as exc:
            raise BadInput(f"{command[0]} is not executable; nothing was recorded") from exc
        sampler = TreeSampler(proc.pid, interval).start()
        code, rusage = _wait(proc)
        wall = time.monotonic() - t0
        # ru_maxrss is not used: it includes the parent's memory at fork time.
        usage = sampler.stop(final_sample=False, cpu_seconds=rusage.ru_utime + rusage.ru_stime)
        if usage.disk_read_mb is not None and usage.disk_write_mb is not None:
            usage.disk_read_mb = max(usage.disk_read_mb, round(rusage.ru_inblock * 512 / 2**20, 1))
            usage.disk_write_mb = max(
                usage.disk_write_mb, round(rusage.ru_oublock * 512 / 2**20, 1)
            )
        notes: list[str] = []
        reported = _read_metrics(metrics_path, notes)
    finally:
        metrics_path.unlink(missing_ok=True)
    obj: dict[str, Any] = {
        "run_id": run_id_for(started_at),
        "timestamp": iso_utc(started_at),
        "schema_version": "2.0",
        "total_duration_seconds": round(wall, 3),
        "resource_metrics": usage.as_metrics(),
        "environment": environment_info(),
        "exit_status": code,
        "command": command,
    }
    obj.update(reported)
    obj.update(base or {})
    defaults = {
        "sources_processed": 1,
        "total_records": 0,
        "quality_pass_rate": 1.0 if code == 0 else 0.0,
    }
    for key, value in defaults.items():
        if key not in obj:
            obj[key] = value
            notes.append(
                f"{key} not reported by the command (write it to ${METRICS_ENV} or pass --set "
                f"{key}=...): recorded as {value}"
            )
    return Execution(obj, code, notes, started_at, run_id_given="run_id" in (base or {}))
