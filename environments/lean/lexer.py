"""Lean 4's token rules in Python, for the screen: where comments, strings and names are.

It follows `tokenFn` and `whitespace` of Lean.Parser.Basic: `--` comments end at "\\n"
only; block comments nest; `"…"` strings take the escapes `\\\\ \\" \\' \\n \\t \\r \\xHH \\uHHHH`
and a `\\`-newline gap; `'c'` is a char literal only where a token starts and the next character
is not `'`; numbers (`0x…`, `0b…`, `0o…`, `1_000`, `2.5e-3`) end where Lean's end, so `2sorry`
is a number then a name; identifiers are dotted parts, each `«…»` or a Lean identifier.
What Lean would reject, or what depends on Lean's token table (a `'` glued to a symbol that
could also open a char literal, `--` glued to a symbol) raises UnreadableText: the screen refuses
text it cannot read the way Lean does.
"""

from __future__ import annotations

from dataclasses import dataclass


class UnreadableText(Exception):
    """Text the screen cannot read as Lean does (unterminated, invalid or ambiguous)."""


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


def id_first(c: str) -> bool:
    """Lean.isIdFirst: a character that may begin an identifier part."""
    return (c.isascii() and c.isalpha()) or c == "_" or _letter_like(c)


def id_rest(c: str) -> bool:
    """Lean.isIdRest: a character that may continue an identifier part."""
    return (c.isascii() and c.isalnum()) or c in "_'!?" or _letter_like(c) or _subscript(c)


def _digit(c: str) -> bool:
    return "0" <= c <= "9"


def _hex(c: str) -> bool:
    return _digit(c) or "a" <= c <= "f" or "A" <= c <= "F"


_QUOTABLE = frozenset("\\\"'rnt")
# Lean's whitespace (Char.isWhitespace); a tab is an error there, but never code.
_SPACE = frozenset(" \t\r\n")


@dataclass(frozen=True)
class Token:
    """One token: `kind` is ident, name (a `` `name `` literal), string, char, number or symbol.

    `name` is an identifier's dotted name with `«»` removed; `spaced` says whitespace or a comment
    comes before it; `braces` marks a string holding `{` (code if Lean reads it interpolated).
    """

    kind: str
    start: int
    end: int
    text: str
    name: str = ""
    spaced: bool = True
    braces: bool = False


@dataclass(frozen=True)
class Lexed:
    """The tokens of a text and the spans of its comments (doc comments included)."""

    tokens: tuple[Token, ...]
    comments: tuple[tuple[int, int], ...]


def finish_comment(text: str, i: int) -> int:
    """Index after the block comment whose opening `/-` ends just before `i` (nesting counted)."""
    nesting, n = 1, len(text)
    while i < n:
        c = text[i]
        i += 1
        if c == "-" and i < n and text[i] == "/":
            i += 1
            nesting -= 1
            if nesting == 0:
                return i
        elif c == "/" and i < n and text[i] == "-":
            i += 1
            nesting += 1
    raise UnreadableText("an unterminated comment")


def _take_digits(text: str, j: int, pred: object, need: bool) -> int:
    """Lean's takeDigitsFn: digits with `_` separators; a `_` must be followed by a digit."""
    n = len(text)
    while True:
        if j >= n:
            if need:
                raise UnreadableText("a number ends in `_` or has no digits")
            return j
        c = text[j]
        if c == "_":
            need, j = True, j + 1
        elif pred(c):  # type: ignore[operator]
            need, j = False, j + 1
        elif need:
            raise UnreadableText(f"a number is cut short by {c!r}")
        else:
            return j


def _number(text: str, i: int) -> int:
    n = len(text)
    if text[i] == "0" and i + 1 < n and text[i + 1] in "bBoOxX":
        pred = {"b": lambda c: c in "01", "o": lambda c: "0" <= c <= "7", "x": _hex}
        return _take_digits(text, i + 2, pred[text[i + 1].lower()], True)
    j = _take_digits(text, i + 1, _digit, False)
    if j < n and text[j] == ".":
        j += 1
        if j < n and _digit(text[j]):
            j = _take_digits(text, j, _digit, False)
    if j < n and text[j] in "eE":
        j += 1
        if j < n and text[j] in "+-":
            j += 1
        if not (j < n and _digit(text[j])):
            raise UnreadableText("a number's exponent has no digits")
        j = _take_digits(text, j, _digit, False)
    return j


def _escape(text: str, j: int, *, in_string: bool) -> int:
    """Index after the escape whose `\\` is at `j - 1` (Lean's quotedCharCoreFn)."""
    n = len(text)
    if j >= n:
        raise UnreadableText("an escape at the end of the text")
    c = text[j]
    if c in _QUOTABLE:
        return j + 1
    if c in "xu":
        width = 2 if c == "x" else 4
        digits = text[j + 1 : j + 1 + width]
        if len(digits) != width or not all(_hex(d) for d in digits):
            raise UnreadableText(f"an invalid `\\{c}` escape")
        return j + 1 + width
    if in_string and c == "\n":
        j += 1
        while j < n and text[j] in _SPACE:
            if text[j] == "\n":
                raise UnreadableText("a string gap with two line breaks")
            j += 1
        return j
    raise UnreadableText(f"an invalid escape `\\{c}`")


def _string(text: str, i: int) -> tuple[int, bool]:
    """Index after the string literal opening at `i`, and whether it holds an unescaped `{`."""
    j, n, braces = i + 1, len(text), False
    while j < n:
        c = text[j]
        if c == '"':
            return j + 1, braces
        if c == "\\":
            j = _escape(text, j + 1, in_string=True)
            continue
        braces = braces or c == "{"
        j += 1
    raise UnreadableText("an unterminated string literal")


def _char(text: str, i: int) -> int | None:
    """Index after the char literal opening at `i`, or None if Lean would reject it."""
    n = len(text)
    if i + 1 >= n:
        return None
    j = i + 2
    if text[i + 1] == "\\":
        try:
            j = _escape(text, i + 2, in_string=False)
        except UnreadableText:
            return None
    return j + 1 if j < n and text[j] == "'" else None


def _raw_string(text: str, i: int) -> int | None:
    """Index after a raw string `r#…#"…"#…#` opening at `i`, or None if none opens there."""
    j, n = i + 1, len(text)
    while j < n and text[j] == "#":
        j += 1
    if j >= n or text[j] != '"':
        return None
    close = '"' + "#" * (j - i - 1)
    end = text.find(close, j + 1)
    if end < 0:
        raise UnreadableText("an unterminated raw string")
    return end + len(close)


def _identifier(text: str, i: int) -> tuple[int, str]:
    """Index after the (dotted) identifier starting at `i`, and its name without `«»`."""
    parts: list[str] = []
    n = len(text)
    while True:
        if text[i] == "«":
            end = text.find("»", i + 1)
            if end < 0:
                raise UnreadableText("an unterminated «…» identifier")
            if "\n" in text[i:end]:  # re-indenting the proof would rename it
                raise UnreadableText("a «…» identifier across lines")
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            j = i + 1
            while j < n and id_rest(text[j]):
                j += 1
            parts.append(text[i:j])
            i = j
        if i + 1 < n and text[i] == "." and (id_first(text[i + 1]) or text[i + 1] == "«"):
            i += 1
            continue
        return i, ".".join(parts)


def lex(text: str) -> Lexed:
    """Tokens and comments of `text`, read as Lean reads them; UnreadableText if it cannot."""
    tokens: list[Token] = []
    comments: list[tuple[int, int]] = []
    i, n, spaced = 0, len(text), True

    def add(kind: str, end: int, name: str = "", braces: bool = False) -> None:
        nonlocal i, spaced
        tokens.append(Token(kind, i, end, text[i:end], name, spaced, braces))
        i, spaced = end, False

    while i < n:
        c = text[i]
        glued = bool(tokens) and not spaced and tokens[-1].kind == "symbol"
        if c in _SPACE:
            i, spaced = i + 1, True
        elif text.startswith("--", i) or text.startswith("/-", i):
            if glued:  # Lean's token table decides whether the symbol swallows the `-`
                raise UnreadableText(f"a comment glued to `{tokens[-1].text}`")
            if text.startswith("--", i):
                end = text.find("\n", i)
                end = n if end < 0 else end
            else:  # `/--` and `/-!` are doc-comment tokens with the same extent
                end = finish_comment(text, i + (3 if text.startswith(("/--", "/-!"), i) else 2))
            comments.append((i, end))
            i, spaced = end, True
        elif c == '"':
            end, braces = _string(text, i)
            add("string", end, braces=braces)
        elif c == "'" and not text.startswith("''", i):
            end = _char(text, i)
            if glued:
                if end is not None:
                    raise UnreadableText(
                        f"`{tokens[-1].text}'` may be one token or a symbol and a char literal"
                    )
                add("symbol", i + 1)  # e.g. `∑'`: the quote belongs to the symbol
            elif end is None:
                raise UnreadableText("a char literal Lean would reject")
            else:
                add("char", end)
        elif _digit(c):
            add("number", _number(text, i))
        elif c == "`" and i + 1 < n and (id_first(text[i + 1]) or text[i + 1] == "«"):
            end, name = _identifier(text, i + 1)
            add("name", end, name)
        elif c == "r" and (raw_end := _raw_string(text, i)) is not None:
            add("string", raw_end)
        elif id_first(c) or c == "«":
            end, name = _identifier(text, i)
            add("ident", end, name)
        elif c == "'":
            add("symbol", i + 2)  # `''` (Set.image): never a char literal
        else:
            add("symbol", i + 1)
    return Lexed(tuple(tokens), tuple(comments))
