"""What a runner would leave behind if it died: its children and scratch directories.

A `Ledger` records them (pid plus start time, and paths) in a file under $PROVER_HOME/live, one
per tracker. Its watchdog — a small process that holds the read end of a pipe only the runner
writes to — sees end-of-file when the runner dies, however it dies (`kill -9` included), and
then stops the recorded processes still running and removes the recorded directories. A ledger
whose runner and watchdog are both gone (a reboot, the watchdog killed too) is swept by the next
runner when it opens its own. Processes are matched by pid and start time, never by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.proctable import ProcessId, descendants, identify, is_running

LEDGER_DIR = "live"


def ledger_dir() -> Path:
    """$PROVER_HOME/live (the results store's home)."""
    home = os.environ.get("PROVER_HOME") or str(Path.home() / ".cache" / "prover")
    return Path(home).expanduser() / LEDGER_DIR


@dataclass
class Ledger:
    """The record of one tracker's live processes and scratch directories, with its watchdog."""

    path: Path
    owner: ProcessId
    processes: list[ProcessId] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _pipe: int | None = field(default=None, repr=False)

    @classmethod
    def open(cls, directory: Path | None = None) -> Ledger:
        """A new ledger for this process, after sweeping ledgers of runners that are gone."""
        directory = directory or ledger_dir()
        directory.mkdir(parents=True, exist_ok=True)
        sweep_dead(directory)
        owner = identify(os.getpid())
        if owner is None:
            raise OSError("no /proc: processes cannot be recorded by pid and start time")
        path = directory / f"{owner.pid}-{owner.start}-{uuid.uuid4().hex[:8]}.json"
        ledger = cls(path, owner)
        ledger._write()
        ledger._start_watchdog()
        return ledger

    def add_process(self, proc: ProcessId) -> None:
        if self._watchdog is not None and proc.pid == self._watchdog.pid:
            return  # found among the runner's descendants: it must outlive the runner
        self.processes.append(proc)
        self._write()

    def remove_process(self, proc: ProcessId) -> None:
        if proc in self.processes:
            self.processes.remove(proc)
            self._write()

    def add_scratch(self, path: str) -> None:
        self.scratch.append(path)
        self._write()

    def close(self) -> None:
        """Forget the ledger (its owner cleaned up) and let the watchdog exit."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._watchdog is not None:
            try:
                self._watchdog.wait(5.0)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait(5.0)
            self._watchdog = None

    def _write(self) -> None:
        record = {
            "owner": [self.owner.pid, self.owner.start],
            "processes": [[p.pid, p.start] for p in self.processes],
            "scratch": self.scratch,
        }
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.path)

    def _start_watchdog(self) -> None:
        read, write = os.pipe()  # not inheritable: only the watchdog gets the read end
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-m", "prover.leftovers", str(self.path)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the runner's group leaves it to clean up
                close_fds=True,
            )
        finally:
            os.close(read)
        self._pipe = write


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sweep(path: Path, *, groups_of_dead: bool) -> None:
    """Stop the ledger's processes that still run (same pid and start time), remove its
    directories and the ledger. `groups_of_dead` also kills the process group of a recorded
    leader that already died (its pid cannot be reused while the group lives); only safe right
    after the runner's death, when the group cannot belong to anyone else."""
    data = _load(path)
    if data is None:
        return
    for pid, start in data.get("processes", []):
        proc = ProcessId(int(pid), int(start))
        if is_running(proc):
            # Everything below it first: once it dies, its children are reparented out of reach.
            for target in [*descendants(proc.pid), proc]:
                _kill(target)
        elif groups_of_dead and (identify(proc.pid) or proc).start == proc.start:
            # The leader is gone or a zombie: what is left of its group is ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    for directory in data.get("scratch", []):
        shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _kill(proc: ProcessId) -> None:
    """SIGKILL `proc` (its group when it leads one) if it is still that very process."""
    if not is_running(proc) or proc.pid == os.getpid():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)


def sweep_dead(directory: Path) -> list[Path]:
    """Sweep every ledger in `directory` whose owner is no longer running; returns them."""
    swept = []
    for path in sorted(directory.glob("*.json")):
        data = _load(path)
        if data is None or not isinstance(data.get("owner"), list):
            continue
        owner = ProcessId(int(data["owner"][0]), int(data["owner"][1]))
        if not is_running(owner):
            sweep(path, groups_of_dead=False)
            swept.append(path)
    return swept


def watch(path: Path) -> int:
    """The watchdog: wait for end-of-file on stdin (the runner is gone or closed the ledger),
    then sweep the ledger if its owner is dead."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    data = _load(path)
    if data is None:
        return 0  # the runner closed its ledger itself
    owner = ProcessId(int(data["owner"][0]), int(data["owner"][1]))
    # The pipe closes while the runner exits, a moment before it stops counting as running.
    deadline = time.monotonic() + 5.0
    while is_running(owner) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not is_running(owner):
        sweep(path, groups_of_dead=True)
    return 0


if __name__ == "__main__":
    sys.exit(watch(Path(sys.argv[1])))
