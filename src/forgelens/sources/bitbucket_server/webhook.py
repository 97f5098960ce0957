"""Bitbucket Server / Data Center webhook payloads (``pr:*``) -> records, through the
collector's own mappers (``sources/_bitbucket_map.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import now_version, repository_id
from forgelens.sources import _bitbucket_hook as hook
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import ms
from forgelens.sources.webhook import (
    COMMENT,
    Fields,
    Headers,
    Parsed,
    Ping,
    Webhooks,
    at,
    carried,
    obj,
    people,
    repo_spec,
    tombstone,
    version_of,
)

BBS_PR: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "createdDate",
    "updated_at": "updatedDate",
    "forge_id": "id",
    "body": "description",
    "author": "author",
    "draft": "draft",
    "base_ref": "toRef",
    "head_ref": "fromRef",
    "url": "links",
}


def _bbs_pr(p: dict[str, Any], deleted: bool) -> tuple[str, int, list[Any]]:
    pr = obj(p, "pullRequest")
    repo = obj(obj(pr, "toRef"), "repository")
    full = f"{obj(repo, 'project')['key']}/{repo['slug']}"
    repo_id = repository_id(bb.SERVER, full)
    rec = bb.server_pr(repo_id, pr)
    version = version_of(ms(pr.get("updatedDate")))
    extra: list[str] = []
    if pr.get("state") == "OPEN" or "closedDate" in pr:
        extra += ["merged_at", "closed_at"]
    if deleted:
        rec.deleted_at, version = datetime.now(UTC), now_version()
        extra.append("deleted_at")
    found = people([bb.server_person(pr.get("author"))], version)
    return repo_id, rec.number, [carried(rec, pr, BBS_PR, version, *extra), *found]


def bitbucket_server_pr(p: dict[str, Any]) -> list[Any]:
    event = str(p.get("eventKey") or "")
    repo_id, number, out = _bbs_pr(p, deleted=event == "pr:deleted")
    if event in ("pr:comment:added", "pr:comment:edited"):
        raw = obj(p, "comment")
        rec = bb.server_comment(repo_id, number, {"comment": raw})
        version = version_of(rec.updated_at, rec.created_at)
        fields = {**COMMENT, "body": "text", "created_at": "createdDate"}
        fields["updated_at"] = "updatedDate"
        out += [carried(rec, raw, fields, version)]
        out += people([bb.server_person(raw.get("author"))], version)
    elif event == "pr:comment:deleted":
        out.append(tombstone(bb.server_comment(repo_id, number, {"comment": obj(p, "comment")})))
    return out


def _repository(payload: dict[str, Any]) -> dict[str, Any]:
    """The repository a delivery names: at the top (``repo:*``) or in the PR's ``toRef``."""
    return at(payload, "repository") or at(at(at(payload, "pullRequest"), "toRef"), "repository")


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    repo = _repository(payload)
    key, slug = at(repo, "project").get("key"), repo.get("slug")
    spec = None
    if isinstance(key, str) and isinstance(slug, str):
        # a personal repository's project is ``~USER`` (``~JANE.DOE/scratch``)
        valid = repo_spec(bb.SERVER, f"{key.removeprefix('~')}/{slug}")
        spec = f"{bb.SERVER}:{key}/{slug}" if valid else None
    return Parsed(headers.get(hook.EVENT, ""), headers.get("x-request-id", ""), spec)


def web_url(payload: dict[str, Any]) -> str | None:
    """The repository's web address: ``links.self[0].href``."""
    links = at(_repository(payload), "links").get("self")
    first = links[0] if isinstance(links, list) and links else None
    url = first.get("href") if isinstance(first, dict) else None
    return url if isinstance(url, str) else None


def ping(headers: Headers) -> Ping | None:
    """The "Test connection" button: ``diagnostics:ping`` with a tiny or empty body and no
    ``X-Hub-Signature`` even when the webhook has a secret. It carries nothing to store; it is
    answered (a signature, when sent, must still match) and never recorded."""
    if headers.get(hook.EVENT) != "diagnostics:ping":
        return None
    return Ping(
        "diagnostics:ping",
        headers.get("x-request-id", ""),
        signed="x-hub-signature" in headers,
        unsigned_note=" (unsigned: events must carry X-Hub-Signature from the secret)",
    )


WEBHOOKS = Webhooks(
    route=hook.ROUTE,
    verify=hook.verify,
    read=read,
    web_url=web_url,
    claims=lambda headers: not hook.from_cloud(headers),
    ping=ping,
    event_header=hook.EVENT,
    sync_events=("repo:refs_changed", "pr:"),
    mappers={
        "pr:opened": bitbucket_server_pr,
        "pr:modified": bitbucket_server_pr,
        "pr:from_ref_updated": bitbucket_server_pr,
        "pr:to_ref_updated": bitbucket_server_pr,
        "pr:reviewer:updated": bitbucket_server_pr,
        "pr:reviewer:approved": bitbucket_server_pr,
        "pr:reviewer:unapproved": bitbucket_server_pr,
        "pr:reviewer:needs_work": bitbucket_server_pr,
        "pr:reviewer:changes_requested": bitbucket_server_pr,
        "pr:merged": bitbucket_server_pr,
        "pr:declined": bitbucket_server_pr,
        "pr:deleted": bitbucket_server_pr,
        "pr:comment:added": bitbucket_server_pr,
        "pr:comment:edited": bitbucket_server_pr,
        "pr:comment:deleted": bitbucket_server_pr,
    },
)
