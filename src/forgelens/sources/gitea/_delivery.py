"""Gitea / Forgejo releases as deployments (``sources/_release``) and the compare API for
linking deployments when the repository is not mined locally.

Releases: ``GET /repos/{o}/{r}/releases`` paged ``page``/``limit`` (the server caps the size:
``_paging``), newest created first. Gitea sends no ETag there, so the cheap check is the
repository's own ``release_counter`` (read with the repository, no request of its own): the
engine skips the listing while the count is the one its last complete pass saw
(``RepoSnapshot.counts``). A count that moved costs the listing's first page, and one request
per release published since the watermark to resolve its tag (``GET /tags/{tag}``, whose
``commit.sha`` is the tagged commit, annotated or not).

Compare: ``GET /repos/{o}/{r}/compare/{base}...{head}`` (Gitea 1.22+, Forgejo) lists the commits
with their parents and ``total_commits``, unpaged; it sends no base commit, so the base is
asked for (``GET /git/commits/{sha}``) only when linking does not know it yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

from forgelens.errors import NotFound
from forgelens.records import repository_id
from forgelens.sources._compare import compare_commit, compare_commits
from forgelens.sources._forge_common import RestSource
from forgelens.sources._release import ReleaseRule, release_page
from forgelens.sources.base import RELEASES, Comparison, Page, RepoRef
from forgelens.sources.gitea import _map as m


def release_counts(payload: Any) -> dict[str, int]:
    """``{"releases": n}`` from a repository's ``release_counter`` (absent: {})."""
    n = payload.get("release_counter") if isinstance(payload, dict) else None
    return {RELEASES: n} if isinstance(n, int) and not isinstance(n, bool) else {}


class GiteaDelivery(RestSource):
    release_rule: ReleaseRule = ReleaseRule()

    @staticmethod
    def _base(ref: RepoRef) -> str:
        """The repository's API path (``GiteaSource._base``)."""
        raise NotImplementedError

    def releases(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Published releases (newest first) as deployments; drafts skipped."""
        repo_id = repository_id(m.SOURCE, ref.full_name)
        base = self._base(ref)
        pages = self._pages(base + "/releases", "GET /repos/{owner}/{repo}/releases", resume)
        while True:
            try:
                items, nxt = next(pages)
            except StopIteration:
                return
            except NotFound:  # the repository's releases unit is turned off: none to read
                yield Page([], 0, done=True)  # a complete pass: the count is kept
                return
            page = release_page(
                repo_id,
                items,
                since,
                lambda r: self._tag_sha(base, str(r["tag_name"])),
                m.person,
                self.release_rule,
                overlap=self.overlap,
                nxt=nxt,
            )
            yield page
            if page.done:
                return

    def _tag_sha(self, base: str, tag: str) -> str | None:
        """The commit ``tag`` points to (None: no such tag)."""
        try:
            found = self._get(
                f"{base}/tags/{quote(tag, safe='/')}", "GET /repos/{owner}/{repo}/tags/{tag}"
            )
        except NotFound:
            return None
        sha = (found.get("commit") or {}).get("sha") if isinstance(found, dict) else None
        return str(sha).lower() if isinstance(sha, str) and sha else None

    def compare(self, ref: RepoRef, base: str, head: str, *, need_base: bool = True) -> Comparison:
        """The commits in ``head`` and not in ``base``, with parents (``NotFound``: a sha the
        repository no longer has, or a server older than Gitea 1.22)."""
        repo_id = repository_id(m.SOURCE, ref.full_name)
        path = self._base(ref)
        body = self._get(
            f"{path}/compare/{base}...{head}", "GET /repos/{owner}/{repo}/compare/{basehead}"
        )
        body = body if isinstance(body, dict) else {}
        commits = compare_commits(repo_id, body.get("commits") or [])
        total = body.get("total_commits")
        out = Comparison(commits, max(total if isinstance(total, int) else 0, len(commits)))
        if need_base:
            try:
                found = self._get(
                    f"{path}/git/commits/{base}",
                    "GET /repos/{owner}/{repo}/git/commits/{sha}",
                    stat="false",
                    verification="false",
                    files="false",
                )
                out.base = compare_commit(repo_id, found)
            except (NotFound, ValueError):
                out.base = None
        return out
