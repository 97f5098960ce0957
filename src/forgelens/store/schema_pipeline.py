"""Tables of the pipeline area: pipeline_runs (seed 003).

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0010_...`` (later ones ``0011_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
