"""Tables of the analytics area: delivery_metrics_*, review policy.

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0050_...`` (later ones ``0051_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
