"""The Data Processor of seed 001: read the ``git.*`` topics and upsert into a store.

A consumer group reads every topic of ``sinks.topics``; each batch of messages is decoded and
upserted in one store transaction, and only then are the offsets committed. A crash between
the write and the commit re-reads the batch, and because upserts are idempotent (newest
``_version`` wins) the store converges to the same rows. Messages that are not ours go to
``git.dlq`` with the reason.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from forgelens.engine.progress import NullProgress, Progress
from forgelens.errors import ForgeError
from forgelens.logs import get_logger, redact
from forgelens.sinks.kafka import DEFAULT_CONFIG, client_config, import_kafka
from forgelens.sinks.topics import DLQ_TOPIC, TOPICS, decode
from forgelens.store import Store
from forgelens.store.schema import TABLES, TableSpec

log = get_logger(__name__)
DEFAULT_GROUP = "forgelens-processor"


@dataclass
class ConsumeStats:
    messages: int = 0
    rows: int = 0
    batches: int = 0
    invalid: int = 0
    busy_seconds: float = 0.0  # from the first message received to the last offset commit


def typed_row(spec: TableSpec, data: Mapping[str, Any], source: str | None) -> dict[str, Any]:
    """A message's ``data`` with timestamps and dates parsed back from ISO text."""
    row: dict[str, Any] = {}
    for name, logical in spec.all_columns():
        value = data.get(name)
        if isinstance(value, str) and logical == "ts":
            value = datetime.fromisoformat(value)
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, str) and logical == "date":
            value = date.fromisoformat(value)
        row[name] = value
    if not row.get("_source"):
        row["_source"] = source
    return row


class _DeadLetters:
    def __init__(self, kafka: Any, brokers: str, config: Mapping[str, Any]) -> None:
        self._kafka, self._brokers, self._config = kafka, brokers, config
        self._producer: Any = None

    def send(self, msg: Any, error: str) -> None:
        if self._producer is None:
            self._producer = self._kafka.Producer(client_config(self._brokers, self._config))
        value = msg.value() or b""
        envelope = {
            "event_type": "dead_letter",
            "timestamp": datetime.now(UTC).isoformat(),
            "source": None,
            "repository_id": None,
            "data": {
                "error": error,
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "record": value[:20_000].decode("utf-8", "replace"),
            },
        }
        self._producer.produce(DLQ_TOPIC, json.dumps(envelope).encode(), msg.key())

    def flush(self) -> None:
        if self._producer is not None:
            while len(self._producer) > 0:
                self._producer.flush(1.0)


def consume(
    store: Store,
    brokers: str,
    *,
    group_id: str = DEFAULT_GROUP,
    topics: Sequence[str] = TOPICS,
    batch_size: int = 5000,
    idle_seconds: float | None = None,
    max_messages: int | None = None,
    config: Mapping[str, Any] | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
) -> ConsumeStats:
    """Consume until ``stop`` is set, ``idle_seconds`` pass without a message, or
    ``max_messages`` were written."""
    kafka = import_kafka()
    progress = progress or NullProgress()
    stop = stop or threading.Event()
    extra = {
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **(config or {}),
    }
    consumer = kafka.Consumer(client_config(brokers, extra))
    dead = _DeadLetters(kafka, brokers, {**DEFAULT_CONFIG, **(config or {})})
    stats = ConsumeStats()
    quiet = {kafka.KafkaError.UNKNOWN_TOPIC_OR_PART, kafka.KafkaError._PARTITION_EOF}
    assigned: list[float] = []  # when the group gave us partitions: idle time counts from then

    def on_assign(_consumer: Any, partitions: Any) -> None:
        if partitions:
            assigned.append(time.monotonic())

    consumer.subscribe(list(topics), on_assign=on_assign)
    progress.start(f"consuming {', '.join(topics)}")
    started = idle_since = time.monotonic()
    first_at = 0.0
    try:
        while not stop.is_set():
            good = []
            for msg in consumer.consume(num_messages=batch_size, timeout=0.5):
                err = msg.error()
                if err is None:
                    good.append(msg)
                elif err.fatal():
                    raise ForgeError(f"Kafka consumer failed: {redact(str(err))}; check --brokers")
                elif err.code() not in quiet:
                    log.warning("kafka consumer error", error=redact(str(err)))
            if not good:
                now = time.monotonic()
                if idle_seconds is not None and assigned:
                    if now - max(idle_since, assigned[-1]) >= idle_seconds:
                        break
                elif idle_seconds is not None and now - started >= max(idle_seconds, 60):
                    log.warning("no partitions assigned; is Kafka reachable?", brokers=brokers)
                    break
                continue
            idle_since = time.monotonic()
            first_at = first_at or idle_since
            rows = _decode_batch(good, dead, stats)
            with store.transaction():
                for table, table_rows in sorted(rows.items()):
                    stats.rows += store.upsert(table, table_rows)
            dead.flush()
            _commit(consumer, kafka)  # only now: a crash before this re-reads the batch
            stats.messages += len(good)
            stats.batches += 1
            stats.busy_seconds = time.monotonic() - first_at
            progress.advance(len(good))
            if max_messages is not None and stats.messages >= max_messages:
                break
    finally:
        progress.finish()
        consumer.close()
        dead.flush()
    return stats


def _decode_batch(
    messages: Sequence[Any], dead: _DeadLetters, stats: ConsumeStats
) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for msg in messages:
        try:
            table, data, source = decode(msg.value() or b"")
            if table not in TABLES:
                raise ValueError(f"no table {table!r} in this store's schema")
            rows.setdefault(table, []).append(typed_row(TABLES[table], data, source))
        except ValueError as exc:
            stats.invalid += 1
            log.warning("message sent to the dead-letter topic", topic=msg.topic(), error=str(exc))
            dead.send(msg, str(exc))
    return rows


def _commit(consumer: Any, kafka: Any) -> None:
    try:
        consumer.commit(asynchronous=False)
    except kafka.KafkaException as exc:  # e.g. a rebalance took the partitions: re-read later
        log.warning("kafka offset commit failed; the batch will be read again", error=str(exc))
