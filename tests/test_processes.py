"""The one process starter: own group, memory cap, and stopping by id (descendants included)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from prover.processes import ProcessSpec, ProcessTracker, identify, is_running

# The child starts a grandchild in a session of its own (as Isabelle's wrapper does), prints its
# pid, then waits forever.
_PARENT = """
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                              start_new_session=True)
print(grandchild.pid, flush=True)
time.sleep(600)
"""


def _rlimit_as(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return line.split()[3]
    raise AssertionError("no address-space line")


async def test_stop_reaches_descendants_outside_the_group_and_nothing_else():
    tracker = ProcessTracker()
    bystander = await tracker.start(
        ProcessSpec((sys.executable, "-c", "import time; time.sleep(600)"))
    )
    child = await tracker.start(
        ProcessSpec((sys.executable, "-c", _PARENT), memory_limit_bytes=4 * 1024**3)
    )
    assert child.proc.stdout is not None
    grandchild_pid = int((await child.proc.stdout.readline()).strip())
    grandchild = identify(grandchild_pid)
    assert grandchild is not None and is_running(grandchild)
    assert os.getpgid(child.pid) == child.pid != os.getpgid(grandchild_pid)
    assert _rlimit_as(child.pid) == str(4 * 1024**3)

    await tracker.stop(child)
    assert not child.alive
    assert not is_running(grandchild)
    assert tracker.pids == [bystander.pid]  # the other process we started is untouched

    await tracker.stop_all()
    assert tracker.pids == [] and not bystander.alive
