"""The replay environment: answers tactics from a recorded trace. It cannot check proofs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from environments.trace import read_trace, result_from_json
from prover.config import Config
from prover.errors import InputError
from prover.types import (
    Failed,
    FailureKind,
    ProofState,
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)


def _normalise(tactic: str) -> str:
    return tactic.strip()


def normalise_statement(statement: str) -> str:
    """Whitespace-insensitive statement text without its `:= by [sorry]` tail."""
    text = re.sub(r":=\s*by(\s+sorry)?\s*$", "", statement.strip())
    return " ".join(text.split())


class ReplaySession:
    """One theorem replayed from the trace; unrecorded tactics fail with kind `error`."""

    def __init__(self, env: ReplayEnvironment, initial: ProofState) -> None:
        self._env = env
        self._initial = initial

    @property
    def initial_state(self) -> ProofState:
        return self._initial

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        result = self._env.lookup(state.pretty, tactic)
        if result is None:
            return Failed(
                FailureKind.ERROR,
                "not in the replay trace: no recorded result for this tactic on this state",
            )
        return result

    async def verify(self, proof: str) -> Verdict:
        return Verdict(
            VerdictStatus.UNCHECKED, "replay", "replay cannot check proofs; re-run with a Lean env"
        )

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None


class ReplayEnvironment:
    """Serves recorded (goals, tactic) → result pairs; opens theorems recorded by name."""

    name = "replay"

    def __init__(self, records: Iterable[dict[str, Any]], source: str = "<memory>") -> None:
        self.source = source
        self._opens: dict[str, ProofState] = {}
        self._statements: dict[str, str] = {}
        self._results: dict[tuple[str, str], TacticResult] = {}
        for record in records:
            if record["type"] == "open":
                self._opens[record["theorem"]] = ProofState(tuple(record["goals"]))
                self._statements[record["theorem"]] = normalise_statement(
                    record.get("statement", "")
                )
            else:
                key = (record["goals"], _normalise(record["tactic"]))
                try:
                    self._results[key] = result_from_json(record["result"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise InputError(
                        f"trace {source}: a recorded result of '{record.get('theorem')}' is "
                        f"malformed ({exc}); re-make the trace with `prover trace` or --record"
                    ) from exc

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayEnvironment:
        return cls(read_trace(path), str(path))

    @property
    def theorems(self) -> list[str]:
        return sorted(self._opens)

    def lookup(self, goals: str, tactic: str) -> TacticResult | None:
        return self._results.get((goals, _normalise(tactic)))

    async def open(self, theorem: Theorem) -> ReplaySession:
        initial = self._opens.get(theorem.name)
        if initial is None:
            raise InputError(
                f"theorem '{theorem.name}' is not in the replay trace {self.source}; "
                "record it with --record or convert it with `prover trace llemma`"
            )
        recorded = self._statements.get(theorem.name, "")
        if recorded and theorem.statement and normalise_statement(theorem.statement) != recorded:
            raise InputError(
                f"the statement of '{theorem.name}' differs from the one recorded in "
                f"{self.source}; replay answers only the recorded statement"
            )
        return ReplaySession(self, initial)

    async def judge(self, theorem: Theorem, proof: str) -> Verdict:
        """Replay has no proof assistant behind it: nothing it finds is checked or counted."""
        return Verdict(
            VerdictStatus.UNCHECKED, "replay", "replay cannot check proofs; re-run with a Lean env"
        )

    async def close(self) -> None:
        return None


def create(config: Config) -> ReplayEnvironment:
    """Entry point: `--env replay --trace FILE` (or `[replay] trace = FILE`)."""
    if not config.section("replay").trace:
        raise InputError("the replay environment needs a trace: pass --trace FILE.jsonl")
    return ReplayEnvironment.from_file(config.section("replay").trace)
