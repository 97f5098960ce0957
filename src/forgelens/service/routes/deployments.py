"""``POST /api/v1/deployments`` and ``POST /api/v1/incidents``: CD systems (Argo CD, Spinnaker,
Jenkins, scripts) and incident tools (PagerDuty, Opsgenie) report what they did. Operator key.

The caller's ``id`` makes a report idempotent: the same id again updates the row. The
repository must have been collected (its id, ``github:owner/repo``, or its full name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from forgelens.engine.deployments import (
    DeploymentIn,
    IncidentIn,
    record_deployments,
    record_incidents,
)
from forgelens.service.auth import require
from forgelens.service.context import context
from forgelens.service.keys import Principal

router = APIRouter(prefix="/api/v1", tags=["deployments"])
Operator = Annotated[Principal, Depends(require("operator"))]


class DeploymentBody(BaseModel):
    repository: str = Field(max_length=1000, examples=["github:octo/app"])
    sha: str = Field(max_length=64, examples=["9fceb02d0ae598e95dc970b74767f19372d61af8"])
    environment: str = Field("production", max_length=200)
    status: str = Field("success", max_length=40, description="success, failure, in_progress...")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    id: str | None = Field(None, max_length=200, description="your id: repeats update the row")
    ref: str | None = Field(None, max_length=500)
    creator: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2048)
    production: bool | None = Field(None, description="force the environment kind production")


class IncidentBody(BaseModel):
    repository: str = Field(max_length=1000, examples=["github:octo/app"])
    id: str = Field(max_length=200)
    created_at: datetime
    resolved_at: datetime | None = None
    title: str | None = Field(None, max_length=1000)
    service: str | None = Field(None, max_length=200)
    sha: str | None = Field(None, max_length=64)
    deployment_id: str | None = Field(None, max_length=300)
    url: str | None = Field(None, max_length=2048)


class Recorded(BaseModel):
    ids: list[str]


@router.post("/deployments", status_code=201, response_model=Recorded)
async def post_deployment(body: DeploymentBody, request: Request, who: Operator) -> Recorded:
    """Record one deployment (``analyze dora`` links it to its changes)."""
    item = DeploymentIn(**body.model_dump())
    ids = await context(request).with_store(lambda s: record_deployments(s, [item]))
    return Recorded(ids=ids)


@router.post("/incidents", status_code=201, response_model=Recorded)
async def post_incident(body: IncidentBody, request: Request, who: Operator) -> Recorded:
    """Record one incident (linked to the deployment it names, else by time)."""
    item = IncidentIn(**body.model_dump())
    ids = await context(request).with_store(lambda s: record_incidents(s, [item]))
    return Recorded(ids=ids)
