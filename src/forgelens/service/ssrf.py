"""Which repository URLs a trigger may name (OWASP API7, server-side request forgery).

``validate_repository_url`` accepts a URL only when:

- the scheme is ``https`` and the URL carries no credentials and no odd port;
- the host is a configured forge host: github.com, gitlab.com, bitbucket.org, or a self-hosted
  host named in ``FORGELENS_FORGE_HOSTS``; IP literals in any spelling (``2130706433``,
  ``0x7f000001``, ``[::1]``, ``[::ffff:127.0.0.1]``) are not hosts we know;
- no DNS here: the addresses a host resolves to are checked where the job connects
  (``sources/_address_guard.py``: public only, unless FORGELENS_FORGE_PRIVATE_HOSTS allows a
  self-hosted host to be private), so a resolver outage is a retryable job failure and not a
  refused trigger, and a DNS answer that changes after the check is never connected to;
- the path names a repository (``owner/repo``; GitLab ``group/.../project``).

``guard_redirects`` keeps an HTTP client from following a redirect to another host.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx

from forgelens.errors import BadInput
from forgelens.sources import forges
from forgelens.sources.spec import SourceSpec, forge_url_spec

_HOST = re.compile(r"^[a-z0-9.-]{1,253}$")
MAX_URL = 2048


def _looks_like_ip(host: str) -> bool:
    if host.startswith("[") or ":" in host:
        return True
    try:
        socket.inet_aton(host)  # accepts 2130706433, 0x7f000001, 0177.1, 127.1
    except OSError:
        return False
    return True


def validate_repository_url(url: str, *, self_hosted: dict[str, str] | None = None) -> SourceSpec:
    """The ``SourceSpec`` a trigger URL names, or ``BadInput`` saying why it is refused."""
    self_hosted = self_hosted or {}
    text = url.strip()
    if not text or len(text) > MAX_URL or any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise BadInput(
            "repository_url must be one https URL without spaces, e.g. "
            "https://github.com/owner/repo"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"repository_url is not a valid URL: {exc}") from exc
    if parts.scheme.lower() != "https":
        raise BadInput("repository_url must use https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BadInput("repository_url must not carry credentials; configure tokens instead")
    host = (parts.hostname or "").rstrip(".").lower()
    explicit = host in self_hosted
    if _looks_like_ip(host) and not explicit:
        raise BadInput(
            "repository_url names an IP address: use the forge's host name "
            f"({', '.join(forges.public_hosts())} or a configured self-hosted host)"
        )
    if not explicit and (host not in forges.BY_HOST or port not in (None, 443)):
        raise BadInput(
            f"{host or 'the host'} is not a configured forge host: use "
            f"{', '.join(forges.public_hosts())}, or add it to FORGELENS_FORGE_HOSTS"
        )
    if not explicit and not _HOST.match(host):
        raise BadInput(f"{host!r} is not a valid host name")
    kind = self_hosted.get(host) or forges.BY_HOST[host].kind
    server = (host if port in (None, 443) else f"{host}:{port}") if explicit else None
    return forge_url_spec(kind, parts.path, server=server)


def guard_redirects(client: httpx.Client) -> httpx.Client:
    """Make ``client`` refuse redirects that leave the request's host or change its scheme."""

    def check(response: httpx.Response) -> None:
        if not response.is_redirect:
            return
        origin = response.request.url
        target = origin.join(response.headers.get("location", ""))
        if target.host != origin.host or target.scheme != origin.scheme:
            raise BadInput(
                f"{origin.host} redirected to another host ({target.host}); "
                "redirects to other hosts are refused"
            )

    client.event_hooks.setdefault("response", []).append(check)
    return client
