"""Tables of the sinks area: sink bookkeeping (Kafka spool, DLQ).

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0060_...`` (later ones ``0061_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
