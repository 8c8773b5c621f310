"""`search.closers` in best-first search through the real Lean and Isabelle backends on stand-ins.

Lean: the `lean-repl` environment running tests/standins/lean_repl.py (not Lean), which replays
the REPL's own recorded transcripts (shared data, lean-repl/v4.24.0). Isabelle: the `isabelle`
environment attached to the stand-in PISA server (scripted Isabelle, not Isabelle).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from standins.pisa_scripted import default_script, serve
from standins.pisa_setup import STATEMENT, isabelle_config

from environments.isabelle.environment import create as isabelle_env
from environments.lean.repl import create as lean_env
from prover.config import load_config
from prover.run import Components, attempt
from prover.strategies.best_first import create as best_first
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Language, Theorem

STANDINS = Path(__file__).resolve().parent / "standins"


def _c(text: str, logprob: float = -0.1) -> Candidate:
    return Candidate(text, logprob, 2)


@pytest.fixture
async def lean(tmp_path: Path, repl_transcripts: Path):
    config = load_config(
        None,
        {
            "lean.project": str(tmp_path),
            "lean.repl_command": [
                sys.executable,
                str(STANDINS / "lean_repl.py"),
                "--library",
                str(repl_transcripts),
            ],
            "lean.pool_size": 1,
            "lean.memory_limit_gb": 0,
            "lean.judge": "repl",  # the stand-in REPL judges; the kernel judge needs real tools
        },
    )
    env = lean_env(config)
    yield env
    await env.close()


async def test_closers_prove_a_recorded_theorem_with_zero_model_calls(lean):
    """assumption_proof.in: `assumption` closes the root; the closer finds it, no model call."""
    thm = Theorem("aa", "theorem aa (x : Nat) (h1 : x  = 2) : x = 2 := by sorry")
    strategy = best_first(load_config(None, {"search.closers": ["omega", "assumption"]}))
    gen = ScriptedGenerator({}, default=[_c("assumption")])
    result = await attempt(thm, Components(lean, gen, strategy), Budget(samples=4))

    assert result.proved and result.verified and result.verified_by
    assert result.steps == ("assumption",)
    assert result.stats.model_calls == 0 and gen.prompts == []
    assert result.stats.tactics_run == 2  # omega (unrecorded: fails), then assumption
    assert result.details["closers"]["closed_by"] == "assumption"


async def test_closers_fail_and_the_model_path_takes_over(lean):
    """proof_branching.in: closers fail until the last goal, where `exact h1.right` closes it."""
    thm = Theorem(
        "complex_and",
        "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by sorry",
    )
    model = {
        "⊢ p ∧ r": [_c("apply And.intro")],
        "⊢ p\n\ncase right": [_c("exact h1.left")],
        "⊢ r": [_c("apply h2")],
        "⊢ q": [_c("exact h1.right")],
    }
    closers = ["assumption", "exact h1.right"]
    with_closers = await attempt(
        thm,
        Components(lean, ScriptedGenerator(model), best_first(_closers_config(closers))),
        Budget(samples=4),
    )
    plain = await attempt(
        thm,
        Components(lean, ScriptedGenerator(model), best_first(_closers_config([]))),
        Budget(samples=4),
    )
    steps = ("apply And.intro", "exact h1.left", "apply h2", "exact h1.right")
    assert with_closers.proved and with_closers.verified and with_closers.steps == steps
    assert plain.proved and plain.verified and plain.steps == steps
    # The closers found the last step, so the model was asked three times instead of four.
    assert with_closers.stats.model_calls == 3 and plain.stats.model_calls == 4
    assert with_closers.details["closers"]["closed_by"] == "exact h1.right"


def _closers_config(closers: list[str]):  # type: ignore[no-untyped-def]
    return load_config(None, {"search.closers": closers})


async def test_isabelle_default_closers_prove_with_zero_model_calls(tmp_path: Path):
    server, port, _ = await serve(script=default_script())
    env = isabelle_env(isabelle_config(tmp_path, [port], start=False))
    try:
        thm = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")
        gen = ScriptedGenerator({}, default=[_c("by simp")])
        strategy = best_first(_closers_config(["default"]))
        result = await attempt(thm, Components(env, gen, strategy), Budget(samples=4))
    finally:
        await env.close()
        await server.stop(None)
    assert result.proved and result.verified and result.verified_by == "isabelle-pisa"
    assert result.stats.model_calls == 0
    # `x = 6` yields to `by arith`, the ninth DSP heuristic; `by eval` is skipped (no
    # isabelle.allow_eval) and the seven others failed.
    assert result.steps == ("by arith",) and result.stats.tactics_run == 8
