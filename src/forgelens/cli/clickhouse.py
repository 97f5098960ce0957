"""``forgelens clickhouse``: ClickHouse-only helpers (the store itself is ``--db clickhouse://``)."""

from __future__ import annotations

from typing import Annotated

import typer

from forgelens.config import get_settings
from forgelens.store.clickhouse_kafka import kafka_ddl, render

app = typer.Typer(help="ClickHouse helpers: DDL to load Kafka topics.", no_args_is_help=True)


@app.command("kafka-ddl")
def kafka_ddl_cmd(
    cluster: Annotated[
        str | None,
        typer.Option(help="Cluster name: ON CLUSTER, Replicated local and Distributed tables."),
    ] = None,
    brokers: Annotated[
        str | None, typer.Option(help="Kafka brokers (default: KAFKA_BROKERS or localhost:9092).")
    ] = None,
    group: Annotated[str, typer.Option(help="Kafka consumer group.")] = "forgelens-clickhouse",
) -> None:
    """Print the Kafka-engine tables and materialized views that load the git.* topics.

    Example: forgelens clickhouse kafka-ddl --brokers kafka:9092 | clickhouse-client -n
    (without --cluster, create the tables first: forgelens db migrate --db clickhouse://...)
    """
    brokers = brokers or get_settings().kafka_brokers or "localhost:9092"
    typer.echo(render(kafka_ddl(brokers, group=group, cluster=cluster)), nl=False)
