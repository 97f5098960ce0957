"""``forgelens worker``: take collection jobs from Redis (arq) and run the schedule."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.cli._common import DbOption
from forgelens.cli.serve import service_settings
from forgelens.errors import BadInput
from forgelens.logs import configure


def worker(
    jobs: Annotated[int, typer.Option(help="Jobs this worker runs at once.")] = 2,
    burst: Annotated[bool, typer.Option(help="Stop once the queue is empty.")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve this worker's Prometheus metrics on this port.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Run collection jobs queued in Redis by `forgelens serve` (needs REDIS_URL).

    Start as many as you like, on as many machines; with a DuckDB store they take turns on
    the file (use PostgreSQL for real parallel writes).

    Example: forgelens worker --jobs 4  (with REDIS_URL=redis://localhost:6379 set)
    """
    from forgelens.engine.queue_redis import run_worker
    from forgelens.engine.store_access import StoreAccess

    settings = service_settings(db)
    if not settings.redis_url:
        raise BadInput(
            "forgelens worker needs REDIS_URL; without it `forgelens serve` runs jobs itself"
        )
    configure(settings.log_level, json=True)
    if metrics_port:
        from prometheus_client import start_http_server

        from forgelens.service.metrics import ServiceMetrics

        start_http_server(metrics_port, registry=ServiceMetrics().attach().registry)
    access = StoreAccess(settings.database_url, shared=True)
    run_worker(settings.queue_config(), access, burst=burst, max_jobs=jobs)
