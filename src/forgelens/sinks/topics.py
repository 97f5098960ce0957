"""Kafka topics and the message envelope of seed 001: one message per record.

Every message is ``{event_type, timestamp, source, repository_id, data}`` (JSON, UTF-8), keyed by
the repository id so that one repository's messages keep their order. ``data`` holds the
record's columns plus ``_version`` (epoch ms of the publication; a consumer keeps the newest).

Where each table goes (children travel on their parent's topic, with their own event type)::

    git.repositories     repositories, branch_protections, contributors
    git.commits          commits, commit_files
    git.pull_requests    pull_requests, pr_files, pr_commits
    git.reviews          pr_reviews
    git.comments         pr_comments, issue_comments
    git.issues           issues
    git.ci_runs          ci_runs
    git.collection_runs  git_collection_runs (the run ledger, each time it is written)
    git.people           people, teams, team_members (keyed by source:org or source:login)
    git.<table>          any table added later (event type ``<table>_updated``)
    git.dlq              records that could not be serialized or were too large, with the error
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

DLQ_TOPIC = "git.dlq"

ROUTES: dict[str, tuple[str, str]] = {
    "repositories": ("git.repositories", "repository_updated"),
    "branch_protections": ("git.repositories", "branch_protection_updated"),
    "contributors": ("git.repositories", "contributor_updated"),
    "commits": ("git.commits", "commit_created"),
    "commit_files": ("git.commits", "commit_file_changed"),
    "pull_requests": ("git.pull_requests", "pull_request_updated"),
    "pr_files": ("git.pull_requests", "pull_request_file_changed"),
    "pr_commits": ("git.pull_requests", "pull_request_commit_added"),
    "pr_reviews": ("git.reviews", "review_submitted"),
    "pr_comments": ("git.comments", "pr_comment_created"),
    "issue_comments": ("git.comments", "issue_comment_created"),
    "issues": ("git.issues", "issue_updated"),
    "ci_runs": ("git.ci_runs", "ci_run_updated"),
    "git_collection_runs": ("git.collection_runs", "collection_run_updated"),
    "people": ("git.people", "person_updated"),
    "teams": ("git.people", "team_updated"),
    "team_members": ("git.people", "team_member_updated"),
}
EVENT_TABLES: dict[str, str] = {event: table for table, (_, event) in ROUTES.items()}
TOPICS: tuple[str, ...] = tuple(sorted({topic for topic, _ in ROUTES.values()}))


@dataclass(frozen=True, slots=True)
class Row:
    """A store row that has no record type (e.g. the run ledger): its table and its values."""

    TABLE: str
    values: Mapping[str, Any]


def route(table: str) -> tuple[str, str]:
    """(topic, event_type) for a table."""
    return ROUTES.get(table) or (f"git.{table}", f"{table}_updated")


def table_of(event_type: str) -> str | None:
    """The table an event type writes to (``None`` if unknown)."""
    if event_type in EVENT_TABLES:
        return EVENT_TABLES[event_type]
    if event_type.endswith("_updated"):
        return event_type[: -len("_updated")]
    return None


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_FIELDS: dict[type, tuple[str, ...]] = {}


def record_values(rec: Any) -> dict[str, Any]:
    """A record's columns as a dict, datetimes already ISO text (the hot path of publishing)."""
    if isinstance(rec, Row):
        values = dict(rec.values)
    else:
        names = _FIELDS.get(type(rec))
        if names is None:
            if not is_dataclass(rec) or isinstance(rec, type):
                raise TypeError(f"{type(rec).__name__} is neither a record nor a Row")
            names = _FIELDS[type(rec)] = tuple(f.name for f in fields(rec))
        values = {n: getattr(rec, n) for n in names}
    for k, v in values.items():
        if isinstance(v, datetime):
            values[k] = _default(v)
    return values


def message_key(table: str, data: Mapping[str, Any]) -> str | None:
    """The partition key: the repository id, the run id for the run ledger (one partition per
    run keeps its updates in order), or ``source:org`` / ``source:login``."""
    if "repository_id" in data:
        return str(data["repository_id"])
    if table == "repositories":
        return str(data.get("id"))
    if table == "git_collection_runs":
        return str(data.get("run_id"))
    if data.get("source") is not None:
        scope = data.get("org") or data.get("login")
        return f"{data['source']}:{scope}" if scope is not None else str(data["source"])
    return None


def encode(
    rec: Any, *, source: str, version: int, timestamp: str | None = None
) -> tuple[str, bytes | None, bytes]:
    """(topic, key, value) of one record; TypeError/ValueError if it cannot be serialized."""
    table = getattr(rec, "TABLE", None)
    if not isinstance(table, str):
        raise TypeError(f"{type(rec).__name__} has no TABLE: not a record")
    data = record_values(rec)
    data.setdefault("_version", version)
    topic, event_type = route(table)
    key = message_key(table, data)
    envelope = {
        "event_type": event_type,
        "timestamp": timestamp or datetime.now(UTC).isoformat(),
        "source": data.get("_source") or source,
        "repository_id": key if "repository_id" in data or table == "repositories" else None,
        "data": data,
    }
    value = json.dumps(envelope, default=_default, allow_nan=False, ensure_ascii=False)
    return topic, key.encode() if key is not None else None, value.encode()


def decode(value: bytes) -> tuple[str, dict[str, Any], str | None]:
    """(table, row, source) of a message; ValueError if it is not one of ours."""
    try:
        envelope = json.loads(value)
        event_type = envelope["event_type"]
        data = envelope["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a forgelens envelope: {exc}") from exc
    table = table_of(str(event_type))
    if table is None or not isinstance(data, dict):
        raise ValueError(f"unknown event type {event_type!r}")
    return table, data, envelope.get("source")
