"""Webhook deliveries, whatever the forge: the forge that claims one (its ``Webhooks``
descriptor, ``sources/<forge>/webhook.py``, found through the forge registry) verifies who sent
it and reads what it names; this module parses its JSON, maps its payload and writes it.

Every forge's own mapper for the event turns a verified payload into records that are upserted
at once; the forge's sync events also queue a targeted sync of the repository. A mapper returns
records (every column written) or ``Carried`` records: only the columns the payload carries,
versioned by the payload's own change time, so a webhook never blanks richer data collected
earlier and an older delivery arriving late never overwrites newer data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from forgelens.errors import BadInput
from forgelens.service.ssrf import validate_repository_url
from forgelens.sources import forges
from forgelens.sources.webhook import Carried, Headers, Webhooks
from forgelens.store import Store, to_arrow
from forgelens.store.schema import TABLES

INT_RANGES = {"int": 2**31, "bigint": 2**63}  # store integer types: -N <= value < N


def receiver(route: str, headers: Headers) -> Webhooks:
    """The webhooks of the forge that sent a delivery to ``/api/v1/webhooks/<route>``."""
    hooks = forges.webhooks_for(route, headers)
    if hooks is None:
        raise BadInput(
            f"no webhooks at {route!r}: forgelens receives them at /api/v1/webhooks/ followed "
            f"by one of {', '.join(forges.webhook_routes())}"
        )
    return hooks


def verify(
    hooks: Webhooks, headers: Headers, body: bytes, setting: Callable[[str], str | None]
) -> None:
    """Raise ``AuthError`` unless the delivery proves it knows the configured secret(s):
    ``setting(name)`` reads each setting the forge's descriptor names."""
    hooks.verify(headers, body, {name: setting(name) for name in hooks.secret_names()})


def map_payload(d: Delivery) -> list[Any]:
    """What the delivery's mapper makes of its payload ([] without a mapper); a payload the
    mapper cannot read raises ``BadInput`` naming the forge, event and what is wrong."""
    mapper = d.hooks.mappers.get(d.event)
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
    forge: str  # the route it came to: github, gitlab, bitbucket, ...
    event: str
    delivery_id: str
    spec: str | None  # what to sync: "github:owner/repo", or None when the payload names none
    payload: dict[str, Any]
    hooks: Webhooks  # of the forge that sent it

    @property
    def wants_sync(self) -> bool:
        return self.spec is not None and self.hooks.wants_sync(self.event)


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


def parse_delivery(hooks: Webhooks, headers: Headers, body: bytes) -> Delivery:
    """Event, delivery id and repository of a verified delivery."""
    forge = hooks.route
    payload = _json_body(forge, headers, body)
    if not isinstance(payload, dict):
        raise BadInput(f"the {forge} webhook body is not a JSON object")
    parsed = hooks.read(headers, body, payload)
    if not parsed.event or not parsed.delivery_id:
        raise BadInput(f"the {forge} webhook lacks its event or delivery id header")
    return Delivery(
        forge, parsed.event[:100], parsed.delivery_id[:200], parsed.spec, payload, hooks
    )


def self_hosted_api_url(d: Delivery, self_hosted: Mapping[str, str]) -> str | None:
    """The API root of the self-hosted forge (``FORGELENS_FORGE_HOSTS``) a delivery came from,
    read from the repository's web URL in the payload, so its targeted sync asks that forge;
    None for the public forges or when the payload names another repository."""
    url = d.hooks.web_url(d.payload)
    if not isinstance(url, str):
        return None
    try:
        if (urlsplit(url).hostname or "").rstrip(".").lower() not in self_hosted:
            return None  # a public forge: no DNS look-up here, the default API applies
        spec = validate_repository_url(url, self_hosted=dict(self_hosted))
    except (BadInput, ValueError):
        return None
    return spec.api_url if spec.api_url and str(spec) == d.spec else None
