"""Admin endpoints: API keys (create, list, revoke), settings (secrets hidden), audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, SecretStr

from forgelens.service import audit, keys
from forgelens.service.auth import require
from forgelens.service.context import context
from forgelens.service.keys import Principal
from forgelens.sources import forges

router = APIRouter(prefix="/api/v1", tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]


class NewKey(BaseModel):
    role: Literal["viewer", "operator", "admin"]
    name: str = Field(default="", max_length=200)


class CreatedKey(BaseModel):
    key_id: str
    key: str = Field(description="shown once; only its hash is stored")
    role: str
    name: str


@router.get("/keys")
async def list_keys(request: Request, who: Admin) -> list[dict[str, Any]]:
    """Every API key (never the key or its hash)."""
    return await context(request).with_store(keys.list_keys)


@router.post("/keys", status_code=201, response_model=CreatedKey)
async def create_key(body: NewKey, request: Request, who: Admin) -> CreatedKey:
    """Create a key; the answer is the only time the key is shown."""
    ctx = context(request)
    key_id, key = await ctx.with_store(
        lambda s: keys.create_key(s, body.role, body.name, created_by=who.key_id)
    )
    await ctx.audit(request, "keys.create", "ok", target=key_id, detail=f"role={body.role}")
    return CreatedKey(key_id=key_id, key=key, role=body.role, name=body.name)


@router.delete("/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, request: Request, who: Admin) -> Response:
    """Revoke a key: it stops working at once on this instance (within 30 s on others)."""
    ctx = context(request)
    await ctx.with_store(lambda s: keys.revoke_key(s, key_id))
    ctx.forget_key(key_id)
    await ctx.audit(request, "keys.revoke", "ok", target=key_id)
    return Response(status_code=204)


@router.get("/settings")
async def settings(request: Request, who: Admin) -> dict[str, Any]:
    """The service's settings; secrets show only whether they are set."""
    out: dict[str, Any] = {}
    current = context(request).settings
    for name in forges.setting_names():  # the forges' tokens and webhook secrets
        out[name.lower().removeprefix("forgelens_")] = "(set)" if current.secret(name) else None
    for name, value in current.model_dump().items():
        if isinstance(value, SecretStr):
            out[name] = "(set)"
        elif name in ("redis_url", "database_url") and value and "@" in str(value):
            out[name] = "(set, has credentials)"
        else:
            out[name] = str(value) if value is not None else None
    return out


@router.get("/audit")
async def audit_log(
    request: Request,
    who: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    """Recent audit rows, newest first."""
    return await context(request).with_store(lambda s: audit.recent(s, limit, action))
