"""The screen: Lean text refused before it reaches Lean, each refusal naming its rule.

It refuses what could fake a proof, run code (code runners, metaprogramming names, configuration
values that are not literals), switch checks off, start another command, or be read differently
by Lean than by the screen (lexer.py follows Lean's token rules and refuses what it cannot read;
characters where Python and Lean split lines differently are refused). It is the cheap first
filter and the host-safety line, never the judge: the whole-proof check or the kernel judge decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from environments.lean.lexer import Lexed, Token, UnreadableText, lex
from environments.lean.settings import LeanConfig


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
        "bv_check",
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
# Namespaces and names of Lean's metaprogramming and IO: a proof never needs them, and with them a
# term (a tactic's configuration value, say) is code that runs inside the checker.
_META = frozenset(
    {
        "Lean",
        "IO",
        "EIO",
        "BaseIO",
        "System",
        "Elab",
        "Meta",
        "MetaM",
        "TacticM",
        "TermElabM",
        "CommandElabM",
        "CoreM",
        "Mathlib",
        "Aesop",
        "Qq",
        "Batteries",
        "addDecl",
        "addAndCompile",
        "evalExpr",
        "evalConst",
        "do",
        # macros that build IO actions without naming IO (`println!` is `IO.println`)
        "println",
        "eprintln",
        "dbg_trace",
        "dbgTrace",
        "dbgTraceIfShared",
    }
)
# Characters where Lean and Python disagree about line ends (str.splitlines breaks at them, Lean's
# `--` comment does not), and other control characters no proof needs.
_BREAKS = frozenset("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_ARITHMETIC = frozenset("+-*/%^")
# Inside comments, strings and «…» names: after a syntax error Lean resumes parsing commands at the
# error's position, which may lie inside such text, so code-running words there are refused too.
_HIDDEN = re.compile(
    r"#[A-Za-z_]|(?<![\w'!?.])(?:(?:run_tac|run_cmd|run_elab|run_meta|by_elab|elab|elab_rules"
    r"|macro|macro_rules|syntax|initialize|builtin_initialize|unsafe\w*|implemented_by|extern"
    r"|d?simproc)"
    r"(?![\w'!?])|(?:Lean|IO)\s*\.)"
)
# Inside a string, char literal, «…» name or doc comment (tokens, unlike `--` and `/- -/`, which
# Lean's whitespace skips whole): a token that is not a command makes Lean move on one character
# at a time, so it tries a command at every character inside it (`"xrun_cmd …"` runs `run_cmd`).
# From there on, what the screen read as string can be code, so the words count anywhere.
_HIDDEN_INSIDE = re.compile(
    r"#[A-Za-z_]|run_cmd|run_elab|run_meta|run_tac|by_elab|elab|macro|syntax|initialize|d?simproc"
    r"|unsafe|(?:Lean|IO)»?\s*\."
)
# Inside an identifier: an unknown tactic `xrun_cmd …` is a syntax error reported one character
# into the name, so Lean resumes parsing commands at `run_cmd …`. `simproc` and `dsimproc`
# declare code (typed by the command itself, so no `Lean` name is needed) that a later `simp` runs.
_HIDDEN_IN_NAME = re.compile(
    r"run_cmd|run_elab|run_meta|run_tac|by_elab|elab|macro|syntax|initialize|set_option|simproc"
)
# Tactic keywords that bind a name with `:=`: their values are proofs, not configuration.
_BINDERS = frozenset({"have", "let", "set", "obtain", "suffices", "show", "haveI", "letI", "this"})


def _bad_character(text: str) -> Refusal | None:
    for i, c in enumerate(text):
        lone_cr = c == "\r" and not text.startswith("\r\n", i)
        control = (ord(c) < 0x20 and c not in "\t\n\r") or 0x7F <= ord(c) < 0xA0
        if c in _BREAKS or lone_cr or control:
            return Refusal(
                "control-character",
                f"U+{ord(c):04X} at offset {i}: Python would split a line there and Lean would not "
                "(or it is a control character); remove it",
            )
    return None


def code_view(text: str) -> str:
    """`text` with comments blanked (newlines kept); everything else untouched.

    Raises UnreadableText where the lexer (lexer.py, Lean's token rules) cannot read the text.
    """
    lexed = lex(text)
    out = list(text)
    for start, end in lexed.comments:
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "
    return "".join(out)


def identifiers(text: str) -> Iterator[tuple[str, int]]:
    """Identifier and name-literal tokens (« » escapes removed) with their offsets."""
    for token in lex(text).tokens:
        if token.kind in ("ident", "name"):
            yield token.name, token.start


def _glued(a: Token, b: Token) -> bool:
    return a.end == b.start


def _assign_at(tokens: tuple[Token, ...], k: int) -> bool:
    """Whether tokens k, k+1 spell `:=`."""
    return (
        k + 1 < len(tokens)
        and tokens[k].text == ":"
        and tokens[k + 1].text == "="
        and _glued(tokens[k], tokens[k + 1])
    )


def _line_start(text: str, tokens: tuple[Token, ...], k: int) -> bool:
    """Whether token k is the first on its line (comments do not count)."""
    return k == 0 or "\n" in text[tokens[k - 1].end : tokens[k].start]


_CLOSE = {"(": ")", "[": "]", "{": "}", "⟨": "⟩"}


def _value_end(tokens: tuple[Token, ...], k: int) -> int:
    """Index of the `,` `)` `}` `]` `⟩` ending the value that starts at token k (brackets nest)."""
    depth = 0
    while k < len(tokens):
        t = tokens[k].text if tokens[k].kind == "symbol" else ""
        if t in _CLOSE:
            depth += 1
        elif t in (")", "]", "}", "⟩"):
            if depth == 0:
                return k
            depth -= 1
        elif t == "," and depth == 0:
            return k
        k += 1
    return k


def _literal(tokens: tuple[Token, ...], k: int, end: int) -> int | None:
    """Index after a literal value starting at k (before `end`), or None if it is not one.

    Literals: numbers, `true`/`false`, a name, `.ctor`, `-x`, `x op y` for + - * / % ^,
    `(x)`, `(x : T)`, `[x, …]`, `⟨x, …⟩` and `{ f := x, … }`: values a configuration is made of,
    never a function applied to something (that would be code the tactic runs).
    """
    k = _atom(tokens, k, end)
    while k is not None and k < end and tokens[k].text in _ARITHMETIC:
        k = _atom(tokens, k + 1, end)
    return k


def _atom(tokens: tuple[Token, ...], k: int, end: int) -> int | None:
    if k >= end:
        return None
    t = tokens[k]
    if t.kind in ("number", "string", "char"):
        return k + 1
    if t.kind == "ident":
        return k + 1 if t.name not in ("fun", "by", "do", "λ", "let", "have", "show") else None
    if t.text == "-":
        return _atom(tokens, k + 1, end)
    if t.text == "." and k + 1 < end and tokens[k + 1].kind == "ident":
        return k + 2
    if t.text in _CLOSE:
        close = _CLOSE[t.text]
        j = k + 1
        if t.text == "{" and j < end and tokens[j].text == "}":
            return j + 1
        while True:
            if t.text == "{":  # a structure instance: `field := literal`
                if not (j + 2 < end and tokens[j].kind == "ident" and _assign_at(tokens, j + 1)):
                    return None
                j += 3
            inner = _literal(tokens, j, end)
            if inner is None or inner >= end:
                return None
            if t.text == "(" and tokens[inner].text == ":":
                if not (inner + 2 < end and tokens[inner + 1].kind == "ident"):
                    return None
                inner += 2
            if tokens[inner].text == close:
                return inner + 1
            if tokens[inner].text != "," or t.text == "(":
                return None
            j = inner + 1
    return None


def _config_refusals(tokens: tuple[Token, ...]) -> Iterator[Refusal]:
    """`(name := value)` and `{ name := value }` whose value is not a literal."""
    for k in range(1, len(tokens) - 2):
        opener = tokens[k - 1].text
        if tokens[k].kind != "ident" or not _assign_at(tokens, k + 1):
            continue
        if opener not in ("(", "{", ",", "with") or tokens[k].name in _BINDERS:
            continue
        end = _value_end(tokens, k + 3)
        try:
            after = _literal(tokens, k + 3, end)
        except RecursionError:  # nested beyond any configuration: not a literal
            after = None
        if after != end:
            yield Refusal(
                "config",
                f"`{tokens[k].name} := …` takes a value that is not a literal: configuration "
                "values are evaluated as code; use numbers, true/false, names or `{ f := … }`",
            )


def _open_in(tokens: tuple[Token, ...], k: int) -> bool:
    """Whether the `open` at token k is `open … in` (names scoped for one tactic)."""
    for t in tokens[k + 1 :]:
        if t.kind == "ident" and t.text == "in":
            return True
        if t.kind == "ident" or t.text in ("(", ")", "→", ","):
            continue
        return False
    return False


def violations(text: str, policy: ScreenPolicy | None = None) -> Iterator[Refusal]:
    """Every rule `text` breaks, in a fixed order (characters, reading, names, then patterns)."""
    policy = policy or ScreenPolicy()
    lexed, unreadable = _read(text)
    if unreadable is not None:
        yield unreadable
        return
    assert lexed is not None
    hidden = _hidden_command(text, lexed)
    if hidden is not None:
        yield hidden
        return
    tokens = lexed.tokens
    yield from _name_refusals(tokens, policy)
    yield from _hidden_in_names(text, tokens)
    yield from _hash_commands(text, tokens)
    yield from _set_options(tokens, policy)
    yield from _native_flags(tokens, policy)
    yield from _attributes(tokens)
    yield from _config_refusals(tokens)


def _read(text: str) -> tuple[Lexed | None, Refusal | None]:
    """The text lexed as Lean would, or why the screen cannot read it the way Lean does."""
    bad = _bad_character(text)
    if bad is not None:
        return None, bad
    try:
        lexed = lex(text)
    except UnreadableText as exc:
        return None, Refusal("unreadable", f"{exc}: the screen cannot read it the way Lean does")
    if any(t.kind == "string" and t.braces for t in lexed.tokens):
        # Lean reads `{…}` as code in an interpolated string (`s!"…"`, `throwError "…"`, and any
        # syntax that asks for one): past such a string the screen cannot know what is code.
        return None, Refusal(
            "interpolation", "a string holding `{` may be interpolated, and its `{…}` is code"
        )
    return lexed, None


def _hidden_command(text: str, lexed: Lexed) -> Refusal | None:
    """A command hidden in a comment, string or «…» name, where Lean resumes after an error."""
    tokens = lexed.tokens
    opaque = [(t.start, t.end) for t in tokens if t.kind in ("string", "char") or "«" in t.text]
    opaque += [(a, b) for a, b in lexed.comments if text.startswith(("/--", "/-!"), a)]
    spans = [(a, b, _HIDDEN) for a, b in lexed.comments] + [
        (a, b, _HIDDEN_INSIDE) for a, b in opaque
    ]
    for start, end, pattern in spans:
        hidden = pattern.search(text, start, end)
        if hidden is not None:
            return Refusal(
                "hidden-command",
                f"`{hidden.group(0)}` inside a comment, string or «…» name: after a syntax error "
                "Lean resumes parsing there and would run it",
            )
    return None


def _name_refusals(tokens: tuple[Token, ...], policy: ScreenPolicy) -> Iterator[Refusal]:
    """Names that leave a goal open, trust the compiler, run code or start a command."""
    for k, token in enumerate(tokens):
        if token.kind not in ("ident", "name"):
            continue
        # A name may end in `?` or `!` (`bv_decide?` is bv_decide that also suggests): the
        # word it is built on decides which rule applies.
        parts = [p.rstrip("?!") or p for p in token.name.split(".")]
        if _SORRY.intersection(parts) and not (policy.allow_sorry and token.name == "sorry"):
            yield Refusal("sorry", f"`{token.name}` leaves the goal unproved")
        elif token.name == "stop":
            yield Refusal("sorry", "`stop` turns the rest of the proof into `sorry`")
        elif not policy.allow_native_decide and _NATIVE.intersection(parts):
            yield Refusal(
                "native_decide",
                f"`{token.name}` trusts the compiler "
                "(allow it with lean.allow_native_decide = true)",
            )
        elif any(p in _CODE_RUNNERS for p in parts):
            runner = next(_CODE_RUNNERS[p] for p in parts if p in _CODE_RUNNERS)
            yield Refusal(runner, f"`{token.name}` runs arbitrary code during elaboration")
        elif any(p in _KEYWORD_RULES for p in parts):
            rule = next(_KEYWORD_RULES[p] for p in parts if p in _KEYWORD_RULES)
            yield Refusal(rule, f"`{token.name}` can make Lean trust what the kernel did not check")
        elif _META.intersection(parts):
            yield Refusal(
                "metaprogramming",
                f"`{token.name}` reaches Lean's metaprogramming or IO, which no proof needs",
            )
        elif token.name in _SEARCH_TACTICS:
            yield Refusal(
                "search-tactic",
                f"`{token.name}` only suggests a proof; put the suggestion in instead",
            )
        elif token.kind == "name":
            continue
        elif token.name in ("open", "scoped") and token.text == token.name and _open_in(tokens, k):
            continue  # `open … in tac` only scopes names for one tactic
        elif token.name in _COMMANDS or token.name in ("open", "scoped"):
            yield Refusal(
                "new-command", f"`{token.name}` ends the theorem and starts another command"
            )


def _hidden_in_names(text: str, tokens: tuple[Token, ...]) -> Iterator[Refusal]:
    for token in tokens:
        inside = token.kind in ("ident", "name") and _HIDDEN_IN_NAME.search(
            text, token.start + 1, token.end
        )
        if inside:
            yield Refusal(
                "hidden-command",
                f"`{inside.group(0)}` inside the name `{token.text}`: Lean reports an unknown "
                "tactic one character in and resumes parsing commands there",
            )


def _hash_commands(text: str, tokens: tuple[Token, ...]) -> Iterator[Refusal]:
    for k, token in enumerate(tokens):
        if token.text != "#":
            continue
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        word = nxt.name if nxt is not None and nxt.kind == "ident" and _glued(token, nxt) else ""
        first = word.split(".")[0]
        if any(first.startswith(c) for c in _HASH_COMMANDS) or (
            word and _line_start(text, tokens, k)
        ):
            rule = "#eval" if first.startswith("eval") else "#-command"
            yield Refusal(rule, f"`#{word}` is a command, not part of a proof")


def _set_options(tokens: tuple[Token, ...], policy: ScreenPolicy) -> Iterator[Refusal]:
    for k, token in enumerate(tokens):
        if token.kind != "ident" or token.name != "set_option":
            continue
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        option = nxt.name if nxt is not None and nxt.kind == "ident" else ""
        if option not in policy.set_option_allowlist:
            allowed = ", ".join(policy.set_option_allowlist) or "none"
            yield Refusal(
                "set_option",
                f"`set_option {option or '?'}` is not allowed (allowed: {allowed}; "
                "extend lean.set_option_allowlist to change that)",
            )


def _native_flags(tokens: tuple[Token, ...], policy: ScreenPolicy) -> Iterator[Refusal]:
    if not policy.allow_native_decide:
        for k, token in enumerate(tokens):
            if token.kind != "ident" or token.name != "native" or k == 0:
                continue
            flag = tokens[k - 1].text == "+"
            assigned = _assign_at(tokens, k + 1) and k + 3 < len(tokens)
            if flag or (assigned and tokens[k + 3].name != "false"):
                yield Refusal(
                    "native_decide",
                    "`native` evaluates with the compiler "
                    "(allow it with lean.allow_native_decide = true)",
                )


def _attributes(tokens: tuple[Token, ...]) -> Iterator[Refusal]:
    for k, token in enumerate(tokens[:-1]):
        if token.text == "@" and tokens[k + 1].text == "[" and _glued(token, tokens[k + 1]):
            yield Refusal("attribute", "`@[…]` attributes belong to declarations, not proofs")
            break


def screen(text: str, policy: ScreenPolicy | None = None) -> Refusal | None:
    """The first rule `text` (a tactic, a proof block or a sketch) breaks, or None if it passes."""
    return next(violations(text, policy), None)


_HEADER_LINE = {
    "import": re.compile(r"import(?: +[^\s]+)+"),
    # `open X renaming a → b` makes a new name, as notation does: the statement could then say
    # `False` and mean something else.
    "open": re.compile(r"open(?: +scoped)?(?: +(?!renaming(?![^\s()]))[^\s()]+)+(?: +in)?"),
    "set_option": re.compile(r"set_option +(?P<option>[^\s]+) +(?:true|false|\d+)(?: +in)?"),
    "namespace": re.compile(r"namespace +[^\s]+"),
    "section": re.compile(r"(?:noncomputable +)?section(?: +[^\s]+)?"),
    "end": re.compile(r"end(?: +[^\s]+)?"),
    "universe": re.compile(r"universe(?: +[^\s]+)+"),
}


def screen_header(text: str, policy: ScreenPolicy | None = None) -> Refusal | None:
    """A header holds only `import`, `open`, allowlisted `set_option`, `namespace`/`section`/`end`,
    `universe` lines and comments: anything else (notation, macros, definitions) could change
    what the statement means or run code."""
    policy = policy or ScreenPolicy()
    bad = _bad_character(text)
    if bad is not None:
        return Refusal(bad.rule, f"{bad.detail} (in the header)")
    try:
        code = code_view(text)
    except UnreadableText as exc:
        return Refusal("unreadable", f"{exc}: the screen cannot read the header")
    hidden = next((r for r in violations(text) if r.rule == "hidden-command"), None)
    if hidden is not None:
        return Refusal(hidden.rule, f"{hidden.detail} (in the header)")
    for line in code.split("\n"):
        line = line.strip(" \t\r")
        if not line:
            continue
        word = line.split()[0]
        pattern = _HEADER_LINE.get("section" if word == "noncomputable" else word)
        match = pattern.fullmatch(line) if pattern is not None else None
        if match is None:
            return Refusal(
                "header",
                f"`{line[:60]}`: a header may hold only import, open, set_option, "
                "namespace, section, end and universe lines (and comments)",
            )
        option = match.groupdict().get("option")
        if option is not None and option.replace("«", "").replace("»", "") not in (
            policy.set_option_allowlist
        ):
            allowed = ", ".join(policy.set_option_allowlist) or "none"
            return Refusal(
                "set_option",
                f"`set_option {option}` is not allowed in the header (allowed: {allowed}; "
                "extend lean.set_option_allowlist to change that)",
            )
        names = set(re.split(r"[\s.«»]+", line)) if word != "import" else set()
        if names & _META:
            return Refusal(
                "metaprogramming",
                f"`{line[:60]}` reaches Lean's metaprogramming or IO (in the header)",
            )
    return None


_STATEMENT_START = re.compile(r"[ \t\r\n]*(?:theorem|lemma)[ \t\r\n]")


def screen_statement(text: str, policy: ScreenPolicy | None = None) -> Refusal | None:
    """A statement is `theorem NAME … := by` (optionally `sorry`), after comments: nothing that
    runs code, no attribute, no second command, no body before the final `:=`."""
    policy = policy or ScreenPolicy()
    strict = ScreenPolicy(policy.set_option_allowlist, policy.allow_native_decide, False)
    bad = _bad_character(text)
    if bad is not None:
        return bad
    try:
        code = code_view(text)
        tokens = lex(text).tokens
    except UnreadableText as exc:
        return Refusal("unreadable", f"{exc}: the screen cannot read the statement")
    start = _STATEMENT_START.match(code)
    if start is None:
        return Refusal("statement", "a statement must begin with `theorem NAME` or `lemma NAME`")
    # The final `:= by` (and `sorry`) are the statement's own; everything before is screened.
    body = [t for t in tokens if t.start >= start.end()]
    if body and body[-1].name == "sorry":
        body.pop()
    if len(body) >= 3 and body[-1].name == "by" and _assign_at(tuple(body), len(body) - 3):
        cut = body[-3].start
    else:
        return Refusal("statement", "a statement must end in `:= by` or `:= by sorry`")
    head = text[start.end() : cut]
    refused = next(violations(head, strict), None)
    if refused is not None:
        return Refusal(refused.rule, f"{refused.detail} (in the statement)")
    head_tokens = lex(head).tokens
    depth = 0
    for k, token in enumerate(head_tokens):
        if token.kind != "symbol":
            continue
        if token.text in _CLOSE:
            depth += 1
        elif token.text in (")", "]", "}", "⟩"):
            depth -= 1
        elif depth == 0 and _assign_at(head_tokens, k):
            return Refusal("statement", "the statement has a body before its final `:= by`")
    return None
