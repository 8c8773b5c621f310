"""The `lean-dojo` environment: Lean 4 through `lean_dojo.Dojo` (lean-dojo 4.x), for traced repos.

LeanDojo's API blocks (pexpect), so every call runs in this environment's thread pool; at most
`lean_dojo.max_concurrency` Dojos (each one Lean process) are alive at once, and sessions beyond
that wait in `open()`. Every Dojo entered is exited, and its process group stopped, by the
session's `close()` or at the latest by the environment's. Settings: config.py
(LeanDojoConfig, the `[lean_dojo]` section); theorem locations: environments/lean/dojo/target.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from environments.lean.dojo.doctor import doctor_checks
from environments.lean.dojo.factory import DojoFactory, LeanDojoFactory
from environments.lean.dojo.process import release
from environments.lean.dojo.recheck import load_checker, repl_unavailable
from environments.lean.dojo.session import DojoCounters, LeanDojoSession
from environments.lean.dojo.settings import load_lean_dojo
from environments.lean.dojo.target import dojo_theorem, target_of
from environments.lean.screen import ScreenPolicy
from prover.config import Config
from prover.errors import BackendError, InputError
from prover.types import Theorem, Verdict, VerdictStatus

__all__ = [
    "DojoCounters",
    "DojoStats",
    "LeanDojoEnvironment",
    "create",
    "doctor_checks",
    "dojo_theorem",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DojoStats:
    """A snapshot of `DojoCounters` plus the Dojos alive right now."""

    started: int
    stopped: int
    live: int
    restarts: int
    timeouts: int
    crashes: int
    out_of_memory: int
    replayed_tactics: int
    init_failures: int


class LeanDojoEnvironment:
    """Opens theorems located in traced repositories as LeanDojo sessions."""

    name = "lean-dojo"

    def __init__(
        self,
        config: Config,
        *,
        factory: DojoFactory | None = None,
        checker: Any | None = None,
    ) -> None:
        self.config = config
        self.settings = config.section("lean_dojo")
        self.capacity = self.settings.max_concurrency  # Dojos alive at once, one theorem each
        # The same screen as lean-repl: a tactic that runs code never reaches LeanDojo's Lean.
        self.screen_policy = ScreenPolicy.from_config(config.section("lean"))
        self.lean_dojo = load_lean_dojo(self.settings)
        self.factory: DojoFactory = factory or LeanDojoFactory(self.settings)
        self.counters = DojoCounters()
        self._checker = checker
        self._checker_reason: str | None = None if checker is None else ""
        self._owns_checker = False
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.max_concurrency, thread_name_prefix="lean-dojo"
        )
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._live: dict[int, Any] = {}
        self._live_lock = threading.Lock()
        self._sessions: set[LeanDojoSession] = set()
        self._closed = False

    @property
    def stats(self) -> DojoStats:
        c = self.counters
        with self._live_lock:
            return DojoStats(
                started=c.started,
                stopped=c.stopped,
                live=len(self._live),
                restarts=c.restarts,
                timeouts=c.timeouts,
                crashes=c.crashes,
                out_of_memory=c.out_of_memory,
                replayed_tactics=c.replayed_tactics,
                init_failures=c.init_failures,
            )

    async def open(self, theorem: Theorem) -> LeanDojoSession:
        if self._closed:
            raise BackendError("the lean-dojo environment is closed")
        target = target_of(theorem)  # a bad location fails before waiting for a slot
        await self._slots.acquire()
        session = LeanDojoSession(self, theorem, target)
        self._sessions.add(session)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            sessions = list(self._sessions)
            results = await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    log.warning("closing a LeanDojo session failed: %r", result)
            with self._live_lock:
                leftovers = list(self._live.values())
            for dojo in leftovers:  # entered by a call whose caller stopped waiting
                await asyncio.to_thread(self.release_blocking, dojo)  # not behind a busy pool
        finally:
            await self._shutdown_pool()
            closer = getattr(self._checker, "close", None) if self._owns_checker else None
            if closer is not None:
                await closer()

    async def _shutdown_pool(self) -> None:
        # A thread blocked in LeanDojo outside Lean (a network request) cannot be interrupted:
        # wait a bounded time, then leave it to finish on its own.
        shutdown = asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        try:
            await asyncio.wait_for(shutdown, self.settings.timeout)
        except asyncio.TimeoutError:
            log.warning("a LeanDojo call is still blocked after close; its thread finishes alone")

    # -- used by sessions --

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run a blocking LeanDojo call in the pool."""
        return self._executor.submit(fn, *args)

    def track(self, dojo: Any) -> None:
        """Record an entered Dojo (called in the worker thread that entered it)."""
        with self._live_lock:
            self._live[id(dojo)] = dojo
            self.counters.started += 1

    def is_live(self, dojo: Any) -> bool:
        with self._live_lock:
            return id(dojo) in self._live

    def release_blocking(self, dojo: Any) -> None:
        """Exit an entered Dojo and stop its processes (blocking; in the pool)."""
        with self._live_lock:
            if self._live.pop(id(dojo), None) is None:
                return
        try:
            release(dojo, entered=True)
        except Exception as exc:  # the process group is stopped regardless (release's finally)
            log.warning("LeanDojo's __exit__ failed: %s: %s", type(exc).__name__, exc)
        finally:
            with self._live_lock:
                self.counters.stopped += 1

    def release_failed_enter(self, dojo: Any) -> None:
        """Clean up after `Dojo.__enter__` raised: LeanDojo itself leaves Lean running then."""
        try:
            release(dojo, entered=False)
        except Exception as exc:
            log.warning("cleaning up a failed LeanDojo start: %s: %s", type(exc).__name__, exc)

    def session_closed(self, session: LeanDojoSession) -> None:
        if session in self._sessions:
            self._sessions.discard(session)
            self._slots.release()

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """lean-repl's judge (`lean.judge`: the kernel judge, or the REPL whole-proof check)
        where lake-project is usable; LeanDojo's own word is unchecked."""
        checker, reason = self.whole_proof_checker()
        if checker is not None and not theorem.statement.strip():
            checker, reason = None, "the theorem carries no statement text to re-check"
        if checker is None:
            return Verdict(
                VerdictStatus.UNCHECKED,
                "lean-dojo",
                f"LeanDojo's own check only; not re-checked as a whole proof because {reason}",
            )
        return await checker.check(theorem, proof)

    def whole_proof_checker(self) -> tuple[Any | None, str]:
        """lean-repl's judge if usable, else None and why not."""
        if self.settings.recheck == "off":
            return None, "lean_dojo.recheck is 'off'"
        if self._checker_reason is None:
            self._checker, self._checker_reason = load_checker(self.config)
            self._owns_checker = self._checker is not None
        return self._checker, self._checker_reason


def create(config: Config) -> LeanDojoEnvironment:
    """Entry point `lean-dojo`: settings from `[lean_dojo]`; imports lean_dojo now."""
    if config.section("lean_dojo").recheck == "repl":
        reason = repl_unavailable(config.section("lean"))
        if reason is not None:
            raise InputError(
                f"lean_dojo.recheck = 'repl' needs the lean-repl backend, but {reason}; "
                "or set lean_dojo.recheck = 'auto'"
            )
    return LeanDojoEnvironment(config)
