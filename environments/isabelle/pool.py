"""The pool of PISA servers: one server per theorem in flight, replaced when it dies."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from environments.isabelle.server import Launch, PisaServer
from prover.errors import BackendError, ProverError
from prover.processes import ProcessTracker


class ServerPool:
    """Starts (or attaches to) a server per port on first use and lends each to one session.

    A server returned dead, or unusable after a timeout, is restarted (ours) or re-initialised
    (attached) before it is lent again, up to `restart_attempts` times with a doubling pause
    from `backoff_seconds`; only a port that fails all of them leaves the pool.
    """

    def __init__(
        self,
        launch: Launch,
        ports: Sequence[int],
        tracker: ProcessTracker | None = None,
        *,
        restart_attempts: int = 5,
        backoff_seconds: float = 2.0,
    ) -> None:
        self.tracker = tracker or ProcessTracker()
        self.restart_attempts = max(1, restart_attempts)
        self.backoff_seconds = backoff_seconds
        self.servers = [PisaServer(launch, port, self.tracker) for port in ports]
        self._idle: asyncio.Queue[PisaServer | None] = asyncio.Queue()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._start_error: BaseException | None = None
        self._usable = len(self.servers)
        self._lost: dict[int, str] = {}  # port -> why it left the pool
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def lost(self) -> dict[int, str]:
        return dict(self._lost)

    async def start(self) -> None:
        """Bring every server up at once; if one fails, stop the others and raise its error
        (again on every later call: a setup that failed once is not retried per theorem)."""
        async with self._start_lock:
            if self._start_error is not None:
                raise self._start_error
            if self._started:
                return
            results = await asyncio.gather(
                *(s.start() for s in self.servers), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
                self._start_error = errors[0]
                raise errors[0]
            for server in self.servers:
                self._idle.put_nowait(server)
            self._started = True

    async def acquire(self) -> PisaServer:
        """A server for one session; waits while all are lent out."""
        await self.start()
        if self._usable == 0:
            raise BackendError(f"no PISA server is left: {self._why_lost()}")
        server = await self._idle.get()
        if server is None:  # woken because the last server left the pool
            self._idle.put_nowait(None)
            raise BackendError(f"no PISA server is left: {self._why_lost()}")
        return server

    def release(self, server: PisaServer, *, healthy: bool = True) -> None:
        """Return a server; one that is dead or unusable is brought back in the background."""
        if healthy and server.dead_reason() is None:
            self._idle.put_nowait(server)
            return
        task = asyncio.get_running_loop().create_task(self._bring_back(server))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def recover(self, server: PisaServer) -> None:
        """Restart or re-initialise `server` now (its states are lost); raises BackendError."""
        async with server.lock:
            try:
                await server.restart()
            except ProverError as exc:
                raise BackendError(f"PISA server on port {server.port} is lost: {exc}") from exc

    @property
    def launches(self) -> int:
        """JVMs started so far, over all ports (one per port in a healthy run)."""
        return sum(s.launches for s in self.servers)

    @property
    def initialisations(self) -> int:
        """PISA initialisations so far, over all ports (one per port in a healthy run)."""
        return sum(s.initialisations for s in self.servers)

    async def _bring_back(self, server: PisaServer) -> None:
        """Restart `server` with backoff; it leaves the pool only after every attempt failed."""
        pause = self.backoff_seconds
        for attempt in range(self.restart_attempts):
            try:
                await self.recover(server)
            except BackendError as exc:
                self._lost[server.port] = str(exc)
                if attempt + 1 < self.restart_attempts:
                    await asyncio.sleep(pause)  # backoff: a deliberate pause, not a poll
                    pause *= 2
                continue
            self._lost.pop(server.port, None)
            self._idle.put_nowait(server)
            return
        self._usable -= 1
        if self._usable == 0:
            self._idle.put_nowait(None)

    def _why_lost(self) -> str:
        return "; ".join(self._lost.values()) or "all servers failed"

    async def close(self) -> None:
        """Stop every server we started (attached ones keep running) and forget them."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(s.stop() for s in self.servers), return_exceptions=True)
        await self.tracker.stop_all()
        self._started = False
