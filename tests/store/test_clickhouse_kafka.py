"""The Kafka DDL is accepted by ClickHouse (chDB) and routes envelopes into the store's tables.

Everything but the Kafka connection itself: the ``Kafka`` engine clause is swapped for ``Null``,
so inserting envelopes into the topic tables fires the materialized views as Kafka would.
"""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from forgelens.cli import app
from forgelens.store import Store
from forgelens.store._clickhouse_client import literal
from forgelens.store.clickhouse_kafka import TOPIC_TABLES, kafka_ddl, kafka_table

_KAFKA_ENGINE = re.compile(r"ENGINE = Kafka SETTINGS.*", re.S)


def _envelope(event: str, data: dict[str, object], ts: str = "2026-02-13T12:00:00Z") -> str:
    return json.dumps(
        {
            "event_type": event,
            "timestamp": ts,
            "source": "github",
            "repository_id": "github:o/r",
            "data": data,
        }
    )


def _load(store: Store, topic: str, *messages: str) -> None:
    store.execute(f"INSERT INTO {kafka_table(topic)} FORMAT JSONEachRow " + "\n".join(messages))


def test_views_load_envelopes_into_tables_newest_version_wins(chdb_store: Store) -> None:
    store = chdb_store
    for stmt in kafka_ddl("kafka:9092"):
        store.execute(_KAFKA_ENGINE.sub("ENGINE = Null", stmt))
    commit = {
        "sha": "abc",
        "message": "first",
        "additions": 3,
        "parents": ["p0"],
        "committed_at": "2026-02-13T11:00:00Z",
        "is_merge": False,
    }
    _load(
        store,
        "git.commits",
        _envelope("commit_created", commit),
        _envelope("commit_updated", {**commit, "message": "amended"}, "2026-02-13T12:00:01Z"),
        _envelope("commit_file_created", {"sha": "abc", "path": "a.py", "additions": None}),
        _envelope("something_else", {"sha": "zzz"}),
    )
    rows = store.query_dicts("SELECT * FROM commits")
    assert len(rows) == 1
    row = rows[0]
    assert (row["repository_id"], row["sha"], row["message"]) == ("github:o/r", "abc", "amended")
    assert (row["additions"], row["parents"], row["_source"]) == (3, '["p0"]', "github")
    assert row["committed_at"].isoformat() == "2026-02-13T11:00:00+00:00"
    assert row["_version"] == 1770984001000  # the envelope's timestamp, epoch ms
    assert store.query("SELECT path, additions FROM commit_files") == [("a.py", None)]
    run = {
        "run_id": "insight_github-1",
        "started_at": "2026-02-13 12:00:00.000",
        "status": "running",
        "settings": {"since": "2026-01-01"},
        "commits_collected": 5,
    }
    _load(store, "git.collection_runs", _envelope("collection_run_updated", run))
    assert store.query(
        "SELECT run_id, status, commits_collected, JSONExtractString(settings, 'since'), "
        "data_source FROM git_collection_runs"
    ) == [("insight_github-1", "running", 5, "2026-01-01", "")]


def test_every_topic_has_a_kafka_table_and_views(chdb_store: Store) -> None:
    ddl = kafka_ddl("b1:9092,b2:9092", group="g")
    for topic, tables in TOPIC_TABLES.items():
        assert sum(f"kafka_topic_list = {literal(topic)}" in s for s in ddl) == 1
        for table in tables:
            assert sum(f'TO "{table}" AS' in s for s in ddl) == 1
    assert len(TOPIC_TABLES) == 8


def test_cluster_ddl_parses_and_uses_replicated_and_distributed(chdb_store: Store) -> None:
    ddl = kafka_ddl("kafka:9092", cluster="prod")
    for stmt in ddl:  # parsed by ClickHouse itself (a cluster cannot exist here)
        assert chdb_store.query(f"SELECT formatQuery({literal(stmt)})")[0][0]
        assert 'ON CLUSTER "prod"' in stmt
    text = "\n".join(ddl)
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}'" in text
    assert (
        "Distributed('prod', currentDatabase(), 'commits_local', sipHash64(\"repository_id\"))"
        in text
    )
    # the same statements, minus the cluster, run on one node
    for stmt in ddl:
        local = stmt.replace(' ON CLUSTER "prod"', "").replace(
            "ReplicatedReplacingMergeTree(", "ReplacingMergeTree("
        )
        local = re.sub(
            r"ReplacingMergeTree\('[^']*', '\{replica\}', ", "ReplacingMergeTree(", local
        )
        local = re.sub(
            r"ENGINE = Distributed\(.*\)", "ENGINE = Merge(currentDatabase(), '^x$')", local
        )
        chdb_store.execute(_KAFKA_ENGINE.sub("ENGINE = Null", local))


def test_cli_prints_the_ddl() -> None:
    result = CliRunner().invoke(app, ["clickhouse", "kafka-ddl", "--brokers", "k:9092"])
    assert result.exit_code == 0, result.output
    assert "kafka_broker_list = 'k:9092'" in result.output
    assert result.output.count(";\n") == len(kafka_ddl("k:9092"))
