"""Gerrit webhook payloads -> what they carry (registered in ``WEBHOOK_MAPPERS`` on import).

Events name people by name, email and username but not by account id, the key the collector
gives them (``sources/gerrit/_map``): so a payload writes the change's own columns (title,
state, branch, topic, times) and a new patch set's commit, never a person column, and the sync
the route queues reads votes, messages and people. Times are epoch seconds
(``eventCreatedOn``, ``createdOn``), versions the event's own time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forgelens.records import PrCommit, PullRequest
from forgelens.service.webhooks import Carried, register_webhook_mapper
from forgelens.sources.gerrit import _map as gm
from forgelens.sources.gerrit import webhooks as hooks


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return datetime.fromtimestamp(value, UTC)


def _obj(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise KeyError(key)
    return value


def _change(p: dict[str, Any]) -> tuple[str, int, list[Any]]:
    c = _obj(p, "change")
    name = hooks.project(p)
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
    version = int(when.timestamp() * 1000)
    return repo_id, number, [Carried(pr, tuple(columns), version)]


def change_event(p: dict[str, Any]) -> list[Any]:
    """change-merged, change-abandoned, comment-added, ...: the change's own columns."""
    return _change(p)[2]


def patchset_created(p: dict[str, Any]) -> list[Any]:
    """A new patch set: the change, and the patch set's commit (sha, author's name, email)."""
    repo_id, number, items = _change(p)
    ps = _obj(p, "patchSet")
    found = ps.get("author")
    author: dict[str, Any] = found if isinstance(found, dict) else {}
    commit = PrCommit(
        repository_id=repo_id,
        pr_number=number,
        sha=str(ps["revision"]),
        author_name=author.get("name"),
        author_email=author.get("email"),
    )
    when = _epoch(p.get("eventCreatedOn")) or datetime.now(UTC)
    items.append(Carried(commit, ("author_name", "author_email"), int(when.timestamp() * 1000)))
    return items


register_webhook_mapper(hooks.ROUTE, "patchset-created", patchset_created)
for _event in ("change-merged", "change-abandoned", "comment-added", "change-restored"):
    register_webhook_mapper(hooks.ROUTE, _event, change_event)
