"""Cheap closers in best-first search (`search.closers`), and the model calls they save."""

from __future__ import annotations

import pytest
from standins.replay_trace import replay_env

from benchmarks.perf.closers import compare
from environments.isabelle.language import CLOSERS as ISABELLE_CLOSERS
from environments.lean.language import CLOSERS as LEAN_CLOSERS
from prover.config import load_config
from prover.prompts import template
from prover.strategies.best_first import BestFirst, create
from prover.strategies.closers import expand, first_closer
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    Failed,
    FailureKind,
    Finished,
    Language,
    NewState,
    ProofState,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)

THM = Theorem(name="t", statement="theorem t : True := by")


def _c(text: str, logprob: float) -> Candidate:
    return Candidate(text, logprob, 1)


async def _search(env, gen, closers=(), budget=None, wrap=None):
    session = await env.open(THM)
    if wrap is not None:
        session = wrap(session)
    strategy = BestFirst(prompt=template("llemma"), closers=closers)
    return await strategy.search(THM, session, gen, budget or Budget(samples=8))


async def test_closers_prove_at_the_root_with_zero_model_calls():
    env = replay_env({("⊢ root", "linarith"): "finished", ("⊢ root", "omega"): ("failed", "error")})
    gen = ScriptedGenerator({}, default=[_c("linarith", -0.1)])
    result = await _search(env, gen, closers=("omega", "norm_num", "linarith"))

    assert result.proved and result.steps == ("linarith",)
    assert result.stats.model_calls == 0 and gen.prompts == []
    assert result.stats.tactics_run == 3 and result.stats.expansions == 0
    assert result.details["closers"] == {
        "list": ["omega", "norm_num", "linarith"],
        "tried": 3,
        "closed_by": "linarith",
    }
    finished_edges = [e for e in result.tree["edges"] if e.get("closer")]
    assert [e["tactic"] for e in finished_edges] == ["linarith"]


async def test_closers_fail_and_the_model_path_takes_over_then_closers_end_the_branch():
    env = replay_env(
        {
            ("⊢ root", "intro x"): "⊢ x > 0",
            ("⊢ x > 0", "positivity"): "finished",
            ("⊢ root", "positivity"): ("failed", "error"),
        }
    )
    gen = ScriptedGenerator({"⊢ root": [_c("intro x", -0.1)], "⊢ x > 0": [_c("positivity", -0.1)]})
    result = await _search(env, gen, closers=("norm_num", "positivity"))

    assert result.proved and result.steps == ("intro x", "positivity")
    # One model call (the root); the new state was closed by a closer, not a second expansion.
    assert result.stats.model_calls == 1 and len(gen.prompts) == 1
    assert "⊢ root" in gen.prompts[0]
    assert result.details["closers"]["closed_by"] == "positivity"
    # root: 2 closers + 1 model tactic; child: norm_num, positivity.
    assert result.stats.tactics_run == 5

    plain = await _search(env, gen)
    assert plain.proved and plain.steps == ("intro x", "positivity")
    assert plain.stats.model_calls == 2  # without closers the child costs a model call


async def test_without_closers_the_search_is_unchanged():
    env = replay_env({("⊢ root", "a"): "⊢ A", ("⊢ A", "b"): "finished"})
    gen = ScriptedGenerator({"⊢ root": [_c("a", -0.1)], "⊢ A": [_c("b", -0.1)]})
    result = await _search(env, gen)
    assert result.proved and result.stats.tactics_run == 2 and result.stats.model_calls == 2
    assert "closers" not in result.details
    assert not any(e.get("closer") for e in result.tree["edges"])


class _RejectFirst:
    """Replay session whose whole-proof check rejects proofs that end with `norm_num`."""

    def __init__(self, inner):
        self._inner = inner
        self.initial_state = inner.initial_state
        self.run_tactic = inner.run_tactic
        self.assemble = inner.assemble
        self.close = inner.close

    async def verify(self, proof):
        if proof.endswith("norm_num"):
            return Verdict(VerdictStatus.REJECTED, "test", "kernel says no")
        return Verdict(VerdictStatus.ACCEPTED, "test")


async def test_a_closer_rejected_by_the_whole_proof_check_does_not_count():
    env = replay_env({("⊢ root", "norm_num"): "finished", ("⊢ root", "simp"): "finished"})
    gen = ScriptedGenerator({}, default=[_c("simp", -0.1)])
    result = await _search(env, gen, closers=("norm_num",), wrap=_RejectFirst)

    assert result.proved and result.steps == ("simp",) and result.verified
    assert result.stats.model_calls == 1
    rejected = [n for n in result.tree["nodes"] if n["kind"] == "failed"]
    assert "whole-proof check rejected" in rejected[0]["message"]


async def test_closers_count_against_the_tactic_budget():
    env = replay_env({})
    gen = ScriptedGenerator({}, default=[_c("simp", -0.1)])
    result = await _search(env, gen, closers=LEAN_CLOSERS, budget=Budget(max_tactics=4))
    assert result.status is Status.FAILED and result.stats.stop_reason == "max_tactics"
    assert result.stats.tactics_run == 4 and result.stats.model_calls == 0


async def test_first_closer_ignores_progress_that_does_not_close():
    calls = []

    async def run(state, tactic):
        calls.append(tactic)
        if tactic == "simp_all":
            return NewState(ProofState(("⊢ smaller",)))
        if tactic == "decide":
            return Finished()
        return Failed(FailureKind.TIMEOUT, "slow")

    outcome = await first_closer(ProofState(("⊢ g",)), ["nlinarith", "simp_all", "decide"], run)
    assert outcome.closed_by == "decide"
    assert [t.outcome for t in outcome.tried] == ["timeout", "state", "finished"]
    assert calls == ["nlinarith", "simp_all", "decide"]


def test_default_expands_per_language_and_config_reaches_best_first():
    assert expand(["default"], Language.LEAN4) == LEAN_CLOSERS
    assert expand(["default", "tauto", "omega"], Language.LEAN4) == (*LEAN_CLOSERS, "tauto")
    assert expand(["default"], Language.ISABELLE) == ISABELLE_CLOSERS
    assert (
        ISABELLE_CLOSERS[0] == "by auto" and ISABELLE_CLOSERS[-1] == "by (auto simp: field_simps)"
    )
    strategy = create(load_config(None, {"search.closers": "omega,linarith"}))
    assert strategy.closers == ("omega", "linarith")
    assert create(load_config(None, {})).closers == ()


@pytest.fixture(scope="module")
def replay_comparison(package_data):
    import asyncio

    return asyncio.run(compare(package_data / "llemma_formal2formal"))


def test_closers_save_model_calls_on_the_llemma_replay(replay_comparison):
    """The perf driver on real recorded Lean results: same proofs, fewer model calls."""
    a, b = replay_comparison["without"], replay_comparison["with"]
    assert a["theorems"] == b["theorems"] == 70
    assert b["proved"] >= a["proved"] > 0
    assert b["model_calls"] < a["model_calls"]
    assert replay_comparison["model_calls_saved"] == a["model_calls"] - b["model_calls"]
    assert b["proved_by_closer_at_root"] > 0
    for name, row in replay_comparison["changed"].items():
        assert row["with"]["model_calls"] <= row["without"]["model_calls"], name
        if row["with"]["closed_by"]:
            assert row["with"]["steps"][-1] == row["with"]["closed_by"]
