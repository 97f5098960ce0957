"""API keys: create (shown once), verify, list, revoke. Only a SHA-256 of each key is stored.

A key reads ``fl_<key id>_<secret>``; the key id is public (logs, audit), the secret is 256
random bits, so a plain hash is enough to make the stored value useless to a thief.

Roles: ``viewer`` (status, runs, analytics, metrics), ``operator`` (+ trigger),
``admin`` (+ keys, settings, audit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forgelens.errors import BadInput, NotFound
from forgelens.store import Store

ROLES = ("viewer", "operator", "admin")
RANK = {role: n for n, role in enumerate(ROLES, start=1)}


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: str
    name: str = ""

    def can(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "fl" or not parts[1]:
        return None
    return parts[1]


def check_role(role: str) -> str:
    if role not in RANK:
        raise BadInput(f"unknown role {role!r}: use viewer, operator or admin")
    return role


def create_key(store: Store, role: str, name: str = "", created_by: str = "cli") -> tuple[str, str]:
    """Store a new key; return ``(key_id, key)``. The key itself is never stored or shown again."""
    check_role(role)
    key_id = secrets.token_hex(6)
    key = f"fl_{key_id}_{secrets.token_urlsafe(32)}"
    store.upsert(
        "api_keys",
        [
            {
                "key_id": key_id,
                "name": name[:200],
                "role": role,
                "key_hash": hash_key(key),
                "created_at": datetime.now(UTC),
                "created_by": created_by,
            }
        ],
    )
    return key_id, key


def verify_key(store: Store, key: str) -> Principal | None:
    """The principal a presented key stands for, or None (unknown, wrong, revoked)."""
    key_id = key_id_of(key)
    if key_id is None or len(key) > 200:
        return None
    rows = store.query(
        "SELECT key_hash, role, name, revoked_at FROM api_keys WHERE key_id = ?", [key_id]
    )
    if not rows:
        return None
    stored, role, name, revoked = rows[0]
    if revoked is not None or not hmac.compare_digest(stored, hash_key(key)):
        return None
    return Principal(key_id, role, name or "")


def list_keys(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts(
        "SELECT key_id, name, role, created_at, created_by, revoked_at FROM api_keys "
        "ORDER BY created_at"
    )


def revoke_key(store: Store, key_id: str) -> None:
    rows = store.query_dicts("SELECT * FROM api_keys WHERE key_id = ?", [key_id])
    if not rows:
        raise NotFound(f"no API key {key_id!r}: list them with `forgelens keys list`")
    row = rows[0]
    if row["revoked_at"] is None:
        row.update(revoked_at=datetime.now(UTC))
        row.pop("_version", None)
        row.pop("_source", None)
        store.upsert("api_keys", [row])
