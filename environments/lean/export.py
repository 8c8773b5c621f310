"""lean4export's NDJSON export, read in Python, and the kernel judge's comparison of two exports.

Format (lean4export `format_ndjson.md`, tag v4.24.0): a `meta` line, then one JSON object per line:
names (`in`), levels (`il`) and expressions (`ie`) numbered by their first appearance (name 0 is
the anonymous name, level 0 is `zero`), and declarations (`axiom`, `def`, `opaque`, `thm`,
`quot`, `inductive`) after everything they mention. The exporter built at the tag writes format
3.1.0 (one object per declaration; inductive blocks hold `types`/`ctors`/`recs`); its example
file was written by 3.0.0 (a list per declaration; `inductiveVals`/`constructorVals`/
`recursorVals`). Both are read.

Two exports (Challenge and Solution) are parsed into one `Interner`, so structurally equal
names, levels and expressions get the same id in both: comparing a declaration is comparing ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NameParts = tuple[str | int, ...]
SORRY = ("sorryAx",)
BINDER_INFOS = frozenset({"default", "implicit", "strictImplicit", "instImplicit"})
_PRIVATE = "_private"
_MAIN = "<main module>"  # stands for the judged module in `_private.<Module>.…` names


class ExportError(ValueError):
    """The export is not what lean4export writes; the message names the line."""


def parse_name(text: str) -> NameParts:
    """A Lean name as written in source (`Foo.«bar baz».x`) as its components."""
    parts: list[str | int] = []
    i, current = 0, ""
    while i < len(text):
        c = text[i]
        if c == "«":
            end = text.find("»", i + 1)
            if end < 0:
                raise ValueError(f"unclosed « in the name {text!r}")
            current += text[i + 1 : end]
            i = end + 1
            continue
        if c == ".":
            parts.append(current)
            current = ""
        else:
            current += c
        i += 1
    parts.append(current)
    if any(p == "" for p in parts):
        raise ValueError(f"not a Lean name: {text!r}")
    return tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in parts)


def show_name(parts: NameParts) -> str:
    return ".".join(str(p) for p in parts) or "[anonymous]"


@dataclass
class Interner:
    """Hash-consing shared by the exports being compared (ids are positions in these lists)."""

    names: list[NameParts] = field(default_factory=lambda: [()])
    levels: list[tuple[Any, ...]] = field(default_factory=lambda: [("zero",)])
    exprs: list[tuple[Any, ...]] = field(default_factory=list)
    _name_ids: dict[NameParts, int] = field(default_factory=lambda: {(): 0})
    _level_ids: dict[tuple[Any, ...], int] = field(default_factory=lambda: {("zero",): 0})
    _expr_ids: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def name(self, parts: NameParts) -> int:
        found = self._name_ids.get(parts)
        if found is None:
            found = self._name_ids[parts] = len(self.names)
            self.names.append(parts)
        return found

    def level(self, node: tuple[Any, ...]) -> int:
        found = self._level_ids.get(node)
        if found is None:
            found = self._level_ids[node] = len(self.levels)
            self.levels.append(node)
        return found

    def expr(self, node: tuple[Any, ...]) -> int:
        found = self._expr_ids.get(node)
        if found is None:
            found = self._expr_ids[node] = len(self.exprs)
            self.exprs.append(node)
        return found

    def constants_in(self, roots: Iterable[int], seen: set[int] | None = None) -> set[int]:
        """Name ids of the constants the expressions `roots` mention (`seen`: ids already
        walked, shared across calls so a closure walk visits each subterm once)."""
        seen = set() if seen is None else seen
        found: set[int] = set()
        todo = [r for r in roots if r not in seen]
        while todo:
            expr = todo.pop()
            if expr in seen:
                continue
            seen.add(expr)
            node = self.exprs[expr]
            tag = node[0]
            if tag == "const":
                found.add(node[1])
            elif tag == "app":
                todo += (node[1], node[2])
            elif tag in ("lam", "forallE"):
                todo += (node[2], node[3])
            elif tag == "letE":
                todo += (node[2], node[3], node[4])
            elif tag == "proj":
                todo.append(node[3])
            elif tag == "mdata":
                todo.append(node[1])
        return found


@dataclass(frozen=True)
class Constant:
    """One declaration; `type`, `value` and `exprs` are expression ids, `refs` name ids of the
    constants it names outside expressions (constructors, `all`, recursor rules). Equal constants
    from two exports of one `Interner` are identical declarations."""

    name: int
    kind: str  # axiom, def, opaque, thm, quot, inductive, ctor, rec
    level_params: tuple[int, ...]
    type: int
    value: int | None = None
    details: tuple[Any, ...] = ()
    refs: tuple[int, ...] = ()
    exprs: tuple[int, ...] = ()

    def roots(self) -> tuple[int, ...]:
        """Every expression of the declaration: type, value, recursor rules."""
        return (self.type, *(() if self.value is None else (self.value,)), *self.exprs)


@dataclass
class Export:
    """The declarations of one export, keyed by name id in the shared interner."""

    interner: Interner
    meta: dict[str, Any]
    constants: dict[int, Constant]

    def get(self, name: NameParts) -> Constant | None:
        key = self.interner._name_ids.get(name)
        return None if key is None else self.constants.get(key)

    def uses(self, constant: Constant, seen: set[int] | None = None) -> set[int]:
        """Name ids of the constants `constant` refers to (as comparator's runForUsedConsts)."""
        return self.interner.constants_in(constant.roots(), seen) | set(constant.refs)


class _Reader:
    """Reads one export's lines into `interner`; indices are the file's own, mapped to ids."""

    def __init__(self, interner: Interner, module: str | None) -> None:
        self.i = interner
        self.module = module
        self.names: dict[int, int] = {0: 0}
        self.levels: dict[int, int] = {0: 0}
        self.exprs: dict[int, int] = {}
        self.constants: dict[int, Constant] = {}

    # -- lookups of the file's indices --

    def _get(self, table: dict[int, int], what: str, index: Any) -> int:
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExportError(f"{what} index {index!r} is not an integer")
        found = table.get(index)
        if found is None:
            raise ExportError(f"{what} {index} is used before it is defined")
        return found

    def name(self, index: Any) -> int:
        return self._get(self.names, "name", index)

    def level(self, index: Any) -> int:
        return self._get(self.levels, "level", index)

    def expr(self, index: Any) -> int:
        return self._get(self.exprs, "expression", index)

    def names_of(self, indices: Any) -> tuple[int, ...]:
        if not isinstance(indices, list):
            raise ExportError(f"expected a list of names, got {indices!r}")
        return tuple(self.name(n) for n in indices)

    @staticmethod
    def _define(table: dict[int, int], what: str, index: Any, value: int) -> None:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ExportError(f"{what} index {index!r} is not a natural number")
        if index in table:
            raise ExportError(f"{what} {index} is defined twice")
        table[index] = value

    # -- items --

    def item(self, obj: dict[str, Any]) -> None:
        if "in" in obj:
            self._define(self.names, "name", obj["in"], self._name(obj))
        elif "il" in obj:
            self._define(self.levels, "level", obj["il"], self._level(obj))
        elif "ie" in obj:
            self._define(self.exprs, "expression", obj["ie"], self._expr(obj))
        elif len(obj) == 1:
            ((kind, data),) = obj.items()
            for entry in data if isinstance(data, list) else [data]:
                self._declaration(kind, _obj(entry, kind))
        else:
            raise ExportError(f"unknown record with keys {sorted(obj)}")

    def _name(self, obj: dict[str, Any]) -> int:
        (tag,) = _one_tag(obj, "in", ("str", "num"))
        data = _obj(obj[tag], f"Name.{tag}")
        prefix = self.i.names[self.name(data.get("pre"))]
        if tag == "str":
            part: str | int = _field(data, "str", str)
            if prefix == (_PRIVATE,) and self.module is not None and part == self.module:
                part = _MAIN  # private names carry the module: Challenge and Solution differ
        else:
            part = _field(data, "i", int)
        return self.i.name((*prefix, part))

    def _level(self, obj: dict[str, Any]) -> int:
        (tag,) = _one_tag(obj, "il", ("succ", "max", "imax", "param"))
        data = obj[tag]
        if tag == "succ":
            return self.i.level(("succ", self.level(data)))
        if tag == "param":
            return self.i.level(("param", self.name(data)))
        if not (isinstance(data, list) and len(data) == 2):
            raise ExportError(f"Level.{tag} needs two levels, got {data!r}")
        return self.i.level((tag, self.level(data[0]), self.level(data[1])))

    def _expr(self, obj: dict[str, Any]) -> int:
        tags = ("bvar", "sort", "const", "app", "lam", "forallE", "letE", "proj")
        (tag,) = _one_tag(obj, "ie", (*tags, "natVal", "strVal", "mdata"))
        data = obj[tag]
        node: tuple[Any, ...]
        if tag == "bvar":
            node = ("bvar", _nat(data, "Expr.bvar"))
        elif tag == "sort":
            node = ("sort", self.level(data))
        elif tag == "const":
            data = _obj(data, "Expr.const")
            levels = data.get("us")
            if not isinstance(levels, list):
                raise ExportError("Expr.const has no level list `us`")
            node = ("const", self.name(data.get("name")), tuple(self.level(u) for u in levels))
        elif tag == "app":
            data = _obj(data, "Expr.app")
            node = ("app", self.expr(data.get("fn")), self.expr(data.get("arg")))
        elif tag in ("lam", "forallE"):
            data = _obj(data, f"Expr.{tag}")
            info = data.get("binderInfo")
            if info not in BINDER_INFOS:
                raise ExportError(f"Expr.{tag} has binderInfo {info!r}")
            node = (
                tag,
                self.name(data.get("name")),
                self.expr(data.get("type")),
                self.expr(data.get("body")),
                info,
            )
        elif tag == "letE":
            data = _obj(data, "Expr.letE")
            node = (
                "letE",
                self.name(data.get("name")),
                self.expr(data.get("type")),
                self.expr(data.get("value")),
                self.expr(data.get("body")),
                _field(data, "nondep", bool),
            )
        elif tag == "proj":
            data = _obj(data, "Expr.proj")
            node = (
                "proj",
                self.name(data.get("typeName")),
                _nat(data.get("idx"), "Expr.proj idx"),
                self.expr(data.get("struct")),
            )
        elif tag == "natVal":
            if not (isinstance(data, str) and data.isascii() and data.isdigit()):
                raise ExportError(f"natVal {data!r} is not a decimal numeral")
            node = ("natVal", int(data))
        elif tag == "strVal":
            if not isinstance(data, str):
                raise ExportError("strVal is not a string")
            node = ("strVal", data)
        else:
            data = _obj(data, "Expr.mdata")
            payload = json.dumps(_obj(data.get("data"), "Expr.mdata data"), sort_keys=True)
            node = ("mdata", self.expr(data.get("expr")), payload)
        return self.i.expr(node)

    def _declaration(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "inductive":
            blocks = (
                ("types", "inductiveVals", "inductive"),
                ("ctors", "constructorVals", "ctor"),
                ("recs", "recursorVals", "rec"),
            )
            for new, old, what in blocks:
                entries = data.get(new, data.get(old))
                if not isinstance(entries, list):
                    raise ExportError(f"inductive block without `{new}`")
                for entry in entries:
                    self._add(self._inductive_part(what, _obj(entry, what)))
            return
        if kind not in ("axiom", "def", "opaque", "thm", "quot"):
            raise ExportError(f"unknown declaration kind {kind!r}")
        value = self.expr(data.get("value")) if kind in ("def", "opaque", "thm") else None
        details: tuple[Any, ...]
        if kind == "axiom":
            details = (_field(data, "isUnsafe", bool),)
        elif kind == "def":
            hints = data.get("hints")
            if isinstance(hints, dict) and list(hints) == ["regular"]:
                hints = ("regular", _nat(hints["regular"], "hints"))
            elif hints not in ("opaque", "abbrev"):
                raise ExportError(f"definition hints {hints!r}")
            safety = data.get("safety")
            if safety not in ("safe", "unsafe", "partial"):
                raise ExportError(f"definition safety {safety!r}")
            details = (hints, safety, self.names_of(data.get("all")))
        elif kind == "opaque":
            unsafe = data.get("isUnsafe", False)  # older exporters omit it (as the tag's parser)
            if not isinstance(unsafe, bool):
                raise ExportError("opaque isUnsafe is not a boolean")
            details = (unsafe, self.names_of(data.get("all")))
        elif kind == "thm":
            details = (self.names_of(data.get("all")),)
        else:
            quot = data.get("kind")
            if quot not in ("type", "ctor", "lift", "ind"):
                raise ExportError(f"quot kind {quot!r}")
            details = (quot,)
        self._add(self._constant(kind, data, value=value, details=details))

    def _constant(self, kind: str, data: dict[str, Any], **more: Any) -> Constant:
        return Constant(
            name=self.name(data.get("name")),
            kind=kind,
            level_params=self.names_of(data.get("levelParams")),
            type=self.expr(data.get("type")),
            **more,
        )

    def _inductive_part(self, what: str, data: dict[str, Any]) -> Constant:
        unsafe = _field(data, "isUnsafe", bool)
        if what == "inductive":
            all_, ctors = self.names_of(data.get("all")), self.names_of(data.get("ctors"))
            counts = tuple(_nat(data.get(k), k) for k in ("numParams", "numIndices", "numNested"))
            flags = (_field(data, "isRec", bool), _field(data, "isReflexive", bool), unsafe)
            return self._constant(
                what, data, details=(counts, flags, all_, ctors), refs=(*ctors, *all_)
            )
        if what == "ctor":
            induct = self.name(data.get("induct"))
            counts = tuple(_nat(data.get(k), k) for k in ("cidx", "numParams", "numFields"))
            return self._constant(what, data, details=(induct, counts, unsafe), refs=(induct,))
        rules_raw = data.get("rules")
        if not isinstance(rules_raw, list):
            raise ExportError("recursor without `rules`")
        rules = []
        for raw in rules_raw:
            rule = _obj(raw, "recursor rule")
            rules.append(
                (self.name(rule.get("ctor")), _nat(rule.get("nfields"), "nfields"),
                 self.expr(rule.get("rhs")))
            )  # fmt: skip
        all_ = self.names_of(data.get("all"))
        keys = ("numParams", "numIndices", "numMotives", "numMinors")
        counts = tuple(_nat(data.get(k), k) for k in keys)
        return self._constant(
            what,
            data,
            details=(all_, counts, tuple(rules), _field(data, "k", bool), unsafe),
            refs=(*all_, *(r[0] for r in rules)),
            exprs=tuple(r[2] for r in rules),
        )

    def _add(self, constant: Constant) -> None:
        if constant.name in self.constants:
            shown = show_name(self.i.names[constant.name])
            raise ExportError(f"declaration {shown} appears twice")
        self.constants[constant.name] = constant


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExportError(f"{what} is not a JSON object")
    return value


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ExportError(f"field `{key}` is missing or not a {kind.__name__}")
    return value


def _nat(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ExportError(f"{what} {value!r} is not a natural number")
    return value


def _one_tag(obj: dict[str, Any], index: str, tags: tuple[str, ...]) -> tuple[str]:
    others = [k for k in obj if k != index]
    if len(others) != 1 or others[0] not in tags:
        raise ExportError(f"unknown record with keys {sorted(obj)}")
    return (others[0],)


def _lines(source: Path | Iterable[str]) -> Iterator[str]:
    if isinstance(source, Path):
        with source.open(encoding="utf-8", errors="strict") as handle:
            yield from handle
    else:
        yield from source


def parse_export(
    source: Path | Iterable[str], interner: Interner, *, module: str | None = None
) -> Export:
    """Read an export (a file or its lines) into `interner`; ExportError names the bad line.

    `module` is the exported module's name: `_private.<module>.…` names are read as the same
    names in both exports (Challenge and Solution hold the same header under different names).
    """
    reader = _Reader(interner, module)
    meta: dict[str, Any] | None = None
    number = 0
    try:
        for number, line in enumerate(_lines(source), 1):  # noqa: B007 - used after the loop
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ExportError(f"not JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise ExportError("not a JSON object")
            if meta is None:
                if list(obj) != ["meta"] or not isinstance(obj["meta"], dict):
                    raise ExportError("the first line is not lean4export's `meta` record")
                meta = obj["meta"]
                continue
            reader.item(obj)
    except ExportError as exc:
        raise ExportError(f"line {number}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ExportError(f"line {number + 1}: not UTF-8 ({exc.reason})") from None
    if meta is None:
        raise ExportError("empty export (no `meta` line)")
    return Export(interner, meta, reader.constants)


@dataclass(frozen=True)
class Finding:
    """The comparison's outcome: `accepted`, or the first reason it is not."""

    accepted: bool
    message: str
    axioms: tuple[str, ...] = ()


class ChallengeError(ValueError):
    """The trusted side (the Challenge export) is not usable: nothing about the proof is known."""


def compare(
    challenge: Export, solution: Export, target: NameParts, allowed: Iterable[NameParts]
) -> Finding:
    """Comparator's rules for one theorem `target` (raises ChallengeError on a bad Challenge):

    the target exists in Solution and is a theorem; its universe parameters and type equal the
    Challenge's; every constant the type mentions, transitively through types and values, is the
    identical declaration in both; the Solution's proof reaches no `sorryAx` and no axiom but
    `allowed`, each identical to the Challenge's axiom of that name; nothing it reaches is
    missing from the export.
    """
    interner = challenge.interner
    if solution.interner is not interner:
        raise ValueError("the exports were read into different interners")
    shown = show_name(target)
    reference = challenge.get(target)
    if reference is None or reference.kind != "thm":
        what = "no" if reference is None else f"a {reference.kind} and no"
        raise ChallengeError(f"the Challenge export holds {what} theorem {shown}")
    found = solution.get(target)
    if found is None:
        return Finding(False, f"the Solution does not declare {shown}")
    if found.kind != "thm":
        return Finding(False, f"{shown} is a {found.kind} in the Solution, not a theorem")
    if found.level_params != reference.level_params:
        return Finding(False, f"the universe parameters of {shown} differ from the statement's")
    if found.type != reference.type:
        return Finding(False, f"the type of {shown} differs from the trusted statement")

    # Every constant the statement mentions must mean the same in both.
    todo = list(interner.constants_in([reference.type]))
    checked = {reference.name}
    seen: set[int] = set()
    while todo:
        name = todo.pop()
        if name in checked:
            continue
        checked.add(name)
        expected, actual = challenge.constants.get(name), solution.constants.get(name)
        label = show_name(interner.names[name])
        if expected is None:
            raise ChallengeError(f"the Challenge export lacks {label}, which its statement uses")
        if actual != expected:
            return Finding(False, f"{label}, used by the statement, differs in the Solution")
        todo += solution.uses(actual, seen)

    # The axioms the proof reaches, through every declaration it uses.
    allowed_ids = {interner.name(a) for a in allowed}
    axioms: set[str] = set()
    foreign: set[str] = set()
    todo, reached, seen = [found.name], set(), set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        constant = solution.constants.get(name)
        label = show_name(interner.names[name])
        if constant is None:
            return Finding(False, f"the proof uses {label}, which the Solution export lacks")
        if constant.kind == "axiom":
            if interner.names[name] == SORRY:
                return Finding(False, "the proof uses sorry (sorryAx)")
            if name not in allowed_ids:
                foreign.add(label)  # all of them are named, whichever the walk meets first
                continue
            if challenge.constants.get(name) != constant:
                return Finding(False, f"the axiom {label} differs from Lean's own")
            axioms.add(label)
        todo += solution.uses(constant, seen)
    if foreign:
        named = ", ".join(sorted(foreign))
        return Finding(False, f"the proof depends on axioms that are not allowed: {named}")
    listed = tuple(sorted(axioms))
    return Finding(True, "axioms: " + (", ".join(listed) or "none"), listed)
