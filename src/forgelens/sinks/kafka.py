"""``KafkaSink``: publish every collected record to the ``git.*`` topics (see ``sinks.topics``).

An idempotent, compressing librdkafka producer; every delivery report is counted. ``flush()``
returns only when each message is acknowledged by the brokers or, if they could not take it
(brokers down, timeouts), written to the local spool and fsync'd: nothing is lost, and the next
run or ``forgelens sink flush`` re-sends the spool. Records that cannot be serialized (or are
too large for the brokers) go to ``git.dlq`` with the error instead of stopping the run.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from forgelens.errors import BadInput
from forgelens.logs import get_logger, redact
from forgelens.sinks._spool import Spool
from forgelens.sinks.topics import DLQ_TOPIC, encode

log = get_logger(__name__)

DEFAULT_CONFIG: dict[str, Any] = {
    "enable.idempotence": True,  # acks=all, no duplicates or reordering on retries
    "compression.type": "lz4",
    "linger.ms": 20,
    "batch.num.messages": 10_000,
    "message.timeout.ms": 30_000,  # how long a message may wait for brokers before spooling
    "queue.buffering.max.messages": 500_000,
}


def import_kafka() -> Any:
    """confluent_kafka, or a BadInput that names the extra to install."""
    try:
        import confluent_kafka
    except ImportError as exc:  # pragma: no cover - depends on installed extras
        raise BadInput("Kafka support is not installed: pip install 'forgelens[kafka]'") from exc
    return confluent_kafka


class KafkaLog:
    """librdkafka's log lines, routed to our structured log (debug) instead of raw stderr."""

    def log(self, level: int, fmt: str, *args: Any) -> None:
        text = fmt % args if args else fmt
        log.debug("librdkafka", level=logging.getLevelName(level), line=redact(text))


def client_config(brokers: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    if not brokers.strip():
        raise BadInput("no Kafka brokers: set KAFKA_BROKERS=host:9092[,host2:9092]")
    return {"bootstrap.servers": brokers, "logger": KafkaLog(), **(extra or {})}


@dataclass
class SinkStats:
    produced: int = 0  # handed to librdkafka (dead letters and re-sent messages included)
    delivered: int = 0
    spooled: int = 0
    dead_lettered: int = 0
    resent: int = 0


class KafkaSink:
    """A ``Sink`` that writes to Kafka (``KAFKA_BROKERS``), spooling what the brokers refuse."""

    def __init__(
        self,
        brokers: str,
        spool_path: Path,
        *,
        config: Mapping[str, Any] | None = None,
        poll_every: int = 1000,
    ) -> None:
        kafka = import_kafka()
        self._kafka = kafka
        self.brokers = brokers
        self.stats = SinkStats()
        self.spool = Spool(spool_path)
        self._poll_every = poll_every
        self._since_poll = 0
        self._last_version = 0
        self._errors_logged: set[str] = set()
        settings = {**DEFAULT_CONFIG, **(config or {})}
        # a dead letter carries an excerpt of the record that surely fits in one message
        self._excerpt = max(200, min(20_000, int(settings.get("message.max.bytes", 1e6)) // 3))
        try:
            self._producer = kafka.Producer(
                {**client_config(brokers, settings), "error_cb": self._on_error}
            )
        except kafka.KafkaException as exc:
            raise BadInput(f"Kafka producer configuration rejected: {exc}") from exc

    # -- the Sink protocol --------------------------------------------------------------------
    def publish(self, records: Sequence[Any], *, source: str) -> None:
        version = self._version()
        stamp = datetime.now(UTC).isoformat()
        for rec in records:
            try:
                topic, key, value = encode(rec, source=source, version=version, timestamp=stamp)
            except (TypeError, ValueError) as exc:
                self._dead_letter(rec, source, f"cannot serialize: {exc}")
                continue
            self._produce(topic, key, value, record=rec, source=source)

    def flush(self) -> None:
        """Block until every message is acknowledged or spooled (and the spool fsync'd)."""
        while len(self._producer) > 0:
            self._producer.flush(1.0)
        self.spool.sync()

    def close(self) -> None:
        self.flush()
        self.spool.close()

    # -- the spool ----------------------------------------------------------------------------
    def resend(self) -> int:
        """Re-send every spooled message; what fails again is spooled again. Returns the count."""
        claims = self.spool.claim()
        sent = 0
        for path in claims:
            for item in Spool.read(path):
                self._produce(item.topic, item.key, item.value, record=None, source=None)
                sent += 1
        self.flush()
        Spool.release(claims)
        self.stats.resent += sent
        if sent:
            log.info("kafka spool re-sent", messages=sent, spooled_again=self.stats.spooled)
        return sent

    # -- internals ----------------------------------------------------------------------------
    def _version(self) -> int:
        self._last_version = max(time.time_ns() // 1_000_000, self._last_version + 1)
        return self._last_version

    def _produce(
        self, topic: str, key: bytes | None, value: bytes, *, record: Any, source: str | None
    ) -> None:
        kafka = self._kafka
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.1)  # local queue full: let deliveries drain
            except kafka.KafkaException as exc:
                err = exc.args[0] if exc.args else None
                code = err.code() if err is not None and hasattr(err, "code") else None
                if code == kafka.KafkaError.MSG_SIZE_TOO_LARGE and topic != DLQ_TOPIC:
                    reason = f"message of {len(value)} bytes is larger than the brokers accept"
                    self._dead_letter(record, source or "", reason, topic=topic, raw=value)
                else:
                    self.spool.append(topic, key, value)
                    self.stats.spooled += 1
                return
        self.stats.produced += 1
        self._since_poll += 1
        if self._since_poll >= self._poll_every:
            self._since_poll = 0
            self._producer.poll(0)

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is None:
            self.stats.delivered += 1
            return
        self.spool.append(msg.topic(), msg.key(), msg.value())
        self.stats.spooled += 1
        self._log_once("kafka delivery failed; message spooled", err)

    def _on_error(self, err: Any) -> None:
        self._log_once("kafka client error", err)

    def _log_once(self, event: str, err: Any) -> None:
        name = str(err.name()) if hasattr(err, "name") else str(err)
        if name not in self._errors_logged:
            self._errors_logged.add(name)
            log.warning(event, error=redact(str(err)), brokers=self.brokers)

    def _dead_letter(
        self,
        record: Any,
        source: str,
        error: str,
        *,
        topic: str | None = None,
        raw: bytes | None = None,
    ) -> None:
        table = getattr(record, "TABLE", None)
        data = {
            "error": error,
            "table": table,
            "topic": topic,
            "record": (repr(record) if raw is None else raw.decode("utf-8", "replace"))[
                : self._excerpt
            ],
        }
        repo = getattr(record, "repository_id", None)
        envelope = {
            "event_type": "dead_letter",
            "timestamp": datetime.now(UTC).isoformat(),
            "source": source,
            "repository_id": repo if isinstance(repo, str) else None,
            "data": data,
        }
        key = repo.encode() if isinstance(repo, str) else None
        self.stats.dead_lettered += 1
        log.warning("record sent to the dead-letter topic", table=table, error=error)
        value = json.dumps(envelope, default=str).encode()
        self._produce(DLQ_TOPIC, key, value, record=None, source=source)

    @property
    def failed_records(self) -> int:
        """Records that could not be published (sent to ``git.dlq``): the run counts them."""
        return self.stats.dead_lettered

    def summary(self) -> dict[str, int]:
        return asdict(self.stats)


def open_kafka_sink(brokers: str | None, cache_dir: Path) -> KafkaSink:
    """The sink the CLI and service use: ``KAFKA_BROKERS``, spool under the cache directory."""
    if not brokers:
        raise BadInput("--sink kafka needs brokers: set KAFKA_BROKERS=host:9092[,host2:9092]")
    return KafkaSink(brokers, cache_dir / "kafka-spool.jsonl")
