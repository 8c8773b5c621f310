"""The screen on what Isabelle runs, by class of hole, and a corpus of cheats sent through
`prover prove --env isabelle` against the PISA stand-in, which (like Isabelle) accepts `sorry`
and `oops`. Not Isabelle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standins.pisa_scripted import default_script, serve
from standins.pisa_setup import (
    STATEMENT,
    isabelle_config,
    isabelle_standin,
    pisa_in_thread,
)

from environments.isabelle import isar
from environments.isabelle.environment import create
from prover.types import Failed, FailureKind, Language, Theorem

THEOREM = Theorem("mathd_demo", STATEMENT, Language.ISABELLE, header="Complex_Main")

# Each class of hole, with several spellings; every one must be refused.
CHEATS: dict[str, list[str]] = {
    # a comment removed without leaving a space joined the words around it
    "comment joins words": [
        "using h0(**)sorry",
        "by simp(* a *)oops",
        "by(**)eval",
        "apply(**)(normalization)",
        "have x(* (* nested *) *)sorry",
        "ML_prf(**)\\<open>\\<close> by simp",
        "using h0(**)\\<proof>",
    ],
    # `(*` inside a cartouche or a string opens no comment
    "comment opener inside a literal": [
        "txt \\<open>(*\\<close> sorry",
        "txt \\<open>\\<open>(*\\<close>\\<close> sorry (* *)",
        "txt ‹(*› sorry",
        'using "(*" sorry',
        "using `(*` sorry (* *)",
        "txt \\<open>(*\\<close> oops",
    ],
    # PISA's tagged wire text inside a proof
    "PISA tag text": [
        "by simp <SEP> sorry",
        "by simp<SEP>",
        "by simp <apply to top level state> default",
        "by simp <hammer> x",
        "by simp < SEP >",
        "by simp <delete> default",
        "by simp \\<SEP> sorry",
        "by simp <SEP\n>",
    ],
    # text Isabelle would refuse or read differently: never sent
    "unbalanced text": [
        "by simp (* never closed",
        'using "never closed',
        "txt \\<open>never closed",
    ],
    # abandoning a goal, running code, leaving the theory
    "forbidden commands": [
        "oops",
        "\\<proof>",
        "using [[quick_and_dirty]] sorry",
        "apply (tactic \\<open>all_tac\\<close>)",
        'apply ("tactic" \\<open>all_tac\\<close>)',
        "ML_val \\<open>()\\<close>",
        "end theory Evil imports Main begin",
        "by eval",
        "by normalization",
        "txt \\<open>@{ML \\<open>Skip_Proof.cheat_tac\\<close>}\\<close> by simp",
        "txt \\<open>\\<^ML>\\<open>()\\<close>\\<close> by simp",
        "{* sorry *} by simp",
        # configuration that trusts an external tool through an oracle
        "using [[smt_oracle]] by smt",
        "using [[smt_oracle = true]] by (smt (z3))",
        "by (approximation 10)",
    ],
    # ML commands by family: after a closed (or failing, forked) proof the batch judge's theory is
    # at theory level, where any of them runs ML that could forge the check
    "ML command variants": [
        "by simp\nparse_translation \\<open>[]\\<close>",
        "by simp\nprint_translation \\<open>[]\\<close>",
        "by simp\ntyped_print_translation \\<open>[]\\<close>",
        "by simp\nparse_ast_translation \\<open>[]\\<close>",
        "by simp\nprint_ast_translation \\<open>[]\\<close>",
        'by simp\nML_file_debug "x.ML"',
        'by simp\nSML_file_no_debug "x.ML"',
        'by simp\nsimproc_setup x ("x") = \\<open>K (K (K NONE))\\<close>',
        "by simp\nML_export \\<open>\\<close>",
        "using [[skip_proofs]] by simp",
        "txt \\<open>@{define_ML x = \\<open>()\\<close>}\\<close> by simp",
        "txt \\<open>\\<^define_ML>\\<open>x\\<close>\\<close> by simp",
    ],
    # generated code that holds ML text, which `value`/`eval`/`code_reflect` then run
    "ML through the code generator": [
        'by simp\ncode_printing constant HOL.True \\<rightharpoonup> (SML) "x"',
        "by simp\ncode_reflect Foo functions f",
        "by simp\ncode_printing code_module Foo \\<rightharpoonup> (SML)"
        " \\<open>val _ = ()\\<close>"
        " value x",
    ],
    # a character that Python counts as part of a word and Isabelle does not (a UTF-8 character
    # or a digit before a name) hid the command next to it
    "word edges": [
        "by simp ésorry",
        "using h0 ²sorry",
        "using h0 0sorry",
        "by (simp) éoops",
        "by simp\néML_val \\<open>()\\<close>",
        "by simp\n0ML_val \\<open>()\\<close>",
        "apply simp\néparse_translation \\<open>[]\\<close>",
        "by simp sorryé",
        "by simp oopsé",
        "by ¹eval",
    ],
}
HONEST = [
    "by linarith",
    "by (linarith) (* sorry is only a word in this comment *)",
    "(* first *) by linarith",
    'using h0 by (simp add: "sorry")',  # a word inside a term, not the command
    "txt \\<open>here sorry is a word of the text\\<close> by linarith",
    "by (simp add: h0 eval_lemma)",
    # DSP-style proofs: have/show, sledgehammer gaps, comments, proof - … qed, using assms
    "using assms by simp",
    "by (smt (verit, ccfv_SIG) h0)",
    'proof -\n  have c0: "x = 6" using h0 by simp\n  then show ?thesis by simp\nqed',
    'proof -\n  (* isolate x *)\n  have "2 * x = 12"\n    sledgehammer\n  then show ?thesis\n'
    "    sledgehammer\nqed",
    'proof (rule ccontr)\n  assume "\\<not> ?thesis"\n  then show False using h0 by auto\nqed',
    "apply (rule ccontr)\napply (auto simp add: h0)\ndone",
    "unfolding power2_eq_square by (simp add: algebra_simps)",
    'proof -\n  define y where "y = x + 1"\n  have "y = 7" using h0 y_def by simp\n'
    "  then show ?thesis using y_def by simp\nqed",
    "using h\\<^sub>0 h1 by (simp add: h0 eval_nat_numeral)",
    "by (metis (no_types, lifting) h0 mult_2)",
]


@pytest.mark.parametrize(
    "text", [t for texts in CHEATS.values() for t in texts], ids=lambda t: t[:30]
)
def test_every_cheat_is_refused_by_the_screen(text):
    assert isinstance(isar.screen(text), Failed)


@pytest.mark.parametrize("text", HONEST)
def test_honest_text_passes_the_screen(text):
    assert isar.screen(text) is None


def test_a_comment_becomes_a_space_and_literals_keep_their_insides():
    assert isar.command_word("h0(**)sorry") == "h0 sorry"
    assert isar.strip_comments("txt \\<open>(*\\<close> x") == "txt \\<open>(*\\<close> x"
    assert isar.strip_comments('"(*" x') == '"(*" x'
    assert isar.screen("txt \\<open>(*\\<close> sorry").kind is FailureKind.SORRY


def test_hammer_words_in_strings_comments_and_cartouches_are_not_rewritten():
    text = 'have "hammer x" (* hammer *) txt \\<open>hammer\\<close> hammer'
    assert isar.with_gap_word(text, "normalhammer") == (
        'have "hammer x" (* hammer *) txt \\<open>hammer\\<close> sledgehammer'
    )
    assert isar.with_gap_word("normalhammer_lemma hammer'", "normalhammer") == (
        "normalhammer_lemma hammer'"
    )
    assert not isar.has_gap_word('have "hammer x" (* hammer *) txt \\<open>hammer\\<close> by simp')
    assert isar.has_gap_word(text) and isar.has_gap_word("by simp\nnormalhammer")


def test_screen_pieces_names_the_step():
    failed = isar.screen_pieces(["by simp", "sorry"])
    assert failed.kind is FailureKind.SORRY and failed.message.startswith("step 2 (sorry)")
    assert isar.screen_pieces(["sorry"], allow_sorry=True) is None


async def test_the_pieces_isabelle_splits_off_are_screened(tmp_path):
    """A piece can hold what the whole text hid: the server's split is screened too."""
    script = default_script()
    server, port, servicer = await serve(script=script)
    env = create(isabelle_config(tmp_path, [port], start=False))
    try:
        session = await env.open(THEOREM)
        original = servicer._command

        async def split_oddly(command: str) -> str:  # a parser that hands back a cheat piece
            if command.startswith("<parse text>") and "linarith" in command:
                return "by linarith<SEP>sorry"
            return await original(command)

        servicer._command = split_oddly
        result = await session.run_tactic(session.initial_state, "by linarith")
        applied = [c for c in servicer.commands if "sorry" in c and "<parse text>" not in c]
        await session.close()
    finally:
        await env.close()
        await server.stop(None)
    assert isinstance(result, Failed) and result.kind is FailureKind.SORRY
    assert "step 2" in result.message and applied == []  # nothing of it reached Isabelle


def _prove(tmp_path: Path, port: int, tactic: str, judge: str) -> dict:
    from prover.cli import main

    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"default": [{"text": tactic}]}), encoding="utf-8")
    config = isabelle_config(tmp_path, [port], start=False)
    home = Path(config.section("isabelle").isabelle_path)
    isabelle_standin(home)
    out = tmp_path / "out.json"
    args = [
        "prove", STATEMENT, "--language", "isabelle", "--env", "isabelle",
        "--model", f"scripted:{script}", "--samples", "1", "--expansions", "2",
        "--store", str(tmp_path / "store"), "--tree", str(out),
        "--set", "sandbox=none", "--set", "isabelle.start=false",
        "--set", f"isabelle.ports=[{port}]", "--set", f"isabelle.isabelle_path={home}",
        "--set", f"isabelle.judge={judge}", "--json",
    ]  # fmt: skip
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(args)
    return json.loads(buffer.getvalue())


@pytest.mark.parametrize("judge", ["pisa", "build"])
def test_prove_accepts_no_cheat_and_still_proves_honestly(tmp_path, judge):
    cheats = [t for texts in CHEATS.values() for t in texts]
    with pisa_in_thread(default_script()) as port:
        for i, cheat in enumerate(cheats):
            result = _prove(tmp_path / f"c{i}", port, cheat, judge)
            assert not result["verified"] and result["status"] != "proved", cheat
        honest = _prove(tmp_path / "honest", port, "by linarith", judge)
    assert honest["status"] == "proved" and honest["verified"]
    assert honest["verified_by"] == f"isabelle-{judge}" and honest["proof"] == "by linarith"
