"""GitHub Releases as deployments (``sources/_release``) and the compare API for linking
deployments to commits when the repository is not mined locally.

Releases: ``GET /repos/{o}/{r}/releases`` (newest first, conditional: an unchanged listing is a
304 that GitHub does not charge). Each release published since the watermark costs one request
to resolve its tag to a commit (``GET /git/ref/tags/{tag}``; an annotated tag one more,
``GET /git/tags/{sha}``). The listing stops at the first page answered 304 (nothing on it
changed) or at the page reaching releases created ``DRAFT_LOOKBACK`` before the watermark: a
draft created earlier and published now lies deeper (GitHub orders by creation) and is read by
``--full``.

Compare: ``GET /repos/{o}/{r}/compare/{base}...{head}`` paged 100 commits at a time (Link
header) up to ``COMPARE_CAP`` commits; ``total_commits`` says how many there are, so a longer
range is recorded as truncated rather than silently cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from forgelens.errors import NotFound
from forgelens.records import repository_id
from forgelens.sources._compare import compare_commit
from forgelens.sources._forge_common import older
from forgelens.sources._pagination import LinkHeaderPaginator
from forgelens.sources._release import ReleaseRule, commitish_sha, published, release_deployment
from forgelens.sources.base import Comparison, Page, RepoRef
from forgelens.sources.github import _map as m
from forgelens.sources.github._base import _BAD_ITEM, GitHubBase, log

DRAFT_LOOKBACK = timedelta(days=30)
COMPARE_CAP = 10_000  # commits listed per comparison at most (100 pages)
COMPARE_PAGES = LinkHeaderPaginator(items_key="commits")


class DeliveryFetch(GitHubBase):
    release_rule: ReleaseRule = ReleaseRule()

    def releases(
        self, ref: RepoRef, since: datetime | None, resume: str | None = None
    ) -> Iterator[Page]:
        """Published releases (newest first) as deployments; drafts skipped."""
        repo_id = repository_id(self.kind, ref.full_name)
        floor = since - DRAFT_LOOKBACK if since is not None else None
        for resp, items, nxt in self._responses(
            f"/repos/{ref.full_name}/releases",
            "GET /repos/{owner}/{repo}/releases",
            resume,
            conditional=True,
        ):
            records: list[Any] = []
            high: datetime | None = None
            count = errors = 0
            done = since is not None and resp.from_cache  # unchanged since it was read
            for r in items:
                if not isinstance(r, dict):
                    errors += 1
                    continue
                done = done or older(m.ts(r.get("created_at")), floor)
                at = m.ts(r.get("published_at"))
                if not published(r) or older(at, since, overlap=not resp.from_cache):
                    continue
                try:
                    sha = self._tag_sha(ref, str(r["tag_name"])) or commitish_sha(r)
                    if sha is None:
                        raise ValueError(f"tag {r['tag_name']!r} not found")
                    records.append(release_deployment(repo_id, r, sha, self.release_rule))
                except _BAD_ITEM as exc:
                    errors += 1
                    log.warning("release skipped", repository=ref.full_name, error=str(exc))
                    continue
                who = m.person(r.get("author"))
                if who is not None:
                    records.append(who)
                count += 1
                high = at if high is None or (at and at > high) else high
            yield Page(records, count, high, None if done else nxt, errors, done)
            if done:
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

    def compare(self, ref: RepoRef, base: str, head: str) -> Comparison:
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
            out.commits.extend(compare_commit(repo_id, c) for c in items)
            if len(out.commits) >= COMPARE_CAP:
                break
        out.total = max(out.total, len(out.commits))
        return out
