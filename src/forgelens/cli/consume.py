"""``forgelens consume``: the Data Processor — Kafka topics ``git.*`` into a store."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from typing import Annotated

import typer

from forgelens.cli._common import DbOption, RichProgress, console, parse_duration, store_for
from forgelens.config import get_settings
from forgelens.engine.consume import DEFAULT_GROUP, consume


def consume_cmd(
    brokers: Annotated[
        str | None, typer.Option(help="Kafka brokers (default: KAFKA_BROKERS).")
    ] = None,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = DEFAULT_GROUP,
    batch_size: Annotated[int, typer.Option(help="Messages per store transaction.")] = 5000,
    until_idle: Annotated[
        str | None, typer.Option(help="Stop after this long without a message (e.g. 30s).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Read the git.* topics in a consumer group and upsert every record into the store.

    Offsets are committed only after the store write, so a crash re-reads and converges.
    Example: forgelens consume --db postgresql://localhost/forgelens --until-idle 60s
    """
    settings = get_settings()
    idle = parse_duration(until_idle).total_seconds() if until_idle else None
    store = store_for(db)
    progress = RichProgress("messages")
    stop = threading.Event()  # SIGTERM (docker stop, kubernetes) ends after the current batch
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = consume(
            store,
            brokers or settings.kafka_brokers or "",
            group_id=group,
            batch_size=batch_size,
            idle_seconds=idle,
            stop=stop,
            progress=progress,
        )
    except KeyboardInterrupt:
        console.print("stopped; offsets of every stored batch are committed")
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
        store.close()
    console.print(f"consumed: {asdict(stats)} into {store.url}")
