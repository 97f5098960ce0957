"""The pipeline run recorder of seed 003, and forgelens recording its own runs.

- ``models``: schema v1 / v2 run objects (pydantic), the seed's ranges, the v1 -> v2 upgrade;
- ``validate``: per-field problems, throughput computed or checked, duplicates in the input;
- ``recorder``: all-or-nothing writes to ``pipeline_runs`` and the JSON history file;
- ``prompter``: interactive mode; ``execute`` + ``sampler``: ``--exec`` with psutil sampling;
- ``reports``: freshness, success rate, throughput trend, resource peaks;
- ``self_record``: ``record_own_run`` / ``recorded`` for collect, backfill and analyze.
"""

from __future__ import annotations

from forgelens.pipeline_runs.models import PipelineRun, PipelineRunV1, upgrade_v1
from forgelens.pipeline_runs.recorder import RecordResult, load_history, record_runs
from forgelens.pipeline_runs.self_record import record_own_run, recorded
from forgelens.pipeline_runs.validate import (
    PipelineRunInvalid,
    Problem,
    ValidationReport,
    validate_runs,
)

__all__ = [
    "PipelineRun",
    "PipelineRunInvalid",
    "PipelineRunV1",
    "Problem",
    "RecordResult",
    "ValidationReport",
    "load_history",
    "record_own_run",
    "record_runs",
    "recorded",
    "upgrade_v1",
    "validate_runs",
]
