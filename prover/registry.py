"""The one plug-in registry: names resolved lazily from entry points."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from prover.errors import UnknownNameError

GROUPS: dict[str, str] = {
    "environment": "prover.environments",
    "generator": "prover.generators",
    "strategy": "prover.strategies",
    "benchmark": "prover.benchmarks",
    "check": "prover.checks",
    "settings": "prover.settings",  # config section name → frozen dataclass type
    "prompt": "prover.prompts",  # prompt template name → PromptTemplate
    "recorder": "prover.recorders",  # (environment, path) → environment recording to path
    "language": "prover.languages",  # language name → LanguageSpec
}

PLURALS: dict[str, str] = {
    "environment": "environments",
    "generator": "generators",
    "strategy": "strategies",
    "benchmark": "benchmarks",
    "check": "checks",
    "settings": "settings sections",
    "prompt": "prompt templates",
    "recorder": "recorders",
    "language": "languages",
}

# Entry points whose objects live in these modules are test doubles or simulators: usable by
# name, never listed as models or proof assistants.
TEST_DOUBLE_MODULES = ("prover.testing", "benchmarks.perf.sim")


@dataclass(frozen=True)
class Entry:
    """One registered name: where it points and which distribution provides it."""

    kind: str
    name: str
    value: str
    distribution: str

    @property
    def test_double(self) -> bool:
        return self.value.split(":", 1)[0] in TEST_DOUBLE_MODULES

    def load(self) -> Any:
        return metadata.EntryPoint(self.name, self.value, GROUPS[self.kind]).load()


def entries(kind: str) -> list[Entry]:
    """All entries of one kind, sorted by name; later duplicates of a name are ignored."""
    group = GROUPS[kind]
    found: dict[str, Entry] = {}
    for ep in metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "?"
        found.setdefault(ep.name, Entry(kind, ep.name, ep.value, dist))
    return sorted(found.values(), key=lambda e: e.name)


def names(kind: str) -> list[str]:
    return [e.name for e in entries(kind)]


def entry(kind: str, name: str) -> Entry:
    """The entry for `name`, or a one-line error with a close match and the installed names."""
    known = {e.name: e for e in entries(kind)}
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    listed = ", ".join(n for n, e in known.items() if not e.test_double) or "none"
    raise UnknownNameError(
        f"unknown {kind} '{name}'{hint} (installed: {listed}; `prover list` shows all)"
    )


def load(kind: str, name: str) -> Any:
    """Import and return the object registered as `name` (a factory)."""
    return entry(kind, name).load()


def iter_kinds() -> Iterator[str]:
    yield from ("environment", "language", "generator", "strategy", "benchmark")
