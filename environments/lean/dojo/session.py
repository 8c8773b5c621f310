"""One theorem attempt through LeanDojo: its results mapped onto ours, restarts with replay.

A state's handle is the tactic path from the initial state, not LeanDojo's state id: ids live
only as long as one Lean process. After a tactic times out or crashes, the process is stopped
(a timed-out Dojo is still busy with the old tactic and every later tactic would time out too,
LeanDojo #218); the next tactic enters a fresh Dojo and replays the path of the state it needs,
checking that each replayed step gives the goals recorded the first time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from environments.lean.dojo.config import LeanDojoConfig
from environments.lean.dojo.factory import DojoFactory
from environments.lean.dojo.process import CWD_LOCK, OOM_EXIT_CODE, exit_code, kill_group
from environments.lean.dojo.process import process_group as _process_group
from environments.lean.dojo.target import DojoTarget
from environments.lean.screen import ScreenPolicy, screen
from environments.lean.statement import assemble as assemble_proof
from prover.errors import BackendError, InputError, ProverError
from prover.types import (
    Failed,
    FailureKind,
    Finished,
    NewState,
    ProofState,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)


@dataclass
class DojoCounters:
    """Running counts of what the backend did, shared by an environment's sessions."""

    started: int = 0
    stopped: int = 0
    restarts: int = 0
    timeouts: int = 0
    crashes: int = 0
    out_of_memory: int = 0
    replayed_tactics: int = 0
    init_failures: int = 0


class DojoHost(Protocol):
    """What a session uses of its environment (LeanDojoEnvironment): the thread pool, the
    register of live Dojos, shared settings and counters. Nothing else is reached into."""

    settings: LeanDojoConfig
    screen_policy: ScreenPolicy
    lean_dojo: Any  # the imported lean_dojo module
    factory: DojoFactory
    counters: DojoCounters

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]: ...

    def track(self, dojo: Any) -> None: ...

    def is_live(self, dojo: Any) -> bool: ...

    def release_blocking(self, dojo: Any) -> None: ...

    def release_failed_enter(self, dojo: Any) -> None: ...

    def session_closed(self, session: LeanDojoSession) -> None: ...

    def whole_proof_checker(self) -> tuple[Any | None, str]: ...


CHECKED_BY = "lean-dojo"
START_GRACE_SECONDS = 60  # on top of lean_dojo.timeout: LeanDojo's own steps before Lean runs

_Path = tuple[str, ...]


@dataclass(frozen=True)
class _Handle:
    session: object  # the owning session's unique token
    path: _Path


class LeanDojoSession:
    """A Dojo for one theorem; restarted (and its states replayed) after a timeout or crash."""

    def __init__(self, env: DojoHost, theorem: Theorem, target: DojoTarget) -> None:
        self.theorem = theorem
        self.target = target
        self._env = env
        self._ld = env.lean_dojo
        self._token = object()  # unique across environments, unlike a counter
        self._lock = asyncio.Lock()
        self._dojo: Any = None  # the Dojo of the current Lean process (entering or entered)
        self._entered = False
        self._inflight: concurrent.futures.Future[Any] | None = None
        self._states: dict[_Path, Any] = {}  # path → TacticState of the current Dojo
        self._goals: dict[_Path, str] = {}  # path → goals first seen there (checked on replay)
        self._finished: set[_Path] = set()
        self._initial: ProofState | None = None
        self._closed = False

    @property
    def initial_state(self) -> ProofState:
        if self._initial is None:
            raise RuntimeError("the LeanDojo session has not been started")
        return self._initial

    async def start(self) -> None:
        """Enter the first Dojo (raises InputError / BackendError with the reason)."""
        async with self._lock:
            init = await self._enter()
            self._goals[()] = init.pp
            self._initial = self._proof_state((), init.pp)

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        refused = screen(tactic, self._env.screen_policy)
        if refused is not None:
            return Failed(FailureKind.REJECTED, refused.message)
        path = self._path_of(state)
        async with self._lock:
            if self._closed:
                return Failed(FailureKind.CRASH, "the LeanDojo session is closed")
            await self._ensure_entered()
            source = await self._restore(path)
            if isinstance(source, Failed):
                return source
            fault = await self._step(source, tactic)
            if isinstance(fault, Failed):
                return fault
            return self._map((*path, tactic), fault)

    async def verify(self, proof: str) -> Verdict:
        checker, reason = self._env.whole_proof_checker()
        if checker is not None and not self.theorem.statement.strip():
            checker, reason = None, "the theorem carries no statement text to re-check"
        if checker is not None:
            try:
                return await checker.check(self.theorem, proof)
            except Exception as exc:  # a checker that cannot run is not a rejection
                reason = f"the whole-proof check could not run ({type(exc).__name__}: {exc})"
        if proof in {self.assemble(path) for path in self._finished}:
            return Verdict(
                VerdictStatus.UNCHECKED,
                CHECKED_BY,
                "LeanDojo's own check only: ProofFinished means its Lean4Repl found no goals "
                "left and kernel-checked the proof term (no sorry, no metavariables) in the "
                f"traced repository; not re-checked as a whole proof because {reason}",
            )
        return Verdict(
            VerdictStatus.REJECTED,
            CHECKED_BY,
            f"LeanDojo did not finish this proof in this session, and {reason}",
        )

    def assemble(self, steps: Sequence[str]) -> str:
        return assemble_proof(steps)  # the same tactic block the lean-repl backend builds

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._abandon()  # a call still running ends at once when its process is gone
        try:
            async with self._lock:
                await self._retire()
        finally:
            self._env.session_closed(self)

    # -- LeanDojo calls (each blocking call runs in the environment's thread pool) --

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = self._env.submit(fn, *args)
        self._inflight = future
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Stop the Lean process under a call we no longer wait for; the Dojo is unusable."""
        if self._inflight is not None and not self._inflight.done():
            kill_group(_process_group(self._dojo))
            self._entered = False

    async def _retire(self) -> None:
        """Wait for an abandoned call, then exit the current Dojo and stop its processes."""
        dojo, self._dojo, self._entered = self._dojo, None, False
        self._states.clear()
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            kill_group(_process_group(dojo))
            done, _ = await asyncio.wait(
                [asyncio.wrap_future(inflight)], timeout=self._env.settings.timeout
            )
            if not done:
                return  # still blocked (e.g. on the network); the environment releases it later
        if dojo is not None and self._env.is_live(dojo):
            await asyncio.wrap_future(self._env.submit(self._env.release_blocking, dojo))

    def _enter_blocking(self, dojo: Any) -> tuple[Any, Any]:
        self._dojo = dojo  # visible to _abandon() while Lean starts
        try:
            with CWD_LOCK:  # LeanDojo chdirs the process while it spawns Lean
                entered, init = dojo.__enter__()
        except BaseException:
            self._env.release_failed_enter(dojo)
            raise
        self._env.track(entered)
        return entered, init

    async def _bounded(self, call: Awaitable[Any], what: str) -> Any:
        """Await a start-up step with a finite limit (none while tracing is allowed: ~1 hour)."""
        settings = self._env.settings
        if settings.allow_trace:
            return await call
        limit = settings.timeout + START_GRACE_SECONDS
        try:
            return await asyncio.wait_for(call, limit)
        except asyncio.TimeoutError:
            raise BackendError(
                f"LeanDojo took more than {limit} s {what} for {self.target.label} "
                "(raise lean_dojo.timeout, or check the network and LeanDojo's cache lock)"
            ) from None

    async def _enter(self) -> Any:
        ld = self._ld
        try:
            # Resolving the repository may query GitHub; entering starts Lean (pexpect timeout).
            dojo = await self._bounded(
                self._call(self._env.factory, self.target), "resolving the repository"
            )
            entered, init = await self._bounded(
                self._call(self._enter_blocking, dojo), "starting Lean"
            )
        except ProverError:
            self._env.counters.init_failures += 1
            raise
        except ld.DojoInitError as exc:
            self._env.counters.init_failures += 1
            raise _init_error(exc, self.target) from exc
        except Exception as exc:
            self._env.counters.init_failures += 1
            raise BackendError(_start_failure(exc, self.target)) from exc
        self._dojo, self._entered = entered, True
        if not isinstance(init, ld.TacticState):
            raise BackendError(f"LeanDojo gave no tactic state for {self.target.label}: {init!r}")
        self._states = {(): init}
        return init

    async def _ensure_entered(self) -> None:
        if self._entered:
            return
        await self._retire()
        self._env.counters.restarts += 1
        try:
            init = await self._enter()
        except ProverError as exc:
            raise BackendError(
                f"LeanDojo could not restart for {self.target.label}: {exc}"
            ) from exc
        if init.pp != self._goals[()]:
            raise BackendError(
                f"after a restart LeanDojo's initial state for {self.target.label} differs from "
                "the first one, so open states cannot be replayed"
            )

    async def _step(self, source: Any, tactic: str) -> Any:
        """Run one tactic; a timeout or crash stops the process and comes back as `Failed`."""
        ld = self._ld
        try:
            return await self._call(self._dojo.run_tac, source, tactic)
        except ld.DojoTacticTimeoutError:
            self._env.counters.timeouts += 1
            await self._retire()
            return Failed(
                FailureKind.TIMEOUT,
                f"no answer within lean_dojo.timeout = {self._env.settings.timeout} s; the Lean "
                "process was stopped and is restarted for the next tactic (LeanDojo #218)",
            )
        except ld.DojoCrashError as exc:
            self._env.counters.crashes += 1
            dojo = self._dojo
            code = await asyncio.wrap_future(self._env.submit(exit_code, dojo, 1.0))
            await self._retire()
            if exc.is_out_of_memory or code == OOM_EXIT_CODE:
                self._env.counters.out_of_memory += 1
                return Failed(
                    FailureKind.CRASH,
                    f"out of memory: Lean was killed (exit {OOM_EXIT_CODE}, LeanDojo: {exc}); "
                    "it is restarted for the next tactic; raise lean_dojo.tactic_memory_limit "
                    "or lower lean_dojo.max_concurrency",
                )
            where = f" (exit {code})" if code is not None else ""
            return Failed(
                FailureKind.CRASH,
                f"Lean crashed{where}: {exc or 'DojoCrashError'}; it is restarted for the next "
                "tactic",
            )
        except Exception as exc:  # anything else mid-tactic leaves the process in doubt
            self._env.counters.crashes += 1
            await self._retire()
            return Failed(
                FailureKind.CRASH,
                f"LeanDojo raised {type(exc).__name__}: {exc}; the Lean process was restarted",
            )

    async def _restore(self, path: _Path) -> Any:
        """The current Dojo's TacticState for `path`, replaying tactics after a restart."""
        if path in self._states:
            return self._states[path]
        known = max(i for i in range(len(path) + 1) if path[:i] in self._states)
        current = self._states[path[:known]]
        for i in range(known, len(path)):
            step = path[: i + 1]
            result = await self._step(current, path[i])
            if isinstance(result, Failed):
                return Failed(
                    result.kind,
                    f"restoring this state after a restart, step {i + 1} `{path[i]}`: "
                    f"{result.message}",
                )
            self._env.counters.replayed_tactics += 1
            if not isinstance(result, self._ld.TacticState) or result.pp != self._goals[step]:
                return Failed(
                    FailureKind.ERROR,
                    f"restoring this state after a restart, step {i + 1} `{path[i]}` gave "
                    f"{_describe(result)} instead of the goals recorded first",
                )
            self._states[step] = current = result
        return current

    # -- mapping --

    def _map(self, path: _Path, result: Any) -> TacticResult:
        ld = self._ld
        if isinstance(result, ld.TacticState):
            self._states[path] = result
            self._goals.setdefault(path, result.pp)
            return NewState(self._proof_state(path, result.pp), _messages(result.message))
        if isinstance(result, ld.ProofFinished):
            self._finished.add(path)
            return Finished(_messages(result.message))
        if isinstance(result, ld.ProofGivenUp):
            return Failed(FailureKind.SORRY, "the proof contains sorry (LeanDojo: ProofGivenUp)")
        if isinstance(result, ld.LeanError):
            return Failed(FailureKind.ERROR, result.error)
        return Failed(FailureKind.CRASH, f"unexpected LeanDojo result {result!r}")

    def _proof_state(self, path: _Path, pp: str) -> ProofState:
        # LeanDojo joins several goals with a blank line; splitting there keeps `pretty == pp`.
        return ProofState(tuple(pp.split("\n\n")), _Handle(self._token, path))

    def _path_of(self, state: ProofState) -> _Path:
        handle = state.handle
        if not isinstance(handle, _Handle) or handle.session is not self._token:
            raise ValueError("this proof state does not come from this LeanDojo session")
        return handle.path


def _messages(message: str | None) -> tuple[str, ...]:
    text = (message or "").strip()
    return (text,) if text else ()


def _describe(result: Any) -> str:
    text = repr(result)
    return text if len(text) <= 200 else text[:200] + "…"


def _init_error(exc: Exception, target: DojoTarget) -> ProverError:
    """DojoInitError: a wrong location is the user's to fix; the rest is a start-up failure."""
    text = " ".join(str(exc).split())
    if "Failed to locate the theorem" in text or "Cannot find the *.ast.json" in text:
        return InputError(
            f"LeanDojo cannot find {target.label}: {text}; check metadata['lean_dojo'] "
            "(full_name is the fully qualified name, file_path is relative to the repository)"
        )
    return BackendError(
        f"LeanDojo could not start Lean for {target.label}: {text or 'DojoInitError'} "
        "(start-up elaborates the file up to the theorem; raise lean_dojo.timeout if it is slow)"
    )


def _start_failure(exc: Exception, target: DojoTarget) -> str:
    text = " ".join(str(exc).split())
    hint = ""
    if "not found" in text or "executable" in text:
        hint = "; is `lake` on PATH (install elan)?"
    return f"LeanDojo could not start Lean for {target.label}: {type(exc).__name__}: {text}{hint}"
