"""The whole-proof checker: its verdict rules on recorded-style replies, and the checker end to end
on the stand-in REPL (tests/standins/lean_repl.py, which is not Lean), plus the Lean text it builds.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from environments.lean.checker import (
    STANDARD_AXIOMS,
    Replies,
    WholeProofChecker,
    allowed_axioms,
    axioms_in,
    judge,
)
from environments.lean.replies import parse_command_reply
from environments.lean.settings import LeanConfig
from environments.lean.statement import assemble, declarations, parse_statement, proof_block
from prover.errors import InputError
from prover.types import Theorem, VerdictStatus

STANDIN = Path(__file__).parent / "standins" / "lean_repl.py"
NAME = "mathd_numbertheory_81"
TYPE = f"{NAME} : @Eq.{{1}} Nat (@HMod.hMod.{{0, 0, 0}} Nat Nat Nat …) (@OfNat.ofNat.{{0}} Nat 2 …)"


def _info(data: str, env: int) -> dict[str, Any]:
    pos = {"line": 1, "column": 0}
    return {"messages": [{"severity": "info", "pos": pos, "endPos": pos, "data": data}], "env": env}


def _replies(proof: dict[str, Any], axioms: str, declared: str = TYPE) -> Replies:
    return Replies(
        parse_command_reply(proof),
        parse_command_reply(_info(axioms, 7)),
        parse_command_reply(_info(declared, 8)),
    )


STANDARD = f"'{NAME}' depends on axioms: [propext, Classical.choice, Quot.sound]"


def _judge(replies: Replies, *, native: bool = False, reference: str | None = TYPE) -> Any:
    return judge(replies, reference, allowed_axioms(native))


def test_a_clean_proof_is_accepted() -> None:
    verdict = _judge(_replies({"env": 6}, STANDARD))
    assert verdict.status is VerdictStatus.ACCEPTED and verdict.checked_by == "lean-repl"
    assert verdict.message == "axioms: propext, Classical.choice, Quot.sound"
    no_axioms = _judge(_replies({"env": 6}, f"'{NAME}' does not depend on any axioms"))
    assert no_axioms.verified


@pytest.mark.parametrize(
    ("proof", "reason"),
    [
        (
            {
                "messages": [
                    {
                        "severity": "error",
                        "pos": {"line": 2, "column": 2},
                        "data": "linarith failed to find a contradiction",
                    }
                ],
                "env": 6,
            },
            "Lean error at line 2: linarith failed",
        ),
    ]
    + [
        (
            {
                "messages": [
                    {"severity": "warning", "pos": {"line": 1, "column": 8}, "data": warning}
                ],
                "env": 6,
            },
            "uses sorry",
        )
        for warning in ("declaration uses 'sorry'", "declaration uses `sorry`")
    ]
    + [
        ({"sorries": [{"proofState": 3, "goal": "⊢ False"}], "env": 6}, "uses sorry"),
        ({"message": "Lean error:\n<input>:3:2: unknown tactic"}, "REPL refused"),
    ],
)
def test_errors_and_sorries_are_rejected(proof: dict[str, Any], reason: str) -> None:
    verdict = judge(Replies(parse_command_reply(proof)), TYPE, STANDARD_AXIOMS)
    assert verdict.status is VerdictStatus.REJECTED and reason in verdict.message


@pytest.mark.parametrize("axiom", ["sorryAx", "cheat", "Lean.ofReduceBool", "Lean.trustCompiler"])
def test_axioms_outside_the_allowed_set_are_rejected(axiom: str) -> None:
    text = f"'{NAME}' depends on axioms: [propext, {axiom}, Quot.sound]"
    verdict = _judge(_replies({"env": 6}, text))
    assert verdict.status is VerdictStatus.REJECTED and axiom in verdict.message


def test_native_decide_axiom_only_when_configured() -> None:
    text = f"'{NAME}' depends on axioms: [propext, Lean.ofReduceBool]"
    assert not _judge(_replies({"env": 6}, text)).verified
    assert _judge(_replies({"env": 6}, text), native=True).verified
    trust = f"'{NAME}' depends on axioms: [Lean.trustCompiler]"
    assert not _judge(_replies({"env": 6}, trust), native=True).verified


def test_wrapped_axiom_lists_are_read() -> None:
    text = f"'{NAME}' depends on axioms: [propext,\n Classical.choice,\n Quot.sound,\n sorryAx]"
    assert axioms_in(parse_command_reply(_info(text, 3))) == (
        "propext",
        "Classical.choice",
        "Quot.sound",
        "sorryAx",
    )


def test_a_changed_statement_is_rejected() -> None:
    changed = TYPE.replace("Nat 2", "Nat 3")
    verdict = _judge(_replies({"env": 6}, STANDARD, declared=changed))
    assert verdict.status is VerdictStatus.REJECTED and "differs" in verdict.message


def test_unreadable_checks_are_rejected() -> None:
    unknown = {
        "messages": [{"severity": "error", "pos": None, "data": "unknown constant 'x'"}],
        "env": 7,
    }
    replies = Replies(
        parse_command_reply({"env": 6}),
        parse_command_reply(unknown),
        parse_command_reply(_info(TYPE, 8)),
    )
    assert "axioms" in _judge(replies).message
    assert (
        "type could not be read" in _judge(_replies({"env": 6}, STANDARD), reference=None).message
    )
    assert not _judge(Replies(parse_command_reply({"env": 6}))).verified


# -- the Lean text -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["lean4_v4.24.jsonl", "lean4_deepseek_v4.9.jsonl"])
def test_every_minif2f_statement_parses(package_data: Path, data: str) -> None:
    rows = [json.loads(line) for line in (package_data / "minif2f" / data).open()]
    assert len(rows) == 488
    for row in rows:
        statement = parse_statement(row["formal_statement"])
        assert statement.name == row["name"]
        original = row["formal_statement"].rstrip()
        if original.endswith("sorry"):
            assert statement.with_sorry() == original.replace(":= by  sorry", ":= by sorry")
        else:  # DeepSeek: the checked command starts with the statement exactly as given
            assert statement.with_proof("simp").startswith(original)


@pytest.mark.parametrize(
    ("statement", "name"),
    [
        # a name in a comment or docstring is not the theorem's: the checker would otherwise
        # print the axioms and type of a Mathlib lemma instead of the theorem checked
        ("-- see lemma Nat.succ_le_succ\ntheorem my_thm : 1 = 1 := by", "my_thm"),
        ("/-- Strengthens theorem Nat.le_refl. -/\ntheorem my_thm : 1 = 1 := by", "my_thm"),
        ("theorem foo.{u} (α : Type u) : True := by sorry", "foo"),
        ("@[simp] private theorem bar : True := by", "bar"),
        ("theorem «weird name» : True := by", "«weird name»"),
    ],
)
def test_the_declared_name_is_read_from_code(statement: str, name: str) -> None:
    assert parse_statement(statement).name == name


def test_bad_statements_are_input_errors() -> None:
    with pytest.raises(InputError, match="must end in"):
        parse_statement("theorem t : 1 = 1 := rfl")
    with pytest.raises(InputError, match="theorem NAME"):
        parse_statement("example : 1 = 1 := by")


def test_assemble_keeps_multi_line_tactics_intact() -> None:
    steps = [
        "intro x",
        "induction x with\n| zero => simp\n| succ n ih =>\n  simp [ih]",
        "  have h : 1 = 1 := by\n    rfl",
    ]
    assert assemble(steps) == (
        "  intro x\n"
        "  induction x with\n"
        "  | zero => simp\n"
        "  | succ n ih =>\n"
        "    simp [ih]\n"
        "  have h : 1 = 1 := by\n"
        "    rfl"
    )
    assert proof_block(assemble(steps)) == assemble(steps)


def test_declarations_of_a_file() -> None:
    text = (
        "import Mathlib\nopen Real\n\n"
        "/-- a helper; `:=` in a comment -/\n"
        "lemma helper (x : ℕ) (h : x = 1 := by rfl) : x + 0 = 1 := by\n  simpa using h\n\n"
        "theorem main_thm (y : ℕ) : y = y := rfl\n\n"
        "theorem by_line : 2 = 2 := by rfl\n"
    )
    found = declarations(text)
    assert [d.name for d in found] == ["helper", "main_thm", "by_line"]
    helper, main, line = found
    assert helper.statement.endswith("x + 0 = 1 := by") and helper.proof == "  simpa using h"
    # Every theorem is checked against the file's leading header, never earlier declarations.
    assert main.proof == "exact rfl" and main.header == "import Mathlib\nopen Real\n\n"
    assert line.proof == "rfl" and line.header == main.header == helper.header


# -- the checker on the stand-in ---------------------------------------------------------------

STATEMENT = "theorem complex_and (p q r : Prop) (h1 : p ∧ q) (h2 : q → r) : p ∧ r := by sorry"
PROOF = assemble(["apply And.intro", "exact h1.left", "apply h2", "exact h1.right"])


def _config(library: Path, log: Path, *extra: str, **fields: Any) -> LeanConfig:
    argv = (sys.executable, str(STANDIN), "--library", str(library), "--log", str(log), *extra)
    return LeanConfig(repl_command=argv, project=str(library), pool_size=1, **fields)


def _requests(log: Path) -> list[Any]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [r["request"] for r in map(json.loads, lines) if r["event"] == "request"]


THEOREM = Theorem("complex_and", STATEMENT, header="import Lean")


async def test_checker_accepts_an_honest_proof(repl_transcripts: Path, tmp_path: Path) -> None:
    library = repl_transcripts
    log = tmp_path / "log.jsonl"
    async with WholeProofChecker(_config(library, log)) as checker:
        verdict = await checker.check(THEOREM, PROOF)
        assert verdict.verified, verdict
        wrong = await checker.check(THEOREM, assemble(["apply And.intro", "exact h1.right"]))
        assert wrong.status is VerdictStatus.REJECTED and "Lean error" in wrong.message
    started = [
        r["pid"] for r in map(json.loads, log.read_text().splitlines()) if r["event"] == "start"
    ]
    assert len(started) == 1  # one process; its header ran once
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)  # and close() stopped it
    sent = [r["cmd"] for r in _requests(log) if "cmd" in r]
    assert sent[0] == "import Lean" and sent.count("import Lean") == 1
    assert f"{STATEMENT.removesuffix(' := by sorry')} := by\n{PROOF}" in sent
    assert "#print axioms complex_and" in sent
    assert "set_option pp.all true in\n#check @complex_and" in sent


@pytest.mark.parametrize(
    ("extra", "fields", "reason"),
    [
        (("--axioms", "propext,sorryAx"), {}, "sorryAx"),
        (("--axioms", "propext,Lean.ofReduceBool"), {}, "Lean.ofReduceBool"),
        (("--type-drift",), {}, "differs from the original statement"),
    ],
)
async def test_checker_rejects_what_lean_reports(
    repl_transcripts: Path,
    tmp_path: Path,
    extra: tuple[str, ...],
    fields: dict[str, Any],
    reason: str,
) -> None:
    config = _config(repl_transcripts, tmp_path / "log", *extra, **fields)
    async with WholeProofChecker(config) as checker:
        verdict = await checker.check(THEOREM, PROOF)
    assert verdict.status is VerdictStatus.REJECTED and reason in verdict.message


async def test_native_decide_axiom_accepted_when_allowed(
    repl_transcripts: Path, tmp_path: Path
) -> None:
    config = _config(
        repl_transcripts,
        tmp_path / "log",
        "--axioms",
        "propext,Lean.ofReduceBool",
        allow_native_decide=True,
    )
    async with WholeProofChecker(config) as checker:
        assert (await checker.check(THEOREM, PROOF)).verified


async def test_screened_proofs_never_reach_lean(repl_transcripts: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with WholeProofChecker(_config(repl_transcripts, log)) as checker:
        for cheat in (
            "sorry",
            "exact?",
            "native_decide",
            "apply And.intro\ntheorem x : True := ⟨⟩",
        ):
            verdict = await checker.check(THEOREM, cheat)
            assert (
                verdict.status is VerdictStatus.REJECTED and "rejected by rule" in verdict.message
            )
        bad_header = Theorem("complex_and", STATEMENT, header="set_option debug.skipKernelTC true")
        verdict = await checker.check(bad_header, PROOF)
        assert "set_option" in verdict.message
        not_a_theorem = Theorem("e", "example : True := by", header="import Lean")
        assert "theorem NAME" in (await checker.check(not_a_theorem, "trivial")).message
    assert _requests(log) == []  # nothing was sent: no process was even started
