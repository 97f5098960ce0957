"""Parsing what users name on the command line and in triggers into (kind, target).

git:PATH | PATH                      -> ("git", PATH)
https://host/owner/repo.git, git@... -> ("git", URL)          mirrored, then mined
github:OWNER[/REPO]                  -> ("github", "OWNER[/REPO]")
gitlab:GROUP/.../PROJECT             -> ("gitlab", ...)
bitbucket-server:PROJECT[/REPO]      -> ("bitbucket-server", ...)
bitbucket:WORKSPACE[/REPO]           -> ("bitbucket", ...)
gerrit:PROJECT (or PREFIX)           -> ("gerrit", ...)      --api-url names the server
https://github.com/owner/repo        -> ("github", "owner/repo"); gitlab.com, bitbucket.org alike
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from forgelens.errors import BadInput

FORGE_KINDS = ("github", "gitlab", "bitbucket-server", "bitbucket", "gerrit")
FORGE_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "bitbucket.org": "bitbucket"}


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str
    target: str
    api_url: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_spec(text: str) -> SourceSpec:
    text = text.strip()
    if not text:
        raise BadInput("an empty source: name git:PATH, a URL or github:OWNER/REPO")
    prefix, sep, rest = text.partition(":")
    if sep and prefix == "git":
        return SourceSpec("git", rest or ".")
    if sep and prefix in FORGE_KINDS and not rest.startswith("//"):
        target = rest.strip("/")
        if not target:
            raise BadInput(f"{text!r}: name what to collect, e.g. {prefix}:owner/repo")
        return SourceSpec(prefix, target)
    if text.startswith(("https://", "http://")):
        parts = urlsplit(text)
        path = parts.path.strip("/")
        host = (parts.hostname or "").lower()
        if path.endswith(".git") or host not in FORGE_HOSTS:
            return SourceSpec("git", text)
        kind = FORGE_HOSTS[host]
        segments = path.split("/")
        path = path.split("/-/", 1)[0] if kind == "gitlab" else "/".join(segments[:2])
        if not path:
            raise BadInput(f"{text!r}: the URL names no repository")
        return SourceSpec(kind, path, None)
    if text.startswith(("ssh://", "git://", "file://")) or ("@" in text and sep):
        return SourceSpec("git", text)
    if sep and len(prefix) > 1 and "/" not in prefix:
        raise BadInput(
            f"unknown source kind {prefix!r} in {text!r}: use git:, github:, gitlab:, "
            "bitbucket-server:, bitbucket:, gerrit: or a URL"
        )
    return SourceSpec("git", text)
