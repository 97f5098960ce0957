"""The one registry of forges: every other module reads the forges from here.

Adding a forge: a package ``sources/<forge>/`` exporting ``FORGE`` and one line below.
"""

from __future__ import annotations

from forgelens.errors import BadInput
from forgelens.sources import bitbucket_cloud, bitbucket_server, gerrit, gitea, github, gitlab
from forgelens.sources.forge import Forge
from forgelens.sources.webhook import Headers, Webhooks

FORGES: tuple[Forge, ...] = (
    github.FORGE,
    gitlab.FORGE,
    bitbucket_server.FORGE,
    bitbucket_cloud.FORGE,
    gitea.FORGE,
    gerrit.FORGE,
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


def setting_names() -> tuple[str, ...]:
    """The secret settings the forges name: tokens and webhook secrets (each once)."""
    names = [f.token_setting.upper() for f in FORGES if f.token_setting]
    names += [n for f in FORGES if f.webhooks is not None for n in f.webhooks.secret_names()]
    return tuple(dict.fromkeys(names))


def webhook_routes() -> tuple[str, ...]:
    """The endpoints ``/api/v1/webhooks/<route>`` there are (github, gitlab, bitbucket, ...)."""
    return tuple(dict.fromkeys(f.webhooks.route for f in FORGES if f.webhooks is not None))


def webhooks_for(route: str, headers: Headers) -> Webhooks | None:
    """The webhooks of the forge whose delivery this is (of those sharing ``route``, the first
    that claims its headers); None when no forge receives webhooks there."""
    for f in FORGES:
        if f.webhooks is not None and f.webhooks.route == route and f.webhooks.claims(headers):
            return f.webhooks
    return None
