"""Backfill settings (thresholds a deployment tunes) and the error summary of one invocation
(seed 004: total, critical, warnings, per repository) -- printed, written as JSON, stored."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from forgelens.errors import BadInput
from forgelens.store import Store


class BackfillSettings(BaseSettings):
    """``FORGELENS_BACKFILL_*`` environment variables (or ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="FORGELENS_BACKFILL_", env_file=".env", extra="ignore"
    )

    min_prs: int = Field(default=100, ge=0)  # repositories with more PRs are worth backfilling
    completeness_threshold: float = Field(default=0.8, gt=0, le=1)  # select below this share
    chunk_size: int = Field(default=25, ge=1, le=100)
    min_chunk_size: int = Field(default=5, ge=1)
    max_chunks: int = Field(default=10, ge=1)
    max_consecutive_errors: int = Field(default=3, ge=1)  # circuit breaker -> paused
    rate_limit_floor: int = Field(default=200, ge=0)  # pause under this many points left
    stuck_minutes: float = Field(default=30.0, gt=0)
    lease_minutes: float = Field(default=30.0, gt=0)
    grow_after: int = Field(default=3, ge=1)  # clean chunks before the size grows back
    sweep_budget: int = Field(default=50, ge=0)  # items re-checked per invocation
    sweep_stale_hours: float = Field(default=24.0, ge=0)  # open items not updated for this long
    api_url: str | None = None  # forge API for scheduled runs (Enterprise / self-hosted)


@dataclass
class ErrorItem:
    repository_id: str | None
    message: str
    kind: str  # e.g. "auth", "forge", "rate_limit", "circuit_breaker", "invalid_data"
    at: str
    chunk_number: int | None = None
    issue_url: str | None = None


@dataclass
class ErrorSummary:
    total_errors: int = 0
    critical_errors: list[ErrorItem] = field(default_factory=list)
    warning_errors: list[ErrorItem] = field(default_factory=list)
    repositories: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _add(self, bucket: list[ErrorItem], item: ErrorItem) -> None:
        self.total_errors += 1
        bucket.append(item)
        if item.repository_id:
            repo = self.repositories.setdefault(
                item.repository_id, {"critical": 0, "warnings": 0, "errors": []}
            )
            repo["critical" if bucket is self.critical_errors else "warnings"] += 1
            repo["errors"].append(item.message)

    def critical(self, repo: str | None, message: str, kind: str, now: datetime, **kw: Any) -> None:
        self._add(self.critical_errors, ErrorItem(repo, message, kind, now.isoformat(), **kw))

    def warning(self, repo: str | None, message: str, kind: str, now: datetime, **kw: Any) -> None:
        self._add(self.warning_errors, ErrorItem(repo, message, kind, now.isoformat(), **kw))

    def as_dict(self) -> dict[str, Any]:
        return {
            "totalErrors": self.total_errors,
            "criticalErrors": [asdict(e) for e in self.critical_errors],
            "warningErrors": [asdict(e) for e in self.warning_errors],
            "repositories": self.repositories,
        }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    except OSError as exc:
        raise BadInput(
            f"--summary-json {path}: cannot write ({exc.strerror}); pick another path"
        ) from exc


def store_summary(store: Store, run_id: str, summary: ErrorSummary, now: datetime) -> None:
    store.upsert(
        "backfill_reports",
        [
            {
                "run_id": run_id,
                "created_at": now,
                "total_errors": summary.total_errors,
                "critical": len(summary.critical_errors),
                "warnings": len(summary.warning_errors),
                "summary": json.dumps(summary.as_dict(), default=str),
            }
        ],
    )
