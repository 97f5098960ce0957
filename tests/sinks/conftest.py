"""Fixtures of the sinks tests: a fresh librdkafka mock cluster per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("confluent_kafka")

from tests.sinks.mock_cluster import MockCluster


@pytest.fixture
def kafka_cluster() -> Iterator[MockCluster]:
    cluster = MockCluster()
    yield cluster
    cluster.down()
