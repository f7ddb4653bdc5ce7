"""CPU seconds per process (and its descendants) between two moments, from /proc.

Benchmarks that run the whole stack on one machine share the cores between the servers under
test and the simulated phones, AC and load generator; wall-clock rates then say little about
what the server itself costs. Reading ``utime + stime`` (proc(5): fields 14 and 15 of
``/proc/<pid>/stat``, in clock ticks) of every process before and after the measured phase
gives each role's CPU, whatever else the box is doing.

A role is a root pid and all its descendants found at each reading (gunicorn workers, RADIUS
workers and their maintenance child): a descendant that appears during the phase counts in
full; one that exits during it loses what it used since the first reading (the benchmarks'
processes live for the whole run). A role's tree stops at another role's root: the load
generator starts every server, so its own tree holds them all, and until 2026-12-07 its
"CPU per login" was the whole box's (servers and simulator counted twice).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CpuMeter", "cpu_of_tree"]

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, utime + stime, stime) in seconds of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime/stime fields 14/15.
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, int(fields[12]) / _TICK


def _table() -> dict[int, tuple[int, float, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                out[int(entry)] = found
    return out


def cpu_of_tree(root: int, table: dict[int, tuple[int, float, float]] | None = None,
                stop: frozenset[int] = frozenset(), kernel: bool = False) -> dict[int, float]:
    """CPU seconds of ``root`` and each descendant, by pid; the subtrees of ``stop`` left out.
    ``kernel``: only the time spent in the kernel on their behalf (stime: system calls)."""
    table = table if table is not None else _table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out[pid] = table[pid][2 if kernel else 1]
            todo.extend(c for c in children.get(pid, ()) if c not in stop)
    return out


class CpuMeter:
    """``start()`` then ``stop()``: CPU seconds each named role used in between."""

    def __init__(self, roles: dict[str, int]) -> None:
        self.roles = roles   # name → root pid
        self._before: dict[str, dict[int, float]] = {}
        self._before_kernel: dict[str, dict[int, float]] = {}
        self.kernel: dict[str, float] = {}     # of what stop() returned, the kernel's part (stime)

    def _read(self, kernel: bool = False,
              table: dict[int, tuple[int, float, float]] | None = None) -> dict[str, dict[int, float]]:
        table = table if table is not None else _table()
        roots = frozenset(self.roles.values())
        return {name: cpu_of_tree(pid, table, roots - {pid}, kernel) for name, pid in self.roles.items()}

    def start(self) -> None:
        table = _table()
        self._before, self._before_kernel = self._read(False, table), self._read(True, table)

    def stop(self) -> dict[str, float]:
        table = _table()
        used = self._diff(self._read(False, table), self._before)
        self.kernel = self._diff(self._read(True, table), self._before_kernel)
        return used

    @staticmethod
    def _diff(after: dict[str, dict[int, float]],
              before_all: dict[str, dict[int, float]]) -> dict[str, float]:
        used = {}
        for name, pids in after.items():
            before = before_all.get(name, {})
            used[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in pids.items())
        return used

    @staticmethod
    def report(used: dict[str, float], count: int, what: str = "login",
               server: tuple[str, ...] = (), kernel: dict[str, float] | None = None) -> list[str]:
        """Lines: CPU ms per ``what`` for each role (and of it, with ``kernel``, the part spent
        in system calls: sockets, futexes, epoll), and the server roles' total."""
        head = f"  CPU per {what} (ms, utime+stime from /proc, each process and its children"
        lines = [head + ("; in brackets the kernel's part, stime):" if kernel else "):")]
        ms = 1000 / count
        for name, seconds in used.items():
            part = f"  ({kernel.get(name, 0.0) * ms:6.3f})" if kernel else ""
            lines.append(f"    {name:<16} {seconds * ms:8.3f}{part}")
        if server:
            total = sum(used[name] for name in server if name in used)
            part = (f"  ({sum(kernel.get(name, 0.0) for name in server) * ms:6.3f})" if kernel else "")
            lines.append(f"    {'server total':<16} {total * ms:8.3f}{part}   ({' + '.join(server)})")
        return lines
