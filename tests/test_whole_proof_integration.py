"""The whole-proof strategy against real Lean (lake-project built by `prover setup lean`).

Skipped (with the reason printed) where Lean is not installed; run with `pytest --run-lean`.
"""

from __future__ import annotations

import pytest

from environments.lean.repl import LeanReplEnvironment
from environments.lean.settings import LeanConfig
from prover.config import WholeProofConfig
from prover.run import Components, attempt
from prover.strategies.whole_proof import WholeProof
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Status, Theorem
from prover.whole_proof_prompts import FORMATS

pytestmark = pytest.mark.lean

HEADER = "import Mathlib"
STATEMENT = "theorem wp_add (a b : ℕ) (h : a = 2) (h' : b = 3) : a + b = 5 ∧ b + a = 5 := by sorry"
WRONG = "  constructor\n  · omega\n  · exact h\n```"  # the second goal is not `a = 2`
CONTINUATION = "  omega\n```"


async def test_error_feedback_and_resume_on_real_lean() -> None:
    theorem = Theorem("wp_add", STATEMENT, header=HEADER)
    env = LeanReplEnvironment(LeanConfig(pool_size=1))
    generator = ScriptedGenerator(
        {"/- tactic state:": [Candidate(CONTINUATION, -1.0, 3)]},
        default=[Candidate(WRONG, -1.0, 9)],
    )
    settings = WholeProofConfig(prompt="deepseek-v1.5", samples=1, rounds=1)
    strategy = WholeProof(settings, FORMATS["deepseek-v1.5"])
    try:
        result = await attempt(theorem, Components(env, generator, strategy), Budget())
    finally:
        await env.close()
    first = result.details["attempts"][0]
    assert first["outcome"] == "rejected"
    feedback = first["feedback"]
    assert feedback["errors"] and feedback["errors"][0]["line"] is not None
    assert feedback["prefix"] == "constructor\n· omega"
    assert feedback["goals"] and feedback["goals"][0].rstrip().endswith("⊢ b + a = 5")
    assert result.status is Status.PROVED and result.verified and result.verified_by == "lean-repl"
    assert result.proof == "constructor\n· omega\nomega"
