"""Resource readings: CPU time of this and other processes, resident memory,
the file-descriptor limit. Linux only (``/proc``), like the benchmark."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

__all__ = [
    "CpuSpan",
    "pin_apart",
    "process_cpu_seconds",
    "raise_fd_limit",
    "rss_bytes",
    "self_cpu_seconds",
]

_TICKS = os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    """User plus system CPU time of this process (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (clock-tick resolution)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name (field 2) may hold spaces: count from its ")".
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def rss_bytes() -> int:
    """This process's resident set size (``VmRSS``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def raise_fd_limit(wanted: int = 1 << 20) -> int:
    """Raise the soft limit on open files towards the hard limit; the new
    soft limit. Thousands of sockets need it on both ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def pin_apart(server_pid: int) -> tuple[int, int] | None:
    """Pin this process (and the children it starts later) to the first CPU
    it may use and the server to the last; the two CPUs, or None with fewer
    than two. On a 2-core machine this keeps the scheduler from moving them
    onto one core, which made large-message runs swing by 2x."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    os.sched_setaffinity(server_pid, {cpus[-1]})
    os.sched_setaffinity(0, {cpus[0]})
    return cpus[0], cpus[-1]


@dataclass(slots=True)
class CpuSpan:
    """Wall time and the CPU time of this process and of the server during
    one measurement, accumulated over the measurements it covers."""

    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def add(self, other: CpuSpan) -> None:
        self.wall += other.wall
        self.client_cpu += other.client_cpu
        self.server_cpu += other.server_cpu

    def client_share(self) -> float:
        """Client CPU as a fraction of wall time (1.0: one core, busy)."""
        return self.client_cpu / self.wall if self.wall > 0 else 0.0

    def server_share(self) -> float:
        """Server CPU as a fraction of wall time."""
        return self.server_cpu / self.wall if self.wall > 0 else 0.0
