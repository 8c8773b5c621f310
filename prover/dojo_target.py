"""Where a theorem lives for LeanDojo: repository URL, commit, file path and full name.

A Theorem carries its location in `metadata["lean_dojo"]`:
    {"url": "https://github.com/…", "commit": "<sha or tag>", "file_path": "Dir/File.lean",
     "full_name": "Namespace.theorem_name"}
A benchmark row that holds `url`, `commit` and `file_path` at the top level of its metadata
(as LeanDojo-traced theorem lists do) works too; `full_name` defaults to the theorem's name.

Benchmarks write this block and the lean-dojo environment reads it, so it lives in core, where
both may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from prover.errors import InputError
from prover.types import Language, Theorem

METADATA_KEY = "lean_dojo"
LOCATION_FIELDS = ("url", "commit", "file_path", "full_name")

# The traced repository of Llemma's miniF2F runs: read by the benchmark minif2f-lean4-leandojo,
# and `prover doctor` reports whether it is traced.
LLEMMA_REPO = "https://github.com/rah4927/lean-dojo-mew"
LLEMMA_COMMIT = "d00c776260c77de7e70125ef0cd119de6c0ff1de"


@dataclass(frozen=True)
class DojoTarget:
    """A theorem's location in a (traced) Lean repository, as `lean_dojo.Theorem` takes it."""

    url: str
    commit: str
    file_path: str
    full_name: str

    def __post_init__(self) -> None:
        for name in LOCATION_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(
                    f"LeanDojo location field '{name}' must be a non-empty string, got {value!r}"
                )
        path = PurePosixPath(self.file_path)
        if path.suffix != ".lean" or path.is_absolute():
            raise InputError(
                f"LeanDojo file_path must be a .lean path relative to the repository root, "
                f"not '{self.file_path}'"
            )

    @property
    def label(self) -> str:
        """Short human-readable form for messages."""
        return f"{self.full_name} ({self.url} @ {self.commit[:7]}, {self.file_path})"

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in LOCATION_FIELDS}


def target_of(theorem: Theorem) -> DojoTarget:
    """The LeanDojo location a theorem carries in its metadata, or a one-line error."""
    if theorem.language != Language.LEAN4:
        raise InputError(
            f"theorem '{theorem.name}' is {theorem.language}; lean-dojo runs Lean 4 only"
        )
    meta: Mapping[str, Any] = theorem.metadata
    block = meta.get(METADATA_KEY)
    if isinstance(block, Mapping):
        source: Mapping[str, Any] = block
    elif all(key in meta for key in ("url", "commit", "file_path")):
        source = meta
    else:
        raise InputError(
            f"theorem '{theorem.name}' has no LeanDojo location; the lean-dojo environment opens "
            f"theorems in traced repositories, given as metadata['{METADATA_KEY}'] = "
            "{url, commit, file_path, full_name} — use --benchmark minif2f-lean4-leandojo, "
            "dojo_theorem(...) from Python, or --env lean-repl for a bare statement"
        )
    return DojoTarget(
        url=source.get("url"),  # type: ignore[arg-type]  # validated in __post_init__
        commit=source.get("commit"),  # type: ignore[arg-type]
        file_path=source.get("file_path"),  # type: ignore[arg-type]
        full_name=source.get("full_name") or theorem.name,
    )


def dojo_theorem(
    url: str,
    commit: str,
    file_path: str,
    full_name: str,
    *,
    statement: str = "",
    header: str = "",
    split: str | None = None,
) -> Theorem:
    """A Theorem the lean-dojo environment opens by its location in a traced repository.

    `statement` (ending in `:= by`) and `header` are only needed for the whole-proof re-check.
    """
    target = DojoTarget(url, commit, file_path, full_name)
    return Theorem(
        name=full_name,
        statement=statement,
        header=header,
        split=split,
        source=f"{url}@{commit[:7]}:{file_path}",
        metadata={METADATA_KEY: target.to_json()},
    )
