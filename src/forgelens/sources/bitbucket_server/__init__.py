"""Bitbucket Server / Data Center (REST 1.0): source, backfill."""

from __future__ import annotations

from forgelens.sources.bitbucket_server.backfill import BitbucketServerBackfill
from forgelens.sources.bitbucket_server.source import SOURCE, BitbucketServerSource, from_options
from forgelens.sources.bitbucket_server.webhook import WEBHOOKS
from forgelens.sources.forge import Forge

FORGE = Forge(
    kind=SOURCE,
    hosts=(),
    api_suffix="",  # the server root (plus its context path): the source adds /rest/...
    token_setting="bitbucket_token",  # noqa: S106 (the name of the setting, not a secret)
    source=from_options,
    backfill=BitbucketServerBackfill,
    example="bitbucket-server:PROJECT/repo",
    webhooks=WEBHOOKS,
)

__all__ = ["FORGE", "BitbucketServerBackfill", "BitbucketServerSource", "from_options"]
