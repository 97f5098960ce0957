"""How long-running processes (the service, workers) hold the store.

An embedded DuckDB file admits one writing process at a time. When the service runs jobs
in-process, it keeps the store open for its whole life (``shared=False``). When several processes
take turns on one DuckDB file (the API and ``forgelens worker`` processes with ``REDIS_URL``),
each opens the file for a unit of work and closes it again (``shared=True``), waiting while
another process holds it; units of work that overlap in one process share the connection.
A server store (PostgreSQL) is always kept open: it has no such lock.

    access = StoreAccess("duckdb:///forgelens.duckdb", shared=True)
    with access.session() as store:
        store.query("SELECT 1")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from forgelens.errors import StoreLocked
from forgelens.store import Store, is_single_writer, open_store


class StoreAccess:
    """Hands out the store for one unit of work; see the module docstring."""

    def __init__(self, url: str, *, shared: bool = False, lock_wait_seconds: float = 60.0) -> None:
        self.url = url
        self.per_session = shared and is_single_writer(url)
        self.lock_wait_seconds = lock_wait_seconds
        self._store: Store | None = None
        self._users = 0
        self._migrated = False
        self._lock = threading.Lock()

    def _open(self) -> Store:
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.01
        while True:
            try:
                store = open_store(self.url, migrate=not self._migrated)
            except StoreLocked:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            self._migrated = True
            return store

    def get(self) -> Store:
        """The long-lived store (opened on first use). Only when not ``per_session``."""
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    @contextmanager
    def session(self) -> Iterator[Store]:
        """The store for one unit of work. Shared: the threads of this process that work at
        the same time use one connection, closed (file released) when the last one is done."""
        if not self.per_session:
            yield self.get()
            return
        with self._lock:
            if self._users == 0:
                self._store = self._open()
            self._users += 1
            store = self._store
        assert store is not None
        try:
            yield store
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._store is not None:
                    self._store.close()
                    self._store = None

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
