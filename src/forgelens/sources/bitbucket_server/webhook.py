"""Bitbucket Server / Data Center webhook payloads (``pr:*``) -> records, through the
collector's own mappers (``sources/_bitbucket_map.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import now_version, repository_id
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import ms
from forgelens.sources.webhook import (
    COMMENT,
    Fields,
    Webhooks,
    carried,
    obj,
    people,
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


WEBHOOKS = Webhooks(
    route="bitbucket",
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
