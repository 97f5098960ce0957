"""Tables of the service area: API keys, audit log, webhook deliveries, job state.

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0040_...`` (later ones ``0041_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
