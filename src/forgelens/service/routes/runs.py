"""``GET /api/v1/runs`` and ``GET /api/v1/runs/{run_id}``: the git_collection_runs ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from forgelens.engine import run_reports
from forgelens.errors import NotFound
from forgelens.service.auth import require
from forgelens.service.context import context
from forgelens.service.keys import Principal

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Viewer = Annotated[Principal, Depends(require("viewer"))]


@router.get("")
async def list_runs(
    request: Request,
    who: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    status: Literal["running", "completed", "failed"] | None = None,
    source: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """Recent collection runs, newest first."""
    return await context(request).with_store(
        lambda s: run_reports.recent_runs(s, limit, source, status)
    )


@router.get("/{run_id}")
async def get_run(run_id: str, request: Request, who: Viewer) -> dict[str, Any]:
    """One run with every column of the ledger."""
    row = await context(request).with_store(lambda s: run_reports.get_run(s, run_id))
    if row is None:
        raise NotFound(f"no run {run_id!r}: list runs with GET /api/v1/runs")
    return row
