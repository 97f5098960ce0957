"""What every forge's webhook mappers share (``sources/<forge>/webhook.py``).

Each mapper reads one event's payload with the mapper the collector uses for the same object
and returns ``Carried`` records: only the columns the payload actually carries (a GitHub review
event's "simple" pull request has no line counts, a GitLab hook no ``merged_at``, a push commit
no line stats), versioned by the payload's own change time. Columns a payload lacks keep what a
collection stored; the targeted sync the service queues fills them in. A payload missing what
identifies a record (number, id, timestamps) raises, and the service answers 400 and records
the delivery as ``malformed``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgelens.records import Commit, CommitFile, Person, now_version
from forgelens.sources._forge_common import ts

WebhookMapper = Callable[[dict[str, Any]], Sequence[Any]]

Fields = dict[str, str]  # record column -> payload key(s) that carry it ("a|b": either)


COMMENT: Fields = {
    "author": "user|author",
    "body": "body",
    "created_at": "created_at",
    "updated_at": "updated_at",
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


SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


PUSH_FILES = (("added", "added"), ("modified", "modified"), ("removed", "deleted"))


@dataclass(frozen=True, slots=True)
class Carried:
    """``record`` of which the payload carries only ``columns`` (the key columns are implied;
    the others keep their stored values), written with ``_version`` = ``version`` (epoch ms of
    the payload's own change time: an older delivery never overwrites newer data)."""

    record: Any
    columns: tuple[str, ...]
    version: int


@dataclass(frozen=True, slots=True)
class Webhooks:
    """A forge's webhook deliveries: the endpoint ``/api/v1/webhooks/<route>`` they arrive at
    (Bitbucket Server and Cloud share ``bitbucket``) and a mapper per event name."""

    route: str
    mappers: dict[str, WebhookMapper]


def obj(parent: Any, key: str) -> dict[str, Any]:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, dict):
        raise KeyError(key)
    return value


def version_of(*when: datetime | None) -> int:
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
        version = version_of(commit.authored_at)
        if any(key in raw for key, _ in PUSH_FILES):
            commit.files_changed = len({f.path for f in files})
            cols.append("files_changed")
        out.append(Carried(commit, tuple(cols), version))
        out.extend(Carried(f, ("change_type",), version) for f in files)
    return out


def pushed_commit(repo_id: str, sha: Any, message: Any, **kw: Any) -> Commit:
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


def hub_push(repo_id: str, p: dict[str, Any]) -> list[Any]:
    """The commits of a push payload in GitHub's shape (Gitea and Forgejo send the same)."""
    items = []
    for c in p.get("commits") or []:
        if not isinstance(c, dict):
            raise TypeError("a pushed commit is not an object")
        author, committer = c.get("author") or {}, c.get("committer") or {}
        commit = pushed_commit(
            repo_id,
            c.get("id"),
            c.get("message"),
            author_name=author.get("name"),
            author_email=author.get("email"),
            authored_at=ts(c.get("timestamp")),
            committer_name=committer.get("name"),
            committer_email=committer.get("email"),
            author_login=author.get("username") or None,  # "": an email of no account
        )
        items.append((c, commit))
    return push_commits(repo_id, items)


def conversation(
    head: list[Any], rec: Any, raw: dict[str, Any], who: Person | None, *, deleted: bool
) -> list[Any]:
    """``head`` (the issue or pull request) and a conversation comment ``rec`` read from
    ``raw``: a ``Comment`` (a pull request's, kind written) or an ``IssueComment``, tombstoned
    when the event deleted it, else with its author."""
    if deleted:
        return [*head, tombstone(rec)]
    version = version_of(rec.updated_at, rec.created_at)
    extra = ("kind",) if hasattr(rec, "kind") else ()
    return [*head, carried(rec, raw, COMMENT, version, *extra), *people([who], version)]
