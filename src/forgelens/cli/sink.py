"""``forgelens sink``: the Kafka sink's spool (messages the brokers could not take yet)."""

from __future__ import annotations

import typer

from forgelens.cli._common import console
from forgelens.config import Settings, get_settings
from forgelens.errors import BadInput
from forgelens.sinks.kafka import KafkaSink, open_kafka_sink

app = typer.Typer(help="Re-send or inspect what the Kafka sink spooled.", no_args_is_help=True)


def kafka_sink_for(choice: str | None, settings: Settings) -> KafkaSink | None:
    """The sink ``--sink`` names (``kafka`` / ``none``); by default kafka iff KAFKA_BROKERS is set.

    Messages a previous run spooled are re-sent first.
    """
    choice = (choice or ("kafka" if settings.kafka_brokers else "none")).lower()
    if choice == "none":
        return None
    if choice != "kafka":
        raise BadInput(f"unknown sink {choice!r}: use --sink kafka or --sink none")
    sink = open_kafka_sink(settings.kafka_brokers, settings.cache_dir)
    sink.resend()
    return sink


@app.command("flush")
def flush() -> None:
    """Re-send every spooled message to KAFKA_BROKERS. Example: forgelens sink flush"""
    settings = get_settings()
    sink = open_kafka_sink(settings.kafka_brokers, settings.cache_dir)
    try:
        sent = sink.resend()
    finally:
        sink.close()
    left = sink.spool.pending()
    console.print(
        f"re-sent {sent} message(s): {sink.stats.delivered} acknowledged, "
        f"{left} still spooled in {sink.spool.path}"
    )
    if left:
        raise typer.Exit(1)


@app.command("status")
def status() -> None:
    """How many messages wait in the spool. Example: forgelens sink status"""
    settings = get_settings()
    from forgelens.sinks._spool import Spool

    spool = Spool(settings.cache_dir / "kafka-spool.jsonl")
    console.print(f"{spool.pending()} message(s) spooled in {spool.path}")
