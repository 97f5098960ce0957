"""Gitea / Forgejo webhook deliveries: who sent them, what they are, what they carry.

A delivery is signed ``X-Gitea-Signature: <hex HMAC-SHA256(secret, raw body)>`` (no
``sha256=`` prefix); Forgejo sends the same value as ``X-Forgejo-Signature`` (and keeps the
Gitea names too). The event is ``X-Gitea-Event-Type`` / ``X-Forgejo-Event-Type`` (the fine
one: ``pull_request_review_approved``), else ``X-Gitea-Event``; the delivery id
``X-Gitea-Delivery`` / ``X-Forgejo-Delivery`` is a UUID kept across redeliveries (the dedupe
key). Every comparison is constant-time. The secret is ``FORGELENS_GITEA_WEBHOOK_SECRET``.

The payloads wrap the REST objects the collector reads (``_map.py``): ``pull_request`` (every
``pull_request*`` event), ``issue`` and ``comment``. A review event (``..._approved``,
``..._rejected``, ``..._comment``) carries ``review: {type, content}`` without the review's id:
the pull request is stored and the queued sync reads the review itself. Pushes carry GitHub's
commit shape (``hub_push``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from forgelens.records import repository_id
from forgelens.sources._release import release_event
from forgelens.sources.gitea import _map as m
from forgelens.sources.webhook import (
    Fields,
    Headers,
    Parsed,
    Secrets,
    WebhookMapper,
    Webhooks,
    at,
    carried,
    conversation,
    denied,
    hub_push,
    obj,
    people,
    repo_spec,
    tombstone,
    version_of,
)

SIGNATURES = ("x-forgejo-signature", "x-gitea-signature")
EVENT_TYPES = ("x-forgejo-event-type", "x-gitea-event-type", "x-forgejo-event", "x-gitea-event")
DELIVERIES = ("x-forgejo-delivery", "x-gitea-delivery")
# events after which the repository is synced (the payload alone lacks reviews, files ...)
SYNC_EVENTS = (
    "push",
    "pull_request",
    "pull_request_assign",
    "pull_request_label",
    "pull_request_milestone",
    "pull_request_comment",
    "pull_request_review_approved",
    "pull_request_review_rejected",
    "pull_request_review_comment",
    "pull_request_sync",
    "issues",
    "issue_assign",
    "issue_label",
    "issue_milestone",
    "issue_comment",
    "release",  # the payload names the tag, not its commit: the sync resolves it
)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Gitea-Signature`` (and ``X-Forgejo-Signature``) a server sends."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _first(headers: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str]:
    """(header name, value) of the first of ``names`` present (lower-case headers)."""
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return name, value
    return "", ""


ROUTE = "gitea"
SECRET = "FORGELENS_GITEA_WEBHOOK_SECRET"  # noqa: S105 (the setting's name)


def verify(headers: Headers, body: bytes, secrets: Secrets) -> None:
    """Raise ``AuthError`` unless the delivery is signed with the secret; the message names
    the header and the setting the webhook's secret must equal (never the secret)."""
    secret = secrets.get(SECRET)
    if not secret:
        raise denied(ROUTE, f"no webhook secret is configured: set {SECRET}")
    name, given = _first(headers, SIGNATURES)
    if not given:
        raise denied(
            ROUTE,
            "no X-Gitea-Signature or X-Forgejo-Signature header: give the webhook the secret "
            f"of {SECRET}",
        )
    if not hmac.compare_digest(given.lower().encode(), sign(secret, body).encode()):
        shown = "X-Forgejo-Signature" if name == SIGNATURES[0] else "X-Gitea-Signature"
        raise denied(
            ROUTE, f"{shown} does not match the body: the webhook's secret is not {SECRET}"
        )


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    spec = repo_spec(m.SOURCE, at(payload, "repository").get("full_name"))
    return Parsed(_first(headers, EVENT_TYPES)[1], _first(headers, DELIVERIES)[1], spec)


def web_url(payload: dict[str, Any]) -> str | None:
    url = at(payload, "repository").get("html_url")
    return url if isinstance(url, str) else None


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
    return repository_id(m.SOURCE, str(obj(p, "repository")["full_name"]))


def _pr(repo_id: str, raw: dict[str, Any]) -> list[Any]:
    rec = m.pull_request(repo_id, raw)
    version = version_of(rec.updated_at)
    found = m.pr_people(raw)
    return [carried(rec, raw, PR, version), *people(found, version)]


def pull_request(p: dict[str, Any]) -> list[Any]:
    return _pr(_repo(p), obj(p, "pull_request"))


def _issue(repo_id: str, raw: dict[str, Any], deleted: bool = False) -> list[Any]:
    rec = m.issue(repo_id, raw)
    if deleted:
        return [tombstone(rec)]
    version = version_of(rec.updated_at)
    return [carried(rec, raw, ISSUE, version), *people([m.person(raw.get("user"))], version)]


def issue(p: dict[str, Any]) -> list[Any]:
    return _issue(_repo(p), obj(p, "issue"), deleted=p.get("action") == "deleted")


def comment(p: dict[str, Any]) -> list[Any]:
    """``issue_comment`` and ``pull_request_comment``: a conversation comment (``is_pull``
    says which), with the issue or pull request it belongs to."""
    repo_id, raw, parent = _repo(p), obj(p, "comment"), obj(p, "issue")
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
    deleted = p.get("action") == "deleted"
    return conversation(head, rec, raw, m.person(raw.get("user")), deleted=deleted)


def push(p: dict[str, Any]) -> list[Any]:
    return hub_push(_repo(p), p)


def release(p: dict[str, Any]) -> list[Any]:
    """A published release as its deployment (``sources/_release.release_event``)."""
    return release_event(_repo(p), p, m.person)


MAPPERS: dict[str, WebhookMapper] = {
    **dict.fromkeys(PR_EVENTS, pull_request),
    **dict.fromkeys(ISSUE_EVENTS, issue),
    "issue_comment": comment,
    "pull_request_comment": comment,
    "push": push,
    "release": release,
}


WEBHOOKS = Webhooks(
    route=ROUTE,
    mappers=MAPPERS,
    verify=verify,
    read=read,
    web_url=web_url,
    event_header="x-gitea-event-type",
    secrets=(SECRET,),
    sync_events=SYNC_EVENTS,
)
