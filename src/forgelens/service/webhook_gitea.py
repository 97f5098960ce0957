"""Gitea / Forgejo webhook payloads -> what they carry, through the source's own mappers
(``sources/gitea/_map.py``), registered in ``WEBHOOK_MAPPERS`` on import.

Gitea's payloads wrap the REST objects the collector reads: ``pull_request`` (every
``pull_request*`` event), ``issue`` and ``comment``. A review event (``..._approved``,
``..._rejected``, ``..._comment``) carries ``review: {type, content}`` without the review's id:
the pull request is stored and the queued sync reads the review itself. Pushes carry GitHub's
commit shape (``hub_push``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forgelens.records import repository_id
from forgelens.service.webhook_mappers import (
    COMMENT,
    Fields,
    _obj,
    _version,
    carried,
    hub_push,
    people,
    tombstone,
)
from forgelens.service.webhooks import register_webhook_mapper
from forgelens.sources.gitea import _map as m

_COMMON: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "forge_id": "id",
    "body": "body",
    "author": "user",
    "closed_at": "closed_at",
    "labels": "labels",
    "url": "html_url",
}
PR: Fields = {
    **_COMMON,
    "draft": "draft",
    "merged_at": "merged_at",
    "base_ref": "base",
    "head_ref": "head",
    "additions": "additions",
    "deletions": "deletions",
    "changed_files": "changed_files",
    "merged_by": "merged_by",
}
ISSUE: Fields = {**_COMMON, "comments_count": "comments"}
PR_EVENTS = (
    "pull_request",
    "pull_request_assign",
    "pull_request_label",
    "pull_request_milestone",
    "pull_request_sync",
    "pull_request_review_request",
    "pull_request_review_approved",
    "pull_request_review_rejected",
    "pull_request_review_comment",
)
ISSUE_EVENTS = ("issues", "issue_assign", "issue_label", "issue_milestone")


def _repo(p: dict[str, Any]) -> str:
    return repository_id(m.SOURCE, str(_obj(p, "repository")["full_name"]))


def _pr(repo_id: str, raw: dict[str, Any]) -> list[Any]:
    rec = m.pull_request(repo_id, raw)
    version = _version(rec.updated_at)
    found = [m.person(raw.get("user")), m.person(raw.get("merged_by"))]
    return [carried(rec, raw, PR, version), *people(found, version)]


def pull_request(p: dict[str, Any]) -> list[Any]:
    return _pr(_repo(p), _obj(p, "pull_request"))


def _issue(repo_id: str, raw: dict[str, Any], deleted: bool = False) -> list[Any]:
    rec = m.issue(repo_id, raw)
    if deleted:
        return [tombstone(rec)]
    version = _version(rec.updated_at)
    return [carried(rec, raw, ISSUE, version), *people([m.person(raw.get("user"))], version)]


def issue(p: dict[str, Any]) -> list[Any]:
    return _issue(_repo(p), _obj(p, "issue"), deleted=p.get("action") == "deleted")


def comment(p: dict[str, Any]) -> list[Any]:
    """``issue_comment`` and ``pull_request_comment``: a conversation comment (``is_pull``
    says which), with the issue or pull request it belongs to."""
    repo_id, raw, parent = _repo(p), _obj(p, "comment"), _obj(p, "issue")
    number = int(parent["number"])
    on_pr = bool(p.get("is_pull")) or isinstance(parent.get("pull_request"), dict)
    head = (
        _pr(repo_id, p["pull_request"]) if on_pr and isinstance(p.get("pull_request"), dict) else []
    )
    if not on_pr:
        head = _issue(repo_id, parent)
    rec: Any = (
        m.comment(repo_id, number, raw, "conversation")
        if on_pr
        else m.issue_comment(repo_id, number, raw)
    )
    if p.get("action") == "deleted":
        return [*head, tombstone(rec)]
    version = _version(rec.updated_at, rec.created_at)
    extra = ("kind",) if on_pr else ()
    found = people([m.person(raw.get("user"))], version)
    return [*head, carried(rec, raw, COMMENT, version, *extra), *found]


def push(p: dict[str, Any]) -> list[Any]:
    return hub_push(_repo(p), p)


MAPPERS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    **dict.fromkeys(PR_EVENTS, pull_request),
    **dict.fromkeys(ISSUE_EVENTS, issue),
    "issue_comment": comment,
    "pull_request_comment": comment,
    "push": push,
}

for _event, _mapper in MAPPERS.items():
    register_webhook_mapper(m.SOURCE, _event, _mapper)
