"""miniF2F (244 valid + 244 test), pinned: Lean v4.24, Lean v4.9 (DeepSeek) and Isabelle.

Every variant loads into the same Theorem form. Lean statements end in `:= by` (the v4.24 files'
trailing `sorry` is dropped) and keep the header they were written with; Isabelle statements are
`theorem … shows …` with the theory's imports as header — never the shipped theory text, which
holds human proofs for some problems.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import upstream
from benchmarks.categories import category
from benchmarks.data import PinnedFile, Source, resolve
from benchmarks.published import PUBLISHED_TABLE
from prover.config import Config, project_root
from prover.errors import InputError
from prover.types import Language, Theorem

FACEBOOK = Source("facebookresearch/miniF2F", "e4f113090ad82d64f8ce064d2f55b613a9b6bded", "MIT")
YANGKY11 = Source("yangky11/miniF2F-lean4", "5746b7d6c47855ce1294bed87329618ff7f1bc31", "MIT")
DEEPSEEK = Source(
    "deepseek-ai/DeepSeek-Prover-V1.5", "2c4ba9119eef74d0d611f494261b2c5bae98c69a", "MIT"
)

# Environments that run Lean inside `lean.project` (and so must match the statements' toolchain).
PROJECT_ENVIRONMENTS = frozenset({"lean-repl"})

_SORRY_TAIL = re.compile(r"\s*sorry\s*$")


@dataclass(frozen=True)
class Variant:
    """One pinned statement set: where it comes from and what it was written for."""

    name: str
    language: str
    pinned: PinnedFile
    toolchain: str | None  # Lean version the statements compile with
    mathlib: str | None
    note: str


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            name="minif2f-lean4",
            language=Language.LEAN4,
            pinned=PinnedFile(
                file="lean4_v4.24.jsonl",
                sha256="95cc14cccd4d55372eb460d98234bc389357afbbfb65c02e2c979c6c38d2b3dd",
                sources=(YANGKY11, FACEBOOK),
                build=lambda archives: upstream.build_lean4(archives[0], archives[1]),
            ),
            toolchain="v4.24.0",
            mathlib="v4.24.0 (f897ebcf72cd16f89ab4577d0c826cd14afaafc7)",
            note="yangky11/miniF2F-lean4: corrected statements, MiniF2F/{Valid,Test}/<name>.lean",
        ),
        Variant(
            name="minif2f-lean4-deepseek",
            language=Language.LEAN4,
            pinned=PinnedFile(
                file="lean4_deepseek_v4.9.jsonl",
                sha256="1cd2c52bc51627e1189df57420b9ea49598caee4a47b2a59e1dd8988f4064eff",
                sources=(DEEPSEEK, FACEBOOK),
                build=lambda archives: upstream.build_lean4_deepseek(archives[0], archives[1]),
            ),
            toolchain="v4.9.0-rc1",
            mathlib="d1d1e4b72c6e009edd97cabe1d661b021fe8eeae",
            note="DeepSeek-Prover-V1.5 datasets/minif2f.jsonl: the statements most published "
            "numbers (DeepSeek-Prover, Goedel-Prover, Kimina) use",
        ),
        Variant(
            name="minif2f-isabelle",
            language=Language.ISABELLE,
            pinned=PinnedFile(
                file="isabelle.jsonl",
                sha256="bb85296083c8f30b2cf1bbeab8f32f18b250ba29535e2846e0dcd8b1373575f5",
                sources=(FACEBOOK,),
                build=lambda archives: upstream.build_isabelle(archives[0]),
            ),
            toolchain=None,
            mathlib=None,
            note="facebookresearch/miniF2F isabelle/ (Isabelle2022 + AFP for a few imports)",
        ),
    )
}


class MiniF2F:
    """A miniF2F variant loaded from its verified data file."""

    splits: tuple[str, ...] = ("valid", "test")

    def __init__(self, variant: Variant, path: Path, sha256: str) -> None:
        self.variant = variant
        self.name = variant.name
        self.path = path
        self.sha256 = sha256
        self._rows = _read_rows(path)

    @property
    def toolchain(self) -> str | None:
        return self.variant.toolchain

    def theorems(self, split: str) -> list[Theorem]:
        if split not in self.splits:
            raise InputError(f"unknown split '{split}' for {self.name}; choose valid or test")
        return [self._theorem(row) for row in self._rows if row.get("split") == split]

    def describe(self) -> dict[str, Any]:
        pinned = self.variant.pinned
        return {
            "name": self.name,
            "title": "miniF2F",  # the report's title
            "published": PUBLISHED_TABLE,  # published figures the report may compare with
            "language": self.variant.language,
            "file": pinned.file,
            "path": str(self.path),
            "sha256": self.sha256,
            "pinned_sha256": pinned.sha256,
            "sources": [s.describe() for s in pinned.sources],
            "toolchain": self.variant.toolchain,
            "mathlib": self.variant.mathlib,
            "note": self.variant.note,
        }

    def check_project(self, config: Config) -> None:
        """Refuse a Lean project whose toolchain differs from the one the statements target."""
        if self.variant.toolchain is None or config.environment not in PROJECT_ENVIRONMENTS:
            return
        project = lean_project(config)
        found = project_toolchain(project)
        if found is None:
            raise InputError(
                f"Lean project {project} has no lean-toolchain file; run `prover setup lean` "
                "there, or point lean.project at a built Lean project "
                f"(--set lean.project=DIR) pinned to {self.variant.toolchain}"
            )
        if found.rpartition(":")[2] != self.variant.toolchain:
            other = [v.name for v in VARIANTS.values() if v.toolchain == found.rpartition(":")[2]]
            alt = f", or run {other[0]} which targets it" if other else ""
            raise InputError(
                f"{self.name} statements are written for Lean {self.variant.toolchain} but "
                f"{project} uses {found}; point lean.project at a Lean project pinned to "
                f"{self.variant.toolchain} (--set lean.project=DIR; README: 'A Lean project for "
                f"the DeepSeek statements'){alt}"
            )

    def _theorem(self, row: dict[str, Any]) -> Theorem:
        language = self.variant.language
        name = row["name"]
        if language == Language.LEAN4:
            statement = _SORRY_TAIL.sub("", row["formal_statement"]).rstrip()
            header = row.get("header", "")
            path = row.get("source_path") or "datasets/minif2f.jsonl"
        else:
            statement = row["formal_statement"].rstrip()
            header = row.get("theory_imports", "")
            path = row.get("source_path", "")
        source = self.variant.pinned.sources[0]
        metadata: dict[str, Any] = {
            "benchmark": self.name,
            "category": category(name),
            "toolchain": self.variant.toolchain,
        }
        if "source_has_proof" in row:
            metadata["source_has_proof"] = bool(row["source_has_proof"])
        return Theorem(
            name=name,
            statement=statement,
            language=language,
            header=header,
            informal_statement=row.get("informal_statement") or None,
            informal_proof=row.get("informal_proof") or None,
            split=row["split"],
            source=f"{source.repository}@{source.commit[:12]}:{path}",
            metadata=metadata,
        )


def lean_project(config: Config) -> Path:
    """The Lean project Lean environments run in (`lean.project`, default lake-project/)."""
    if config.section("lean").project:
        return Path(config.section("lean").project).expanduser()
    return project_root() / "lake-project"


def project_toolchain(project: Path) -> str | None:
    """The project's `lean-toolchain` line (e.g. leanprover/lean4:v4.24.0), if the file exists."""
    path = project / "lean-toolchain"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _read_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {lineno} is not JSON ({exc.msg})") from exc
            for key in ("name", "split", "formal_statement"):
                if key not in row:
                    raise InputError(f"{path} line {lineno} has no '{key}'")
            rows.append(row)
    return rows


def load(name: str, config: Config) -> MiniF2F:
    """The variant `name`, from --data, the cache, or a download of its pinned sources."""
    variant = VARIANTS[name]
    path, sha256 = resolve(variant.pinned, config, what=name)
    return MiniF2F(variant, path, sha256)


def lean4(config: Config) -> MiniF2F:
    """Entry point `minif2f-lean4`: Lean v4.24.0 statements (yangky11/miniF2F-lean4)."""
    return load("minif2f-lean4", config)


def lean4_deepseek(config: Config) -> MiniF2F:
    """Entry point `minif2f-lean4-deepseek`: Lean v4.9.0-rc1 statements (DeepSeek-Prover-V1.5)."""
    return load("minif2f-lean4-deepseek", config)


def isabelle(config: Config) -> MiniF2F:
    """Entry point `minif2f-isabelle`: facebookresearch/miniF2F Isabelle statements."""
    return load("minif2f-isabelle", config)
