"""Processes a PISA server started below itself, found through /proc (Linux).

PISA's JVM starts Isabelle's poly process; Isabelle's process wrapper may put it in a session of its
own, out of reach of a signal to the JVM's process group. The reference clients then kill every
poly process on the machine. We instead record the JVM's descendants by pid and start time, and
stop exactly those: a recorded pid that now belongs to a different process is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """A process as the kernel saw it: pid plus start time (clock ticks after boot)."""

    pid: int
    start: int


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, start time, state) of `pid`, or None if it does not exist."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
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
    if not _PROC.is_dir():
        return []
    for entry in _PROC.iterdir():
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


async def terminate(procs: list[ProcessId], grace_seconds: float = 2.0) -> list[ProcessId]:
    """SIGTERM, then SIGKILL after the grace period, each still-identical process (and its group
    when it leads one); returns those still running afterwards (normally none)."""
    live = [p for p in procs if is_running(p)]
    for proc in live:
        _signal(proc, signal.SIGTERM)
    live = await _wait_gone(live, grace_seconds)
    for proc in live:
        _signal(proc, signal.SIGKILL)
    return await _wait_gone(live, 5.0)


async def _wait_gone(procs: list[ProcessId], seconds: float) -> list[ProcessId]:
    """Poll the process table until `procs` are gone or `seconds` pass; returns the survivors."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    live = [p for p in procs if is_running(p)]
    while live and loop.time() < deadline:
        await asyncio.sleep(0.05)  # no exit event exists for processes we are not the parent of
        live = [p for p in live if is_running(p)]
    return live


def _signal(proc: ProcessId, sig: signal.Signals) -> None:
    if not is_running(proc):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
