"""Pins the best-first search semantics on the replay environment and the scripted generator."""

from __future__ import annotations

import asyncio

import pytest
from standins.replay_trace import replay_env

from prover.prompts import template
from prover.protocols import GenerationParams
from prover.search_tree import tree_from_json
from prover.strategies.best_first import BestFirst
from prover.testing import ScriptedGenerator
from prover.types import (
    Budget,
    Candidate,
    ProofState,
    Status,
    Theorem,
    Verdict,
    VerdictStatus,
)

THM = Theorem(name="t", statement="theorem t : True := by")


def _c(text: str, logprob: float, tokens: int = 1) -> Candidate:
    return Candidate(text, logprob, tokens)


async def _search(env, gen, budget=None, score="mean", session_wrapper=None):
    session = await env.open(THM)
    if session_wrapper is not None:
        session = session_wrapper(session)
    strategy = BestFirst(score=score, prompt=template("llemma"))
    return await strategy.search(THM, session, gen, budget or Budget(samples=8))


def _expanded_goals(result) -> list[str]:
    nodes = [n for n in result.tree["nodes"] if "expanded" in n]
    return [n["goals"] for n in sorted(nodes, key=lambda n: n["expanded"])]


async def test_expands_best_scoring_state_first_and_accumulates_priority():
    env = replay_env(
        {
            ("⊢ root", "a"): "⊢ A",
            ("⊢ root", "b"): "⊢ B",
            ("⊢ A", "a2"): "⊢ A2",
            ("⊢ B", "done"): "finished",
        }
    )
    gen = ScriptedGenerator(
        {
            "⊢ root": [_c("a", -0.1), _c("b", -1.0)],
            # A's child costs 2.0 more, so B (total 1.0) beats A2 (total 2.1).
            "⊢ A": [_c("a2", -2.0)],
            "⊢ B": [_c("done", -0.1)],
        }
    )
    result = await _search(env, gen)
    assert result.status is Status.PROVED
    assert _expanded_goals(result) == ["⊢ root", "⊢ A", "⊢ B"]
    assert result.steps == ("b", "done")
    priorities = {n["goals"]: n["priority"] for n in result.tree["nodes"] if n["kind"] == "state"}
    assert priorities["⊢ A2"] == pytest.approx(2.1)
    assert priorities["⊢ B"] == pytest.approx(1.0)


@pytest.mark.parametrize(("score", "first"), [("mean", "⊢ LONG"), ("sum", "⊢ SHORT")])
async def test_score_mode_mean_vs_sum(score, first):
    env = replay_env({("⊢ root", "long"): "⊢ LONG", ("⊢ root", "short"): "⊢ SHORT"})
    # long: -2.0 over 4 tokens (mean -0.5); short: -0.9 over 1 token (mean -0.9)
    gen = ScriptedGenerator({"⊢ root": [_c("long", -2.0, 4), _c("short", -0.9, 1)]})
    result = await _search(env, gen, Budget(samples=8, max_expansions=2), score=score)
    assert _expanded_goals(result)[1] == first


async def test_candidates_deduplicated_after_cleanup():
    env = replay_env({("⊢ root", "simp"): ("failed", "error")})
    gen = ScriptedGenerator(
        {
            "⊢ root": [
                _c("simp", -0.5),
                _c("  simp\n---\nrest", -0.2),
                _c("simp ", -0.9),
                _c("", -0.1),
            ]
        }
    )
    result = await _search(env, gen, Budget(samples=8, max_expansions=1))
    assert result.stats.tactics_run == 1
    edges = result.tree["edges"]
    assert [e["tactic"] for e in edges] == ["simp"]
    assert edges[0]["score"] == pytest.approx(-0.2)  # the best-scoring copy is kept


async def test_states_deduplicated_when_pushed():
    env = replay_env(
        {
            ("⊢ root", "x"): "⊢ same",
            ("⊢ root", "y"): "⊢ same",
            ("⊢ same", "z"): ("failed", "error"),
        }
    )
    gen = ScriptedGenerator({"⊢ root": [_c("x", -0.1), _c("y", -0.2)], "⊢ same": [_c("z", -0.1)]})
    result = await _search(env, gen)
    assert result.status is Status.FAILED
    assert result.stats.stop_reason == "exhausted"
    assert _expanded_goals(result) == ["⊢ root", "⊢ same"]
    state_nodes = [n for n in result.tree["nodes"] if n["kind"] == "state"]
    assert len(state_nodes) == 2
    dup = [e for e in result.tree["edges"] if e["duplicate"]]
    assert [e["tactic"] for e in dup] == ["y"]


async def test_max_expansions_budget():
    chain = {(f"⊢ {i}", "step"): f"⊢ {i + 1}" for i in range(10)}
    env = replay_env(chain, root="⊢ 0")
    gen = ScriptedGenerator({}, default=[_c("step", -0.1)])
    result = await _search(env, gen, Budget(samples=4, max_expansions=3))
    assert result.status is Status.FAILED
    assert result.stats.stop_reason == "max_expansions"
    assert result.stats.expansions == 3
    assert gen.prompts and len(gen.prompts) == 3


async def test_max_tactics_budget():
    env = replay_env({})
    gen = ScriptedGenerator({}, default=[_c(f"t{i}", -0.1 * i) for i in range(10)])
    result = await _search(env, gen, Budget(samples=10, max_tactics=4))
    assert result.stats.tactics_run == 4
    assert result.stats.stop_reason == "max_tactics"
    assert result.stats.failures == {"error": 4}


class _SlowGenerator(ScriptedGenerator):
    async def generate(self, prompt, n, params=None):
        await asyncio.sleep(5)  # simulated model latency, longer than the budget
        return []


async def test_wall_budget_bounds_a_hung_call():
    env = replay_env({})
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await _search(env, _SlowGenerator({}), Budget(samples=4, wall_seconds=0.2))
    assert result.status is Status.TIMEOUT
    assert loop.time() - start < 2.0
    assert result.stats.total_seconds >= 0.2


async def test_failure_kinds_recorded_and_search_continues():
    env = replay_env(
        {
            ("⊢ root", "slow"): ("failed", "timeout"),
            ("⊢ root", "cheat"): ("failed", "sorry"),
            ("⊢ root", "bad"): ("failed", "error"),
            ("⊢ root", "ok"): "finished",
        }
    )
    gen = ScriptedGenerator(
        {
            "⊢ root": [
                _c("slow", -0.1),
                _c("cheat", -0.2),
                _c("bad", -0.3),
                _c("unknown", -0.4),
                _c("ok", -0.5),
            ]
        }
    )
    result = await _search(env, gen)
    assert result.status is Status.PROVED
    assert result.stats.failures == {"timeout": 1, "sorry": 1, "error": 2}
    failed = {n["failure"] for n in result.tree["nodes"] if n["kind"] == "failed"}
    assert failed == {"timeout", "sorry", "error"}


async def test_stops_at_first_proof():
    env = replay_env({("⊢ root", "a"): "finished", ("⊢ root", "b"): "finished"})
    gen = ScriptedGenerator({"⊢ root": [_c("a", -0.1), _c("b", -0.2)]})
    result = await _search(env, gen)
    assert result.proved and result.steps == ("a",)
    assert result.stats.tactics_run == 1
    assert result.verified is False and result.verified_by == "replay"


class _Checking:
    """Wraps a session with a verifier that rejects proofs containing `bad`."""

    def __init__(self, inner):
        self._inner = inner
        self.initial_state = inner.initial_state
        self.run_tactic = inner.run_tactic
        self.assemble = inner.assemble
        self.close = inner.close
        self.checked: list[str] = []

    async def verify(self, proof):
        self.checked.append(proof)
        if "bad" in proof:
            return Verdict(VerdictStatus.REJECTED, "test", "uses bad")
        return Verdict(VerdictStatus.ACCEPTED, "test")


async def test_rejected_whole_proof_is_a_failure_and_search_goes_on():
    env = replay_env({("⊢ root", "bad"): "finished", ("⊢ root", "good"): "finished"})
    gen = ScriptedGenerator({"⊢ root": [_c("bad", -0.1), _c("good", -0.2)]})
    holder = {}

    def wrap(session):
        holder["s"] = _Checking(session)
        return holder["s"]

    result = await _search(env, gen, session_wrapper=wrap)
    assert result.proved and result.steps == ("good",)
    assert result.verified is True and result.verified_by == "test"
    assert holder["s"].checked == ["bad", "good"]
    rejected = [n for n in result.tree["nodes"] if n["kind"] == "failed"]
    assert "whole-proof check rejected" in rejected[0]["message"]


class _BrokenGenerator(ScriptedGenerator):
    async def generate(self, prompt, n, params=None):
        raise RuntimeError("CUDA out of memory")


async def test_backend_fault_is_an_error_result():
    result = await _search(replay_env({}), _BrokenGenerator({}))
    assert result.status is Status.ERROR
    assert "CUDA out of memory" in result.error


async def test_tree_export_round_trips_through_networkx():
    env = replay_env(
        {("⊢ root", "a"): "⊢ A", ("⊢ A", "b"): "finished", ("⊢ root", "c"): ("failed", "error")}
    )
    gen = ScriptedGenerator({"⊢ root": [_c("a", -0.1), _c("c", -0.2)], "⊢ A": [_c("b", -0.1)]})
    result = await _search(env, gen)
    graph = tree_from_json(result.tree)
    assert graph.number_of_nodes() == len(result.tree["nodes"]) == 4
    kinds = sorted(d["kind"] for _, d in graph.nodes(data=True))
    assert kinds == ["failed", "finished", "state", "state"]
    assert graph.edges[0, 1]["tactic"] == "a"
    assert result.to_json()["stats"]["tactics_run"] == 3


async def test_generation_params_carry_template_stop_sequences():
    seen = {}

    class Spy(ScriptedGenerator):
        async def generate(self, prompt, n, params=None):
            seen["params"], seen["n"] = params, n
            return []

    await _search(replay_env({}), Spy({}), Budget(samples=5))
    assert isinstance(seen["params"], GenerationParams)
    assert seen["params"].stop == template("llemma").stop
    assert seen["n"] == 5


def test_budget_rejects_non_finite_limits():
    with pytest.raises(ValueError):
        Budget(wall_seconds=float("inf"))
    with pytest.raises(ValueError):
        Budget(samples=0)


async def test_replay_unrecorded_tactic_is_an_error_saying_so():
    env = replay_env({})
    session = await env.open(THM)
    result = await session.run_tactic(ProofState(("⊢ root",)), "simp")
    assert result.kind.value == "error"
    assert "not in the replay trace" in result.message
