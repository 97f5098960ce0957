"""What every forge's webhooks share (``sources/<forge>/webhook.py``): the ``Webhooks``
descriptor (who may send, which event and delivery, which repository, how each event maps),
the HMAC checks several forges use, and the mappers' helpers.

The service (``service/routes/webhooks.py``) only routes ``/api/v1/webhooks/<route>`` to the
forge that claims the delivery, hands it the secrets its descriptor names, dedupes, records
and queues; everything a forge's deliveries look like is said here and in its package.

Each mapper reads one event's payload with the mapper the collector uses for the same object
and returns ``Carried`` records: only the columns the payload actually carries (a GitHub review
event's "simple" pull request has no line counts, a GitLab hook no ``merged_at``, a push commit
no line stats), versioned by the payload's own change time. Columns a payload lacks keep what a
collection stored; the targeted sync the service queues fills them in. A payload missing what
identifies a record (number, id, timestamps) raises, and the service answers 400 and records
the delivery as ``malformed``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgelens.errors import AuthError
from forgelens.records import Commit, CommitFile, Person, now_version
from forgelens.sources._forge_common import ts
from forgelens.sources.paths import REPO_SEGMENT

WebhookMapper = Callable[[dict[str, Any]], Sequence[Any]]
Headers = Mapping[str, str]  # a delivery's headers, names lower-cased
Secrets = Mapping[str, str | None]  # setting name (as Webhooks.secrets names it) -> its value
# owner/name (GitLab: group/.../project), each segment a paths.REPO_SEGMENT; a project of
# one segment or more (Gerrit)
_NAME = re.compile(rf"^{REPO_SEGMENT}(/{REPO_SEGMENT}){{1,20}}$")
_PROJECT = re.compile(rf"^{REPO_SEGMENT}(/{REPO_SEGMENT}){{0,20}}$")
# where the route hands a verify() the secret a sender gave as ``?<query_token>=`` in its URL
QUERY_TOKEN = "x-forgelens-webhook-token"  # noqa: S105 (a header's name)

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
class Parsed:
    """What a verified delivery's headers and payload say: its event, its delivery id (stable
    across the forge's redeliveries: the dedupe key) and the repository spec it names
    (``github:owner/repo``; None when the payload names none or no valid one)."""

    event: str
    delivery_id: str
    spec: str | None


@dataclass(frozen=True, slots=True)
class Ping:
    """A forge's "test connection" delivery: answered, never stored. ``signed``: it carries a
    signature, which must still match; ``unsigned_note`` is added to the answer otherwise."""

    event: str
    delivery_id: str
    signed: bool
    unsigned_note: str = ""


def _always(headers: Headers) -> bool:
    return True


def _no_ping(headers: Headers) -> Ping | None:
    return None


def _no_url(payload: dict[str, Any]) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Webhooks:
    """A forge's webhook deliveries, all the service needs to receive them.

    - ``route``: the endpoint ``/api/v1/webhooks/<route>`` (Bitbucket Server and Cloud share
      ``bitbucket``: ``claims`` says which of them sent a delivery);
    - ``mappers``: a payload mapper per event name;
    - ``verify(headers, body, secrets)``: raises ``AuthError`` naming the setting the sender's
      secret must match (never the secret), comparing in constant time;
    - ``read(headers, body, payload)``: the ``Parsed`` event, delivery id and repository;
    - ``sync_events``: events after which the repository is synced (``"pr:"``: a prefix);
    - ``secrets``: the settings ``verify`` reads (default ``FORGELENS_<ROUTE>_WEBHOOK_SECRET``;
      ``secret_names`` resolves it);
    - ``event_header``: the header naming the event (a refusal's metrics label);
    - ``web_url(payload)``: the repository's web URL (which self-hosted server sent it);
    - ``ping(headers)``: the ``Ping`` a "test connection" delivery is (None: none);
    - ``accept_malformed``: answer a payload that cannot be stored 202, not 400 (a forge
      that disables a webhook after a few 4xx answers);
    - ``query_token``: a query parameter of the webhook's URL that may carry the secret (a
      sender that cannot set headers: Gerrit's ``?token=``), handed to ``verify`` as the
      header ``QUERY_TOKEN``.
    """

    route: str
    mappers: dict[str, WebhookMapper]
    verify: Callable[[Headers, bytes, Secrets], None]
    read: Callable[[Headers, bytes, dict[str, Any]], Parsed]
    sync_events: tuple[str, ...]
    event_header: str
    secrets: tuple[str, ...] = ()
    web_url: Callable[[dict[str, Any]], str | None] = _no_url
    claims: Callable[[Headers], bool] = _always
    ping: Callable[[Headers], Ping | None] = _no_ping
    accept_malformed: bool = False
    query_token: str | None = None

    def secret_names(self) -> tuple[str, ...]:
        """The settings holding the secrets (the first one must be set)."""
        return self.secrets or (f"FORGELENS_{self.route.upper()}_WEBHOOK_SECRET",)

    def wants_sync(self, event: str) -> bool:
        return any(
            event == e or (e.endswith(":") and event.startswith(e)) for e in self.sync_events
        )


def denied(route: str, why: str) -> AuthError:
    """A refused delivery: ``<route> webhook refused: <why>``."""
    return AuthError(f"{route} webhook refused: {why}")


def hub_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``: GitHub's ``X-Hub-Signature-256`` and
    Bitbucket's ``X-Hub-Signature``, as a sender computes them."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_hub_signature(
    route: str, header: str, setting: str, secret: str | None, headers: Headers, body: bytes
) -> None:
    """Raise ``AuthError`` unless ``header`` is the body's ``hub_signature`` with the secret of
    ``setting`` (constant time); each refusal names the header and the setting."""
    if not secret:
        raise denied(route, f"no webhook secret is configured: set {setting}")
    given = headers.get(header.lower(), "")
    if not given:
        raise denied(route, f"no {header} header: give the webhook the secret of {setting}")
    if not hmac.compare_digest(given.encode(), hub_signature(secret, body).encode()):
        raise denied(
            route, f"{header} does not match the body: the webhook's secret is not {setting}"
        )


def repo_spec(kind: str, name: Any, *, one_segment: bool = False) -> str | None:
    """``kind:name`` when ``name`` is a repository path of ``REPO_SEGMENT``s (two or more;
    ``one_segment``: one is enough), else None (a payload's ``../etc`` names nothing)."""
    pattern = _PROJECT if one_segment else _NAME
    return f"{kind}:{name}" if isinstance(name, str) and pattern.match(name) else None


def at(parent: Any, key: str) -> dict[str, Any]:
    """``parent[key]`` when both are objects, else ``{}`` (reading what a payload names)."""
    value = parent.get(key) if isinstance(parent, dict) else None
    return value if isinstance(value, dict) else {}


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
