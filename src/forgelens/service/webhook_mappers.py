"""Webhook payloads -> what they carry, through the sources' own payload mappers.

Registered in ``WEBHOOK_MAPPERS`` on import (``service/app.py`` imports this module). Each mapper
reads one event's payload with the mapper the collector uses for the same object
(``_github_map``, ``_gitlab_map``, ``_bitbucket_map``) and returns ``Carried`` records: only the
columns the payload actually carries (a GitHub review event's "simple" pull request has no line
counts, a GitLab hook no ``merged_at``, a push commit no line stats), versioned by the payload's
own change time. Columns a payload lacks keep what a collection stored; the targeted sync the
route queues fills them in. A payload missing what identifies a record (number, id, timestamps)
raises, and the route answers 400 and records the delivery as ``malformed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from forgelens.records import Commit, CommitFile, Person, repository_id
from forgelens.service.webhooks import Carried, register_webhook_mapper
from forgelens.sources import _bitbucket_map as bb
from forgelens.sources import _github_map as gh
from forgelens.sources import _gitlab_map as gl
from forgelens.sources._forge_common import ms, ts
from forgelens.store._arrow import now_version

Fields = dict[str, str]  # record column -> payload key(s) that carry it ("a|b": either)

_GH_COMMON: Fields = {
    "title": "title",
    "state": "state",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "forge_id": "node_id",
    "body": "body",
    "author": "user",
    "closed_at": "closed_at",
    "labels": "labels",
    "url": "html_url",
}
GH_PR: Fields = {
    **_GH_COMMON,
    "draft": "draft",
    "merged_at": "merged_at",
    "base_ref": "base",
    "head_ref": "head",
    "additions": "additions",
    "deletions": "deletions",
    "changed_files": "changed_files",
    "merged_by": "merged_by",
    "commits": "commits",
}
GH_ISSUE: Fields = {**_GH_COMMON, "comments_count": "comments"}
GH_REVIEW: Fields = {
    "author": "user",
    "state": "state",
    "submitted_at": "submitted_at",
    "body": "body",
    "commit_sha": "commit_id",
}
COMMENT: Fields = {
    "author": "user|author",
    "body": "body",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
_GL_COMMON: Fields = {
    **{k: v for k, v in _GH_COMMON.items() if k not in ("closed_at", "url")},
    "forge_id": "id",
    "body": "description",
    "author": "author",
    "url": "url",
}
GL_MR: Fields = {
    **_GL_COMMON,
    "draft": "draft|work_in_progress",
    "base_ref": "target_branch",
    "head_ref": "source_branch",
}
GL_ISSUE: Fields = {**_GL_COMMON, "closed_at": "closed_at"}
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
PUSH_COLUMNS = (
    "author_name",
    "author_email",
    "authored_at",
    "committer_name",
    "committer_email",
    "message",
    "author_login",
)
CLOUD_REVIEW_KINDS = ("approval", "changes_request")
SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
PUSH_FILES = (("added", "added"), ("modified", "modified"), ("removed", "deleted"))


# -- helpers ----------------------------------------------------------------------------------
def _obj(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise KeyError(key)
    return value


def _version(*when: datetime | None) -> int:
    known = [w for w in when if w is not None]
    return int(max(known).timestamp() * 1000) if known else now_version()


def carried(record: Any, payload: dict[str, Any], fields: Fields, version: int, *extra: str) -> Any:
    """``record`` with the columns whose payload keys are present (plus ``extra``)."""
    cols = [c for c, keys in fields.items() if any(k in payload for k in keys.split("|"))]
    return Carried(record, (*cols, *extra), version)


def tombstone(record: Any) -> Carried:
    """``record`` (a comment) marked deleted now; nothing else of the stored row changes."""
    record.deleted_at = record.deleted_at or datetime.now(UTC)
    return Carried(record, ("deleted_at",), now_version())


def people(found: Iterable[Person | None], version: int, bot_known: bool = True) -> list[Carried]:
    """People the payload names, with the profile fields it carries. ``bot_known=False``: the
    payload's users carry no bot flag (GitLab hooks), so ``is_bot`` is written only when the
    login itself says so and a collected ``True`` is never overwritten."""
    out: dict[str, Carried] = {}
    for p in found:
        if p is None or p.login in out:
            continue
        cols = [c for c in ("name", "email", "forge_id", "avatar_url") if getattr(p, c)]
        bot = ("is_bot",) if bot_known or p.is_bot else ()
        out[p.login] = Carried(p, (*bot, *cols), version)
    return list(out.values())


def push_commits(
    repo_id: str,
    items: Iterable[tuple[dict[str, Any], Commit]],
) -> list[Any]:
    """Commits of a push with what they carry: author, time, message and the files listed
    as added/modified/removed; line stats and parents are left to a collection."""
    out: list[Any] = []
    for raw, commit in items:
        cols = [c for c in PUSH_COLUMNS if getattr(commit, c) is not None]
        files = [
            CommitFile(repo_id, commit.sha, str(path), None, None, change)
            for key, change in PUSH_FILES
            for path in raw.get(key) or []
        ]
        version = _version(commit.authored_at)
        if any(key in raw for key, _ in PUSH_FILES):
            commit.files_changed = len({f.path for f in files})
            cols.append("files_changed")
        out.append(Carried(commit, tuple(cols), version))
        out.extend(Carried(f, ("change_type",), version) for f in files)
    return out


def _commit(repo_id: str, sha: Any, message: Any, **kw: Any) -> Commit:
    if not isinstance(sha, str) or not sha:
        raise ValueError("a pushed commit without its id")
    if not SHA.match(sha):
        raise ValueError(f"a pushed commit id is not a commit SHA: {sha[:50]!r}")
    values: dict[str, Any] = {
        "author_name": None,
        "author_email": None,
        "authored_at": None,
        "committer_name": None,
        "committer_email": None,
        "committed_at": None,
        **kw,
    }
    return Commit(
        repository_id=repo_id,
        sha=sha,
        message=message if isinstance(message, str) else None,  # type: ignore[arg-type]
        additions=None,
        deletions=None,
        files_changed=0,
        is_merge=False,
        **values,
    )


# -- GitHub -----------------------------------------------------------------------------------
def _gh_repo(p: dict[str, Any]) -> str:
    return repository_id(gh.SOURCE, str(_obj(p, "repository")["full_name"]))


def _gh_pr(repo_id: str, pr: dict[str, Any]) -> list[Any]:
    rec = gh.pr_rest(repo_id, pr)
    version = _version(rec.updated_at)
    found = [gh.person(pr.get("user")), gh.person(pr.get("merged_by"))]
    return [carried(rec, pr, GH_PR, version), *people(found, version)]


def github_pull_request(p: dict[str, Any]) -> list[Any]:
    return _gh_pr(_gh_repo(p), _obj(p, "pull_request"))


def github_review(p: dict[str, Any]) -> list[Any]:
    repo_id, pr = _gh_repo(p), _obj(p, "pull_request")
    raw = dict(_obj(p, "review"))
    raw["state"] = str(raw.get("state") or "commented").upper()  # webhooks send lower case
    rec = gh.review(repo_id, int(pr["number"]), raw)
    version = _version(rec.submitted_at, gh.ts(pr.get("updated_at")))
    found = people([gh.person(raw.get("user"))], version)
    return [*_gh_pr(repo_id, pr), carried(rec, raw, GH_REVIEW, version), *found]


def github_review_comment(p: dict[str, Any]) -> list[Any]:
    repo_id, pr, raw = _gh_repo(p), _obj(p, "pull_request"), _obj(p, "comment")
    rec = gh.comment(repo_id, int(pr["number"]), raw, "review")
    if p.get("action") == "deleted":
        return [*_gh_pr(repo_id, pr), tombstone(rec)]
    version = _version(rec.updated_at, rec.created_at)
    cols = carried(rec, raw, {**COMMENT, "path": "path", "line": "line"}, version, "kind")
    return [*_gh_pr(repo_id, pr), cols, *people([gh.person(raw.get("user"))], version)]


def _gh_issue(repo_id: str, raw: dict[str, Any], deleted: bool = False) -> list[Any]:
    rec = gh.issue(repo_id, raw)
    version = _version(rec.updated_at)
    extra: tuple[str, ...] = ()
    if deleted:
        rec.deleted_at, extra, version = datetime.now(UTC), ("deleted_at",), now_version()
    found = people([gh.person(raw.get("user"))], version)
    return [carried(rec, raw, GH_ISSUE, version, *extra), *found]


def github_issue(p: dict[str, Any]) -> list[Any]:
    raw = _obj(p, "issue")
    if "pull_request" in raw:  # a pull request seen as an issue: its own events carry it
        return []
    return _gh_issue(_gh_repo(p), raw, deleted=p.get("action") == "deleted")


def github_issue_comment(p: dict[str, Any]) -> list[Any]:
    repo_id, issue, raw = _gh_repo(p), _obj(p, "issue"), _obj(p, "comment")
    number = int(issue["number"])
    on_pr = "pull_request" in issue
    head = [] if on_pr else _gh_issue(repo_id, issue)
    rec: Any = (
        gh.comment(repo_id, number, raw, "conversation")
        if on_pr
        else gh.issue_comment(repo_id, number, raw)
    )
    if p.get("action") == "deleted":
        return [*head, tombstone(rec)]
    version = _version(rec.updated_at, rec.created_at)
    extra = ("kind",) if on_pr else ()
    found = people([gh.person(raw.get("user"))], version)
    return [*head, carried(rec, raw, COMMENT, version, *extra), *found]


def github_push(p: dict[str, Any]) -> list[Any]:
    repo_id = _gh_repo(p)
    items = []
    for c in p.get("commits") or []:
        if not isinstance(c, dict):
            raise TypeError("a pushed commit is not an object")
        author, committer = c.get("author") or {}, c.get("committer") or {}
        commit = _commit(
            repo_id,
            c.get("id"),
            c.get("message"),
            author_name=author.get("name"),
            author_email=author.get("email"),
            authored_at=ts(c.get("timestamp")),
            committer_name=committer.get("name"),
            committer_email=committer.get("email"),
            author_login=author.get("username"),
        )
        items.append((c, commit))
    return push_commits(repo_id, items)


# A workflow run's webhook object is the REST object the collector reads: every column.
GH_RUN: Fields = {
    c: c for c in ("name", "status", "conclusion", "created_at", "updated_at", "head_sha", "event")
} | {"head_branch": "head_branch", "started_at": "run_started_at", "completed_at": "status"}
GH_RUN["url"] = "html_url"


def github_workflow_run(p: dict[str, Any]) -> list[Any]:
    """A GitHub Actions run (requested / in_progress / completed) as the ``ci_runs`` row a
    collection would write."""
    run = _obj(p, "workflow_run")
    rec = gh.ci_run(_gh_repo(p), run)
    return [carried(rec, run, GH_RUN, _version(rec.updated_at))]


# -- GitLab -----------------------------------------------------------------------------------
def _gl_repo(p: dict[str, Any]) -> str:
    return repository_id(gl.SOURCE, str(_obj(p, "project")["path_with_namespace"]))


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
    version = _version(rec.updated_at)
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
    version = _version(rec.updated_at)
    found = people([gl.person(raw.get("author"))], version, bot_known=False)
    return [carried(rec, raw, GL_ISSUE, version), *found]


def gitlab_merge_request(p: dict[str, Any]) -> list[Any]:
    attrs = _obj(p, "object_attributes")
    return _gl_mr(p, _gl_repo(p), attrs, attrs.get("action"))


def gitlab_issue(p: dict[str, Any]) -> list[Any]:
    return _gl_issue(p, _gl_repo(p), _obj(p, "object_attributes"))


def gitlab_note(p: dict[str, Any]) -> list[Any]:
    repo_id, attrs = _gl_repo(p), _gl_times(_obj(p, "object_attributes"))
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
        mr = _obj(p, "merge_request")
        head, number = _gl_mr(p, repo_id, mr), int(mr["iid"])
        if attrs.get("system"):
            state = gl.review_state(note)
            if state is None:
                return head
            review = gl.review(repo_id, number, note, state)
            version = _version(review.submitted_at)
            cols = ("author", "state", "submitted_at")
            return [*head, Carried(review, cols, version), *_reversion(found, version)]
        rec: Any = gl.comment(repo_id, number, note)
        extra: tuple[str, ...] = ("kind", "path", "line")
    elif kind == "Issue":
        issue = _obj(p, "issue")
        head, number = _gl_issue(p, repo_id, issue), int(issue["iid"])
        if attrs.get("system"):
            return head
        rec, extra = gl.issue_comment(repo_id, number, note), ()
    else:  # commit and snippet notes: nothing we keep
        return []
    version = _version(rec.updated_at, rec.created_at)
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
        commit = _commit(
            repo_id,
            c.get("id"),
            c.get("message"),
            author_name=author.get("name"),
            author_email=author.get("email"),
            authored_at=ts(c.get("timestamp")),
        )
        items.append((c, commit))
    return push_commits(repo_id, items)


# -- Bitbucket Server (pr:*) and Cloud (pullrequest:*, repo:push) -----------------------------
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
    attrs = _obj(p, "object_attributes")
    rec = gl.pipeline(_gl_repo(p), {**_gl_times(attrs), "web_url": attrs.get("url")})
    status = str(attrs.get("status") or "")
    step = _GL_PIPELINE_ORDER.index(status) if status in _GL_PIPELINE_ORDER else 5
    version = _version(rec.completed_at) if rec.completed_at else _version(rec.created_at) + step
    return [carried(rec, attrs, GL_PIPELINE, version)]


def _bbs_pr(p: dict[str, Any], deleted: bool) -> tuple[str, int, list[Any]]:
    pr = _obj(p, "pullRequest")
    repo = _obj(_obj(pr, "toRef"), "repository")
    full = f"{_obj(repo, 'project')['key']}/{repo['slug']}"
    repo_id = repository_id(bb.SERVER, full)
    rec = bb.server_pr(repo_id, pr)
    version = _version(ms(pr.get("updatedDate")))
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
        raw = _obj(p, "comment")
        rec = bb.server_comment(repo_id, number, {"comment": raw})
        version = _version(rec.updated_at, rec.created_at)
        fields = {**COMMENT, "body": "text", "created_at": "createdDate"}
        fields["updated_at"] = "updatedDate"
        out += [carried(rec, raw, fields, version)]
        out += people([bb.server_person(raw.get("author"))], version)
    elif event == "pr:comment:deleted":
        out.append(tombstone(bb.server_comment(repo_id, number, {"comment": _obj(p, "comment")})))
    return out


def _bbc_repo(p: dict[str, Any]) -> str:
    return repository_id(bb.CLOUD, str(_obj(p, "repository")["full_name"]))


def bitbucket_cloud_pr(p: dict[str, Any], closing: bool = False) -> list[Any]:
    """A ``pullrequest:*`` delivery. ``closing``: the event is the merge or decline itself
    (``fulfilled`` / ``rejected``), so the pull request's ``updated_on`` is when it closed;
    an open pull request has neither time."""
    repo_id, pr = _bbc_repo(p), _obj(p, "pullrequest")
    rec = bb.cloud_pr(repo_id, pr)
    version = _version(rec.updated_at)
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
        cversion = _version(comment.updated_at, comment.created_at)
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
        repo_id, number = _bbc_repo(p), int(_obj(p, "pullrequest")["id"])
        review = bb.cloud_review(repo_id, number, "approval", approval)
        review.state = "DISMISSED"
        version = _version(ts(_obj(p, "pullrequest").get("updated_on")))
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
    for change in _obj(p, "push").get("changes") or []:
        for c in (change.get("commits") if isinstance(change, dict) else None) or []:
            if not isinstance(c, dict):
                raise TypeError("a pushed commit is not an object")
            pc = bb.cloud_commit(repo_id, 0, c)  # the collector's commit reader
            commit = _commit(
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


MAPPERS: dict[tuple[str, str], Callable[[dict[str, Any]], list[Any]]] = {
    ("github", "pull_request"): github_pull_request,
    ("github", "pull_request_review"): github_review,
    ("github", "pull_request_review_comment"): github_review_comment,
    ("github", "issues"): github_issue,
    ("github", "issue_comment"): github_issue_comment,
    ("github", "push"): github_push,
    ("github", "workflow_run"): github_workflow_run,
    ("gitlab", "Merge Request Hook"): gitlab_merge_request,
    ("gitlab", "Note Hook"): gitlab_note,
    ("gitlab", "Issue Hook"): gitlab_issue,
    ("gitlab", "Confidential Issue Hook"): gitlab_issue,
    ("gitlab", "Confidential Note Hook"): gitlab_note,
    ("gitlab", "Push Hook"): gitlab_push,
    ("gitlab", "Pipeline Hook"): gitlab_pipeline,
    ("bitbucket", "repo:push"): bitbucket_cloud_push,
    ("bitbucket", "pullrequest:unapproved"): bitbucket_cloud_withdrawn,
    ("bitbucket", "pullrequest:changes_request_removed"): bitbucket_cloud_withdrawn,
    ("bitbucket", "pullrequest:comment_deleted"): bitbucket_cloud_comment_deleted,
    ("bitbucket", "pullrequest:fulfilled"): bitbucket_cloud_closed,
    ("bitbucket", "pullrequest:rejected"): bitbucket_cloud_closed,
    **{
        ("bitbucket", f"pr:{e}"): bitbucket_server_pr
        for e in (
            "opened",
            "modified",
            "from_ref_updated",
            "to_ref_updated",
            "reviewer:updated",
            "reviewer:approved",
            "reviewer:unapproved",
            "reviewer:needs_work",
            "reviewer:changes_requested",
            "merged",
            "declined",
            "deleted",
            "comment:added",
            "comment:edited",
            "comment:deleted",
        )
    },
    **{
        ("bitbucket", f"pullrequest:{e}"): bitbucket_cloud_pr
        for e in (
            "created",
            "updated",
            "approved",
            "changes_request_created",
            "comment_created",
            "comment_updated",
        )
    },
}

for (_forge, _event), _mapper in MAPPERS.items():
    register_webhook_mapper(_forge, _event, _mapper)
