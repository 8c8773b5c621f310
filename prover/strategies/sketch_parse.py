"""Formal sketches: a model's proof text cut to the proof, with its gaps located and filled.

A gap is the word `sledgehammer` (Isabelle; a `sorry` written by the model counts too) or `sorry`
(Lean; `admit` counts too), found outside comments, strings and cartouches so that the gaps are
exactly the ones the proof assistant sees, in the same order.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from prover.language import language as language_spec
from prover.types import Language

# A line starting with one of these (at column 0) is past the end of the proof.
_ISABELLE_END = re.compile(r"^(end\b|theorem\b|lemma\b|Informal:|Formal:)")
_LEAN_END = re.compile(r"^(theorem\b|lemma\b|example\b|end\b|Informal:|Formal:|```)")


class UnusableSketch(ValueError):
    """The model's text holds no usable proof sketch (the message says why)."""


@dataclass(frozen=True)
class Gap:
    """One gap: its character span in the sketch text and where it sits."""

    start: int
    end: int
    line: int  # 0-based line number
    column: int  # characters from the start of the line

    def context(self, text: str) -> str:
        """The line of `text` holding this gap, stripped; a gap alone on its line (as DSP writes
        `sledgehammer`) is shown after the nearest earlier line that is not a comment."""
        lines = text.splitlines()
        here = lines[self.line].strip()
        if here != text[self.start : self.end]:
            return here
        for earlier in reversed(lines[: self.line]):
            stripped = earlier.strip()
            if stripped and not stripped.startswith(("--", "(*", "/-")):
                return f"{stripped} {here}"
        return here


@dataclass(frozen=True)
class Sketch:
    """A proof text (after the statement) whose gaps are spelled with the language's gap word."""

    language: str
    text: str
    gaps: tuple[Gap, ...]

    def fill(self, fillers: Sequence[str]) -> str:
        """The text with gap i replaced by fillers[i] (multi-line fillers indented to fit)."""
        if len(fillers) != len(self.gaps):
            raise ValueError(f"{len(self.gaps)} gaps but {len(fillers)} fillers")
        out: list[str] = []
        pos = 0
        for gap, filler in zip(self.gaps, fillers, strict=True):
            rendered = self._render(gap, filler)
            before = self.text[pos : gap.start]
            out.append(before.rstrip(" \t") if rendered.startswith("\n") else before)
            out.append(rendered)
            pos = gap.end
        out.append(self.text[pos:])
        return "".join(out)

    def _render(self, gap: Gap, filler: str) -> str:
        lines = filler.strip("\n").split("\n")
        if len(lines) == 1:
            return lines[0].strip()
        line_start = self.text.rfind("\n", 0, gap.start) + 1
        prefix = self.text[line_start : gap.start]
        if self.language == Language.LEAN4 and re.search(r"\bby\s*$", prefix):
            # `… := by sorry` becomes a block under `by`, indented past the line that opens it.
            indent = " " * (len(prefix) - len(prefix.lstrip()) + 2)
            return "\n" + "\n".join(indent + line for line in lines)
        # A gap standing as a tactic (or after a bullet): later lines align with its column.
        pad = " " * gap.column
        return lines[0] + "".join("\n" + pad + line if line else "\n" for line in lines[1:])


def parse_sketch(completion: str, language: str) -> Sketch:
    """The sketch in a model's continuation of a sketch prompt; `UnusableSketch` if none."""
    body = _cut_isabelle(completion) if language == Language.ISABELLE else _cut_lean(completion)
    if not body.strip():
        raise UnusableSketch("the model wrote no proof")
    if language == Language.ISABELLE and any(w == "oops" for w, _, _ in _words(body, language)):
        raise UnusableSketch("the sketch gives up (`oops`)")
    text = _normalise_gaps(body, language)
    return Sketch(language, text, find_gaps(text, language))


def find_gaps(text: str, language: str) -> tuple[Gap, ...]:
    """Every gap word of `language` in `text` outside comments and strings, in order."""
    word = _gap_word(language)
    gaps = []
    for found, start, end in _words(text, language):
        if found == word:
            line = text.count("\n", 0, start)
            column = start - (text.rfind("\n", 0, start) + 1)
            gaps.append(Gap(start, end, line, column))
    return tuple(gaps)


def _normalise_gaps(text: str, language: str) -> str:
    word = _gap_word(language)
    out: list[str] = []
    pos = 0
    for found, start, end in _words(text, language):
        if found in language_spec(language).gap_aliases and found != word:
            out.append(text[pos:start])
            out.append(word)
            pos = end
    out.append(text[pos:])
    return "".join(out)


def _cut_isabelle(text: str) -> str:
    kept: list[str] = []
    for line in text.split("\n"):
        if _ISABELLE_END.match(line):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip("\n")


def _cut_lean(text: str) -> str:
    """The indented tactic block the model wrote after `:= by`, dedented."""
    kept: list[str] = []
    base: int | None = None
    for line in text.split("\n"):
        if not line.strip():
            kept.append("")
            continue
        indent = len(line) - len(line.lstrip())
        if base is None:
            if _LEAN_END.match(line):
                break
            base = indent
        elif indent < base or (indent == 0 and _LEAN_END.match(line)):
            break
        kept.append(line.rstrip())
    return textwrap.dedent("\n".join(kept)).strip("\n")


def _is_ident(char: str) -> bool:
    return char.isalnum() or char in "_'!?."


def _words(text: str, language: str) -> list[tuple[str, int, int]]:
    """Identifier-like words of `text` with their spans, skipping comments and strings."""
    words: list[tuple[str, int, int]] = []
    skip = _skip_isabelle if language == Language.ISABELLE else _skip_lean
    i, n = 0, len(text)
    while i < n:
        after = skip(text, i)
        if after != i:
            i = after
            continue
        if text[i].isalpha() or text[i] == "_":
            j = i + 1
            while j < n and _is_ident(text[j]):
                j += 1
            words.append((text[i:j].rstrip("."), i, i + len(text[i:j].rstrip("."))))
            i = j
        else:
            i += 1
    return words


def _skip_nested(text: str, i: int, open_: str, close: str) -> int:
    depth, j = 0, i
    while j < len(text):
        if text.startswith(open_, j):
            depth += 1
            j += len(open_)
        elif text.startswith(close, j):
            depth -= 1
            j += len(close)
            if depth == 0:
                return j
        else:
            j += 1
    return j


def _skip_string(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and text[j] != '"':
        j += 2 if text[j] == "\\" else 1
    return min(j + 1, len(text))


def _skip_lean(text: str, i: int) -> int:
    """The index after a comment or string starting at `i`, or `i` itself."""
    if text.startswith("--", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    if text.startswith("/-", i):
        return _skip_nested(text, i, "/-", "-/")
    if text[i] == '"':
        return _skip_string(text, i)
    return i


def _skip_isabelle(text: str, i: int) -> int:
    """The index after a comment, string, cartouche or back-quoted fact at `i`, or `i`."""
    if text.startswith("(*", i):
        return _skip_nested(text, i, "(*", "*)")
    if text.startswith("\\<open>", i):
        return _skip_nested(text, i, "\\<open>", "\\<close>")
    if text[i] == "‹":
        return _skip_nested(text, i, "‹", "›")
    if text[i] == '"':
        return _skip_string(text, i)
    if text[i] == "`":
        end = text.find("`", i + 1)
        return len(text) if end < 0 else end + 1
    return i


def _gap_word(language: str) -> str:
    word = language_spec(language).gap_word
    if word is None:
        raise ValueError(f"the language {language} has no gap word; sketches need one")
    return word
