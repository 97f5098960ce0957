"""Gerrit Code Review: ``gerrit:PROJECT`` with ``--api-url https://host[/context]``, account
``GERRIT_USERNAME`` + HTTP password ``GERRIT_TOKEN``. The source (``source``), its payload
mappers (``_map``), its paginator (``_paging``), the backfill adapter (``backfill``) and
webhook deliveries (``webhooks``)."""

from __future__ import annotations

from forgelens.sources.gerrit._map import SOURCE
from forgelens.sources.gerrit.backfill import GerritBackfill
from forgelens.sources.gerrit.source import DATA_SOURCE, PROFILE, GerritSource, from_options

__all__ = ["DATA_SOURCE", "PROFILE", "SOURCE", "GerritBackfill", "GerritSource", "from_options"]
