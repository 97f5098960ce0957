"""Webhook deliveries: verify who sent them, read what they name, map what they carry.

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``; event
  ``X-GitHub-Event``; delivery ``X-GitHub-Delivery`` (stable across redeliveries).
- GitLab: ``X-Gitlab-Token`` (the secret itself); System Hook and Test Hook deliveries are
  read as the hook their payload's ``object_kind`` names; optionally signed (Standard Webhooks:
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>``,
  a ``whsec_`` key is base64); event ``X-Gitlab-Event``; delivery ``Idempotency-Key`` (17.4+),
  else ``X-Gitlab-Event-UUID`` with the body's digest.
- Bitbucket (Server/Data Center and Cloud): ``X-Hub-Signature: sha256=<hex>``; event
  ``X-Event-Key``; delivery ``X-Request-Id`` (Server) or ``X-Request-UUID`` (Cloud).
- Gitea / Forgejo: ``X-Gitea-Signature`` / ``X-Forgejo-Signature`` (hex HMAC-SHA256); event
  ``X-Gitea-Event-Type``; delivery ``X-Gitea-Delivery`` (``sources/gitea/webhook.py``).

Every comparison is constant-time. The forge's own webhook mapper for the event
(``sources/<forge>/webhook.py``, found through the forge registry) turns a verified payload
into records that are upserted at once; push, pull request, review and issue events also
queue a targeted sync of the repository. A mapper returns records (every column written) or
``Carried`` records: only the columns the payload carries, versioned by the payload's own change
time, so a webhook never blanks richer data collected earlier and an older delivery arriving
late never overwrites newer data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from forgelens.errors import AuthError, BadInput
from forgelens.service.ssrf import validate_repository_url
from forgelens.sources import forges
from forgelens.sources.gitea import webhook as gitea_hooks
from forgelens.sources.spec import REPO_SEGMENT
from forgelens.sources.webhook import Carried
from forgelens.store import Store, to_arrow
from forgelens.store.schema import TABLES

FORGES = ("github", "gitlab", "bitbucket", "gitea")
SECRET_SETTINGS = {
    "github": "FORGELENS_GITHUB_WEBHOOK_SECRET",
    "gitlab": "FORGELENS_GITLAB_WEBHOOK_TOKEN",
    "bitbucket": "FORGELENS_BITBUCKET_WEBHOOK_SECRET",
    "gitea": "FORGELENS_GITEA_WEBHOOK_SECRET",
}

SYNC_EVENTS: dict[str, tuple[str, ...]] = {
    "github": (
        "push",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "pull_request_review_thread",
        "issues",
        "issue_comment",
    ),
    "gitlab": (
        "Push Hook",
        "Tag Push Hook",
        "Merge Request Hook",
        "Note Hook",
        "Issue Hook",
        "Confidential Note Hook",
        "Confidential Issue Hook",
    ),
    "bitbucket": (
        "repo:refs_changed",
        "repo:push",
        "pr:",
        "pullrequest:",
        "issue:",
    ),
    "gitea": gitea_hooks.SYNC_EVENTS,
}
# A GitLab System Hook (and a hook's "Test" delivery) names no event in its header: the payload's
# object_kind (event_name on system-only events) says which hook's payload it is.
GITLAB_KINDS = {
    "push": "Push Hook",
    "repository_update": "Push Hook",
    "tag_push": "Tag Push Hook",
    "merge_request": "Merge Request Hook",
    "note": "Note Hook",
    "issue": "Issue Hook",
    "pipeline": "Pipeline Hook",
}
INT_RANGES = {"int": 2**31, "bigint": 2**63}  # store integer types: -N <= value < N
# owner/name (GitLab: group/.../project), each segment a spec.REPO_SEGMENT
_NAME = re.compile(rf"^{REPO_SEGMENT}(/{REPO_SEGMENT}){{1,20}}$")


def map_payload(d: Delivery) -> list[Any]:
    """What the delivery's mapper makes of its payload ([] without a mapper); a payload the
    mapper cannot read raises ``BadInput`` naming the forge, event and what is wrong."""
    mapper = forges.webhook_mapper(d.forge, d.event)
    if mapper is None:
        return []
    try:
        return _in_range(_of_repository(d, list(mapper(d.payload))))
    except (KeyError, ValueError, TypeError, AttributeError, ArithmeticError, OSError) as exc:
        why = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise BadInput(
            f"the {d.forge} {d.event} payload cannot be stored ({why[:200]}): "
            "check the webhook sends the forge's JSON payload (content type application/json)"
        ) from exc


def _of_repository(d: Delivery, items: list[Any]) -> list[Any]:
    """``items``, or ``ValueError`` when one belongs to another repository than the one the
    delivery names (``None`` when its name is no repository name, e.g. ``../etc``)."""
    for item in items:
        record = item.record if isinstance(item, Carried) else item
        owner = getattr(record, "repository_id", d.spec)
        if owner != d.spec:
            raise ValueError(f"the payload names no valid repository ({str(owner)[:100]!r})")
    return items


def _in_range(items: list[Any]) -> list[Any]:
    """``items``, or ``ValueError`` naming a number no store column can hold (forge data is
    untrusted: a 10**30 pull request number must be a clear 400, not a failed write)."""
    for item in items:
        record = item.record if isinstance(item, Carried) else item
        table = getattr(record, "TABLE", "")
        spec = TABLES.get(table)
        for name, logical in spec.columns if spec else ():
            value = getattr(record, name, None)
            bound = INT_RANGES.get(logical)
            if bound and isinstance(value, int) and not -bound <= value < bound:
                raise ValueError(f"{table}.{name} = {value} is out of range")
    return items


def write_mapped(store: Store, items: Sequence[Any], source: str) -> int:
    """Upsert mapped items: plain records whole, ``Carried`` ones column by column."""
    plain = [i for i in items if not isinstance(i, Carried)]
    written = store.write_records(plain, source=source) if plain else 0
    groups: dict[tuple[str, tuple[str, ...]], list[Carried]] = {}
    for item in items:
        if isinstance(item, Carried):
            groups.setdefault((item.record.TABLE, item.columns), []).append(item)
    for (table, columns), group in sorted(groups.items()):
        spec = store.table_spec(table)
        keep = [*spec.key, *(c for c in columns if c not in spec.key), "_version", "_source"]
        rows = [
            {**{c: getattr(g.record, c) for c in keep[:-2]}, "_version": g.version} for g in group
        ]
        written += store.upsert(table, to_arrow(spec, rows, source=source).select(keep))
    return written


@dataclass
class Delivery:
    forge: str
    event: str
    delivery_id: str
    spec: str | None  # what to sync: "github:owner/repo", or None when the payload names none
    payload: dict[str, Any]

    @property
    def wants_sync(self) -> bool:
        return self.spec is not None and any(
            self.event == e or (e.endswith(":") and self.event.startswith(e))
            for e in SYNC_EVENTS[self.forge]
        )


def _hex_sig(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign_github(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` (also Bitbucket's ``X-Hub-Signature``) a sender computes."""
    return _hex_sig(secret.encode(), body)


def _signing_key(key: str) -> bytes:
    if key.startswith("whsec_"):
        try:
            return base64.b64decode(key[len("whsec_") :])
        except binascii.Error as exc:
            raise BadInput("FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY is not valid base64") from exc
    return key.encode()


def sign_gitlab(key: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` header value GitLab sends for a signed webhook."""
    message = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_signing_key(key), message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def is_test_ping(forge: str, headers: Mapping[str, str]) -> bool:
    """Bitbucket Server's "Test connection" button: ``diagnostics:ping`` with a tiny or empty
    body and no ``X-Hub-Signature`` even when the webhook has a secret. It carries nothing to
    store; it is answered (a signature, when sent, must still match) and never recorded."""
    return forge == "bitbucket" and headers.get("x-event-key") == "diagnostics:ping"


def _denied(forge: str, why: str) -> AuthError:
    return AuthError(f"{forge} webhook refused: {why}")


def verify(
    forge: str, headers: Mapping[str, str], body: bytes, secrets: Mapping[str, str | None]
) -> None:
    """Raise ``AuthError`` unless the delivery proves it knows the configured secret; the
    message names the setting the webhook's secret must match (never the secret)."""
    if forge == "github" or forge == "bitbucket":
        setting = SECRET_SETTINGS[forge]
        secret = secrets.get(forge)
        if not secret:
            raise _denied(forge, f"no webhook secret is configured: set {setting}")
        header = "X-Hub-Signature-256" if forge == "github" else "X-Hub-Signature"
        given = headers.get(header.lower(), "")
        if not given:
            raise _denied(forge, f"no {header} header: give the webhook the secret of {setting}")
        if not hmac.compare_digest(given.encode(), _hex_sig(secret.encode(), body).encode()):
            raise _denied(
                forge, f"{header} does not match the body: the webhook's secret is not {setting}"
            )
        return
    if forge == "gitlab":
        setting = SECRET_SETTINGS[forge]
        token = secrets.get("gitlab")
        if not token:
            raise _denied(forge, f"no webhook token is configured: set {setting}")
        if not hmac.compare_digest(headers.get("x-gitlab-token", "").encode(), token.encode()):
            raise _denied(forge, f"X-Gitlab-Token does not match {setting}")
        key = secrets.get("gitlab_signing")
        if key:
            want = sign_gitlab(
                key, headers.get("webhook-id", ""), headers.get("webhook-timestamp", ""), body
            )
            given_all = headers.get("webhook-signature", "").split()
            if not any(hmac.compare_digest(g.encode(), want.encode()) for g in given_all):
                raise _denied(
                    forge,
                    "webhook-signature does not match the body: the webhook's signing token "
                    "is not FORGELENS_GITLAB_WEBHOOK_SIGNING_KEY",
                )
        return
    if forge == "gitea":
        gitea_hooks.verify(headers, body, secrets.get("gitea"), SECRET_SETTINGS[forge])
        return
    raise BadInput(
        f"unknown forge {forge!r}: webhooks exist for github, gitlab, bitbucket and gitea"
    )


def _spec(kind: str, name: Any) -> str | None:
    if not isinstance(name, str):
        return None
    # Bitbucket Server names a personal repository's project ``~USER`` (``~JANE.DOE/scratch``)
    bare = name[1:] if kind == "bitbucket-server" and name.startswith("~") else name
    return f"{kind}:{name}" if _NAME.match(bare) else None


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _gitlab_event_id(headers: Mapping[str, str], body: bytes) -> str:
    """A delivery id for GitLab before 17.4 (no ``Idempotency-Key``): ``X-Gitlab-Event-UUID`` is
    shared by every hook fired from one webhook-triggered request (a bot relabelling a merge
    request on "open"), so the body's digest tells those apart; a resend is the same body."""
    digest = hashlib.sha256(body).hexdigest()[:16]
    uuid = headers.get("x-gitlab-event-uuid", "")
    return f"{uuid}:{digest}" if uuid else f"sha256:{digest}"


def _json_body(forge: str, headers: Mapping[str, str], body: bytes) -> Any:
    """The delivery's JSON: the body, or its ``payload`` field when the hook posts a form
    (GitHub's ``application/x-www-form-urlencoded`` content type; the signature covers the
    form as sent)."""
    text: Any = body
    try:
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            text = parse_qs(body.decode(), max_num_fields=10).get("payload", [""])[0]
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadInput(
            f"the {forge} webhook body is not JSON: set the webhook's content type to "
            "application/json"
        ) from exc


def parse_delivery(forge: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    """Event, delivery id and repository of a verified delivery."""
    payload = _json_body(forge, headers, body)
    if not isinstance(payload, dict):
        raise BadInput(f"the {forge} webhook body is not a JSON object")
    repo = _obj(payload, "repository")
    spec: str | None = None
    if forge == "github":
        event = headers.get("x-github-event", "")
        delivery = headers.get("x-github-delivery", "")
        spec = _spec("github", repo.get("full_name"))
    elif forge == "gitlab":
        event = headers.get("x-gitlab-event", "")
        if event in ("System Hook", "Test Hook"):
            kind = payload.get("object_kind") or payload.get("event_name")
            event = GITLAB_KINDS.get(kind, event) if isinstance(kind, str) else event
        delivery = headers.get("idempotency-key") or _gitlab_event_id(headers, body)
        project = _obj(payload, "project")
        spec = _spec("gitlab", project.get("path_with_namespace"))
    elif forge == "gitea":
        event, delivery = gitea_hooks.event(headers), gitea_hooks.delivery(headers)
        spec = _spec("gitea", repo.get("full_name"))
    else:
        event = headers.get("x-event-key", "")
        delivery = headers.get("x-request-uuid") or headers.get("x-request-id", "")
        if "x-request-uuid" in headers:  # Cloud: workspace/repo
            spec = _spec("bitbucket", repo.get("full_name"))
        else:  # Server / Data Center: PROJECT/slug (PR events carry it in toRef)
            if not repo:
                repo = _obj(_obj(_obj(payload, "pullRequest"), "toRef"), "repository")
            project = _obj(repo, "project")
            key, slug = project.get("key"), repo.get("slug")
            spec = _spec("bitbucket-server", f"{key}/{slug}" if key and slug else None)
    if not event or not delivery:
        raise BadInput(f"the {forge} webhook lacks its event or delivery id header")
    return Delivery(forge, event[:100], delivery[:200], spec, payload)


def self_hosted_api_url(d: Delivery, self_hosted: Mapping[str, str]) -> str | None:
    """The API root of the self-hosted forge (``FORGELENS_FORGE_HOSTS``) a delivery came from,
    read from the repository's web URL in the payload, so its targeted sync asks that forge;
    None for the public forges or when the payload names another repository."""
    p = d.payload
    # Bitbucket Server names the repository at the top (repo:*) or in the PR's toRef (pr:*),
    # its web address in links.self[0].href
    bbs_repo = _obj(p, "repository") or _obj(_obj(_obj(p, "pullRequest"), "toRef"), "repository")
    links = _obj(bbs_repo, "links").get("self")
    first = links[0] if isinstance(links, list) and links else None
    url = (
        _obj(p, "repository").get("html_url")
        or _obj(p, "project").get("web_url")
        or _obj(_obj(_obj(p, "repository"), "links"), "html").get("href")
        or (first.get("href") if isinstance(first, dict) else None)
    )
    if not isinstance(url, str):
        return None
    try:
        if (urlsplit(url).hostname or "").rstrip(".").lower() not in self_hosted:
            return None  # a public forge: no DNS look-up here, the default API applies
        spec = validate_repository_url(url, self_hosted=dict(self_hosted))
    except (BadInput, ValueError):
        return None
    return spec.api_url if spec.api_url and str(spec) == d.spec else None
