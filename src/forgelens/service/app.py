"""The FastAPI app factory: ``create_app(settings)``.

    app = create_app(ServiceSettings())       # what `forgelens serve` runs under uvicorn

Without ``REDIS_URL`` jobs run in this process (one command, nothing else to start); with it,
jobs go to Redis and ``forgelens worker`` processes take them. Every endpoint but ``/health*``
needs an API key (``/metrics`` too unless ``FORGELENS_METRICS_PUBLIC=true``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from forgelens import __version__
from forgelens.engine.queue import Queue, open_queue
from forgelens.engine.store_access import StoreAccess
from forgelens.logs import get_logger, redact
from forgelens.service.auth import require
from forgelens.service.context import RequestLimiter, ServiceContext, context
from forgelens.service.dashboards.routes import router as dashboards_router
from forgelens.service.metrics import CONTENT_TYPE, ServiceMetrics
from forgelens.service.middleware import RequestContextMiddleware, install_error_handler
from forgelens.service.routes import admin, collect, deployments, health, runs, webhooks
from forgelens.service.settings import ServiceSettings
from forgelens.sources.ratelimit_view import open_ratelimit_view

log = get_logger(__name__)


def create_app(
    settings: ServiceSettings,
    *,
    queue: Queue | None = None,
    access: StoreAccess | None = None,
) -> FastAPI:
    """Build the service. ``queue``/``access`` are seams for tests and embedding."""
    access = access or StoreAccess(settings.database_url, shared=bool(settings.redis_url))
    config = settings.queue_config()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not access.per_session:
            access.get()  # open (and migrate) the store before the first request
        else:
            with access.session():
                pass
        metrics.attach()
        q = queue or open_queue(config, access)
        await q.start()
        redis = getattr(q, "redis", None) if settings.redis_url else None
        ctx = ServiceContext(
            settings=settings,
            access=access,
            queue=q,
            metrics=metrics,
            ratelimits=open_ratelimit_view(settings.redis_url, settings.redis_prefix),
            limiter=RequestLimiter(settings.rate_limit_per_minute, redis, settings.redis_prefix),
            denied=RequestLimiter(settings.denied_per_minute, redis, settings.redis_prefix),
        )
        app.state.ctx = ctx
        log.info(
            "service started",
            jobs="redis" if settings.redis_url else "in-process",
            store=redact(settings.database_url),
            version=__version__,
        )
        try:
            yield
        finally:
            await q.close()
            metrics.detach()
            access.close()

    app = FastAPI(
        title="forgelens",
        version=__version__,
        description="Collector service: trigger and watch collections, receive webhooks.",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
    )
    install_error_handler(app)
    for router in (
        health.router,
        collect.router,
        webhooks.router,
        runs.router,
        admin.router,
        deployments.router,
    ):
        app.include_router(router)
    app.include_router(dashboards_router)  # pages, their JSON and CSV (service/dashboards/)

    metrics_deps: list[Any] = [] if settings.metrics_public else [Depends(require("viewer"))]

    @app.get("/metrics", tags=["health"], dependencies=metrics_deps)
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics (seed 001 names plus forge calls, rate limits, queue, webhooks)."""
        ctx = context(request)
        metrics.collections = await ctx.queue.board.counts()
        metrics.queue_depth = await ctx.queue.depth()
        metrics.ratelimits = await asyncio.to_thread(ctx.ratelimits.all)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    if settings.cors_list():
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_list(),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
