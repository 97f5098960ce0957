"""Fixtures of the pipeline run tests: the seed's two example objects and a valid run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "pipeline_runs"


def seed_example(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def seed_basic() -> dict[str, Any]:
    """Seed 003's "With JSON Input File" object."""
    return seed_example("seed_run_data")


@pytest.fixture
def seed_full() -> dict[str, Any]:
    """Seed 003's "Example: Complete v2.0 Run Object"."""
    return seed_example("seed_complete_v2")


def make_run(**changes: Any) -> dict[str, Any]:
    """A valid v2 run whose throughput agrees with its records and duration (no warning)."""
    run: dict[str, Any] = {
        "run_id": "20251109_060000",
        "timestamp": "2025-11-09T06:00:00Z",
        "schema_version": "2.0",
        "sources_processed": 3,
        "total_duration_seconds": 600,
        "total_records": 12000,
        "throughput_rpm": 1200,
        "quality_pass_rate": 0.9,
        "retries": 0,
        "errors": 0,
        "_synthetic": False,
    }
    run.update(changes)
    return {k: v for k, v in run.items() if v is not None}
