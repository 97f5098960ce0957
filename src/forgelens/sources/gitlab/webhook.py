"""GitLab webhooks: ``X-Gitlab-Token`` (the secret itself, ``FORGELENS_GITLAB_WEBHOOK_TOKEN``),
optionally signed (Standard Webhooks: ``webhook-signature: v1,<base64 HMAC-SHA256(key,
"{webhook-id}.{webhook-timestamp}.{body}")>`` with ``FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY``, a
``whsec_`` key is base64); event ``X-Gitlab-Event`` (System Hook and Test Hook deliveries are
read as the hook their payload's ``object_kind`` names); delivery ``Idempotency-Key`` (17.4+),
else ``X-Gitlab-Event-UUID`` with the body's digest. Payloads -> records through the collector's
own mappers (``_map.py``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from forgelens.errors import BadInput
from forgelens.records import Deployment, repository_id
from forgelens.sources._forge_common import ts
from forgelens.sources.gitlab import _deploy as deploy
from forgelens.sources.gitlab import _map as gl
from forgelens.sources.webhook import (
    COMMENT,
    Carried,
    Fields,
    Headers,
    Parsed,
    Secrets,
    Webhooks,
    at,
    carried,
    denied,
    obj,
    people,
    push_commits,
    pushed_commit,
    repo_spec,
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


GL_ISSUE: Fields = {**_GL_COMMON, "closed_at": "closed_at", "issue_type": "issue_type|type"}


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


# A Deployment Hook's statuses in the order one deployment goes through them.
_GL_DEPLOY_ORDER = ("created", "blocked", "running")


def gitlab_deployment(p: dict[str, Any]) -> list[Any]:
    """A Deployment Hook (``object_kind: deployment``: a deployment started, succeeded, failed
    or was canceled) as its ``deployments`` row: environment (kind from ``environment_tier``,
    else the name), status, the full sha (from ``commit_url``; the hook has only ``short_sha``
    otherwise), ref, who, the deploy job's page; ``finished_at`` when the status ends it,
    ``created_at`` when it starts it. Versioned by ``status_changed_at`` (plus how far along
    the status is), so an older hook delivered late never overwrites a newer status. The sync
    the service queues after it fills in what the hook lacks (created_at of a deployment first
    seen finished)."""
    repo_id = _gl_repo(p)
    dep_id, env, raw = p.get("deployment_id"), p.get("environment"), p.get("status")
    when = deploy.hook_time(p.get("status_changed_at"))
    if not isinstance(dep_id, int) or not isinstance(env, str) or not env or when is None:
        raise ValueError("deployment hook without deployment_id, environment or status_changed_at")
    status = deploy.status_of(raw)
    sha = deploy.hook_sha(p)
    rec = Deployment(
        repository_id=repo_id,
        deployment_id=f"{gl.SOURCE}:{dep_id}",
        environment=env,
        environment_kind=deploy.kind_of(env, p.get("environment_tier")),
        sha=sha or "",
        status=status,
        created_at=when,
        source=gl.SOURCE,
        ref=p.get("ref") if isinstance(p.get("ref"), str) else None,
        finished_at=when if raw in deploy.TERMINAL else None,
        creator=gl.login(p.get("user")),
        url=p.get("deployable_url") if isinstance(p.get("deployable_url"), str) else None,
    )
    cols = ["environment", "environment_kind", "status", "source", "finished_at"]
    cols += [c for c, v in (("sha", sha), ("ref", rec.ref), ("url", rec.url)) if v]
    cols += ["creator"] if rec.creator else []
    cols += ["created_at"] if raw in ("created", "running") else []
    step = _GL_DEPLOY_ORDER.index(raw) if raw in _GL_DEPLOY_ORDER else len(_GL_DEPLOY_ORDER)
    version = version_of(when) + step
    found = people([gl.person(p.get("user"))], version, bot_known=False)
    return [Carried(rec, tuple(cols), version), *found]


TOKEN = "FORGELENS_GITLAB_WEBHOOK_TOKEN"  # noqa: S105 (the setting's name)
SIGNING_KEY = "FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY"
# A GitLab System Hook (and a hook's "Test" delivery) names no event in its header: the payload's
# object_kind (event_name on system-only events) says which hook's payload it is.
KINDS = {
    "push": "Push Hook",
    "repository_update": "Push Hook",
    "tag_push": "Tag Push Hook",
    "merge_request": "Merge Request Hook",
    "note": "Note Hook",
    "issue": "Issue Hook",
    "pipeline": "Pipeline Hook",
    "deployment": "Deployment Hook",
}


def _signing_key(key: str) -> bytes:
    if key.startswith("whsec_"):
        try:
            return base64.b64decode(key[len("whsec_") :])
        except binascii.Error as exc:
            raise BadInput(f"{SIGNING_KEY} is not valid base64") from exc
    return key.encode()


def sign(key: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` header value GitLab sends for a signed webhook."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_signing_key(key), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(headers: Headers, body: bytes, secrets: Secrets) -> None:
    token = secrets.get(TOKEN)
    if not token:
        raise denied("gitlab", f"no webhook token is configured: set {TOKEN}")
    if not hmac.compare_digest(headers.get("x-gitlab-token", "").encode(), token.encode()):
        raise denied("gitlab", f"X-Gitlab-Token does not match {TOKEN}")
    key = secrets.get(SIGNING_KEY)
    if key:
        want = sign(key, headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), body)
        given_all = headers.get("webhook-signature", "").split()
        if not any(hmac.compare_digest(g.encode(), want.encode()) for g in given_all):
            raise denied(
                "gitlab",
                "webhook-signature does not match the body: the webhook's signing token "
                f"is not {SIGNING_KEY}",
            )


def _event_id(headers: Headers, body: bytes) -> str:
    """A delivery id for GitLab before 17.4 (no ``Idempotency-Key``): ``X-Gitlab-Event-UUID`` is
    shared by every hook fired from one webhook-triggered request (a bot relabelling a merge
    request on "open"), so the body's digest tells those apart; a resend is the same body."""
    digest = hashlib.sha256(body).hexdigest()[:16]
    uuid = headers.get("x-gitlab-event-uuid", "")
    return f"{uuid}:{digest}" if uuid else f"sha256:{digest}"


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    event = headers.get("x-gitlab-event", "")
    if event in ("System Hook", "Test Hook"):
        kind = payload.get("object_kind") or payload.get("event_name")
        event = KINDS.get(kind, event) if isinstance(kind, str) else event
    delivery = headers.get("idempotency-key") or _event_id(headers, body)
    spec = repo_spec("gitlab", at(payload, "project").get("path_with_namespace"))
    return Parsed(event, delivery, spec)


def web_url(payload: dict[str, Any]) -> str | None:
    url = at(payload, "project").get("web_url")
    return url if isinstance(url, str) else None


WEBHOOKS = Webhooks(
    route="gitlab",
    verify=verify,
    read=read,
    web_url=web_url,
    event_header="x-gitlab-event",
    secrets=(TOKEN, SIGNING_KEY),
    # GitLab disables a webhook after 4 failed deliveries in a row, 4xx included: a payload it
    # cannot store is answered 202 "malformed" (recorded, with the reason) rather than 400, so
    # one unreadable event kind does not stop every merge request and push after it.
    accept_malformed=True,
    sync_events=(
        "Push Hook",
        "Tag Push Hook",
        "Merge Request Hook",
        "Note Hook",
        "Issue Hook",
        "Confidential Note Hook",
        "Confidential Issue Hook",
        "Deployment Hook",  # fills in what the hook lacks (a full sha, created_at)
    ),
    mappers={
        "Merge Request Hook": gitlab_merge_request,
        "Note Hook": gitlab_note,
        "Issue Hook": gitlab_issue,
        "Confidential Issue Hook": gitlab_issue,
        "Confidential Note Hook": gitlab_note,
        "Push Hook": gitlab_push,
        "Pipeline Hook": gitlab_pipeline,
        "Deployment Hook": gitlab_deployment,
    },
)
