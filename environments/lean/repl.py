"""The `lean-repl` environment: theorems opened on a pool of Lean REPL processes (PROTOCOLS.md §1).

Processes run `lean.repl_command` (default `lake exe repl`) in lake-project, each in its own
process group under an address-space cap, keyed by header so `import Mathlib` runs once per
process; see worker.py for faults and recycling, session.py for states, checker.py for `verify`.
A process serves several theorems at once (pool.py), so the default number of theorems in flight
is `THEOREMS_PER_PROCESS` per search process: while one waits for the model another uses Lean.
"""

from __future__ import annotations

import asyncio
import contextlib

from environments.lean.checker import WholeProofChecker
from environments.lean.pool import ReplPool
from environments.lean.screen import ScreenPolicy, screen_header
from environments.lean.session import LeanReplSession
from environments.lean.statement import parse_statement
from environments.lean.toolchain import pool_size, worker_settings
from prover.config import Config, LeanConfig
from prover.errors import InputError
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
        checker_pool: ReplPool | None = None,
    ) -> None:
        self.config = config
        self.pool = pool or ReplPool(worker_settings(config), pool_size(config))
        # The checker's processes never run a model's tactic: whatever a tactic did to its
        # process cannot influence the verdict on a proof. They are few (lean.checker_pool_size)
        # and idle most of the time, so they share the cores with the search's processes.
        self.checker_pool = checker_pool or ReplPool(
            worker_settings(config), config.checker_pool_size
        )
        self.checker = WholeProofChecker(config, pool=self.checker_pool)
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
        if theorem.language is not Language.LEAN4:
            raise InputError(
                f"lean-repl proves Lean 4 theorems; '{theorem.name}' is {theorem.language.value}"
            )
        statement = parse_statement(theorem.statement)
        refused = screen_header(theorem.header, self._policy)
        if refused is not None:
            raise InputError(f"the header of '{theorem.name}' is refused: {refused.message}")
        self._warm_checker(theorem.header)
        worker = await self.pool.lease(theorem.header)
        session = LeanReplSession(theorem, statement, worker, self.pool, self.checker, self.config)
        try:
            await session.start()
        except BaseException:
            await session.close()
            raise
        return session

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """The whole-proof check in checker processes that never ran a model's tactic."""
        return await self.checker.check(theorem, proof)

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
        await self.checker.close()
        await self.checker_pool.close()
        await self.pool.close()


def create(config: Config) -> LeanReplEnvironment:
    """Entry point: `--env lean-repl`, configured by the `[lean]` section."""
    return LeanReplEnvironment(config.lean)
