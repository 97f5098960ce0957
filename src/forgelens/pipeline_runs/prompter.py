"""Interactive mode: ask for each field of a run, with defaults, re-asking on invalid input.

The prompter reads answers through ``read(prompt) -> str`` (``input`` in the CLI) and writes
messages through ``write(text)``, so it runs on a terminal or on any pair of streams. Each answer
is checked as it is given (format, the seed's ranges, peak >= average, run_id not taken); the
finished object is validated again by ``validate_runs`` like any other input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from forgelens.errors import BadInput
from forgelens.pipeline_runs.execute import iso_utc, run_id_for
from forgelens.pipeline_runs.models import RANGES, parse_run_id, parse_timestamp
from forgelens.pipeline_runs.sampler import environment_info
from forgelens.pipeline_runs.validate import computed_throughput

T = TypeVar("T")


def _whole(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number (got {raw!r})") from None


def _number(raw: str) -> int | float:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"must be a number (got {raw!r})") from None


def _shown(value: float) -> str:
    """A default as the user would type it: ``100`` rather than ``100.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _yes_no(raw: str) -> bool:
    answer = raw.strip().lower()
    if answer in ("y", "yes"):
        return True
    if answer in ("n", "no"):
        return False
    raise ValueError("answer y or n")


def _in_range(name: str, parse: Callable[[str], T]) -> Callable[[str], T]:
    lo, hi = RANGES[name]

    def check(raw: str) -> T:
        value = parse(raw)
        if not lo <= value <= hi:  # type: ignore[operator]
            raise ValueError(f"must be between {lo:,} and {hi:,} (got {value})")
        return value

    return check


def _at_least(parse: Callable[[str], int | float], lo: float) -> Callable[[str], int | float]:
    def check(raw: str) -> int | float:
        value = parse(raw)
        if value < lo:
            raise ValueError(f"must be at least {lo} (got {value})")
        return value

    return check


def _at_most(
    parse: Callable[[str], int | float], hi: float, what: str
) -> Callable[[str], int | float]:
    def check(raw: str) -> int | float:
        value = parse(raw)
        if value > hi:
            raise ValueError(f"must not exceed {what} ({hi}) (got {value})")
        return value

    return check


class Prompter:
    """Asks for one run. ``taken(run_id)`` tells whether a run_id is already recorded."""

    def __init__(
        self,
        read: Callable[[str], str],
        write: Callable[[str], None],
        *,
        taken: Callable[[str], bool] = lambda _run_id: False,
        measure: Callable[[], dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> None:
        self._read = read
        self._write = write
        self._taken = taken
        self._measure = measure
        self._now = now or datetime.now(UTC)

    def ask(self, label: str, parse: Callable[[str], T], default: str | None = None) -> T:
        """Ask until ``parse`` accepts the answer; an empty answer takes the default."""
        suffix = f" [{default}]" if default is not None else ""
        while True:
            try:
                raw = self._read(f"{label}{suffix}: ").strip()
            except EOFError:
                raise BadInput(
                    "input ended before the run was complete; nothing was recorded"
                ) from None
            if not raw:
                if default is None:
                    self._write("  ! an answer is required")
                    continue
                raw = default
            try:
                return parse(raw)
            except ValueError as exc:
                self._write(f"  ! {exc}")

    def _new_run_id(self, raw: str) -> str:
        run_id = parse_run_id(raw)
        if self._taken(run_id):
            raise ValueError(f"{run_id} is already recorded: choose another run_id")
        return run_id

    def run(self) -> dict[str, Any] | None:
        """Ask for every field; return the run object, or None when the user declines."""
        obj: dict[str, Any] = {}
        obj["run_id"] = self.ask(
            "Run ID (YYYYMMDD_HHMMSS)", self._new_run_id, run_id_for(self._now)
        )
        started = datetime.strptime(obj["run_id"], "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
        when = self.ask("Timestamp (ISO 8601)", parse_timestamp, iso_utc(started))
        obj["timestamp"] = iso_utc(when) if when.microsecond == 0 else when.isoformat()
        obj["schema_version"] = self.ask("Schema version (1.0/2.0)", _version, "2.0")
        obj["sources_processed"] = self.ask(
            "Sources processed (1-10)", _in_range("sources_processed", _whole), "1"
        )
        obj["total_duration_seconds"] = self.ask(
            "Total duration in seconds (0-86400)", _in_range("total_duration_seconds", _number)
        )
        obj["total_records"] = self.ask(
            "Total records (0-1000000)", _in_range("total_records", _whole)
        )
        rpm = computed_throughput(obj["total_records"], obj["total_duration_seconds"])
        obj["throughput_rpm"] = self.ask(
            "Throughput, records per minute (0-100000)",
            _in_range("throughput_rpm", _number),
            None if rpm is None else _shown(rpm),
        )
        obj["quality_pass_rate"] = self.ask(
            "Quality pass rate (0-1)", _in_range("quality_pass_rate", _number)
        )
        obj["retries"] = self.ask("Retries", _at_least(_whole, 0), "0")
        obj["errors"] = self.ask("Errors", _at_least(_whole, 0), "0")
        if obj["schema_version"] == "2.0" and self.ask(
            "Collect resource metrics? (y/n)", _yes_no, "n"
        ):
            obj["resource_metrics"] = self._resources()
            obj["environment"] = environment_info()
        obj["_synthetic"] = self.ask("Synthetic (test) run? (y/n)", _yes_no, "n")
        self._write(json.dumps(obj, indent=2))
        return obj if self.ask("Record this run? (y/n)", _yes_no, "y") else None

    def _resources(self) -> dict[str, Any]:
        """Each figure, with a sample of this machine (``measure``) as the defaults."""
        sampled: dict[str, Any] = {}
        if self._measure is not None:
            self._write("sampling this machine's CPU, memory and disk (psutil) ...")
            sampled = self._measure()

        def default(part: str, name: str) -> str | None:
            value = sampled.get(part, {}).get(name)
            return None if value is None else _shown(value)

        measure = _at_least(_number, 0)
        cpu_peak = self.ask("CPU peak %", measure, default("cpu", "peak_percent"))
        cpu_avg = self.ask(
            "CPU average %",
            _at_most(measure, cpu_peak, "the peak"),
            default("cpu", "avg_percent"),
        )
        mem_peak = self.ask("Memory peak MB", measure, default("memory", "peak_mb"))
        mem_avg = self.ask(
            "Memory average MB",
            _at_most(measure, mem_peak, "the peak"),
            default("memory", "avg_mb"),
        )
        read = self.ask("Disk read MB", measure, default("disk", "read_mb") or "0")
        write = self.ask("Disk write MB", measure, default("disk", "write_mb") or "0")
        return {
            "cpu": {"peak_percent": cpu_peak, "avg_percent": cpu_avg},
            "memory": {"peak_mb": mem_peak, "avg_mb": mem_avg},
            "disk": {"read_mb": read, "write_mb": write},
        }


def _version(raw: str) -> str:
    if raw not in ("1.0", "2.0"):
        raise ValueError(f'must be "1.0" or "2.0" (got {raw!r})')
    return raw
