"""The `lean-repl` environment: theorems opened on a pool of Lean REPL processes.

Processes run `lean.repl_command` (default `lake exe repl`; in the sandbox `lake env` on the built
REPL, see toolchain.worker_settings) in lake-project, each in its own
process group under an address-space cap and in the run's sandbox, keyed by header so `import
Mathlib` runs once per process; see worker.py for faults and recycling, session.py for states,
checker.py for `verify` (the cheap in-search check). Whether a proof counts is `judge`: the kernel
judge (judge.py) by default, or the REPL whole-proof check alone with `lean.judge = "repl"`.
A process serves several theorems at once (pool.py), so the default number of theorems in flight
is `THEOREMS_PER_PROCESS` per search process: while one waits for the model another uses Lean.
"""

from __future__ import annotations

import asyncio
import contextlib

from environments.lean.checker import WholeProofChecker
from environments.lean.judge import KernelJudge
from environments.lean.pool import ReplPool
from environments.lean.screen import ScreenPolicy, screen_header, screen_statement
from environments.lean.session import LeanReplSession
from environments.lean.settings import LeanConfig
from environments.lean.statement import parse_statement
from environments.lean.toolchain import pool_size, worker_settings
from prover.config import Config
from prover.errors import InputError
from prover.sandbox import SandboxPolicy, policy_for, require_bwrap
from prover.types import Language, Theorem, Verdict

# Theorems in flight per search process. Three keep a process busy across one theorem's model
# waits, and let the pool move a theorem to a process that fell idle near the end of a run.
THEOREMS_PER_PROCESS = 3


class LeanReplEnvironment:
    """Owns the REPL pool and the whole-proof checker shared by its sessions."""

    name = "lean-repl"

    def __init__(
        self,
        config: LeanConfig,
        *,
        pool: ReplPool | None = None,
        policy: SandboxPolicy | None = None,
        checker_pool: ReplPool | None = None,
    ) -> None:
        """`policy`: the run's sandbox for the REPL processes and the judge's steps (None runs
        the REPL as given and the kernel judge under bwrap)."""
        self.config = config
        # Built only for pools not given: the checks behind it need a built lake-project.
        settings = None if pool and checker_pool else worker_settings(config, policy)
        self.pool = pool or ReplPool(settings, pool_size(config))  # type: ignore[arg-type]
        # The checker's processes never run a model's tactic: whatever a tactic did to its
        # process cannot influence the verdict on a proof. They are few (lean.checker_pool_size)
        # and idle most of the time, so they share the cores with the search's processes.
        self.checker_pool = checker_pool or ReplPool(
            settings,  # type: ignore[arg-type]
            config.checker_pool_size,
        )
        self.checker = WholeProofChecker(config, pool=self.checker_pool)
        self.kernel_judge = KernelJudge(config, policy)
        self._policy = ScreenPolicy.from_config(config)
        self._warming: dict[str, asyncio.Task[None]] = {}

    @property
    def capacity(self) -> int:
        """Theorems in flight by default: `THEOREMS_PER_PROCESS` per search process."""
        return self.pool.size * THEOREMS_PER_PROCESS

    @property
    def pids(self) -> list[int]:
        """Process ids of the live REPL processes (each is also its process-group id)."""
        return self.pool.pids

    async def open(self, theorem: Theorem) -> LeanReplSession:
        if theorem.language != Language.LEAN4:
            raise InputError(
                f"lean-repl proves Lean 4 theorems; '{theorem.name}' is {theorem.language}"
            )
        statement = parse_statement(theorem.statement)
        refused = screen_header(theorem.header, self._policy)
        if refused is not None:
            raise InputError(f"the header of '{theorem.name}' is refused: {refused.message}")
        refused = screen_statement(theorem.statement, self._policy)
        if refused is not None:
            raise InputError(f"the statement of '{theorem.name}' is refused: {refused.message}")
        self._warm_checker(theorem.header)
        worker = await self.pool.lease(theorem.header)
        session = LeanReplSession(theorem, statement, worker, self.pool, self.checker, self.config)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    @property
    def judge_name(self) -> str:
        """The `verified_by` of accepted proofs: lean-kernel, or lean-repl with judge = "repl"."""
        return self.checker.name if self.config.judge == "repl" else self.kernel_judge.name

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """The kernel judge; with `lean.judge = "repl"`, the whole-proof check in checker
        processes that never ran a model's tactic."""
        if self.config.judge == "repl":
            return await self.checker.check(theorem, proof)
        return await self.kernel_judge.judge(theorem, proof)

    def _warm_checker(self, header: str) -> None:
        """Start a checker process for `header` in the background, so the first proof's check
        does not pay for `import Mathlib` inside the search's wall budget."""
        if header in self._warming:
            return

        async def warm() -> None:
            with contextlib.suppress(
                Exception
            ):  # a failure shows again, and is reported, at verify
                async with self.checker_pool.leased(header) as worker:
                    await worker.ready()

        self._warming[header] = asyncio.ensure_future(warm())

    async def close(self) -> None:
        """Stop every REPL process; none of ours is left running."""
        for task in self._warming.values():
            task.cancel()
        await asyncio.gather(*self._warming.values(), return_exceptions=True)
        await self.kernel_judge.close()
        await self.checker.close()
        await self.checker_pool.close()
        await self.pool.close()


def create(config: Config) -> LeanReplEnvironment:
    """Entry point: `--env lean-repl`, configured by the `[lean]` section; asking for the bwrap
    sandbox where it cannot run is a one-line ConfigError here, before any process starts."""
    if config.sandbox == "bwrap":
        require_bwrap()
    return LeanReplEnvironment(config.section("lean"), policy=policy_for(config))
