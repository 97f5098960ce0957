"""``forgelens serve``: the collector service (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from forgelens.cli._common import DbOption
from forgelens.errors import BadInput
from forgelens.logs import configure

if TYPE_CHECKING:
    from forgelens.service.settings import ServiceSettings


def service_settings(db: str | None) -> ServiceSettings:
    """The service's settings (``ServiceSettings``), with ``--db`` applied."""
    try:
        from forgelens.service.settings import ServiceSettings
    except ImportError as exc:
        raise BadInput("the service is not installed: pip install 'forgelens[service]'") from exc
    settings = ServiceSettings()
    if db:
        settings.database_url = db
    return settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (FORGELENS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (FORGELENS_PORT, default 8000).")] = None,
    db: DbOption = None,
) -> None:
    """Run the collector service: trigger/status API, webhooks, /metrics.

    Jobs run in this process unless REDIS_URL is set; then start `forgelens worker` too.

    Example: forgelens serve --port 8000  (store from --db or FORGELENS_DATABASE_URL)
    """
    import uvicorn

    from forgelens.service.app import create_app

    settings = service_settings(db)
    configure(settings.log_level, json=True)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )
