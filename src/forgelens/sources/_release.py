"""The one rule that makes a forge release a deployment (GitHub Releases, Gitea / Forgejo
releases; their JSON shapes agree on every field read here).

A **published** release is a successful deployment of its tag's commit at ``published_at``:
source ``release``, ref ``refs/tags/<tag>``, environment ``production`` (or the configured
one). A draft is no deployment (it has shipped nothing). A prerelease (release candidates,
betas) is kept, as a deployment to the ``prerelease`` environment (environment kind from its
name: "other"), so it never counts in production DORA figures yet stays visible.

The sha is the commit the tag points to, peeled through an annotated tag: the caller resolves
it (one request on the forge) -- ``target_commitish`` is only what a tag was to be created from
when the release was drafted, often a branch name, and is ignored once the tag exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from forgelens.logs import get_logger
from forgelens.records import Deployment, Person, environment_kind
from forgelens.sources._forge_common import BAD_ITEM, older, ts
from forgelens.sources.base import Page

log = get_logger(__name__)

SOURCE = "release"
PRODUCTION = "production"
PRERELEASE = "prerelease"
# An incremental listing (newest created first) stops at releases created this long before the
# watermark: a draft created earlier and published since lies deeper (``--full`` reads it).
DRAFT_LOOKBACK = timedelta(days=30)
_SHA = re.compile(r"^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$")


@dataclass(frozen=True, slots=True)
class ReleaseRule:
    """Where releases deploy to (``--release-environment``; prereleases to ``prerelease``)."""

    environment: str = PRODUCTION
    prerelease_environment: str = PRERELEASE

    @classmethod
    def from_extra(cls, extra: Any) -> ReleaseRule:
        env = str(extra.get("release_environment") or PRODUCTION).strip() or PRODUCTION
        pre = str(extra.get("prerelease_environment") or PRERELEASE).strip() or PRERELEASE
        return cls(env, pre)


def published(release: Any) -> bool:
    """A release that shipped: not a draft, with a tag and a publication time."""
    return (
        isinstance(release, dict)
        and release.get("draft") is not True
        and isinstance(release.get("tag_name"), str)
        and bool(release["tag_name"])
        and ts(release.get("published_at")) is not None
    )


def commitish_sha(release: dict[str, Any]) -> str | None:
    """``target_commitish`` when it is a full commit id (a fallback when the tag is gone)."""
    value = release.get("target_commitish")
    return value.lower() if isinstance(value, str) and _SHA.match(value) else None


def release_deployment(
    repo_id: str, release: dict[str, Any], sha: str, rule: ReleaseRule | None = None
) -> Deployment:
    """The deployment a published release stands for; ``ValueError`` for a draft or a
    release without tag, id, publication time or a commit id."""
    if not published(release):
        raise ValueError("draft, or release without tag or published_at")
    at = ts(release["published_at"])
    if at is None or not _SHA.match(sha or ""):
        raise ValueError(f"release {release.get('tag_name')!r}: no commit id for its tag")
    rule = rule or ReleaseRule()
    env = rule.prerelease_environment if release.get("prerelease") is True else rule.environment
    author = release.get("author")
    creator = author.get("login") if isinstance(author, dict) else None
    name = release.get("name")
    return Deployment(
        repository_id=repo_id,
        deployment_id=f"{SOURCE}:{int(release['id'])}",
        environment=env,
        environment_kind=environment_kind(env),
        sha=sha.lower(),
        status="success",
        created_at=at,
        source=SOURCE,
        ref=f"refs/tags/{release['tag_name']}",
        finished_at=at,
        creator=creator if isinstance(creator, str) and creator else None,
        description=name if isinstance(name, str) and name else None,
        url=release.get("html_url") if isinstance(release.get("html_url"), str) else None,
    )


def release_page(
    repo_id: str,
    items: list[Any],
    since: datetime | None,
    resolve: Callable[[dict[str, Any]], str | None],
    person: Callable[[Any], Person | None],
    rule: ReleaseRule,
    *,
    overlap: bool = True,
    nxt: str | None = None,
) -> Page:
    """One listing page of releases as a ``Page`` of deployments: each release published since
    the watermark (``overlap``: its second read again) costs ``resolve`` (its tag's commit,
    None when the tag is gone: ``target_commitish`` if a full sha, else the release is skipped
    and counted); the page is the last when it reaches releases created ``DRAFT_LOOKBACK``
    before the watermark."""
    floor = since - DRAFT_LOOKBACK if since is not None else None
    records: list[Any] = []
    high: datetime | None = None
    count = errors = 0
    done = False
    for r in items:
        if not isinstance(r, dict):
            errors += 1
            continue
        done = done or older(ts(r.get("created_at")), floor)
        at = ts(r.get("published_at"))
        if not published(r) or older(at, since, overlap=overlap):
            continue
        try:
            sha = resolve(r) or commitish_sha(r)
            if sha is None:
                raise ValueError(f"tag {r['tag_name']!r} not found")
            records.append(release_deployment(repo_id, r, sha, rule))
        except BAD_ITEM as exc:
            errors += 1
            log.warning("release skipped", repository=repo_id, error=str(exc))
            continue
        who = person(r.get("author"))
        if who is not None:
            records.append(who)
        count += 1
        high = at if high is None or (at and at > high) else high
    return Page(records, count, high, None if done else nxt, errors, done)


# Release webhook actions after which the release stands published (GitHub: published,
# released, prereleased, edited; Gitea / Forgejo: published, updated). Deleting or unpublishing
# a release does not undo a deployment that happened: those map to nothing.
PUBLISHED_ACTIONS = frozenset({"published", "released", "prereleased", "edited", "updated"})


def release_event(
    repo_id: str,
    payload: dict[str, Any],
    person: Callable[[Any], Person | None],
    rule: ReleaseRule | None = None,
) -> list[Any]:
    """A ``release`` webhook payload as the deployment its release stands for. The payload
    names the tag, not its commit: only a ``target_commitish`` that is a full sha gives it
    here; otherwise [] and the targeted sync the event queues resolves the tag (one request).
    A payload without ``release`` or ``action`` raises ``KeyError`` (a malformed delivery)."""
    action, release = payload["action"], payload["release"]
    if not isinstance(release, dict):
        raise ValueError("release is not an object")
    if action not in PUBLISHED_ACTIONS or not published(release):
        return []
    sha = commitish_sha(release)
    if sha is None:
        return []
    out: list[Any] = [release_deployment(repo_id, release, sha, rule)]
    who = person(release.get("author"))
    return [*out, who] if who is not None else out
