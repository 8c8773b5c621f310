"""One Lean REPL process with its header loaded: requests under wall timeouts, and its faults.

Every request has a deadline. A request that times out or is cancelled leaves the process
unusable (the REPL answers requests strictly in order and cannot abandon one, so it may still be
busy with the old request), so the worker kills its process group and starts a fresh process in
the background, re-running the header there. A process found dead before a request is replaced
and the request runs on the new one; a process that dies, writes more than the reply budget
without a blank line, or writes an undecodable reply during a request fails that request
(`ReplCrash`) and is replaced. `generation` counts the processes: proof states and env ids are
only valid within the generation that made them. Because the REPL never frees proof states, a
process is recycled: after `recycle_after` requests it is `draining` (the pool gives it no new
theorem) and is replaced once no theorem lives on it; only past `HARD_RECYCLE_FACTOR` ×
`recycle_after` requests is it replaced under live theorems (their states are then replayed on
the fresh process).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environments.lean.replies import CommandReply, RequestFailure, parse_command_reply
from environments.lean.wire import MAX_REPLY_BYTES, ProtocolError, ReplyReader, encode_request
from prover.errors import BackendError
from prover.linereader import OutputOverflow
from prover.processes import ManagedProcess, ProcessSpec, ProcessTracker
from prover.sandbox import SandboxPolicy

# What a request can meet when the process misbehaves: it is the request's failure (a crash).
_FAULTS = (EOFError, OSError, ProtocolError, OutputOverflow)

# Requests after which a process is replaced even with theorems on it: memory grows with every
# state kept, and a theorem may run thousands of tactics after its process began draining.
HARD_RECYCLE_FACTOR = 8


class ReplTimeout(BackendError):
    """A request got no reply within its timeout; the process was killed and is being replaced."""


class ReplCrash(BackendError):
    """The process died (or could not be started) during a request."""


class HeaderError(BackendError):
    """The header (imports, options, opens) does not elaborate."""


@dataclass(frozen=True)
class WorkerSettings:
    """How to start a REPL process and how long its header may take."""

    argv: tuple[str, ...]
    cwd: str | None = None
    memory_limit_bytes: int | None = None
    header_timeout: float = 900.0
    recycle_after: int = 500
    stderr_dir: str | None = None  # also keep each worker's stderr here (capped; see processes)
    stop_grace_seconds: float = 1.0
    reply_budget_bytes: int = MAX_REPLY_BYTES  # output held for one reply (lean.reply_budget_mb)
    sandbox: SandboxPolicy | None = None  # None: run the command as given (see prover/sandbox.py)


class ReplWorker:
    """One REPL process (replaced as needed) serving one header; one operation at a time."""

    def __init__(self, settings: WorkerSettings, tracker: ProcessTracker, header: str, index: int):
        self.settings = settings
        self.header = header
        self.index = index
        self.leases = 0  # live theorems (and checks) on this worker
        self.generation = 0  # how many processes this worker has started
        self.commands = 0  # requests sent to the current process, header included
        self.header_env: int | None = None
        self._tracker = tracker
        self._process: ManagedProcess | None = None
        self._reader: ReplyReader | None = None  # the current process's replies
        self._restart: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The current process id (also its process-group id), if one is running."""
        return self._process.pid if self._process is not None and self._process.alive else None

    @property
    def draining(self) -> bool:
        """The process has served `recycle_after` requests: give it no new theorem."""
        return self.commands >= self.settings.recycle_after

    @property
    def warm(self) -> bool:
        """A process with the header loaded is up (set only once its header is in)."""
        return self._process is not None and self._process.alive

    @contextlib.asynccontextmanager
    async def operation(self) -> AsyncIterator[ReplWorker]:
        """Exclusive use for one session operation (replay + tactic, or a whole-proof check)."""
        async with self._lock:
            process = self._process
            hard = self.settings.recycle_after * HARD_RECYCLE_FACTOR
            if process is not None and self._restart is None and self.commands >= hard:
                self._discard(process)
            yield self

    async def recycle(self) -> None:
        """Replace the process now (called when no theorem lives on it); the fresh one loads
        the header in the background."""
        async with self._lock:
            if self._process is not None and self._restart is None and not self._closed:
                self._discard(self._process)
                self.commands = 0  # the replacement is not draining

    async def ready(self) -> int:
        """Wait until a process with the header is up; returns its generation."""
        await self._running()
        return self.generation

    async def command(self, text: str, timeout: float, env: int | None = None) -> dict[str, Any]:
        """Run a command on `env` (default: the header's environment)."""
        await self._running()
        chosen = env if env is not None else self.header_env
        payload: dict[str, Any] = {"cmd": text}
        if chosen is not None:
            payload["env"] = chosen
        return await self.request(payload, timeout)

    async def tactic(self, text: str, proof_state: int, timeout: float) -> dict[str, Any]:
        return await self.request({"tactic": text, "proofState": proof_state}, timeout)

    async def request(self, payload: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return the raw reply; raises ReplTimeout or ReplCrash."""
        process = await self._running()
        self.commands += 1
        try:
            reader = self._reader
            assert reader is not None
            return await asyncio.wait_for(self._exchange(process, reader, payload), timeout)
        except asyncio.TimeoutError:
            self._discard(process)
            raise ReplTimeout(
                f"no reply within {timeout:g} s; the REPL process was killed and is being replaced"
            ) from None
        except asyncio.CancelledError:
            # The process is still working on the request and answers strictly in order: never
            # reuse it.
            self._discard(process)
            raise
        except _FAULTS as exc:
            try:
                note = await self._death_note(process, exc)
            finally:
                self._discard(process)
            raise ReplCrash(note) from None

    async def retarget(self, header: str) -> None:
        """Serve another header from now on (only when no session uses this worker)."""
        async with self._lock:
            self.header = header
            restart, self._restart = self._restart, None
            if restart is not None:  # it may be loading the old header
                restart.cancel()
                with contextlib.suppress(BaseException):
                    await restart
            if self._process is not None:
                self._discard(self._process)

    async def close(self) -> None:
        """Stop the process and any restart in progress; leaves nothing running."""
        self._closed = True
        tasks = [t for t in (self._restart, *self._stopping) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._restart = None
        if self._process is not None:
            process, self._process = self._process, None
            await self._tracker.stop(process)

    # -- internals ----------------------------------------------------------------------------

    async def _running(self) -> ManagedProcess:
        if self._closed:
            raise ReplCrash("the Lean environment is closed")
        if self._process is not None and not self._process.alive:
            # It died between requests (OOM killer, a stray signal): not the next request's fault.
            self._discard(self._process)
        if self._process is None and self._restart is None:
            self._restart = asyncio.get_running_loop().create_task(self._replace(None))
        task = self._restart
        if task is not None:
            try:
                # Shielded: a caller cancelled while waiting must not abort a half-started process.
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
                raise ReplCrash("the REPL restart was cancelled") from None
            except HeaderError:
                raise
            except BackendError as exc:
                raise ReplCrash(f"could not start the REPL: {exc}") from exc
            except (OSError, ValueError) as exc:
                raise ReplCrash(
                    f"could not start the REPL ({' '.join(self.settings.argv)}): {exc}"
                ) from exc
            finally:
                if self._restart is task and task.done():
                    self._restart = None
        if self._process is None:
            raise ReplCrash("the REPL process is not running")
        return self._process

    def _discard(self, process: ManagedProcess) -> None:
        """Forget `process`, stop its group, and start a replacement in the background."""
        if self._process is not process:
            return
        self._process = None
        self._reader = None
        self.header_env = None
        if self._closed:
            stop = asyncio.get_running_loop().create_task(self._tracker.stop(process))
            self._stopping.add(stop)
            stop.add_done_callback(self._stopping.discard)
            return
        self._restart = asyncio.get_running_loop().create_task(self._replace(process))

    async def _replace(self, old: ManagedProcess | None) -> None:
        if old is not None:
            await self._tracker.stop(old)
        self.generation += 1
        stderr = None
        if self.settings.stderr_dir:  # one capped file per worker, whatever the generation
            stderr = str(Path(self.settings.stderr_dir) / f"worker{self.index}.err")
        spec = ProcessSpec(
            argv=self.settings.argv,
            cwd=self.settings.cwd,
            memory_limit_bytes=self.settings.memory_limit_bytes,
            stderr_path=stderr,
            stop_grace_seconds=self.settings.stop_grace_seconds,
            sandbox=self.settings.sandbox,
        )
        process = await self._tracker.start(spec)
        assert process.proc.stdout is not None
        reader = ReplyReader(process.proc.stdout, self.settings.reply_budget_bytes)
        try:
            self.commands = 0
            env = None
            if self.header.strip():
                self.commands = 1
                reply = await self._header(process, reader)
                env = reply.env
            self._process = process
            self._reader = reader
            self.header_env = env
        except BaseException:
            await self._tracker.stop(process)
            raise

    async def _header(self, process: ManagedProcess, reader: ReplyReader) -> CommandReply:
        timeout = self.settings.header_timeout
        try:
            raw = await asyncio.wait_for(
                self._exchange(process, reader, {"cmd": self.header}), timeout
            )
        except asyncio.TimeoutError:
            raise ReplCrash(
                f"the header took longer than {timeout:g} s (lean.header_timeout)"
            ) from None
        except _FAULTS as exc:
            raise ReplCrash(await self._death_note(process, exc)) from None
        reply = parse_command_reply(raw)
        if isinstance(reply, RequestFailure):
            raise HeaderError(f"the header was refused by the REPL: {reply.message}")
        if reply.errors:
            first = reply.errors[0].text.splitlines()[0] if reply.errors[0].text else "?"
            raise HeaderError(
                f"the header does not elaborate ({first}); check its imports against lake-project"
            )
        return reply

    async def _exchange(
        self, process: ManagedProcess, reader: ReplyReader, payload: Mapping[str, Any]
    ) -> dict[str, Any]:
        stdin = process.proc.stdin
        if stdin is None:
            raise ProtocolError("the REPL process has no pipes")
        stdin.write(encode_request(payload))
        await stdin.drain()
        return await reader.read()

    async def _death_note(self, process: ManagedProcess, exc: BaseException) -> str:
        """One line on why the process failed the request: its exit, or what it wrote, the
        tail of its stderr, and a memory hint only when memory is the evidence."""
        if isinstance(exc, (ProtocolError, OutputOverflow)):
            what = (
                f"wrote unusable output ({exc}; the reply budget is {self._budget_text()}, "
                "lean.reply_budget_mb)"
            )
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.proc.wait(), 2.0)
            code = process.returncode
            what = f"exited with code {code}" if code is not None else f"stopped answering ({exc})"
        evidence = process.memory_evidence()
        hint = f" (out of memory: {evidence}; the cap is lean.memory_limit_gb)" if evidence else ""
        tail = process.stderr_tail()
        return f"the REPL process {what}{hint}" + (f": {tail}" if tail else "")

    def _budget_text(self) -> str:
        return f"{self.settings.reply_budget_bytes / 1024**2:g} MiB"
