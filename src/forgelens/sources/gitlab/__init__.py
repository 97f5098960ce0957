"""GitLab (gitlab.com and self-managed, API v4): source, mappers, backfill."""

from __future__ import annotations

from forgelens.sources.forge import Forge
from forgelens.sources.gitlab.backfill import GitLabBackfill
from forgelens.sources.gitlab.paths import repository_path
from forgelens.sources.gitlab.source import TOKEN, GitLabSource, from_options
from forgelens.sources.gitlab.webhook import WEBHOOKS

FORGE = Forge(
    kind="gitlab",
    hosts=("gitlab.com",),
    api_suffix="/api/v4",
    token_setting=TOKEN,
    source=from_options,
    backfill=GitLabBackfill,
    example="gitlab:group/project",
    webhooks=WEBHOOKS,
    repository_path=repository_path,
)

__all__ = ["FORGE", "GitLabBackfill", "GitLabSource", "from_options"]
