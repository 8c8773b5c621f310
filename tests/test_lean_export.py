"""The NDJSON export parser and the kernel judge's comparison (environments/lean/export.py).

On lean4export's own example (tests/fixtures/lean4export, copied from tag v4.24.0) and on exports
built by hand for each attack class (tests/standins/lean_export_builder.py, not lean4export).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standins.lean_export_builder import ExportBuilder, exports

from environments.lean.export import (
    ChallengeError,
    ExportError,
    Interner,
    compare,
    parse_export,
    parse_name,
    show_name,
)

EXAMPLE = Path(__file__).parent / "fixtures" / "lean4export" / "Nat.add_succ.ndjson"
STANDARD = [("propext",), ("Classical", "choice"), ("Quot", "sound")]
TARGET = ("T",)


def _pair(challenge: str, solution: str) -> tuple:
    interner = Interner()
    return (
        parse_export(challenge.splitlines(), interner, module="Challenge"),
        parse_export(solution.splitlines(), interner, module="Solution"),
    )


def test_the_real_example_parses() -> None:
    export = parse_export(EXAMPLE, Interner())
    names = {show_name(export.interner.names[n]): c.kind for n, c in export.constants.items()}
    assert len(names) == 32
    assert names["Nat.add_succ"] == "thm"
    assert names["Nat"] == "inductive" and names["Nat.succ"] == "ctor"
    assert names["Nat.rec"] == "rec" and names["Nat.add"] == "def"
    assert export.meta["exporter"]["name"] == "lean4export"
    theorem = export.get(("Nat", "add_succ"))
    assert theorem is not None
    mentioned = {show_name(export.interner.names[n]) for n in export.uses(theorem)}
    assert {"Eq", "HAdd.hAdd", "Nat", "Nat.succ", "instHAdd", "instAddNat"} <= mentioned


def test_the_real_example_against_itself_is_accepted() -> None:
    text = EXAMPLE.read_text()
    challenge, solution = _pair(text, text)
    finding = compare(challenge, solution, ("Nat", "add_succ"), STANDARD)
    assert finding.accepted and finding.message == "axioms: none"


def _edit(text: str, kind: str, name_index: int, key: str, value: int) -> str:
    """The example with field `key` of declaration `kind` named `name_index` set to `value`."""
    out = []
    for line in text.splitlines():
        record = json.loads(line)
        if kind in record:
            for decl in record[kind]:
                if decl["name"] == name_index:
                    decl[key] = value
            line = json.dumps(record)
        out.append(line)
    return "\n".join(out) + "\n"


def _index_of(text: str, dotted: str) -> int:
    parts: dict[int, tuple] = {0: ()}
    for line in text.splitlines():
        record = json.loads(line)
        if "in" in record:
            data = record.get("str") or record["num"]
            part = str(data.get("str", data.get("i")))
            parts[record["in"]] = (*parts[data["pre"]], part)
            if ".".join(parts[record["in"]]) == dotted:
                return record["in"]
    raise KeyError(dotted)


def test_the_real_example_with_a_changed_definition_is_rejected() -> None:
    text = EXAMPLE.read_text()
    # Nat.add's value replaced by another expression of the file: the statement means otherwise.
    edited = _edit(text, "def", _index_of(text, "Nat.add"), "value", 3)
    challenge, solution = _pair(text, edited)
    finding = compare(challenge, solution, ("Nat", "add_succ"), STANDARD)
    assert not finding.accepted
    assert finding.message == "Nat.add, used by the statement, differs in the Solution"


def test_the_real_example_with_a_changed_statement_is_rejected() -> None:
    text = EXAMPLE.read_text()
    edited = _edit(text, "thm", _index_of(text, "Nat.add_succ"), "type", 2)
    challenge, solution = _pair(text, edited)
    finding = compare(challenge, solution, ("Nat", "add_succ"), STANDARD)
    assert not finding.accepted and "differs from the trusted statement" in finding.message


def test_an_honest_constructed_solution_is_accepted() -> None:
    finding = compare(*_pair(*exports()), TARGET, STANDARD)
    assert finding.accepted and finding.axioms == ("propext",)


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        ("changed", "the type of T differs from the trusted statement"),
        ("axiom", "the proof depends on axioms that are not allowed: cheat"),
        ("sorry", "the proof uses sorry (sorryAx)"),
        ("native", "the proof depends on axioms that are not allowed: Lean.ofReduceBool"),
        ("fake-propext", "the axiom propext differs from Lean's own"),
        ("missing", "the Solution does not declare T"),
        ("def", "T is a def in the Solution, not a theorem"),
        ("universe", "the universe parameters of T differ from the statement's"),
        ("dangling", "the proof uses Ghost, which the Solution export lacks"),
    ],
)
def test_each_attack_class_is_rejected(attack: str, message: str) -> None:
    finding = compare(*_pair(*exports(solution=attack)), TARGET, STANDARD)
    assert not finding.accepted
    assert finding.message == message


def test_a_definition_the_statement_uses_must_be_the_same() -> None:
    finding = compare(*_pair(*exports(statement_def=1, solution_def=0)), TARGET, STANDARD)
    assert not finding.accepted
    assert finding.message == "D, used by the statement, differs in the Solution"


def test_native_decide_is_accepted_only_when_allowed_and_genuine() -> None:
    challenge_text, solution_text = exports(solution="native", native_in_challenge=True)
    allowed = [*STANDARD, parse_name("Lean.ofReduceBool")]
    assert not compare(*_pair(challenge_text, solution_text), TARGET, STANDARD).accepted
    finding = compare(*_pair(challenge_text, solution_text), TARGET, allowed)
    assert finding.accepted and finding.axioms == ("Lean.ofReduceBool",)


def test_a_challenge_without_the_target_is_the_judges_problem() -> None:
    _, solution = exports()
    with pytest.raises(ChallengeError, match="holds no theorem U"):
        compare(*_pair(solution, solution), ("U",), STANDARD)


def test_private_names_of_the_two_modules_are_the_same_names() -> None:
    def text(module: str) -> str:
        builder = ExportBuilder()
        prop = builder.prop()
        builder.defn(f"_private.{module}.0.P", prop, builder.const("True"))
        builder.defn("True", prop, prop)
        builder.thm("T", builder.const(f"_private.{module}.0.P"), builder.const("True"))
        return builder.text()

    finding = compare(*_pair(text("Challenge"), text("Solution")), TARGET, STANDARD)
    assert finding.accepted, finding


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty export"),
        (["{not json"], "line 1: not JSON"),
        (['{"in": 1, "str": {"pre": 0, "str": "a"}}'], "line 1: the first line is not"),
        (['{"meta": {}}', '{"in": 1, "str": {"pre": 5, "str": "a"}}'], "name 5 is used before"),
        (
            ['{"meta": {}}', '{"in": 1, "str": {"pre": 0, "str": "a"}}',
             '{"in": 1, "str": {"pre": 0, "str": "b"}}'],
            "line 3: name 1 is defined twice",
        ),
        (['{"meta": {}}', '{"ie": 0, "bvar": -1}'], "Expr.bvar -1 is not a natural number"),
        (['{"meta": {}}', '{"ie": 0, "natVal": "12x"}'], "not a decimal numeral"),
        (['{"meta": {}}', '{"ie": 0, "sort": 0, "bvar": 1}'], "unknown record"),
        (['{"meta": {}}', '{"frobnicate": {}}'], "unknown declaration kind"),
        (['{"meta": {}}', "[1, 2]"], "not a JSON object"),
    ],
)  # fmt: skip
def test_garbage_is_an_export_error(lines: list[str], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        parse_export(lines, Interner())


def test_a_declaration_twice_is_an_export_error() -> None:
    builder = ExportBuilder()
    builder.axiom("A", builder.prop())
    builder.axiom("A", builder.prop())
    with pytest.raises(ExportError, match="declaration A appears twice"):
        parse_export(builder.text().splitlines(), Interner())


def test_names_are_read_as_lean_writes_them() -> None:
    assert parse_name("Nat.add_succ") == ("Nat", "add_succ")
    assert parse_name("Foo.«bar.baz».x") == ("Foo", "bar.baz", "x")
    assert parse_name("a.1") == ("a", 1)
    with pytest.raises(ValueError):
        parse_name("a..b")
