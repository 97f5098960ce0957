"""Repository paths in forge web URLs: the segment rule every forge shares and the usual
``owner/repo`` path rule. A forge whose URLs say more (GitLab's groups and ``/-/``, Bitbucket
Server's ``/projects/KEY/repos/SLUG``) has its own rule in its package, named by its
descriptor's ``repository_path`` (``sources/spec.py`` applies it).

A rule takes a URL's path and ``exact`` and returns (the context path of a self-hosted server,
``owner/name``). ``exact`` (a trigger): the path must name one repository whose segments are
``REPO_SEGMENT``s, else ``BadInput``; otherwise (the command line) an owner alone names every
repository of it, and the name is "" when the path names nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from forgelens.errors import BadInput

# One segment of a repository's path (owner, group, name): it may start with "." or "_" (an
# organisation's ".github"), never with "-" (an option to git), and is never "." or "..".
# The webhook endpoints name repositories with it too.
REPO_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._][A-Za-z0-9._-]{0,99}"
_SEGMENT = re.compile(rf"^{REPO_SEGMENT}$")
PathRule = Callable[[str, bool], tuple[str, str]]


def check_segments(segments: Sequence[str]) -> None:
    """``BadInput`` unless every segment is a ``REPO_SEGMENT``."""
    if not all(_SEGMENT.match(s) and ".." not in s for s in segments):
        raise BadInput("repository_url has characters a repository path cannot have")


def segments_of(path: str) -> list[str]:
    return [s for s in path.strip("/").split("/") if s]


def exact_name(segments: list[str], *, most: int | None) -> tuple[str, str]:
    """The repository ``segments`` name (a trailing ``.git`` dropped, at most ``most`` kept)."""
    if segments and segments[-1].endswith(".git"):
        segments = [*segments[:-1], segments[-1][: -len(".git")]]
    segments = segments[:most] if most else segments
    if len(segments) < 2:
        raise BadInput("repository_url must name a repository, e.g. https://github.com/owner/repo")
    check_segments(segments)
    return "", "/".join(segments)


def owner_repo(path: str, exact: bool) -> tuple[str, str]:
    """The usual rule: ``/owner/repo[/anything]`` (GitHub, Bitbucket Cloud, ...)."""
    if not exact:
        return "", "/".join(path.strip("/").split("/")[:2])
    return exact_name(segments_of(path), most=2)
