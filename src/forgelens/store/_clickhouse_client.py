"""The two ways to reach ClickHouse, behind one small ``Backend`` shape.

``chdb:///path`` runs the engine in-process (``chdb``); ``clickhouse://user:pass@host:8123/db``
talks HTTP to a server (``clickhouse-connect``). Both come from the ``[clickhouse]`` extra and
are imported only when a URL asks for them. Their errors are translated here, once.

Every query runs with ``final = 1`` (reads see one row per natural key, the newest ``_version``:
ClickHouse applies ``FINAL`` to each ReplacingMergeTree table the query reads),
``session_timezone = 'UTC'`` (seed 000's ``DateTime64(3)`` has no zone of its own) and the
standard-SQL NULL/UNION settings listed in ``SESSION_SETTINGS``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa

from forgelens.errors import BadInput, StoreError
from forgelens.store.sql import split_placeholders

SESSION_SETTINGS: dict[str, Any] = {
    "final": 1,
    "session_timezone": "UTC",
    # Standard SQL where the analytics (and users' queries) expect it: outer joins give NULLs
    # (not zero values), a bare UNION is UNION DISTINCT, CAST keeps a NULL a NULL.
    "join_use_nulls": 1,
    "union_default_mode": "DISTINCT",
    "cast_keep_nullable": 1,
    # Join in the order the query is written: the reordering (ClickHouse 25+) joins two
    # tables sharing only repository_id first, a near cross join (benchmarks/clickhouse.py).
    "query_plan_optimize_join_order_limit": 0,
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTRA = "pip install 'forgelens[clickhouse]'"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a ClickHouse URL points. ``path`` for chdb, ``host`` for a server."""

    kind: str  # "chdb" | "server"
    database: str
    path: Path | None = None
    host: str = ""
    port: int = 8123
    user: str = "default"
    password: str = ""
    secure: bool = False

    @property
    def url(self) -> str:
        """The URL without its password (safe to print and log)."""
        if self.kind == "chdb":
            return f"chdb:///{self.path}?database={self.database}"
        scheme = "clickhouses" if self.secure else "clickhouse"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> Target:
    """``chdb:///rel/path``, ``chdb:////abs/path`` (``?database=NAME``, default ``forgelens``) or
    ``clickhouse[s]://user:pass@host[:8123]/database``."""
    example = "clickhouse://user:pass@host:8123/database or chdb:///path/to/dir"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadInput(f"malformed ClickHouse URL ({exc}): write {example}") from exc
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "chdb":
        if parts.netloc or not parts.path.strip("/"):
            raise BadInput(
                "a chdb URL names a directory: chdb:///relative/dir or chdb:////absolute/dir"
            )
        database = query.pop("database", "forgelens")
        target = Target("chdb", database, path=Path(parts.path[1:]))
    elif parts.scheme in ("clickhouse", "clickhouses"):
        database = unquote(parts.path.strip("/")) or "default"
        if not parts.hostname or "/" in database:
            raise BadInput(f"malformed ClickHouse URL: write {example}")
        secure = parts.scheme == "clickhouses" or query.pop("secure", "") in ("1", "true")
        target = Target(
            "server",
            database,
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            user=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
            secure=secure,
        )
    else:
        raise BadInput(f"not a ClickHouse URL: write {example}")
    if not _NAME_RE.match(database):
        raise BadInput(f"bad ClickHouse database name {database!r}: use letters, digits and _")
    if query:
        raise BadInput(
            f"unknown ClickHouse URL option(s) {sorted(query)}: use database= or secure="
        )
    return target


def literal(value: Any) -> str:
    """``value`` as a ClickHouse SQL literal (our parameters are bound client-side)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value) if isinstance(value, Decimal) else repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise StoreError(f"naive datetime {value!r} passed to the store: use UTC-aware ones")
        return f"toDateTime64({literal(value.isoformat(sep=' '))}, 6, 'UTC')"
    if isinstance(value, date):
        return f"toDate32({literal(value.isoformat())})"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def bind(sql: str, params: Sequence[Any]) -> str:
    """Replace each ``?`` outside quotes with the literal of the next parameter."""
    if not params:
        return sql
    pieces = split_placeholders(sql, "clickhouse")
    if len(pieces) - 1 != len(params):
        more = "?" if len(pieces) - 1 > len(params) else "parameters"
        other = "parameters" if more == "?" else "?"
        raise StoreError(f"more {more} than {other} in: {sql[:200]}")
    out = [pieces[0]]
    for value, piece in zip(params, pieces[1:], strict=True):
        out += [literal(value), piece]
    return "".join(out)


class Backend(Protocol):
    def command(self, sql: str) -> None: ...

    def arrow(self, sql: str) -> pa.Table: ...

    def stream(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]: ...

    def insert(self, table: str, data: pa.Table) -> None: ...

    def setting(self, name: str, value: str, reset: str) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


# -- chdb ---------------------------------------------------------------------------------------
# chDB runs one embedded server per process, on one directory at a time.
_chdb_lock = threading.RLock()
_chdb_open: dict[str, Any] = {}  # {"path": str, "session": Session, "users": int, "db": str}


class ChdbBackend:
    def __init__(self, target: Target) -> None:
        try:
            from chdb import session as chdb_session
        except ImportError as exc:
            raise BadInput(f"chDB support is not installed: {_EXTRA}") from exc
        assert target.path is not None
        self.database = target.database
        self.path = str(target.path.resolve())
        with _chdb_lock:
            if _chdb_open and _chdb_open["path"] != self.path:
                raise StoreError(
                    f"chDB already has {_chdb_open['path']} open in this process and runs one "
                    "directory at a time: close that store first, or use one directory with "
                    "several ?database= names"
                )
            if not _chdb_open:
                target.path.mkdir(parents=True, exist_ok=True)
                try:
                    sess = chdb_session.Session(self.path)  # type: ignore[no-untyped-call]
                except Exception as exc:  # chdb raises RuntimeError subclasses
                    raise StoreError(f"chDB cannot open {self.path}: {_first_line(exc)}") from exc
                _chdb_open.update(path=self.path, session=sess, users=0, db="")
                for name, value in SESSION_SETTINGS.items():
                    self._raw(f"SET {name} = {literal(value)}")
            _chdb_open["users"] += 1
            self._raw(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self._closed = False

    def _raw(self, sql: str, fmt: str = "CSV") -> Any:
        try:
            return _chdb_open["session"].query(sql, fmt)
        except Exception as exc:
            raise StoreError(f"chDB {self.path}: {_first_line(exc)}") from exc

    def _use(self) -> None:
        if self._closed:
            raise StoreError("this chDB store is closed: open it again with open_store()")
        if _chdb_open["db"] != self.database:
            self._raw(f"USE {self.database}")
            _chdb_open["db"] = self.database

    def command(self, sql: str) -> None:
        with _chdb_lock:
            self._use()
            self._raw(sql)

    def arrow(self, sql: str) -> pa.Table:
        with _chdb_lock:
            self._use()
            table: pa.Table = self._raw(sql, "ArrowTable")
            return table

    def stream(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        with _chdb_lock:
            self._use()
            try:
                result = _chdb_open["session"].send_query(sql, "Arrow")
            except Exception as exc:
                raise StoreError(f"chDB {self.path}: {_first_line(exc)}") from exc
            try:
                yield from result.record_batch(rows_per_batch=batch_size)
            finally:
                result.close()

    def insert(self, table: str, data: pa.Table) -> None:
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        sql = f'INSERT INTO "{table}" ({cols}) SELECT {cols} FROM Python(_fl_batch)'
        _fl_batch = data  # chDB's Python() table function finds it by name in this frame
        with _chdb_lock:
            self._use()
            try:
                _chdb_open["session"].query(sql)
            except Exception as exc:
                raise StoreError(f"chDB {self.path}: {_first_line(exc)}") from exc

    @contextmanager
    def setting(self, name: str, value: str, reset: str) -> Iterator[None]:
        """``SET name = value`` for this thread's statements until the block ends (``reset``
        then): the session is the process's, so other threads wait for the block's end."""
        with _chdb_lock:
            self._use()
            self._raw(f"SET {name} = {value}")
            try:
                yield
            finally:
                self._raw(f"SET {name} = {reset}")

    def close(self) -> None:
        with _chdb_lock:
            if self._closed or not _chdb_open:
                return
            self._closed = True
            _chdb_open["users"] -= 1
            if _chdb_open["users"] == 0:
                _chdb_open["session"].close()
                _chdb_open.clear()


# -- clickhouse-connect -------------------------------------------------------------------------
class ServerBackend:
    def __init__(self, target: Target) -> None:
        try:
            import clickhouse_connect
        except ImportError as exc:
            raise BadInput(f"ClickHouse support is not installed: {_EXTRA}") from exc
        self.target = target
        try:
            self._client = clickhouse_connect.get_client(
                host=target.host,
                port=target.port,
                username=target.user,
                password=target.password,
                database=target.database,
                secure=target.secure,
                settings=SESSION_SETTINGS,
                autogenerate_session_id=False,
                connect_timeout=10,
            )
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> StoreError:
        t = self.target
        code = getattr(exc, "code", None)
        text = f"{exc}"
        where = f"ClickHouse at {t.host}:{t.port}"
        if code in (192, 193, 194, 516) or "AUTHENTICATION_FAILED" in text:
            return StoreError(
                f"{where} refused user {t.user!r} (wrong user or password): fix the credentials "
                "in --db clickhouse://USER:PASSWORD@host:port/database"
            )
        if code == 81 or "UNKNOWN_DATABASE" in text:
            return StoreError(
                f"{where} has no database {t.database!r}: create it (CREATE DATABASE "
                f"{t.database}) or name an existing one in the --db URL"
            )
        if type(exc).__name__ == "OperationalError" and code is None:
            return StoreError(
                f"cannot reach {where} over HTTP{'S' if t.secure else ''}: is the server "
                "running and the port its HTTP port (8123, or 8443 with TLS)?"
            )
        return StoreError(f"{where}: {_first_line(exc)}")

    def command(self, sql: str) -> None:
        try:
            self._client.command(sql)
        except Exception as exc:
            raise self._translate(exc) from exc

    def arrow(self, sql: str) -> pa.Table:
        try:
            table: pa.Table = self._client.query_arrow(sql, use_strings=True)
        except Exception as exc:
            raise self._translate(exc) from exc
        return table

    def stream(self, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
        try:
            with self._client.query_arrow_stream(sql, use_strings=True) as blocks:
                for block in blocks:
                    yield from block.to_batches() if isinstance(block, pa.Table) else [block]
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def insert(self, table: str, data: pa.Table) -> None:
        try:
            self._client.insert_arrow(table, data)
        except Exception as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def setting(self, name: str, value: str, reset: str) -> Iterator[None]:
        """The setting sent with each of this client's queries until the block ends."""
        self._client.set_client_setting(name, value)
        try:
            yield
        finally:
            self._client.set_client_setting(name, reset)

    def close(self) -> None:
        self._client.close()


def connect(target: Target) -> Backend:
    return ChdbBackend(target) if target.kind == "chdb" else ServerBackend(target)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
