"""The sketch strategy (Draft, Sketch, Prove) on scripted sketch sessions and scripted models.

The sessions here are test doubles defined in this file (not Isabelle, not Lean): they answer
`run_sketch` and `run_tactic` from tables and log every call, so gap order, closers, the hammer,
the sub-search and the budgets can be checked exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

import pytest

from environments.isabelle.language import CLOSERS as ISABELLE_CLOSERS
from environments.lean.language import CLOSERS as LEAN_CLOSERS
from prover.config import GenerationConfig, SketchConfig, load_config
from prover.errors import InputError
from prover.prompts import template
from prover.protocols import GenerationParams, SketchSession
from prover.strategies.best_first import BestFirst
from prover.strategies.sketch import SketchStrategy, create, describe_gaps, hammer_filler
from prover.strategies.sketch_parse import UnusableSketch, parse_sketch
from prover.strategies.sketch_prompts import load_examples
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
    TacticResult,
    Theorem,
    Verdict,
    VerdictStatus,
)

Outcome = TacticResult | str  # "finished" or the goal text of a new state


class ScriptedSketchSession:
    """A SketchSession answering from tables; every call is appended to `calls`."""

    def __init__(
        self,
        root: str,
        sketches: Mapping[str, Sequence[str] | Failed],
        tactics: Mapping[tuple[str, str], Outcome],
        *,
        reject: Callable[[str], str | None] = lambda proof: None,
        delay: float = 0.0,
    ) -> None:
        self._root = ProofState((root,), handle="root")
        self.sketches = dict(sketches)
        self.tactics = dict(tactics)
        self.reject = reject
        self.delay = delay
        self.calls: list[tuple[str, ...]] = []

    @property
    def initial_state(self) -> ProofState:
        return self._root

    async def run_sketch(self, state: ProofState, sketch: str) -> tuple[ProofState, ...] | Failed:
        self.calls.append(("sketch", sketch))
        entry = self.sketches.get(sketch)
        if entry is None:
            return Failed(FailureKind.ERROR, "unknown sketch")
        if isinstance(entry, Failed):
            return entry
        return tuple(ProofState((goal,), handle=("gap", i)) for i, goal in enumerate(entry))

    async def run_tactic(self, state: ProofState, tactic: str) -> TacticResult:
        self.calls.append(("tactic", state.pretty, tactic))
        if self.delay:
            await asyncio.sleep(self.delay)  # simulated proof-assistant latency
        outcome = self.tactics.get((state.pretty, tactic))
        if outcome is None:
            return Failed(FailureKind.ERROR, f"{tactic} failed")
        if outcome == "finished":
            return Finished()
        if isinstance(outcome, str):
            return NewState(ProofState((outcome,)))
        return outcome

    async def verify(self, proof: str) -> Verdict:
        self.calls.append(("verify", proof))
        problem = self.reject(proof)
        if problem:
            return Verdict(VerdictStatus.REJECTED, "scripted", problem)
        return Verdict(VerdictStatus.ACCEPTED, "scripted")

    def assemble(self, steps: Sequence[str]) -> str:
        return "\n".join(steps)

    async def close(self) -> None:
        return None

    def tactics_on(self, goal: str) -> list[str]:
        return [c[2] for c in self.calls if c[0] == "tactic" and c[1] == goal]


def _c(text: str, logprob: float = -0.1, tokens: int = 4) -> Candidate:
    return Candidate(text, logprob, tokens)


def _strategy(sub_search: BestFirst | None = None, **settings: object) -> SketchStrategy:
    return SketchStrategy(
        SketchConfig(**settings),  # type: ignore[arg-type]
        examples=load_examples(),
        generation=GenerationConfig(),
        sub_search=sub_search,
    )


ISA_THM = Theorem(
    name="amc12a_2099_p1",
    statement='theorem amc12a_2099_p1:\n  fixes x :: real\n  assumes h0: "2 * x = 4"\n'
    '  shows "x * x = 4"',
    language=Language.ISABELLE,
    informal_statement="If $2x = 4$, what is $x^2$? Show that it is 4.",
    informal_proof="UNIQUE-ISA-PROOF: halve both sides to get x = 2, then square.",
)

ISA_COMPLETION = """proof -
  (* Halving both sides gives x = 2. *)
  have c0: "x = 2" using h0
    sledgehammer
  (* sledgehammer in a comment is not a gap *)
  have c1: "x * x = 2 * 2" using c0
    sledgehammer
  show ?thesis using c1
    sledgehammer
qed

end"""
ISA_SKETCH = ISA_COMPLETION.removesuffix("\n\nend")
ISA_GAPS = ("x = 2", "x * x = 2 * 2", "x * x = 4")


def _isabelle_session(**kwargs: object) -> ScriptedSketchSession:
    return ScriptedSketchSession(
        "x * x = 4",
        {ISA_SKETCH: ISA_GAPS},
        {
            ("x = 2", "by simp"): "finished",
            ("x * x = 2 * 2", "by auto"): "finished",
            ("x * x = 4", "normalhammer"): Finished(("by (smt (verit) c1)",)),
        },
        **kwargs,  # type: ignore[arg-type]
    )


async def test_isabelle_three_gaps_two_closers_then_sledgehammer():
    session = _isabelle_session()
    assert isinstance(session, SketchSession)
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION + "\n\n\nInformal: next")]})
    result = await _strategy().search(ISA_THM, session, gen, Budget())

    assert result.status is Status.PROVED and result.verified
    assert result.stats.model_calls == 1
    gaps = result.details["gaps"]
    assert [g["method"] for g in gaps] == ["closer", "closer", "hammer"]
    assert [g["filler"] for g in gaps] == ["by simp", "by auto", "by (smt (verit) c1)"]
    assert [g["goal"] for g in gaps] == list(ISA_GAPS)
    # The DSP heuristics run in their order and stop at the first that closes the gap.
    assert session.tactics_on("x = 2") == ["by auto", "by simp"]
    assert session.tactics_on("x * x = 4") == [*ISABELLE_CLOSERS, "normalhammer"]
    expected = ISA_SKETCH.replace("using h0\n    sledgehammer", "using h0\n    by simp")
    expected = expected.replace("using c0\n    sledgehammer", "using c0\n    by auto")
    expected = expected.replace("using c1\n    sledgehammer", "using c1\n    by (smt (verit) c1)")
    assert result.proof == expected
    assert session.calls[-1] == ("verify", expected)
    assert "sledgehammer in a comment" in result.proof  # comments are kept, not gaps
    assert result.details["attempts"][0]["outcome"] == "proved"
    prompt = gen.prompts[0]
    assert prompt.rstrip().endswith('shows "x * x = 4"')
    assert "UNIQUE-ISA-PROOF" in prompt and "sledgehammer" in prompt


async def test_gaps_are_closed_in_order_and_the_first_open_gap_ends_the_attempt():
    session = _isabelle_session()
    del session.tactics[("x * x = 2 * 2", "by auto")]  # the middle gap cannot be closed
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION)]})
    result = await _strategy().search(ISA_THM, session, gen, Budget())

    assert result.status is Status.FAILED and result.stats.stop_reason == "attempts"
    order = [c[1] for c in session.calls if c[0] == "tactic"]
    first_on_second = order.index("x * x = 2 * 2")
    assert all(goal == "x = 2" for goal in order[:first_on_second])
    assert "x * x = 4" not in order  # the last gap is never tried
    gaps = result.details["attempts"][0]["gaps"]
    assert [g["status"] for g in gaps] == ["closed", "open", "not tried"]
    assert gaps[1]["hammer"]["step"] == "normalhammer"
    assert len(gaps[1]["tried"]) == len(ISABELLE_CLOSERS)
    assert not any(c[0] == "verify" for c in session.calls)


async def test_failed_skeleton_runs_no_gap_tactics():
    session = _isabelle_session()
    session.sketches[ISA_SKETCH] = Failed(FailureKind.ERROR, "Step error: Undefined fact: h9")
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION)]})
    result = await _strategy().search(ISA_THM, session, gen, Budget())

    assert result.status is Status.FAILED
    attempt = result.details["attempts"][0]
    assert attempt["outcome"] == "skeleton failed"
    assert "Undefined fact" in attempt["message"]
    assert [c[0] for c in session.calls] == ["sketch"]
    assert result.stats.failures == {"error": 1}


async def test_tactic_budget_exhausted_inside_a_gap():
    session = _isabelle_session()
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION)]})
    # 1 for the skeleton, 2 for gap 0 (auto, simp), 1 for gap 1 (auto); none left for gap 2.
    result = await _strategy().search(ISA_THM, session, gen, Budget(max_tactics=4))

    assert result.status is Status.FAILED
    assert result.stats.stop_reason == "max_tactics"
    assert result.stats.tactics_run == 4
    assert len([c for c in session.calls if c[0] in ("sketch", "tactic")]) == 4
    assert result.details["attempts"][0]["outcome"] == "stopped"


async def test_wall_budget_bounds_slow_gap_tactics():
    session = _isabelle_session(delay=5.0)
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION)]})
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await _strategy().search(ISA_THM, session, gen, Budget(wall_seconds=0.3))
    assert result.status is Status.TIMEOUT
    assert result.stats.stop_reason == "wall_seconds during tactic"
    assert loop.time() - began < 2.0


LEAN_THM = Theorem(
    name="mathd_algebra_999",
    statement="theorem mathd_algebra_999 (a b : ℝ) (h₀ : a = 2 * b) (h₁ : b = 3) :\n"
    "    a * b = 18 := by sorry",
    header="import Mathlib\n",
    informal_statement="If $a = 2b$ and $b = 3$, find $ab$. Show that it is 18.",
    informal_proof="UNIQUE-LEAN-PROOF: b is 3 so a is 6, and 6 times 3 is 18.",
)
LEAN_COMPLETION = """  -- b = 3, so a = 6.
  have h₂ : a = 6 := by sorry
  have h₃ : a * b = 6 * 3 := by
    sorry
  -- and 6 · 3 = 18 (a comment mentioning sorry is not a gap)
  have h₄ : (6 : ℝ) * 3 = 18 := by sorry
  linarith


theorem next_one : True := by"""
LEAN_SKETCH = """-- b = 3, so a = 6.
have h₂ : a = 6 := by sorry
have h₃ : a * b = 6 * 3 := by
  sorry
-- and 6 · 3 = 18 (a comment mentioning sorry is not a gap)
have h₄ : (6 : ℝ) * 3 = 18 := by sorry
linarith"""
LEAN_GAPS = ("⊢ a = 6", "⊢ a * b = 6 * 3", "⊢ (6:ℝ) * 3 = 18")


def _lean_session() -> ScriptedSketchSession:
    return ScriptedSketchSession(
        "⊢ a * b = 18",
        {LEAN_SKETCH: LEAN_GAPS},
        {
            ("⊢ a = 6", "linarith"): "finished",
            ("⊢ (6:ℝ) * 3 = 18", "norm_num"): "finished",
            # only the model's sub-search closes the middle gap, in two steps
            ("⊢ a * b = 6 * 3", "subst h₁"): "⊢ a * 3 = 6 * 3",
            ("⊢ a * 3 = 6 * 3", "rw [h₂]"): "finished",
        },
    )


def _sub_search() -> BestFirst:
    return BestFirst(prompt=template("llemma"), closers=LEAN_CLOSERS)


async def test_lean_three_gaps_two_closers_then_sub_search():
    session = _lean_session()
    gen = ScriptedGenerator(
        {
            "UNIQUE-LEAN-PROOF": [_c(LEAN_COMPLETION)],
            "⊢ a * b = 6 * 3": [_c("subst h₁", -0.2), _c("nlinarith", -0.9)],
            "⊢ a * 3 = 6 * 3": [_c("rw [h₂]")],
        }
    )
    result = await _strategy(_sub_search()).search(LEAN_THM, session, gen, Budget())

    assert result.status is Status.PROVED
    gaps = result.details["gaps"]
    assert [g["method"] for g in gaps] == ["closer", "search", "closer"]
    assert [g["filler"] for g in gaps] == ["linarith", "subst h₁\nrw [h₂]", "norm_num"]
    assert gaps[1]["search"]["model_calls"] == 2
    # 1 sketch + 2 sub-search expansions; closers on the sub-search's new state cost no call.
    assert result.stats.model_calls == 3
    # Closers already tried on the gap were not re-run by the sub-search's root closers.
    middle = session.tactics_on("⊢ a * b = 6 * 3")
    assert middle.count("omega") == 1 and middle[-1] == "subst h₁"
    assert result.proof == (
        "-- b = 3, so a = 6.\n"
        "have h₂ : a = 6 := by linarith\n"
        "have h₃ : a * b = 6 * 3 := by\n"
        "  subst h₁\n"
        "  rw [h₂]\n"
        "-- and 6 · 3 = 18 (a comment mentioning sorry is not a gap)\n"
        "have h₄ : (6 : ℝ) * 3 = 18 := by norm_num\n"
        "linarith"
    )
    assert session.calls[0] == ("sketch", LEAN_SKETCH)
    assert gen.prompts[0].endswith("    a * b = 18 := by\n")


async def test_lean_sub_search_budget_exhaustion_leaves_the_gap_open():
    session = _lean_session()
    gen = ScriptedGenerator({"UNIQUE-LEAN-PROOF": [_c(LEAN_COMPLETION)]}, default=[_c("simp")])
    strategy = _strategy(_sub_search(), search_expansions=2)
    result = await strategy.search(LEAN_THM, session, gen, Budget())

    assert result.status is Status.FAILED
    gap = result.details["attempts"][0]["gaps"][1]
    assert gap["status"] == "open" and gap["search"]["status"] == "failed"
    assert gap["search"]["stop_reason"] in ("max_expansions", "exhausted")
    assert result.details["attempts"][0]["gaps"][2]["status"] == "not tried"


async def test_rejected_whole_proof_then_the_next_sketch_proves():
    other = LEAN_COMPLETION.replace("linarith\n\n", "nlinarith\n\n")
    other_sketch = LEAN_SKETCH.replace("\nlinarith", "\nnlinarith")
    session = _lean_session()
    session.sketches[other_sketch] = ("⊢ a = 6", "⊢ a * b = 6 * 3", "⊢ (6:ℝ) * 3 = 18")
    session.tactics[("⊢ a * b = 6 * 3", "nlinarith")] = "finished"
    session.reject = lambda proof: "uses linarith last" if proof.endswith("\nlinarith") else None
    gen = ScriptedGenerator(
        {
            "UNIQUE-LEAN-PROOF": [
                _c(LEAN_COMPLETION, -0.1),
                _c(LEAN_COMPLETION, -0.2),  # a duplicate is not checked twice
                _c(other, -0.3),
            ],
        }
    )
    strategy = _strategy(None, attempts=3, temperature=0.7)
    result = await strategy.search(LEAN_THM, session, gen, Budget())

    assert result.status is Status.PROVED
    assert [a["outcome"] for a in result.details["attempts"]] == [
        "rejected",
        "duplicate",
        "proved",
    ]
    assert result.proof.endswith("\nnlinarith")
    assert [c[0] for c in session.calls].count("sketch") == 2
    assert result.stats.model_calls == 1  # the k sketches come from one call with n = k


async def test_drafted_informal_proof_feeds_the_sketch_prompt():
    thm = Theorem(
        name=LEAN_THM.name,
        statement=LEAN_THM.statement,
        informal_statement=LEAN_THM.informal_statement,
    )
    session = _lean_session()
    gen = ScriptedGenerator(
        {
            "Show that it is 18.\n\n### Solution\n\n": [_c(" DRAFTED-PROOF: a = 6. -/ junk")],
            "DRAFTED-PROOF: a = 6. -/\n\nFormal:\ntheorem mathd_algebra_999": [_c(LEAN_COMPLETION)],
        }
    )
    strategy = _strategy(None, draft="model")
    session.tactics[("⊢ a * b = 6 * 3", "nlinarith")] = "finished"
    result = await strategy.search(thm, session, gen, Budget())

    assert result.status is Status.PROVED
    assert result.details["attempts"][0]["draft"] == "DRAFTED-PROOF: a = 6."
    assert len(gen.prompts) == 2
    assert "DRAFTED-PROOF: a = 6. -/\n\nFormal:\n" in gen.prompts[1]


async def test_missing_informal_proof_and_sketchless_session_are_input_errors():
    thm = Theorem(name="t", statement="theorem t : True := by sorry")
    with pytest.raises(InputError, match=r"sketch\.draft=model"):
        await _strategy().search(thm, _lean_session(), ScriptedGenerator({}), Budget())

    class NoSketches:
        initial_state = ProofState(("⊢ True",))

        async def run_tactic(self, state, tactic):
            return Finished()

        async def verify(self, proof):
            return Verdict(VerdictStatus.ACCEPTED, "x")

        def assemble(self, steps):
            return "\n".join(steps)

        async def close(self):
            return None

    with pytest.raises(InputError, match="run_sketch"):
        await _strategy().search(LEAN_THM, NoSketches(), ScriptedGenerator({}), Budget())


async def test_sketch_generation_is_greedy_with_the_dsp_stop_by_default():
    seen: dict[str, object] = {}

    class Spy(ScriptedGenerator):
        async def generate(self, prompt, n, params=None):
            seen.update(n=n, params=params)
            return []

    strategy = create(load_config(None, {"strategy": "sketch"}))
    result = await strategy.search(LEAN_THM, _lean_session(), Spy({}), Budget())
    params = seen["params"]
    assert isinstance(params, GenerationParams)
    assert params.temperature == 0.0 and seen["n"] == 1
    assert "\n\n\n" in params.stop and params.max_tokens == 1024
    assert result.status is Status.FAILED and result.stats.model_calls == 1


def test_config_keys_and_errors():
    config = load_config(
        None,
        {
            "sketch.attempts": 4,
            "sketch.temperature": 0.8,
            "sketch.lean_closers": "default,tauto",
            "sketch.search_expansions": 0,
        },
    )
    strategy = create(config)
    assert strategy.sub_search is None
    assert strategy.closers(Language.LEAN4) == (*LEAN_CLOSERS, "tauto")
    # `by eval` proves through the code generator's oracle: a closer only with allow_eval
    assert strategy.closers(Language.ISABELLE) == tuple(
        c for c in ISABELLE_CLOSERS if c != "by eval"
    )
    with_eval = create(load_config(None, {"isabelle.allow_eval": True}))
    assert with_eval.closers(Language.ISABELLE) == ISABELLE_CLOSERS
    from prover.errors import ConfigError

    with pytest.raises(ConfigError, match="temperature"):
        load_config(None, {"sketch.attempts": 2})
    with pytest.raises(ConfigError, match="draft"):
        load_config(None, {"sketch.draft": "human"})


# -- parsing and filling ---------------------------------------------------------------------------


def test_lean_parse_cuts_the_block_dedents_and_skips_comments_and_strings():
    text = (
        "  -- a sorry in a comment\n"
        "  have h : x = 1 := by admit\n"
        '  /- nested /- sorry -/ -/ simp [show "sorry" = "sorry" from rfl]\n'
        "  · sorry\n"
        "theorem next : True := by\n  sorry"
    )
    sketch = parse_sketch(text, Language.LEAN4)
    assert sketch.text.splitlines()[0] == "-- a sorry in a comment"
    assert "theorem next" not in sketch.text and "admit" not in sketch.text
    assert [g.context(sketch.text) for g in sketch.gaps] == [
        "have h : x = 1 := by sorry",
        "· sorry",
    ]
    assert [(g.line, g.column) for g in sketch.gaps] == [(1, 21), (3, 2)]


def test_lean_fill_indents_multi_step_fillers():
    sketch = parse_sketch(
        "  have h : x = 1 := by sorry\n  constructor\n  · sorry\n  · sorry", Language.LEAN4
    )
    filled = sketch.fill(["intro y\nsimp", "norm_num", "nlinarith [sq_nonneg (a - b),\n  h]"])
    assert filled == (
        "have h : x = 1 := by\n"
        "  intro y\n"
        "  simp\n"
        "constructor\n"
        "· norm_num\n"
        "· nlinarith [sq_nonneg (a - b),\n"
        "    h]"
    )
    with pytest.raises(ValueError):
        sketch.fill(["only one"])


def test_isabelle_parse_rewrites_sorry_refuses_oops_and_ignores_literals():
    text = (
        "proof -\n"
        '  have "sledgehammer = x" (* sledgehammer *) sorry\n'
        "  show ?thesis using \\<open>sledgehammer\\<close> sledgehammer\n"
        "qed\n\nend\ntheorem other"
    )
    sketch = parse_sketch(text, Language.ISABELLE)
    assert sketch.text.endswith("qed") and "sorry" not in sketch.text
    assert len(sketch.gaps) == 2
    assert sketch.fill(["by simp", "by (smt (verit) h0)"]).splitlines()[1:3] == [
        '  have "sledgehammer = x" (* sledgehammer *) by simp',
        "  show ?thesis using \\<open>sledgehammer\\<close> by (smt (verit) h0)",
    ]
    with pytest.raises(UnusableSketch, match="oops"):
        parse_sketch("proof -\n  show ?thesis sledgehammer\noops", Language.ISABELLE)
    with pytest.raises(UnusableSketch, match="no proof"):
        parse_sketch("\n\nend", Language.ISABELLE)


def test_hammer_filler_reads_the_found_tactic():
    step = "normalhammer"
    assert hammer_filler(Finished(("sledgehammer: by (metis h0)",)), step) == "by (metis h0)"
    assert hammer_filler(Finished(("by auto",)), step) == "by auto"
    assert hammer_filler(Finished(("no proof text here",)), step) == step
    assert hammer_filler(Finished(), step) == step


async def test_describe_gaps_shows_each_gap_and_what_closed_it():
    session = _isabelle_session()
    del session.tactics[("x * x = 4", "normalhammer")]
    gen = ScriptedGenerator({"UNIQUE-ISA-PROOF": [_c(ISA_COMPLETION)]})
    result = await _strategy().search(ISA_THM, session, gen, Budget())
    text = describe_gaps(result.details)
    assert text.splitlines() == [
        "attempt 1: gap open (gap 3 of 3 not closed)",
        '  gap 1 `have c0: "x = 2" using h0 sledgehammer`: closed by closer `by simp`',
        '  gap 2 `have c1: "x * x = 2 * 2" using c0 sledgehammer`: closed by closer `by auto`',
        "  gap 3 `show ?thesis using c1 sledgehammer`: open after 11 closers, Sledgehammer",
    ]


async def test_an_empty_draft_is_an_unusable_attempt_without_a_sketch_request():
    thm = Theorem(name=LEAN_THM.name, statement=LEAN_THM.statement, informal_statement="S")
    gen = ScriptedGenerator({"### Solution\n\n": [_c("  -/", -0.1), _c("PROOF-B -/", -0.2)]})
    strategy = _strategy(None, draft="model", attempts=2, temperature=0.5)
    result = await strategy.search(thm, _lean_session(), gen, Budget())
    records = result.details["attempts"]
    assert records[0] == {
        "attempt": 1,
        "draft": "",
        "outcome": "unusable",
        "message": "the model drafted nothing",
    }
    assert records[1]["draft"] == "PROOF-B"
    assert len(gen.prompts) == 2  # one draft call (n = 2), one sketch call for the second draft
