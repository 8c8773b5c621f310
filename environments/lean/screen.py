"""The screen: proof text refused before it reaches Lean, each refusal naming its rule.

Tactics that could fake a proof, run arbitrary code, change the checker, or close the theorem and
start a new command are refused. The screen reads code with comments removed (so English in a
comment does not trip it) but keeps string contents (so nothing hides in a string), and refuses
text it cannot read (an unterminated comment or string). It is the first of three lines of defence:
the whole-proof check still rejects errors, sorries, foreign axioms and changed statements.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from prover.config import LeanConfig

# Lean's own identifier characters (Lean.isIdFirst / isIdRest / isLetterLike / isSubScriptAlnum).


def _letter_like(c: str) -> bool:
    o = ord(c)
    return (
        (0x3B1 <= o <= 0x3C9 and o != 0x3BB)
        or (0x391 <= o <= 0x3A9 and o not in (0x3A0, 0x3A3))
        or 0x3CA <= o <= 0x3FB
        or 0x1F00 <= o <= 0x1FFE
        or 0x2100 <= o <= 0x214F
        or 0x1D49C <= o <= 0x1D59F
    )


def _subscript(c: str) -> bool:
    o = ord(c)
    return 0x2080 <= o <= 0x208C or 0x2090 <= o <= 0x209C or 0x1D62 <= o <= 0x1D6A


def _id_first(c: str) -> bool:
    return (c.isascii() and c.isalpha()) or c == "_" or _letter_like(c)


def _id_rest(c: str) -> bool:
    return (c.isascii() and c.isalnum()) or c in "_'!?" or _letter_like(c) or _subscript(c)


@dataclass(frozen=True)
class Refusal:
    """Why text was refused: the rule's name and what matched."""

    rule: str
    detail: str

    @property
    def message(self) -> str:
        return f"rejected by rule '{self.rule}': {self.detail}"


@dataclass(frozen=True)
class ScreenPolicy:
    """What the screen allows: option names, native_decide, and `sorry` as a sketch gap."""

    set_option_allowlist: tuple[str, ...] = ("maxHeartbeats", "maxRecDepth")
    allow_native_decide: bool = False
    allow_sorry: bool = False

    @classmethod
    def from_config(cls, config: LeanConfig, *, allow_sorry: bool = False) -> ScreenPolicy:
        return cls(
            set_option_allowlist=tuple(config.set_option_allowlist),
            allow_native_decide=config.allow_native_decide,
            allow_sorry=allow_sorry,
        )


# Every name here is refused wherever it appears as an identifier (or one dotted component).
_SORRY = frozenset({"sorry", "admit", "sorryAx", "lcProof"})
_NATIVE = frozenset(
    {
        "native_decide",
        "bv_decide",
        "ofReduceBool",
        "ofReduceNat",
        "reduceBool",
        "reduceNat",
        "trustCompiler",
    }
)
_CODE_RUNNERS = {
    "run_tac": "run_tac",
    "run_cmd": "run_cmd",
    "run_elab": "run_cmd",
    "run_meta": "run_cmd",
    "by_elab": "run_tac",
}
_KEYWORD_RULES = {
    "axiom": "axiom",
    "implemented_by": "implemented_by",
    "extern": "extern",
    "unsafe": "unsafe",
    "unsafeCast": "unsafe",
    "unsafeBaseIO": "unsafe",
    "unsafeIO": "unsafe",
    "unsafeEIO": "unsafe",
}
# Tactics that search and only suggest: left in a proof they are not the proof.
_SEARCH_TACTICS = frozenset({"exact?", "apply?", "rw?", "hint", "rw_search", "library_search"})
# Tokens that end the theorem and begin another command (or modify one).
_COMMANDS = frozenset(
    {
        "theorem",
        "lemma",
        "def",
        "example",
        "abbrev",
        "instance",
        "structure",
        "class",
        "inductive",
        "coinductive",
        "namespace",
        "section",
        "end",
        "variable",
        "universe",
        "opaque",
        "noncomputable",
        "macro",
        "macro_rules",
        "syntax",
        "elab",
        "elab_rules",
        "notation",
        "notation3",
        "infix",
        "infixl",
        "infixr",
        "prefix",
        "postfix",
        "attribute",
        "declare_syntax_cat",
        "initialize",
        "builtin_initialize",
        "mutual",
        "deriving",
        "export",
        "import",
        "private",
        "protected",
        "partial",
        "nonrec",
        "local",
        "include",
        "omit",
        "alias",
        "irreducible_def",
        "add_decl_doc",
        "register_simp_attr",
        "unif_hint",
        "simproc",
        "dsimproc",
        "suppress_compilation",
        "compile_inductive",
        "proof_wanted",
        "simproc_decl",
        "dsimproc_decl",
        "seal",
        "unseal",
        "register_option",
        "binder_predicate",
        "declare_config_elab",
        "init_quot",
        "recall",
        "add_aesop_rules",
        "declare_aesop_rule_sets",
        "grind_pattern",
        "set_option_if",
        "assert_not_exists",
        "assert_not_imported",
        "gen_injective_theorems",
        "mixfix",
        "library_note",
        "initialize_simps_projections",
        "mk_iff_of_inductive_prop",
        "register_label_attr",
        "set_premise_selector",
        "test_extern",
        "with_weak_namespace",
    }
)
# `#` commands; any `#word` at the start of a line is refused too.
_HASH_COMMANDS = frozenset(
    {
        "eval",
        "exit",
        "print",
        "check",
        "check_failure",
        "reduce",
        "guard",
        "guard_msgs",
        "guard_expr",
        "guard_target",
        "synth",
        "lint",
        "help",
        "find",
        "simp",
        "norm_num",
        "where",
        "conv",
        "time",
        "compile",
        "explode",
        "whnf",
        "push_neg",
        "min_imports",
        "count_heartbeats",
        "adaptation_note",
        "kernel_reduce",
        "leansearch",
        "loogle",
        "moogle",
        "long_names",
        "list_linters",
        "instances",
        "version",
        "html",
        "test",
        "sample",
        "check_simp",
        "check_tactic",
        "check_tactic_failure",
        "discr_tree_key",
        "simp_lemmas",
        "widget",
        "exit_on_error",
    }
)
_HASH = re.compile(r"#([A-Za-z_][A-Za-z_0-9]*)")
_SET_OPTION = re.compile(r"\bset_option\b\s*((?:«[^»]*»|[^\s«])*)")
_OPEN_IN = re.compile(r"\bopen\b[^\n]*?(?<!«)\bin\b(?!»)")  # `«in»` is a name, not `in`
_NATIVE_CONFIG = re.compile(r"(?:\+\s*native\b|\bnative\s*:=\s*true\b)")
_CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|.)|[^\\'\n])'")


class UnreadableText(Exception):
    """Text whose comments or strings do not end: the screen cannot read it."""


def _skip_block_comment(text: str, i: int) -> int:
    """Index after the (nested) block comment starting at `i` (which holds `/-`)."""
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("/-", i):
            depth += 1
            i += 2
        elif text.startswith("-/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise UnreadableText("an unterminated block comment")


def _skip_raw_string(text: str, i: int) -> int | None:
    """Index after a raw string `r#…#"…"#…#` starting at `i`, or None if there is none."""
    m = re.compile(r'r(#*)"').match(text, i)
    if m is None:
        return None
    close = '"' + m.group(1)
    end = text.find(close, m.end())
    if end < 0:
        raise UnreadableText("an unterminated raw string")
    return end + len(close)


def _after_identifier(text: str, i: int) -> bool:
    return i > 0 and _id_rest(text[i - 1])


def code_view(text: str) -> str:
    """`text` with comments blanked (newlines kept); strings, interpolations, chars and `«…»`
    identifiers untouched.

    Raises UnreadableText on an unterminated comment, string or `«…»`. It reads text the way Lean's
    scanner does: `--` inside `«…»` or a string is not a comment, and `{…}` is code only inside
    an interpolated string (`s!"…"`, `m!"…"`, `f!"…"`, …), where Lean reads it as code too.
    """
    out: list[str] = []
    # Each frame: "code" (with a brace depth, or None at top level) or "string".
    frames: list[list[object]] = [["code", None]]
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        kind, depth = frames[-1]
        if kind in ("string", "istring"):
            if c == "\\" and i + 1 < n:
                out.append(text[i : i + 2])
                i += 2
            elif c == '"':
                frames.pop()
                out.append(c)
                i += 1
            elif c == "{" and kind == "istring":
                frames.append(["code", 0])
                out.append(c)
                i += 1
            else:
                out.append(c)
                i += 1
            continue
        if c == "«":
            # An escaped identifier: Lean reads everything up to `»` as part of the name.
            end = text.find("»", i + 1)
            if end < 0:
                raise UnreadableText("an unterminated «…» identifier")
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/-", i):
            end = _skip_block_comment(text, i)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
        elif c == '"':
            interpolated = i >= 2 and text[i - 1] == "!" and _id_rest(text[i - 2])
            frames.append(["istring" if interpolated else "string", None])
            out.append(c)
            i += 1
        elif c == "r" and not _after_identifier(text, i) and text.startswith(("r#", 'r"'), i):
            end = _skip_raw_string(text, i)
            if end is None:
                out.append(c)
                i += 1
            else:
                out.append(text[i:end])
                i = end
        elif c == "'" and not _after_identifier(text, i) and _CHAR.match(text, i):
            m = _CHAR.match(text, i)
            assert m is not None
            out.append(m.group(0))
            i = m.end()
        elif depth is not None and c == "{":
            frames[-1][1] = depth + 1  # type: ignore[operator]
            out.append(c)
            i += 1
        elif depth is not None and c == "}":
            if depth == 0:
                frames.pop()  # back into the interpolated string
            else:
                frames[-1][1] = depth - 1  # type: ignore[operator]
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    if len(frames) > 1:
        raise UnreadableText("an unterminated string literal")
    return "".join(out)


def identifiers(code: str) -> Iterator[tuple[str, int]]:
    """Identifier tokens (« » escapes removed) with their offsets, as Lean's scanner splits them."""
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if not (_id_first(c) or c == "«") or (i > 0 and _id_rest(code[i - 1])):
            i += 1
            continue
        start = i
        parts: list[str] = []
        while i < n:
            if code[i] == "«":
                end = code.find("»", i + 1)
                if end < 0:
                    break
                parts.append(code[i + 1 : end])
                i = end + 1
            elif _id_first(code[i]):
                j = i + 1
                while j < n and _id_rest(code[j]):
                    j += 1
                parts.append(code[i:j])
                i = j
            else:
                break
            if i + 1 < n and code[i] == "." and (_id_first(code[i + 1]) or code[i + 1] == "«"):
                i += 1
                continue
            break
        if parts:
            yield ".".join(parts), start
        else:
            i = start + 1


def _line_start(code: str, pos: int) -> bool:
    return not code[code.rfind("\n", 0, pos) + 1 : pos].strip()


def violations(text: str, policy: ScreenPolicy | None = None) -> Iterator[Refusal]:
    """Every rule `text` breaks, in a fixed order (token rules first, then patterns)."""
    policy = policy or ScreenPolicy()
    try:
        code = code_view(text)
    except UnreadableText as exc:
        yield Refusal("unreadable", f"{exc}: the screen cannot tell code from comment")
        return

    open_spans = [(m.start(), m.end()) for m in _OPEN_IN.finditer(code)]

    def in_open_span(pos: int) -> bool:
        return any(a <= pos < b for a, b in open_spans)

    for token, pos in identifiers(code):
        parts = token.split(".")
        if _SORRY.intersection(parts) and not (policy.allow_sorry and token == "sorry"):
            yield Refusal("sorry", f"`{token}` leaves the goal unproved")
        elif token == "stop":
            yield Refusal("sorry", "`stop` turns the rest of the proof into `sorry`")
        elif not policy.allow_native_decide and _NATIVE.intersection(parts):
            yield Refusal(
                "native_decide",
                f"`{token}` trusts the compiler (allow it with lean.allow_native_decide = true)",
            )
        elif any(p in _CODE_RUNNERS for p in parts):
            runner = next(_CODE_RUNNERS[p] for p in parts if p in _CODE_RUNNERS)
            yield Refusal(runner, f"`{token}` runs arbitrary code during elaboration")
        elif any(p in _KEYWORD_RULES for p in parts):
            rule = next(_KEYWORD_RULES[p] for p in parts if p in _KEYWORD_RULES)
            yield Refusal(rule, f"`{token}` can make Lean trust what the kernel did not check")
        elif token in _SEARCH_TACTICS:
            yield Refusal(
                "search-tactic", f"`{token}` only suggests a proof; put the suggestion in instead"
            )
        elif token in ("open", "scoped") and in_open_span(pos):
            continue  # `open … in tac` only scopes names for one tactic
        elif token in _COMMANDS or token in ("open", "scoped"):
            yield Refusal("new-command", f"`{token}` ends the theorem and starts another command")

    for m in _HASH.finditer(code):
        word = m.group(1)
        if word in _HASH_COMMANDS or _line_start(code, m.start()):
            rule = "#eval" if word == "eval" else "#-command"
            yield Refusal(rule, f"`#{word}` is a command, not part of a proof")

    for m in _SET_OPTION.finditer(code):
        option = m.group(1).replace("«", "").replace("»", "")
        if option not in policy.set_option_allowlist:
            allowed = ", ".join(policy.set_option_allowlist) or "none"
            yield Refusal(
                "set_option",
                f"`set_option {option or '?'}` is not allowed (allowed: {allowed}; "
                "extend lean.set_option_allowlist to change that)",
            )

    if not policy.allow_native_decide:
        for m in _NATIVE_CONFIG.finditer(code):
            yield Refusal(
                "native_decide",
                f"`{m.group(0)}` evaluates with the compiler "
                "(allow it with lean.allow_native_decide = true)",
            )

    if "@[" in code:
        yield Refusal("attribute", "`@[…]` attributes belong to declarations, not proofs")


def screen(text: str, policy: ScreenPolicy | None = None) -> Refusal | None:
    """The first rule `text` (a tactic, a proof block or a sketch) breaks, or None if it passes."""
    return next(violations(text, policy), None)


# A header (imports, opens, helper declarations) must not run code or weaken the checker.
_HEADER_RULES = frozenset(
    {
        "run_tac",
        "run_cmd",
        "#eval",
        "set_option",
        "axiom",
        "implemented_by",
        "extern",
        "unsafe",
        "native_decide",
        "unreadable",
    }
)
_HEADER_META = frozenset(
    {"elab", "elab_rules", "macro", "macro_rules", "syntax", "initialize", "builtin_initialize"}
)


def screen_header(text: str, policy: ScreenPolicy | None = None) -> Refusal | None:
    """The header's check: imports, opens and plain declarations pass; code runners do not."""
    policy = policy or ScreenPolicy()
    relaxed = ScreenPolicy(policy.set_option_allowlist, policy.allow_native_decide, True)
    for refusal in violations(text, relaxed):
        if refusal.rule in _HEADER_RULES:
            return Refusal(refusal.rule, f"{refusal.detail} (in the header)")
    try:
        code = code_view(text)
    except UnreadableText:  # pragma: no cover - reported above as `unreadable`
        return None
    for token, _ in identifiers(code):
        if token in _HEADER_META:
            return Refusal("meta-code", f"`{token}` in the header defines code Lean would run")
    return None
