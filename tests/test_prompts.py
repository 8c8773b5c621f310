"""Prompt templates, stop handling and candidate clean-up (prover/prompts.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.errors import UnknownNameError
from prover.generators.completion import to_candidate
from prover.prompts import (
    LLEMMA_EXAMPLES,
    TEMPLATES,
    PromptTemplate,
    clean_candidates,
    stop_index,
    template,
)
from prover.types import Candidate, Language, ProofState, Theorem


def _real_states(package_data: Path) -> list[str]:
    states: set[str] = set()
    for path in sorted((package_data / "llemma_formal2formal").glob("*results*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8"))["results"]:
            for attempt in entry["attempt_results"]:
                states.update(step["state_before"] for step in attempt.get("trace") or [])
    return sorted(states)


def _looks_like_lean_goals(text: str) -> bool:
    """The shape Lean 4 + Mathlib pretty-prints: per goal an optional `case`, hypotheses
    `names : type`, exactly one `⊢ target`, wrapped lines indented; goals split by a blank line."""
    for goal in text.split("\n\n"):
        lines = goal.split("\n")
        if sum(line.startswith("⊢ ") for line in lines) != 1:
            return False
        for line in lines:
            hypothesis = " : " in line and "⊢" not in line.split(" : ", 1)[0]
            if not (line.startswith(("case ", "⊢ ", " ")) or hypothesis):
                return False
    return True


def test_templates_are_named_and_unknown_names_fail_with_the_known_ones() -> None:
    assert {"llemma", "llmstep", "whole-proof"} <= set(TEMPLATES)
    assert isinstance(template("llemma"), PromptTemplate)
    with pytest.raises(UnknownNameError) as err:
        template("lemma")
    assert "llemma" in str(err.value) and "\n" not in str(err.value)


def test_llemma_prompt_ends_with_the_query_block_for_the_state(package_data: Path) -> None:
    state = _real_states(package_data)[0]
    prompt = template("llemma").render(ProofState((state,)), None)
    assert prompt.endswith(f"Tactic state:\n---\n{state}\n---\nNext tactic:\n---\n")
    # every few-shot example appears as a complete block with its answer and the closing ---
    for goals, tactic in LLEMMA_EXAMPLES:
        assert f"Tactic state:\n---\n{goals}\n---\nNext tactic:\n---\n{tactic}\n---\n" in prompt
    assert prompt.count("Tactic state:") == len(LLEMMA_EXAMPLES) + 1


def test_few_shot_examples_have_the_shape_of_real_lean_states(package_data: Path) -> None:
    real = _real_states(package_data)
    assert len(real) > 100
    # the shape check accepts every real state Llemma saw …
    assert all(_looks_like_lean_goals(s) for s in real)
    # … and every example of ours, which are our own (none is copied from the data)
    for goals, tactic in LLEMMA_EXAMPLES:
        assert _looks_like_lean_goals(goals), goals
        assert goals not in real
        assert tactic and "\n---" not in tactic
    assert any("\n\ncase " in goals for goals, _ in LLEMMA_EXAMPLES)  # several goals, as Lean shows
    assert not _looks_like_lean_goals("x = 3")  # the check can fail


def test_few_shot_examples_are_not_minif2f_problems(package_data: Path) -> None:
    statements = [
        json.loads(line)["formal_statement"]
        for name in ("lean4_v4.24.jsonl", "lean4_deepseek_v4.9.jsonl")
        for line in (package_data / "minif2f" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(statements) == 976
    targets = [
        line[2:]
        for goals, _ in LLEMMA_EXAMPLES
        for line in goals.splitlines()
        if line.startswith("⊢ ") and len(line) >= 12  # short targets like `x = 6` match anything
    ]
    assert len(targets) >= 5
    for target in targets:
        assert not any(target in s for s in statements), target
    # the check can fail: a real miniF2F conclusion is found
    assert any("5 * n % 7 = 4" in s for s in statements)


def test_llmstep_and_whole_proof_formats() -> None:
    state = ProofState(("x : ℕ\n⊢ x + 0 = x",))
    assert template("llmstep").render(state, None) == "[GOAL]x : ℕ\n⊢ x + 0 = x[PROOFSTEP]"
    lean = Theorem("t", "theorem t (x : ℕ) : x + 0 = x := by sorry", header="import Mathlib\n")
    assert template("whole-proof").render(state, lean) == (
        "import Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n"
    )
    isabelle = Theorem("t", 'theorem t: "(x::nat) + 0 = x"', language=Language.ISABELLE)
    assert template("whole-proof").render(state, isabelle) == 'theorem t: "(x::nat) + 0 = x"\n'
    with pytest.raises(ValueError):
        template("whole-proof").render(state, None)


def test_stop_index_finds_the_earliest_stop() -> None:
    assert stop_index("abc---def\n---", ("\n---", "---")) == 3
    assert stop_index("linarith", ("---",)) == -1
    assert stop_index("x", ()) == -1


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("llemma", " linarith\n---\nTactic state:", "linarith"),
        ("llemma", "nlinarith [sq_nonneg (a - b)]---", "nlinarith [sq_nonneg (a - b)]"),
        ("llemma", "\n---\n", None),
        ("llemma", "   \n  ", None),
        ("llmstep", "simp [h₀][GOAL]x", "simp [h₀]"),
        ("whole-proof", "  norm_num\n  · linarith\n\n\n-- next", "norm_num\n· linarith"),
        ("whole-proof", "\n  intro x\n    simp\n```", "intro x\n  simp"),
    ],
)
def test_clean_cuts_strips_and_keeps_relative_indentation(
    name: str, raw: str, expected: str | None
) -> None:
    assert template(name).clean(raw) == expected


def test_clean_candidates_dedupes_keeping_the_best_copy_best_first() -> None:
    llemma = template("llemma")
    raw = [
        Candidate("linarith\n---", -2.0, 2),  # mean -1.0
        Candidate(" linarith", -0.5, 1),  # same tactic, better: kept
        Candidate("norm_num", -0.9, 3),  # mean -0.3: best
        Candidate("---", -0.1, 1),  # empty after the cut: dropped
        Candidate("simp", float("nan"), 1),  # unscorable: last
    ]
    out = clean_candidates(raw, llemma)
    assert [c.text for c in out] == ["norm_num", "linarith", "simp"]
    assert out[1].logprob == -0.5
    by_sum = clean_candidates(raw, llemma, score="sum")
    assert [c.text for c in by_sum] == ["linarith", "norm_num", "simp"]


def _chars(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids if i != 0)  # token 0 plays end-of-sequence


def test_to_candidate_ends_at_eos_or_the_token_completing_a_stop() -> None:
    ids = [ord(c) for c in "simp\n---\nmore"]
    lps = [-0.5] * len(ids)
    cand = to_candidate(ids, lps, _chars, ("\n---",), {0})
    # "simp" + "\n---" are 8 tokens: the stop is cut from the text but its tokens are counted
    assert cand == Candidate("simp", -4.0, 8)
    with_eos = [*(ord(c) for c in "ring"), 0, 0, 0]
    assert to_candidate(with_eos, [-1.0] * 7, _chars, ("---",), {0}) == Candidate("ring", -5.0, 5)
    plain = to_candidate(ids[:4], [-1.0] * 4, _chars, (), {0})
    assert plain == Candidate("simp", -4.0, 4)
