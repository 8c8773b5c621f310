"""The one process starter: own group, memory cap, stopping by id (descendants included), bounded
reading of child output, parent-death signal, and the ledger that outlives a killed runner."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from environments.lean.wire import ProtocolError, decode_reply, reply_start
from prover.leftovers import Ledger, sweep_dead
from prover.linereader import BlockReader, OutputOverflow
from prover.processes import ProcessId, ProcessSpec, ProcessTracker, identify, is_running

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


# -- bounded reading --------------------------------------------------------------------------


def _stream(data: bytes) -> asyncio.StreamReader:
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    return stream


async def _blocks(data: bytes, chunk: int) -> list[bytes]:
    reader = BlockReader(_stream(data), budget=1 << 20, chunk=chunk)
    found = []
    with pytest.raises(EOFError):
        while True:
            found.append(await reader.block())
    return found


async def test_blocks_are_the_same_whatever_the_chunk_boundaries():
    data = b'\n \nnoise\r\n\r\n{\n "a": 1}\n\n\n  \t\nlast\nblock\n\ncut off'
    expected = [b"noise\r\n", b'{\n "a": 1}\n', b"last\nblock\n"]
    for chunk in (1, 2, 3, 5, 7, 64 * 1024):
        assert await _blocks(data, chunk) == expected, chunk


async def test_output_over_the_budget_fails_holding_at_most_budget_plus_a_chunk():
    stream = asyncio.StreamReader()
    reader = BlockReader(stream, budget=1000, chunk=100)
    stream.feed_data(b"ok\n\n" + b"x" * 5000)
    assert await reader.block() == b"ok\n"
    with pytest.raises(OutputOverflow, match="without a blank line") as raised:
        await reader.block()
    held = int(str(raised.value).split()[0])
    assert 1000 < held <= 1100 and reader.buffered == 0  # the process is replaced anyway


def test_reply_start_skips_noise_and_nested_objects():
    reply = b'{"messages":\n [{"severity": "info",\n   "data": "{ unbalanced \\" ["},\n'
    reply += b'  {"severity": "error", "data": "x"}],\n "env": 3}\n'
    noise = b"{ debug print\n{}\n"
    assert reply_start(noise + reply) == len(noise)
    assert decode_reply(noise + reply)["env"] == 3
    assert decode_reply(b"{ only noise\n") is None
    with pytest.raises(ProtocolError, match="not UTF-8"):
        decode_reply(b'{"env": "\xff"}\n')


# -- stderr, memory evidence, parent death ------------------------------------------------------

_FLOOD = """
import sys
chunk = b"e" * 65535 + b"\\n"
for _ in range(int(sys.argv[1])):
    sys.stderr.buffer.write(chunk)
sys.stderr.write(sys.argv[2] + "\\n")
"""


async def test_stderr_keeps_a_bounded_tail_and_a_capped_file(tmp_path: Path):
    tracker = ProcessTracker(ledger=False)
    log = tmp_path / "child.err"
    spec = ProcessSpec(
        (sys.executable, "-c", _FLOOD, "800", "the last line"),  # 50 MB
        stdin=False,
        stdout=False,
        stderr_path=str(log),
        stderr_tail_bytes=4096,
        stderr_file_bytes=1024 * 1024,
    )
    child = await tracker.start(spec)
    assert await child.proc.wait() == 0
    await tracker.stop(child)
    assert child.stderr_tail(1) == "the last line"
    assert log.stat().st_size <= 1024 * 1024
    assert log.read_bytes().endswith(b"the last line\n")


async def test_memory_is_blamed_only_on_evidence():
    tracker = ProcessTracker(ledger=False)
    killed = await tracker.start(ProcessSpec((sys.executable, "-c", "import time; time.sleep(60)")))
    os.kill(killed.pid, signal.SIGKILL)  # exit 137, as an OOM kill would, but it is not one
    assert await killed.proc.wait() == -signal.SIGKILL
    await tracker.stop(killed)
    assert killed.memory_evidence() is None or "OOM killer" in killed.memory_evidence()
    capped = await tracker.start(
        ProcessSpec(
            (sys.executable, "-c", "bytearray(512 * 1024 * 1024)"),
            memory_limit_bytes=256 * 1024**2,
        )
    )
    assert await capped.proc.wait() == 1
    await tracker.stop(capped)
    assert capped.memory_evidence() == "its stderr reports 'MemoryError'"


_MIDDLE = """
import asyncio, sys
from prover.processes import ProcessSpec, ProcessTracker
async def main():
    child = await ProcessTracker(ledger=False).start(
        ProcessSpec((sys.executable, "-c", "import time; time.sleep(600)"), stdin=False)
    )
    print(child.pid, flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def test_children_die_with_their_runner_by_the_parent_death_signal():
    middle = subprocess.Popen([sys.executable, "-c", _MIDDLE], stdout=subprocess.PIPE)
    assert middle.stdout is not None
    child = identify(int(middle.stdout.readline()))
    assert child is not None and is_running(child)
    middle.kill()  # no ledger, no watchdog: only the signal can stop the child
    middle.wait()
    try:
        fd = os.pidfd_open(child.pid)
    except ProcessLookupError:
        return  # already gone and reaped
    try:
        if is_running(child):  # the pidfd is of the child, not of a reused pid
            select.select([fd], [], [], 5.0)
    finally:
        os.close(fd)
    assert not is_running(child)


# -- leftovers of a dead runner -------------------------------------------------------------------


def _dead_process() -> ProcessId:
    """The identity of a process that has exited (a runner that is gone)."""
    gone = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"])
    proc = identify(gone.pid)
    gone.wait()
    assert proc is not None and not is_running(proc)
    return proc


def test_a_dead_runners_ledger_is_swept_by_pid_and_start_time(tmp_path: Path):
    live = tmp_path / "live"
    live.mkdir()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    orphan_id = identify(orphan.pid)
    assert orphan_id is not None
    scratch = tmp_path / "prover-lean-x"
    scratch.mkdir()
    dead = Ledger(live / "dead.json", _dead_process(), [orphan_id], [str(scratch)])
    dead._write()
    # A ledger of a live runner (this one) naming the same process is left alone.
    mine = Ledger(live / "mine.json", identify(os.getpid()), [orphan_id], [])
    mine._write()
    stale = ProcessId(orphan_id.pid, orphan_id.start - 1)  # same pid, another process
    Ledger(live / "stale.json", _dead_process(), [stale], [])._write()
    try:
        assert sorted(p.name for p in sweep_dead(live)) == ["dead.json", "stale.json"]
        assert orphan.wait(5) == -signal.SIGKILL
        assert not scratch.exists()
        assert sorted(p.name for p in live.iterdir()) == ["mine.json"]
    finally:
        orphan.kill()
        orphan.wait()


async def test_a_tracker_records_its_processes_and_scratch_dirs_until_stop_all(tmp_path: Path):
    tracker = ProcessTracker()
    scratch = Path(tracker.scratch_dir("prover-test-"))
    child = await tracker.start(ProcessSpec((sys.executable, "-c", "import time; time.sleep(60)")))
    ledger = tracker.ledger
    assert ledger is not None and ledger.path.exists()
    record = json.loads(ledger.path.read_text())
    assert record["processes"] == [[child.identity.pid, child.identity.start]]
    assert record["scratch"] == [str(scratch)]
    await tracker.stop_all()
    assert not ledger.path.exists() and not scratch.exists()
