"""Who may call what: API keys (``X-API-Key: fl_...`` or ``Authorization: Bearer fl_...``),
roles, a per-key request rate limit, and an audit row for every refusal.

    @router.post("/trigger")
    async def trigger(who: Annotated[Principal, Depends(require("operator"))]): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from forgelens.service.context import context
from forgelens.service.keys import Principal, check_role

# Declared for the OpenAPI schema (the "Authorize" button in /docs); read by ``require``.
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="fl_... key")


def presented_key(request: Request, header_value: str | None) -> str | None:
    if header_value:
        return header_value.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits keys of ``role`` or higher (viewer < operator < admin)."""
    check_role(role)

    async def dependency(
        request: Request, x_api_key: str | None = Security(api_key_header)
    ) -> Principal:
        ctx = context(request)
        key = presented_key(request, x_api_key)
        target = f"{request.method} {request.url.path}"
        if not key:
            await ctx.deny(request, "auth", "no API key", target)
            raise HTTPException(
                401,
                "an API key is required: send X-API-Key: fl_...",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await ctx.authenticate(key)
        if principal is None:
            await ctx.deny(request, "auth", "unknown key", target)
            raise HTTPException(
                401, "this API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
            )
        request.state.principal = principal
        if not principal.can(role):
            await ctx.deny(request, "auth", f"role {principal.role} lacks {role}", target)
            raise HTTPException(
                403, f"this endpoint needs the {role} role (this key is {principal.role})"
            )
        wait = await ctx.limiter.hit(principal.key_id)
        if wait > 0:
            raise HTTPException(
                429,
                f"rate limit of {ctx.limiter.per_minute} requests per minute reached for this key",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        return principal

    return dependency
