"""The kernel's process table read through /proc: processes named by pid and start time.

A pid alone can be reused after a process exits; pid plus start time names one process for good,
so stopping by it never hits another program (prover.processes, prover.leftovers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """A process as the kernel saw it: pid plus start time (clock ticks after boot)."""

    pid: int
    start: int


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of `pid`, or None if it does not exist."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may contain spaces
    return int(fields[1]), int(fields[19]), fields[0]


def identify(pid: int) -> ProcessId | None:
    info = _stat(pid)
    return None if info is None else ProcessId(pid, info[1])


def is_running(proc: ProcessId) -> bool:
    """True while the same process (not a zombie, not a reused pid) exists."""
    info = _stat(proc.pid)
    return info is not None and info[1] == proc.start and info[2] != "Z"


def descendants(pid: int) -> list[ProcessId]:
    """Every live process below `pid` (children, grandchildren, …); empty without /proc."""
    children: dict[int, list[ProcessId]] = {}
    if not PROC.is_dir():
        return []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        info = _stat(int(entry.name))
        if info is not None and info[2] != "Z":
            children.setdefault(info[0], []).append(ProcessId(int(entry.name), info[1]))
    found: list[ProcessId] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found
