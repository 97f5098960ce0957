"""PostgreSQL plumbing: URLs (and their redaction), error translation, rows to Arrow."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
from psycopg import errors as pg_errors

from forgelens.errors import BadInput, StoreError, StoreUnavailable
from forgelens.logs import redact

# Query parameters of a store URL that are ours, not libpq's.
OWN_PARAMS = ("schema", "pool_size")


@dataclass(frozen=True)
class PgTarget:
    conninfo: str  # what libpq gets (secrets included)
    url: str  # safe to print: no password
    host: str
    port: int
    dbname: str
    user: str | None
    schema: str | None
    pool_size: int


def parse_url(url: str) -> PgTarget:
    """``postgresql://user:pw@host:port/db?schema=name&pool_size=4&sslmode=...``.

    ``schema`` puts every table in that schema (created if missing); ``pool_size`` caps the
    connection pool; every other parameter goes to libpq unchanged.
    """
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    if parts.scheme not in ("postgresql", "postgres"):
        raise BadInput(f"{redact_url(url)} is not a postgresql:// URL")
    params = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in params if k in OWN_PARAMS}
    rest = [(k, v) for k, v in params if k not in OWN_PARAMS]
    schema = own.get("schema") or None
    if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise BadInput(f"schema={schema!r}: use letters, digits and _ (start with a letter)")
    try:
        pool_size = int(own.get("pool_size", "4"))
        port = parts.port or 5432
    except ValueError as exc:
        raise BadInput(f"{redact_url(url)}: {exc}") from None
    conninfo = urlunsplit(
        ("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), "")
    )
    return PgTarget(
        conninfo=conninfo,
        url=redact_url(urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))),
        host=parts.hostname or "localhost",
        port=port,
        dbname=unquote(parts.path.lstrip("/")) or (unquote(parts.username or "") or "postgres"),
        user=unquote(parts.username) if parts.username else None,
        schema=schema,
        pool_size=max(1, pool_size),
    )


_PW_PARAM_RE = re.compile(r"(?i)(password=)[^&\s]*")


def redact_url(url: str) -> str:
    """The URL with its password (in the authority or a ``password=`` parameter) masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        netloc = f"{creds}@{host}"
    query = _PW_PARAM_RE.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def translate(exc: BaseException, target: PgTarget) -> StoreError:
    """One actionable ``StoreError`` for a psycopg (or pool) failure; secrets never included."""
    where = f"{target.host}:{target.port}"
    unavailable = False
    text = str(exc)
    low = text.lower()
    if isinstance(exc, psycopg.OperationalError) or type(exc).__name__ == "PoolTimeout":
        if "password authentication failed" in low or ("role" in low and "does not exist" in low):
            msg = (
                f"PostgreSQL at {where} rejected user {target.user or '(default)'}: "
                "check the user and password in --db (or FORGELENS_DATABASE_URL)"
            )
        elif "database" in low and "does not exist" in low:
            msg = (
                f"database {target.dbname!r} does not exist on {where}: create it "
                f"(createdb {target.dbname}) or fix --db"
            )
        elif isinstance(exc, pg_errors.QueryCanceled):
            msg = f"PostgreSQL at {where} cancelled the statement: {_first_line(exc)}"
        else:
            unavailable = True
            msg = f"cannot reach PostgreSQL at {where}: is it running? check --db ({target.url})"
    elif isinstance(exc, pg_errors.UndefinedTable):
        msg = (
            f"PostgreSQL {target.url}: {_first_line(exc)}: run `forgelens db migrate --db ...` "
            "to create the tables"
        )
    elif isinstance(exc, pg_errors.InsufficientPrivilege):
        msg = (
            f"PostgreSQL {target.url}: {_first_line(exc)}: grant the user rights on the "
            "schema or use another user in --db"
        )
    elif isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure):
        msg = f"PostgreSQL {target.url}: {_first_line(exc)}: another writer collided; run again"
    elif isinstance(exc, pg_errors.NotNullViolation):
        msg = f"PostgreSQL {target.url}: a row has no value for a key column: {_first_line(exc)}"
    else:
        msg = f"PostgreSQL {target.url}: {_first_line(exc)}"
    return (StoreUnavailable if unavailable else StoreError)(redact(msg))


# Result columns to Arrow: by type OID, so empty results keep their types.
_OID_ARROW: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    19: pa.string(),
    1042: pa.string(),
    114: pa.string(),
    3802: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def rows_to_arrow(description: Sequence[Any] | None, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """An Arrow table from psycopg rows and their cursor description."""
    if not description:
        return pa.table({})
    names = [d.name for d in description]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays: list[pa.Array] = []
    for desc, values in zip(description, columns, strict=True):
        arrow_type = _OID_ARROW.get(desc.type_code)
        if arrow_type is None and not values:
            arrow_type = pa.string()
        arrays.append(pa.array(list(values), type=arrow_type))
    return pa.Table.from_arrays(arrays, names=names)
