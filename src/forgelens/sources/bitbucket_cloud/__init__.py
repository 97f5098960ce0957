"""Bitbucket Cloud (API 2.0): source, backfill."""

from __future__ import annotations

from forgelens.sources.bitbucket_cloud.backfill import BitbucketCloudBackfill
from forgelens.sources.bitbucket_cloud.source import (
    SOURCE,
    TOKEN,
    BitbucketCloudSource,
    from_options,
)
from forgelens.sources.bitbucket_cloud.webhook import WEBHOOKS
from forgelens.sources.forge import Forge

FORGE = Forge(
    kind=SOURCE,
    hosts=("bitbucket.org",),
    api_suffix="/2.0",
    token_setting=TOKEN,
    source=from_options,
    backfill=BitbucketCloudBackfill,
    example="bitbucket:workspace/repo",
    webhooks=WEBHOOKS,
)

__all__ = ["FORGE", "BitbucketCloudBackfill", "BitbucketCloudSource", "from_options"]
