"""Stopping what a Dojo started: LeanDojo's own cleanup first, then its process group.

`Dojo.__enter__` spawns `lake env lean …` through pexpect, whose child leads its own session and
process group, so the group id is the child's pid. `Dojo.__exit__` kills the child's descendants
through psutil, which misses anything orphaned once the leader died; it also never reaps the child
or closes the pty, and nothing is cleaned up when `__enter__` itself fails. We add all three.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any

# LeanDojo chdirs the whole process while it spawns Lean (utils.working_directory) and while it
# resolves local repositories; two threads doing that at once can leave the process in the wrong
# directory. Everything that may chdir runs under this one process-wide lock.
CWD_LOCK = threading.Lock()

OOM_EXIT_CODE = 137  # 128 + SIGKILL: how LeanDojo recognises an out-of-memory kill


def process_group(dojo: Any) -> int | None:
    """The process-group id of the Lean process a Dojo spawned, if it spawned one."""
    pid = getattr(getattr(dojo, "proc", None), "pid", None)
    return pid if isinstance(pid, int) and pid > 0 else None


def kill_group(pgid: int | None) -> None:
    """SIGKILL a process group we started; never blocks."""
    if pgid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def exit_code(dojo: Any, wait_seconds: float) -> int | None:
    """The exit status of the Dojo's process (128 + signal when killed) if it ends in time."""
    proc = getattr(dojo, "proc", None)
    if proc is None or not hasattr(proc, "isalive"):
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            alive = proc.isalive()
        except Exception:  # pexpect raises if the child cannot be waited for any more
            return None
        if not alive:
            break
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)  # the process closed its pty (EOF) and is exiting: poll briefly
    if getattr(proc, "exitstatus", None) is not None:
        return int(proc.exitstatus)
    if getattr(proc, "signalstatus", None) is not None:
        return 128 + int(proc.signalstatus)
    return None


def release(dojo: Any, *, entered: bool) -> None:
    """Exit `dojo` (or clean up after its failed `__enter__`) and stop every process it started."""
    pgid = process_group(dojo)
    try:
        if entered:
            dojo.__exit__(None, None, None)
        elif pgid is not None and hasattr(dojo, "modified_file"):
            dojo.__exit__(None, None, None)  # LeanDojo's own cleanup also deletes its temp file
        elif getattr(dojo, "modified_file", None) is not None:
            dojo.modified_file.__exit__(None, None, None)
    finally:
        kill_group(pgid)
        proc = getattr(dojo, "proc", None)
        if pgid is not None and hasattr(proc, "close"):
            with contextlib.suppress(Exception):
                proc.close(force=True)  # reaps the child and closes the pty
