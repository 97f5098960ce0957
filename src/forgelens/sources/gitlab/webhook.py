"""GitLab webhook payloads (hooks) -> records, through the collector's own mappers (_map.py)."""

from __future__ import annotations

from typing import Any

from forgelens.records import repository_id
from forgelens.sources._forge_common import ts
from forgelens.sources.gitlab import _map as gl
from forgelens.sources.webhook import (
    COMMENT,
    Carried,
    Fields,
    Webhooks,
    carried,
    obj,
    people,
    push_commits,
    pushed_commit,
    version_of,
)

_GL_COMMON: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "forge_id": "id",
    "body": "description",
    "author": "author",
    "labels": "labels",
    "url": "url",
}


GL_MR: Fields = {
    **_GL_COMMON,
    "draft": "draft|work_in_progress",
    "base_ref": "target_branch",
    "head_ref": "source_branch",
}


GL_ISSUE: Fields = {**_GL_COMMON, "closed_at": "closed_at"}


def _gl_repo(p: dict[str, Any]) -> str:
    return repository_id(gl.SOURCE, str(obj(p, "project")["path_with_namespace"]))


def _gl_time(value: Any) -> Any:
    """Hooks write some times as ``2015-05-17 18:21:36 UTC``; the REST shape is ISO 8601."""
    if isinstance(value, str) and value.endswith(" UTC"):
        return value[: -len(" UTC")].replace(" ", "T") + "Z"
    return value


def _gl_times(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _gl_time(v) if k.endswith("_at") else v for k, v in attrs.items()}


def _gl_shape(p: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """A hook's object in the REST shape the mapper reads: label titles, ``web_url``, ISO times,
    and the author when the acting user is the author (hooks carry only ``author_id``)."""
    raw = {**_gl_times(attrs), "web_url": attrs.get("url")}
    if isinstance(attrs.get("labels"), list):
        raw["labels"] = [lb.get("title") for lb in attrs["labels"] if isinstance(lb, dict)]
    user = p.get("user")
    author_id = attrs.get("author_id")
    if isinstance(user, dict) and author_id is not None and user.get("id") == author_id:
        raw["author"] = user
    return raw


def _gl_mr(p: dict[str, Any], repo_id: str, attrs: dict[str, Any], action: Any = None) -> list[Any]:
    """A merge request of a hook. Hooks carry no ``merged_at`` / ``closed_at``: a ``merge`` or
    ``close`` action happened at the hook's ``updated_at``; an open one has neither time."""
    raw = _gl_shape(p, attrs)
    rec = gl.merge_request(repo_id, raw)
    version = version_of(rec.updated_at)
    extra: tuple[str, ...] = ()
    closing = (action, rec.state) in (("merge", "merged"), ("close", "closed"))
    if rec.state == "open" or closing:
        rec.closed_at = None if rec.state == "open" else rec.updated_at
        rec.merged_at = rec.updated_at if rec.state == "merged" else None
        extra = ("closed_at", "merged_at")
    found = people([gl.person(raw.get("author"))], version, bot_known=False)
    return [carried(rec, raw, GL_MR, version, *extra), *found]


def _gl_issue(p: dict[str, Any], repo_id: str, attrs: dict[str, Any]) -> list[Any]:
    raw = _gl_shape(p, attrs)
    rec = gl.issue(repo_id, raw)
    version = version_of(rec.updated_at)
    found = people([gl.person(raw.get("author"))], version, bot_known=False)
    return [carried(rec, raw, GL_ISSUE, version), *found]


def gitlab_merge_request(p: dict[str, Any]) -> list[Any]:
    attrs = obj(p, "object_attributes")
    return _gl_mr(p, _gl_repo(p), attrs, attrs.get("action"))


def gitlab_issue(p: dict[str, Any]) -> list[Any]:
    return _gl_issue(p, _gl_repo(p), obj(p, "object_attributes"))


def gitlab_note(p: dict[str, Any]) -> list[Any]:
    repo_id, attrs = _gl_repo(p), _gl_times(obj(p, "object_attributes"))
    note = {
        "id": attrs["id"],
        "body": attrs.get("note"),
        "author": p.get("user"),
        "created_at": attrs.get("created_at"),
        "updated_at": attrs.get("updated_at"),
        "position": attrs.get("position"),
    }
    kind = attrs.get("noteable_type")
    found = people([gl.person(p.get("user"))], 0, bot_known=False)
    if kind == "MergeRequest":
        mr = obj(p, "merge_request")
        head, number = _gl_mr(p, repo_id, mr), int(mr["iid"])
        if attrs.get("system"):
            state = gl.review_state(note)
            if state is None:
                return head
            review = gl.review(repo_id, number, note, state)
            version = version_of(review.submitted_at)
            cols = ("author", "state", "submitted_at")
            return [*head, Carried(review, cols, version), *_reversion(found, version)]
        rec: Any = gl.comment(repo_id, number, note)
        extra: tuple[str, ...] = ("kind", "path", "line")
    elif kind == "Issue":
        issue = obj(p, "issue")
        head, number = _gl_issue(p, repo_id, issue), int(issue["iid"])
        if attrs.get("system"):
            return head
        rec, extra = gl.issue_comment(repo_id, number, note), ()
    else:  # commit and snippet notes: nothing we keep
        return []
    version = version_of(rec.updated_at, rec.created_at)
    return [*head, carried(rec, note, COMMENT, version, *extra), *_reversion(found, version)]


def _reversion(items: list[Carried], version: int) -> list[Carried]:
    return [Carried(i.record, i.columns, version) for i in items]


def gitlab_push(p: dict[str, Any]) -> list[Any]:
    repo_id = _gl_repo(p)
    items = []
    for c in p.get("commits") or []:
        if not isinstance(c, dict):
            raise TypeError("a pushed commit is not an object")
        author = c.get("author") or {}
        commit = pushed_commit(
            repo_id,
            c.get("id"),
            c.get("message"),
            author_name=author.get("name"),
            author_email=author.get("email"),
            authored_at=ts(c.get("timestamp")),
        )
        items.append((c, commit))
    return push_commits(repo_id, items)


# What a Pipeline Hook's ``object_attributes`` carry of a ``ci_runs`` row (no updated_at).
GL_PIPELINE: Fields = {
    "name": "name",
    "status": "status",
    "conclusion": "status",
    "created_at": "created_at",
    "head_sha": "sha",
    "head_branch": "ref",
    "event": "source",
    "completed_at": "status",
    "url": "url",
}


# Hooks of one pipeline follow its status; without an update time, the later status wins.
_GL_PIPELINE_ORDER = ("created", "waiting_for_resource", "preparing", "pending", "running")


def gitlab_pipeline(p: dict[str, Any]) -> list[Any]:
    """A GitLab pipeline's status change as its ``ci_runs`` row, versioned by its finish time,
    or (still running) its creation time plus how far along its status is."""
    attrs = obj(p, "object_attributes")
    rec = gl.pipeline(_gl_repo(p), {**_gl_times(attrs), "web_url": attrs.get("url")})
    status = str(attrs.get("status") or "")
    step = _GL_PIPELINE_ORDER.index(status) if status in _GL_PIPELINE_ORDER else 5
    version = (
        version_of(rec.completed_at) if rec.completed_at else version_of(rec.created_at) + step
    )
    return [carried(rec, attrs, GL_PIPELINE, version)]


WEBHOOKS = Webhooks(
    route="gitlab",
    mappers={
        "Merge Request Hook": gitlab_merge_request,
        "Note Hook": gitlab_note,
        "Issue Hook": gitlab_issue,
        "Confidential Issue Hook": gitlab_issue,
        "Confidential Note Hook": gitlab_note,
        "Push Hook": gitlab_push,
        "Pipeline Hook": gitlab_pipeline,
    },
)
