"""Validating pipeline run objects: per-field messages, ranges, throughput, duplicates.

report = validate_runs(json.load(f), origin="run.json")
report.problems   # every reason the input cannot be recorded (empty: it can)
report.warnings   # recorded anyway, but worth a look (throughput disagreeing with records)
report.runs       # the runs, upgraded to v2, throughput filled in
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from forgelens.errors import BadInput
from forgelens.pipeline_runs.models import (
    RANGES,
    SCHEMA_VERSIONS,
    PipelineRun,
    PipelineRunV1,
    upgrade_v1,
)

THROUGHPUT_TOLERANCE = 0.10  # warn when a supplied throughput_rpm differs by more than this


@dataclass(frozen=True)
class Problem:
    where: str  # "run_id", "run[2].resource_metrics.cpu", ...
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass
class ValidatedRun:
    run: PipelineRun
    throughput_computed: bool = False


@dataclass
class ValidationReport:
    runs: list[ValidatedRun] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class PipelineRunInvalid(BadInput):
    """The input has problems; nothing was recorded. ``problems`` lists each one."""

    def __init__(self, origin: str, problems: list[Problem]) -> None:
        self.problems = problems
        first = "; ".join(str(p) for p in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            f"{origin}: {len(problems)} problem(s), nothing was recorded: {first}{more}"
        )


def _known_fields(model: type[PipelineRunV1], loc: tuple[Any, ...]) -> list[str]:
    """Field names (by alias) valid at ``loc``'s parent, for 'did you mean' hints."""
    current: Any = model
    for part in loc[:-1]:
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        ann = info.annotation
        current = next(
            (a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")), None
        )
        if current is None:
            return []
    return [f.alias or name for name, f in current.model_fields.items()]


def _messages(exc: ValidationError, model: type[PipelineRunV1], prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        where = ".".join([prefix, *(str(p) for p in loc)] if prefix else [str(p) for p in loc])
        kind = err["type"]
        if kind == "missing":
            message = "required field is missing"
        elif kind == "extra_forbidden":
            known = _known_fields(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            if str(loc[-1]) in ("resource_metrics", "environment") and model is PipelineRunV1:
                message = 'needs schema_version "2.0" (this object is v1.0)'
            else:
                message = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif kind == "literal_error":
            message = f"must be one of {err['ctx']['expected']} (got {err['input']!r})"
        elif kind in ("model_type", "model_attributes_type"):
            message = f"must be an object (got {err['input']!r})"
        elif kind == "list_type" or kind.endswith("_type"):
            message = f"{err['msg'].lower()} (got {err['input']!r})"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(Problem(where or prefix or "run", message))
    return problems


def _range_problems(obj: dict[str, Any], prefix: str) -> list[Problem]:
    """The seed's ranges, on the raw values that are numbers (others get a type message)."""
    problems = []
    for name, (lo, hi) in RANGES.items():
        value = obj.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if not lo <= value <= hi:
            problems.append(
                Problem(_join(prefix, name), f"must be between {lo:,} and {hi:,} (got {value:,})")
            )
    for name in ("retries", "errors"):
        value = obj.get(name)
        if isinstance(value, int) and value < 0:
            problems.append(Problem(_join(prefix, name), f"must not be negative (got {value})"))
    return problems


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def computed_throughput(total_records: int, duration_seconds: float) -> float | None:
    """Records per minute, or None for a zero duration."""
    if duration_seconds <= 0:
        return None
    return round(total_records / (duration_seconds / 60), 1)


def _throughput(
    run: PipelineRun, prefix: str
) -> tuple[PipelineRun, bool, Problem | None, Problem | None]:
    """Fill a missing throughput_rpm; warn when a supplied one disagrees by more than 10%.

    Returns (run, computed?, problem, warning).
    """
    computed = computed_throughput(run.total_records, run.total_duration_seconds)
    where = _join(prefix, "throughput_rpm")
    if run.throughput_rpm is None:
        if computed is None and run.total_records:
            return run, False, Problem(where, "cannot be computed from a zero duration"), None
        filled = run.model_copy(update={"throughput_rpm": computed or 0.0})
        return filled, True, None, None
    supplied = run.throughput_rpm
    if computed is None:
        return run, False, None, None
    off = abs(supplied - computed) / computed if computed else (1.0 if supplied else 0.0)
    if off <= THROUGHPUT_TOLERANCE:
        return run, False, None, None
    warning = Problem(
        where,
        f"{supplied:,} differs by {off:.0%} from total_records / (total_duration_seconds / 60)"
        f" = {run.total_records:,} / ({run.total_duration_seconds:,} / 60) = {computed:,};"
        " recorded as supplied",
    )
    return run, False, None, warning


def validate_run(
    obj: object, *, prefix: str = "", check_ranges: bool = True
) -> tuple[ValidatedRun | None, list[Problem], list[Problem]]:
    """Validate one run object; return (run or None, problems, warnings)."""
    if not isinstance(obj, dict):
        return None, [Problem(prefix or "run", f"must be a JSON object (got {obj!r:.60})")], []

    def ranges(values: dict[str, Any]) -> list[Problem]:
        return _range_problems(values, prefix) if check_ranges else []

    version = obj.get("schema_version", "1.0")
    if version not in SCHEMA_VERSIONS:
        message = f'must be "1.0" or "2.0" (got {version!r})'
        return None, [Problem(_join(prefix, "schema_version"), message)], []
    if version == "1.0":
        try:
            PipelineRunV1.model_validate(obj)
        except ValidationError as exc:
            return None, _messages(exc, PipelineRunV1, prefix) + ranges(obj), []
        obj = upgrade_v1(obj)
    try:
        run = PipelineRun.model_validate(obj)
    except ValidationError as exc:
        return None, _messages(exc, PipelineRun, prefix) + ranges(obj), []
    run, computed, problem, warning = _throughput(run, prefix)
    problems = [problem] if problem else []
    warnings = [warning] if warning else []
    problems += ranges({**obj, "throughput_rpm": run.throughput_rpm})
    if problems:
        return None, problems, warnings
    return ValidatedRun(run, computed), [], warnings


def validate_runs(data: object, *, check_ranges: bool = True) -> ValidationReport:
    """Validate one run object or a list of them (each named ``run[i]`` in messages)."""
    report = ValidationReport()
    items: Iterable[tuple[str, object]]
    if isinstance(data, list):
        if not data:
            report.problems.append(Problem("input", "the list holds no runs"))
        items = ((f"run[{i}]", obj) for i, obj in enumerate(data))
    else:
        items = [("", data)]
    for prefix, obj in items:
        validated, problems, warnings = validate_run(obj, prefix=prefix, check_ranges=check_ranges)
        report.problems += problems
        report.warnings += warnings
        if validated is not None:
            report.runs.append(validated)
    counts = Counter(v.run.run_id for v in report.runs)
    for run_id, n in counts.items():
        if n > 1:
            report.problems.append(Problem("run_id", f"{run_id} appears {n} times in the input"))
    return report
