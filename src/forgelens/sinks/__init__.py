"""Sinks: where collected records go besides the store (Kafka topics ``git.*``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Sink(Protocol):
    """Receives every record batch after the store committed it."""

    def publish(self, records: Sequence[Any], *, source: str) -> None: ...

    def flush(self) -> None:
        """Block until everything published is acknowledged (or safely spooled)."""
        ...

    def close(self) -> None: ...


def failed_records(sink: Sink | None) -> int:
    """Records a sink could not publish at all (dead letters), for the run's ``errors``."""
    return int(getattr(sink, "failed_records", 0)) if sink is not None else 0
