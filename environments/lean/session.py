"""One theorem attempt on the REPL pool: tactic states that survive the loss of their process.

Each state the session hands out is a node: its parent, the tactic (or sketch gap) that made it,
and the REPL proof-state id valid in one process generation. When the process was replaced
(timeout, crash, recycling, a cancelled request), a state is re-created on demand by replaying its
path from the theorem's `sorry` on the fresh process, so the search never sees the fault except as
the one failed tactic. The same replay moves a theorem to an idle process when its own is shared
(the pool's `rebalance`), so no process idles while another has several theorems.

`queued_seconds` is the time this session's requests waited for their process (busy with another
theorem's request); `lean_seconds` the time they were served. A budget counts the second only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from environments.lean.checker import WholeProofChecker
from environments.lean.pool import ReplPool
from environments.lean.replies import (
    Outcome,
    RequestFailure,
    TacticReply,
    classify_tactic,
    parse_command_reply,
    parse_tactic_reply,
)
from environments.lean.screen import ScreenPolicy, screen
from environments.lean.settings import LeanConfig
from environments.lean.statement import Statement, assemble
from environments.lean.worker import ReplTimeout, ReplWorker
from prover.errors import BackendError, InputError, ProverError
from prover.protocols import ProofFeedback
from prover.types import (
    Failed,
    FailureKind,
    Finished,
    NewState,
    ProofState,
    TacticResult,
    Theorem,
    Verdict,
)


class _ReplayError(BackendError):
    """A state could not be re-created identically on a fresh process."""


@dataclass
class _Node:
    parent: int | None
    step: str  # the tactic, or the sketch whose `gap`-th sorry this is ("" for the root)
    goals: tuple[str, ...]
    gap: int | None = None
    in_gap: bool = False  # a sketch gap or below one: "finished" means the gap is closed
    repl_id: int | None = None
    host: tuple[int, int] | None = None  # (worker index, process generation) of repl_id


class LeanReplSession:
    """A ProofSession (and SketchSession) for one theorem on a leased REPL worker."""

    def __init__(
        self,
        theorem: Theorem,
        statement: Statement,
        worker: ReplWorker,
        pool: ReplPool,
        checker: WholeProofChecker,
        config: LeanConfig,
    ) -> None:
        self.theorem = theorem
        self.statement = statement
        self._worker = worker
        self._pool = pool
        self._checker = checker
        self._config = config
        self._policy = ScreenPolicy.from_config(config)
        self._sketch_policy = ScreenPolicy.from_config(config, allow_sorry=True)
        self._nodes: dict[int, _Node] = {}
        self._released = False
        self.queued_seconds = 0.0
        self.lean_seconds = 0.0

    @property
    def worker(self) -> ReplWorker:
        return self._worker

    @property
    def initial_state(self) -> ProofState:
        return ProofState(self._nodes[0].goals, handle=0)

    @contextlib.asynccontextmanager
    async def _operation(self, *, move: bool = True) -> AsyncIterator[ReplWorker]:
        """The worker for one operation (moved first if the pool says so), timed."""
        if move and not self._released:
            self._worker = self._pool.rebalance(self._worker)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        async with self._worker.operation() as worker:
            began = loop.time()
            self.queued_seconds += began - asked
            try:
                yield worker
            finally:
                self.lean_seconds += loop.time() - began

    def _host(self) -> tuple[int, int]:
        return (self._worker.index, self._worker.generation)

    async def start(self) -> None:
        """Open the theorem: its statement with `:= by sorry` on the header's environment."""
        async with self._operation(move=False):
            await self._worker.ready()
            repl_id, goals = await self._open_root()
            host = self._host()
        self._nodes[0] = _Node(None, "", goals, repl_id=repl_id, host=host)

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        refused = screen(tactic, self._policy)
        if refused is not None:
            return Failed(FailureKind.REJECTED, refused.message)
        node_id = self._node_id(state)
        if node_id is None:
            return Failed(FailureKind.ERROR, "unknown proof state: it is not from this session")
        node = self._nodes[node_id]
        async with self._operation():
            try:
                repl_id = await self._materialize(node_id)
                raw = await self._worker.tactic(tactic, repl_id, self._config.tactic_timeout)
                meaning = classify_tactic(parse_tactic_reply(raw), gap=node.in_gap)
            except ReplTimeout as exc:
                return Failed(FailureKind.TIMEOUT, str(exc))
            except ProverError as exc:  # the process died, or a state could not be re-created
                return Failed(FailureKind.CRASH, str(exc))
            host = self._host()
        if meaning.outcome is Outcome.STATE:
            child = self._add(
                _Node(
                    node_id,
                    tactic,
                    meaning.goals,
                    in_gap=node.in_gap,
                    repl_id=meaning.proof_state,
                    host=host,
                )
            )
            return NewState(ProofState(meaning.goals, handle=child), meaning.notes)
        if meaning.outcome is Outcome.FINISHED:
            return Finished(meaning.notes)
        assert meaning.kind is not None
        return Failed(meaning.kind, meaning.message)

    async def run_sketch(self, state: ProofState, sketch: str) -> tuple[ProofState, ...] | Failed:
        """Run a tactic proof whose gaps are `sorry`; the gaps' states in order, or Failed."""
        refused = screen(sketch, self._sketch_policy)
        if refused is not None:
            return Failed(FailureKind.REJECTED, refused.message)
        node_id = self._node_id(state)
        if node_id is None:
            return Failed(FailureKind.ERROR, "unknown proof state: it is not from this session")
        async with self._operation():
            try:
                repl_id = await self._materialize(node_id)
                raw = await self._worker.tactic(sketch, repl_id, self._config.tactic_timeout)
                reply = parse_tactic_reply(raw)
            except ReplTimeout as exc:
                return Failed(FailureKind.TIMEOUT, str(exc))
            except ProverError as exc:  # the process died, or a state could not be re-created
                return Failed(FailureKind.CRASH, str(exc))
            host = self._host()
        problem = _sketch_problem(reply)
        if problem is not None:
            return Failed(FailureKind.ERROR, problem)
        assert isinstance(reply, TacticReply)
        gaps = []
        for index, gap in enumerate(reply.sorries):
            child = self._add(
                _Node(
                    node_id,
                    sketch,
                    (gap.goal,),
                    gap=index,
                    in_gap=True,
                    repl_id=gap.proof_state,
                    host=host,
                )
            )
            gaps.append(ProofState((gap.goal,), handle=child))
        return tuple(gaps)

    async def verify(self, proof: str) -> Verdict:
        return await self._checker.check(self.theorem, proof)

    async def check_proof(self, proof: str) -> ProofFeedback:
        """The `ProofChecking` capability: see environments/lean/feedback.py."""
        from environments.lean.feedback import check_proof

        return await check_proof(
            self._worker,
            self.statement,
            proof,
            policy=self._policy,
            timeout=self._config.verify_timeout,
            run_tactic=self.run_tactic,
            root=self.initial_state,
            verify=self.verify,
        )

    def assemble(self, steps: Sequence[str]) -> str:
        return assemble(steps)

    async def close(self) -> None:
        if not self._released:
            self._released = True
            await self._pool.release(self._worker)

    # -- internals ----------------------------------------------------------------------------

    def _node_id(self, state: ProofState) -> int | None:
        handle = state.handle
        return handle if isinstance(handle, int) and handle in self._nodes else None

    def _add(self, node: _Node) -> int:
        node_id = len(self._nodes)
        self._nodes[node_id] = node
        return node_id

    async def _open_root(self) -> tuple[int, tuple[str, ...]]:
        raw = await self._worker.command(self.statement.with_sorry(), self._config.tactic_timeout)
        reply = parse_command_reply(raw)
        name = self.theorem.name
        if isinstance(reply, RequestFailure):
            raise InputError(f"the REPL refused the statement of {name}: {reply.message}")
        if reply.errors:
            first = reply.errors[0].text.strip().splitlines()[0]
            raise InputError(
                f"the statement of {name} does not elaborate with this header: {first}"
            )
        opened = [s for s in reply.sorries if s.proof_state is not None]
        if not opened:
            raise InputError(f"the REPL gave no proof state for the statement of {name}")
        last = opened[-1]  # the `sorry` appended last; a statement's own sorries come first
        assert last.proof_state is not None
        return last.proof_state, (last.goal,)

    async def _materialize(self, node_id: int) -> int:
        """The node's REPL proof-state id on the current process, replaying its path if needed."""
        await self._worker.ready()
        host = self._host()
        chain: list[int] = []
        current: int | None = node_id
        while current is not None:
            node = self._nodes[current]
            if node.host == host and node.repl_id is not None:
                break
            chain.append(current)
            current = node.parent
        for current in reversed(chain):
            node = self._nodes[current]
            node.repl_id = await self._recreate(node)
            node.host = host
        repl_id = self._nodes[node_id].repl_id
        assert repl_id is not None
        return repl_id

    async def _recreate(self, node: _Node) -> int:
        if node.parent is None:
            repl_id, goals = await self._open_root()
            if goals != node.goals:
                raise _ReplayError("the theorem opened with different goals on a fresh process")
            return repl_id
        parent = self._nodes[node.parent]
        assert parent.repl_id is not None
        raw = await self._worker.tactic(node.step, parent.repl_id, self._config.tactic_timeout)
        reply = parse_tactic_reply(raw)
        if node.gap is not None:
            if (
                isinstance(reply, TacticReply)
                and node.gap < len(reply.sorries)
                and reply.sorries[node.gap].proof_state is not None
                and (reply.sorries[node.gap].goal,) == node.goals
            ):
                repl_id = reply.sorries[node.gap].proof_state
                assert repl_id is not None
                return repl_id
            raise _ReplayError("a sketch gap could not be re-created on a fresh process")
        meaning = classify_tactic(reply, gap=parent.in_gap)
        if meaning.outcome is not Outcome.STATE or meaning.goals != node.goals:
            raise _ReplayError(
                f"replaying `{node.step[:60]}` on a fresh process gave a different state"
            )
        assert meaning.proof_state is not None
        return meaning.proof_state


def _sketch_problem(reply: TacticReply | RequestFailure) -> str | None:
    if isinstance(reply, RequestFailure):
        return reply.message
    if reply.errors:
        return "\n".join(m.text for m in reply.errors)
    if reply.goals:
        return f"the sketch leaves {len(reply.goals)} goal(s) open outside its gaps"
    if reply.status and reply.status.startswith("Error"):
        return reply.status
    if any(s.proof_state is None for s in reply.sorries):
        return "the REPL gave no proof state for a gap"
    if not reply.sorries and reply.status not in (None, "Completed"):
        return f"the sketch is not a proof: {reply.status}"
    return None
