"""The `isabelle` environment and its sessions over a real in-process gRPC server that speaks PISA's
protocol with scripted Isabelle behaviour (attach mode: the test owns the server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from standins.pisa_scripted import Script, default_script, serve
from standins.pisa_setup import STATEMENT, isabelle_config

from environments.isabelle.environment import IsabelleEnvironment, create
from environments.isabelle.session import IsarHandle
from environments.isabelle.settings import DSP_HEURISTICS
from prover.errors import InputError
from prover.protocols import ProofSession, SketchSession
from prover.types import (
    Failed,
    FailureKind,
    Finished,
    Language,
    NewState,
    ProofState,
    Theorem,
    VerdictStatus,
)

THEOREM = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")
SKETCH = """proof -
  (* First, 0 < a. *)
  have c0: "0 < a"
    sledgehammer
  (* Then the claim. *)
  show ?thesis
    sledgehammer
qed"""


def _script() -> Script:
    script = default_script()
    script.closes["x = 6"] = {"simp add: h0"}  # no DSP heuristic closes it: Sledgehammer needed
    script.hammer["x = 6"] = "by (smt (verit) h0)"
    return script


@pytest.fixture
async def pisa():
    server, port, servicer = await serve(script=_script())
    yield port, servicer
    await server.stop(None)


@pytest.fixture
async def env(pisa, tmp_path: Path):
    port, _ = pisa
    environment = create(
        isabelle_config(tmp_path, [port], start=False, step_timeout=1.0, judge="pisa")
    )
    yield environment
    await environment.close()


@pytest.fixture
async def session(env):
    s = await env.open(THEOREM)
    yield s
    await s.close()


def _applied(servicer) -> list[str]:
    """The actions of the `<apply to top level state>` commands the server received."""
    tag = "<apply to top level state>"
    return [c.split(tag)[2].strip() for c in servicer.commands if c.startswith(tag)]


async def test_open_runs_the_statement_in_the_generated_theory(env, session, pisa, tmp_path):
    _, servicer = pisa
    assert isinstance(session, ProofSession) and isinstance(session, SketchSession)
    assert session.initial_state.goals == ("proof (prove)\ngoal (1 subgoal):\n 1. x = 6",)
    theory = tmp_path / "Isabelle2022" / "src" / "HOL" / "Examples" / "Prover_Interactive.thy"
    assert servicer.theory_file == str(theory)
    assert servicer.theory_header == env.launch.header
    assert '"HOL-Number_Theory.Number_Theory"' in env.launch.header
    assert _applied(servicer)[:2] == [env.launch.header, STATEMENT]


async def test_open_refuses_what_it_cannot_run(env):
    with pytest.raises(InputError, match="lean4 theorem"):
        await env.open(Theorem("t", "theorem t : 1 = 1 := by", Language.LEAN4))
    vieta = Theorem(
        "v", STATEMENT, Language.ISABELLE, header='Complex_Main "Symmetric_Polynomials.Vieta"'
    )
    with pytest.raises(InputError, match=r"Symmetric_Polynomials\.Vieta.*isabelle\.imports"):
        await env.open(vieta)
    with pytest.raises(InputError, match="sorry"):
        await env.open(Theorem("s", STATEMENT + "\n  sorry", Language.ISABELLE))
    with pytest.raises(InputError, match="one `theorem"):
        await env.open(Theorem("p", STATEMENT + "\n  by linarith", Language.ISABELLE))
    with pytest.raises(InputError, match="Isabelle rejected the statement"):
        await env.open(Theorem("n", "theorem n: fixes x :: real", Language.ISABELLE))


async def test_run_tactic_new_state_finished_and_error(session):
    start = session.initial_state
    opened = await session.run_tactic(start, "proof -")
    assert isinstance(opened, NewState)
    assert opened.state.goals == ("proof (state)\ngoal (1 subgoal):\n 1. x = 6",)
    have = await session.run_tactic(opened.state, 'have c0: "0 < a" by arith')
    assert isinstance(have, NewState) and have.state.pretty == opened.state.pretty
    assert have.state.handle.path == ("proof -", 'have c0: "0 < a"', "by arith")
    failed = await session.run_tactic(have.state, "show ?thesis by simp")
    assert isinstance(failed, Failed) and failed.kind is FailureKind.ERROR
    assert failed.message.startswith("Step error")
    shown = await session.run_tactic(have.state, "show ?thesis by (simp add: h0)")
    assert isinstance(shown, NewState) and "No subgoals!" in shown.state.pretty
    assert await session.run_tactic(shown.state, "qed") == Finished()
    assert await session.run_tactic(start, "by (simp add: h0)") == Finished()


@pytest.mark.parametrize(
    ("tactic", "kind"),
    [
        ("sorry", FailureKind.SORRY),
        ("proof -\n  show ?thesis sorry\nqed", FailureKind.SORRY),
        ("oops", FailureKind.REJECTED),
        ("ML_prf \\<open>Skip_Proof.make_thm\\<close>", FailureKind.REJECTED),
        ('by (simp add: h0)\nlemma other: "a = a" by simp', FailureKind.REJECTED),
        ("(* only a comment *)", FailureKind.ERROR),
    ],
)
async def test_run_tactic_refuses_cheats_before_or_after_isabelle(session, pisa, tactic, kind):
    result = await session.run_tactic(session.initial_state, tactic)
    assert isinstance(result, Failed) and result.kind is kind, result
    assert "sorry" not in _applied(pisa[1]) and "oops" not in _applied(pisa[1])


async def test_hammer_step_tries_the_dsp_heuristics_then_sledgehammer(session, pisa):
    _, servicer = pisa
    before = len(_applied(servicer))
    result = await session.run_tactic(session.initial_state, "sledgehammer")
    assert result == Finished(("sledgehammer: by (smt (verit) h0)", "ran: by (smt (verit) h0)"))
    # `by eval` is skipped: it proves through the code generator's oracle (isabelle.allow_eval)
    usable = [h for h in DSP_HEURISTICS if h != "by eval"]
    assert _applied(servicer)[before:] == [*usable, "normalhammer"]


async def test_bare_hammer_command_is_sledgehammer_alone(session, pisa):
    # The sketch strategy runs the heuristics as its own closers; the bare `normalhammer` step
    # must not run them again.
    _, servicer = pisa
    before = len(_applied(servicer))
    result = await session.run_tactic(session.initial_state, "normalhammer")
    assert result == Finished(("sledgehammer: by (smt (verit) h0)", "ran: by (smt (verit) h0)"))
    assert _applied(servicer)[before:] == ["normalhammer"]


async def test_hammer_step_stops_at_the_first_heuristic_that_works(session, pisa):
    opened = await session.run_tactic(session.initial_state, "proof -")
    before = len(_applied(pisa[1]))
    result = await session.run_tactic(opened.state, 'have "0 < a" hammer')  # `by arith` works
    assert isinstance(result, NewState)
    # the exact text run, the hammer step replaced by the tactic that closed it
    assert result.messages == ("sledgehammer: by arith", 'ran: have "0 < a"\nby arith')
    assert result.state.handle.path[-1] == "by arith"  # the concrete step, for replay
    assert _applied(pisa[1])[before:] == [
        'have "0 < a"',
        *[h for h in DSP_HEURISTICS[: DSP_HEURISTICS.index("by arith") + 1] if h != "by eval"],
    ]


async def test_hammer_failure_is_a_failed_step(session):
    opened = await session.run_tactic(session.initial_state, "proof -")
    result = await session.run_tactic(opened.state, 'have "q = r" sledgehammer')
    assert isinstance(result, Failed) and result.kind is FailureKind.ERROR
    assert "Sledgehammer found no proof" in result.message


async def test_verify_reruns_the_whole_proof_from_default(session, pisa):
    _, servicer = pisa
    proof = session.assemble(
        ["proof -", 'have c0: "0 < a" by arith', "show ?thesis by (simp add: h0)", "qed"]
    )
    assert proof == 'proof -\nhave c0: "0 < a" by arith\nshow ?thesis by (simp add: h0)\nqed'
    start = len(servicer.commands)
    verdict = await session.verify(proof)
    assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "isabelle-pisa"
    fresh = [c for c in servicer.commands[start:] if c.startswith("<apply to top level state>")]
    assert fresh[0].split("<apply to top level state>")[1].strip() == "default"
    assert _applied(servicer)[-8:-6] == [session.server.launch.header, STATEMENT]


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        ("by simp", "Isabelle refused step 1 (by simp): Step error"),
        ("sorry", "`sorry`"),
        ("oops", "`oops`"),
        ('proof -\n  have "0 < a" by arith', "leaves the theorem open"),
        ('by (simp add: h0)\nlemma extra: "a = a" by simp', "goes on after the theorem is proved"),
        ('theorem mathd_demo: "False"\n  by simp', "different theorem"),
        ("(* nothing *)", "empty"),
    ],
)
async def test_verify_rejects(session, proof, reason):
    verdict = await session.verify(proof)
    assert verdict.status is VerdictStatus.REJECTED and reason in verdict.message, verdict


async def test_verify_accepts_the_statement_in_front_of_the_proof(session):
    verdict = await session.verify(f"{STATEMENT}\n  by (simp add: h0)")
    assert verdict.status is VerdictStatus.ACCEPTED


async def test_verify_resolves_sledgehammer_steps_reusing_what_search_found(session, pisa):
    _, servicer = pisa
    assert await session.run_tactic(session.initial_state, "sledgehammer") == Finished(
        ("sledgehammer: by (smt (verit) h0)", "ran: by (smt (verit) h0)")
    )
    before = len(_applied(servicer))
    verdict = await session.verify("sledgehammer")
    assert verdict.status is VerdictStatus.ACCEPTED
    assert "by (smt (verit) h0)" in verdict.message
    # the tactic found during search is tried first; no heuristic and no Sledgehammer re-run
    assert _applied(servicer)[before:][-1] == "by (smt (verit) h0)"
    assert "normalhammer" not in _applied(servicer)[before:]


async def test_run_sketch_returns_the_gap_states_in_order(session, pisa):
    gaps = await session.run_sketch(session.initial_state, SKETCH)
    assert isinstance(gaps, tuple) and len(gaps) == 2
    assert gaps[0].goals == ("proof (prove)\ngoal (1 subgoal):\n 1. 0 < a",)
    assert gaps[1].goals == ("proof (prove)\ngoal (1 subgoal):\n 1. x = 6",)
    assert all(isinstance(g.handle, IsarHandle) and g.handle.gap_level for g in gaps)
    assert _applied(pisa[1]).count("sorry") == 2  # gaps are skipped by `sorry` inside Isabelle
    # closing a gap finishes it, even though the theorem itself is not finished
    assert await session.run_tactic(gaps[0], "by arith") == Finished()
    assert await session.run_tactic(gaps[1], "sledgehammer") == Finished(
        ("sledgehammer: by (smt (verit) h0)", "ran: by (smt (verit) h0)")
    )
    partial = await session.run_tactic(gaps[0], "apply arith")
    assert isinstance(partial, NewState) and "No subgoals!" in partial.state.pretty
    assert await session.run_tactic(partial.state, "done") == Finished()
    wrong = await session.run_tactic(gaps[1], "by simp")
    assert isinstance(wrong, Failed) and wrong.kind is FailureKind.ERROR


async def test_run_sketch_accepts_its_own_statement_and_refuses_another(session):
    gaps = await session.run_sketch(session.initial_state, f"{STATEMENT}\n{SKETCH}")
    assert isinstance(gaps, tuple) and len(gaps) == 2
    other = await session.run_sketch(session.initial_state, 'theorem x: "False"\n  sledgehammer')
    assert isinstance(other, Failed) and other.kind is FailureKind.REJECTED


@pytest.mark.parametrize(
    ("sketch", "message"),
    [
        (
            'proof -\n  have "0 < a" by simp\n  show ?thesis sledgehammer\nqed',
            "sketch step 3 (by simp) failed: Step error",
        ),
        ('proof -\n  have "0 < a" sledgehammer', "leaves the proof open"),
        ("proof -\n  show ?thesis sledgehammer\nqed\noops", "`oops`"),
    ],
)
async def test_run_sketch_fails_when_the_skeleton_does_not_check(session, sketch, message):
    result = await session.run_sketch(session.initial_state, sketch)
    assert isinstance(result, Failed) and message in result.message, result


async def test_a_step_that_never_returns_times_out_and_the_server_is_reinitialised(session):
    opened = await session.run_tactic(session.initial_state, "proof -")
    generation = session.server.generation
    result = await session.run_tactic(opened.state, "by (hang)")
    assert isinstance(result, Failed) and result.kind is FailureKind.TIMEOUT
    assert session.server.generation == generation + 1  # re-attached and re-initialised
    # states made before the timeout are rebuilt on the re-initialised server from their path
    have = await session.run_tactic(opened.state, 'have "0 < a" by arith')
    assert isinstance(have, NewState) and have.state.handle.generation == generation + 1
    shown = await session.run_tactic(have.state, "show ?thesis by (simp add: h0)")
    assert isinstance(shown, NewState) and "No subgoals!" in shown.state.pretty


async def test_pisa_internal_timeout_text_is_a_timeout_without_restart(session):
    generation = session.server.generation
    result = await session.run_tactic(session.initial_state, "by (slow)")
    assert isinstance(result, Failed) and result.kind is FailureKind.TIMEOUT
    assert "Futures timed out" in result.message
    assert session.server.generation == generation


async def test_server_stopped_mid_call_is_a_crash_and_the_pool_reattaches(tmp_path):
    server, port, servicer = await serve(script=_script())
    environment = create(isabelle_config(tmp_path, [port], start=False, step_timeout=30.0))
    try:
        s = await environment.open(THEOREM)
        opened = await s.run_tactic(s.initial_state, "proof -")
        call = asyncio.ensure_future(s.run_tactic(opened.state, "by (hang)"))
        await asyncio.wait_for(servicer.in_flight.wait(), 5)
        await server.stop(None)
        # a new server comes up on the same port (as an operator would restart it)
        server, _, servicer = await serve(port, script=_script())
        result = await asyncio.wait_for(call, 30)
        assert isinstance(result, Failed) and result.kind is FailureKind.CRASH
        assert s.server.generation == 2 and servicer.theory_file  # re-initialised on the new one
        again = await s.run_tactic(opened.state, 'have "0 < a" by arith')
        assert isinstance(again, NewState)
        await s.close()
        assert set(servicer.states) == {"default", "prover_theory"}  # close deleted ours
    finally:
        await environment.close()
        await server.stop(None)


async def test_close_deletes_the_sessions_states_and_returns_the_server(env, pisa):
    _, servicer = pisa
    first = await env.open(THEOREM)
    await first.run_tactic(first.initial_state, "proof -")
    await first.run_sketch(first.initial_state, SKETCH)
    assert len(servicer.states) > 5
    await first.close()
    assert set(servicer.states) == {"default", "prover_theory"}
    second = await asyncio.wait_for(env.open(THEOREM), 5)  # the single server is free again
    await second.close()


async def test_states_of_another_session_are_refused(env, session):
    foreign = ProofState(("x",), handle="p9_1")
    result = await session.run_tactic(foreign, "by simp")
    assert isinstance(result, Failed) and result.kind is FailureKind.ERROR
    assert isinstance(env, IsabelleEnvironment)


async def test_best_first_search_proves_and_verifies_through_the_environment(env):
    from prover.config import Config
    from prover.run import Components, attempt
    from prover.strategies.best_first import create as best_first
    from prover.testing import ScriptedGenerator
    from prover.types import Budget, Candidate

    generator = ScriptedGenerator(
        {"x = 6": [Candidate("by simp", -0.1, 2), Candidate("sledgehammer", -0.5, 2)]}
    )
    parts = Components(env, generator, best_first(Config()))
    result = await attempt(THEOREM, parts, Budget(samples=4, max_expansions=3, wall_seconds=60))
    assert result.proved and result.verified and result.verified_by == "isabelle-pisa"
    # stored as the tactic that closed the sledgehammer step: the text the judge accepted
    assert result.proof == "by (smt (verit) h0)" and result.steps == ("by (smt (verit) h0)",)
    assert result.stats.failures == {"error": 1}
