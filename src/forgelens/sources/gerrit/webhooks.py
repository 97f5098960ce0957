"""Gerrit webhook deliveries (the ``webhooks`` plugin): who sent them, which event, which id.

The plugin posts each event's stream-events JSON and nothing else: no signature, no event
header, no delivery id. The shared secret (``FORGELENS_GERRIT_WEBHOOK_SECRET``) comes as the
``token`` query parameter of the URL the plugin is given, or as ``Authorization: Bearer`` from a
proxy in front of forgelens; the event is the payload's ``type``; a retry posts the same body, so
the body's digest is the delivery id (``sha256:<hex>``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from forgelens.errors import AuthError

ROUTE = "gerrit"
TOKEN_HEADER = "x-forgelens-webhook-token"  # noqa: S105 - where the route puts ?token=
EVENTS = ("patchset-created", "change-merged", "comment-added", "change-abandoned")
# a comment-added names no message id (its votes and comments are read by the queued sync)
SYNC_EVENTS = (*EVENTS, "change-restored", "wip-state-changed", "topic-changed", "vote-deleted")


def _given(headers: Mapping[str, str]) -> str:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get(TOKEN_HEADER, "")


def verify(headers: Mapping[str, str], secret: str | None, setting: str) -> None:
    """Raise ``AuthError`` unless the delivery carries the configured secret (constant time);
    the message names the setting, never the secret."""
    if not secret:
        raise AuthError(f"gerrit webhook refused: no webhook secret is configured: set {setting}")
    given = _given(headers)
    if not given:
        raise AuthError(
            "gerrit webhook refused: no token: give the webhooks plugin the URL "
            f".../api/v1/webhooks/gerrit?token=<the value of {setting}>"
        )
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise AuthError(f"gerrit webhook refused: the token is not {setting}")


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
