"""The one place that starts and stops external processes (Lean REPL, PISA's JVM, …).

Each process gets its own process group and optional address-space cap, is tracked by pid, and is
stopped by signalling its own group — never by name, so nothing else on the machine is touched.
Descendants that leave the group (Isabelle's poly runs in a session of its own) are found through
/proc and stopped by pid and start time, so a recycled pid is never hit.

Children die with the runner whatever kills it: each gets SIGKILL as its parent-death signal
(sandboxed ones also have bwrap's `--die-with-parent`), and the tracker records them, with its
scratch directories, in a ledger that a watchdog sweeps when the runner dies (prover.leftovers).
A child's stderr is kept as its last `stderr_tail_bytes` in memory (and optionally in a file
capped at `stderr_file_bytes`), so a flood of stderr costs neither memory nor disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from prover.proctable import PROC, ProcessId, descendants, identify, is_running
from prover.sandbox import SandboxPolicy, wrap

if TYPE_CHECKING:
    from prover.leftovers import Ledger

# asyncio's per-pipe buffer limit: it stops reading a pipe once 2 × this is buffered. Readers
# take fixed-size chunks (prover.linereader), never whole lines, so a small limit is enough.
STREAM_LIMIT = 1024 * 1024
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """What to run and under which limits."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] | None = None  # added to os.environ
    memory_limit_bytes: int | None = None  # RLIMIT_AS of the child
    stdin: bool = True
    stdout: bool = True
    stderr_path: str | None = None  # also append stderr here (capped at stderr_file_bytes)
    stderr_tail_bytes: int = 64 * 1024  # last bytes of stderr kept in memory (0: discard it)
    stderr_file_bytes: int = 16 * 1024 * 1024  # the file restarts empty when it reaches this
    stop_grace_seconds: float = 2.0
    # None runs the command as given; a policy (kind "bwrap" or an explicit "none") wraps it.
    sandbox: SandboxPolicy | None = None


def _libc() -> Any:
    """libc for prctl, or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _child_setup(memory_limit_bytes: int | None):  # type: ignore[no-untyped-def]
    libc = _libc()  # loaded before the fork: the child only calls into it
    parent = os.getpid()

    def apply() -> None:  # runs in the child between fork and exec
        if libc is not None:
            # SIGKILL when the runner dies, however it dies; a runner that died before this
            # call is noticed by the reparenting.
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:
                os._exit(70)
        if memory_limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))

    return apply


class TailBuffer:
    """The last `size` bytes written to it (amortised linear: trimmed when twice as big)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data = bytearray()

    def write(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > 2 * self.size:
            del self._data[: len(self._data) - self.size]

    def text(self) -> str:
        return bytes(self._data[-self.size :]).decode("utf-8", errors="replace")


class _CappedFile:
    """Appends to a file that starts over when it reaches `limit` bytes."""

    def __init__(self, path: str, limit: int) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._limit = limit

    def write(self, data: bytes) -> None:
        if self._handle.tell() + len(data) > self._limit:
            self._handle.seek(0)
            self._handle.truncate()
            data = data[-self._limit :]
        self._handle.write(data)
        self._handle.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._handle.close()


async def _drain(stream: asyncio.StreamReader, tail: TailBuffer, file: _CappedFile | None) -> None:
    """Copy a child's stderr into its tail (and file) until the pipe closes."""
    try:
        while chunk := await stream.read(STREAM_LIMIT):
            tail.write(chunk)
            if file is not None:
                with contextlib.suppress(OSError):
                    file.write(chunk)
    finally:
        if file is not None:
            file.close()


@dataclass
class ManagedProcess:
    """A started child: its pid is also its process-group id."""

    spec: ProcessSpec
    proc: asyncio.subprocess.Process
    identity: ProcessId | None = None  # pid and start time, read right after the start
    oom_kills_at_start: int | None = None  # the cgroup's OOM-kill count when it started
    _tail: TailBuffer | None = field(default=None, repr=False)
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)
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
        """False once the process exited, even before asyncio has reaped it (a zombie)."""
        if self.proc.returncode is not None:
            return False
        return self.identity is None or is_running(self.identity)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def stderr_tail(self, lines: int = 3) -> str:
        """The last `lines` non-empty lines of stderr kept in memory, joined by " | "."""
        if self._tail is None:
            return ""
        kept = [line.strip() for line in self._tail.text().splitlines() if line.strip()]
        return " | ".join(kept[-lines:])

    def memory_evidence(self) -> str | None:
        """Why running out of memory explains this process's end, or None without evidence:
        an allocation failure in its stderr (RLIMIT_AS hit) or an OOM kill counted by the
        kernel since it started (its SIGKILL exit alone proves nothing)."""
        text = self._tail.text() if self._tail is not None else ""
        for marker in _MEMORY_MARKERS:
            if marker.lower() in text.lower():
                return f"its stderr reports {marker!r}"
        kills = oom_kill_count()
        start = self.oom_kills_at_start
        killed = self.returncode == -signal.SIGKILL
        if killed and start is not None and kills is not None and kills > start:
            return "the kernel's OOM killer killed a process meanwhile"
        return None

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
        await terminate(leftovers, self.spec.stop_grace_seconds)
        self._remembered = []
        if self._drain is not None:
            # The pipe closes when the last holder of it is gone; a stray holder does not wait us.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._drain), 1.0)
            self._drain.cancel()
            with contextlib.suppress(BaseException):
                await self._drain
        return self.proc.returncode


_MEMORY_MARKERS = (
    "MemoryError",
    "std::bad_alloc",
    "out of memory",
    "Cannot allocate memory",
    "OutOfMemoryError",  # the JVM
)


def oom_kill_count() -> int | None:
    """OOM kills the kernel counted for this process's cgroup (v2 memory.events, v1
    memory.oom_control), else machine-wide (/proc/vmstat); None when none is readable."""
    sources: list[Path] = []
    with contextlib.suppress(OSError):
        for line in (PROC / "self" / "cgroup").read_text().splitlines():
            hierarchy, controllers, path = line.split(":", 2)
            if hierarchy == "0":
                sources.append(Path("/sys/fs/cgroup") / path.lstrip("/") / "memory.events")
            elif "memory" in controllers.split(","):
                sources.append(
                    Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.oom_control"
                )
    sources.append(PROC / "vmstat")
    for source in sources:
        with contextlib.suppress(OSError, ValueError):
            for line in source.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return None


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
    """Starts processes and remembers them until stopped; `stop_all` leaves none of ours behind.

    With `ledger` (the default) it also records them in a ledger swept if the runner dies.
    """

    def __init__(self, *, ledger: bool = True) -> None:
        self._live: dict[int, ManagedProcess] = {}
        self.started: list[int] = []  # every pid this tracker started, in order
        self._use_ledger = ledger
        self._ledger: Ledger | None = None
        self._scratch: list[str] = []
        self._adopted: list[ProcessId] = []

    def find(self, pid: int) -> ManagedProcess | None:
        """The live process this tracker started with `pid`, if any."""
        return self._live.get(pid)

    @property
    def ledger(self) -> Ledger | None:
        """Where this tracker records what a dead runner would leave (opened on first use)."""
        if self._ledger is None and self._use_ledger:
            from prover.leftovers import Ledger

            try:
                self._ledger = Ledger.open()
            except OSError:  # $PROVER_HOME not writable: children still die by their signal
                self._use_ledger = False
        return self._ledger

    def scratch_dir(self, prefix: str) -> str:
        """A new temporary directory, removed by `stop_all` or, if the runner dies, by the
        ledger's watchdog."""
        import tempfile

        path = tempfile.mkdtemp(prefix=prefix)
        self._scratch.append(path)
        if self.ledger is not None:
            self.ledger.add_scratch(path)
        return path

    def adopt(self, procs: Sequence[ProcessId]) -> None:
        """Record processes started outside the tracker (Ray's daemons), so that a dead runner's
        watchdog stops them too; `stop_all` stops those still running."""
        if self.ledger is not None:
            for proc in procs:
                self.ledger.add_process(proc)
        self._adopted += procs

    @property
    def pids(self) -> list[int]:
        return [pid for pid, p in self._live.items() if p.alive]

    async def start(self, spec: ProcessSpec) -> ManagedProcess:
        env = None
        if spec.env is not None:
            env = {**os.environ, **spec.env}
        keep_stderr = spec.stderr_tail_bytes > 0 or spec.stderr_path is not None
        argv = spec.argv if spec.sandbox is None else wrap(spec.argv, spec.sandbox, spec.cwd)
        ledger = self.ledger
        oom_kills = oom_kill_count()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=spec.cwd,
            env=env,
            stdin=asyncio.subprocess.PIPE if spec.stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if spec.stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE if keep_stderr else asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_child_setup(spec.memory_limit_bytes),
            limit=STREAM_LIMIT,
        )
        managed = ManagedProcess(spec, proc, identify(proc.pid), oom_kills)
        if keep_stderr and proc.stderr is not None:
            managed._tail = TailBuffer(max(spec.stderr_tail_bytes, 1))
            file = None
            if spec.stderr_path:
                with contextlib.suppress(OSError):
                    file = _CappedFile(spec.stderr_path, spec.stderr_file_bytes)
            managed._drain = asyncio.get_running_loop().create_task(
                _drain(proc.stderr, managed._tail, file)
            )
        self._live[proc.pid] = managed
        self.started.append(proc.pid)
        if ledger is not None and managed.identity is not None:
            ledger.add_process(managed.identity)
        return managed

    async def stop(self, process: ManagedProcess) -> int | None:
        try:
            return await process.stop()
        finally:
            self._live.pop(process.pid, None)
            if self._ledger is not None and process.identity is not None:
                self._ledger.remove_process(process.identity)

    async def stop_all(self) -> None:
        """Stop every process started or adopted, remove the scratch directories, close the
        ledger (its watchdog exits with nothing to do)."""
        procs = list(self._live.values())
        await asyncio.gather(*(self.stop(p) for p in procs), return_exceptions=True)
        adopted, self._adopted = self._adopted, []
        await terminate(adopted)
        import shutil

        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)
        self._scratch = []
        if self._ledger is not None:
            ledger, self._ledger = self._ledger, None
            await asyncio.to_thread(ledger.close)


def command_exists(argv: Sequence[str]) -> bool:
    """True when argv[0] resolves to an executable."""
    import shutil

    return bool(argv) and shutil.which(argv[0]) is not None
