"""GitHub Releases as deployments (``sources/_release``) and the compare API for linking
deployments to commits when the repository is not mined locally.

Releases: ``GET /repos/{o}/{r}/releases`` (newest first, conditional: an unchanged listing is a
304 that GitHub does not charge). Each release published since the watermark costs one request
to resolve its tag to a commit (``GET /git/ref/tags/{tag}``; an annotated tag one more,
``GET /git/tags/{sha}``). The listing stops at the first page answered 304 (nothing on it
changed) or where ``sources/_release.release_page`` says (releases created well before the
watermark).

Compare: ``GET /repos/{o}/{r}/compare/{base}...{head}`` paged 100 commits at a time (Link
header) up to ``COMPARE_CAP`` commits; ``total_commits`` says how many there are, so a longer
range is recorded as truncated rather than silently cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import quote

from forgelens.errors import NotFound
from forgelens.records import repository_id
from forgelens.sources._compare import compare_commit, compare_commits
from forgelens.sources._pagination import LinkHeaderPaginator
from forgelens.sources._release import ReleaseRule, release_page
from forgelens.sources.base import Comparison, Page, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import GitHubBase

COMPARE_CAP = 10_000  # commits listed per comparison at most (100 pages)
COMPARE_PAGES = LinkHeaderPaginator(items_key="commits")


class DeliveryFetch(GitHubBase):
    release_rule: ReleaseRule = ReleaseRule()

    def releases(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Published releases (newest first) as deployments; drafts skipped."""
        repo_id = repository_id(self.kind, ref.full_name)
        for resp, items, nxt in self._responses(
            f"/repos/{ref.full_name}/releases",
            "GET /repos/{owner}/{repo}/releases",
            resume,
            conditional=True,
        ):
            page = release_page(
                repo_id,
                items,
                since,
                lambda r: self._tag_sha(ref, str(r["tag_name"])),
                m.person,
                self.release_rule,
                overlap=not resp.from_cache,
                nxt=nxt,
            )
            if since is not None and resp.from_cache:  # unchanged since it was read
                page.done, page.resume = True, None
            yield page
            if page.done:
                return

    def _tag_sha(self, ref: RepoRef, tag: str) -> str | None:
        """The commit ``tag`` points to, through an annotated tag object (None: no such tag)."""
        try:
            found = self._get(
                f"/repos/{ref.full_name}/git/ref/tags/{quote(tag, safe='/')}",
                "GET /repos/{owner}/{repo}/git/ref/tags/{tag}",
            )
            obj = found["object"]
            for _ in range(4):  # a tag of a tag: peel a few levels, never loop
                if obj.get("type") != "tag":
                    break
                obj = self._get(
                    f"/repos/{ref.full_name}/git/tags/{obj['sha']}",
                    "GET /repos/{owner}/{repo}/git/tags/{tag_sha}",
                )["object"]
        except NotFound:
            return None
        return str(obj["sha"]).lower() if obj.get("type") == "commit" else None

    def compare(self, ref: RepoRef, base: str, head: str, *, need_base: bool = True) -> Comparison:
        """The commits in ``head`` and not in ``base``, with parents (``NotFound``: a sha the
        repository no longer has)."""
        repo_id = repository_id(self.kind, ref.full_name)
        out = Comparison([], 0)
        for resp, items, _nxt in self._responses(
            f"/repos/{ref.full_name}/compare/{base}...{head}",
            "GET /repos/{owner}/{repo}/compare/{basehead}",
            None,
            COMPARE_PAGES,
        ):
            body = resp.json()
            if isinstance(body, dict) and not out.total:
                out.total = int(body.get("total_commits") or 0)
                out.status = str(body.get("status") or "")
                if isinstance(body.get("base_commit"), dict):
                    out.base = compare_commit(repo_id, body["base_commit"])
            out.commits.extend(compare_commits(repo_id, items))
            if len(out.commits) >= COMPARE_CAP:
                break
        out.total = max(out.total, len(out.commits))
        return out
