"""Formal languages as data: what the core needs to know about a language, supplied by plug-ins.

A language is registered under the entry-point group `prover.languages` (Lean 4 and Isabelle are
registered by the built-in environments). A theorem names its language; the CLI, the runner and
the strategies read everything language-specific from its `LanguageSpec`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from prover import registry
from prover.config import Config
from prover.errors import InputError


def _no_header(config: Config) -> str:
    return ""


def _as_given(statement: str) -> str:
    return statement


@dataclass(frozen=True)
class LanguageSpec:
    """Everything language-specific the core reads: statement form, comments, gaps, closers."""

    name: str
    # Environments that prove theorems in this language (`--env` is checked against them).
    environments: tuple[str, ...] = ()
    # A bare statement from the command line, completed to the form its environments take.
    complete: Callable[[str], str] = _as_given
    # The header a bare statement gets (Lean: `lean.header`, Mathlib's imports).
    header: Callable[[Config], str] = _no_header
    # Refuses, with an InputError naming the problem, a statement no parser could accept.
    check: Callable[[str], None] | None = None
    block_comment: tuple[str, str] | None = None  # (open, close)
    gap_word: str | None = None  # what a sketch leaves where a sub-proof is still to be found
    gap_aliases: frozenset[str] = field(default_factory=frozenset)  # rewritten to gap_word
    closers: tuple[str, ...] = ()  # `default` in `search.closers`
    # True for a closer that proves by evaluating code (an oracle): dropped unless allowed.
    evaluates: Callable[[str], bool] | None = None
    # The proof of the theorem named (else the last) in a code block a model wrote, or None and
    # what is wrong (`whole-proof` reads models' answers with it).
    proof_of: Callable[[str, str | None], tuple[str | None, str]] | None = None


@functools.cache  # an entry-point scan costs milliseconds; a found spec never changes
def language(name: str) -> LanguageSpec:
    """The registered language `name`, or a one-line error listing the installed ones."""
    entry = registry.entry("language", name)  # an unknown name: one line with the known ones
    try:
        spec = entry.load()
    except Exception as exc:  # a broken plug-in is named, not a traceback
        raise InputError(
            f"the language plug-in '{name}' ({entry.distribution}: {entry.value}) failed to "
            f"load: {type(exc).__name__}: {exc}; fix or uninstall it"
        ) from None
    if not isinstance(spec, LanguageSpec) or spec.name != name:
        raise InputError(
            f"the language plug-in '{name}' does not provide a LanguageSpec named '{name}'; "
            "fix its `prover.languages` entry point"
        )
    return spec


def language_of(environment: str) -> LanguageSpec | None:
    """The language `environment` proves, if a registered language claims it."""
    for name in registry.names("language"):
        spec = language(name)
        if environment in spec.environments:
            return spec
    return None


def check_language(theorem_language: str, environment: str, *, what: str = "the theorem") -> None:
    """Refuse a theorem in a language the named environment does not prove."""
    speaks = language_of(environment)
    if speaks is None or speaks.name == theorem_language:
        return
    theirs = language(theorem_language)
    hint = f"use e.g. --env {theirs.environments[0]}" if theirs.environments else "use its --env"
    raise InputError(
        f"{what} is {theorem_language} but --env {environment} proves {speaks.name}; {hint}"
    )
