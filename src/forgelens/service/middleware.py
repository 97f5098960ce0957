"""Request ids, one JSON log line per request, request metrics, and the one error handler."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forgelens import errors
from forgelens.logs import get_logger, redact
from forgelens.service.metrics import ServiceMetrics

log = get_logger("forgelens.service")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# ForgelensError class -> HTTP status; the most specific class listed wins.
STATUS: dict[type[errors.ForgelensError], int] = {
    errors.BadInput: 400,
    errors.AuthError: 401,
    errors.NotFound: 404,
    errors.RateLimited: 429,
    errors.ForgeError: 502,
    errors.SourceError: 502,
    errors.StoreLocked: 503,
    errors.StoreError: 503,
    errors.Interrupted: 503,
}


def status_for(exc: errors.ForgelensError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


class RequestContextMiddleware:
    """Pure ASGI: binds ``request_id`` (the caller's ``X-Request-ID`` if sane, else new) to
    every log line of the request, echoes it back, logs the request and counts it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request(scope["method"], template, status)
            log.info(
                "request",
                method=scope["method"],
                path=redact(scope["path"])[:300],
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def install_error_handler(app: FastAPI) -> None:
    @app.exception_handler(errors.ForgelensError)
    async def forgelens_error(request: Request, exc: errors.ForgelensError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("request failed", error=type(exc).__name__, detail=redact(exc.message))
        return JSONResponse(
            {"detail": redact(exc.message), "error": type(exc).__name__}, status_code=status
        )
