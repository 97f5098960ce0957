"""Pipeline run objects of seed 003, schema v1 and v2, as pydantic models.

``PipelineRunV1`` holds the basic metrics; ``PipelineRun`` (v2) adds ``resource_metrics`` and
``environment``. Both forbid unknown fields. v1 objects are upgraded to v2 on read
(``upgrade_v1``). Range checks live in ``RANGES``, apart from the models, so that forgelens's own
measured runs (which may exceed a hand-entered range) can skip them: see ``validate.py``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, model_validator

SCHEMA_VERSIONS = ("1.0", "2.0")

# The seed's numeric ranges, inclusive, exactly as written there.
RANGES: dict[str, tuple[int, int]] = {
    "sources_processed": (1, 10),
    "total_duration_seconds": (0, 86400),
    "total_records": (0, 1_000_000),
    "throughput_rpm": (0, 100_000),
    "quality_pass_rate": (0, 1),
}

# Key order of a run object as the seed writes it (used when writing JSON).
SEED_ORDER = (
    "run_id",
    "timestamp",
    "schema_version",
    "sources_processed",
    "total_duration_seconds",
    "total_records",
    "throughput_rpm",
    "quality_pass_rate",
    "retries",
    "errors",
    "resource_metrics",
    "environment",
    "_synthetic",
)

_RUN_ID_RE = re.compile(r"^\d{8}_\d{6}$")


def parse_run_id(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string YYYYMMDD_HHMMSS, e.g. 20251108_190000 (got {value!r})")
    if _RUN_ID_RE.match(value):
        try:
            datetime.strptime(value, "%Y%m%d_%H%M%S")  # noqa: DTZ007 - only checks the date
            return value
        except ValueError:
            pass
    raise ValueError(f"must be YYYYMMDD_HHMMSS, e.g. 20251108_190000 (got {value!r})")


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 (``2025-11-08T19:00:00Z``); a time without a zone is taken as UTC."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f'must be ISO 8601, e.g. "2025-11-08T19:00:00Z" (got {value!r})'
            ) from None
    else:
        raise ValueError(f'must be an ISO 8601 string, e.g. "2025-11-08T19:00:00Z" (got {value!r})')
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number (got {value!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number (got {value!r})")
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number (got {value!r})")
    return value


def _not_negative(value: object) -> int | float:
    number = _number(value)
    if number < 0:
        raise ValueError(f"must not be negative (got {value!r})")
    return number


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {value!r})")
    return value


Number = Annotated[int | float, PlainValidator(_number)]
Measure = Annotated[int | float, PlainValidator(_not_negative)]
Count = Annotated[int, PlainValidator(_count)]
RunId = Annotated[str, PlainValidator(parse_run_id)]
Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]
Flag = Annotated[bool, PlainValidator(_flag)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class CpuMetrics(_Strict):
    peak_percent: Measure
    avg_percent: Measure

    @model_validator(mode="after")
    def _peak_covers_average(self) -> CpuMetrics:
        if self.peak_percent < self.avg_percent:
            raise ValueError(
                f"CPU peak_percent ({self.peak_percent}) must be >= avg_percent "
                f"({self.avg_percent})"
            )
        return self


class MemoryMetrics(_Strict):
    peak_mb: Measure
    avg_mb: Measure

    @model_validator(mode="after")
    def _peak_covers_average(self) -> MemoryMetrics:
        if self.peak_mb < self.avg_mb:
            raise ValueError(f"memory peak_mb ({self.peak_mb}) must be >= avg_mb ({self.avg_mb})")
        return self


class DiskMetrics(_Strict):
    read_mb: Measure
    write_mb: Measure


class ResourceMetrics(_Strict):
    cpu: CpuMetrics
    memory: MemoryMetrics
    disk: DiskMetrics | None = None


class Environment(_Strict):
    python_version: str
    hostname: str
    os: str
    os_version: str | None = None
    cpu_cores: Count
    total_memory_mb: Measure


class PipelineRunV1(_Strict):
    """Schema v1.0: the basic metrics. ``throughput_rpm`` may be left out (it is computed).

    ``pipeline``, ``status``, ``exit_status``, ``command`` and ``failure_reason`` are forgelens
    additions (which pipeline, success or failure, and what ``--exec`` ran).
    """

    run_id: RunId
    timestamp: Timestamp
    schema_version: Literal["1.0"] = "1.0"
    sources_processed: Count
    total_duration_seconds: Number
    total_records: Count
    throughput_rpm: Number | None = None
    quality_pass_rate: Number
    retries: Count = 0
    errors: Count = 0
    synthetic: Flag = Field(default=False, alias="_synthetic")
    pipeline: str | None = None
    status: Literal["success", "failed"] | None = None
    exit_status: Count | None = None
    command: list[str] | None = None
    failure_reason: str | None = None


class PipelineRun(PipelineRunV1):
    """Schema v2.0: v1 plus ``resource_metrics`` and ``environment`` (both optional)."""

    schema_version: Literal["2.0"] = "2.0"  # type: ignore[assignment]
    resource_metrics: ResourceMetrics | None = None
    environment: Environment | None = None

    @property
    def succeeded(self) -> bool:
        """Failed when it says so, or when a command it ran exited non-zero."""
        if self.status is not None:
            return self.status == "success"
        return self.exit_status in (None, 0)

    def to_json_obj(self) -> dict[str, Any]:
        """The run as a JSON object in the seed's key order (absent optional parts omitted)."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        ordered = {k: data.pop(k) for k in SEED_ORDER if k in data}
        ordered.update(data)
        return ordered


def upgrade_v1(obj: dict[str, Any]) -> dict[str, Any]:
    """A v1 run object as v2: ``schema_version`` 2.0, ``retries``/``errors`` filled in.

    v2's additions (``resource_metrics``, ``environment``) stay absent: they were not measured.
    """
    upgraded = {**obj, "schema_version": "2.0"}
    upgraded.setdefault("retries", 0)
    upgraded.setdefault("errors", 0)
    return upgraded
