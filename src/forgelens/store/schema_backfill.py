"""Tables of the backfill area: backfill_state, backfill_chunks (seed 004), reconciliation.

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0030_...`` (later ones ``0031_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
