"""Bitbucket Server / Data Center web and clone URLs, after an optional context path:
``/projects/KEY/repos/SLUG/...``, ``/users/NAME/repos/SLUG/...`` (a personal repository: key
``~NAME``), ``/scm/key/slug.git``; any other path is read as ``/owner/repo``."""

from __future__ import annotations

import re

from forgelens.sources.paths import check_segments, owner_repo

_PATH = re.compile(
    r"^(?P<context>(?:/[^/]+)*?)"
    r"(?:/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)"
    r"|/users/(?P<user>[^/]+)/repos/(?P<uslug>[^/]+)"
    r"|/scm/(?P<scm>[^/]+)/(?P<sslug>[^/]+))(?:/.*)?$"
)


def repository_path(path: str, exact: bool) -> tuple[str, str]:
    m = _PATH.match("/" + path.strip("/"))
    if m is None:
        return owner_repo(path, exact)
    key = m["key"] or (f"~{m['user']}" if m["user"] else m["scm"])
    slug = m["slug"] or m["uslug"] or m["sslug"]
    slug = slug[: -len(".git")] if slug.endswith(".git") else slug
    check_segments([key.lstrip("~"), slug])
    return m["context"], f"{key.upper()}/{slug}"
