"""What Bitbucket Server / Data Center and Bitbucket Cloud webhooks share: one endpoint
(``/api/v1/webhooks/bitbucket``) and one signature, ``X-Hub-Signature: sha256=<hex
HMAC-SHA256(secret, raw body)>`` with ``FORGELENS_BITBUCKET_WEBHOOK_SECRET``; the event is
``X-Event-Key``. Cloud names its delivery ``X-Request-UUID`` (which is how a delivery says it
is Cloud's), Server ``X-Request-Id``."""

from __future__ import annotations

from forgelens.sources.webhook import Headers, Secrets, check_hub_signature

ROUTE = "bitbucket"
SECRET = "FORGELENS_BITBUCKET_WEBHOOK_SECRET"  # noqa: S105 (the setting's name)
EVENT = "x-event-key"


def verify(headers: Headers, body: bytes, secrets: Secrets) -> None:
    check_hub_signature(ROUTE, "X-Hub-Signature", SECRET, secrets.get(SECRET), headers, body)


def from_cloud(headers: Headers) -> bool:
    return "x-request-uuid" in headers
