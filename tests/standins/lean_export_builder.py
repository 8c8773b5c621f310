"""Writes small NDJSON exports in lean4export's format 3.1.0 (its `format_ndjson.md`, v4.24.0).

Not lean4export: the tests build Challenge/Solution exports by hand, one per attack class, with
the same numbering rules (names, levels and expressions numbered by first appearance, name 0 the
anonymous name, level 0 `zero`, declarations after what they mention).
"""

from __future__ import annotations

import json
from typing import Any

META = {
    "meta": {
        "exporter": {"name": "lean4export", "version": "3.1.0"},
        "lean": {"githash": "stand-in", "version": "4.24.0"},
        "format": {"version": "3.1.0"},
    }
}


class ExportBuilder:
    """`prop()`, `const(name)`, `arrow(a, b)` … return expression indices; `thm`/`axiom`/`defn`
    add declarations; `text()` is the export."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = [META]
        self._names: dict[str, int] = {"": 0}
        self._levels: dict[Any, int] = {"zero": 0}
        self._exprs: dict[str, int] = {}

    def name(self, dotted: str) -> int:
        if dotted in self._names:
            return self._names[dotted]
        pre, _, last = dotted.rpartition(".")
        pre_index = self.name(pre)
        index = len(self._names)
        self._names[dotted] = index
        self.lines.append({"in": index, "str": {"pre": pre_index, "str": last}})
        return index

    def param(self, name: str) -> int:
        key = ("param", name)
        if key not in self._levels:
            index = len(self._levels)
            named = self.name(name)
            self._levels[key] = index
            self.lines.append({"il": index, "param": named})
        return self._levels[key]

    def _expr(self, record: dict[str, Any]) -> int:
        key = json.dumps(record, sort_keys=True)
        if key not in self._exprs:
            index = len(self._exprs)
            self._exprs[key] = index
            self.lines.append({**record, "ie": index})
        return self._exprs[key]

    def prop(self) -> int:
        return self._expr({"sort": 0})

    def const(self, name: str, levels: tuple[int, ...] = ()) -> int:
        return self._expr({"const": {"name": self.name(name), "us": list(levels)}})

    def app(self, fn: int, arg: int) -> int:
        return self._expr({"app": {"fn": fn, "arg": arg}})

    def bvar(self, index: int) -> int:
        return self._expr({"bvar": index})

    def arrow(self, domain: int, body: int, binder: str = "h") -> int:
        record = {"name": self.name(binder), "type": domain, "body": body, "binderInfo": "default"}
        return self._expr({"forallE": record})

    def nat(self, value: int) -> int:
        return self._expr({"natVal": str(value)})

    def _decl(self, kind: str, body: dict[str, Any]) -> None:
        self.lines.append({kind: body})

    def axiom(self, name: str, type_: int, params: tuple[str, ...] = ()) -> None:
        self._decl(
            "axiom",
            {
                "name": self.name(name),
                "levelParams": [self.name(p) for p in params],
                "type": type_,
                "isUnsafe": False,
            },
        )

    def thm(self, name: str, type_: int, value: int, params: tuple[str, ...] = ()) -> None:
        self._decl(
            "thm",
            {
                "name": self.name(name),
                "levelParams": [self.name(p) for p in params],
                "type": type_,
                "value": value,
                "all": [self.name(name)],
            },
        )

    def defn(self, name: str, type_: int, value: int) -> None:
        self._decl(
            "def",
            {
                "name": self.name(name),
                "levelParams": [],
                "type": type_,
                "value": value,
                "hints": {"regular": 1},
                "safety": "safe",
                "all": [self.name(name)],
            },
        )

    def text(self) -> str:
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in self.lines)


def exports(
    *,
    statement_def: int = 1,
    solution_def: int = 1,
    solution: str = "honest",
    target: str = "T",
    native_in_challenge: bool = False,
) -> tuple[str, str]:
    """(Challenge, Solution) exports of `theorem T : D = D` over `def D : Prop := <n>-th prop`.

    `solution` picks the attack: honest (a proof through `propext`), changed (another statement),
    axiom (a new axiom), sorry (`sorryAx`), native (`Lean.ofReduceBool`), fake-propext (an axiom
    named propext with another type), missing (no T), def (T is a definition), universe (T gains
    a universe parameter), dangling (the proof names a constant the export lacks).
    """

    def base(builder: ExportBuilder, def_value: int) -> int:
        prop = builder.prop()
        values = [builder.const("True"), builder.const("False")]
        builder.defn("True", prop, prop)  # simplified stand-ins for Lean's True and False
        builder.defn("False", prop, prop)
        builder.defn("D", prop, values[def_value % 2])
        d = builder.const("D")
        statement = builder.app(builder.app(builder.const("Iff"), d), d)
        builder.defn("Iff", builder.arrow(prop, builder.arrow(prop, prop)), prop)
        builder.axiom("propext", builder.arrow(statement, statement))
        return statement

    challenge = ExportBuilder()
    statement = base(challenge, statement_def)
    challenge.axiom("sorryAx", challenge.prop())
    if native_in_challenge:  # exported when lean.allow_native_decide is set
        challenge.axiom("Lean.ofReduceBool", challenge.prop())
    challenge.thm(target, statement, challenge.const("sorryAx"))

    sol = ExportBuilder()
    statement = base(sol, solution_def)
    proof = sol.app(sol.const("propext"), sol.bvar(0))
    if solution == "honest":
        sol.thm(target, statement, proof)
    elif solution == "changed":
        sol.thm(target, sol.const("True"), proof)
    elif solution == "axiom":
        sol.axiom("cheat", sol.const("False"))
        sol.thm(target, statement, sol.const("cheat"))
    elif solution == "sorry":
        sol.axiom("sorryAx", sol.prop())
        sol.thm(target, statement, sol.const("sorryAx"))
    elif solution == "native":
        sol.axiom("Lean.ofReduceBool", sol.prop())
        sol.thm(target, statement, sol.const("Lean.ofReduceBool"))
    elif solution == "fake-propext":
        fake = ExportBuilder()
        statement = base(fake, solution_def)
        # Rebuild with an axiom `propext : False` in place of the genuine one.
        fake.lines = [line for line in fake.lines if "axiom" not in line or
                      line["axiom"]["name"] != fake.name("propext")]  # fmt: skip
        fake.axiom("propext", fake.const("False"))
        fake.thm(target, statement, fake.const("propext"))
        sol = fake
    elif solution == "missing":
        sol.thm("Other", statement, proof)
    elif solution == "def":
        sol.defn(target, statement, proof)
    elif solution == "universe":
        sol.thm(target, statement, proof, params=("u",))
    elif solution == "dangling":
        sol.thm(target, statement, sol.app(proof, sol.const("Ghost")))
    else:
        raise ValueError(solution)
    return challenge.text(), sol.text()
