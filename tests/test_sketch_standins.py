"""The sketch strategy through the project's real Isabelle and Lean backends, on stand-ins.

Isabelle: the `isabelle` environment (real PISA client over gRPC) attached to the in-process
stand-in PISA server of tests/standins/pisa_scripted.py (scripted Isabelle; not Isabelle).
Lean: the `lean-repl` environment (real pool, worker processes and whole-proof checker) running
tests/standins/lean_repl.py (not Lean) as its REPL command. The stand-in REPL replays transcripts:
the REPL's real ones from the shared data, plus, for the sketch scenarios no real transcript
covers, transcripts written in this file in the REPL's reply format (marked AUTHORED below).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from standins.pisa_scripted import Script, serve
from standins.pisa_setup import isabelle_config

from environments.isabelle.environment import create as isabelle_env
from environments.isabelle.language import CLOSERS as ISABELLE_CLOSERS
from environments.lean.language import CLOSERS as LEAN_CLOSERS
from environments.lean.repl import create as lean_env
from environments.lean.settings import DEFAULT_LEAN_HEADER
from prover.config import SketchConfig, load_config
from prover.prompts import template
from prover.run import Components, attempt
from prover.strategies.best_first import BestFirst
from prover.strategies.sketch import SketchStrategy
from prover.strategies.sketch_prompts import load_examples
from prover.testing import ScriptedGenerator
from prover.types import Budget, Candidate, Language, Status, Theorem

STANDINS = Path(__file__).resolve().parent / "standins"


def _c(text: str) -> Candidate:
    return Candidate(text, -0.1, 8)


def _strategy(sub_search: BestFirst | None = None, **settings: Any) -> SketchStrategy:
    return SketchStrategy(SketchConfig(**settings), examples=load_examples(), sub_search=sub_search)


# -- Isabelle through PISA -----------------------------------------------------------------------

ISA_STATEMENT = (
    'theorem sketch_demo:\n  fixes a b x :: real\n  assumes h0: "x / 2 = 3"\n  shows "x = 6"'
)
ISA_THM = Theorem(
    "sketch_demo",
    ISA_STATEMENT,
    Language.ISABELLE,
    header="Complex_Main",
    informal_statement="If x / 2 = 3 then x = 6.",
    informal_proof="ISA-STANDIN-PROOF: double both sides.",
)
ISA_SKETCH = """proof -
  (* First, 0 < a. *)
  have c0: "0 < a"
    sledgehammer
  (* and b = 0 *)
  have c1: "b = 0"
    sledgehammer
  (* Then the claim. *)
  show ?thesis
    sledgehammer
qed"""


def _isa_script() -> Script:
    return Script(
        closes={"0 < a": {"arith"}, "b = 0": {"linarith"}},
        # no DSP heuristic closes the thesis: only Sledgehammer does
        hammer={"x = 6": "by (smt (verit) h0)"},
    )


@pytest.fixture
async def isabelle(tmp_path: Path):
    server, port, servicer = await serve(script=_isa_script())
    env = isabelle_env(isabelle_config(tmp_path, [port], start=False))
    yield env, servicer
    await env.close()
    await server.stop(None)


def _applied(servicer) -> list[str]:
    tag = "<apply to top level state>"
    return [c.split(tag)[2].strip() for c in servicer.commands if c.startswith(tag)]


async def test_isabelle_three_gaps_two_closers_then_sledgehammer(isabelle):
    env, servicer = isabelle
    gen = ScriptedGenerator({"ISA-STANDIN-PROOF": [_c(ISA_SKETCH + "\n\nend")]})
    result = await attempt(ISA_THM, Components(env, gen, _strategy()), Budget())

    assert result.status is Status.PROVED
    assert result.verified and result.verified_by == "isabelle-pisa"
    gaps = result.details["gaps"]
    assert [g["method"] for g in gaps] == ["closer", "closer", "hammer"]
    assert [g["filler"] for g in gaps] == ["by arith", "by linarith", "by (smt (verit) h0)"]
    assert "0 < a" in gaps[0]["goal"] and "x = 6" in gaps[2]["goal"]
    # The cheap closers ran in DSP order on each gap before anything else.
    tried = [t["tactic"] for t in gaps[2]["tried"]]
    assert tried == list(ISABELLE_CLOSERS)
    applied = _applied(servicer)
    assert applied.count("sorry") == 3  # the skeleton check skips each gap with `sorry`
    assert "normalhammer" in applied
    assert "by (smt (verit) h0)" in result.proof and "sledgehammer" not in result.proof


async def test_isabelle_hammer_after_the_closers_is_sledgehammer_alone(tmp_path: Path):
    """The session's heuristics are on (the default), yet the closers are not run twice."""
    server, port, servicer = await serve(script=_isa_script())
    env = isabelle_env(isabelle_config(tmp_path, [port], start=False))
    try:
        gen = ScriptedGenerator({"ISA-STANDIN-PROOF": [_c(ISA_SKETCH)]})
        result = await attempt(ISA_THM, Components(env, gen, _strategy()), Budget())
    finally:
        await env.close()
        await server.stop(None)
    assert result.status is Status.PROVED and result.verified
    applied = _applied(servicer)
    hammer_at = applied.index("normalhammer")
    # gap 3: the eleven closers once each, then Sledgehammer straight away
    usable = [c for c in ISABELLE_CLOSERS if c != "by eval"]  # eval is refused by the screen
    assert applied[hammer_at - len(usable) : hammer_at] == usable
    assert applied[:hammer_at].count("by auto") == 3  # once per gap


async def test_isabelle_failed_skeleton(isabelle):
    env, servicer = isabelle
    broken = ISA_SKETCH.replace('have c0: "0 < a"\n    sledgehammer', 'have c0: "0 < a" by simp')
    gen = ScriptedGenerator({"ISA-STANDIN-PROOF": [_c(broken)]})
    result = await attempt(ISA_THM, Components(env, gen, _strategy()), Budget())

    assert result.status is Status.FAILED
    attempt_record = result.details["attempts"][0]
    assert attempt_record["outcome"] == "skeleton failed"
    assert "Step error" in attempt_record["message"]
    assert "normalhammer" not in _applied(servicer)
    assert "gaps" not in attempt_record


async def test_isabelle_gap_order_and_tactic_budget(isabelle):
    env, servicer = isabelle
    gen = ScriptedGenerator({"ISA-STANDIN-PROOF": [_c(ISA_SKETCH)]})
    # skeleton 1 + gap 0: 9 closers up to `by arith` + gap 1: 10 up to `by linarith` = 20
    result = await attempt(ISA_THM, Components(env, gen, _strategy()), Budget(max_tactics=22))

    assert result.status is Status.FAILED and result.stats.stop_reason == "max_tactics"
    assert result.stats.tactics_run == 22
    heuristics = [a for a in _applied(servicer) if a in ISABELLE_CLOSERS]
    # gap 0 up to arith, then gap 1 up to linarith, then the first two of gap 2
    # `by eval` counts against the budget but is refused before it reaches Isabelle
    assert heuristics == [
        c
        for c in (*ISABELLE_CLOSERS[:9], *ISABELLE_CLOSERS[:10], *ISABELLE_CLOSERS[:2])
        if c != "by eval"
    ]
    assert "normalhammer" not in _applied(servicer)
    assert result.details["attempts"][0]["outcome"] == "stopped"


# -- Lean through the REPL -----------------------------------------------------------------------

HEAD = "theorem sketch_demo (a b : ℝ) (h₀ : a = 2 * b) (h₁ : b = 3) : a * b = 18"
CTX = "a b : ℝ\nh₀ : a = 2 * b\nh₁ : b = 3\n"
LEAN_THM = Theorem(
    "sketch_demo",
    f"{HEAD} := by sorry",
    header=DEFAULT_LEAN_HEADER,
    informal_statement="If a = 2b and b = 3, then ab = 18.",
    informal_proof="LEAN-STANDIN-PROOF: a is 6, so ab = 6 · 3 = 18.",
)
LEAN_COMPLETION = """  have h₂ : a = 6 := by sorry
  have h₃ : a * b = 6 * 3 := by sorry
  have h₄ : (6 : ℝ) * 3 = 18 := by sorry
  linarith"""


def _tactic(ps: int, goals: list[str], status: str, sorries: list[dict] | None = None) -> dict:
    reply: dict[str, Any] = {"sorries": sorries} if sorries else {}
    reply.update({"proofStatus": status, "proofState": ps, "goals": goals})
    return reply


OPEN = "Incomplete: open goals remain"
DONE = "Completed"
H2 = f"{CTX}h₂ : a = 6\n"
H3 = f"{H2}h₃ : a * b = 6 * 3\n"
H4 = f"{H3}h₄ : 6 * 3 = 18\n"

# AUTHORED (not recorded from Lean): the replies a REPL gives for this sketch, its gaps and the
# filled proof, in the shape of the real transcripts (tactic_mode_sorry, by_cases, proof_step).
SKETCH_DEMO: list[tuple[dict, dict]] = [
    (
        {"cmd": f"{HEAD} := by sorry"},
        {
            "sorries": [{"proofState": 0, "goal": f"{CTX}⊢ a * b = 18"}],
            "messages": [
                {
                    "severity": "warning",
                    "pos": {"line": 1, "column": 8},
                    "endPos": {"line": 1, "column": 19},
                    "data": "declaration uses 'sorry'",
                }
            ],
            "env": 0,
        },
    ),
    # the skeleton, one step at a time (the stand-in chains them)
    (
        {"tactic": "have h₂ : a = 6 := by sorry", "proofState": 0},
        _tactic(2, [f"{H2}⊢ a * b = 18"], OPEN, [{"proofState": 1, "goal": f"{CTX}⊢ a = 6"}]),
    ),
    (
        {"tactic": "have h₃ : a * b = 6 * 3 := by sorry", "proofState": 2},
        _tactic(
            4, [f"{H3}⊢ a * b = 18"], OPEN, [{"proofState": 3, "goal": f"{H2}⊢ a * b = 6 * 3"}]
        ),
    ),
    (
        {"tactic": "have h₄ : (6 : ℝ) * 3 = 18 := by sorry", "proofState": 4},
        _tactic(6, [f"{H4}⊢ a * b = 18"], OPEN, [{"proofState": 5, "goal": f"{H3}⊢ 6 * 3 = 18"}]),
    ),
    ({"tactic": "linarith", "proofState": 6}, _tactic(7, [], "Incomplete: contains sorry")),
    (
        {"tactic": "exact h₀", "proofState": 6},
        {
            "messages": [
                {
                    "severity": "error",
                    "pos": {"line": 1, "column": 0},
                    "endPos": {"line": 1, "column": 8},
                    "data": "type mismatch\n  h₀\nhas type\n  a = 2 * b : Prop\n"
                    "but is expected to have type\n  a * b = 18 : Prop",
                }
            ],
            **_tactic(8, [f"{H4}⊢ a * b = 18"], "Error: kernel type check failed"),
        },
    ),
    # the gaps: only these tactics close them (every other closer is unrecorded and fails)
    ({"tactic": "linarith", "proofState": 1}, _tactic(9, [], DONE)),
    ({"tactic": "subst h₁", "proofState": 3}, _tactic(10, [f"{H2}⊢ a * 3 = 6 * 3"], OPEN)),
    ({"tactic": "rw [h₂]", "proofState": 10}, _tactic(11, [], DONE)),
    ({"tactic": "norm_num", "proofState": 5}, _tactic(12, [], DONE)),
    # the filled proof, as the whole-proof check runs it from the statement's `sorry`
    ({"tactic": "have h₂ : a = 6 := by linarith", "proofState": 0}, _tactic(13, [], OPEN)),
    (
        {"tactic": "have h₃ : a * b = 6 * 3 := by\n  subst h₁\n  rw [h₂]", "proofState": 13},
        _tactic(14, [], OPEN),
    ),
    (
        {"tactic": "have h₄ : (6 : ℝ) * 3 = 18 := by norm_num", "proofState": 14},
        _tactic(15, [], OPEN),
    ),
    ({"tactic": "linarith", "proofState": 15}, _tactic(16, [], DONE)),
]


def _write_transcript(directory: Path, name: str, pairs: list[tuple[dict, dict]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    requests = "\n\n".join(json.dumps(q, ensure_ascii=False) for q, _ in pairs)
    replies = "\n\n".join(json.dumps(r, ensure_ascii=False, indent=1) for _, r in pairs)
    (directory / f"{name}.in").write_text(requests + "\n", encoding="utf-8")
    (directory / f"{name}.expected.out").write_text(replies + "\n", encoding="utf-8")


@pytest.fixture
async def lean(tmp_path: Path, repl_transcripts: Path):
    library = tmp_path / "authored"
    _write_transcript(library, "sketch_demo", SKETCH_DEMO)
    config = load_config(
        None,
        {
            "environment": "lean-repl",
            "lean.project": str(tmp_path),
            "lean.repl_command": [
                sys.executable,
                str(STANDINS / "lean_repl.py"),
                "--library",
                str(repl_transcripts),
                "--library",
                str(library),
            ],
            "lean.pool_size": 1,
            "lean.memory_limit_gb": 0,
            "lean.judge": "repl",  # the stand-in REPL judges; the kernel judge needs real tools
            "lean.tactic_timeout": 20,
            "lean.verify_timeout": 20,
            "lean.header_timeout": 20,
        },
    )
    env = lean_env(config)
    yield env
    await env.close()


def _sub_search() -> BestFirst:
    return BestFirst(prompt=template("llemma"), closers=LEAN_CLOSERS)


async def test_lean_three_gaps_two_closers_then_sub_search(lean):
    gen = ScriptedGenerator(
        {
            "LEAN-STANDIN-PROOF": [_c(LEAN_COMPLETION)],
            "⊢ a * b = 6 * 3": [_c("subst h₁")],
            "⊢ a * 3 = 6 * 3": [_c("rw [h₂]")],
        }
    )
    strategy = _strategy(_sub_search())
    result = await attempt(LEAN_THM, Components(lean, gen, strategy), Budget(wall_seconds=60))

    assert result.status is Status.PROVED, result.details
    assert result.verified and result.verified_by
    gaps = result.details["gaps"]
    assert [g["method"] for g in gaps] == ["closer", "search", "closer"]
    assert [g["filler"] for g in gaps] == ["linarith", "subst h₁\nrw [h₂]", "norm_num"]
    assert gaps[1]["goal"] == f"{H2}⊢ a * b = 6 * 3"
    assert [t["outcome"] for t in gaps[0]["tried"]] == ["error", "error", "finished"]
    assert result.stats.model_calls == 3  # the sketch, then two sub-search expansions
    assert result.proof.splitlines() == [
        "  have h₂ : a = 6 := by linarith",
        "  have h₃ : a * b = 6 * 3 := by",
        "    subst h₁",
        "    rw [h₂]",
        "  have h₄ : (6 : ℝ) * 3 = 18 := by norm_num",
        "  linarith",
    ]


async def test_lean_failed_skeleton(lean):
    broken = LEAN_COMPLETION.replace("linarith", "exact h₀")
    gen = ScriptedGenerator({"LEAN-STANDIN-PROOF": [_c(broken)]})
    result = await attempt(LEAN_THM, Components(lean, gen, _strategy()), Budget(wall_seconds=60))

    assert result.status is Status.FAILED
    record = result.details["attempts"][0]
    assert record["outcome"] == "skeleton failed" and "type mismatch" in record["message"]
    assert result.stats.tactics_run == 1


async def test_lean_sub_search_budget_exhausted_leaves_the_gap_open(lean):
    gen = ScriptedGenerator(
        {"LEAN-STANDIN-PROOF": [_c(LEAN_COMPLETION)], "⊢ a * b = 6 * 3": [_c("subst h₁")]}
    )
    strategy = _strategy(_sub_search(), search_expansions=1)
    result = await attempt(LEAN_THM, Components(lean, gen, strategy), Budget(wall_seconds=60))

    assert result.status is Status.FAILED
    gaps = result.details["attempts"][0]["gaps"]
    assert [g["status"] for g in gaps] == ["closed", "open", "not tried"]
    assert gaps[1]["search"]["stop_reason"] == "max_expansions"


async def test_lean_gap_count_mismatch_on_a_real_transcript(lean):
    """by_cases.in (recorded from the REPL): one `all_goals sorry` opens two gaps."""
    thm = Theorem(
        "foo",
        "theorem foo (x : Int) : x = x := by sorry",
        informal_statement="x = x",
        informal_proof="REAL-TRANSCRIPT-PROOF: split on the sign of x.",
    )
    gen = ScriptedGenerator(
        {"REAL-TRANSCRIPT-PROOF": [_c("  by_cases h : x < 0\n  all_goals sorry")]}
    )
    result = await attempt(thm, Components(lean, gen, _strategy()), Budget(wall_seconds=60))

    assert result.status is Status.FAILED
    record = result.details["attempts"][0]
    assert record["outcome"] == "gap mismatch"
    assert record["message"] == "the sketch has 1 gaps, the checker saw 2"


def test_prover_prove_with_the_sketch_strategy_drafting_with_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """`prover prove STATEMENT --strategy sketch` end to end: CLI, config file, scripted model,
    lean-repl on the stand-in; a statement from the command line has no informal text, so the
    model drafts the informal proof (sketch.draft = model) before the sketch."""
    library = tmp_path / "authored"
    _write_transcript(library, "sketch_demo", SKETCH_DEMO)
    script = {
        "states": {
            "### Solution\n\n": [{"text": "CLI-DRAFT: a = 6 and 6 · 3 = 18. -/", "logprob": -1}],
            "CLI-DRAFT: a = 6 and 6 · 3 = 18. -/\n\nFormal:": [
                {"text": LEAN_COMPLETION, "logprob": -3}
            ],
            "⊢ a * b = 6 * 3": [{"text": "subst h₁", "logprob": -0.5}],
            "⊢ a * 3 = 6 * 3": [{"text": "rw [h₂]", "logprob": -0.5}],
        }
    }
    model = tmp_path / "model.json"
    model.write_text(json.dumps(script, ensure_ascii=False), encoding="utf-8")
    standin = [sys.executable, str(STANDINS / "lean_repl.py"), "--library", str(library)]
    config = tmp_path / "run.toml"
    config.write_text(
        f'environment = "lean-repl"\nmodel = "scripted:{model}"\n\n'
        f'[lean]\nproject = "{tmp_path}"\nrepl_command = {json.dumps(standin)}\n'
        'pool_size = 1\nmemory_limit_gb = 0\njudge = "repl"\n\n'
        '[sketch]\ndraft = "model"\n',
        encoding="utf-8",
    )
    from prover.cli import main

    argv = ["prove", f"{HEAD} := by sorry", "--config", str(config), "--strategy", "sketch"]
    assert main([*argv, "--json", "--store", str(tmp_path / "home")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "proved" and out["verified"] is True
    assert out["details"]["attempts"][0]["draft"] == "CLI-DRAFT: a = 6 and 6 · 3 = 18."
    assert [g["method"] for g in out["details"]["gaps"]] == ["closer", "search", "closer"]
    # without a drafted proof the strategy needs one from the data: a one-line input error
    assert main([*argv, "--set", "sketch.draft=given"]) == 2
    assert "no informal proof" in capsys.readouterr().err
