"""One attempt at one Isabelle theorem on one PISA server (ProofSession and SketchSession).

States live on the server under names we choose; a `ProofState.handle` is an `IsarHandle` that
also records the Isar steps leading to it, so when the server has to be restarted any state can be
rebuilt on the new one. Isar text is split into commands by Isabelle (`<parse text>`) and run one
command per step, so errors name the failing command and nothing runs after a proof is closed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from environments.isabelle import isar
from environments.isabelle.client import PisaClient, PisaError
from environments.isabelle.pool import ServerPool
from environments.isabelle.server import THEORY_STATE, PisaServer
from environments.isabelle.settings import DSP_HEURISTICS
from prover.errors import BackendError, InputError
from prover.strategies.closers import RAN_PREFIX
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

_R = TypeVar("_R")

CHECKER = "isabelle-pisa"  # a fresh re-run through PISA; the batch judge is "isabelle-build"


@dataclass(frozen=True)
class IsarHandle:
    """Where a state lives: its name on the server (valid for one server generation), the steps
    from the theorem's initial state, and, for sketch gaps, the proof level the gap opened at."""

    name: str
    generation: int
    path: tuple[str, ...]
    gap_level: int | None = None


@dataclass(frozen=True)
class HammerSettings:
    """How gaps are closed (the heuristic list, then PISA's Sledgehammer command), and whether
    proofs by code evaluation (`eval`, `normalization`) count."""

    heuristics: tuple[str, ...] = DSP_HEURISTICS
    command: str = "normalhammer"
    allow_eval: bool = False

    @property
    def usable_heuristics(self) -> tuple[str, ...]:
        """The heuristics the screen would let through."""
        if self.allow_eval:
            return self.heuristics
        return tuple(h for h in self.heuristics if not isar.uses_evaluation(h))


class _Closed(Exception):
    """A step closed the proof (or the gap) before the text ended."""


class _Screened(Exception):
    """A command piece Isabelle split the text into was refused by the screen."""

    def __init__(self, failed: Failed) -> None:
        super().__init__(failed.message)
        self.failed = failed


class IsabelleSession:
    """A theorem opened on a server lent by the pool; returned to the pool on `close`."""

    def __init__(
        self,
        pool: ServerPool,
        server: PisaServer,
        theorem: Theorem,
        *,
        header: str,
        hammer: HammerSettings,
        prefix: str,
    ) -> None:
        self.theorem = theorem
        self.statement = theorem.statement.strip()
        self._pool = pool
        self._server = server
        self._header = header
        self._hammer = hammer
        self._prefix = prefix
        self._counter = itertools.count()
        self._generation = server.generation
        self._names: dict[tuple[str, ...], str] = {}  # path -> state name, this generation
        self._created: list[str] = []
        self._hammer_found: dict[str, str] = {}  # state text -> tactic that closed it
        self._broken: str | None = None
        # A call was cancelled (wall clock) while the server worked on it: the server is still
        # busy, so it is re-initialised on close instead of being asked to delete states.
        self._interrupted = False
        self._initial: ProofState | None = None
        self._lock = asyncio.Lock()  # one call at a time: PISA's state map is not thread-safe

    # -- opening -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run the statement on the server's theory state; raises InputError if Isabelle
        refuses it, BackendError if the server fails."""
        try:
            try:
                commands = await self._commands(self.statement)
            except _Screened as exc:
                raise InputError(
                    f"the statement of {self.theorem.name} is not usable: {exc.failed.message}"
                ) from None
            if len(commands) != 1 or not isar.is_statement(commands[0]):
                raise InputError(
                    f"the statement of {self.theorem.name} must be one `theorem …` without a "
                    f"proof; Isabelle reads {len(commands)} commands in it"
                )
            name, text = await self._step(THEORY_STATE, self.statement)
            level = await self._client.proof_level(name)
        except asyncio.CancelledError:
            self._interrupted = True  # the server may still be busy with the statement
            raise
        except PisaError as exc:
            if exc.server_unusable:
                await self._recover_quietly()
            if exc.transport or exc.server_unusable:
                raise BackendError(f"opening {self.theorem.name}: {exc}") from exc
            raise InputError(
                f"Isabelle rejected the statement of {self.theorem.name}: {exc}"
            ) from exc
        if level < 1:
            raise InputError(f"the statement of {self.theorem.name} opens no goal")
        self._names[()] = name
        self._initial = ProofState((text.strip(),), IsarHandle(name, self._generation, ()))

    @property
    def initial_state(self) -> ProofState:
        assert self._initial is not None, "IsabelleSession.start() was not awaited"
        return self._initial

    @property
    def server(self) -> PisaServer:
        return self._server

    @property
    def _client(self) -> PisaClient:
        client = self._server.client
        if client is None:
            raise PisaError(Failed(FailureKind.CRASH, "PISA server is stopped"), transport=True)
        return client

    # -- ProofSession --------------------------------------------------------------------------

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        """Apply Isar text; `sledgehammer` (or `hammer`) runs the heuristics, then Sledgehammer."""
        screened = isar.screen(tactic, allow_eval=self._hammer.allow_eval)
        if screened is not None:
            return screened
        return await self._guarded(state, lambda handle: self._run(handle, state.pretty, tactic))

    async def _guarded(
        self, state: ProofState, work: Callable[[IsarHandle], Awaitable[_R]]
    ) -> _R | Failed:
        """Run `work` on the state's handle under the session lock; PISA faults become kinds."""
        handle = state.handle
        if not isinstance(handle, IsarHandle):
            return Failed(FailureKind.ERROR, "this state does not come from an Isabelle session")
        async with self._lock:
            self._check_usable()
            try:
                return await work(handle)
            except _Closed as exc:
                return Failed(FailureKind.REJECTED, str(exc))
            except _Screened as exc:
                return exc.failed
            except PisaError as exc:
                return await self._failure(exc)
            except asyncio.CancelledError:
                self._interrupted = True
                raise

    def _check_usable(self) -> None:
        """A session whose server was lost cannot go on: the attempt ends as an `error`."""
        if self._broken is not None:
            raise BackendError(self._broken)

    async def _run(self, handle: IsarHandle, text: str, tactic: str) -> TacticResult:
        name = await self._ensure(handle)
        commands = await self._commands(tactic, allow_eval=self._hammer.allow_eval)
        if not commands:
            return Failed(FailureKind.ERROR, "the tactic holds no Isar command")
        path, messages, done, ran = handle.path, [], False, []
        # The bare hammer command (e.g. `normalhammer`) is Sledgehammer alone: callers that ran
        # the heuristics themselves (the sketch strategy's closers) must not pay for them twice.
        hammer_only = tactic.strip() == self._hammer.command and tactic.strip() not in (
            "sledgehammer",
            "hammer",
        )
        for i, command in enumerate(commands):
            if done:
                raise _Closed(
                    f"the text goes on after the goal is closed (step {i + 1}: "
                    f"{isar.command_word(command)[:80]})"
                )
            if isar.is_gap(command, (self._hammer.command,)):
                name, step, text = await self._close_gap(name, text, heuristics=not hammer_only)
                messages.append(f"{isar.GAP_WORD}: {step}")
            else:
                step = command.strip()
                name, text = await self._step(name, step)
            ran.append(step)
            path = (*path, step)
            self._names[path] = name
            done = self._closes(await self._client.proof_level(name), handle)
        if messages:  # a hammer step: say exactly which text ran, so the proof records it
            messages.append(RAN_PREFIX + isar.assemble(ran))
        if done:
            return Finished(tuple(messages))
        new = IsarHandle(name, self._generation, path, handle.gap_level)
        return NewState(ProofState((text.strip(),), new), tuple(messages))

    async def verify(self, proof: str) -> Verdict:
        """Re-run the statement and the whole proof from `default` on fresh states; refuses
        `sorry`, `oops` and code; the proof must close the theorem exactly at its last step."""
        screened = isar.screen(proof, allow_eval=self._hammer.allow_eval)
        if screened is not None:
            return Verdict(VerdictStatus.REJECTED, CHECKER, screened.message)
        async with self._lock:
            if self._broken is not None:
                return Verdict(VerdictStatus.ERROR, CHECKER, f"not checked: {self._broken}")
            try:
                return await self._verify(proof)
            except _Closed as exc:
                return Verdict(VerdictStatus.REJECTED, CHECKER, str(exc))
            except _Screened as exc:
                return Verdict(VerdictStatus.REJECTED, CHECKER, exc.failed.message)
            except PisaError as exc:
                try:
                    failed = await self._failure(exc)
                except BackendError as lost:
                    return Verdict(VerdictStatus.ERROR, CHECKER, f"not checked: {lost}")
                if exc.transport or exc.server_unusable:
                    return Verdict(
                        VerdictStatus.ERROR,
                        CHECKER,
                        f"the check did not complete: {failed.message}",
                    )
                return Verdict(
                    VerdictStatus.REJECTED, CHECKER, f"Isabelle refused it: {failed.message}"
                )
            except asyncio.CancelledError:
                self._interrupted = True
                raise

    async def _verify(self, proof: str) -> Verdict:
        self._sync()
        commands = await self._commands(proof, allow_eval=self._hammer.allow_eval)
        if commands and isar.is_statement(commands[0]):
            if not isar.same_statement(commands[0], self.statement):
                raise _Closed("the proof text states a different theorem")
            commands = commands[1:]
        if not commands:
            raise _Closed("the proof is empty")
        name, _ = await self._step("default", self._header)
        name, text = await self._step(name, self.statement)
        closers: list[str] = []
        level = await self._client.proof_level(name)
        for i, command in enumerate(commands):
            if level == 0:
                raise _Closed(f"the proof goes on after the theorem is proved (step {i + 1})")
            try:
                if isar.is_gap(command, (self._hammer.command,)):
                    name, step, text = await self._close_gap(name, text)
                    closers.append(step)
                else:
                    name, text = await self._step(name, command.strip())
            except PisaError as exc:
                if exc.transport or exc.server_unusable:
                    raise
                word = isar.command_word(command)[:80]
                raise _Closed(f"Isabelle refused step {i + 1} ({word}): {exc}") from exc
            level = await self._client.proof_level(name)
        if level != 0:
            raise _Closed(f"the proof leaves the theorem open (proof level {level} at its end)")
        detail = f"{len(commands)} steps re-run from `default` by Isabelle via PISA"
        if closers:
            detail += "; sledgehammer steps closed by: " + " | ".join(closers)
        return Verdict(VerdictStatus.ACCEPTED, CHECKER, detail)

    def assemble(self, steps: Sequence[str]) -> str:
        return isar.assemble(steps)

    # -- SketchSession -------------------------------------------------------------------------

    async def run_sketch(self, state: ProofState, sketch: str) -> tuple[ProofState, ...] | Failed:
        """Run an Isar sketch with each gap (`sledgehammer`, `sorry`) skipped by `sorry`; returns
        the state before each gap, in order, or Failed if a step fails or the proof stays open."""
        screened = isar.screen(sketch, allow_sorry=True, allow_eval=self._hammer.allow_eval)
        if screened is not None:
            return screened
        return await self._guarded(state, lambda handle: self._sketch(handle, state.pretty, sketch))

    async def _sketch(
        self, handle: IsarHandle, text: str, sketch: str
    ) -> tuple[ProofState, ...] | Failed:
        name = await self._ensure(handle)
        commands = await self._commands(
            sketch, allow_sorry=True, allow_eval=self._hammer.allow_eval
        )
        if commands and isar.is_statement(commands[0]):
            if not isar.same_statement(commands[0], self.statement) or handle.path:
                raise _Closed("the sketch states a different theorem (or not from the start)")
            commands = commands[1:]
        if not commands:
            return Failed(FailureKind.ERROR, "the sketch holds no Isar command")
        level = await self._client.proof_level(name)
        path, gaps = handle.path, []
        for i, command in enumerate(commands):
            if self._closes(level, handle):
                raise _Closed(f"the sketch goes on after the proof is closed (step {i + 1})")
            gap = isar.is_gap(command, (self._hammer.command,))
            if gap or isar.command_word(command) in ("sorry", "\\<proof>"):
                here = IsarHandle(name, self._generation, path, gap_level=level)
                gaps.append(ProofState((text.strip(),), here))
                step = "sorry"  # Isabelle skips the goal; the gap is closed later
            else:
                step = command.strip()
            try:
                name, text = await self._step(name, step)
            except PisaError as exc:
                if exc.server_unusable:
                    raise
                word = isar.command_word(command)[:80]
                return Failed(exc.kind, f"sketch step {i + 1} ({word}) failed: {exc}")
            path = (*path, step)
            self._names[path] = name
            level = await self._client.proof_level(name)
        if not self._closes(level, handle):
            return Failed(
                FailureKind.ERROR, f"the sketch leaves the proof open (proof level {level})"
            )
        return tuple(gaps)

    # -- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Delete the states this session made and give the server back to the pool."""
        async with self._lock:
            healthy = self._broken is None and not self._interrupted
            self._sync()
            try:
                if healthy:
                    for name in self._created:
                        await self._client.delete(name)
            except PisaError as exc:
                healthy = not exc.server_unusable
            finally:
                self._created = []
                self._pool.release(self._server, healthy=healthy)

    # -- internals -----------------------------------------------------------------------------

    def _new_name(self) -> str:
        return f"{self._prefix}_{next(self._counter)}"

    async def _step(self, old: str, action: str) -> tuple[str, str]:
        new = self._new_name()
        text = await self._client.apply(old, action, new)
        self._created.append(new)  # PISA stores a state only when its step succeeded
        return new, text

    async def _commands(
        self, text: str, *, allow_sorry: bool = False, allow_eval: bool = False
    ) -> list[str]:
        """Isabelle's commands in `text`, gaps written `sledgehammer`, comment-only pieces gone;
        every piece is screened (raises _Screened), since the pieces are what Isabelle runs."""
        pieces = await self._client.parse(isar.with_gap_word(text, self._hammer.command))
        commands = [p for p in pieces if not isar.is_blank(p)]
        screened = isar.screen_pieces(commands, allow_sorry=allow_sorry, allow_eval=allow_eval)
        if screened is not None:
            raise _Screened(screened)
        return commands

    @staticmethod
    def _closes(level: int, handle: IsarHandle) -> bool:
        """Level 0 ends the theorem; for a gap, dropping below its level ends the gap."""
        return level == 0 if handle.gap_level is None else level < handle.gap_level

    async def _close_gap(
        self, name: str, text: str, *, heuristics: bool = True
    ) -> tuple[str, str, str]:
        """Close the goal of state `name` (printed as `text`): the tactic that worked on this goal
        before, the heuristics in order, then Sledgehammer. Returns (new state, tactic, text)."""
        text = text.strip()
        known = self._hammer_found.get(text)
        tried = [known] if known else []
        listed = self._hammer.usable_heuristics if heuristics else ()
        for tactic in [*tried, *(h for h in listed if h != known)]:
            try:
                new, new_text = await self._step(name, tactic)
            except PisaError as exc:
                if exc.server_unusable:
                    raise
                continue  # `by …` either closes the goal or fails
            self._hammer_found[text] = tactic
            return new, tactic, new_text
        new = self._new_name()
        try:
            reply = await self._client.hammer(name, new, self._hammer.command)
            self._created.append(new)
        except PisaError as exc:
            if exc.server_unusable:
                raise
            raise PisaError(
                Failed(
                    exc.kind,
                    f"no heuristic closed the goal and Sledgehammer found no proof ({exc})",
                )
            ) from exc
        self._hammer_found[text] = reply.tactic
        return new, reply.tactic, reply.state

    def _sync(self) -> None:
        """Forget the names of a server generation that no longer exists."""
        if self._generation != self._server.generation:
            self._generation = self._server.generation
            self._names, self._created = {}, []

    async def _ensure(self, handle: IsarHandle) -> str:
        """The state's name on the current server, rebuilding it there from its path if the
        server was restarted since the state was made."""
        self._sync()
        if handle.generation == self._server.generation:
            return handle.name
        known = max(
            (n for n in range(len(handle.path) + 1) if handle.path[:n] in self._names),
            default=None,
        )
        if known is None:
            name, _ = await self._step(THEORY_STATE, self.statement)
            self._names[()] = name
            known = 0
        name = self._names[handle.path[:known]]
        for n in range(known, len(handle.path)):
            name, _ = await self._step(name, handle.path[n])
            self._names[handle.path[: n + 1]] = name
        return name

    async def _failure(self, exc: PisaError) -> Failed:
        """The result for a failed call; an unusable server is restarted first, and a server
        that cannot be brought back ends the attempt (BackendError: status `error`)."""
        if exc.server_unusable:
            await self._recover_quietly()
            self._check_usable()
        return exc.failed

    async def _recover_quietly(self) -> None:
        try:
            await self._pool.recover(self._server)
        except BackendError as exc:
            self._broken = str(exc)
