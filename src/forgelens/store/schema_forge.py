"""Tables of the forge area: forge collection extras (e.g. conditional-request caches).

Declare each table with ``register_table(TableSpec(...))`` and create it in a migration named
``0020_...`` (later ones ``0021_...``, ...) registered with ``@migration``.
"""

from __future__ import annotations
