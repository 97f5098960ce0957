"""Gitea and Forgejo (one API): ``gitea:OWNER/REPO`` with ``--api-url https://host``, token
``GITEA_TOKEN``. The source (``source``), its payload mappers (``_map``), its paginator
(``_paging``), the backfill adapter (``backfill``), webhook verification and mappers
(``webhook``)."""

from __future__ import annotations

from forgelens.sources.forge import Forge
from forgelens.sources.gitea._map import SOURCE
from forgelens.sources.gitea.backfill import GiteaBackfill
from forgelens.sources.gitea.source import (
    API_SUFFIX,
    DATA_SOURCE,
    PROFILE,
    TOKEN,
    GiteaSource,
    from_options,
)
from forgelens.sources.gitea.webhook import WEBHOOKS

FORGE = Forge(
    kind=SOURCE,
    hosts=("gitea.com",),
    api_suffix=API_SUFFIX,
    token_setting=TOKEN,
    source=from_options,
    backfill=GiteaBackfill,
    example="gitea:owner/repo",
    webhooks=WEBHOOKS,
)

__all__ = [
    "DATA_SOURCE",
    "FORGE",
    "PROFILE",
    "SOURCE",
    "GiteaBackfill",
    "GiteaSource",
    "from_options",
]
