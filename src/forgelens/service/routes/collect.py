"""``POST /api/v1/collect/trigger`` and ``GET /api/v1/collect/status/{repository_id}`` (seed 001).

``repository_id`` is ``{forge}:{owner}/{repo}`` as every table keys repositories (e.g.
``github:pallets/click``; URL-encode it: ``github%3Apallets%2Fclick``), a repository URL, or the
forge's numeric id when the repository was collected (``repositories.forge_id``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from forgelens.engine.queue import JobRequest, next_tick
from forgelens.errors import BadInput, ForgelensError, NotFound
from forgelens.service.auth import require
from forgelens.service.context import context
from forgelens.service.keys import Principal
from forgelens.service.routes.health import utc_z
from forgelens.service.ssrf import validate_repository_url
from forgelens.sources import forges
from forgelens.sources.spec import parse_spec
from forgelens.store import Store

router = APIRouter(prefix="/api/v1/collect", tags=["collect"])


class TriggerRequest(BaseModel):
    repository_url: str = Field(max_length=2048, examples=["https://github.com/owner/repo"])
    full_sync: bool = False


class TriggerResponse(BaseModel):
    status: str
    message: str
    repository_url: str
    repository_id: str
    job_id: str
    deduplicated: bool


class StatusResponse(BaseModel):
    repository_id: str
    status: str = Field(description="idle | queued | running | completed | failed")
    last_sync: str | None = None
    next_sync: str | None = None
    job_id: str | None = None
    full_sync: bool | None = None
    enqueued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    tries: int | None = None
    error: str | None = None
    run: dict[str, Any] | None = Field(default=None, description="the run's counters")


@router.post("/trigger", status_code=202, response_model=TriggerResponse)
async def trigger(
    body: TriggerRequest,
    request: Request,
    who: Annotated[Principal, Depends(require("operator"))],
) -> TriggerResponse:
    """Queue a collection of one repository (incremental unless ``full_sync``)."""
    ctx = context(request)
    try:
        spec = await asyncio.to_thread(
            validate_repository_url,
            body.repository_url,
            self_hosted=ctx.settings.self_hosted(),
        )
        if spec.kind not in forges.BY_KIND:
            raise BadInput(f"collecting {spec.kind} sources is not available in this version")
    except ForgelensError as exc:
        await ctx.audit(
            request, "collect.trigger", "refused", target=body.repository_url, detail=exc.message
        )
        raise
    req = JobRequest(spec, str(spec), body.full_sync, "trigger")
    info = await ctx.queue.enqueue(req)
    await ctx.audit(
        request,
        "collect.trigger",
        "queued" if info.created else "deduplicated",
        target=info.repository_id,
        detail=info.job_id,
    )
    message = "Collection job has been queued for processing"
    if not info.created:
        message = f"A collection job for this repository is already {info.status}"
        if body.full_sync and not info.full_sync:
            message += " (incremental); trigger again once it has finished for a full sync"
    return TriggerResponse(
        status=info.status,
        message=message,
        repository_url=urlunsplit(
            urlsplit(body.repository_url.strip())._replace(query="", fragment="")
        ),
        repository_id=info.repository_id,
        job_id=info.job_id,
        deduplicated=not info.created,
    )


def repository_by_forge_id(store: Store, forge_id: str) -> str:
    rows = store.query(
        "SELECT source, full_name FROM repositories WHERE forge_id = ? LIMIT 1", [forge_id]
    )
    if not rows:
        raise NotFound(f"no collected repository has the forge id {forge_id}")
    return f"{rows[0][0]}:{rows[0][1]}"


def parse_repository_id(text: str) -> str:
    """``github:owner/repo`` or a repository URL -> the repository id tables use."""
    text = text.strip()
    if not text or len(text) > 1000:
        raise BadInput("name a repository: github:owner/repo (URL-encoded), a URL or a forge id")
    return str(parse_spec(text))


COUNTERS = {
    "repos_processed": "repos_processed",
    "commits_collected": "commits",
    "prs_collected": "prs",
    "api_calls": "api_calls",
    "errors": "errors",
}


def _finished_run(row: dict[str, Any]) -> dict[str, Any] | None:
    """The counters of a finished job's run, as its worker left them on the status board."""
    run_id = str(row.get("run_id") or "").split(",")[0]
    if not run_id:
        return None
    run: dict[str, Any] = {"run_id": run_id, "status": row.get("status")}
    for name, key in COUNTERS.items():
        value = row.get(key)
        run[name] = int(value) if value not in (None, "") else None
    return run


def _running_run(store: Store, row: dict[str, Any]) -> dict[str, Any] | None:
    """The counters of the run a running job has open (flushed every few seconds)."""
    target = str(row.get("spec", "")).partition(":")[2]
    found = store.query_dicts(
        "SELECT run_id, status, repos_processed, commits_collected, prs_collected, api_calls, "
        "errors FROM git_collection_runs WHERE started_at >= ? AND settings LIKE ? "
        "ORDER BY started_at DESC LIMIT 1",
        [datetime.fromisoformat(row["started_at"]), f"%{target}%"],
    )
    return found[0] if found else None


REPOSITORY_ID = Path(
    description="github:owner/repo (URL-encoded: github%3Aowner%2Frepo), a repository URL, "
    "or the forge's numeric id of a collected repository",
    examples=["github:pallets/click"],
)


@router.get("/status/{repository_id:path}", response_model=StatusResponse)
async def status(
    repository_id: Annotated[str, REPOSITORY_ID],
    request: Request,
    who: Annotated[Principal, Depends(require("viewer"))],
) -> StatusResponse | JSONResponse:
    """The collection status of one repository: idle, queued, running, completed or failed."""
    ctx = context(request)
    text = repository_id.strip()
    if text.isdigit():
        repo_id = await ctx.with_store(lambda s: repository_by_forge_id(s, text))
    else:
        repo_id = parse_repository_id(text)
    row = await ctx.queue.board.get(repo_id) or {}
    last = await ctx.queue.board.last_sync(repo_id)
    if row.get("status") == "running" and row.get("started_at"):
        run = await ctx.with_store(lambda s: _running_run(s, row))
    else:
        run = _finished_run(row)
    tracked = bool(row) or last is not None
    next_sync = (
        utc_z(next_tick(datetime.now(UTC), ctx.settings.sync_interval_minutes))
        if tracked and ctx.settings.schedule
        else None
    )
    tries = row.get("tries")
    if last:
        last = utc_z(datetime.fromisoformat(last))
    return StatusResponse(
        repository_id=repo_id,
        status=row.get("status", "idle"),
        last_sync=last,
        next_sync=next_sync,
        job_id=row.get("job_id") or None,
        full_sync=row.get("full_sync"),
        enqueued_at=row.get("enqueued_at") or None,
        started_at=row.get("started_at") or None,
        finished_at=row.get("finished_at") or None,
        tries=int(tries) if tries not in (None, "") else None,
        error=row.get("error") or None,
        run=run,
    )
