"""Soundness screen: cheating proofs refused with their rule named, honest proofs let through."""

from __future__ import annotations

import pytest

from environments.lean.screen import (
    ScreenPolicy,
    code_view,
    identifiers,
    screen,
    screen_header,
    violations,
)
from prover.config import LeanConfig

# (proof text, the rule that must refuse it)
CHEATS: list[tuple[str, str]] = [
    ("sorry", "sorry"),
    ("exact sorry", "sorry"),
    ("nlinarith [sq_nonneg a]\nsorry", "sorry"),
    ("exact (sorry : False).elim", "sorry"),
    ("·sorry", "sorry"),
    ("constructor <;> sorry", "sorry"),
    ("admit", "sorry"),
    ("exact sorryAx _ false", "sorry"),
    ("exact @sorryAx _ true", "sorry"),
    ("exact «sorryAx» _ _", "sorry"),
    ("exact _root_.sorryAx _ false", "sorry"),
    ("exact lcProof", "sorry"),
    ("stop\n  simp", "sorry"),
    ("intro n\ninduction n\ndecreasing_by sorry", "sorry"),
    ("have h : False := by sorry\nexact h.elim", "sorry"),
    ('exact "--" ; sorry', "sorry"),  # `--` inside a string is not a comment
    ('exact s!"{"--"}" ; sorry', "interpolation"),  # `{…}` may be code: refused outright
    ("exact '\"' ; sorry", "sorry"),  # a char literal holding a quote
    ("exact?", "search-tactic"),
    ("apply?", "search-tactic"),
    ("rw?", "search-tactic"),
    ("run_tac do Lean.Elab.admitGoal (← Lean.Elab.Tactic.getMainGoal)", "run_tac"),
    ('run_cmd Lean.logInfo m!"x"', "run_cmd"),
    ("run_elab pure ()", "run_cmd"),
    ("exact by_elab pure (Lean.mkConst ``True.intro)", "run_tac"),
    ("#eval 1 + 1", "#eval"),
    ("simp\n#exit", "#-command"),
    ("norm_num\n  #print axioms foo", "#-command"),
    ("set_option debug.skipKernelTC true in\nsimp", "set_option"),
    ("set_option debug.skipKernelTC true\nsimp", "set_option"),
    ("set_option «debug».skipKernelTC true in decide", "set_option"),
    ("set_option pp.all true in\nsimp", "set_option"),
    ("exact absurd h cheat\naxiom cheat : False", "axiom"),
    ("native_decide", "native_decide"),
    ("decide +native", "native_decide"),
    ("decide (config := { native := true })", "native_decide"),
    ("exact Lean.ofReduceBool _ _ rfl", "native_decide"),
    ("exact (unsafe (unsafeCast ()))", "unsafe"),
    ("exact h\n@[implemented_by foo] def bar : Nat := 0", "implemented_by"),
    ('exact h\n@[extern "c_fn"] opaque f : Nat', "extern"),
    # statement edits: close the theorem early, then restate or redefine something
    ("exact trivial\n\ntheorem foo : True := trivial", "new-command"),
    ("trivial\nlemma easier : 1 = 1 := rfl", "new-command"),
    ("rfl\nend\nnamespace Foo", "new-command"),
    ("simp\nexample : True := trivial", "new-command"),
    ("simp\nopen Nat\ntheorem x : 1 = 1 := rfl", "new-command"),
    ('rfl\nlocal notation "False" => True', "new-command"),
    ("rfl\nmacro_rules | `(tactic| decide) => `(tactic| trivial)", "new-command"),
    ("rfl\nattribute [simp] foo", "new-command"),
    ("rfl\ninstance : Inhabited False := ⟨sorry⟩", "new-command"),
    ("simp\n@[simp] def f := 1", "new-command"),
    ("simp\nvariable (h : False)", "new-command"),
    # Lexer tricks found in review: `--` / `/-` inside «…», name literals and plain strings with
    # `{` are not comments for Lean, so they must not hide code from the screen either.
    (
        "have «h--» : (1 : ℕ) + 1 = 3 := by set_option debug.skipKernelTC true in decide +kernel",
        "set_option",
    ),
    ("exact «x/-» <;> run_tac pure ()\n-- «-/»", "run_tac"),
    ("exact `«x--» <;> set_option debug.skipKernelTC true in rfl", "set_option"),
    (
        'have _a : String := "{"\nhave _b : String := "--"; '
        "have _h : 1 = 2 := (by set_option debug.skipKernelTC true in decide +kernel)",
        "interpolation",
    ),
    ("rfl #html (pure default)", "#-command"),
    ("trivial #test ∀ n : Nat, n = n", "#-command"),
    ("rfl gen_injective_theorems% Nat", "new-command"),
    ("rfl open Foo renaming bar → «in»", "new-command"),
    ("bv_decide", "native_decide"),
    ("/- an unterminated comment", "unreadable"),
    ("exact «unterminated", "unreadable"),
    ('exact "an unterminated string', "unreadable"),
]

HONEST: list[str] = [
    "norm_num",
    "nlinarith [sq_nonneg (a - b), sq_nonneg (a + b), mul_pos h₀ h₁]",
    "intro x\ninduction x with\n| zero => simp\n| succ n ih =>\n  simp [pow_succ]\n  omega",
    "have h : x = 2 := by linarith\nsubst h\nnorm_num",
    "rw [show (2 : ℝ) = 1 + 1 by norm_num]\nring",
    "field_simp [hx.ne']\nring_nf",
    "-- the end of the proof is near; no sorry needed\nomega",
    "/- we could `sorry` here, but we do not -/\nsimp",
    "open Real in\nsimp [Real.sqrt_eq_iff]",
    "set_option maxHeartbeats 400000 in\nnlinarith [sq_nonneg (x - 1)]",
    "have : #s = 3 := by simp\nomega",  # Finset.card notation, not a command
    "rcases h with ⟨x, hx⟩\nexact ⟨x, by simpa using hx⟩",
    "obtain ⟨k, hk⟩ := h₀\nexact ⟨k + 1, by omega⟩",
    "calc a = b := by rw [h]\n  _ = c := by simp",
    "simp? says simp only [Nat.add_zero]",
    "decide",
    "interval_cases x <;> simp_all",
    "exact h.isOpen",  # `open` inside an identifier
    "conv_lhs => rw [← Nat.mod_add_div n 8]",
    'trace "step"\nexact h\'',
]


@pytest.mark.parametrize(("proof", "rule"), CHEATS)
def test_cheating_proof_is_refused_with_its_rule(proof: str, rule: str) -> None:
    refusal = screen(proof)
    assert refusal is not None, proof
    assert refusal.rule == rule, (proof, refusal)
    assert f"rule '{rule}'" in refusal.message


def test_every_broken_rule_is_listed() -> None:
    rules = [r.rule for r in violations("simp\n@[simp] def f := sorry\n#eval f")]
    assert rules == ["new-command", "sorry", "#eval", "attribute"]


def test_there_are_enough_cheats_and_honest_proofs() -> None:
    assert len(CHEATS) >= 25 and len(HONEST) >= 10
    assert len({rule for _, rule in CHEATS}) >= 12


@pytest.mark.parametrize("proof", HONEST)
def test_honest_proof_passes(proof: str) -> None:
    assert screen(proof) is None, list(violations(proof))


def test_native_decide_and_options_follow_the_config() -> None:
    lenient = ScreenPolicy.from_config(
        LeanConfig(allow_native_decide=True, set_option_allowlist=("maxHeartbeats", "pp.all"))
    )
    assert screen("native_decide", lenient) is None
    assert screen("set_option pp.all true in\nsimp", lenient) is None
    refusal = screen("set_option debug.skipKernelTC true in\nsimp", lenient)
    assert refusal is not None and "debug.skipKernelTC" in refusal.detail


def test_sketches_may_use_sorry_and_nothing_else() -> None:
    sketch = ScreenPolicy(allow_sorry=True)
    assert screen("constructor\n· sorry\n· have h : x = 1 := by sorry\n  simp [h]", sketch) is None
    for other, rule in [("admit", "sorry"), ("exact sorryAx _ _", "sorry"), ("#eval 1", "#eval")]:
        refusal = screen(other, sketch)
        assert refusal is not None and refusal.rule == rule


def test_headers_from_benchmarks_pass_and_code_runners_do_not() -> None:
    minif2f = (
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real\n"
    )
    assert screen_header(minif2f) is None
    assert screen_header("import Lean\nopen scoped BigOperators\nnoncomputable section\n") is None
    for header, rule in [
        ("import Mathlib\nset_option debug.skipKernelTC true\n", "set_option"),
        ("import Mathlib\naxiom cheat : False\n", "header"),
        ("import Mathlib\n#eval IO.println 1\n", "header"),
        ('import Lean\nelab "cheat" : tactic => pure ()\n', "header"),
        ('import Lean\nrun_cmd Lean.logInfo "x"\n', "header"),
        ("import Mathlib\ntheorem helper : 1 = 1 := rfl\n", "header"),
    ]:
        refusal = screen_header(header)
        assert refusal is not None and refusal.rule == rule, header


def test_code_view_blanks_comments_only() -> None:
    text = 'simp -- sorry\n/- nested /- sorry -/ -/ exact "a -- b" /- x -/'
    view = code_view(text)
    assert len(view) == len(text) and view.count("\n") == text.count("\n")
    assert "sorry" not in view and '"a -- b"' in view


def test_identifiers_follow_lean_rules() -> None:
    tokens = [t for t, _ in identifiers("exact h₁.trans «sorry».x h' (foo.bar) x!")]
    assert tokens == ["exact", "h₁.trans", "sorry.x", "h'", "foo.bar", "x!"]
