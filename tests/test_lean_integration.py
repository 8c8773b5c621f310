"""Against real Lean: lake-project built by `prover setup lean`, the REPL, Mathlib v4.24.0, and the
kernel judge's lean4export and lean4checker.

Skipped (with the reason printed) where Lean is not installed; run with `pytest --run-lean`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from environments.lean.checker import declared_type
from environments.lean.judge import KernelJudge, judge_tools
from environments.lean.repl import LeanReplEnvironment
from environments.lean.replies import CommandReply, parse_command_reply
from environments.lean.settings import LeanConfig
from environments.lean.statement import check_type_command, parse_statement
from prover.config import Config
from prover.sandbox import policy_for
from prover.types import Failed, FailureKind, Finished, NewState, Theorem, VerdictStatus

pytestmark = pytest.mark.lean

# miniF2F-valid theorems (yangky11/miniF2F-lean4, Lean v4.24.0) with fixed proofs.
PROOFS: dict[str, list[str]] = {
    "mathd_numbertheory_81": ["norm_num"],
    "mathd_algebra_182": ["ring"],
    "mathd_numbertheory_458": ["have h₁ : n % 4 = n % 8 % 4 := by omega", "omega"],
}


def _valid(package_data: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (package_data / "minif2f" / "lean4_v4.24.jsonl").open()]
    return {r["name"]: r for r in rows if r["split"] == "valid"}


def _theorem(row: dict[str, Any]) -> Theorem:
    return Theorem(row["name"], row["formal_statement"], header=row["header"], split="valid")


async def test_three_minif2f_valid_theorems(package_data: Path) -> None:
    rows = _valid(package_data)
    env = LeanReplEnvironment(LeanConfig(pool_size=1))
    try:
        for name, steps in PROOFS.items():
            session = await env.open(_theorem(rows[name]))
            state = session.initial_state
            for i, step in enumerate(steps):
                result = await session.run_tactic(state, step)
                if i + 1 < len(steps):
                    assert isinstance(result, NewState), (name, step, result)
                    state = result.state
                else:
                    assert isinstance(result, Finished), (name, step, result)
            verdict = await session.verify(session.assemble(steps))
            assert verdict.status is VerdictStatus.ACCEPTED, (name, verdict)
            wrong = await session.verify("exact trivial")
            assert wrong.status is VerdictStatus.REJECTED and "Lean error" in wrong.message
            await session.close()
    finally:
        await env.close()
    assert env.pids == []


async def test_timeout_on_real_lean_then_the_session_goes_on(package_data: Path) -> None:
    row = _valid(package_data)["mathd_algebra_182"]
    env = LeanReplEnvironment(LeanConfig(pool_size=1, tactic_timeout=5.0))
    try:
        session = await env.open(_theorem(row))
        start = time.monotonic()
        result = await session.run_tactic(session.initial_state, "sleep 60000")
        assert isinstance(result, Failed) and result.kind is FailureKind.TIMEOUT
        assert time.monotonic() - start < 5.0 + 2.0
        assert await session.run_tactic(session.initial_state, "ring") == Finished()
        await session.close()
    finally:
        await env.close()


async def test_the_statement_check_tells_types_apart(package_data: Path) -> None:
    row = _valid(package_data)["mathd_numbertheory_81"]
    same = parse_statement(row["formal_statement"])
    edited = parse_statement(row["formal_statement"].replace("= 2", "= 2 + 0"))
    env = LeanReplEnvironment(LeanConfig(pool_size=1))
    try:
        async with env.pool.leased(row["header"]) as worker, worker.operation():
            types = []
            for statement in (same, same, edited):
                opened = parse_command_reply(await worker.command(statement.with_sorry(), 60.0))
                assert isinstance(opened, CommandReply) and not opened.errors
                shown = await worker.command(check_type_command(same.name), 60.0, env=opened.env)
                types.append(declared_type(parse_command_reply(shown)))
        assert types[0] is not None and types[0] == types[1] != types[2]
    finally:
        await env.close()


# -- the kernel judge (lean4export + lean4checker built by `prover setup lean`) --

NUMBERTHEORY_81 = "mathd_numbertheory_81"  # 71 % 3 = 2


def _kernel_judge(monkeypatch: pytest.MonkeyPatch | None = None) -> KernelJudge:
    if monkeypatch is not None:  # the screen would refuse first; the kernel's layers must too
        monkeypatch.setattr("environments.lean.judge.screen", lambda *_: None)
        monkeypatch.setattr("environments.lean.judge.screen_header", lambda *_: None)
    return KernelJudge(LeanConfig(), policy_for(Config()))


async def test_the_kernel_judge_accepts_an_honest_proof(package_data: Path) -> None:
    theorem = _theorem(_valid(package_data)[NUMBERTHEORY_81])
    judge = _kernel_judge()
    try:
        verdict = await judge.judge(theorem, "norm_num")
    finally:
        await judge.close()
    assert verdict.status is VerdictStatus.ACCEPTED, verdict
    assert verdict.checked_by == "lean-kernel"


# Each refused by the kernel judge's own layers (the screen is switched off for these).
CHEATS = {
    "sorry": ("sorry", "sorry"),
    "native_decide": ("native_decide", "Lean.ofReduceBool"),
    "axiom": (
        "run_tac Lean.addDecl (.axiomDecl { name := `cheat, levelParams := [],\n"
        "    type := Lean.mkConst ``False, isUnsafe := false })\n"
        "exact False.elim cheat",
        "not allowed: cheat",
    ),
    "skipKernelTC": (
        "set_option debug.skipKernelTC true in\n"
        "run_tac Lean.addDecl (.thmDecl { name := `fake, levelParams := [],\n"
        "    type := Lean.mkConst ``False, value := Lean.mkConst ``True.intro })\n"
        "exact False.elim fake",
        "lean4checker",
    ),
}


@pytest.mark.parametrize("cheat", sorted(CHEATS))
async def test_the_kernel_judge_refuses_cheats(
    package_data: Path, monkeypatch: pytest.MonkeyPatch, cheat: str
) -> None:
    proof, expected = CHEATS[cheat]
    theorem = _theorem(_valid(package_data)[NUMBERTHEORY_81])
    judge = _kernel_judge(monkeypatch)
    try:
        verdict = await judge.judge(theorem, proof)
    finally:
        await judge.close()
    assert verdict.status is VerdictStatus.REJECTED, verdict
    assert expected in verdict.message


async def test_the_kernel_judge_refuses_a_changed_statement(
    package_data: Path, tmp_path: Path
) -> None:
    row = _valid(package_data)[NUMBERTHEORY_81]
    statement = parse_statement(row["formal_statement"])
    changed = statement.head.replace("= 2", "= 2 + 0")
    assert changed != statement.head
    judge = _kernel_judge()
    try:
        verdict = await judge.judge_texts(
            tmp_path, judge_tools(LeanConfig()), row["header"], statement,
            f"{changed} := by\n  norm_num",
        )  # fmt: skip
    finally:
        await judge.close()
    assert verdict.status is VerdictStatus.REJECTED, verdict
    assert "differs from the trusted statement" in verdict.message
