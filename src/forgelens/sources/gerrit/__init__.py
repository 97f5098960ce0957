"""Gerrit Code Review: ``gerrit:PROJECT`` with ``--api-url https://host[/context]``, account
``GERRIT_USERNAME`` + HTTP password ``GERRIT_TOKEN``. The source (``source``), its payload
mappers (``_map``), its paginator (``_paging``), the backfill adapter (``backfill``), webhook
deliveries (``webhook``) and how its web URLs name a project (``_map.repository_path``)."""

from __future__ import annotations

from forgelens.sources.forge import Forge
from forgelens.sources.gerrit._map import SOURCE, repository_path
from forgelens.sources.gerrit.backfill import GerritBackfill
from forgelens.sources.gerrit.source import (
    DATA_SOURCE,
    PROFILE,
    TOKEN,
    GerritSource,
    from_options,
)
from forgelens.sources.gerrit.webhook import WEBHOOKS

FORGE = Forge(
    kind=SOURCE,
    hosts=(),  # self-hosted only: FORGELENS_FORGE_HOSTS names a server (host=gerrit)
    api_suffix="",  # the server root (plus its context path): the source adds /a/ when signed in
    token_setting=TOKEN,
    source=from_options,
    backfill=GerritBackfill,
    example="gerrit:platform/build",
    webhooks=WEBHOOKS,
    repository_path=repository_path,
)

__all__ = [
    "DATA_SOURCE",
    "FORGE",
    "PROFILE",
    "SOURCE",
    "GerritBackfill",
    "GerritSource",
    "from_options",
]
