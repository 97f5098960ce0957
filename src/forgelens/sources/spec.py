"""What users name to collect, parsed once into a ``SourceSpec`` that travels whole.

One parser, one host table (the forge registry, ``sources/forges.py``):

git:PATH | PATH                      -> ("git", PATH)
https://host/owner/repo.git, git@... -> ("git", URL)          mirrored, then mined
github:OWNER[/REPO]                  -> ("github", "OWNER[/REPO]")
gitlab:GROUP/.../PROJECT             -> ("gitlab", ...)
bitbucket-server:PROJECT[/REPO]      -> ("bitbucket-server", ...)
bitbucket:WORKSPACE[/REPO]           -> ("bitbucket", ...)
https://github.com/owner/repo        -> ("github", "owner/repo"); gitlab.com, bitbucket.org alike

``forge_url_spec`` reads a forge's web URL the way a trigger names a repository (exactly one
repository; a self-hosted server's API root from the forge's ``api_suffix``); the service's
SSRF rules (``service/ssrf.py``) decide which URLs get that far. The spec, ``api_url``
included, is what the trigger queues (``JobRequest``) and what the collection reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from forgelens.errors import BadInput
from forgelens.sources import forges
from forgelens.sources.paths import owner_repo


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source to collect: its kind, what of it (``owner/repo``, a path, a URL) and, for an
    Enterprise / self-hosted forge, the API root to ask (None: the forge's public API)."""

    kind: str
    target: str
    api_url: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "api_url": self.api_url}

    @classmethod
    def of(cls, value: SourceSpec | str | dict[str, Any]) -> SourceSpec:
        """A spec from itself, its text (``parse_spec``) or its ``as_dict`` form."""
        if isinstance(value, SourceSpec):
            return value
        if isinstance(value, str):
            return parse_spec(value)
        return cls(str(value["kind"]), str(value["target"]), value.get("api_url"))


def parse_spec(text: str) -> SourceSpec:
    """The spec a user wrote on the command line (or a stored job names)."""
    text = text.strip()
    if not text:
        raise BadInput("an empty source: name git:PATH, a URL or github:OWNER/REPO")
    prefix, sep, rest = text.partition(":")
    if sep and prefix == "git":
        return SourceSpec("git", rest or ".")
    if sep and prefix in forges.BY_KIND and not rest.startswith("//"):
        target = rest.strip("/")
        if not target:
            raise BadInput(f"{text!r}: name what to collect, e.g. {prefix}:owner/repo")
        return SourceSpec(prefix, target)
    if text.startswith(("https://", "http://")):
        parts = urlsplit(text)
        path = parts.path.strip("/")
        host = (parts.hostname or "").lower()
        if path.endswith(".git") or host not in forges.BY_HOST:
            return SourceSpec("git", text)
        _, target = repository_path(forges.BY_HOST[host].kind, path, exact=False)
        if not target:
            raise BadInput(f"{text!r}: the URL names no repository")
        return SourceSpec(forges.BY_HOST[host].kind, target)
    if text.startswith(("ssh://", "git://", "file://")) or ("@" in text and sep):
        return SourceSpec("git", text)
    if sep and len(prefix) > 1 and "/" not in prefix:
        raise BadInput(
            f"unknown source kind {prefix!r} in {text!r}: use git:, "
            f"{', '.join(k + ':' for k in forges.kinds())} or a URL"
        )
    return SourceSpec("git", text)


def forge_url_spec(kind: str, path: str, *, server: str | None = None) -> SourceSpec:
    """The one repository a forge web URL's ``path`` names; ``server`` (``host[:port]``) of a
    self-hosted forge gives the spec that server's API root."""
    context, target = repository_path(kind, path, exact=True)
    api_url = None
    if server is not None:
        known = forges.BY_KIND.get(kind)
        api_url = f"https://{server}{context}{known.api_suffix if known else ''}"
    return SourceSpec(kind, target, api_url)


def repository_path(kind: str, path: str, *, exact: bool) -> tuple[str, str]:
    """(context path of a self-hosted server, ``owner/name``) of a forge URL's path, by the
    forge's own rule (its descriptor's ``repository_path``; ``sources/paths.py``)."""
    known = forges.BY_KIND.get(kind)
    return (known.repository_path if known else owner_repo)(path, exact)
