"""librdkafka's mock cluster: real Kafka protocol on a local socket, no broker to install."""

from __future__ import annotations

import json
from typing import Any

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

from forgelens.sinks.kafka import KafkaLog  # noqa: E402


class MockCluster:
    """A mock cluster lives inside a client; ``down()`` destroys it (broker failure)."""

    def __init__(self) -> None:
        self._holder: Any = confluent_kafka.Producer(
            {"test.mock.num.brokers": 1, "logger": KafkaLog()}
        )
        brokers = self._holder.list_topics(timeout=10).brokers.values()
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)

    def down(self) -> None:
        self._holder = None

    def read(self, topics: list[str], *, expect: int, timeout: float = 20) -> list[Any]:
        """Every message of ``topics`` from the start (no consumer group: no join delay)."""
        import time

        consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "test-reader",
                "enable.auto.commit": False,
                "logger": KafkaLog(),
            }
        )
        meta = consumer.list_topics(timeout=10)
        parts = [
            confluent_kafka.TopicPartition(t, p, confluent_kafka.OFFSET_BEGINNING)
            for t in topics
            if t in meta.topics
            for p in meta.topics[t].partitions
        ]
        consumer.assign(parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(out) < expect and time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    out.append(msg)
        finally:
            consumer.close()
        return out


def envelope(msg: Any) -> dict[str, Any]:
    return json.loads(msg.value())  # type: ignore[no-any-return]
