"""Bitbucket Cloud webhook payloads (``pullrequest:*``, ``repo:push``) -> records, through the
collector's own mappers (``sources/_bitbucket_map.py``)."""

from __future__ import annotations

from typing import Any

from forgelens.records import repository_id
from forgelens.sources import _bitbucket_hook as hook
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources._forge_common import ts
from forgelens.sources.webhook import (
    COMMENT,
    Carried,
    Fields,
    Headers,
    Parsed,
    Webhooks,
    at,
    carried,
    obj,
    people,
    push_commits,
    pushed_commit,
    repo_spec,
    tombstone,
    version_of,
)

BBC_PR: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "created_on",
    "updated_at": "updated_on",
    "forge_id": "id",
    "body": "description|summary",
    "author": "author",
    "draft": "draft",
    "base_ref": "destination",
    "head_ref": "source",
    "url": "links",
}


CLOUD_REVIEW_KINDS = ("approval", "changes_request")


def _bbc_repo(p: dict[str, Any]) -> str:
    return repository_id(bb.CLOUD, str(obj(p, "repository")["full_name"]))


def bitbucket_cloud_pr(p: dict[str, Any], closing: bool = False) -> list[Any]:
    """A ``pullrequest:*`` delivery. ``closing``: the event is the merge or decline itself
    (``fulfilled`` / ``rejected``), so the pull request's ``updated_on`` is when it closed;
    an open pull request has neither time."""
    repo_id, pr = _bbc_repo(p), obj(p, "pullrequest")
    rec = bb.cloud_pr(repo_id, pr)
    version = version_of(rec.updated_at)
    extra: tuple[str, ...] = ("merged_by",) if rec.merged_by else ()
    if rec.state == "open" or (closing and rec.state in ("merged", "closed")):
        rec.closed_at = None if rec.state == "open" else rec.updated_at
        rec.merged_at = rec.updated_at if rec.state == "merged" else None
        extra = (*extra, "closed_at", "merged_at")
    found = [bb.cloud_person(pr.get("author"))]
    out = [carried(rec, pr, BBC_PR, version, *extra)]
    for kind in CLOUD_REVIEW_KINDS:
        if isinstance(p.get(kind), dict):
            review = bb.cloud_review(repo_id, rec.number, kind, p[kind])
            out.append(Carried(review, ("author", "state", "submitted_at"), version))
            found.append(bb.cloud_person(p[kind].get("user")))
    if isinstance(p.get("comment"), dict) and p["comment"].get("deleted"):
        out.append(tombstone(bb.cloud_comment(repo_id, rec.number, p["comment"])))
    elif isinstance(p.get("comment"), dict):
        raw = p["comment"]
        comment = bb.cloud_comment(repo_id, rec.number, raw)
        fields = {**COMMENT, "body": "content", "created_at": "created_on"}
        fields["updated_at"] = "updated_on"
        cversion = version_of(comment.updated_at, comment.created_at)
        out.append(carried(comment, raw, fields, cversion, "kind", "path", "line"))
        found.append(bb.cloud_person(raw.get("user")))
    return [*out, *people(found, version)]


def bitbucket_cloud_closed(p: dict[str, Any]) -> list[Any]:
    """``pullrequest:fulfilled`` / ``rejected``: merged or declined now."""
    return bitbucket_cloud_pr(p, closing=True)


def bitbucket_cloud_withdrawn(p: dict[str, Any]) -> list[Any]:
    """``pullrequest:unapproved`` / ``changes_request_removed`` carry the approval or change
    request taken back: the pull request is updated, and a withdrawn approval is DISMISSED
    (an approval's row is its author's, whatever time the payload gives it)."""
    out = bitbucket_cloud_pr({k: v for k, v in p.items() if k not in CLOUD_REVIEW_KINDS})
    approval = p.get("approval")
    if isinstance(approval, dict) and isinstance(approval.get("user"), dict):
        repo_id, number = _bbc_repo(p), int(obj(p, "pullrequest")["id"])
        review = bb.cloud_review(repo_id, number, "approval", approval)
        review.state = "DISMISSED"
        version = version_of(ts(obj(p, "pullrequest").get("updated_on")))
        out.append(Carried(review, ("author", "state"), version))
    return out


def bitbucket_cloud_comment_deleted(p: dict[str, Any]) -> list[Any]:
    """``pullrequest:comment_deleted``: the comment is marked deleted whether or not its
    object says ``deleted: true`` (its emptied content never replaces the stored text)."""
    comment = p.get("comment")
    if not isinstance(comment, dict):
        raise KeyError("comment")
    return bitbucket_cloud_pr({**p, "comment": {**comment, "deleted": True}})


def bitbucket_cloud_push(p: dict[str, Any]) -> list[Any]:
    repo_id = _bbc_repo(p)
    items = []
    for change in obj(p, "push").get("changes") or []:
        for c in (change.get("commits") if isinstance(change, dict) else None) or []:
            if not isinstance(c, dict):
                raise TypeError("a pushed commit is not an object")
            pc = bb.cloud_commit(repo_id, 0, c)  # the collector's commit reader
            commit = pushed_commit(
                repo_id,
                pc.sha,
                pc.message,
                author_name=pc.author_name,
                author_email=pc.author_email,
                authored_at=pc.authored_at,
                author_login=pc.author_login,
            )
            items.append((c, commit))
    return push_commits(repo_id, items)


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    spec = repo_spec(bb.CLOUD, at(payload, "repository").get("full_name"))
    return Parsed(headers.get(hook.EVENT, ""), headers.get("x-request-uuid", ""), spec)


def web_url(payload: dict[str, Any]) -> str | None:
    url = at(at(at(payload, "repository"), "links"), "html").get("href")
    return url if isinstance(url, str) else None


WEBHOOKS = Webhooks(
    route=hook.ROUTE,
    verify=hook.verify,
    read=read,
    web_url=web_url,
    claims=hook.from_cloud,
    event_header=hook.EVENT,
    sync_events=("repo:push", "pullrequest:", "issue:"),
    mappers={
        "repo:push": bitbucket_cloud_push,
        "pullrequest:unapproved": bitbucket_cloud_withdrawn,
        "pullrequest:changes_request_removed": bitbucket_cloud_withdrawn,
        "pullrequest:comment_deleted": bitbucket_cloud_comment_deleted,
        "pullrequest:fulfilled": bitbucket_cloud_closed,
        "pullrequest:rejected": bitbucket_cloud_closed,
        "pullrequest:created": bitbucket_cloud_pr,
        "pullrequest:updated": bitbucket_cloud_pr,
        "pullrequest:approved": bitbucket_cloud_pr,
        "pullrequest:changes_request_created": bitbucket_cloud_pr,
        "pullrequest:comment_created": bitbucket_cloud_pr,
        "pullrequest:comment_updated": bitbucket_cloud_pr,
    },
)
