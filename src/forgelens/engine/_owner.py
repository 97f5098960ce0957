"""Who owns a run or a backfill lease: host, PID and the process's start time.

A successor on the same host judges a killed owner dead at once instead of waiting for its
heartbeat or lease to lapse. A PID alone is not enough: PIDs wrap (32,768 by default on
Linux), and a reused one would keep a killed run's chunk held until its lease ends. The start
time the OS reports for that PID tells a newer process apart from the owner.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil


def started(pid: int) -> str | None:
    """When process ``pid`` started (epoch seconds, 2 decimals), None if there is none."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:  # e.g. access denied: it exists, its start time is unknown
        return ""


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str | None = None  # None: recorded before start times were (PID only)

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, started(pid))

    def gone(self) -> bool:
        """True when this owner's process on this host has ended (its PID is free, or now
        names a process that started at another time); False when it lives or lives elsewhere
        (another host: the heartbeat or lease decides)."""
        if self.host != socket.gethostname():
            return False
        now = started(self.pid)
        if now is None:
            return True
        return bool(self.start and now and now != self.start)

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"
