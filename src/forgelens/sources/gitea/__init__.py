"""Gitea and Forgejo (one API): ``gitea:OWNER/REPO`` with ``--api-url https://host``, token
``GITEA_TOKEN``. The source (``source``), its payload mappers (``_map``), its paginator
(``_paging``), the backfill adapter (``backfill``) and webhook verification (``webhooks``)."""

from __future__ import annotations

from forgelens.sources.gitea._map import SOURCE
from forgelens.sources.gitea.backfill import GiteaBackfill
from forgelens.sources.gitea.source import DATA_SOURCE, PROFILE, GiteaSource, from_options

__all__ = ["DATA_SOURCE", "PROFILE", "SOURCE", "GiteaBackfill", "GiteaSource", "from_options"]
