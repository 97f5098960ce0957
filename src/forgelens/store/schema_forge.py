"""Tables of the forge area: the conditional-request cache (ETag + body per request).

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0020_...`` (later ones ``0021_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations

from forgelens.store.schema import MigrationTarget, TableSpec, migration, register_table

HTTP_CACHE = register_table(
    TableSpec(
        "http_cache",
        (("key", "text"), ("etag", "text"), ("body", "text"), ("updated_at", "ts")),
        ("key",),
    )
)


@migration("0020_http_cache")
def _http_cache(db: MigrationTarget) -> None:
    db.create_table(HTTP_CACHE)
