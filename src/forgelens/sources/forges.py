"""The one registry of forges: every other module reads the forges from here.

Adding a forge: a package ``sources/<forge>/`` exporting ``FORGE`` and one line below.
"""

from __future__ import annotations

from forgelens.errors import BadInput
from forgelens.sources import bitbucket_cloud, bitbucket_server, gitea, github, gitlab
from forgelens.sources.forge import Forge
from forgelens.sources.webhook import WebhookMapper

FORGES: tuple[Forge, ...] = (
    github.FORGE,
    gitlab.FORGE,
    bitbucket_server.FORGE,
    bitbucket_cloud.FORGE,
    gitea.FORGE,
)
BY_KIND: dict[str, Forge] = {f.kind: f for f in FORGES}
BY_HOST: dict[str, Forge] = {host: f for f in FORGES for host in f.hosts}


def kinds() -> tuple[str, ...]:
    """The forge kinds a spec may name (``github``, ``gitlab``, ...), in registry order."""
    return tuple(f.kind for f in FORGES)


def forge(kind: str) -> Forge:
    """The forge named ``kind``, or ``BadInput`` listing the forges there are."""
    found = BY_KIND.get(kind)
    if found is None:
        raise BadInput(f"unknown forge {kind!r}: use one of {', '.join(kinds())}")
    return found


def public_hosts() -> tuple[str, ...]:
    """The public hosts whose web URLs name a forge (github.com, gitlab.com, ...)."""
    return tuple(BY_HOST)


def webhook_mapper(route: str, event: str) -> WebhookMapper | None:
    """The mapper of ``event`` deliveries at ``/api/v1/webhooks/<route>`` (None: not mapped)."""
    for f in FORGES:
        if f.webhooks is not None and f.webhooks.route == route and event in f.webhooks.mappers:
            return f.webhooks.mappers[event]
    return None
