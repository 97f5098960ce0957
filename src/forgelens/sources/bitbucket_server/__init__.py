"""Bitbucket Server / Data Center (REST 1.0): source, backfill."""

from __future__ import annotations

from forgelens.sources.bitbucket_server.backfill import BitbucketServerBackfill
from forgelens.sources.bitbucket_server.paths import repository_path
from forgelens.sources.bitbucket_server.source import (
    SOURCE,
    TOKEN,
    BitbucketServerSource,
    from_options,
)
from forgelens.sources.bitbucket_server.webhook import WEBHOOKS
from forgelens.sources.forge import Forge

FORGE = Forge(
    kind=SOURCE,
    hosts=(),
    api_suffix="",  # the server root (plus its context path): the source adds /rest/...
    token_setting=TOKEN,
    source=from_options,
    backfill=BitbucketServerBackfill,
    example="bitbucket-server:PROJECT/repo",
    webhooks=WEBHOOKS,
    repository_path=repository_path,
)

__all__ = ["FORGE", "BitbucketServerBackfill", "BitbucketServerSource", "from_options"]
