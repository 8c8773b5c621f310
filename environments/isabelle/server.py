"""One PISA server on one port: a JVM we start through ProcessTracker, or one we attach to.

PISA's port is part of its main class name (`pisa.server.PisaOneStageServer<PORT>`), so each port
is its own JVM with its own Isabelle. Start-up: launch (when ours), poll until the port answers,
then PISA's initialisation sequence and one `theory … begin` step that every theorem starts from.

Our JVMs run in the sandbox with the host's network: PISA is a gRPC server, and we reach it on
loopback, so the one thing its sandbox cannot take away is the network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from environments.isabelle.client import PisaClient, PisaError, Timeouts
from prover.errors import InputError
from prover.processes import ManagedProcess, ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy

MAIN_CLASS = "pisa.server.PisaOneStageServer"
THEORY_STATE = "prover_theory"  # the theory-level state every session starts from


@dataclass(frozen=True)
class Launch:
    """How to bring up a server on any port; built once from the `[isabelle]` config."""

    start: bool
    java: str
    java_options: tuple[str, ...]
    jar: str
    host: str
    isabelle_path: str
    working_directory: str
    theory_file: str
    header: str  # `theory NAME imports … begin`, run on `default` once per server
    timeouts: Timeouts
    log_dir: Path
    memory_limit_bytes: int | None = None  # address-space cap of the JVM and its children
    sandbox: SandboxPolicy | None = None  # None: run java as given (attached servers, tests)

    def argv(self, port: int) -> tuple[str, ...]:
        return (self.java, *self.java_options, "-cp", self.jar, f"{MAIN_CLASS}{port}")


class ServerUnavailable(InputError):
    """A PISA server could not be started or reached: a setup problem, so `prove` exits 2."""


_WATCH_SECONDS = 0.2  # how often a starting JVM's new processes are noted


class PisaServer:
    """A server on one port; `generation` counts successful (re)starts, so sessions can tell
    when the states they created are gone. `launches` and `initialisations` count JVM starts and
    PISA initialisations (a healthy run has one of each per port)."""

    def __init__(self, launch: Launch, port: int, tracker: ProcessTracker) -> None:
        self.launch = launch
        self.port = port
        self.generation = 0
        self.client: PisaClient | None = None
        self.process: ManagedProcess | None = None
        self.lock = asyncio.Lock()  # one (re)start or stop at a time
        self.launches = 0
        self.initialisations = 0
        self._tracker = tracker

    @property
    def address(self) -> str:
        return f"{self.launch.host}:{self.port}"

    @property
    def managed(self) -> bool:
        return self.launch.start

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def log_path(self) -> Path:
        return self.launch.log_dir / f"pisa-{self.port}.log"

    def dead_reason(self) -> str | None:
        """Why the server cannot answer (our JVM exited), or None when it may be alive."""
        if self.managed and (self.process is None or not self.process.alive):
            code = self.process.returncode if self.process is not None else None
            return (
                f"PISA server on port {self.port} exited with code {code}; "
                f"{self.log_path}: {_tail(self.log_path)}"
            )
        return None

    async def start(self) -> None:
        """Launch (when ours) or attach, wait until it answers, initialise Isabelle; raises
        ServerUnavailable (one line, with the log's tail) when it cannot."""
        launch = self.launch
        if self.managed:
            _check_port_free(launch.host, self.port)
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            spec = ProcessSpec(
                argv=launch.argv(self.port),
                stdin=False,
                stdout=False,  # PISA prints every step; an unread pipe would block it
                stderr_path=str(self.log_path),
                memory_limit_bytes=launch.memory_limit_bytes,
                stop_grace_seconds=5.0,
                sandbox=launch.sandbox,
            )
            try:
                self.process = await self._tracker.start(spec)
                self.launches += 1
            except FileNotFoundError:
                raise InputError(
                    f"'{launch.java}' was not found; install Java 11 or newer "
                    "(e.g. apt-get install openjdk-17-jre-headless) or set isabelle.java"
                ) from None
        self.client = PisaClient(launch.host, self.port, launch.timeouts)
        # The JVM starts Isabelle (in a session of its own) while it initialises: note every
        # process it starts as it appears, so they are stopped even if the JVM dies mid-way.
        watcher = asyncio.get_running_loop().create_task(self._watch_descendants())
        try:
            await self.client.wait_ready(launch.timeouts.startup, alive=self.dead_reason)
            self.initialisations += 1
            await self.client.initialise(
                launch.isabelle_path, launch.working_directory, launch.theory_file
            )
            await self.client.apply("default", launch.header, THEORY_STATE)
        except BaseException as exc:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            reason = self.dead_reason() or str(exc)
            await self.stop()
            if not isinstance(exc, PisaError):
                raise
            where = f"; its log: {self.log_path}" if self.managed else ""
            fix = "" if self.managed else " (start it, or set isabelle.start=true)"
            raise ServerUnavailable(
                f"PISA server on {self.address} did not start: {reason}{where}{fix}"
            ) from exc
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if self.process is not None:
            self.process.remember_descendants()
        self.generation += 1

    async def _watch_descendants(self) -> None:
        """Remember the JVM's new processes every `_WATCH_SECONDS` until cancelled."""
        while self.process is not None:
            self.process.remember_descendants()
            await asyncio.sleep(_WATCH_SECONDS)  # a poll: no event announces a new process

    async def stop(self) -> None:
        """Close our channel; stop our JVM's process group and every process it started."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        if self.process is not None:
            await self._tracker.stop(self.process)
            self.process = None

    async def restart(self) -> None:
        """Bring the server back: a fresh JVM when ours, a re-initialisation when attached."""
        await self.stop()
        await self.start()


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host if host != "localhost" else "127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise InputError(
                f"port {port} is already in use; to use a PISA server running there set "
                "isabelle.start=false, otherwise choose other isabelle.ports"
            ) from None


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
