"""Gerrit webhook deliveries (the ``webhooks`` plugin): who sent them, which event, which id,
and what their payloads carry.

The plugin posts each event's stream-events JSON and nothing else: no signature, no event
header, no delivery id. The shared secret (``FORGELENS_GERRIT_WEBHOOK_SECRET``) comes as the
``token`` query parameter of the URL the plugin is given, or as ``Authorization: Bearer`` from a
proxy in front of forgelens; the event is the payload's ``type``; a retry posts the same body, so
the body's digest is the delivery id (``sha256:<hex>``).

Events name people by name, email and username but not by account id, the key the collector
gives them (``_map``): so a payload writes the change's own columns (title, state, branch, topic,
times) and a new patch set's commit, never a person column, and the sync the service queues
reads votes, messages and people. Times are epoch seconds (``eventCreatedOn``, ``createdOn``);
a record's version is the event's own time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from forgelens.records import PrCommit, PullRequest
from forgelens.sources.gerrit import _map as gm
from forgelens.sources.webhook import (
    QUERY_TOKEN,
    Carried,
    Headers,
    Parsed,
    Secrets,
    Webhooks,
    at,
    denied,
    obj,
    repo_spec,
    version_of,
)

ROUTE = "gerrit"
SECRET = "FORGELENS_GERRIT_WEBHOOK_SECRET"  # noqa: S105 (the setting's name)
EVENTS = ("patchset-created", "change-merged", "comment-added", "change-abandoned")
# a comment-added names no message id (its votes and comments are read by the queued sync)
SYNC_EVENTS = (*EVENTS, "change-restored", "wip-state-changed", "topic-changed", "vote-deleted")


def _given(headers: Mapping[str, str]) -> str:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get(QUERY_TOKEN, "")


def verify(headers: Headers, body: bytes, secrets: Secrets) -> None:
    """Raise ``AuthError`` unless the delivery carries the configured secret (constant time);
    the message names the setting, never the secret."""
    secret = secrets.get(SECRET)
    if not secret:
        raise denied(ROUTE, f"no webhook secret is configured: set {SECRET}")
    given = _given(headers)
    if not given:
        raise denied(
            ROUTE,
            "no token: give the webhooks plugin the URL "
            f".../api/v1/webhooks/gerrit?token=<the value of {SECRET}>",
        )
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise denied(ROUTE, f"the token is not {SECRET}")


def event(payload: Mapping[str, Any]) -> str:
    kind = payload.get("type")
    return kind if isinstance(kind, str) else ""


def delivery(body: bytes) -> str:
    """The id of a delivery: the digest of its body (the plugin's retries resend it as is)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def project(payload: Mapping[str, Any]) -> str | None:
    """The project a delivery names: its change's, else the event's (a name or ``{name}``)."""
    change = payload.get("change")
    found = change.get("project") if isinstance(change, dict) else None
    if found is None:
        top = payload.get("project")
        found = top.get("name") if isinstance(top, dict) else top
    return found if isinstance(found, str) and found else None


def _whole(value: Any) -> int | None:
    """A number of an event (epoch seconds, a patch set's number): an integer, or its digits
    as text (older servers' stream-events)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None if isinstance(value, bool) or not isinstance(value, int) else value


def _epoch(value: Any) -> datetime | None:
    seconds = _whole(value)
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _change(p: dict[str, Any]) -> tuple[str, int, list[Any]]:
    c = obj(p, "change")
    name = project(p)
    if name is None:
        raise KeyError("change.project")
    repo_id = f"{gm.SOURCE}:{name}"
    number = int(str(c["number"]))
    when = _epoch(p.get("eventCreatedOn"))
    if when is None:
        raise ValueError("missing eventCreatedOn")
    created = _epoch(c.get("createdOn"))
    if created is None:  # servers before 3.x: the sync fills the change in
        return repo_id, number, []
    kind = p.get("type")
    state = gm.STATES.get(str(c.get("status")), "open")
    if kind == "change-merged":
        state = "merged"
    elif kind == "change-abandoned":
        state = "closed"
    pr = PullRequest(
        repository_id=repo_id,
        number=number,
        title=str(c.get("subject") or ""),
        state=state,
        created_at=created,
        updated_at=_epoch(c.get("lastUpdated")) or when,
        base_ref=c.get("branch") or None,
        head_ref=c.get("topic") or None,
        url=c.get("url") or None,
        draft=bool(c.get("wip")),
        labels=[str(h) for h in c.get("hashtags") or []],
    )
    columns = ["title", "state", "created_at", "updated_at", "base_ref", "url", "draft"]
    columns += [k for k, src in (("head_ref", "topic"), ("labels", "hashtags")) if src in c]
    if kind in ("change-merged", "change-abandoned"):
        pr.closed_at = when
        columns.append("closed_at")
    if kind == "change-merged":
        pr.merged_at = when
        columns.append("merged_at")
    return repo_id, number, [Carried(pr, tuple(columns), version_of(when))]


def change_event(p: dict[str, Any]) -> list[Any]:
    """change-merged, change-abandoned, comment-added, ...: the change's own columns."""
    return _change(p)[2]


def patchset_created(p: dict[str, Any]) -> list[Any]:
    """A new patch set: the change, and the patch set's commit (sha, its number, author's
    name and email)."""
    repo_id, number, items = _change(p)
    ps = obj(p, "patchSet")
    found = ps.get("author")
    author: dict[str, Any] = found if isinstance(found, dict) else {}
    commit = PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(ps["revision"]),
        author_name=author.get("name"),
        author_email=author.get("email"),
        patch_set=_whole(ps.get("number")),
    )
    when = _epoch(p.get("eventCreatedOn"))
    carried = ("author_name", "author_email", "patch_set")
    items.append(Carried(commit, carried, version_of(when)))
    return items


def read(headers: Headers, body: bytes, payload: dict[str, Any]) -> Parsed:
    spec = repo_spec(gm.SOURCE, project(payload), one_segment=True)
    return Parsed(event(payload), delivery(body), spec)


def web_url(payload: dict[str, Any]) -> str | None:
    """The change's web URL: ``https://host[/context]/c/project/+/123``."""
    url = at(payload, "change").get("url")
    return url if isinstance(url, str) else None


WEBHOOKS = Webhooks(
    route=ROUTE,
    verify=verify,
    read=read,
    web_url=web_url,
    event_header="",  # the event is the payload's type
    secrets=(SECRET,),
    sync_events=SYNC_EVENTS,
    query_token="token",  # noqa: S106 (the query parameter's name)
    mappers={
        "patchset-created": patchset_created,
        "change-merged": change_event,
        "change-abandoned": change_event,
        "comment-added": change_event,
        "change-restored": change_event,
    },
)
