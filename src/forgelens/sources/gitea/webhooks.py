"""Gitea / Forgejo webhook deliveries: who sent them and what they are.

A delivery is signed ``X-Gitea-Signature: <hex HMAC-SHA256(secret, raw body)>`` (no
``sha256=`` prefix); Forgejo sends the same value as ``X-Forgejo-Signature`` (and keeps the
Gitea names too). The event is ``X-Gitea-Event-Type`` / ``X-Forgejo-Event-Type`` (the fine
one: ``pull_request_review_approved``), else ``X-Gitea-Event``; the delivery id
``X-Gitea-Delivery`` / ``X-Forgejo-Delivery`` is a UUID kept across redeliveries (the dedupe
key). Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from forgelens.errors import AuthError

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


def verify(headers: Mapping[str, str], body: bytes, secret: str | None, setting: str) -> None:
    """Raise ``AuthError`` unless the delivery is signed with ``secret``; the message names
    the header and the setting the webhook's secret must equal (never the secret)."""
    if not secret:
        raise AuthError(f"gitea webhook refused: no webhook secret is configured: set {setting}")
    name, given = _first(headers, SIGNATURES)
    if not given:
        raise AuthError(
            "gitea webhook refused: no X-Gitea-Signature or X-Forgejo-Signature header: give "
            f"the webhook the secret of {setting}"
        )
    if not hmac.compare_digest(given.lower().encode(), sign(secret, body).encode()):
        shown = "X-Forgejo-Signature" if name == SIGNATURES[0] else "X-Gitea-Signature"
        raise AuthError(
            f"gitea webhook refused: {shown} does not match the body: the webhook's secret "
            f"is not {setting}"
        )


def event(headers: Mapping[str, str]) -> str:
    return _first(headers, EVENT_TYPES)[1]


def delivery(headers: Mapping[str, str]) -> str:
    return _first(headers, DELIVERIES)[1]
