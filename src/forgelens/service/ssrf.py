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

from forgelens.engine.specs import SourceSpec
from forgelens.errors import BadInput

PUBLIC_FORGES = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}
SELF_HOSTED_API = {
    "github": "/api/v3",
    "gitlab": "/api/v4",
    "bitbucket-server": "",  # the server root (plus its context path): the source adds /rest/...
    "bitbucket": "/2.0",
}
# One segment of a repository's path (owner, group, name): it may start with "." or "_" (an
# organisation's ".github"), never with "-" (an option to git), and is never "." or "..".
# The webhook endpoints name repositories with it too.
REPO_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._][A-Za-z0-9._-]{0,99}"
_SEGMENT = re.compile(rf"^{REPO_SEGMENT}$")
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
            "(github.com, gitlab.com, bitbucket.org or a configured self-hosted host)"
        )
    if not explicit and (host not in PUBLIC_FORGES or port not in (None, 443)):
        raise BadInput(
            f"{host or 'the host'} is not a configured forge host: use github.com, gitlab.com, "
            "bitbucket.org, or add it to FORGELENS_FORGE_HOSTS"
        )
    if not explicit and not _HOST.match(host):
        raise BadInput(f"{host!r} is not a valid host name")
    kind = self_hosted.get(host) or PUBLIC_FORGES[host]
    context, target = _repository_path(kind, parts.path)
    api_url = None
    if explicit:
        netloc = host if port in (None, 443) else f"{host}:{port}"
        api_url = f"https://{netloc}{context}{SELF_HOSTED_API.get(kind, '')}"
    return SourceSpec(kind, target, api_url)


# Bitbucket Server / Data Center web and clone URLs, after an optional context path:
# /projects/KEY/repos/SLUG/..., /users/NAME/repos/SLUG/... (personal: key ~NAME), /scm/key/slug.git
_BBS_PATH = re.compile(
    r"^(?P<context>(?:/[^/]+)*?)"
    r"(?:/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)"
    r"|/users/(?P<user>[^/]+)/repos/(?P<uslug>[^/]+)"
    r"|/scm/(?P<scm>[^/]+)/(?P<sslug>[^/]+))(?:/.*)?$"
)


def _repository_path(kind: str, path: str) -> tuple[str, str]:
    """(context path of a self-hosted server, ``owner/name``) of a repository URL's path."""
    if kind == "bitbucket-server" and (m := _BBS_PATH.match("/" + path.strip("/"))):
        key = m["key"] or (f"~{m['user']}" if m["user"] else m["scm"])
        slug = m["slug"] or m["uslug"] or m["sslug"]
        slug = slug[: -len(".git")] if slug.endswith(".git") else slug
        if not all(_SEGMENT.match(s.lstrip("~")) and ".." not in s for s in (key, slug)):
            raise BadInput("repository_url has characters a repository path cannot have")
        return m["context"], f"{key.upper()}/{slug}"
    segments = [s for s in path.strip("/").split("/") if s]
    if kind == "gitlab" and "-" in segments:
        segments = segments[: segments.index("-")]
    if segments and segments[-1].endswith(".git"):
        segments[-1] = segments[-1][: -len(".git")]
    want_two = kind != "gitlab"
    if kind != "gitlab" and len(segments) > 2:
        segments = segments[:2]
    if len(segments) < 2 or (want_two and len(segments) != 2):
        raise BadInput("repository_url must name a repository, e.g. https://github.com/owner/repo")
    if not all(_SEGMENT.match(s) and ".." not in s for s in segments):
        raise BadInput("repository_url has characters a repository path cannot have")
    return "", "/".join(segments)


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
