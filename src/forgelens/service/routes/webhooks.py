"""``POST /api/v1/webhooks/{route}``: verified deliveries, recorded once, for every forge
whose descriptor has ``webhooks`` (github, gitlab, bitbucket, ...: ``forges.webhook_routes``).

Order of work: size limit (413) -> the forge that claims the delivery verifies it (401, nothing
stored) -> parse (400) -> dedupe by delivery id -> map the payload (the forge's mapper for the
event; a payload the mapper cannot read is recorded as ``malformed`` and answered 400, or 202
for a forge that disables webhooks after 4xx answers: ``Webhooks.accept_malformed``) -> queue a
targeted sync -> upsert what the payload carries and the delivery row in one transaction.
Redelivered ids answer ``duplicate``, change nothing. A forge's "test connection" ping
(``Webhooks.ping``) is answered 200 and never stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse

from forgelens.engine.queue import JobRequest
from forgelens.errors import BadInput, ForgelensError
from forgelens.logs import redact
from forgelens.service import _delivery_claims as claims
from forgelens.service.context import ServiceContext, context
from forgelens.service.webhooks import (
    Delivery,
    map_payload,
    parse_delivery,
    receiver,
    self_hosted_api_url,
    verify,
    write_mapped,
)
from forgelens.sources import forges
from forgelens.sources.spec import parse_spec
from forgelens.sources.webhook import QUERY_TOKEN, Ping, Webhooks
from forgelens.store import Store

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
ROUTE = Path(
    pattern="^(" + "|".join(forges.webhook_routes()) + ")$",
    description="the forge sending: " + ", ".join(forges.webhook_routes()),
)

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"payload larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"payload larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _setting(ctx: ServiceContext) -> Callable[[str], str | None]:
    """Reads the webhook secrets a forge's descriptor names (``FORGELENS_..._WEBHOOK_SECRET``)."""

    def value(name: str) -> str | None:
        secret = ctx.settings.secret(name)
        return secret.get_secret_value() if secret is not None else None

    return value


def _record(
    store: Store, d: Delivery, size: int, outcome: str, job_id: str | None, mapped: list[Any]
) -> None:
    """Upsert what the payload carries (``map_payload``) and the delivery, together."""
    with store.transaction():
        if mapped:
            write_mapped(store, mapped, d.forge)
        store.upsert("webhook_deliveries", [_row(d, size, outcome, job_id)])


def _row(d: Delivery, size: int, outcome: str, job_id: str | None) -> dict[str, Any]:
    return {
        "forge": d.forge,
        "delivery_id": d.delivery_id,
        "event": d.event,
        "repository_id": d.spec,
        "received_at": datetime.now(UTC),
        "outcome": outcome,
        "bytes": size,
        "job_id": job_id,
    }


def _pong(
    ctx: ServiceContext, hooks: Webhooks, ping: Ping, headers: dict[str, str], body: bytes
) -> JSONResponse:
    """Answer a "Test connection" ping: checked when signed, never stored (``Webhooks.ping``)."""
    if ping.signed:
        verify(hooks, headers, body, _setting(ctx))
    ctx.metrics.webhook(hooks.route, ping.event, "ping")
    note = "" if ping.signed else ping.unsigned_note
    return JSONResponse(
        {
            "status": "ping",
            "delivery_id": ping.delivery_id[:200],
            "event": ping.event,
            "repository_id": None,
            "job_id": None,
            "detail": "forgelens received the test connection" + note,
        }
    )


CLAIM_WAIT = 8.0  # seconds a copy waits for the replica handling its delivery (forges: ~10 s)


@router.post("/{forge}", status_code=202, openapi_extra=_BODY)
async def receive(forge: Annotated[str, ROUTE], request: Request) -> JSONResponse:
    """Receive one webhook delivery (signature checked before anything is stored)."""
    ctx = context(request)
    action = f"webhook.{forge}"
    try:
        body = await read_limited(request, ctx.settings.webhook_max_bytes)
    except HTTPException as exc:
        ctx.metrics.webhook(forge, "", "too_large")
        # audited as a refusal: past the per-address budget it is a 429 that writes nothing
        await ctx.deny(request, action, f"too large: {exc.detail}")
        raise
    headers = {k.lower(): v for k, v in request.headers.items()}
    hooks = receiver(forge, headers)
    if hooks.query_token and hooks.query_token in request.query_params:
        headers.setdefault(QUERY_TOKEN, request.query_params[hooks.query_token])
    verified = False
    try:
        if (ping := hooks.ping(headers)) is not None:
            return _pong(ctx, hooks, ping, headers, body)
        verify(hooks, headers, body, _setting(ctx))
        verified = True
        delivery = parse_delivery(hooks, headers, body)
    except ForgelensError as exc:
        # an unverified sender's event header is no label: each value would be a new series
        event = headers.get(hooks.event_header, "") if verified else ""
        ctx.metrics.webhook(forge, event, "refused")
        await ctx.deny(request, action, exc.message)
        raise
    async with _one_at_a_time(request, (forge, delivery.delivery_id)):
        return await _handle(request, ctx, delivery, len(body))


async def _handle(
    request: Request, ctx: ServiceContext, delivery: Delivery, size: int
) -> JSONResponse:
    forge, action = delivery.forge, f"webhook.{delivery.forge}"
    outcome, job_id = "recorded", None
    if await _claim(ctx, delivery, size) != "mine":
        outcome = "duplicate"
    else:
        try:
            outcome, job_id = await _process(request, ctx, delivery, size)
        except BaseException:
            await ctx.with_store(lambda s: claims.release(s, delivery))
            raise
        if outcome == "malformed":
            return _answer(delivery, outcome, None, detail=job_id or "")
    ctx.metrics.webhook(forge, delivery.event, outcome)
    await ctx.audit(request, action, outcome, target=delivery.spec, detail=delivery.delivery_id)
    return _answer(delivery, outcome, job_id)


async def _claim(ctx: ServiceContext, delivery: Delivery, size: int) -> claims.Claim:
    """Take the delivery for this replica, or wait (``CLAIM_WAIT``) for the replica that took
    it to finish: its outcome then makes this copy a duplicate."""
    deadline = time.monotonic() + CLAIM_WAIT
    while True:
        taken = await ctx.with_store(lambda s: claims.claim(s, delivery, size))
        if taken != "busy" or time.monotonic() > deadline:
            return taken
        await asyncio.sleep(0.1)


async def _process(
    request: Request, ctx: ServiceContext, delivery: Delivery, size: int
) -> tuple[str, str | None]:
    """Map, store and maybe queue a claimed delivery: (outcome, job id -- or, for a
    malformed payload some forges must have answered 202, the reason)."""
    forge, action = delivery.forge, f"webhook.{delivery.forge}"
    try:
        mapped = map_payload(delivery)
    except BadInput as exc:
        await ctx.with_store(lambda s: _record(s, delivery, size, "malformed", None, []))
        ctx.metrics.webhook(forge, delivery.event, "malformed")
        await ctx.audit(
            request, action, "malformed", target=delivery.spec, detail=delivery.delivery_id
        )
        if not delivery.hooks.accept_malformed:
            raise
        return "malformed", exc.message
    outcome, job_id = "recorded", None
    kind = (delivery.spec or "").partition(":")[0]
    if delivery.wants_sync and delivery.spec and kind in forges.BY_KIND:
        api_url = self_hosted_api_url(delivery, ctx.settings.self_hosted())
        spec = replace(parse_spec(delivery.spec), api_url=api_url)
        req = JobRequest(spec, delivery.spec, False, "webhook")
        outcome, job_id = "queued", (await ctx.queue.enqueue(req)).job_id
    await ctx.with_store(lambda s: _record(s, delivery, size, outcome, job_id, mapped))
    return outcome, job_id


@asynccontextmanager
async def _one_at_a_time(request: Request, key: tuple[str, str]) -> AsyncIterator[None]:
    """Deliveries of one id are handled one after the other in this process: a forge's retry
    of a slow delivery waits, then finds it recorded (``duplicate``) or, if the first failed,
    handles it. Across API replicas, the claim in the shared store does (``_delivery_claims``)."""
    state = request.app.state
    if not hasattr(state, "webhook_locks"):
        state.webhook_locks = {}
    locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = state.webhook_locks
    lock, users = locks.get(key, (asyncio.Lock(), 0))
    locks[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = locks[key]
        if users == 1:
            del locks[key]
        else:
            locks[key] = (lock, users - 1)


def _answer(d: Delivery, outcome: str, job_id: str | None, detail: str = "") -> JSONResponse:
    body: dict[str, Any] = {
        "status": outcome,
        "delivery_id": d.delivery_id,
        "event": d.event,
        "repository_id": d.spec,
        "job_id": job_id,
    }
    if detail:
        body["detail"] = redact(detail)
    return JSONResponse(body, status_code=200 if outcome == "duplicate" else 202)
