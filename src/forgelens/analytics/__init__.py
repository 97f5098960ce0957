"""Analytics over the store: Engineer Lens, What Shipped, risk, features, ownership, delivery
and review policy. SQL first (DuckDB and PostgreSQL), set-based over every author and day.

Entry point: ``analyze(store, AnalyzeOptions(...))``; metric definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

from forgelens.analytics.config import AnalyticsConfig
from forgelens.analytics.runner import TARGETS, AnalyzeOptions, AnalyzeResult, analyze

__all__ = ["TARGETS", "AnalyticsConfig", "AnalyzeOptions", "AnalyzeResult", "analyze"]
