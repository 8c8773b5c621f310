"""The toy environment. A theorem `theorem NAME : 3 ~> 10` asks to turn 3 into 10; each tactic
`add N` or `sub N` (1 <= N <= toy.max_step) changes the current number; reaching the target
closes the goal. Its judge replays a whole proof from the statement, so no search state is
trusted."""

from __future__ import annotations

import re
from collections.abc import Sequence

from prover.config import Config
from prover.errors import InputError
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
from prover_toy.language import STATEMENT
from prover_toy.settings import ToySettings

_TACTIC = re.compile(r"(add|sub)\s+(\d+)")


def _goal(current: int, target: int) -> ProofState:
    return ProofState((f"⊢ {current} ~> {target}",), handle=(current, target))


class ToySession:
    """One attempt at one theorem."""

    def __init__(self, start: int, target: int, settings: ToySettings) -> None:
        self._initial = _goal(start, target)
        self._settings = settings

    @property
    def initial_state(self) -> ProofState:
        return self._initial

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        current, target = state.handle
        match = _TACTIC.fullmatch(tactic.strip())
        if match is None:
            return Failed(FailureKind.ERROR, f"unknown tactic {tactic!r}; use add N or sub N")
        step = int(match.group(2))
        if not 1 <= step <= self._settings.max_step:
            return Failed(FailureKind.ERROR, f"step {step} is not in 1..{self._settings.max_step}")
        current += step if match.group(1) == "add" else -step
        return Finished() if current == target else NewState(_goal(current, target))

    async def verify(self, proof: str) -> Verdict:
        state = self._initial
        for line in proof.splitlines():
            result = await self.run_tactic(state, line)
            if isinstance(result, Finished):
                return Verdict(VerdictStatus.ACCEPTED, "toy")
            if isinstance(result, Failed):
                return Verdict(VerdictStatus.REJECTED, "toy", result.message)
            state = result.state
        return Verdict(VerdictStatus.REJECTED, "toy", f"goal left open: {state.pretty}")

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None


class ToyEnvironment:
    """The environment: opens theorems, and judges proofs in a fresh session."""

    name = "toy"
    capacity = 1

    def __init__(self, settings: ToySettings) -> None:
        self.settings = settings

    async def open(self, theorem: Theorem) -> ToySession:
        match = STATEMENT.fullmatch(theorem.statement.strip())
        if theorem.language != "toy" or match is None:
            raise InputError(
                f"toy theorem '{theorem.name}' must be a toy statement "
                f"'theorem NAME : START ~> TARGET', not {theorem.language} {theorem.statement!r}"
            )
        return ToySession(int(match.group(1)), int(match.group(2)), self.settings)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        session = await self.open(theorem)
        try:
            return await session.verify(proof)
        finally:
            await session.close()

    async def close(self) -> None:
        return None


def create(config: Config) -> ToyEnvironment:
    """Entry point `toy`: built with the resolved `[toy]` section."""
    return ToyEnvironment(config.section("toy"))
