"""Sampling a process tree's CPU, memory and disk I/O with psutil (seed 003's resource metrics).

    sampler = TreeSampler(pid, interval=5.0)
    sampler.start()
    ...                                   # the process works; a thread samples every interval
    usage = sampler.stop(rusage=...)      # -> ResourceUsage (peaks, averages, disk MB)

Each sample sums the tree (the process and all its descendants): resident memory, CPU seconds
and bytes read/written, per process since the sampler started. A process that ends between two
samples keeps the figures of its last sample. Averages: memory is the mean of the samples; CPU
is the tree's CPU time over wall time (exact when the caller supplies the end-of-run CPU time,
e.g. from ``os.wait4``); peaks are the highest sample (or interval), never below the average.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import psutil

MB = 1024 * 1024


@dataclass
class ResourceUsage:
    cpu_peak_percent: float
    cpu_avg_percent: float
    memory_peak_mb: float
    memory_avg_mb: float
    disk_read_mb: float | None
    disk_write_mb: float | None
    samples: int
    wall_seconds: float

    def as_metrics(self) -> dict[str, Any]:
        """The seed's ``resource_metrics`` object."""
        metrics: dict[str, Any] = {
            "cpu": {"peak_percent": self.cpu_peak_percent, "avg_percent": self.cpu_avg_percent},
            "memory": {"peak_mb": self.memory_peak_mb, "avg_mb": self.memory_avg_mb},
        }
        if self.disk_read_mb is not None and self.disk_write_mb is not None:
            metrics["disk"] = {"read_mb": self.disk_read_mb, "write_mb": self.disk_write_mb}
        return metrics


@dataclass
class _Seen:
    cpu: float = 0.0
    read: int = 0
    write: int = 0


@dataclass
class _Totals:
    t: float
    rss: int
    cpu: float


def environment_info() -> dict[str, Any]:
    """The seed's ``environment`` object for this machine."""
    return {
        "python_version": platform.python_version(),
        "hostname": socket.gethostname(),
        "os": sys.platform,
        "os_version": platform.release(),
        "cpu_cores": os.cpu_count() or 1,
        "total_memory_mb": int(psutil.virtual_memory().total // MB),
    }


def _cpu_of(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class TreeSampler:
    """Samples the tree under ``pid`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, pid: int, interval: float = 5.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.pid = pid
        self.interval = interval
        self._baseline: dict[tuple[int, float], _Seen] = {}
        self._seen: dict[tuple[int, float], _Seen] = {}
        self._totals: list[_Totals] = []
        self._io_ok = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._root_cpu_start: float | None = None

    # -- sampling -----------------------------------------------------------------------------
    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return []

    def sample(self) -> None:
        """Take one sample of the whole tree now."""
        rss = 0
        now = time.monotonic()
        current: dict[tuple[int, float], _Seen] = {}
        for proc in self._tree():
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    key = (proc.pid, proc.create_time())
                    seen = _Seen(cpu=_cpu_of(proc))
                    mem = proc.memory_info().rss
                    if self._io_ok:
                        try:
                            io = proc.io_counters()
                            seen.read, seen.write = io.read_bytes, io.write_bytes
                        except (AttributeError, NotImplementedError, psutil.AccessDenied):
                            self._io_ok = False
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            rss += mem
            current[key] = seen
        with self._lock:
            if not self._totals and not self._baseline:
                self._baseline = dict(current)
            self._seen.update(current)
            self._totals.append(_Totals(now, rss, self._tree_cpu()))

    def _tree_cpu(self) -> float:
        return sum(
            max(0.0, s.cpu - self._baseline.get(k, _Seen()).cpu) for k, s in self._seen.items()
        )

    def _loop(self) -> None:
        # Ramp up (0.1 s, 0.2 s, 0.4 s ... up to the interval) so that short runs get samples.
        wait = min(0.1, self.interval)
        while not self._stop.wait(wait):
            self.sample()
            wait = min(wait * 2, self.interval)

    def start(self) -> TreeSampler:
        self._started = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="forgelens-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(
        self, *, final_sample: bool = True, cpu_seconds: float | None = None, peak_rss: int = 0
    ) -> ResourceUsage:
        """Stop sampling and summarise.

        ``cpu_seconds``: the tree's exact CPU time for the run when the caller knows it (the
        rusage of a waited-for child, or this process's own CPU delta); ``peak_rss``: a known
        lower bound of the peak memory, in bytes. (Not ``ru_maxrss`` of a child: Linux counts
        the parent's memory at fork time in it.)
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if final_sample:
            self.sample()
        wall = max(time.monotonic() - self._started, 1e-6)
        with self._lock:
            totals = list(self._totals)
            seen, baseline = dict(self._seen), dict(self._baseline)
        cpu_total = cpu_seconds if cpu_seconds is not None else (totals[-1].cpu if totals else 0)
        cpu_avg = cpu_total / wall * 100
        interval_peaks = [
            (b.cpu - a.cpu) / (b.t - a.t) * 100 for a, b in pairwise(totals) if b.t - a.t > 0
        ]
        rss_samples = [t.rss for t in totals if t.rss > 0]
        mem_avg = sum(rss_samples) / len(rss_samples) if rss_samples else float(peak_rss)
        mem_peak = max([*rss_samples, peak_rss, 0])
        read = sum(max(0, s.read - baseline.get(k, _Seen()).read) for k, s in seen.items())
        write = sum(max(0, s.write - baseline.get(k, _Seen()).write) for k, s in seen.items())
        return ResourceUsage(
            cpu_peak_percent=round(max([cpu_avg, *interval_peaks]), 1),
            cpu_avg_percent=round(cpu_avg, 1),
            memory_peak_mb=round(max(mem_peak, mem_avg) / MB, 1),
            memory_avg_mb=round(mem_avg / MB, 1),
            disk_read_mb=round(read / MB, 1) if self._io_ok else None,
            disk_write_mb=round(write / MB, 1) if self._io_ok else None,
            samples=len(totals),
            wall_seconds=wall,
        )


@dataclass
class SelfCpu:
    """This process's CPU time including its waited-for children, for exact averages."""

    start: float = field(default_factory=lambda: SelfCpu.now())

    @staticmethod
    def now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def elapsed(self) -> float:
        return max(0.0, self.now() - self.start)


def sample_system(seconds: float = 5.0, samples: int = 5) -> dict[str, Any]:
    """The seed's interactive "Collect resource metrics?": this machine over ``seconds``.

    CPU is the system-wide percentage, memory the used MB, disk the MB read and written by all
    disks during the period. Returns a ``resource_metrics`` object.
    """
    step = max(seconds / max(samples, 1), 0.01)
    psutil.cpu_percent(interval=None)
    disk_start = psutil.disk_io_counters()
    cpu: list[float] = []
    mem: list[float] = []
    for _ in range(max(samples, 1)):
        time.sleep(step)
        cpu.append(psutil.cpu_percent(interval=None))
        mem.append(psutil.virtual_memory().used / MB)
    disk_end = psutil.disk_io_counters()
    metrics: dict[str, Any] = {
        "cpu": {"peak_percent": round(max(cpu), 1), "avg_percent": round(sum(cpu) / len(cpu), 1)},
        "memory": {"peak_mb": round(max(mem), 1), "avg_mb": round(sum(mem) / len(mem), 1)},
    }
    if disk_start is not None and disk_end is not None:
        metrics["disk"] = {
            "read_mb": round(max(0, disk_end.read_bytes - disk_start.read_bytes) / MB, 1),
            "write_mb": round(max(0, disk_end.write_bytes - disk_start.write_bytes) / MB, 1),
        }
    return metrics
