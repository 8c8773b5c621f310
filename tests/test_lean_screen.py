"""Soundness screen: cheating proofs refused with their rule named, honest proofs let through.

The regression corpus (fixtures/lean_screen_cases.jsonl) holds several cases per class of hole:
configuration values run as code, metaprogramming, the lexer's strings / chars / names, the
characters Python splits lines at, statements and headers; and honest proofs that must pass.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environments.lean.lexer import UnreadableText, lex
from environments.lean.screen import (
    ScreenPolicy,
    code_view,
    identifiers,
    screen,
    screen_header,
    screen_statement,
    violations,
)
from environments.lean.settings import LeanConfig
from environments.lean.statement import (
    declarations,
    lean_lines,
    normalise_step,
    parse_statement,
    proof_block,
)
from prover.cli.check import theorems_in
from prover.errors import InputError

CORPUS = Path(__file__).parent / "fixtures" / "lean_screen_cases.jsonl"
SCREENS = {"proof": screen, "header": screen_header, "statement": screen_statement}
# Where Python's str.splitlines breaks a line and Lean's `--` comment does not end.
BREAKS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\r", "\x1c", "\x1d", "\x1e"]


def corpus() -> list[dict[str, Any]]:
    # Lines end at "\n" only: the cases hold U+2028 and friends, where splitlines() would break.
    lines = CORPUS.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines if line.strip()]


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


# -- the regression corpus --------------------------------------------------------------------


@pytest.mark.parametrize("case", corpus(), ids=lambda c: f"{c['class']}:{c['text'][:40]!r}")
def test_corpus_case(case: dict[str, Any]) -> None:
    refusal = SCREENS[case["where"]](case["text"])
    if case["expect"] == "refused":
        assert refusal is not None, case
        assert refusal.message.startswith("rejected by rule '")
    else:
        assert refusal is None, (case, refusal)


def test_corpus_covers_every_class() -> None:
    cases = corpus()
    classes = Counter(c["class"] for c in cases if c["expect"] == "refused")
    expected = {
        "config-code",
        "metaprogramming",
        "lexer-string",
        "lexer-char",
        "lexer-name",
        "line-break",
        "statement",
        "header",
        "hidden-command",
        "name-variant",
    }
    assert set(classes) == expected and min(classes.values()) >= 5, classes
    honest = Counter(c["where"] for c in cases if c["expect"] == "allowed")
    assert honest["proof"] >= 40 and honest["statement"] >= 5 and honest["header"] >= 3


# -- the lexer agrees with Lean's token rules -------------------------------------------------


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in lex(text).tokens]


def test_lexer_reads_literals_as_lean_does() -> None:
    assert kinds("2sorry") == [("number", "2"), ("ident", "sorry")]
    assert kinds("0x1Fg 1_000 2.5e-3") == [
        ("number", "0x1F"),
        ("ident", "g"),
        ("number", "1_000"),
        ("number", "2.5e-3"),
    ]
    assert kinds("'x''\"'") == [("char", "'x'"), ("char", "'\"'")]  # two char literals
    assert kinds("h' 'a'") == [("ident", "h'"), ("char", "'a'")]
    assert kinds("!sorry") == [("symbol", "!"), ("ident", "sorry")]
    assert kinds("x!y?") == [("ident", "x!y?")]  # `!` and `?` continue an identifier
    assert kinds("∑' n") == [("symbol", "∑"), ("symbol", "'"), ("ident", "n")]
    assert kinds("f '' s") == [("ident", "f"), ("symbol", "''"), ("ident", "s")]
    assert kinds('r#"a "b" c"# d') == [("string", 'r#"a "b" c"#'), ("ident", "d")]
    assert kinds("`«a b».c") == [("name", "`«a b».c")]
    assert kinds('"a\\\n   b"') == [("string", '"a\\\n   b"')]  # a string gap


@pytest.mark.parametrize(
    "text",
    [
        "/- open",
        '"open',
        "«open",
        "'ab'",
        '"\\q"',
        "0x",
        "1e",
        "2_",
        ")'a'",  # `)'` could be one token: Lean's token table decides
        ")-- c",
        '"gap\\\n\n x"',
    ],
)
def test_lexer_refuses_what_it_cannot_read_as_lean(text: str) -> None:
    with pytest.raises(UnreadableText):
        lex(text)


def test_comments_follow_lean() -> None:
    text = 'simp -- sorry\n/- nested /- sorry -/ -/ exact "a -- b" /-- doc -/ x'
    view = code_view(text)
    assert len(view) == len(text) and view.count("\n") == text.count("\n")
    assert "sorry" not in view and '"a -- b"' in view and "doc" not in view
    # `--` ends at "\n" only: what follows a U+2028 is still comment for Lean.
    assert [t.text for t in lex("a -- b\u2028c\nd").tokens] == ["a", "d"]


# -- one line splitting for the screen and for Lean -------------------------------------------


@pytest.mark.parametrize("brk", BREAKS)
def test_text_is_split_only_at_newlines(brk: str) -> None:
    proof = f"simp -- note{brk}exact h\n  omega"
    assert lean_lines(proof) == [f"simp -- note{brk}exact h", "  omega"]
    assert proof_block(proof) == f"  simp -- note{brk}exact h\n    omega"
    assert normalise_step(f"  simp -- a{brk}b\n    c") == f"simp -- a{brk}b\n  c"
    assert screen(proof) is not None  # and the character is refused outright


FRAGMENTS = [
    "simp",
    "exact h",
    "sorry",
    "native_decide",
    "#eval 1",
    "set_option debug.skipKernelTC true in",
    " ",
    "  ",
    "\n",
    "\r\n",
    "-- c ",
    "/- c -/",
    "/-",
    "-/",
    '"',
    '"s"',
    "'",
    "'a'",
    "«",
    "»",
    "«x»",
    "{",
    "}",
    "(config := {})",
    "(disch := f x)",
    "`",
    "!",
    "?",
    "2",
    ".",
    ":=",
    "∑'",
    "\\",
    "@[",
    "\t",
    *BREAKS,
]
texts = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(texts, st.text(max_size=40)))
def test_the_screens_never_crash(text: str) -> None:
    for check in (screen, screen_header, screen_statement):
        refusal = check(text)
        assert refusal is None or refusal.message.startswith("rejected by rule")


def test_deep_nesting_is_refused_not_a_crash() -> None:
    for value in ["(" * 3000 + "1" + ")" * 3000, "- " * 3000 + "1"]:
        refusal = screen(f"simp (x := {value})")
        assert refusal is not None and refusal.rule == "config"


@settings(max_examples=300, deadline=None)
@given(texts)
def test_an_accepted_proof_reads_the_same_once_relined(text: str) -> None:
    """What the screen passes is what Lean runs: re-lining under `:= by` keeps every token."""
    if screen(text) is not None:
        return
    code = [(t.kind, t.text) for t in lex(text).tokens if t.kind != "string"]
    relined = [(t.kind, t.text) for t in lex(proof_block(text)).tokens if t.kind != "string"]
    assert relined == code


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=20),
    st.sampled_from(BREAKS),
    st.sampled_from(["sorry", "native_decide", "#eval 1", "run_tac pure ()", "exact trivial"]),
    st.sampled_from(["simp", "norm_num", "omega"]),
)
def test_a_break_in_a_comment_smuggles_nothing(
    comment: str, brk: str, payload: str, tactic: str
) -> None:
    refusal = screen(f"{tactic} -- {comment}{brk}{payload}")
    assert refusal is not None
    assert screen_header(f"import Mathlib -- {comment}{brk}{payload}") is not None


# -- statements and headers in `prover check` and in the environment --------------------------


def test_statement_screen_matches_the_parsed_head() -> None:
    statement = "/-- doc -/\ntheorem t (x : ℕ) (h : x = 1 := by rfl) : x + 0 = 1 := by sorry"
    assert screen_statement(statement) is None
    assert parse_statement(statement).name == "t"
    refusal = screen_statement("theorem t : True := trivial\ntheorem u : False := by")
    assert refusal is not None and refusal.rule == "new-command"


def test_check_refuses_a_file_whose_header_or_statement_is_refused(tmp_path: Path) -> None:
    cheat = tmp_path / "cheat.lean"
    cheat.write_text(
        'import Mathlib\nlocal notation "False" => True\n\ntheorem t : False := by\n  trivial\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="refused: rejected by rule 'header'"):
        theorems_in(cheat, None)
    head = tmp_path / "head.lean"
    head.write_text(
        "import Mathlib\n\ntheorem t (h : (by exact (sorry : ℕ)) = 1) : True := by\n  trivial\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="rule 'sorry'"):
        theorems_in(head, None)


def test_check_gives_every_theorem_the_files_leading_header(tmp_path: Path) -> None:
    path = tmp_path / "two.lean"
    path.write_text(
        "import Mathlib\nopen Real\n\n/- theorem fake : True := trivial -/\n"
        "theorem a : 1 = 1 := by\n  rfl\n\ntheorem b : 2 = 2 := by\n  rfl\n",
        encoding="utf-8",
    )
    found = theorems_in(path, None)
    assert [t.name for t, _ in found] == ["a", "b"]  # not the one inside the comment
    prelude = "import Mathlib\nopen Real\n\n/- theorem fake : True := trivial -/\n"
    assert all(t.header == prelude for t, _ in found)
    assert [d.name for d in declarations(path.read_text(encoding="utf-8"))] == ["a", "b"]


# -- against real Lean: the facts the screen is built on --------------------------------------


async def _lean_replies(*commands: str) -> list[Any]:
    from environments.lean.repl import LeanReplEnvironment
    from environments.lean.replies import CommandReply, parse_command_reply

    env = LeanReplEnvironment(LeanConfig(pool_size=1))
    try:
        async with env.pool.leased("import Lean") as worker, worker.operation():
            replies = [parse_command_reply(await worker.command(c, 120.0)) for c in commands]
    finally:
        await env.close()
    assert all(isinstance(r, CommandReply) for r in replies), replies
    return replies


@pytest.mark.lean
async def test_lean_resumes_inside_an_unknown_tactic_and_keeps_comments_past_u2028() -> None:
    resumed = 'xrun_cmd Lean.logInfo "resumed"'
    hidden = "trivial -- c\u2028#eval (1 : Nat)"
    replies = await _lean_replies(
        f"example : True := by\n  {resumed}", f"example : True := by\n  {hidden}"
    )
    # The unknown tactic's error is reported one character in; the command after it ran.
    assert "resumed" in replies[0].infos()
    assert screen(resumed) is not None
    refusal = screen("xrun_cmd pure ()")  # with nothing else to refuse, this rule does it
    assert refusal is not None and refusal.rule == "hidden-command"
    # Lean's `--` comment does not end at U+2028: nothing ran, nothing failed. Only Python's
    # splitlines would have made `#eval` a line of its own; the screen refuses the character.
    assert not replies[1].errors and not replies[1].infos()
    assert screen(hidden) is not None
