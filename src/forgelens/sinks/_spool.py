"""A local, append-only spool of messages the brokers did not take (one JSON line each).

Messages land here when delivery fails (brokers down, timeouts); ``sync()`` fsyncs them. The
next run (or ``forgelens sink flush``) takes the whole spool over with ``claim()`` (an atomic
rename, so two senders never send the same file), re-sends it, and ``release()``s the claim
once every message was acknowledged or spooled again. A claim left by a crashed sender is
picked up again by the next ``claim()``: delivery is at least once, and consumers upsert.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from forgelens.errors import BadInput


@dataclass(frozen=True, slots=True)
class Spooled:
    topic: str
    key: bytes | None
    value: bytes


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self.appended = 0

    def append(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self._file is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise BadInput(
                    f"cannot write the Kafka spool {self.path}: {exc.strerror}; "
                    "free space or point FORGELENS_CACHE_DIR elsewhere"
                ) from exc
        line = {
            "topic": topic,
            "key": base64.b64encode(key).decode() if key is not None else None,
            "value": base64.b64encode(value).decode(),
        }
        self._file.write(json.dumps(line) + "\n")
        self.appended += 1

    def sync(self) -> None:
        """Make every appended message durable (flush + fsync)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    def pending(self) -> int:
        """How many messages wait in the spool and in unreleased claims."""
        return sum(_count_lines(p) for p in self._files())

    def _files(self) -> list[Path]:
        claims = sorted(self.path.parent.glob(self.path.name + ".sending-*"))
        return [*claims, self.path] if self.path.exists() else claims

    def claim(self) -> list[Path]:
        """Take over the spool (and claims a crashed sender left); the caller re-sends them."""
        self.close()
        claims = sorted(self.path.parent.glob(self.path.name + ".sending-*"))
        if self.path.exists():
            target = self.path.with_name(f"{self.path.name}.sending-{os.getpid()}-{len(claims)}")
            os.replace(self.path, target)
            claims.append(target)
        return claims

    @staticmethod
    def read(path: Path) -> Iterator[Spooled]:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a crash mid-write: its message was never acked
                key = base64.b64decode(item["key"]) if item.get("key") is not None else None
                yield Spooled(item["topic"], key, base64.b64decode(item["value"]))

    @staticmethod
    def release(claims: list[Path]) -> None:
        for path in claims:
            path.unlink(missing_ok=True)


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0
