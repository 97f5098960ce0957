"""GitHub and GitHub Enterprise Server: REST and GraphQL source, mappers, backfill."""

from __future__ import annotations

from forgelens.sources.forge import Forge
from forgelens.sources.github.backfill import GitHubBackfill
from forgelens.sources.github.source import TOKEN, GitHubSource, from_options, graphql_url
from forgelens.sources.github.webhook import WEBHOOKS

FORGE = Forge(
    kind="github",
    hosts=("github.com",),
    api_suffix="/api/v3",
    token_setting=TOKEN,
    source=from_options,
    backfill=GitHubBackfill,
    example="github:owner/repo",
    webhooks=WEBHOOKS,
)

__all__ = ["FORGE", "GitHubBackfill", "GitHubSource", "from_options", "graphql_url"]
