"""The one place that starts and stops external processes (Lean REPL, PISA's JVM, …).

Each process gets its own process group and optional address-space cap, is tracked by pid, and is
stopped by signalling its own group — never by name, so nothing else on the machine is touched.
Descendants that leave the group (Isabelle's poly runs in a session of its own) are found through
/proc and stopped by pid and start time, so a recycled pid is never hit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prover.sandbox import SandboxPolicy, wrap


@dataclass(frozen=True)
class ProcessSpec:
    """What to run and under which limits."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None  # added to os.environ
    memory_limit_bytes: int | None = None  # RLIMIT_AS of the child
    stdin: bool = True
    stdout: bool = True
    stderr_path: str | None = None  # where stderr goes (default: discarded)
    stop_grace_seconds: float = 2.0
    # None runs the command as given; a policy (kind "bwrap" or an explicit "none") wraps it.
    sandbox: SandboxPolicy | None = None


def _limit(memory_limit_bytes: int | None):  # type: ignore[no-untyped-def]
    def apply() -> None:  # runs in the child between fork and exec
        if memory_limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))

    return apply


@dataclass
class ManagedProcess:
    """A started child: its pid is also its process-group id."""

    spec: ProcessSpec
    proc: asyncio.subprocess.Process
    _stderr: object = field(default=None, repr=False)
    _remembered: list[ProcessId] = field(default_factory=list, repr=False)

    def remember_descendants(self) -> None:
        """Note the processes started below this one, so `stop` finds them even if the child
        dies first and they are re-parented away."""
        known = set(self._remembered)
        self._remembered += [p for p in descendants(self.pid) if p not in known]

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def stop(self) -> int | None:
        """SIGTERM the group, SIGKILL it after the grace period, reap the child, then stop every
        descendant that was outside the group."""
        leftovers = [*self._remembered, *descendants(self.pid)]
        if self.alive:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), self.spec.stop_grace_seconds)
            except asyncio.TimeoutError:
                pass
        # The group may hold grandchildren even after the leader exited.
        _signal_group(self.pid, signal.SIGKILL)
        if self.alive:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10.0)
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()  # type: ignore[attr-defined]
            self._stderr = None
        await terminate(leftovers, self.spec.stop_grace_seconds)
        self._remembered = []
        return self.proc.returncode


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


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ProcessTracker:
    """Starts processes and remembers them until stopped; `stop_all` leaves none of ours behind."""

    def __init__(self) -> None:
        self._live: dict[int, ManagedProcess] = {}
        self.started: list[int] = []  # every pid this tracker started, in order

    @property
    def pids(self) -> list[int]:
        return [pid for pid, p in self._live.items() if p.alive]

    async def start(self, spec: ProcessSpec) -> ManagedProcess:
        env = None
        if spec.env is not None:
            env = {**os.environ, **spec.env}
        stderr: object = asyncio.subprocess.DEVNULL
        handle = None
        if spec.stderr_path:
            Path(spec.stderr_path).parent.mkdir(parents=True, exist_ok=True)
            handle = open(spec.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
            stderr = handle
        argv = spec.argv if spec.sandbox is None else wrap(spec.argv, spec.sandbox, spec.cwd)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=spec.cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if spec.stdout else asyncio.subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_limit(spec.memory_limit_bytes),
            limit=64 * 1024 * 1024,  # REPL replies with big goals or info trees exceed 64 KiB lines
        )
        managed = ManagedProcess(spec, proc, handle)
        self._live[proc.pid] = managed
        self.started.append(proc.pid)
        return managed

    async def stop(self, process: ManagedProcess) -> int | None:
        try:
            return await process.stop()
        finally:
            self._live.pop(process.pid, None)

    async def stop_all(self) -> None:
        procs = list(self._live.values())
        await asyncio.gather(*(self.stop(p) for p in procs), return_exceptions=True)


def command_exists(argv: Sequence[str]) -> bool:
    """True when argv[0] resolves to an executable."""
    import shutil

    return bool(argv) and shutil.which(argv[0]) is not None
