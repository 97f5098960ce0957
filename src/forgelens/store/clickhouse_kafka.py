"""DDL that loads the ``git.*`` Kafka topics into the ClickHouse store's tables, inside ClickHouse.

For teams that already run Kafka into ClickHouse: one ``Kafka``-engine table per topic reads the
seed 001 envelope ``{event_type, timestamp, source, repository_id, data}``, and one materialized
view per store table picks its events and turns ``data`` (the record's fields, by column name)
into the table's columns::

    forgelens clickhouse kafka-ddl --brokers kafka:9092 | clickhouse-client --multiquery

Routing: an event belongs to a table when its ``event_type`` without a trailing ``_created`` /
``_updated`` / ``_deleted`` / ``_upserted`` is the table's event name (``commit_created`` ->
``commit`` -> ``commits``). ``_version`` is ``data._version`` when the producer sent one, else the
envelope's ``timestamp`` in epoch milliseconds (seed 000's convention); ``_source`` is ``source``.

``cluster`` gives the sharded form: ``ON CLUSTER`` everywhere, ``Replicated`` local tables
(``<table>_local``) and a ``Distributed`` table under the usual name, sharded by
``repository_id`` (or the whole key) so that every version of a row lands on one shard, where
``FINAL`` can merge them; the views write into the ``Distributed`` tables.
"""

from __future__ import annotations

from forgelens.store._clickhouse_client import literal
from forgelens.store.schema import SERIAL, TABLES, TableSpec
from forgelens.store.sql import clickhouse_columns, clickhouse_engine, quote

# topic -> {table: event name}
TOPIC_TABLES: dict[str, dict[str, str]] = {
    "git.repositories": {"repositories": "repository"},
    "git.commits": {"commits": "commit", "commit_files": "commit_file"},
    "git.pull_requests": {
        "pull_requests": "pull_request",
        "pr_files": "pr_file",
        "pr_commits": "pr_commit",
    },
    "git.reviews": {"pr_reviews": "review"},
    "git.comments": {"pr_comments": "pr_comment", "issue_comments": "issue_comment"},
    "git.issues": {"issues": "issue"},
    "git.ci_runs": {"ci_runs": "ci_run"},
    "git.collection_runs": {"git_collection_runs": "collection_run"},
}

_EVENT = "replaceRegexpOne(_event_type, '_(created|updated|deleted|upserted)$', '')"
_ENVELOPE = "event_type String, timestamp String, source String, repository_id String, data String"


def kafka_table(topic: str) -> str:
    return "kafka_" + topic.replace(".", "_")


def _extract(name: str, logical: str, ch_type: str) -> str:
    """The expression that reads column ``name`` (ClickHouse type ``ch_type``) from ``data``."""
    base = ch_type.split(" DEFAULT ")[0]
    inner = base.removeprefix("Nullable(").removesuffix(")")
    key = literal(name)
    if logical == "ts":
        expr = f"parseDateTime64BestEffortOrNull(JSONExtractString(_data, {key}), 3, 'UTC')"
    elif logical == "date":
        expr = f"toDate32OrNull(JSONExtractString(_data, {key}))"
    elif logical == "json":
        expr = f"nullIf(JSONExtractRaw(_data, {key}), '')"
    else:
        expr = f"JSONExtract(_data, {key}, {literal(f'Nullable({inner})')})"
    if name == "repository_id":  # the envelope carries it too
        expr = f"ifNull({expr}, _repository_id)"
    if not base.startswith("Nullable("):
        expr = f"ifNull({expr}, defaultValueOfTypeName({literal(base)}))"
    return f"{expr} AS {quote(name)}"


def _select(spec: TableSpec, event: str, source: str) -> str:
    logical = dict(spec.all_columns())
    cols: list[str] = []
    for name, ch_type in clickhouse_columns(spec):
        if logical[name] == SERIAL:
            continue
        if name == "_version":
            cols.append(
                "ifNull(JSONExtract(_data, '_version', 'Nullable(UInt64)'), toUInt64("
                "toUnixTimestamp64Milli(parseDateTime64BestEffortOrZero(_timestamp, 3, 'UTC')))) "
                "AS _version"
            )
        elif name == "_source":
            cols.append("_envelope_source AS _source")
        else:
            cols.append(_extract(name, logical[name], ch_type))
    # the envelope's fields are renamed first: a table column (``source``) may share a name
    envelope = (
        "SELECT event_type AS _event_type, timestamp AS _timestamp, source AS _envelope_source, "
        f"repository_id AS _repository_id, data AS _data FROM {quote(source)}"
    )
    return (
        "SELECT\n  " + ",\n  ".join(cols) + f"\nFROM ({envelope})\n"
        f"WHERE {_EVENT} = {literal(event)}"
    )


def kafka_ddl(
    brokers: str, *, group: str = "forgelens-clickhouse", cluster: str | None = None
) -> list[str]:
    """The statements (in order) that make ClickHouse consume every ``git.*`` topic."""
    on = f" ON CLUSTER {quote(cluster)}" if cluster else ""
    stmts: list[str] = []
    if cluster:
        for spec in (TABLES[t] for tables in TOPIC_TABLES.values() for t in tables):
            stmts.extend(_cluster_tables(spec, cluster))
    for topic, tables in TOPIC_TABLES.items():
        source = kafka_table(topic)
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {quote(source)}{on} ({_ENVELOPE})\n"
            "ENGINE = Kafka SETTINGS\n"
            f"  kafka_broker_list = {literal(brokers)},\n"
            f"  kafka_topic_list = {literal(topic)},\n"
            f"  kafka_group_name = {literal(group)},\n"
            "  kafka_format = 'JSONEachRow',\n"
            "  kafka_handle_error_mode = 'stream',\n"
            "  input_format_json_read_objects_as_strings = 1"
        )
        for table, event in tables.items():
            view = f"{source}_to_{table}"
            stmts.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {quote(view)}{on} TO {quote(table)} AS\n"
                + _select(TABLES[table], event, source)
            )
    return stmts


def _cluster_tables(spec: TableSpec, cluster: str) -> list[str]:
    """``<table>_local`` (replicated) and ``<table>`` (distributed over it) on every node."""
    local = f"{spec.name}_local"
    body = ",\n  ".join(f"{quote(n)} {t}" for n, t in clickhouse_columns(spec))
    on = f" ON CLUSTER {quote(cluster)}"
    return [
        f"CREATE TABLE IF NOT EXISTS {quote(local)}{on} (\n  {body}\n) "
        + clickhouse_engine(spec, replicated=True),
        f"CREATE TABLE IF NOT EXISTS {quote(spec.name)}{on} AS {quote(local)}\n"
        f"ENGINE = Distributed({literal(cluster)}, currentDatabase(), {literal(local)}, "
        f"sipHash64({_shard_key(spec)}))",
    ]


def _shard_key(spec: TableSpec) -> str:
    """A repository's rows on one shard where the key has ``repository_id``, else the key."""
    keys = ["repository_id"] if "repository_id" in spec.key else list(spec.key)
    return ", ".join(quote(k) for k in keys)


def render(stmts: list[str]) -> str:
    """Statements as one script for ``clickhouse-client --multiquery``."""
    return "".join(f"{s};\n\n" for s in stmts)
