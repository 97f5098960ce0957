"""Tags of a local repository, for the git tag deployment rule (``--deploy-tags 'v*'``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forgelens.sources.git.source import GitRepo, _git

_FIELDS = (
    "%(refname:short)",
    "%(objecttype)",
    "%(objectname)",
    "%(*objectname)",
    "%(*objecttype)",
    "%(taggerdate:iso-strict)",
    "%(taggername)",
    "%(committerdate:iso-strict)",
    "%(*committerdate:iso-strict)",
)


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    sha: str  # the tagged commit
    at: datetime  # tagger date of an annotated tag, else the commit's committer date
    tagger: str | None
    annotated: bool


def tags(repo: GitRepo, pattern: str) -> list[Tag]:
    """Tags matching the glob ``pattern`` (``v*``) that point at a commit, oldest first."""
    out = _git(
        ["for-each-ref", "--format=" + "%00".join(_FIELDS), f"refs/tags/{pattern}"],
        cwd=repo.path,
    )
    found = []
    for line in out.splitlines():
        name, kind, sha, peeled, peeled_kind, tagged_at, tagger, committed, peeled_committed = (
            line.split("\0")
        )
        if kind == "commit":
            found.append(Tag(name, sha, datetime.fromisoformat(committed), None, False))
        elif kind == "tag" and peeled_kind == "commit":
            at = tagged_at or peeled_committed
            found.append(Tag(name, peeled, datetime.fromisoformat(at), tagger or None, True))
    found.sort(key=lambda t: (t.at, t.name))
    return found
